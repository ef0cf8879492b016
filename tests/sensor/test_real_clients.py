"""Traffic as real software sends it: the standard library's HTTP, SMTP, FTP, POP3, IMAP and
TLS clients and a Redis AUTH, on the Linux stack between two network namespaces (a hospital
host at 10.1.2.10 and fd00:1:2::10, the platform at 10.200.0.5 and fd00:200::5, a 1500-byte
MTU, IPv6 on: the kernel's own neighbour discovery and MLD cross the link), captured by
tcpdump and replayed with the example configuration (its IPv6 ranges added).

The expectations come from the rules: every flow that carries an identifier a receiver can
read (gzip, chunked, both, UTF-16, 300 KB deep, an .xlsx downloaded (a ZIP archive), a
form, a base64 MIME attachment in GBK, a quoted-printable mail fetched over POP3, syslog
datagrams the kernel fragments, IPv4 and IPv6; gzip over IPv6; curl's cleartext HTTP/2, an identifier in a Huffman-coded query and
in a gzip answer after an h2c upgrade) raises
`plaintext_pii` with that identifier's masked form; every login sent in the clear raises
`cleartext_credentials` for its protocol (curl's Basic login over cleartext HTTP/2 and its
login to a SOCKS5 proxy too); the TLS flow carrying an identifier raises nothing;
and nothing else is raised. No output holds a whole identifier or a password.
"""
from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

import livenet
import real_peers
from pii import resident_id
from tools import PCAPS, require_tool, ybsensor_cmd

HERE = Path(real_peers.__file__).resolve().parent   # the helpers, tests/
HOST, PLATFORM = "10.1.2.10", "10.200.0.5"
HOST6, PLATFORM6 = "fd00:1:2::10", "fd00:200::5"
PII_FLOWS = ["http_gzip", "http_chunked", "http_gzip_chunked", "http_utf16", "http_big",
             "http_xlsx", "http_form", "smtp", "pop3", "syslog", "syslog6", "http_gzip6", "h2c_query",
             "h2c_upgrade"]
CREDENTIAL_FLOWS = {"http_form": "http", "smtp": "smtp", "ftp": "ftp", "pop3": "pop3",
                    "imap": "imap", "redis": "redis", "h2c_basic": "http", "socks5": "socks"}


def masked(ident: str) -> str:
    return ident[:6] + "*" * 8 + ident[-4:]


@pytest.fixture(scope="module")
def conversation(tmp_path_factory):
    """The capture of every scenario, with the identifiers and the client port of each."""
    livenet.require_root()
    require_tool("tcpdump")
    require_tool("curl")
    openssl = require_tool("openssl")
    tmp = tmp_path_factory.mktemp("real")
    rng = random.Random(20261207)
    ids = {name: resident_id(rng) for name in PII_FLOWS + ["tls"]}
    (tmp / "ids.json").write_text(json.dumps(ids))
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=his.ybj.jl.gov.cn", "-keyout", str(tmp / "key.pem"),
                    "-out", str(tmp / "cert.pem")], check=True, capture_output=True)
    pair = livenet.VethPair()
    server = dump = None
    try:
        from pyroute2 import NetNS
        for ns, ifname, addr, addr6 in ((pair.cap, pair.cap_if, HOST, HOST6),
                                        (pair.gen, pair.gen_if, PLATFORM, PLATFORM6)):
            pair.sysctl(ns, f"net/ipv6/conf/{ifname}/disable_ipv6", "0")
            with NetNS(ns) as nsr:
                index = nsr.link_lookup(ifname=ifname)[0]
                nsr.link("set", index=index, mtu=1500)
                nsr.addr("add", index=index, address=addr, prefixlen=8)
            subprocess.run(pair.exec(ns, ["ip", "-6", "addr", "add", f"{addr6}/16", "dev",
                                          ifname, "nodad"]), check=True)
        server = subprocess.Popen(pair.exec(pair.gen, [
            sys.executable, str(HERE / "real_peers.py"), "serve", str(tmp / "ids.json"),
            str(tmp / "cert.pem"), str(tmp / "key.pem")]), stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        pcap = tmp / "conversation.pcap"
        # --immediate-mode: no frame waits in the ring's block when the capture stops
        dump = subprocess.Popen(pair.exec(pair.cap, ["tcpdump", "-i", pair.cap_if, "-s", "0",
                                                     "--immediate-mode", "-U", "-w", str(pcap)]),
                                stderr=subprocess.PIPE, text=True)
        while "listening" not in dump.stderr.readline():
            pass
        subprocess.run(pair.exec(pair.cap, [sys.executable, str(HERE / "real_peers.py"), "talk",
                                            PLATFORM, PLATFORM6, str(tmp / "ids.json"),
                                            str(tmp / "flows.json")]),
                       check=True, timeout=60)
        time.sleep(0.5)  # the last answers reach the capture
    finally:
        for proc in (dump, server):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=10)
        pair.close()
    return pcap, ids, json.loads((tmp / "flows.json").read_text())


def dual_stack_config(tmp) -> Path:
    """example.toml with the hospital's and the platform's IPv6 ranges."""
    text = (PCAPS / "example.toml").read_text()
    for old, new in (('ranges = ["10.1.2.0/24"]', 'ranges = ["10.1.2.0/24", "fd00:1:2::/48"]'),
                     ('platform = ["10.200.0.0/16"]',
                      'platform = ["10.200.0.0/16", "fd00:200::/32"]'),
                     ('"allocations.csv"', f'"{PCAPS / "allocations.csv"}"'),
                     ('"intel/demo.txt"', f'"{PCAPS / "intel" / "demo.txt"}"')):
        assert old in text
        text = text.replace(old, new)
    (tmp / "sensor.toml").write_text(text)
    return tmp / "sensor.toml"


@pytest.fixture(scope="module")
def replayed(conversation, tmp_path_factory):
    pcap, ids, ports = conversation
    out = tmp_path_factory.mktemp("replay")
    run = subprocess.run([*ybsensor_cmd(), "replay", str(pcap), "--config",
                          str(dual_stack_config(out)), "-l", str(out / "logs"),
                          "--metrics-file", str(out / "metrics.prom")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    alerts = [json.loads(line) for line in (out / "logs" / "alerts.jsonl").read_text().splitlines()]
    return alerts, run, out


def flow_of(alert: dict, ports: dict) -> str:
    """The scenario whose client port the alert's flow has."""
    ends = {alert["sport"], alert["dport"]}
    names = [name for name, port in ports.items() if port in ends]
    assert len(names) == 1, (alert, ports)
    return names[0]


def test_every_readable_identifier_and_clear_login_is_found_and_nothing_else(
        conversation, replayed):
    _, ids, ports = conversation
    alerts, _, _ = replayed
    found = sorted((a["detector"], flow_of(a, ports)) for a in alerts)
    expected = sorted([("plaintext_pii", name) for name in PII_FLOWS] +
                      [("cleartext_credentials", name) for name in CREDENTIAL_FLOWS])
    assert found == expected
    for a in alerts:
        name = flow_of(a, ports)
        assert a["institution"] == "H22010200001"
        if a["detector"] == "plaintext_pii":
            assert masked(ids[name]) in a["evidence"]["masked"], (name, a["evidence"])
        else:
            assert a["evidence"]["protocol"] == CREDENTIAL_FLOWS[name], (name, a["evidence"])


def test_the_kernels_own_ipv6_chatter_was_there_and_raised_nothing(replayed):
    """The quiet above is over neighbour discovery and MLD, not over a link without them."""
    alerts, _, out = replayed
    metrics = (out / "metrics.prom").read_text()
    icmpv6 = [line for line in metrics.splitlines()
              if line.startswith('ybsensor_packets_total{encap="eth/ipv6/icmpv6"}')]
    assert icmpv6 and float(icmpv6[0].split()[-1]) > 0
    assert not [a for a in alerts if a["proto"] == 58]


def test_no_output_holds_an_identifier_or_a_password(conversation, replayed):
    _, ids, _ = conversation
    alerts, run, out = replayed
    secrets = [i.encode() for i in ids.values()] + \
              [p.encode() for p in real_peers.PASSWORDS.values()]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".pcap" for p in files)  # the evidence pcaps are among them
    for blob in [run.stdout.encode(), run.stderr.encode()] + [p.read_bytes() for p in files]:
        for secret in secrets:
            assert secret not in blob
