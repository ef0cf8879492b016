"""Tunnels and access encapsulations: PPP, PPPoE, MPLS, GRE, PPTP, ERSPAN, L2TP, VXLAN, IPIP.

Frames are built with scapy where its layers match the wire, by hand (struct) where a
header's exact bits matter; the expected values come from the protocol specifications.
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.packet import Raw

from frames import (erspan2, erspan3, gre, l2tp2, l2tp3_control, l2tp3_udp_data, mpls, pptp,
                    vxlan)

from ybsensor.decoders import Batch, decode
from ybsensor.decoders.dispatch import DEFAULT
from ybsensor.decoders.keys import STATUS_NAMES
from ybsensor.decoders.protocol import LINES, TUNNELS

NAMES = DEFAULT.layer_names
OUT_SRC, OUT_DST = "192.0.2.1", "192.0.2.2"
IN_SRC, IN_DST = "10.1.2.3", "10.200.0.5"
PAYLOAD = b"x" * 10
INNER = IP(src=IN_SRC, dst=IN_DST) / TCP(sport=40000, dport=443) / PAYLOAD
INNER6 = IPv6(src="fd00::1", dst="fd00::2") / UDP(sport=53000, dport=53) / (b"q" * 12)
MACS = dict(dst="00:1b:21:aa:aa:01", src="00:1b:21:aa:aa:02")
INNER_ETH = Ether(**MACS) / INNER
PPP_IPV4 = b"\xff\x03\x00\x21"  # address, control, protocol 0x0021


# --- helpers ---------------------------------------------------------------------------

def _addr(hi, lo) -> str:
    a = ipaddress.ip_address((int(hi) << 64) | int(lo))
    return str(a.ipv4_mapped or a)


def summary(t, i: int) -> dict:
    n_ip = int(t.n_ip[i])
    status = int(t.status[i])
    return {
        "encap": "/".join(NAMES[x] for x in t.layers[i, : t.nlayers[i]]),
        "line": (LINES[t.line_kind[i]].name, int(t.line_a[i]), int(t.line_b[i])),
        "tunnels": [(TUNNELS[int(t.tun_kind[i, j])].name, int(t.tun_a[i, j]),
                     int(t.tun_b[i, j])) for j in range(int(t.ntun[i]))],
        "outer": (_addr(t.outer_src_hi[i], t.outer_src_lo[i]),
                  _addr(t.outer_dst_hi[i], t.outer_dst_lo[i])) if n_ip else None,
        "src": _addr(t.src_hi[i], t.src_lo[i]) if n_ip else None,
        "dst": _addr(t.dst_hi[i], t.dst_lo[i]) if n_ip else None,
        "proto": int(t.proto[i]) if n_ip else None,
        "ports": (int(t.sport[i]), int(t.dport[i])),
        "payload_len": int(t.payload_len[i]),
        "status": "ok" if status == 0 else f"{STATUS_NAMES[status]}:{NAMES[t.status_layer[i]]}",
    }


def decoded(*frames, linktype: int = 1, options: dict | None = None) -> list[dict]:
    t = decode(Batch.from_frames([bytes(p) for p in frames], linktype=linktype), options)
    return [summary(t, i) for i in range(t.n)]


def one(frame, **kw) -> dict:
    return decoded(frame, **kw)[0]


def over_ip(proto: int, payload: bytes, outer=IP):
    if outer is IPv6:
        return Ether(**MACS) / IPv6(src="2001:db8::1", dst="2001:db8::2", nh=proto) / Raw(payload)
    return Ether(**MACS) / IP(src=OUT_SRC, dst=OUT_DST, proto=proto) / Raw(payload)


def over_udp(dport: int, payload: bytes, sport: int = 50000):
    return (Ether(**MACS) / IP(src=OUT_SRC, dst=OUT_DST) / UDP(sport=sport, dport=dport)
            / Raw(payload))


COOKIES = {0: b"", 4: b"\xc0\x0c\x1e\x04", 8: b"\x8c\x00\x0c\x1e\xde\xad\xbe\xef"}
SUBLAYER = b"\x40\x00\x00\x07"  # default L2-specific sublayer: S bit, sequence 7


def check_inner(r: dict, outer=(OUT_SRC, OUT_DST)) -> None:
    assert r["status"] == "ok", r
    assert r["src"] == IN_SRC and r["dst"] == IN_DST
    assert r["proto"] == 6 and r["ports"] == (40000, 443)
    assert r["payload_len"] == len(PAYLOAD)
    assert r["outer"] == outer


# --- GRE -------------------------------------------------------------------------------

def test_gre_plain_keyed_and_full_headers():
    rows = decoded(
        over_ip(47, gre(0x0800, INNER)),
        over_ip(47, gre(0x0800, INNER, key=42)),
        over_ip(47, gre(0x0800, INNER, key=0x01020304, seq=7, csum=True)),
        over_ip(47, gre(0x0800, INNER, seq=99)),
        over_ip(47, gre(0x0800, INNER, csum=True)),
    )
    for r in rows:
        assert r["encap"] == "eth/ipv4/gre/ipv4/tcp"
        check_inner(r)
    assert rows[0]["line"] == ("if", 0, 0) and rows[0]["tunnels"] == [("gre", 0, 0)]
    assert rows[1]["line"] == ("gre", 42, 0) and rows[1]["tunnels"] == [("gre", 42, 0)]
    assert rows[2]["line"] == ("gre", 0x01020304, 0)
    assert rows[3]["line"] == ("if", 0, 0) and rows[3]["tunnels"] == [("gre", 0, 0)]
    assert rows[4]["line"] == ("if", 0, 0)


def test_gre_inner_ipv6_over_ipv6_and_transparent_ethernet():
    r6 = one(over_ip(47, gre(0x86DD, INNER6, key=5), outer=IPv6))
    assert r6["encap"] == "eth/ipv6/gre/ipv6/udp"
    assert r6["outer"] == ("2001:db8::1", "2001:db8::2")
    assert (r6["src"], r6["dst"], r6["proto"]) == ("fd00::1", "fd00::2", 17)
    assert r6["ports"] == (53000, 53)
    assert r6["payload_len"] == 12
    teb = one(over_ip(47, gre(0x6558, Ether(**MACS) / Dot1Q(vlan=100) / INNER, key=7)))
    assert teb["encap"] == "eth/ipv4/gre/eth/vlan/ipv4/tcp"
    assert teb["line"] == ("vlan", 100, 0)          # innermost line-identifying layer wins
    assert teb["tunnels"] == [("gre", 7, 0)]
    check_inner(teb)


def test_gre_in_udp_and_mpls_in_gre():
    r = one(over_udp(4754, gre(0x0800, INNER, key=3)))
    assert r["encap"] == "eth/ipv4/udp/gre/ipv4/tcp"
    check_inner(r)
    m = one(over_ip(47, gre(0x8847, mpls((2000,), b"") + bytes(INNER), key=3)))
    assert m["encap"] == "eth/ipv4/gre/mpls/ipv4/tcp"
    assert m["line"] == ("mpls", 2000, 0)
    assert m["tunnels"] == [("gre", 3, 0), ("mpls", 2000, 0)]
    check_inner(m)


def test_gre_malformed_and_truncated():
    rows = decoded(
        over_ip(47, gre(0x0800, INNER, flags=0x4000)),       # routing present (RFC 1701)
        over_ip(47, gre(0x0800, INNER, version=2)),          # no such version
        over_ip(47, gre(0x0800, INNER, key=1)[:6]),           # key cut short
        over_ip(47, b"\x00"),                                 # not even flags
        over_ip(47, gre(0x1234, b"abcd")),                    # unknown protocol type
    )
    assert [r["status"] for r in rows] == ["malformed:gre", "malformed:gre", "truncated:gre",
                                           "truncated:gre", "unsupported:gre"]
    assert all(r["payload_len"] == 0 for r in rows)
    assert rows[0]["outer"] == (OUT_SRC, OUT_DST)


def test_gre_wccp_cisco_metadata_and_nhrp():
    rows = decoded(
        over_ip(47, gre(0x883E, INNER)),                                   # WCCPv1: IP at once
        over_ip(47, gre(0x883E, b"\x00\x00\x00\x00" + bytes(INNER))),       # WCCPv2 redirect hdr
        over_ip(47, gre(0x8909, b"\x08\x00\x01\x01\x00\x01\x00\x00" + bytes(INNER), key=40)),
        Ether(**MACS, type=0x8909) / Raw(b"\x01\x01\x00\x01\x00\x05\x08\x00" + bytes(INNER)),
        over_ip(47, gre(0x2001, b"\x00\x01\x08\x00" + b"\x00" * 16)),       # NHRP
    )
    assert [r["encap"] for r in rows] == [
        "eth/ipv4/gre/ipv4/tcp", "eth/ipv4/gre/ipv4/tcp", "eth/ipv4/gre/cmd/ipv4/tcp",
        "eth/cmd/ipv4/tcp", "eth/ipv4/gre/nhrp"]
    for r in rows[:3]:
        check_inner(r)
    check_inner(rows[3], outer=(IN_SRC, IN_DST))
    assert rows[4]["status"] == "non-ip:nhrp"


# --- PPTP ------------------------------------------------------------------------------

def test_pptp_data_ack_and_control():
    data = PPP_IPV4 + bytes(INNER)
    rows = decoded(
        over_ip(47, pptp(0x1234, data, seq=1)),
        over_ip(47, pptp(0x1234, data, seq=1, ack=0)),
        over_ip(47, pptp(0x4321, b"\x21" + bytes(INNER), seq=2)),   # PFC, no address/control
        over_ip(47, pptp(0x1234, b"", ack=5)),                        # acknowledgement only
        over_ip(47, pptp(0x1234, b"\xff\x03\xc0\x21\x01\x01\x00\x04", seq=3)),  # LCP
    )
    for r in rows[:3]:
        assert r["encap"] == "eth/ipv4/gre/ppp/ipv4/tcp"
        check_inner(r)
    assert rows[0]["tunnels"] == [("pptp", 0x1234, 0)]
    assert rows[2]["tunnels"] == [("pptp", 0x4321, 0)]
    assert rows[0]["line"] == ("if", 0, 0)
    ack = rows[3]
    assert (ack["encap"], ack["status"], ack["payload_len"]) == ("eth/ipv4/gre", "ok", 0)
    assert ack["tunnels"] == [("pptp", 0x1234, 0)]
    assert (rows[4]["encap"], rows[4]["status"]) == ("eth/ipv4/gre/ppp/ppp-control",
                                                     "non-ip:ppp-control")


def test_pptp_payload_length_bounds_the_packet_and_bad_headers():
    data = PPP_IPV4 + bytes(INNER)
    short = one(over_ip(47, pptp(1, data + b"trailer", seq=1, length=len(data) - 4)))
    assert short["status"] == "ok" and short["payload_len"] == len(PAYLOAD) - 4
    no_key = struct.pack("!HHI", 0x1001, 0x880B, 1) + data      # version 1 without K
    wrong_type = pptp(1, data, seq=1)[:2] + b"\x08\x00" + pptp(1, data, seq=1)[4:]
    rows = decoded(over_ip(47, no_key), over_ip(47, wrong_type),
                   over_ip(47, pptp(1, data, seq=1)[:10]))
    assert [r["status"] for r in rows] == ["malformed:gre", "malformed:gre", "truncated:gre"]


# --- ERSPAN ----------------------------------------------------------------------------

def test_erspan_types():
    mirrored = Ether(**MACS) / Dot1Q(vlan=20) / INNER
    rows = decoded(
        over_ip(47, gre(0x88BE, mirrored)),                               # type I: no S, no header
        over_ip(47, gre(0x88BE, erspan2(666, mirrored, vlan=20), seq=1)),  # type II
        over_ip(47, gre(0x22EB, erspan3(0x3FF, mirrored), seq=1)),         # type III
        over_ip(47, gre(0x22EB, erspan3(17, mirrored, o=True), seq=1)),    # type III + platform
        over_ip(47, gre(0x22EB, erspan3(18, INNER, ft=2), seq=1)),         # type III, IP frame
    )
    for r in rows[:4]:
        assert r["encap"] == "eth/ipv4/gre/erspan/eth/vlan/ipv4/tcp"
        assert r["line"] == ("vlan", 20, 0)     # the mirrored frame's own tag is innermost
        check_inner(r)
    assert rows[0]["tunnels"] == [("gre", 0, 0), ("erspan", 0, 0)]
    assert rows[1]["tunnels"] == [("gre", 0, 0), ("erspan", 666, 0)]
    assert rows[2]["tunnels"] == [("gre", 0, 0), ("erspan", 1023, 0)]
    assert rows[3]["tunnels"] == [("gre", 0, 0), ("erspan", 17, 0)]
    ip = rows[4]
    assert ip["encap"] == "eth/ipv4/gre/erspan/ipv4/tcp" and ip["line"] == ("erspan", 18, 0)
    check_inner(ip)
    untagged = one(over_ip(47, gre(0x88BE, erspan2(300, INNER_ETH), seq=1)))
    assert untagged["line"] == ("erspan", 300, 0)


def test_erspan_malformed_truncated_unsupported():
    rows = decoded(
        over_ip(47, gre(0x22EB, erspan3(5, INNER_ETH, ver=3), seq=1)),      # bad version
        over_ip(47, gre(0x88BE, erspan2(5, b"")[:6], seq=1)),              # header cut
        over_ip(47, gre(0x22EB, erspan3(5, b"", o=True)[:14], seq=1)),     # subheader cut
        over_ip(47, gre(0x22EB, erspan3(5, INNER_ETH, ft=7), seq=1)),      # unknown frame type
    )
    assert [r["status"] for r in rows] == ["malformed:erspan", "truncated:erspan",
                                           "truncated:erspan", "unsupported:erspan"]


# --- L2TPv2 ----------------------------------------------------------------------------

def test_l2tpv2_data_variants():
    ppp = PPP_IPV4 + bytes(INNER)
    rows = decoded(
        over_udp(1701, l2tp2(7, 3, ppp), sport=1701),
        over_udp(1701, l2tp2(7, 3, ppp, length=True)),
        over_udp(1701, l2tp2(7, 3, ppp, seq=True)),
        over_udp(1701, l2tp2(7, 3, ppp, length=True, seq=True, offset=4)),
        over_udp(1701, l2tp2(7, 3, ppp, offset=0)),
        over_udp(1701, l2tp2(7, 3, b"\x00\x21" + bytes(INNER))),           # no address/control
    )
    for r in rows:
        assert r["encap"] == "eth/ipv4/udp/l2tp/ppp/ipv4/tcp"
        assert r["line"] == ("l2tp", 7, 3)
        assert r["tunnels"] == [("l2tp", 7, 3)]
        check_inner(r)


def test_l2tpv2_length_field_bounds_the_packet():
    ppp = PPP_IPV4 + bytes(INNER)
    hdr_len = 8  # flags, length, tunnel, session
    r = one(over_udp(1701, l2tp2(7, 3, ppp + b"junk", length=True,
                                 length_value=hdr_len + len(ppp) - 4)))
    assert r["status"] == "ok" and r["payload_len"] == len(PAYLOAD) - 4


def test_l2tpv2_control_and_ppp_control():
    avps = bytes.fromhex("8008000000000001")  # message type AVP: SCCRQ
    ctl = one(over_udp(1701, l2tp2(7, 0, avps, control=True, length=True, seq=True)))
    assert ctl["encap"] == "eth/ipv4/udp/l2tp"
    assert ctl["status"] == "ok"
    assert ctl["tunnels"] == [("l2tp", 7, 0)] and ctl["line"] == ("l2tp", 7, 0)
    assert ctl["payload_len"] == len(avps)
    lcp = one(over_udp(1701, l2tp2(7, 3, b"\xff\x03\xc0\x21\x09\x01\x00\x08abcd")))
    assert lcp["encap"] == "eth/ipv4/udp/l2tp/ppp/ppp-control"
    assert lcp["status"] == "non-ip:ppp-control"
    assert lcp["line"] == ("l2tp", 7, 3)


def test_l2tpv2_malformed_and_truncated():
    ppp = PPP_IPV4 + bytes(INNER)
    rows = decoded(
        over_udp(1701, l2tp2(7, 0, b"", control=True, seq=True)),          # control without L
        over_udp(1701, l2tp2(7, 3, ppp, version=5)),                       # unknown version
        over_udp(1701, l2tp2(7, 3, ppp, length=True, length_value=5)),     # length < header
        over_udp(1701, l2tp2(7, 3, ppp, length=True, seq=True)[:9]),       # cut in the ids
        over_udp(1701, l2tp2(7, 3, b"", offset=200)[:20]),                 # padding runs out
        over_udp(1701, b"\x02"),                                           # one byte
    )
    assert [r["status"] for r in rows] == ["malformed:l2tp", "malformed:l2tp", "malformed:l2tp",
                                           "truncated:l2tp", "truncated:l2tp", "truncated:l2tp"]
    assert rows[0]["outer"] == (OUT_SRC, OUT_DST)


# --- L2TPv3 ----------------------------------------------------------------------------

@pytest.mark.parametrize("cookie", [0, 4, 8])
@pytest.mark.parametrize("sublayer", [False, True])
def test_l2tpv3_over_ip_detects_cookie_and_sublayer(cookie, sublayer):
    body = COOKIES[cookie] + (SUBLAYER if sublayer else b"") + bytes(INNER_ETH)
    r = one(over_ip(115, struct.pack("!I", 0xABCD01) + body))
    assert r["encap"] == "eth/ipv4/l2tpv3/eth/ipv4/tcp"
    assert r["line"] == ("l2tpv3", 0xABCD01, 0)
    assert r["tunnels"] == [("l2tpv3", 0xABCD01, 0)]
    check_inner(r)


@pytest.mark.parametrize("cookie", [0, 4, 8])
def test_l2tpv3_over_udp(cookie):
    r = one(over_udp(1701, l2tp3_udp_data(77, COOKIES[cookie] + bytes(INNER_ETH))))
    assert r["encap"] == "eth/ipv4/udp/l2tp/eth/ipv4/tcp"
    assert r["line"] == ("l2tpv3", 77, 0) and r["tunnels"] == [("l2tpv3", 77, 0)]
    check_inner(r)


def test_l2tpv3_options_fix_cookie_and_sublayer():
    body = struct.pack("!I", 12) + COOKIES[4] + SUBLAYER + bytes(INNER_ETH)
    fixed = one(over_ip(115, body),
                options={"l2tpv3_cookie_len": 4, "l2tpv3_l2_specific": "default"})
    check_inner(fixed)
    # told there is no cookie and no sublayer, Ethernet starts right after the session id
    wrong = one(over_ip(115, body), options={"l2tpv3_cookie_len": 0, "l2tpv3_l2_specific": "none"})
    assert wrong["encap"].startswith("eth/ipv4/l2tpv3/eth") and wrong["src"] == OUT_SRC
    # values the decoder does not know are left to detection, never an exception
    odd = one(over_ip(115, body), options={"l2tpv3_cookie_len": 3, "l2tpv3_l2_specific": "atm"})
    check_inner(odd)


def test_l2tpv3_control_messages():
    avp = b"\x80\x08\x00\x00\x00\x00\x00\x01"  # message type AVP
    rows = decoded(over_ip(115, b"\x00\x00\x00\x00" + l2tp3_control(avps=avp)),
                   over_udp(1701, l2tp3_control(avps=avp)),
                   over_ip(115, b"\x00\x00\x00\x00" + l2tp3_control(avps=avp) + b"trailer"))
    assert [r["encap"] for r in rows] == ["eth/ipv4/l2tpv3", "eth/ipv4/udp/l2tp", "eth/ipv4/l2tpv3"]
    for r in rows:
        assert r["status"] == "ok" and r["payload_len"] == len(avp)   # the length field bounds it
        assert r["tunnels"] == [("l2tpv3", 0, 0)] and r["line"] == ("if", 0, 0)
    ctl, session0 = l2tp3_control(), b"\x00\x00\x00\x00"
    bad = decoded(over_ip(115, session0 + b"\xc8\x02" + ctl[2:]),           # version 2
                  over_ip(115, session0 + b"\x88\x03" + ctl[2:]),           # no L
                  over_udp(1701, ctl[:2] + b"\x00\x08" + ctl[4:]))          # length 8
    assert [r["status"] for r in bad] == ["malformed:l2tpv3", "malformed:l2tpv3", "malformed:l2tp"]


def test_l2tpv3_truncated():
    rows = decoded(over_ip(115, b"\x00\x00"),
                   over_ip(115, b"\x00\x00\x00\x00" + l2tp3_control()[:6]),
                   over_udp(1701, l2tp3_udp_data(77, b"")[:6]))
    assert [r["status"] for r in rows] == ["truncated:l2tpv3", "truncated:l2tpv3", "truncated:l2tp"]


# --- PPP and PPPoE ---------------------------------------------------------------------

def test_pppoe_session():
    frames = [
        Ether(**MACS) / PPPoE(sessionid=0x1234) / PPP(proto=0x0021) / INNER,
        Ether(**MACS) / Dot1Q(vlan=300) / PPPoE(sessionid=0x1234) / PPP(proto=0x0021) / INNER,
    ]
    rows = decoded(*frames)
    assert rows[0]["encap"] == "eth/pppoe/ppp/ipv4/tcp"
    assert rows[1]["encap"] == "eth/vlan/pppoe/ppp/ipv4/tcp"
    for r in rows:
        assert r["line"] == ("pppoe", 0x1234, 0)   # inside the VLAN, the session is innermost
        assert r["tunnels"] == [("pppoe", 0x1234, 0)]
        check_inner(r, outer=(IN_SRC, IN_DST))
    v6 = one(Ether(**MACS) / PPPoE(sessionid=9) / PPP(proto=0x0057) / INNER6)
    assert v6["encap"] == "eth/pppoe/ppp/ipv6/udp" and v6["src"] == "fd00::1"
    lcp = one(Ether(**MACS) / PPPoE(sessionid=9) / PPP(proto=0xC021) / b"\x09\x01\x00\x08abcd")
    assert lcp["status"] == "non-ip:ppp-control"


def test_pppoe_length_malformed_truncated():
    ip = bytes(INNER)
    hdr = lambda length, vt=0x11, code=0: struct.pack("!BBHH", vt, code, 9, length)  # noqa: E731
    eth = Ether(**MACS, type=0x8864)
    rows = decoded(
        eth / Raw(hdr(2 + len(ip) - 4) + b"\x00\x21" + ip + b"pad"),   # length cuts 4 bytes
        eth / Raw(hdr(2 + len(ip), vt=0x12) + b"\x00\x21" + ip),       # bad version/type
        eth / Raw(hdr(2 + len(ip), code=0x09) + b"\x00\x21" + ip),     # a discovery code
        eth / Raw(hdr(1) + b"\x00\x21" + ip),                          # shorter than protocol
        eth / Raw(hdr(2 + len(ip))[:5]),                               # header cut
        eth / Raw(hdr(2 + len(ip)) + b"\x00"),                         # protocol cut
    )
    assert rows[0]["status"] == "ok" and rows[0]["payload_len"] == len(PAYLOAD) - 4
    assert [r["status"] for r in rows[1:]] == ["malformed:pppoe"] * 3 + ["truncated:pppoe",
                                                                          "truncated:ppp"]


def test_ppp_link_types():
    rows = decoded(PPP_IPV4 + bytes(INNER), b"\x00\x21" + bytes(INNER), b"\x21" + bytes(INNER),
                   b"\xff\x03\x00\x57" + bytes(INNER6),
                   b"\xff\x03\x02\x81" + mpls((99,), b"") + bytes(INNER), linktype=9)
    assert [r["encap"] for r in rows] == ["ppp/ipv4/tcp"] * 3 + ["ppp/ipv6/udp",
                                                                 "ppp/mpls/ipv4/tcp"]
    for r in rows[:3]:
        check_inner(r, outer=(IN_SRC, IN_DST))
    assert rows[4]["line"] == ("mpls", 99, 0)
    hdlc = decoded(PPP_IPV4 + bytes(INNER), b"\x0f\x00\x08\x00" + bytes(INNER), linktype=50)
    assert [r["encap"] for r in hdlc] == ["ppp/ipv4/tcp", "ppp/ipv4/tcp"]
    chdlc = decoded(b"\x0f\x00\x08\x00" + bytes(INNER), b"\x8f\x00\x86\xdd" + bytes(INNER6),
                    b"\x0f\x00", linktype=104)
    assert [r["encap"] for r in chdlc] == ["chdlc/ipv4/tcp", "chdlc/ipv6/udp", "chdlc"]
    assert chdlc[2]["status"] == "truncated:chdlc"
    bad = decoded(b"\xff", b"\xff\x03", b"\xff\x03\x00", b"\xff\x03\x00\x31abc", linktype=9)
    assert [r["status"] for r in bad] == ["truncated:ppp"] * 3 + ["unsupported:ppp"]


# --- MPLS ------------------------------------------------------------------------------

def _mpls(labels, payload, etype=0x8847):
    return Ether(**MACS, type=etype) / Raw(mpls(labels, b"") + bytes(payload))


def test_mpls_stacks_and_payloads():
    cw = b"\x00\x00\x00\x00"
    rows = decoded(
        _mpls([1000], INNER),
        _mpls([16, 1001], INNER6),
        _mpls([16, 17, 1002], cw + bytes(INNER_ETH)),                     # PW with control word
        _mpls([16, 1003], INNER_ETH),                                     # PW without one
        _mpls([1004], INNER, etype=0x8848),                               # multicast
        _mpls([16, 1005], Ether(dst="a0:36:9f:00:00:01", src="a0:36:9f:00:00:02") / INNER),
        _mpls([16, 1006], cw + bytes(Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02")
                                     / INNER)),
    )
    enc = [r["encap"] for r in rows]
    assert enc == ["eth/mpls/ipv4/tcp", "eth/mpls/ipv6/udp", "eth/mpls/eth/ipv4/tcp",
                   "eth/mpls/eth/ipv4/tcp", "eth/mpls/ipv4/tcp", "eth/mpls/eth/ipv4/tcp",
                   "eth/mpls/eth/ipv4/tcp"]
    for r, label in zip(rows, range(1000, 1007)):
        assert r["line"] == ("mpls", label, 0)          # the bottom-of-stack label
        assert r["tunnels"] == [("mpls", label, 0)]
        assert r["status"] == "ok"
    for r in rows[:1] + rows[2:]:
        check_inner(r, outer=(IN_SRC, IN_DST))
    assert rows[1]["src"] == "fd00::1" and rows[1]["ports"] == (53000, 53)


def test_mpls_over_udp_and_ip_and_vlan_inside_pw():
    r = one(over_udp(6635, mpls((20, 21), b"") + bytes(INNER)))
    assert r["encap"] == "eth/ipv4/udp/mpls/ipv4/tcp" and r["line"] == ("mpls", 21, 0)
    check_inner(r)
    r = one(over_ip(137, mpls((22,), b"") + bytes(INNER)))
    assert r["encap"] == "eth/ipv4/mpls/ipv4/tcp"
    check_inner(r)
    r = one(_mpls([16, 500], b"\x00\x00\x00\x00" + bytes(Ether(**MACS) / Dot1Q(vlan=33) / INNER)))
    assert r["encap"] == "eth/mpls/eth/vlan/ipv4/tcp" and r["line"] == ("vlan", 33, 0)


def test_mpls_bad_stacks():
    rows = decoded(
        Ether(**MACS, type=0x8847) / Raw(struct.pack("!I", 100 << 12) * 2),      # no bottom, cut
        Ether(**MACS, type=0x8847) / Raw(struct.pack("!I", 100 << 12) * 20),     # too deep
        Ether(**MACS, type=0x8847) / Raw(b"\x00\x06"),                           # half a shim
        Ether(**MACS, type=0x8847) / Raw(mpls((16, 13), b"") + b"\x10\x00\x00\x07"),  # GAL, ACH
        Ether(**MACS, type=0x8847) / Raw(mpls((100,), b"") + b"\x10\x00\x00\x21"),     # PW ACH
        Ether(**MACS, type=0x8847) / Raw(mpls((100,), b"")),                       # nothing after
        Ether(**MACS, type=0x8847) / Raw(mpls((100,), b"") + b"\xf0" * 20),        # no Ethernet
    )
    assert [r["status"] for r in rows] == ["truncated:mpls", "depth:mpls", "truncated:mpls",
                                           "non-ip:mpls", "non-ip:mpls", "truncated:mpls",
                                           "unsupported:mpls"]


# --- VXLAN and IP in IP ----------------------------------------------------------------

def test_vxlan():
    rows = decoded(over_udp(4789, vxlan(5001, INNER_ETH)),
                   over_udp(4789, vxlan(0xFFFFFF, Ether(**MACS) / Dot1Q(vlan=7) / INNER)),
                   over_udp(4789, vxlan(5001, b"")[:5]))
    assert rows[0]["encap"] == "eth/ipv4/udp/vxlan/eth/ipv4/tcp"
    assert rows[0]["line"] == ("vxlan", 5001, 0) and rows[0]["tunnels"] == [("vxlan", 5001, 0)]
    check_inner(rows[0])
    assert rows[1]["tunnels"] == [("vxlan", 0xFFFFFF, 0)] and rows[1]["line"] == ("vlan", 7, 0)
    assert rows[2]["status"] == "truncated:vxlan"


def test_ip_in_ip():
    rows = decoded(over_ip(4, INNER), over_ip(41, INNER6), over_ip(4, INNER, outer=IPv6),
                   over_ip(4, bytes(INNER)[:10]))
    assert [r["encap"] for r in rows] == ["eth/ipv4/ipv4/tcp", "eth/ipv4/ipv6/udp",
                                          "eth/ipv6/ipv4/tcp", "eth/ipv4/ipv4"]
    for r in rows[:3]:
        assert r["tunnels"] == [("ipip", 0, 0)] and r["status"] == "ok"
    check_inner(rows[0])
    check_inner(rows[2], outer=("2001:db8::1", "2001:db8::2"))
    assert rows[1]["src"] == "fd00::1" and rows[1]["outer"] == (OUT_SRC, OUT_DST)
    assert rows[3]["status"] == "truncated:ipv4"


# --- nesting ---------------------------------------------------------------------------

def test_gre_inside_l2tp_inside_qinq():
    gre_pkt = IP(src="172.16.0.1", dst="172.16.0.2", proto=47) / Raw(gre(0x0800, INNER, key=42))
    frame = (Ether(**MACS) / Dot1AD(vlan=10) / Dot1Q(vlan=20)
             / IP(src=OUT_SRC, dst=OUT_DST) / UDP(sport=1701, dport=1701)
             / Raw(l2tp2(7, 3, PPP_IPV4 + bytes(gre_pkt), length=True)))
    r = one(frame)
    assert r["encap"] == "eth/vlan/vlan/ipv4/udp/l2tp/ppp/ipv4/gre/ipv4/tcp"
    assert r["line"] == ("gre", 42, 0)
    assert r["tunnels"] == [("l2tp", 7, 3), ("gre", 42, 0)]
    check_inner(r)
    without_key = one(frame.__class__(bytes(frame).replace(gre(0x0800, INNER, key=42),
                                                            gre(0x0800, INNER) + b"\0" * 4)))
    assert without_key["line"] == ("l2tp", 7, 3)


# --- robustness ------------------------------------------------------------------------

SAMPLES = [
    over_ip(47, gre(0x0800, INNER, key=1, seq=2, csum=True)),
    over_ip(47, pptp(5, PPP_IPV4 + bytes(INNER), seq=1, ack=2)),
    over_ip(47, gre(0x22EB, erspan3(5, INNER_ETH, o=True), seq=1)),
    over_ip(47, gre(0x88BE, erspan2(5, INNER_ETH), seq=1)),
    over_udp(1701, l2tp2(7, 3, PPP_IPV4 + bytes(INNER), length=True, seq=True, offset=2)),
    over_ip(115, struct.pack("!I", 1) + COOKIES[8] + SUBLAYER + bytes(INNER_ETH)),
    Ether(**MACS) / PPPoE(sessionid=1) / PPP(proto=0x0021) / INNER,
    _mpls([1, 2, 3], b"\x00\x00\x00\x00" + bytes(INNER_ETH)),
    over_udp(4789, vxlan(1, INNER_ETH)),
    over_ip(4, INNER),
]


def test_every_truncation_gets_a_status_never_an_exception():
    for sample in SAMPLES:
        whole = bytes(sample)
        cuts = [whole[:n] for n in range(len(whole) + 1)]
        rows = decoded(*cuts)
        assert rows[-1]["status"] == "ok" and rows[-1]["src"] == IN_SRC
        for n, r in enumerate(rows):
            name = r["status"].split(":")[0]
            assert name in STATUS_NAMES
            if n < len(whole) - len(PAYLOAD) - 20:   # cut before the inner TCP header
                assert r["status"] != "ok" or r["encap"].endswith(("tcp", "udp")), (n, r)


def test_random_bytes_after_each_tunnel_header_never_raise():
    rng = np.random.default_rng(7)
    heads = [over_ip(47, b""), over_udp(1701, b""), over_ip(115, b""), over_udp(4789, b""),
             over_udp(6635, b""), Ether(**MACS, type=0x8847), Ether(**MACS, type=0x8864),
             over_udp(4754, b""), over_ip(4, b""), over_ip(41, b"")]
    frames = [bytes(h) + rng.integers(0, 256, int(rng.integers(0, 80)), dtype=np.uint8).tobytes()
              for h in heads for _ in range(300)]
    t = decode(Batch.from_frames(frames))
    assert t.n == len(frames)
    assert set(np.unique(t.status).tolist()) <= set(range(len(STATUS_NAMES)))
    for linktype in (9, 50, 51):
        t = decode(Batch.from_frames(frames, linktype=linktype))
        assert t.n == len(frames)


# --- agreement with tshark on tcpdump's own tunnel captures ----------------------------

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "tcpdump"
TUNNEL_CAPTURES = [
    "erspan-type-i-1.pcap", "erspan-type-i-4.pcap", "erspan-type-ii-2.pcap",
    "erspan-type-ii-3.pcap", "erspan-type-iii-ft-0.pcap", "various_gre.pcap", "pptp.pcap",
    "pppoes.pcap", "mpls-over-udp.pcap", "mpls-traceroute.pcap", "lspping-fec-ldp.pcap",
    "vxlan.pcap", "wccp_redirect_gre.pcap", "gso-ipv4-vxlan-ipv6.pcap", "802.1ad_QinQ.pcap",
]
TSHARK_FIELDS = ["frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
                 "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport"]


def _tshark_innermost(path: Path) -> list:
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=a",
           "-E", "aggregator=,"] + [a for f in TSHARK_FIELDS for a in ("-e", f)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    result = []
    for line in out.splitlines():
        row = dict(zip(TSHARK_FIELDS, line.split("\t") + [""] * len(TSHARK_FIELDS)))
        protos = row["frame.protocols"].split(":")
        for stop in ("icmp", "icmpv6"):       # an ICMP error quotes a packet: not a tunnel
            if stop in protos:
                protos = protos[: protos.index(stop) + 1]
        ips = [p for p in protos if p in ("ip", "ipv6")]
        if not ips:
            result.append(None)
            continue
        field = "ip" if ips[-1] == "ip" else "ipv6"
        k = ips.count(ips[-1]) - 1
        nth = lambda name, i: row[name].split(",")[i]  # noqa: E731
        ports = None
        after = protos[len(protos) - protos[::-1].index(ips[-1]):]
        for tp in ("tcp", "udp"):
            if tp in after:
                j = protos.count(tp) - 1
                ports = (int(nth(f"{tp}.srcport", j)), int(nth(f"{tp}.dstport", j)))
        result.append((str(ipaddress.ip_address(nth(f"{field}.src", k))),
                       str(ipaddress.ip_address(nth(f"{field}.dst", k))), ports))
    return result


@pytest.mark.skipif(not CORPUS.is_dir(), reason="tcpdump corpus not present")
@pytest.mark.parametrize("name", TUNNEL_CAPTURES)
def test_innermost_agrees_with_tshark(name):
    if shutil.which("tshark") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tshark is required in CI")
        pytest.skip("tshark not installed")
    from ybsensor.sensor.sources import read_capture
    path = CORPUS / name
    ours = []
    for batch in read_capture(path):
        t = decode(batch)
        ours += [summary(t, i) for i in range(t.n)]
    theirs = _tshark_innermost(path)
    assert len(ours) == len(theirs)
    for i, (mine, expected) in enumerate(zip(ours, theirs), start=1):
        if expected is None:
            continue
        src, dst, ports = expected
        assert (mine["src"], mine["dst"]) == (src, dst), (name, i, mine)
        if ports is not None:
            assert mine["ports"] == ports, (name, i, mine)
