"""Protocols declared as one module each (decoders/protocol.py, registry.py): the named faults
of malformed headers, counted per decoder; GENEVE, Teredo and GTP-U decoded from their own
modules; the config's line kinds read from the declarations."""
from __future__ import annotations

import struct

import numpy as np
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from test_tunnels import (INNER, INNER6, INNER_ETH, MACS, OUT_DST, OUT_SRC, PAYLOAD, check_inner,
                          decoded, gre, l2tp2, one, over_ip, over_udp)
from ybsensor.decoders import Batch, decode
from ybsensor.decoders.dispatch import DEFAULT
from ybsensor.decoders.view import rows as view_rows
from ybsensor.sensor.stats import TrafficStats


def statuses(*frames) -> tuple[list[str], TrafficStats]:
    """Each frame's `status` text as `ybsensor decode` writes it, and the stats' counters."""
    t = decode(Batch.from_frames([bytes(p) for p in frames]))
    stats = TrafficStats(DEFAULT.layer_names)
    stats.process(t)
    return [r["status"] for r in view_rows(t, DEFAULT.layer_names)], stats


# --- named faults ----------------------------------------------------------------------

def test_gre_faults_are_named_and_counted_per_decoder():
    frames = [
        over_ip(47, gre(0x0800, INNER, version=2)),                  # no such version
        over_ip(47, gre(0x0800, INNER, flags=0x4000)),               # routing present
        over_ip(47, gre(0x0800, INNER, flags=0x4000)),
        over_ip(47, gre(0x880B, INNER, key=1, csum=True, version=1)),   # PPTP with C
        over_ip(47, gre(0x0800, INNER, key=1, version=1)),           # PPTP, not PPP
        over_ip(47, gre(0x0800, INNER, key=1)[:6]),                  # cut: truncated, no fault
    ]
    got, stats = statuses(*frames)
    assert got == ["malformed:gre.version", "malformed:gre.routing", "malformed:gre.routing",
                   "malformed:gre.pptp_flags", "malformed:gre.pptp_proto", "truncated:gre"]
    # the text keeps its prefix: a reader of "malformed:gre" still matches
    assert all(s.startswith("malformed:gre") for s in got[:5])
    assert stats.faults == {("gre", "version"): 1, ("gre", "routing"): 2,
                            ("gre", "pptp_flags"): 1, ("gre", "pptp_proto"): 1}
    assert stats.errors["malformed:gre.routing"] == 2 and stats.errors["truncated:gre"] == 1


def test_faults_of_ip_l2tp_and_pppoe():
    v4 = bytearray(bytes(IP(src=OUT_SRC, dst=OUT_DST) / Raw(PAYLOAD)))
    bad_version, short_ihl, short_total = bytearray(v4), bytearray(v4), bytearray(v4)
    bad_version[0] = 0x55
    short_ihl[0] = 0x44
    short_total[2:4] = (12).to_bytes(2, "big")
    eth = bytes(Ether(**MACS, type=0x0800))
    pppoe = bytes(Ether(**MACS, type=0x8864))
    got, stats = statuses(
        eth + bytes(bad_version), eth + bytes(short_ihl), eth + bytes(short_total),
        over_udp(1701, struct.pack("!HHH", 0x0005, 1, 2) + PAYLOAD, sport=1701),   # version 5
        over_udp(1701, struct.pack("!HHH", 0x8002, 1, 2) + PAYLOAD, sport=1701),   # T alone
        over_udp(1701, l2tp2(1, 2, PAYLOAD, length=True)[:2] + b"\x00\x04" + b"\0" * 8,
                 sport=1701),                                                      # length 4
        pppoe + struct.pack("!BBHH", 0x12, 0, 7, 2) + b"\x00\x21",
        pppoe + struct.pack("!BBHH", 0x11, 9, 7, 2) + b"\x00\x21",
        pppoe + struct.pack("!BBHH", 0x11, 0, 7, 1) + b"\x00\x21",
    )
    assert got == ["malformed:ipv4.version", "malformed:ipv4.header_length",
                   "malformed:ipv4.total_length", "malformed:l2tp.version",
                   "malformed:l2tp.control_flags", "malformed:l2tp.length",
                   "malformed:pppoe.version", "malformed:pppoe.code", "malformed:pppoe.length"]
    assert sum(stats.faults.values()) == 9 and stats.faults[("l2tp", "length")] == 1


def test_fault_metric_is_exported():
    from ybsensor.exporters.prometheus import SensorCollector
    _, stats = statuses(over_ip(47, gre(0x0800, INNER, flags=0x4000)))
    families = {m.name: m for m in SensorCollector(stats).collect()}
    samples = [(s.labels, s.value) for s in families["ybsensor_decoder_faults"].samples]
    assert ({"decoder": "gre", "fault": "routing"}, 1.0) in samples


# --- GENEVE ----------------------------------------------------------------------------

def geneve(vni: int, payload, proto: int = 0x6558, options: bytes = b"", version: int = 0,
           flags: int = 0) -> bytes:
    assert len(options) % 4 == 0
    return struct.pack("!BBHI", (version << 6) | len(options) // 4, flags, proto,
                       vni << 8) + options + bytes(payload)


def test_geneve_ethernet_ip_and_options():
    option = struct.pack("!HBB", 0x0103, 0x80, 1) + b"\x11\x22\x33\x44"    # class, type, len
    frames = [over_udp(6081, geneve(5000, INNER_ETH)),
              over_udp(6081, geneve(77, INNER, proto=0x0800, options=option)),
              over_udp(6081, geneve(9, INNER_ETH, flags=0x80))]              # O: control
    rows = decoded(*frames)
    for r in rows:
        check_inner(r)
    assert rows[0]["encap"] == "eth/ipv4/udp/geneve/eth/ipv4/tcp"
    assert rows[0]["line"] == ("geneve", 5000, 0) and rows[0]["tunnels"] == [("geneve", 5000, 0)]
    assert rows[1]["encap"] == "eth/ipv4/udp/geneve/ipv4/tcp" and rows[1]["line"][1] == 77


def test_geneve_version_fault_and_cut_options():
    got, stats = statuses(over_udp(6081, geneve(1, INNER_ETH, version=1)),
                          over_udp(6081, geneve(1, b"", options=b"\0" * 8)[:12]))
    assert got == ["malformed:geneve.version", "truncated:geneve"]
    assert stats.faults == {("geneve", "version"): 1}


# --- Teredo ----------------------------------------------------------------------------

def over_teredo(payload: bytes, public=True) -> Ether:
    outer = IP(src="192.168.1.10", dst="65.55.158.80" if public else OUT_DST)
    return Ether(**MACS) / outer / UDP(sport=51000, dport=3544) / Raw(payload)


def test_teredo_ipv6_with_and_without_indicators():
    inner = bytes(INNER6)
    origin = struct.pack("!HHI", 0x0000, 0xFFFF ^ 40000, 0xFFFFFFFF ^ 0x01020304)
    auth = struct.pack("!HBB", 0x0001, 2, 3) + b"id" + b"abc" + b"\0" * 8 + b"\0"
    rows = decoded(over_teredo(inner), over_teredo(origin + inner),
                   over_teredo(auth + origin + inner), over_teredo(auth + inner))
    for r in rows:
        assert r["status"] == "ok" and r["encap"] == "eth/ipv4/udp/teredo/ipv6/udp"
        assert (r["src"], r["dst"], r["ports"]) == ("fd00::1", "fd00::2", (53000, 53))
        assert r["tunnels"] == [("teredo", 0, 0)]
        assert r["payload_len"] == 12


def test_teredo_that_is_not_ipv6_is_a_named_fault():
    got, stats = statuses(over_teredo(bytes(INNER)), over_teredo(b""))
    assert got == ["malformed:teredo.not_ipv6", "truncated:teredo"]
    assert stats.faults == {("teredo", "not_ipv6"): 1}


def test_internet_vpn_knows_teredo():
    """internet_vpn is told which tunnels are VPNs by their declarations: Teredo is one."""
    from ybsensor.decoders import teredo
    from ybsensor.detectors.internet_vpn import IS_VPN_TUNNEL, VPN_TUNNELS
    t = decode(Batch.from_frames([bytes(over_teredo(bytes(INNER6)))]))
    assert t.tun_kind[0, 0] == teredo.TUNNEL.id and IS_VPN_TUNNEL[t.tun_kind[0, 0]]
    assert VPN_TUNNELS[teredo.TUNNEL.id] == "teredo"


# --- GTP-U -----------------------------------------------------------------------------

def gtp(teid: int, payload, msg_type: int = 0xFF, seq=None, extensions=(), version: int = 1,
        pt: int = 1) -> bytes:
    """GTPv1-U: flags, type, length, TEID; S or E add the 4 optional bytes; each extension
    (type, content) is its length in words, the content, and the next type."""
    flags = (version << 5) | (pt << 4) | (0x04 if extensions else 0) | (0x02 if seq is not None else 0)
    body = b""
    if seq is not None or extensions:
        body += struct.pack("!HB", seq or 0, 0) + bytes([extensions[0][0] if extensions else 0])
        for k, (_, content) in enumerate(extensions):
            nxt = extensions[k + 1][0] if k + 1 < len(extensions) else 0
            words = (len(content) + 2) // 4
            assert (len(content) + 2) % 4 == 0
            body += bytes([words]) + content + bytes([nxt])
    body += bytes(payload)
    return struct.pack("!BBHI", flags, msg_type, len(body), teid) + body


def test_gtp_user_plane_ipv4_ipv6_sequence_and_extensions():
    frames = [over_udp(2152, gtp(0x1234, INNER), sport=2152),
              over_udp(2152, gtp(7, INNER, seq=9), sport=2152),
              over_udp(2152, gtp(8, INNER, extensions=[(0x85, b"\x00\x09"),
                                                       (0x32, b"\x01\x02\x03\x04\x05\x06")]),
                       sport=2152)]
    rows = decoded(*frames)
    for r in rows:
        check_inner(r)
        assert r["encap"] == "eth/ipv4/udp/gtp/ipv4/tcp"
    assert [r["tunnels"] for r in rows] == [[("gtp", 0x1234, 0)], [("gtp", 7, 0)], [("gtp", 8, 0)]]
    r6 = one(over_udp(2152, gtp(3, INNER6)))
    assert (r6["encap"], r6["src"], r6["status"]) == ("eth/ipv4/udp/gtp/ipv6/udp", "fd00::1", "ok")


def test_gtp_signalling_ends_at_the_header_and_faults_are_named():
    echo = gtp(0, b"\x0e\x05", msg_type=1, seq=3)                   # echo request
    got, stats = statuses(
        over_udp(2152, echo), over_udp(2152, gtp(1, b"\x99" + PAYLOAD)),   # not IP
        over_udp(2152, gtp(1, INNER, version=2)), over_udp(2152, gtp(1, INNER, pt=0)),
        over_udp(2152, gtp(1, INNER, extensions=[(0x85, b"\x00\x09")])[:-len(bytes(INNER)) - 4]
                 + b"\x00\x00\x00\x00"))                             # extension of length 0
    assert got == ["ok", "ok", "malformed:gtp.version", "malformed:gtp.gtp_prime",
                   "malformed:gtp.extension"]
    rows = decoded(over_udp(2152, echo))
    assert rows[0]["encap"] == "eth/ipv4/udp/gtp" and rows[0]["payload_len"] == 2
    assert stats.faults == {("gtp", "version"): 1, ("gtp", "gtp_prime"): 1,
                            ("gtp", "extension"): 1}


# --- the declarations ------------------------------------------------------------------

def test_compiled_loop_and_generic_decoders_agree_on_the_new_protocols():
    frames = [over_udp(6081, geneve(5000, INNER_ETH)), over_teredo(bytes(INNER6)),
              over_udp(2152, gtp(7, INNER, seq=9), sport=2152),
              over_udp(6081, geneve(1, INNER_ETH, version=1)), over_teredo(bytes(INNER))]
    frames = [bytes(f) for f in frames]
    frames += [f[:cut] for f in frames for cut in range(0, len(f), 3)]
    batch = Batch.from_frames(frames)
    generic, compiled = decode(batch, fast=False), decode(batch, fast="numba")
    for name, want in vars(generic).items():
        if isinstance(want, np.ndarray):
            assert np.array_equal(getattr(compiled, name), want), name


def test_line_kinds_come_from_the_protocols():
    from ybsensor.sensor.config import LINE_KINDS, line_error
    assert {"if", "vlan", "qinq", "l2tp", "gre", "vxlan", "geneve"} <= set(LINE_KINDS)
    assert line_error("geneve:5000") is None and line_error("qinq:10.*") is None
    assert line_error("geneve:16777216") == "'geneve:16777216': geneve ids go up to 16777215"
    assert line_error("l2tp:5.6") == "'l2tp:5.6': not a l2tp line key"
    assert "unknown line kind 'gtp'" in line_error("gtp:1")


def test_every_route_names_a_declared_layer_once():
    from ybsensor.decoders.registry import PROTOCOLS
    layers = [name for p in PROTOCOLS for name in p.layers]
    assert len(layers) == len(set(layers))
    assert {name for p in PROTOCOLS for _, _, name in p.routes} <= set(layers)
