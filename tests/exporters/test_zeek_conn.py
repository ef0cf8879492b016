"""The flow log against Zeek's own answers: for traces of Zeek's test suite, its expected
conn.log (tests/data/zeek/, copied from its repository) gives the connections, and each
one's packets and IP bytes per direction. Our flows must give the same, but where a
definition differs on purpose (README, "The flow log and Zeek's conn.log"); each such
case is recognised here from Zeek's own fields and the trace, and checked for what it is:

- the outer connection of a UDP tunnel (VXLAN, GRE-in-UDP): Zeek logs the carrier's UDP
  connection beside the inner ones; we log the inner flows only. Recognised: a UDP
  connection every packet of which carries an inner IP header (tshark's dissection).
- a new SYN after FIN or RST: Zeek starts a new connection on the same 5-tuple; a flow
  here lasts until it is idle. Recognised: Zeek's later connections of one 5-tuple open
  with a SYN (history "S..."); their counts add up to our one flow's.
- the originator: ours is the first packet's sender; Zeek flips the roles where it missed
  the start and the ports say who serves (history holds "^").

Bytes: Zeek counts IP bytes (orig_ip_bytes), we count frames on the wire; the difference
is each frame's link and tunnel headers and padding, which tshark gives frame by frame
(frame.len less the innermost IP packet's length).
"""
from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

import ybsensor
from tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
BASELINES = ROOT / "tests" / "data" / "zeek"
TRACES = ROOT.parent / "shared" / "corpus" / "zeek"
PLAN = """\
[network]
private  = ["10.0.0.0/8"]
platform = ["10.200.0.0/16"]
[flows]
idle_seconds = 86400
"""
TCP, UDP, ICMP, ICMP6 = 6, 17, 1, 58
PROTO = {"tcp": TCP, "udp": UDP, "icmp": ICMP}


def baselines() -> dict[str, str]:
    """{baseline: trace} from the table in tests/data/zeek/README.md."""
    out = {}
    for line in (BASELINES / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("|") and len(cells) == 2 and cells[1].endswith(("pcap", "pcapng")):
            out[cells[0]] = cells[1]
    return out


def zeek_log(name: str) -> list[dict]:
    """The records of a Zeek log in tests/data/zeek/, each {field: text}."""
    fields, out = None, []
    for line in (BASELINES / name).read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif fields and not line.startswith("#"):
            out.append(dict(zip(fields, line.split("\t"))))
    return out


def zeek_conns(baseline: str) -> list[dict]:
    out = []
    for c in zeek_log(f"{baseline}.conn.log"):
        proto = PROTO[c["proto"]]
        if proto == ICMP and ":" in c["id.orig_h"]:
            proto = ICMP6
        out.append({"proto": proto, "orig": (c["id.orig_h"], int(c["id.orig_p"])),
                    "resp": (c["id.resp_h"], int(c["id.resp_p"])),
                    "history": c["history"],
                    "orig_pkts": int(c["orig_pkts"]), "resp_pkts": int(c["resp_pkts"]),
                    "orig_ip_bytes": int(c["orig_ip_bytes"]),
                    "resp_ip_bytes": int(c["resp_ip_bytes"])})
    return out


def frames(pcap: Path) -> list[dict]:
    """Each IP frame as tshark dissects it: its innermost IP packet's ends, transport
    ports (ICMP: type), length, the link and tunnel bytes around it, and the outer UDP
    4-tuple where the packet travels in a UDP tunnel."""
    fields = ["frame.len", "frame.protocols", "ip.src", "ip.dst", "ip.len", "ipv6.src",
              "ipv6.dst", "ipv6.plen", "tcp.srcport", "tcp.dstport", "udp.srcport",
              "udp.dstport", "icmp.type", "icmpv6.type"]
    out = subprocess.run([require_tool("tshark"), "-r", str(pcap), "-T", "fields",
                          "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,",
                          *[x for f in fields for x in ("-e", f)]],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    found = []
    for line in out.splitlines():
        v = dict(zip(fields, line.split("\t")))
        col = {k: s.split(",") if s else [] for k, s in v.items()}
        seen = defaultdict(int)     # occurrences so far of each protocol
        inner = transport = outer_udp = None
        for token in v["frame.protocols"].split(":"):
            if token in ("ip", "ipv6"):
                if transport is not None and transport[0] == "udp":
                    outer_udp = (inner, transport[1])     # this packet rides in UDP
                inner, transport = (token, seen[token]), None
            elif token in ("tcp", "udp") and inner is not None and transport is None:
                transport = (token, seen[token])
            elif token in ("icmp", "icmpv6") and inner is not None:
                transport = (token, seen[token])
                seen[token] += 1
                break                    # what an ICMP error quotes is not this packet
            seen[token] += 1
        if inner is None:
            continue
        kind, k = inner
        src, dst = col[f"{kind}.src"][k], col[f"{kind}.dst"][k]
        size = int(col["ip.len"][k]) if kind == "ip" else int(col["ipv6.plen"][k]) + 40
        ports = (None, None)
        if transport is not None and transport[0] in ("tcp", "udp"):
            name, j = transport
            ports = (int(col[f"{name}.srcport"][j]), int(col[f"{name}.dstport"][j]))
        elif transport is not None:
            ports = (int(col[f"{transport[0]}.type"][transport[1]]), None)
        outer = None
        if outer_udp is not None:
            (okind, ok), j = outer_udp
            outer = (col[f"{okind}.src"][ok], int(col["udp.srcport"][j]),
                     col[f"{okind}.dst"][ok], int(col["udp.dstport"][j]))
        found.append({"src": src, "dst": dst, "ports": ports, "ip_bytes": size,
                      "overhead": int(v["frame.len"]) - size, "outer_udp": outer})
    return found


def flows(pcap: Path, tmp: Path) -> list[dict]:
    config = tmp / "plan.toml"
    config.write_text(PLAN)
    return ybsensor.replay(pcap, config).flows.to_pylist()


def ends(proto: int, a: tuple, b: tuple) -> tuple:
    return (proto,) + tuple(sorted([a, b]))


@pytest.mark.parametrize("baseline,trace", sorted(baselines().items()))
def test_flows_agree_with_zeek_conn_log(baseline, trace, tmp_path):
    pcap = TRACES / trace
    if not pcap.exists():
        pytest.skip(f"{pcap} is not here")
    conns, seen = zeek_conns(baseline), frames(pcap)
    ours: dict[tuple, list[dict]] = defaultdict(list)
    for r in flows(pcap, tmp_path):
        ours[ends(r["proto"], (r["src"], r["sport"]), (r["dst"], r["dport"]))].append(r)

    # the outer connections of UDP tunnels: every packet carries an inner IP packet
    carried = defaultdict(int)
    for f in seen:
        if f["outer_udp"] is not None:
            s, sp, d, dp = f["outer_udp"]
            carried[ends(UDP, (s, sp), (d, dp))] += 1
    expected: dict[tuple, list[dict]] = defaultdict(list)
    for c in conns:
        key = ends(c["proto"], c["orig"], c["resp"])
        if c["proto"] == UDP and carried[key] == c["orig_pkts"] + c["resp_pkts"]:
            assert key not in ours, ("a UDP tunnel's carrier is no flow of ours", c)
            continue
        expected[key].append(c)
    assert expected, "nothing to compare"
    assert set(ours) == set(expected), (sorted(set(ours) ^ set(expected)))

    # the link and tunnel bytes around each direction's IP packets, by sender and ports
    overhead = defaultdict(int)
    for f in seen:
        overhead[(f["src"], f["dst"]) + f["ports"]] += f["overhead"]
    for key, zeek in expected.items():
        mine = ours[key]
        assert len(mine) == 1, ("one flow of ours per 5-tuple in these traces", mine)
        r = mine[0]
        # Zeek's later connections of a 5-tuple: each opened by a new SYN
        for later in zeek[1:]:
            assert later["history"].lstrip("^").startswith("S"), later
        got = {"orig_packets": 0, "resp_packets": 0, "orig_ip_bytes": 0, "resp_ip_bytes": 0}
        for c in zeek:
            same = c["orig"] == (r["src"], r["sport"])
            if not same:
                assert "^" in c["history"], ("only a flipped connection turns round", c, r)
            o, p = ("orig", "resp") if same else ("resp", "orig")
            got["orig_packets"] += c[f"{o}_pkts"]
            got["resp_packets"] += c[f"{p}_pkts"]
            got["orig_ip_bytes"] += c[f"{o}_ip_bytes"]
            got["resp_ip_bytes"] += c[f"{p}_ip_bytes"]
        assert (r["orig_packets"], r["resp_packets"]) == \
            (got["orig_packets"], got["resp_packets"]), (r, zeek)
        if r["proto"] in (ICMP, ICMP6):     # frames are keyed by their type
            there = (r["src"], r["dst"], r["sport"], None)
            back = (r["dst"], r["src"], r["dport"], None)
        else:
            there = (r["src"], r["dst"], r["sport"], r["dport"])
            back = (r["dst"], r["src"], r["dport"], r["sport"])
        assert r["orig_bytes"] == got["orig_ip_bytes"] + overhead[there], (r, zeek)
        assert r["resp_bytes"] == got["resp_ip_bytes"] + overhead[back], (r, zeek)
