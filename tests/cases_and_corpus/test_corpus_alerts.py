"""The whole tcpdump corpus (../shared/corpus/tcpdump) through pcaps/example.toml with every
detector on, in one process: the alerts it raises, by detector, are the ones README.md
("Background traffic and the tcpdump corpus") accounts for, class by class.

Under example.toml only 10.0.0.0/8, 100.64.0.0/10 and fd00::/8 are the private network,
and a few /24s of them are allocated; the corpus's captures come from labs and the
internet. So by the rules:
- internet_bound: flows with an end that is public by the plan (the internet's addresses,
  and RFC 1918 192.168/16 and 172.16/12, 240/4, documentation ranges, fc00::/8: none is
  in `network.private`); never a link-scope end (multicast, link-local, broadcast,
  unspecified, loopback), and no name (between two private ends the corpus asks for no
  public name: its DNS, TLS and HTTP run to and from public addresses);
- unauthorized_source: private sources (10/8, fd00::/8) in no allocation;
- internet_vpn: GRE, IP-in-IP, IKE and ESP with a public endpoint;
- plaintext_pii: one Luhn-valid 18-digit run in clear (a RESP length in
  resp_4_infiniteloop.pcapng): by the rule a card number, which no rule can tell apart.
The counts below are those classes' sizes as the analysis found them; a change in any is
a change of behaviour to explain (in README.md) or a regression.
"""
from __future__ import annotations

import ipaddress
import json
import subprocess
from collections import Counter

import numpy as np
import pytest

from ybsensor.sensor.config import DETECTORS, load
from ybsensor.core.plan import MAPPED, PRIVATE, PUBLIC, AddressPlan
from tools import PCAPS, REPO, ybsensor_cmd

EXAMPLE = PCAPS / "example.toml"
# a flow whose packets lie more than alerts.dedup_seconds apart alerts once each window of
# packet time (the corpus holds flows whose packets are days apart); a later IP fragment is
# no packet of its own (its datagram is), so it makes no port-0 flow of its own
PINNED = {"internet_bound": 410, "unauthorized_source": 147, "internet_vpn": 45,
          "plaintext_pii": 1}


@pytest.fixture(scope="module")
def alerts(tmp_path_factory, corpus_dir):
    files = sorted(p for p in corpus_dir.iterdir() if p.is_file())
    assert all(load(EXAMPLE).detector_enabled(name) for name in DETECTORS)
    out = tmp_path_factory.mktemp("corpus-alerts") / "alerts.jsonl"
    proc = subprocess.run([*ybsensor_cmd(), "replay", "--no-progress", "--config", str(EXAMPLE),
                           "--alerts", str(out), *map(str, files)],
                          capture_output=True, text=True, cwd=REPO, timeout=900)
    assert "Traceback" not in proc.stderr, proc.stderr[-5000:]
    assert proc.returncode == 2, proc.stderr[-3000:]   # LICENSE, unsupported link types
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def zone(plan: AddressPlan, text: str) -> int:
    a = ipaddress.ip_address(text)
    v = MAPPED | int(a) if a.version == 4 else int(a)
    return int(plan.zone(np.array([v >> 64], dtype=np.uint64),
                         np.array([v & (2**64 - 1)], dtype=np.uint64))[0])


def test_counts_by_detector(alerts):
    assert dict(Counter(a["detector"] for a in alerts)) == PINNED


def test_each_alert_is_of_a_class_the_rules_call_for(alerts):
    plan = AddressPlan(load(EXAMPLE))
    for a in alerts:
        ev = a["evidence"]
        if a["detector"] == "internet_bound":
            assert ev["reason"] == "address_outside_private", a
            assert zone(plan, ev["address"]) == PUBLIC, a
        elif a["detector"] == "unauthorized_source":
            assert ev["reason"] == "unallocated" and zone(plan, a["src"]) == PRIVATE, a
        elif a["detector"] == "internet_vpn":
            assert zone(plan, ev["public_endpoint"]) == PUBLIC, a
        else:
            assert a["detector"] == "plaintext_pii" and ev["kinds"] == {"bank_card": 1}, a
            assert a["source"].endswith("resp_4_infiniteloop.pcapng"), a
