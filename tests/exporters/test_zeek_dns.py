"""The dns log against Zeek's own answers: for traces of Zeek's test suite, its expected
dns.log (tests/data/zeek/, copied from its repository) gives each UDP query with its
transaction id, name, type and, where a response came, its rcode, answers and TTLs. Our
records must give the same."""
from __future__ import annotations

import pytest

import ybsensor
from test_zeek_conn import BASELINES, PLAN, TRACES, baselines, zeek_log

DNS_BASELINES = sorted(p.name.removesuffix(".dns.log") for p in BASELINES.glob("*.dns.log"))


def zeek_queries(baseline: str) -> list[tuple]:
    def unset(v: str):
        return None if v == "-" else v

    return [(z["id.orig_h"], int(z["id.orig_p"]), z["id.resp_h"], int(z["id.resp_p"]),
             int(z["trans_id"]), z["query"], int(z["qtype"]),
             None if unset(z["rcode"]) is None else int(z["rcode"]), unset(z["rcode_name"]),
             None if unset(z["answers"]) is None else z["answers"].split(","),
             None if unset(z["TTLs"]) is None else [float(x) for x in z["TTLs"].split(",")])
            for z in zeek_log(f"{baseline}.dns.log")]


@pytest.mark.parametrize("baseline", DNS_BASELINES)
def test_dns_log_agrees_with_zeek(baseline, tmp_path):
    pcap = TRACES / baselines()[baseline]
    if not pcap.exists():
        pytest.skip(f"{pcap} is not here")
    config = tmp_path / "plan.toml"
    config.write_text(PLAN)
    ours = list((r["src"], r["sport"], r["dst"], r["dport"], r["trans_id"], r["query"],
                   r["qtype"], r["rcode"], r["rcode_name"], r["answers"], r["TTLs"])
                  for r in ybsensor.replay(pcap, config).events["dns"].to_pylist())
    theirs = sorted(zeek_queries(baseline), key=lambda q: tuple(map(str, q)))
    assert theirs and sorted(ours, key=lambda q: tuple(map(str, q))) == theirs
