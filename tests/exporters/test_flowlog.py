"""The flow log: a record per flow as it leaves the table, with each direction's packets,
bytes and TCP flags, held against tshark's own conversations (its tcp.stream and
udp.stream indexes) on real traces, against frames built here, and against the
`communityid` library; the same records whatever the batching."""
from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from pathlib import Path

import communityid
import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP

from frames import link

from tools import PCAPS, require_tool

ROOT = Path(__file__).resolve().parents[2]
ZEEK = ROOT.parent / "shared" / "corpus" / "zeek"
PLAN = """\
[network]
private  = ["10.0.0.0/8"]
platform = ["10.200.0.0/16"]

[[institution]]
code   = "H22010200001"
ranges = ["10.1.2.0/24"]
lines  = ["vlan:100"]

[flows]
idle_seconds = {idle}
"""
# plain captures of real traffic (Zeek's test traces), TCP and UDP
TRACES = ["http/get-gzip.pcap", "http/basic-auth-with-colon.pcap", "dns53.pcap",
          "http/100-continue.pcap", "http/byteranges.pcap"]


def replay(pcap: Path, tmp: Path, batch_frames: int | None = None,
           idle: int = 60, suffix: str = ".jsonl") -> list[dict]:
    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
    from ybsensor.sensor.sources import read_capture

    config = tmp / "plan.toml"
    config.write_text(PLAN.format(idle=idle))
    log = tmp / f"flows-{batch_frames}{suffix}"
    log.unlink(missing_ok=True)
    sensor = Sensor(load(config), alerts_path="", flow_log=str(log))
    kw = {"batch_frames": batch_frames} if batch_frames else {}
    for batch in read_capture(pcap, **kw):
        sensor.pipeline.process(batch)
    sensor.close()
    if suffix == ".parquet":
        import pyarrow.parquet as pq
        return pq.read_table(log).to_pylist()
    return [json.loads(line) for line in log.read_text().splitlines()]


def tshark_streams(pcap: Path) -> dict[tuple, dict]:
    """tshark's TCP and UDP conversations: (proto, originator, its port, responder, its
    port) -> frames and bytes each way, the originator being the first frame's sender."""
    tshark = require_tool("tshark")
    out = subprocess.run([tshark, "-r", str(pcap), "-T", "fields", "-E", "separator=\t",
                          "-e", "tcp.stream", "-e", "udp.stream", "-e", "ip.src", "-e", "ip.dst",
                          "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "tcp.srcport",
                          "-e", "tcp.dstport", "-e", "udp.srcport", "-e", "udp.dstport",
                          "-e", "frame.len", "-Y", "(tcp or udp) and not icmp and not icmpv6"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    streams: dict[tuple, dict] = {}
    for line in out.splitlines():
        (tcp_stream, udp_stream, src4, dst4, src6, dst6, tsp, tdp, usp, udp_, size) = \
            line.split("\t")
        proto, stream = (6, tcp_stream) if tcp_stream else (17, udp_stream)
        src, dst = (src4, dst4) if src4 else (src6, dst6)
        sport, dport = (int(tsp), int(tdp)) if proto == 6 else (int(usp), int(udp_))
        s = streams.setdefault((proto, stream), {"key": (proto, src, sport, dst, dport),
                                                 "orig": [0, 0], "resp": [0, 0]})
        way = "orig" if (src, sport) == s["key"][1:3] else "resp"
        s[way][0] += 1
        s[way][1] += int(size)
    return {s["key"]: s for s in streams.values()}


@pytest.mark.parametrize("trace", TRACES)
def test_flows_agree_with_tshark_conversations(trace, tmp_path):
    pcap = ZEEK / trace
    if not pcap.exists():
        pytest.skip(f"{pcap} is not here")
    ours = {(r["proto"], r["src"], r["sport"], r["dst"], r["dport"]): r
            for r in replay(pcap, tmp_path) if r["proto"] in (6, 17)}
    theirs = tshark_streams(pcap)
    assert theirs, "tshark found no conversation"
    # a flow is a conversation (5-tuple), where tshark may count a reused tuple as a second
    # stream: compare the tuples tshark saw once
    once = defaultdict(int)
    for key in theirs:
        once[tuple(sorted([key[1:3], key[3:5]])) + (key[0],)] += 1
    for key, conv in theirs.items():
        if once[tuple(sorted([key[1:3], key[3:5]])) + (key[0],)] > 1:
            continue
        assert key in ours, (key, sorted(ours))
        r = ours[key]
        assert [r["orig_packets"], r["orig_bytes"]] == conv["orig"], (key, r, conv)
        assert [r["resp_packets"], r["resp_bytes"]] == conv["resp"], (key, r, conv)


def frames() -> list:
    """A TCP connection on a VLAN line (handshake, a request, a longer answer, FIN both
    ways), a DNS exchange and a ping, all built here."""
    c, s = "10.1.2.10", "10.200.1.20"
    eth, back = link(100), link(100, back=True)
    up = lambda flags, seq, ack, data=b"": eth / IP(src=c, dst=s) / TCP(  # noqa: E731
        sport=51000, dport=80, flags=flags, seq=seq, ack=ack) / data
    down = lambda flags, seq, ack, data=b"": back / IP(src=s, dst=c) / TCP(  # noqa: E731
        sport=80, dport=51000, flags=flags, seq=seq, ack=ack) / data
    request, answer = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 900
    pkts = [up("S", 100, 0), down("SA", 500, 101), up("A", 101, 501),
            up("PA", 101, 501, request), down("PA", 501, 101 + len(request), answer),
            up("FA", 101 + len(request), 501 + len(answer)),
            down("FA", 501 + len(answer), 102 + len(request)),
            up("A", 102 + len(request), 502 + len(answer))]
    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01"
    pkts += [eth / IP(src=c, dst="10.200.0.53") / UDP(sport=5353, dport=53) / query,
             back / IP(src="10.200.0.53", dst=c) / UDP(sport=53, dport=5353) / (query + b"\x00" * 16)]
    pkts += [eth / IP(src=c, dst=s) / ICMP(type=8, id=7, seq=1) / b"ping",
             back / IP(src=s, dst=c) / ICMP(type=0, id=7, seq=1) / b"ping"]
    for k, p in enumerate(pkts):
        p.time = 1735776000 + k * 0.01
    return pkts


def test_each_direction_counted_from_the_frames(tmp_path):
    from scapy.utils import wrpcap

    pkts = frames()
    pcap = tmp_path / "built.pcap"
    wrpcap(str(pcap), pkts)
    records = {r["proto"]: r for r in replay(pcap, tmp_path)}
    assert set(records) == {6, 17, 1}
    tcp = records[6]
    client = [p for p in pkts[:8] if p[IP].src == "10.1.2.10"]
    server = [p for p in pkts[:8] if p[IP].src == "10.200.1.20"]
    assert (tcp["src"], tcp["sport"], tcp["dst"], tcp["dport"]) == ("10.1.2.10", 51000,
                                                                    "10.200.1.20", 80)
    assert tcp["orig_packets"] == len(client) and tcp["resp_packets"] == len(server)
    assert tcp["orig_bytes"] == sum(len(p) for p in client)
    assert tcp["resp_bytes"] == sum(len(p) for p in server)
    assert tcp["orig_payload_bytes"] == sum(len(p[TCP].payload) for p in client)
    assert tcp["resp_payload_bytes"] == sum(len(p[TCP].payload) for p in server)
    assert set(tcp["orig_tcp_flags"]) == set("SAPF") and set(tcp["resp_tcp_flags"]) == set("SAPF")
    assert tcp["tcp_close"] == "fin" and tcp["end_reason"] == "shutdown"
    assert tcp["line"] == "vlan:100" and tcp["institution"] == "H22010200001"
    assert tcp["start"] == pytest.approx(1735776000.0)
    assert tcp["duration"] == pytest.approx(0.07)
    assert tcp["first_frame"] == 1
    udp = records[17]
    assert (udp["orig_packets"], udp["resp_packets"]) == (1, 1)
    assert udp["resp_payload_bytes"] - udp["orig_payload_bytes"] == 16
    assert records[1]["orig_tcp_flags"] is None
    engine = communityid.CommunityID()
    expected = {
        6: communityid.FlowTuple.make_tcp("10.1.2.10", "10.200.1.20", 51000, 80),
        17: communityid.FlowTuple.make_udp("10.1.2.10", "10.200.0.53", 5353, 53),
        1: communityid.FlowTuple.make_icmp("10.1.2.10", "10.200.1.20", 8, 0)}
    for proto, tpl in expected.items():
        assert records[proto]["community_id"] == engine.calc(tpl), proto


def test_the_same_records_whatever_the_batching(tmp_path):
    """The demo day (its background hour repeats 5-tuples, NTP and DNS, minutes apart) with
    an idle time longer than the day, so that no gap inside one batch is one to split at."""
    pcap = PCAPS / "demo.pcap"
    whole = replay(pcap, tmp_path, idle=86400)
    assert len(whole) > 10
    for size in (64, 4096):   # batch borders by the thousand; batches of 7: test_batch_independence
        assert sorted(map(json.dumps, replay(pcap, tmp_path, size, idle=86400))) == \
            sorted(map(json.dumps, whole)), size


def test_the_parquet_log_holds_the_records_of_the_json_log(tmp_path):
    """Both files are written from the same columns by two writers (JSON text, Arrow
    arrays): every value agrees, nulls, rounded floats and the shared strings included."""
    pcap = PCAPS / "demo.pcap"
    records = replay(pcap, tmp_path, 4096)
    assert len(records) > 10 and any(r["tcp_close"] is None for r in records)
    assert replay(pcap, tmp_path, 4096, suffix=".parquet") == records


def test_a_flow_idle_longer_than_idle_seconds_ends_and_a_new_one_opens(tmp_path):
    """Two bursts of the same three conversations an hour apart, in batches of a few
    frames: the first burst's flows end `idle`, the second's are flows of their own. (Within
    one batch the rows of a 5-tuple are one flow, whatever lies between them.)"""
    from scapy.utils import wrpcap

    first = frames()
    later = frames()
    for p in later:
        p.time += 3600
        p[IP].id = 2
    pcap = tmp_path / "bursts.pcap"
    wrpcap(str(pcap), first + later)
    records = replay(pcap, tmp_path, batch_frames=4)
    assert len(records) == 6
    assert [r["end_reason"] for r in records].count("idle") == 3
    assert [r["end_reason"] for r in records].count("shutdown") == 3
    assert {r["community_id"] for r in records[:3]} == {r["community_id"] for r in records[3:]}


def test_columns_write_the_text_records_would():
    """The flow log is written from columns: each line is json.dumps of its record, a
    timestamp column is rfc3339 of each value (half-to-even microseconds, second carries)
    and a rounded one Python's round(x, 6) (ties, durations, repr's exponent form)."""
    import numpy as np

    from ybsensor.core.timestamps import micros, rfc3339, rfc3339_column
    from ybsensor.exporters.tables import Coded, Micros, json_lines

    rng = np.random.default_rng(7)
    ns = np.concatenate([rng.integers(1_600_000_000 * 10**9, 1_900_000_000 * 10**9, 50_000),
                         rng.integers(0, 10**6, 1000) * 1000 + 500, [999_999_999, 0],
                         rng.integers(0, 2**30, 1000) * 7_812_500])
    seconds = ns / 1e9
    assert [t.decode() for t in rfc3339_column(seconds).tolist()] == \
        [rfc3339(x) for x in seconds.tolist()]
    durations = np.concatenate([np.diff(seconds), rng.random(10_000) * 1e-3])
    for values in (seconds, np.abs(durations)):
        assert (micros(values) / 1e6).tolist() == [round(x, 6) for x in values.tolist()]
    fields = {"a": "str", "b": "int", "c": "float", "d": "str", "e": "bool", "f": "float",
              "g": "str", "h": "str"}
    rounded = np.array([0.1, 1735780320.000001, 0.0000012, 0.00001, 0.000099, 0.0, 12.5])
    columns = {"a": ["x\"y\\", "医保\n", None] * 2 + ["z"],
               "b": np.array([1, -2, 3, 0, -2**63, 2**63 - 1, 10]),
               "c": [0.1, 1735780320.000001, None, 1e-05, 2.5, 0.0, 3.0], "d": "same",
               "e": [True, False, None] * 2 + [True], "f": Micros(micros(rounded)),
               "g": Coded(["医保", None, "p\"q"], np.array([2, 1, 0, 0, 1, 2, 1])),
               "h": np.array([b"1:ab+/=", b"a\\b\"c", b"x", b"", b"abc", b"de", b"fghi"])}
    records = [{"a": a, "b": b, "c": c, "d": "same", "e": e, "f": round(f, 6), "g": g, "h": h}
               for a, b, c, e, f, g, h in zip(
                   columns["a"], columns["b"].tolist(), columns["c"], columns["e"],
                   rounded.tolist(), ["p\"q", None, "医保", "医保", None, "p\"q", None],
                   [t.decode() for t in columns["h"].tolist()])]
    assert json_lines(columns, fields, 7) == "".join(
        json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
