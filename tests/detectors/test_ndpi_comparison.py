"""remote_control beside nDPI's remote-access category, on the same captures: the Zeek
corpus's RDP and VNC traces and the remote_control cases on VLAN 100 (ndpiReader reads no
GRE or L2TP payload, so the tunnelled variants are left out). Each flow either side calls
remote access is compared; every difference is one the README explains (listed below with
its reason), and a new one fails the test.

ndpiReader (Debian's libndpi-bin, nDPI 4.2) prints each flow with `[cat: RemoteAccess/12]`
at -v 2."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from test_cases import CASES as CASE_ROOT, replay
from tools import CORPUS, require_tool

ZEEK = CORPUS.parent / "zeek"
ANY_PLAN = '[network]\nprivate = ["0.0.0.0/0", "::/1"]\n'   # the corpus's own addresses
FLOW = re.compile(r"^\s*\d+\s+(TCP|UDP)\s+\[?([0-9a-fA-F:.]+?)\]?:(\d+)\s+<->\s+"
                  r"\[?([0-9a-fA-F:.]+?)\]?:(\d+)\s.*?\[cat: ([A-Za-z]+)/")
# capture -> {flow: why only one side calls it remote access}; the README's table
DIFFERENCES = {
    "rdpeudp-handshake-fail.pcap": {
        "udp 192.168.38.102:3389 192.168.38.1:63568":
            "ybsensor: RDP's port alone (medium); nDPI wants a completed RDP-UDP handshake"},
    "remote_control_radmin_signature": {
        "tcp 10.1.2.10:50900 10.1.2.50:14899":
            "ybsensor: Radmin's opening message; nDPI 4.2 has no Radmin (added in 4.10)"},
    "remote_control_rustdesk": {
        "tcp 10.1.2.10:50700 10.1.2.50:21116": "ybsensor: RustDesk's port; nDPI 4.2 has no RustDesk",
        "udp 10.1.2.10:40100 10.200.1.20:53": "ybsensor: a DNS query for rustdesk.com; nDPI "
                                              "calls a query by its protocol, DNS"},
    "remote_control_sunlogin_dns": {
        "udp 10.1.2.10:40200 10.200.1.20:53": "ybsensor: a DNS query for oray.com; nDPI 4.2 "
                                              "knows no Sunlogin name, and a query is DNS"},
}


def _key(proto: str, a: str, ap, b: str, bp) -> str:
    ends = sorted([f"{a}:{ap}", f"{b}:{bp}"])
    return f"{proto.lower()} {ends[0]} {ends[1]}"


def ndpi_remote_access(reader: str, pcap: Path) -> set[str]:
    out = subprocess.run([reader, "-i", str(pcap), "-v", "2"], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return {_key(*m.groups()[:5]) for m in map(FLOW.match, out.splitlines())
            if m and m.group(6) == "RemoteAccess"}


def ybsensor_remote_access(pcap: Path, config: Path, alerts: Path) -> set[str]:
    names = {6: "tcp", 17: "udp"}
    return {_key(names[a["proto"]], a["src"], a["sport"], a["dst"], a["dport"])
            for a in replay(pcap, config, alerts) if a["detector"] == "remote_control"}


def captures() -> list[tuple[str, Path, Path | None]]:
    """(name, pcap, config or None for ANY_PLAN)."""
    out = [(p.name, p, None) for sub in ("rdp", "rfb") for p in sorted((ZEEK / sub).glob("*.pcap"))]
    out += [(d.name, d / "input.pcap", d / "config.toml") for d in sorted(CASE_ROOT.iterdir())
            if d.is_dir() and "remote_control" in d.name and not d.name.endswith(("_in_gre", "_in_l2tp"))]
    return out


def test_every_explained_difference_has_its_capture():
    if not ZEEK.is_dir():
        pytest.skip(f"the Zeek corpus is not here: {ZEEK}")
    assert set(DIFFERENCES) <= {name for name, _, _ in captures()}


@pytest.mark.parametrize("name, pcap, config", captures(), ids=[c[0] for c in captures()])
def test_remote_access_agrees_with_ndpi_but_where_explained(name, pcap, config, tmp_path):
    reader = require_tool("ndpiReader")
    if config is None:
        config = tmp_path / "any.toml"
        config.write_text(ANY_PLAN)
    ndpi = ndpi_remote_access(reader, pcap)
    ours = ybsensor_remote_access(pcap, config, tmp_path / "alerts.jsonl")
    if not name.startswith("none_"):
        assert ours | ndpi, f"{name}: neither side sees remote access"
    assert ours ^ ndpi == set(DIFFERENCES.get(name, {})), (
        f"{name}: only ybsensor {sorted(ours - ndpi)}, only nDPI {sorted(ndpi - ours)}")
