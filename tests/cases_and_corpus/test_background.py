"""A working hour of benign edge background (pcaps/background/background.pcap, made by
pcaps/background/make_background.py) replayed through pcaps/example.toml with every
detector on raises nothing: link-scope addresses (link-local, multicast, limited and
directed broadcast, unspecified) are neither inside nor outside the plan, and the names
hosts ask their resolver all day (wpad, *.local, *.arpa) are internal.

And the other side of it: a link-scope end does not hide what the other end is.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ybsensor.sensor.config import DETECTORS, load
from test_cases import decode, replay

ROOT = Path(__file__).resolve().parents[2]
PCAPS = ROOT / "pcaps"
BACKGROUND = PCAPS / "background" / "background.pcap"
SCRIPT = PCAPS / "background" / "make_background.py"
EXAMPLE = PCAPS / "example.toml"


def test_example_config_has_every_detector_on():
    cfg = load(EXAMPLE)
    assert all(cfg.detector_enabled(name) for name in DETECTORS)


def test_background_raises_nothing(tmp_path: Path):
    alerts = replay(BACKGROUND, EXAMPLE, tmp_path / "alerts.jsonl")
    assert alerts == [], f"{len(alerts)} alerts, the first: {alerts[:3]}"


@pytest.fixture(scope="module")
def rows():
    return decode(BACKGROUND)


def test_background_holds_what_a_span_port_carries(rows):
    """The capture holds the traffic the rule must stay quiet about (so that 'no alert'
    means something): each kind is present, on each of the example configuration's
    lines, decoded without fault, over about an hour."""
    assert all(r["status"] == "ok" or r["status"].startswith("non-ip:") for r in rows)
    seen = {(r["src"], r["dst"]) for r in rows} | {("dport", r["dport"]) for r in rows}
    dsts = {r["dst"] for r in rows}
    for dst in ("ff02::16", "ff02::2", "ff02::1", "ff02::1:2", "ff02::fb", "ff02::1:3",
                "224.0.0.22", "224.0.0.251", "224.0.0.252", "239.255.255.250", "224.0.0.2",
                "224.0.0.18", "10.1.2.255", "10.1.3.255", "10.200.0.53", "10.200.0.123"):
        assert dst in dsts, dst
    assert ("0.0.0.0", "255.255.255.255") in seen                  # DHCP discover
    assert any(r["src"].startswith("169.254.") for r in rows if r["src"])
    assert any(r["src"] == "::" for r in rows)                      # DAD
    for port in (67, 137, 138, 1900, 5353, 5355, 547, 123, 443, 1985):
        assert ("dport", port) in seen, port
    for encap in ("eth/lldp", "eth/llc", "eth/vlan/arp"):
        assert any(r["encap"] == encap for r in rows), encap
    lines = {r["line"] for r in rows if r["src"]}
    assert {"vlan:100", "qinq:10.200", "mpls:1000", "l2tp:7/2", "l2tp:9/1", "gre:42"} <= lines
    assert 3000 <= rows[-1]["ts"] - rows[0]["ts"] <= 3900


def test_make_background_remakes_the_committed_capture(tmp_path: Path):
    out = tmp_path / "background.pcap"
    subprocess.run([sys.executable, str(SCRIPT), str(out)], check=True, cwd=ROOT,
                   capture_output=True, timeout=300)
    assert out.read_bytes() == BACKGROUND.read_bytes(), \
        "pcaps/background/background.pcap differs from what make_background.py makes now"


def test_a_link_scope_end_hides_nothing_of_the_other(tmp_path: Path):
    """A public source speaking to a multicast group is still public (internet_bound), and
    a private source in no allocation still unallocated (unauthorized_source), whatever
    link-scope address it sends to."""
    sys.path.insert(0, str(PCAPS))
    import casegen as mc
    from scapy.layers.inet import UDP
    from scapy.packet import Raw

    ids = mc.IpIds()
    notify = b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNTS: ssdp:alive\r\n\r\n"
    pkts = [mc.Pkt(mc.ip_packet(ids, src, dst, UDP(sport=1900, dport=1900) / Raw(notify)),
                   True, src, dst, mc.P_UDP, 1900, 1900)
            for src, dst in ((mc.PUB_WEB, "239.255.255.250"), (mc.UNALLOCATED, "10.1.2.255"),
                             (mc.HOSP, "239.255.255.250"), (mc.CLINIC, "10.1.2.255"))]
    case = mc.Case("link_scope_ends", "")
    case.send(mc.VLAN100, pkts)
    pcap = tmp_path / "input.pcap"
    mc.write_pcap(pcap, case.frames, mc.BASE_S)
    got = sorted((a["detector"], a["src"], a["dst"], a["evidence"].get("reason"))
                 for a in replay(pcap, EXAMPLE, tmp_path / "alerts.jsonl"))
    # the clinic's host on the hospital's line is allocated to another institution
    # (JL art.15) and is a second institution behind the line (JL art.26), whatever it
    # sends to; its directed broadcast to the hospital's range is no lateral traffic (a
    # broadcast has no owner)
    assert got == [
        ("internet_bound", mc.PUB_WEB, "239.255.255.250", "address_outside_private"),
        ("shared_line", mc.CLINIC, "10.1.2.255", "two_or_more_institutions"),
        ("unauthorized_source", mc.CLINIC, "10.1.2.255", "allocated_to_another"),
        ("unauthorized_source", mc.UNALLOCATED, "10.1.2.255", "unallocated"),
    ], got
