"""IP reassembly (decoders/reassembly.py): datagrams whole across batches and tunnels, the
fragments' rows no flows of their own, first copy wins on overlap, every bound counted, and
agreement with tshark (which reassembles by default) on Zeek's fragment traces."""
from __future__ import annotations

import ipaddress
import random
import struct
import subprocess
import tracemalloc

import numpy as np
import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw

import pii
import tools
from ybsensor.decoders import Batch, dispatch, driver
from ybsensor.decoders.reassembly import OVERLAP_REASON, Reassembly
from ybsensor.decoders.view import encap_names
from ybsensor.core.addresses import address
from ybsensor.sensor.config import load
from ybsensor.sensor.sensor import Sensor

SRC, DST = "10.1.2.3", "10.200.1.20"
CONFIG = """
[network]
private  = ["10.0.0.0/8", "fd00::/8"]
platform = ["10.200.0.0/16"]

[[institution]]
code = "H22010200001"
ranges = ["10.1.2.0/24", "fd00:1::/48"]
lines = ["vlan:100"]

[detectors.plaintext_pii]
hash_key = "test-key"
{extra}
"""
PERSON = pii.resident_id(random.Random(13))


def datagram(data: bytes, sport=40000, dport=514, src=SRC, dst=DST) -> bytes:
    """A UDP header and its data (what IP fragments carry)."""
    wrap = IPv6 if ":" in src else IP
    return bytes(wrap(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(data))[
        40 if ":" in src else 20:]


ETH_VLAN = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + struct.pack("!HH", 0x8100, 100)


def frag4(body: bytes, start: int, end: int, more: bool, ident=77, src=SRC, dst=DST) -> bytes:
    """An IPv4 fragment of `body` (transport header and data) on VLAN 100, built directly
    (the decoders check no checksum)."""
    data = body[start:end]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(data), ident,
                     (0x2000 if more else 0) | (start // 8), 64, 17, 0,
                     ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed)
    return ETH_VLAN + struct.pack("!H", 0x0800) + ip + data


def frag6(body: bytes, start: int, end: int, more: bool, ident=77,
          src="fd00:1::3", dst="fd00:200::20") -> bytes:
    data = body[start:end]
    ip = struct.pack("!IHBB16s16s", 6 << 28, 8 + len(data), 44, 64,
                     ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed)
    frag = struct.pack("!BBHI", 17, 0, (start // 8) << 3 | int(more), ident)
    return ETH_VLAN + struct.pack("!H", 0x86DD) + ip + frag + data


def decode(frames: list[bytes], ts_ns=None, first_frame=1):
    return driver.run(Batch.from_frames(frames, ts_ns=ts_ns, first_frame=first_frame),
                      dispatch.DEFAULT)


def run(r: Reassembly, frames: list[bytes], ts_ns=None, first_frame=1):
    t = decode(frames, ts_ns, first_frame)
    return t, r.process(t, lambda b: driver.run(b, dispatch.DEFAULT))


def make_sensor(tmp_path, extra=""):
    path = tmp_path / "sensor.toml"
    path.write_text(CONFIG.format(extra=extra))
    return Sensor(load(path), alerts_path=str(tmp_path / "alerts.jsonl"))


SYSLOG = f"<134>1 - his-reg - - patient registered: idcard={PERSON} dept=0301".encode()


@pytest.mark.parametrize("v6", [False, True])
def test_a_datagram_in_fragments_of_two_batches_is_one_row_with_its_ports_and_line(v6):
    src, dst = ("fd00:1::3", "fd00:200::20") if v6 else (SRC, DST)
    body = datagram(SYSLOG, src=src, dst=dst)
    frag = frag6 if v6 else frag4
    r = Reassembly()
    t1, whole1 = run(r, [frag(body, 0, 48, True)])
    assert whole1 is None and len(r.held) == 1
    # the first fragment is a packet with its ports, its payload searched in the datagram's
    assert t1.n_ip[0] >= 1 and (t1.sport[0], t1.dport[0]) == (40000, 514)
    assert t1.payload_len[0] == 0
    t2, whole = run(r, [frag(body, 48, len(body), False)], first_frame=2)
    assert t2.n_ip[0] == 0                          # a later one is no packet of its own
    assert whole is not None and whole.n == 1 and not r.held
    assert (address(int(whole.src_hi[0]), int(whole.src_lo[0])),
            address(int(whole.dst_hi[0]), int(whole.dst_lo[0]))) == (src, dst)
    assert (whole.proto[0], whole.sport[0], whole.dport[0]) == (17, 40000, 514)
    assert (whole.line_kind[0], whole.line_a[0]) == (t2.line_kind[0], 100)
    assert whole.frame[0] == 2
    payload = whole.batch.data[whole.payload_off[0]: whole.payload_off[0] + whole.payload_len[0]]
    assert payload.tobytes() == SYSLOG
    # the first fragment was counted in its own batch, as a packet with its bytes: the
    # datagram carries the bytes of the rest
    assert whole.wirelen[0] == t2.wirelen[0]
    names = dispatch.DEFAULT.layer_names
    assert [names[x] for x in whole.layers[0, :whole.nlayers[0]]] == \
        ["eth", "vlan", "ipv6" if v6 else "ipv4", "udp"]
    assert r.reassembled == 1


INTERNET = "203.0.113.9"


def _counts(s, frames: list[bytes], batches: list[slice]):
    """Process `frames` in the given batches; (flow packets, flow bytes) of the one flow,
    internet_bound's occurrences, and (packets, bytes) of the line."""
    for part in batches:
        s.pipeline.process(Batch.from_frames(frames[part], first_frame=1 + (part.start or 0)))
    live = np.flatnonzero(s.flows.alive)
    assert len(live) == 1
    occurrences = sum(n for (d, _), n in s.alerter.occurrences.items() if d == "internet_bound")
    line = s.lines.traffic()
    return (int(s.flows.packets[live[0]]), int(s.flows.bytes[live[0]]), occurrences,
            (line[0][1], line[0][2]))


@pytest.mark.parametrize("pieces", [2, 3])
def test_a_datagram_whole_in_its_batch_counts_each_frame_once(tmp_path, pieces):
    """Its first fragment is no packet of its own: the datagram is one packet with every
    fragment's bytes, one occurrence of a rule it breaks; the line counts each frame."""
    body = datagram(b"x" * 100, dst=INTERNET)
    cuts = [0, 48, 96, len(body)] if pieces == 3 else [0, 64, len(body)]
    frames = [frag4(body, a, b, b < len(body), dst=INTERNET) for a, b in zip(cuts, cuts[1:])]
    wire = sum(len(f) for f in frames)
    s = make_sensor(tmp_path)
    assert _counts(s, frames, [slice(0, None)]) == (1, wire, 1, (pieces, wire))


def test_a_datagram_whole_in_a_later_batch_counts_each_frame_once(tmp_path):
    """A first fragment still waiting at the end of its batch is counted there; the
    datagram, when whole, carries the other fragments' bytes only."""
    body = datagram(b"x" * 100, dst=INTERNET)
    frames = [frag4(body, 0, 64, True, dst=INTERNET),
              frag4(body, 64, len(body), False, dst=INTERNET)]
    wire = sum(len(f) for f in frames)
    s = make_sensor(tmp_path)
    assert _counts(s, frames, [slice(0, 1), slice(1, None)]) == (2, wire, 2, (2, wire))


def test_out_of_order_and_duplicate_fragments():
    body = datagram(SYSLOG)
    r = Reassembly()
    _, whole = run(r, [frag4(body, 48, len(body), False), frag4(body, 24, 56, True),
                       frag4(body, 24, 56, True), frag4(body, 0, 24, True)])
    assert whole is not None and whole.n == 1
    assert whole.batch.data[whole.payload_off[0]:][:len(SYSLOG)].tobytes() == SYSLOG
    assert r.overlaps == 0                          # identical copies are no evasion


def test_overlap_that_disagrees_keeps_the_first_copy_and_is_counted():
    body = datagram(SYSLOG)
    other = body[:24] + b"Z" * 24 + body[48:]
    errors = {}
    from collections import Counter
    errors = Counter()
    r = Reassembly(errors=errors)
    _, whole = run(r, [frag4(body, 0, 48, True), frag4(other, 24, 48, True),
                       frag4(body, 48, len(body), False)])
    assert whole.batch.data[whole.payload_off[0]:][:len(SYSLOG)].tobytes() == SYSLOG
    assert r.overlaps == 1 and errors[OVERLAP_REASON] == 1


def test_fragments_of_two_datagrams_between_the_same_hosts_stay_apart(tmp_path):
    s = make_sensor(tmp_path)
    a, b = datagram(b"a" * 40, sport=40001), datagram(b"b" * 40, sport=40002)
    frames = [frag4(a, 0, 24, True, ident=1), frag4(b, 0, 24, True, ident=2),
              frag4(b, 24, len(b), False, ident=2), frag4(a, 24, len(a), False, ident=1)]
    s.pipeline.process(Batch.from_frames(frames))
    live = np.flatnonzero(s.flows.alive)
    ports = sorted((int(s.flows.sport[i]), int(s.flows.dport[i])) for i in live)
    assert ports == [(40001, 514), (40002, 514)]     # no port-0 flow, one flow each


def test_a_fragmented_datagram_raises_plaintext_pii(tmp_path):
    s = make_sensor(tmp_path)
    body = datagram(SYSLOG)
    cut = (len(body) - len(SYSLOG) + SYSLOG.index(PERSON.encode()) + 9) // 8 * 8
    s.pipeline.process(Batch.from_frames([frag4(body, 0, cut, True)]))
    s.pipeline.process(Batch.from_frames([frag4(body, cut, len(body), False)], first_frame=2))
    alerts = [a for a in s.last_alerts if a["detector"] == "plaintext_pii"]
    assert len(alerts) == 1 and alerts[0]["first_frame"] == 2 and alerts[0]["sport"] == 40000
    assert PERSON not in str(alerts)


@pytest.mark.parametrize("cut_after", [None, 2])
def test_a_udp_flow_s_datagram_made_whole_comes_before_its_later_datagrams(tmp_path, cut_after):
    """A syslog flow sends an ID in a fragmented datagram (frames 1-2), then in a whole one
    (frame 3): the alert is the first one's, whether or not frame 3 is in the same batch
    (made whole at its last fragment, a datagram takes its flow's later rows with it)."""
    s = make_sensor(tmp_path)
    body = datagram(SYSLOG)
    cut = (len(body) - len(SYSLOG) + SYSLOG.index(PERSON.encode()) + 9) // 8 * 8
    from scapy.all import Dot1Q, Ether
    frames = [frag4(body, 0, cut, True), frag4(body, cut, len(body), False),
              bytes(Ether() / Dot1Q(vlan=100) / IP(src=SRC, dst=DST, id=78, proto=17) / Raw(body))]
    at = cut_after or len(frames)
    s.pipeline.process(Batch.from_frames(frames[:at]))
    alerts = [a for a in s.last_alerts if a["detector"] == "plaintext_pii"]
    if cut_after:
        s.pipeline.process(Batch.from_frames(frames[at:], first_frame=at + 1))
        alerts += [a for a in s.last_alerts if a["detector"] == "plaintext_pii"]
    assert [(a["first_frame"], a["sport"]) for a in alerts] == [(2, 40000)]


def encap(t, row: int) -> str:
    return encap_names(dispatch.DEFAULT.layer_names, t.layers[row], int(t.nlayers[row]))


def tunnel_fragments(tunnel: str, payload: bytes, then: bytes = b"") -> list[bytes]:
    """A VPDN line's packet over the path MTU: an inner TCP segment (1 430 bytes of data,
    `payload` at its end) in L2TP or GRE, its outer IPv4 header fragmented at 1 400 bytes
    of data, on VLAN 100, as a router on the path cuts it; where `then` is given, after the
    client's SYN, and followed by the stream's next segment `then`, short enough to go whole."""
    from scapy.all import Dot1Q, Ether, fragment
    from scapy.layers.inet import TCP
    from scapy.layers.l2 import GRE
    from scapy.layers.l2tp import L2TP
    from scapy.layers.ppp import PPP

    def carried(seq: int, data: bytes, flags: str = "PA"):
        inner = IP(src=SRC, dst=DST) / TCP(sport=50000, dport=8080, flags=flags, seq=seq) / \
            Raw(data)
        wrap = UDP(sport=1701, dport=1701) / L2TP(tunnel_id=7, session_id=9) / \
            PPP(proto=0x21) if tunnel == "l2tp" else GRE(key_present=1, key=5, proto=0x0800)
        return IP(src="100.64.0.1", dst="100.64.0.2", id=4242 + seq) / wrap / inner
    out = [bytes(Ether() / Dot1Q(vlan=100) / f)
           for f in fragment(carried(1, b"x" * (1430 - len(payload)) + payload), fragsize=1400)]
    if not then:
        return out
    return [bytes(Ether() / Dot1Q(vlan=100) / carried(0, b"", "S"))] + out + \
        [bytes(Ether() / Dot1Q(vlan=100) / carried(1431, then))]


@pytest.mark.parametrize("fast", [False, "numba"])
@pytest.mark.parametrize("tunnel", ["l2tp", "gre"])
def test_a_tunnel_fragmented_outside_it_is_decoded_once_whole(tunnel, fast):
    """A first fragment is decoded no further than its transport header (the tunnel it
    carries is cut at the fragment's end, and would name a line its later fragments do
    not): its datagram, made whole, is decoded through the tunnel to the inner TCP."""
    frames = tunnel_fragments(tunnel, b"end")
    assert len(frames) == 2
    t = driver.run(Batch.from_frames(frames), dispatch.DEFAULT, fast=fast)
    first, later = (encap(t, row) for row in (0, 1))
    assert first == ("eth/vlan/ipv4/udp" if tunnel == "l2tp" else "eth/vlan/ipv4")
    assert later == "eth/vlan/ipv4" and (t.frag_at >= 0).all()
    whole = Reassembly().process(t, lambda b: driver.run(b, dispatch.DEFAULT, fast=fast))
    inside = "udp/l2tp/ppp" if tunnel == "l2tp" else "gre"
    assert whole.n == 1 and encap(whole, 0) == f"eth/vlan/ipv4/{inside}/ipv4/tcp"
    assert (int(whole.sport[0]), int(whole.dport[0]), int(whole.payload_len[0])) == (50000, 8080, 1430)
    assert address(int(whole.src_hi[0]), int(whole.src_lo[0])) == SRC


@pytest.mark.parametrize("fast", [False, "numba"])
def test_a_vxlan_packet_in_ipv6_fragments_is_decoded_once_whole(fast):
    """The same over IPv6 (a fragment header after the outer header): VXLAN on UDP 4789,
    an Ethernet frame inside it, its TCP segment's end in the second fragment."""
    from scapy.all import Ether, fragment6
    from scapy.layers.inet import TCP
    from scapy.layers.inet6 import IPv6ExtHdrFragment
    from scapy.layers.vxlan import VXLAN
    inner = Ether() / IP(src=SRC, dst=DST) / TCP(sport=50000, dport=8080, flags="PA") / \
        Raw(b"x" * 1400 + b"end")
    outer = IPv6(src="fd00:9::1", dst="fd00:9::2") / IPv6ExtHdrFragment(id=99) / \
        UDP(sport=4789, dport=4789) / VXLAN(vni=5000) / inner
    frames = [bytes(Ether() / f) for f in fragment6(outer, 1280)]
    assert len(frames) == 2
    t = driver.run(Batch.from_frames(frames), dispatch.DEFAULT, fast=fast)
    assert [encap(t, row) for row in (0, 1)] == ["eth/ipv6/udp", "eth/ipv6"]
    whole = Reassembly().process(t, lambda b: driver.run(b, dispatch.DEFAULT, fast=fast))
    assert whole.n == 1 and encap(whole, 0) == "eth/ipv6/udp/vxlan/eth/ipv4/tcp"
    assert (int(whole.sport[0]), int(whole.dport[0]), int(whole.payload_len[0])) == (50000, 8080, 1403)


@pytest.mark.parametrize("tunnel, line", [("l2tp", "l2tp:7/9"), ("gre", "gre:5")])
def test_personal_data_in_the_fragment_that_ends_a_tunnel_packet(tmp_path, tunnel, line):
    """The identifier lies in the second fragment: seen once the datagram is whole, on the
    tunnel's line, with the inner flow's ends."""
    s = make_sensor(tmp_path)
    frames = tunnel_fragments(tunnel, f'{{"certno":"{PERSON}"}}'.encode())
    s.pipeline.process(Batch.from_frames(frames))
    alerts = [a for a in s.last_alerts if a["detector"] == "plaintext_pii"]
    assert [(a["line"], a["src"], a["sport"], a["dport"], a["first_frame"]) for a in alerts] == \
        [(line, SRC, 50000, 8080, 2)]
    assert PERSON not in str(s.last_alerts)


@pytest.mark.parametrize("tunnel", ["l2tp", "gre"])
def test_a_tunnel_s_first_fragment_is_no_packet_of_its_own(tmp_path, tunnel):
    """Its datagram not whole by the end of its batch, a tunnel's first fragment is the
    carrier's packet, not a user's: its ends (the LAC and the LNS, outside the private plan
    here) are judged by no rule and make no flow. The datagram, whole in the next batch, is
    one packet with the bytes of both frames."""
    s = make_sensor(tmp_path)
    frames = tunnel_fragments(tunnel, f'{{"certno":"{PERSON}"}}'.encode())
    s.pipeline.process(Batch.from_frames(frames[:1]))
    assert s.last_alerts == [] and not s.flows.alive.any()
    s.pipeline.process(Batch.from_frames(frames[1:], first_frame=2))
    (alert,) = [a for a in s.last_alerts if a["detector"] == "plaintext_pii"]
    assert (alert["src"], alert["packets"], alert["bytes"]) == (SRC, 1, sum(map(len, frames)))


def test_an_identifier_across_a_datagram_made_whole_and_the_next_segment(tmp_path):
    """Its first digits end the fragmented packet, the rest begin the stream's next segment,
    which came whole in the same batch: the stream is read in sequence order all the same."""
    s = make_sensor(tmp_path)
    text = f'{{"certno":"{PERSON}"}}'.encode()
    frames = tunnel_fragments("l2tp", text[:20], then=text[20:])
    s.pipeline.process(Batch.from_frames(frames))
    alerts = [a for a in s.last_alerts if a["detector"] == "plaintext_pii"]
    assert [(a["line"], a["src"], a["evidence"]["kinds"].get("resident_id")) for a in alerts] == \
        [("l2tp:7/9", SRC, 1)]


def test_timeout_is_packet_time():
    body = datagram(SYSLOG)
    r = Reassembly(timeout=30)
    run(r, [frag4(body, 0, 48, True)], ts_ns=[0])
    run(r, [frag4(body, 48, len(body), False, ident=5)], ts_ns=[29 * 10**9])
    assert len(r.held) == 2 and r.timed_out == 0
    _, whole = run(r, [frag4(body, 48, len(body), False)], ts_ns=[31 * 10**9])
    assert whole is None and r.timed_out == 1      # its first fragment was too long ago


def test_bounds_fragments_and_size():
    body = datagram(bytes(200))
    r = Reassembly(max_fragments=4)
    run(r, [frag4(body, i, i + 8, True) for i in range(0, 48, 8)])
    assert r.dropped["fragments"] == 1
    big = frag4(bytes(70000), 65528, 65536, False, ident=9)
    run(r, [big])
    assert r.dropped["too_big"] == 1


@pytest.mark.parametrize("entry, why", [
    ("memory_mb = 0", "between 1 and 65536"), ("timeout_seconds = nan", "between"),
    ("max_fragments = 0", "between 1 and 8192"), ("bogus = 1", "unknown key"),
    ('memory_mb = "x"', "must be a number")])
def test_bad_reassembly_settings_are_refused(tmp_path, entry, why):
    from ybsensor.sensor.config import ConfigError
    path = tmp_path / "sensor.toml"
    path.write_text(CONFIG.format(extra=f"[reassembly]\n{entry}\n"))
    with pytest.raises(ConfigError, match=f"reassembly.*{why}"):
        load(path)


def test_reassembly_settings_reach_the_sensor(tmp_path):
    s = make_sensor(tmp_path, "[reassembly]\nmemory_mb = 2\ntimeout_seconds = 5\nmax_fragments = 9\n")
    r = s.reassembly
    assert (r.max_bytes, r.timeout_ns, r.max_fragments) == (2 << 20, 5 * 10**9, 9)


def test_memory_stays_bounded_under_a_flood_of_incomplete_fragments():
    """A flood of first fragments that never complete: the held bytes stay under the bound,
    the oldest go (counted), and Python's own allocations stay near it."""
    limit = 1 << 20
    r = Reassembly(max_bytes=limit)
    body = datagram(bytes(1400))
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        sent = 0
        template = frag4(body, 0, 1400, True)
        at = template.index(bytes([0, 77]))            # the IP identification
        for k in range(20):
            frames = [template[:at] + struct.pack("!H", k * 500 + i) + template[at + 2:]
                      for i in range(500)]
            run(r, frames, ts_ns=[k * 10**6] * len(frames))
            sent += len(frames)
            assert r.bytes <= limit
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert r.dropped["memory"] == sent - len(r.held) > 0
    # the held data and the batches' own decoding (one batch of 500 frames at a time)
    assert peak < 4 * limit + 16 * (1 << 20)


# --- against tshark on Zeek's traces --------------------------------------------------

ZEEK = tools.REPO.parent / "shared" / "corpus" / "zeek"
TRACES = ["ipv4/fragmented-1.pcap", "ipv4/fragmented-2.pcap", "ipv4/fragmented-3.pcap",
          "ipv4/fragmented-4.pcap", "ipv4/fragmented-syn.pcap", "ipv6-fragmented-dns.pcap",
          "ipv6-reassembly-state-leak.pcap", "quic/383379789-decrypt-crash.pcap",
          # GTP-U whose outer IPv4 packets are fragmented: each made whole, then decoded
          # through the tunnel to the user's TCP
          "tunnels/gtp/gtp1_gn_normal_incl_fragmentation.pcap"]


def tshark_reassembled(path) -> dict[int, tuple]:
    """Frame -> (src, dst, sport, dport) of the datagrams tshark reassembles there."""
    fields = ["frame.number", "ip.reassembled.length", "ipv6.reassembled.length", "ip.src",
              "ipv6.src", "ip.dst", "ipv6.dst", "udp.srcport", "tcp.srcport", "udp.dstport",
              "tcp.dstport"]
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-E", "separator=|",
                          *(x for f in fields for x in ("-e", f))],
                         capture_output=True, text=True, check=True).stdout
    got = {}
    for line in out.splitlines():
        p = [x.split(",")[-1] for x in line.split("|")]
        if p[1] or p[2]:
            # the innermost transport's ports: TCP's where a UDP tunnel carries TCP
            got[int(p[0])] = (p[3] or p[4], p[5] or p[6], int(p[8] or p[7]), int(p[10] or p[9]))
    return got


@pytest.mark.parametrize("name", TRACES)
def test_reassembled_datagrams_agree_with_tshark(name):
    path = ZEEK / name
    if not path.exists():
        pytest.skip(f"no trace at {path}")
    tools.require_tool("tshark")
    from ybsensor.sensor.sources import read_capture
    r, ours = Reassembly(), {}
    for batch in read_capture(path):
        t = driver.run(batch, dispatch.DEFAULT)
        d = r.process(t, lambda b: driver.run(b, dispatch.DEFAULT))
        for j in range(d.n if d is not None else 0):
            ours[int(d.frame[j])] = (address(int(d.src_hi[j]), int(d.src_lo[j])),
                                     address(int(d.dst_hi[j]), int(d.dst_lo[j])),
                                     int(d.sport[j]), int(d.dport[j]))
    assert ours == tshark_reassembled(path)


# --- fuzzing: fragments in any order, sizes, overlaps and ids --------------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

fragment = st.tuples(st.booleans(), st.integers(0, 3), st.integers(0, 200), st.integers(0, 120),
                     st.booleans(), st.binary(max_size=4))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(fragment, max_size=12), min_size=1, max_size=4),
       st.integers(200, 4000), st.integers(1, 6))
def test_any_fragments_never_break_the_bounds(batches, limit, max_fragments):
    """IPv4 and IPv6 fragments of a few ids, any offsets, lengths, flags and bytes, over a
    few batches: never an exception; held bytes within the bound; each whole datagram one
    row whose payload is at most what its fragments held."""
    r = Reassembly(max_bytes=limit, max_fragments=max_fragments)
    for k, frames in enumerate(batches):
        built = []
        for v6, ident, start8, size, more, fill in frames:
            body = (fill or b"\x00") * (start8 * 8 + size)
            make = frag6 if v6 else frag4
            built.append(make(body, start8 * 8, start8 * 8 + size, more, ident=ident + 1))
        if not built:
            continue
        t, whole = run(r, built, ts_ns=[k * 10**9] * len(built))
        # later fragments are no packets of their own; no fragment's payload is searched
        later = np.array([f[2] > 0 for f in frames])
        assert (t.n_ip[np.flatnonzero(t.frag_at >= 0)[later[t.frag_at >= 0]]] == 0).all()
        assert (t.payload_len[t.frag_at >= 0] == 0).all()
        assert r.bytes <= limit or not r.held
        if whole is not None:
            assert whole.n <= len(built)
            assert (whole.payload_len <= 65535).all()


def test_a_lone_first_fragment_to_the_internet_is_still_internet_bound(tmp_path):
    """MF set on every packet (a datagram never made whole) hides nothing: the first
    fragment carries its ports and goes where it goes."""
    from scapy.layers.inet import IP, TCP
    from frames import link
    from scapy.utils import wrpcap

    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
    from ybsensor.sensor.sources import read_capture
    from tools import PCAPS

    pkts = [link(100) / IP(src="10.1.2.10", dst="203.0.113.9", flags="MF",
                                           id=7 + k) / TCP(sport=51000, dport=443) / (b"x" * 40)
            for k in range(3)]
    pcap = tmp_path / "mf.pcap"
    wrpcap(str(pcap), pkts)
    sensor = Sensor(load(PCAPS / "example.toml"), alerts_path="")
    alerts = []
    for batch in read_capture(pcap):
        sensor.pipeline.process(batch)
        alerts += sensor.last_alerts
    sensor.close()
    assert [(a["detector"], a["dst"], a["dport"]) for a in alerts] == \
        [("internet_bound", "203.0.113.9", 443)]
    assert sum(n for (d, _), n in sensor.alerter.occurrences.items() if d == "internet_bound") == 3


def _fragment_by_fragment(r: Reassembly):
    """`r` with every fragment taken one at a time (the path for what a batch does not make
    whole from columns)."""
    r._whole_in_batch = lambda rows, cols, fields, wire, data, completed: (
        [], np.arange(len(rows)))
    return r


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.tuples(st.booleans(), st.integers(0, 2), st.integers(0, 3),
                                   st.booleans(), st.booleans()), max_size=10),
                min_size=1, max_size=3), st.randoms(use_true_random=False))
def test_datagrams_made_from_columns_are_those_made_fragment_by_fragment(batches, rnd):
    """Datagrams cut into 1-3 fragments at 8-byte steps, some fragments duplicated or
    dropped, shuffled, over batches: the datagrams, the rows they stand for and the counters
    are the same whether a batch's whole datagrams are made from columns or one fragment at
    a time."""
    built = []
    for spec in batches:
        frames = []
        for v6, ident, cuts, dup, drop in spec:
            body = datagram(bytes([65 + ident]) * (8 + 16 * cuts),
                            dst="fd00:200::20" if v6 else DST, src="fd00:1::3" if v6 else SRC)
            edges = [0] + [8 * (1 + 2 * c) for c in range(cuts)] + [len(body)]
            make = frag6 if v6 else frag4
            parts = [make(body, a, b, b < len(body), ident=ident + 1)
                     for a, b in zip(edges, edges[1:])]
            if drop and len(parts) > 1:
                parts.pop(rnd.randrange(len(parts)))
            if dup:
                parts.append(parts[rnd.randrange(len(parts))])
            frames += parts
        rnd.shuffle(frames)
        built.append(frames)
    runs = []
    for r in (Reassembly(), _fragment_by_fragment(Reassembly())):
        out = []
        for k, frames in enumerate(built):
            if not frames:
                continue
            t, whole = run(r, frames, first_frame=100 * k + 1)
            got = [] if whole is None else [
                (int(whole.frame[j]), int(whole.wirelen[j]), int(whole.sport[j]),
                 whole.batch.data[whole.payload_off[j]:][:whole.payload_len[j]].tobytes())
                for j in range(whole.n)]
            out.append((got, t.n_ip.tolist(), t.payload_len.tolist()))
        runs.append((out, r.reassembled, r.overlaps, dict(r.dropped), r.bytes, len(r.held)))
    assert runs[0] == runs[1]
