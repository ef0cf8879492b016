#!/usr/bin/env python3
"""Make the sample captures under pcaps/ and the decode each one must give.

One small capture per access encapsulation that ybsensor decodes (see README.md here),
and for each `expected/NAME.jsonl`: the `ybsensor decode --format jsonl` rows, written
from what this script puts in the frames (addresses, ports, tunnel ids, the payload it
appends) and from the protocol definitions, never from the sensor's output.

Deterministic: fixed timestamps, MAC addresses, IP ids and payloads (payload bytes come
from a seeded hash chain), and the pcap/pcapng files are written here byte by byte, so a
rerun gives identical files (tests/decoders/test_samples.py checks).

    python pcaps/make_samples.py [OUTDIR]      # default: the folder of this script

Addressing follows pcaps/example.toml: institutions on 10.1.x.0/24, 100.64.17.0/24 and
fd00:1:4::/48, the insurance platform at 10.200.0.0/16, carrier tunnel endpoints on
10.254.x.x, and the documentation ranges 203.0.113.0/24, 198.51.100.0/24 and 2001:db8::/32
standing for the public internet.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import ICMP, IP, IPOption_Router_Alert, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6, IPv6ExtHdrDestOpt
from scapy.layers.l2 import ARP
from scapy.packet import Raw

HERE = Path(__file__).resolve().parent
BASE_S = 1735714800          # 2025-01-01 07:00:00 UTC, 15:00 in Beijing
SEED = b"ybsensor-samples-1"

# link types (pcap LINKTYPE_*)
LT_NULL, LT_ETHERNET, LT_PPP, LT_RAW, LT_SLL, LT_SLL2 = 0, 1, 9, 101, 113, 276

# EtherTypes, IP protocols, ports
ET_IPV4, ET_IPV6, ET_ARP, ET_VLAN, ET_QINQ = 0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8
ET_MPLS, ET_PPPOE, ET_TEB, ET_ERSPAN_II, ET_ERSPAN_III, ET_PPP = \
    0x8847, 0x8864, 0x6558, 0x88BE, 0x22EB, 0x880B
PPP_IPV4, PPP_IPV6 = 0x0021, 0x0057
P_ICMP, P_IPIP, P_TCP, P_UDP, P_IPV6, P_GRE, P_ICMPV6, P_L2TPV3 = 1, 4, 6, 17, 41, 47, 58, 115
L2TP_PORT, VXLAN_PORT = 1701, 4789

# MAC addresses (universally administered, fixed)
MAC_CPE = "00:1b:21:3a:4f:01"      # institution's router
MAC_PE = "00:25:90:aa:bb:02"       # carrier edge router
MAC_HOST = "00:50:56:12:34:56"     # a workstation inside an institution
MAC_SRV = "00:0c:29:65:43:21"      # a server behind a tunnel
MAC_SW = "00:1e:bd:10:20:30"       # the mirroring switch (ERSPAN)
MAC_COLL = "00:1e:bd:10:20:31"     # the collector

# addresses (see example.toml)
HOSPITAL = "10.1.2.10"             # vlan:100, l2tp:7/*
HOSPITAL2 = "10.1.2.11"
CLINIC = "10.1.3.20"               # qinq:10.200
TOWNSHIP = "10.1.4.30"             # mpls:1000
TOWNSHIP6 = "fd00:1:4::30"
PHARMACY = "100.64.17.5"           # l2tp:9/*, gre:42
PLATFORM = "10.200.1.20"           # the insurance platform: HTTPS
PLATFORM_DNS = "10.200.0.53"
PLATFORM6 = "fd00:200::20"
INTERNET = "203.0.113.10"
INTERNET2 = "198.51.100.7"
INTERNET6 = "2001:db8:100::53"


# ---------------------------------------------------------------------------------------
# bytes

def payload(tag: str, n: int, seed: bytes | None = None) -> bytes:
    """n deterministic pseudo-random bytes named by tag (a seeded SHA-256 chain)."""
    out, block = b"", hashlib.sha256((SEED if seed is None else seed) + tag.encode()).digest()
    while len(out) < n:
        out += block
        block = hashlib.sha256(block).digest()
    return out[:n]


HTTP_POST = (b"POST /api/settle HTTP/1.1\r\nHost: 10.200.1.20\r\n"
             b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
HTTP_GET = b"GET /update.bin HTTP/1.1\r\nHost: 203.0.113.10\r\n\r\n"
DNS_QUERY = bytes(DNS(id=0x1A2B, rd=1, qd=DNSQR(qname="ybj.example.cn")))
NTP_REQUEST = b"\x23" + bytes(47)
SYN_OPTIONS = [("MSS", 1460), ("NOP", None), ("WScale", 7), ("NOP", None), ("NOP", None),
               ("SAckOK", b"")]


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def eth(etype: int, dst: str = MAC_PE, src: str = MAC_CPE) -> bytes:
    return mac(dst) + mac(src) + struct.pack("!H", etype)


def pad60(frame: bytes) -> bytes:
    """What a NIC puts on the wire: Ethernet frames padded to 60 bytes (no FCS)."""
    return frame + bytes(max(0, 60 - len(frame)))


def vlan(vid: int, etype: int, pcp: int = 0) -> bytes:
    return struct.pack("!HH", (pcp << 13) | vid, etype)


def mpls(label: int, bottom: bool, ttl: int = 64, tc: int = 0) -> bytes:
    return struct.pack("!I", (label << 12) | (tc << 9) | (int(bottom) << 8) | ttl)


def inet_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def gre(proto: int, inner: bytes, key: int | None = None, seq: int | None = None,
        checksum: bool = False) -> bytes:
    """GRE version 0 (RFC 2784, RFC 2890): C, K, S flags and their 4-byte words."""
    flags = (0x8000 if checksum else 0) | (0x2000 if key is not None else 0) | \
        (0x1000 if seq is not None else 0)
    hdr = struct.pack("!HH", flags, proto)
    if checksum:
        hdr += bytes(4)
    if key is not None:
        hdr += struct.pack("!I", key)
    if seq is not None:
        hdr += struct.pack("!I", seq)
    if checksum:
        hdr = hdr[:4] + struct.pack("!H", inet_checksum(hdr + inner)) + hdr[6:]
    return hdr + inner


def pptp_gre(call_id: int, ppp_frame: bytes, seq: int | None = None,
             ack: int | None = None) -> bytes:
    """Enhanced GRE (RFC 2637 4.1): version 1, K always set, key = payload length and
    call id, S with a sequence number, A (0x0080) with an acknowledgement number."""
    flags = 0x2000 | (0x1000 if seq is not None else 0) | (0x0080 if ack is not None else 0) | 1
    hdr = struct.pack("!HHHH", flags, ET_PPP, len(ppp_frame), call_id)
    if seq is not None:
        hdr += struct.pack("!I", seq)
    if ack is not None:
        hdr += struct.pack("!I", ack)
    return hdr + ppp_frame


def ppp(proto: int, inner: bytes, acfc: bool = False, pfc: bool = False) -> bytes:
    """PPP in HDLC-like framing (RFC 1662): FF 03 unless address/control compressed; a
    one-byte protocol field when protocol-field compressed (RFC 1661 6.5)."""
    head = b"" if acfc else b"\xff\x03"
    head += struct.pack("!B", proto) if pfc else struct.pack("!H", proto)
    return head + inner


def pppoe(session: int, proto: int, inner: bytes) -> bytes:
    """PPPoE session stage (RFC 2516): ver/type 0x11, code 0, session, length of the PPP
    frame (protocol field included)."""
    frame = struct.pack("!H", proto) + inner
    return struct.pack("!BBHH", 0x11, 0, session, len(frame)) + frame


def erspan2(session: int, inner: bytes, vlan_id: int = 0, index: int = 0) -> bytes:
    """ERSPAN type II header (8 bytes): ver 1, VLAN, COS, En, T, session id, index."""
    return struct.pack("!HHI", (1 << 12) | vlan_id, session, index & 0xFFFFF) + inner


def erspan3(session: int, inner: bytes, timestamp: int, vlan_id: int = 0,
            hw_id: int = 0, platform: int | None = None) -> bytes:
    """ERSPAN type III header (12 bytes): ver 2, VLAN, COS, BSO, T, session id, timestamp,
    SGT, P, FT (0: Ethernet), HW ID, D, Gra, O; O adds an 8-byte platform subheader."""
    o = platform is not None
    word = (0 << 15) | (0 << 10) | (hw_id << 4) | (0 << 3) | (3 << 1) | int(o)
    hdr = struct.pack("!HHIHH", (2 << 12) | vlan_id, session, timestamp, 0, word)
    if o:
        hdr += struct.pack("!Q", platform)
    return hdr + inner


def l2tp2(tunnel: int, session: int, body: bytes, control: bool = False,
          length: bool = False, ns_nr: tuple[int, int] | None = None,
          offset: int | None = None) -> bytes:
    """L2TPv2 header (RFC 2661 3.1): T, L, S, O, P flags, version 2, [length], tunnel,
    session, [Ns, Nr], [offset size, offset padding]."""
    flags = (0x8000 if control else 0) | (0x4000 if length else 0) | \
        (0x0800 if ns_nr else 0) | (0x0200 if offset is not None else 0) | 2
    ids = struct.pack("!HH", tunnel, session)
    if ns_nr:
        ids += struct.pack("!HH", *ns_nr)
    if offset is not None:
        ids += struct.pack("!H", offset) + bytes(offset)
    hdr_len = 2 + (2 if length else 0) + len(ids)
    lenf = struct.pack("!H", hdr_len + len(body)) if length else b""
    return struct.pack("!H", flags) + lenf + ids + body


def avp(attr: int, value: bytes, mandatory: bool = True) -> bytes:
    """An L2TP attribute-value pair (RFC 2661 4.1), IETF vendor id 0."""
    return struct.pack("!HHH", (0x8000 if mandatory else 0) | (6 + len(value)), 0, attr) + value


SCCRQ_AVPS = (avp(0, struct.pack("!H", 1))            # Message Type: SCCRQ
              + avp(2, b"\x01\x00")                   # Protocol Version 1.0
              + avp(3, struct.pack("!I", 3))          # Framing Capabilities: sync, async
              + avp(7, b"lac-cc-01")                  # Host Name
              + avp(9, struct.pack("!H", 9))          # Assigned Tunnel ID
              + avp(10, struct.pack("!H", 8), False))  # Receive Window Size


def vxlan(vni: int, inner: bytes) -> bytes:
    """VXLAN (RFC 7348): flags with I set, 24-bit VNI."""
    return struct.pack("!B3xI", 0x08, vni << 8) + inner


def ip4(src, dst, inner=None, **kw) -> IP:
    pkt = IP(src=src, dst=dst, id=kw.pop("id", 0x1000), ttl=kw.pop("ttl", 64), **kw)
    return pkt if inner is None else pkt / inner


def ip6(src, dst, inner=None, **kw) -> IPv6:
    pkt = IPv6(src=src, dst=dst, hlim=kw.pop("hlim", 64), **kw)
    return pkt if inner is None else pkt / inner


def tcp(sport, dport, data: bytes = b"", flags="PA", **kw):
    return TCP(sport=sport, dport=dport, flags=flags, seq=kw.pop("seq", 1000),
               ack=kw.pop("ack", 0 if flags == "S" else 2000), window=kw.pop("window", 64240),
               **kw) / Raw(data)


def udp(sport, dport, data: bytes = b""):
    return UDP(sport=sport, dport=dport) / Raw(data)


def icmp_echo(data: bytes, ident=0x4D2, seq=1):
    return ICMP(type=8, code=0, id=ident, seq=seq) / Raw(data)


# ---------------------------------------------------------------------------------------
# expectations

def addr(text: str | None) -> str | None:
    return None if text is None else str(ipaddress.ip_address(text))


def expect(encap: str, src=None, dst=None, proto=None, sport=None, dport=None,
           payload_len=0, line="if:0", tunnels=(), outer=None, status="ok") -> dict:
    """The decode row of one frame, less frame/ts/len (the writer adds those).
    `outer` defaults to (src, dst): one IP header, or none."""
    if outer is None:
        outer = (src, dst)
    return {
        "encap": encap, "line": line,
        "outer_src": addr(outer[0]), "outer_dst": addr(outer[1]),
        "tunnels": list(tunnels),
        "src": addr(src), "dst": addr(dst), "proto": proto,
        "sport": sport, "dport": dport,
        "payload_len": payload_len if status == "ok" else 0,
        "status": status,
    }


def t_gre(key=0):        # no key on the wire: the table's "absent" id, 0
    return {"type": "gre", "key": key}


def t_pptp(call_id):
    return {"type": "pptp", "call_id": call_id}


def t_l2tp(tunnel, session):
    return {"type": "l2tp", "tunnel_id": tunnel, "session_id": session}


def t_l2tpv3(session):
    return {"type": "l2tpv3", "session_id": session}


def t_erspan(session):
    return {"type": "erspan", "session_id": session}


def t_vxlan(vni):
    return {"type": "vxlan", "vni": vni}


def t_pppoe(session):
    return {"type": "pppoe", "session_id": session}


def t_mpls(label):
    return {"type": "mpls", "label": label}


T_IPIP = {"type": "ipip"}


@dataclass
class Frame:
    data: bytes                     # the frame as it was on the wire
    exp: dict                       # expect(...)
    caplen: int | None = None       # the capture kept only this many bytes
    ts_ns: int | None = None        # default: the sample's clock
    iface: int = 0                  # pcapng interface
    simple: bool = False            # pcapng: a Simple Packet Block (no timestamp)


@dataclass
class Sample:
    name: str                       # file name, with .pcap or .pcapng
    linktype: int                   # pcap only
    frames: list[Frame] = field(default_factory=list)
    interfaces: list[tuple[int, str, int]] = field(default_factory=list)  # pcapng


# ---------------------------------------------------------------------------------------
# the samples

def s_ethernet() -> Sample:
    syn = tcp(51234, 443, flags="S", options=SYN_OPTIONS)
    # a 208-byte UDP datagram in two IPv4 fragments: 96 bytes of it, then 112 at offset 96
    datagram = bytes(ip4(HOSPITAL, PLATFORM, udp(40200, 514, payload("syslog", 200))))[20:]
    frag1 = ip4(HOSPITAL, PLATFORM, Raw(datagram[:96]), proto=P_UDP, flags="MF", id=0x2000)
    frag2 = ip4(HOSPITAL, PLATFORM, Raw(datagram[96:]), proto=P_UDP, frag=96 // 8, id=0x2000)
    return Sample("ethernet.pcap", LT_ETHERNET, [
        Frame(eth(ET_IPV4) + bytes(ip4(HOSPITAL, PLATFORM, syn)),
              expect("eth/ipv4/tcp", HOSPITAL, PLATFORM, P_TCP, 51234, 443, 0)),
        # 54 bytes padded to 60: the IPv4 total length says where the packet ends
        Frame(pad60(eth(ET_IPV4) + bytes(ip4(HOSPITAL, PLATFORM, tcp(51234, 443, flags="A")))),
              expect("eth/ipv4/tcp", HOSPITAL, PLATFORM, P_TCP, 51234, 443, 0)),
        Frame(eth(ET_IPV4) + bytes(ip4(HOSPITAL, INTERNET, tcp(51240, 80, HTTP_GET))),
              expect("eth/ipv4/tcp", HOSPITAL, INTERNET, P_TCP, 51240, 80, len(HTTP_GET))),
        Frame(eth(ET_IPV4) + bytes(ip4(HOSPITAL, PLATFORM_DNS, udp(53000, 53, DNS_QUERY))),
              expect("eth/ipv4/udp", HOSPITAL, PLATFORM_DNS, P_UDP, 53000, 53, len(DNS_QUERY))),
        Frame(eth(ET_IPV4) + bytes(ip4(HOSPITAL, INTERNET2, icmp_echo(payload("ping", 32)))),
              expect("eth/ipv4/icmp", HOSPITAL, INTERNET2, P_ICMP, None, None, 32)),
        Frame(eth(ET_IPV6) + bytes(ip6(TOWNSHIP6, PLATFORM6,
                                       tcp(51300, 443, payload("tls6", 120)))),
              expect("eth/ipv6/tcp", TOWNSHIP6, PLATFORM6, P_TCP, 51300, 443, 120)),
        # a destination options header between IPv6 and UDP: not a layer of the chain
        Frame(eth(ET_IPV6) + bytes(ip6(TOWNSHIP6, INTERNET6, IPv6ExtHdrDestOpt()
                                       / udp(53001, 53, DNS_QUERY))),
              expect("eth/ipv6/udp", TOWNSHIP6, INTERNET6, P_UDP, 53001, 53, len(DNS_QUERY))),
        Frame(eth(ET_IPV6) + bytes(ip6(TOWNSHIP6, INTERNET6,
                                       ICMPv6EchoRequest(id=7, seq=1, data=payload("ping6", 16)))),
              expect("eth/ipv6/icmpv6", TOWNSHIP6, INTERNET6, P_ICMPV6, None, None, 16)),
        # IPv4 options (router alert): IHL 6, the UDP header 24 bytes in
        Frame(eth(ET_IPV4) + bytes(ip4(HOSPITAL, PLATFORM_DNS, udp(53022, 53, DNS_QUERY),
                                       options=[IPOption_Router_Alert()])),
              expect("eth/ipv4/udp", HOSPITAL, PLATFORM_DNS, P_UDP, 53022, 53, len(DNS_QUERY))),
        # the first fragment carries the UDP header, and 96 - 8 bytes of its payload
        Frame(eth(ET_IPV4) + bytes(frag1),
              expect("eth/ipv4/udp", HOSPITAL, PLATFORM, P_UDP, 40200, 514, 96 - 8)),
        # a later fragment: no transport header, its bytes are the payload
        Frame(eth(ET_IPV4) + bytes(frag2),
              expect("eth/ipv4", HOSPITAL, PLATFORM, P_UDP, None, None, 112)),
    ])


def s_vlan() -> Sample:
    arp = bytes(ARP(op=1, hwsrc=MAC_CPE, psrc=HOSPITAL, hwdst="00:00:00:00:00:00",
                    pdst="10.1.2.1"))
    return Sample("vlan.pcap", LT_ETHERNET, [
        # priority 5 in the tag: the VLAN id is the low 12 bits
        Frame(eth(ET_VLAN) + vlan(100, ET_IPV4, pcp=5)
              + bytes(ip4(HOSPITAL, PLATFORM, tcp(51234, 443, HTTP_POST))),
              expect("eth/vlan/ipv4/tcp", HOSPITAL, PLATFORM, P_TCP, 51234, 443,
                     len(HTTP_POST), line="vlan:100")),
        Frame(pad60(eth(ET_VLAN) + vlan(100, ET_IPV4)
                    + bytes(ip4(HOSPITAL2, INTERNET, udp(40123, 123, b"")))),
              expect("eth/vlan/ipv4/udp", HOSPITAL2, INTERNET, P_UDP, 40123, 123, 0,
                     line="vlan:100")),
        Frame(eth(ET_VLAN) + vlan(101, ET_IPV6)
              + bytes(ip6(TOWNSHIP6, PLATFORM6, tcp(50001, 443, flags="S"))),
              expect("eth/vlan/ipv6/tcp", TOWNSHIP6, PLATFORM6, P_TCP, 50001, 443, 0,
                     line="vlan:101")),
        Frame(pad60(eth(ET_VLAN, dst="ff:ff:ff:ff:ff:ff") + vlan(100, ET_ARP) + arp),
              expect("eth/vlan/arp", line="vlan:100", status="non-ip:arp")),
    ])


def s_qinq() -> Sample:
    def tags(outer, inner, etype):
        return eth(ET_QINQ) + vlan(outer, ET_VLAN) + vlan(inner, etype)
    return Sample("qinq.pcap", LT_ETHERNET, [
        Frame(tags(10, 200, ET_IPV4) + bytes(ip4(CLINIC, PLATFORM, tcp(52000, 443, HTTP_POST))),
              expect("eth/vlan/vlan/ipv4/tcp", CLINIC, PLATFORM, P_TCP, 52000, 443,
                     len(HTTP_POST), line="qinq:10.200")),
        Frame(tags(10, 201, ET_IPV4) + bytes(ip4("10.1.3.21", PLATFORM_DNS,
                                                 udp(53002, 53, DNS_QUERY))),
              expect("eth/vlan/vlan/ipv4/udp", "10.1.3.21", PLATFORM_DNS, P_UDP, 53002, 53,
                     len(DNS_QUERY), line="qinq:10.201")),
        Frame(tags(10, 200, ET_IPV6) + bytes(ip6("fd00:1:3::20", PLATFORM6,
                                                 ICMPv6EchoRequest(id=9, seq=2,
                                                                   data=payload("q6", 24)))),
              expect("eth/vlan/vlan/ipv6/icmpv6", "fd00:1:3::20", PLATFORM6, P_ICMPV6,
                     None, None, 24, line="qinq:10.200")),
    ])


def s_mpls() -> Sample:
    pw_inner = (eth(ET_IPV4, dst=MAC_SRV, src=MAC_HOST)
                + bytes(ip4(TOWNSHIP, PLATFORM_DNS, udp(53003, 53, DNS_QUERY))))
    control_word = struct.pack("!I", 0x0000_0001)   # RFC 4385: first nibble 0, sequence 1
    return Sample("mpls.pcap", LT_ETHERNET, [
        Frame(eth(ET_MPLS) + mpls(1000, True) + bytes(ip4(TOWNSHIP, PLATFORM,
                                                          tcp(52100, 443, HTTP_POST))),
              expect("eth/mpls/ipv4/tcp", TOWNSHIP, PLATFORM, P_TCP, 52100, 443,
                     len(HTTP_POST), line="mpls:1000", tunnels=[t_mpls(1000)])),
        # transport label, then the service label at the bottom: the line
        Frame(eth(ET_MPLS) + mpls(16001, False) + mpls(1000, True)
              + bytes(ip4(TOWNSHIP, INTERNET, udp(40124, 123, NTP_REQUEST))),
              expect("eth/mpls/ipv4/udp", TOWNSHIP, INTERNET, P_UDP, 40124, 123,
                     len(NTP_REQUEST), line="mpls:1000", tunnels=[t_mpls(1000)])),
        Frame(eth(ET_MPLS) + mpls(1001, True) + bytes(ip6(TOWNSHIP6, PLATFORM6,
                                                          tcp(52101, 443, flags="S"))),
              expect("eth/mpls/ipv6/tcp", TOWNSHIP6, PLATFORM6, P_TCP, 52101, 443, 0,
                     line="mpls:1001", tunnels=[t_mpls(1001)])),
        Frame(eth(ET_MPLS) + mpls(16002, False) + mpls(1002, True)
              + bytes(ip6(TOWNSHIP6, INTERNET6, udp(53004, 53, DNS_QUERY))),
              expect("eth/mpls/ipv6/udp", TOWNSHIP6, INTERNET6, P_UDP, 53004, 53,
                     len(DNS_QUERY), line="mpls:1002", tunnels=[t_mpls(1002)])),
        # Ethernet pseudowire (RFC 4448) with its control word
        Frame(eth(ET_MPLS) + mpls(16003, False) + mpls(3001, True) + control_word + pw_inner,
              expect("eth/mpls/eth/ipv4/udp", TOWNSHIP, PLATFORM_DNS, P_UDP, 53003, 53,
                     len(DNS_QUERY), line="mpls:3001", tunnels=[t_mpls(3001)])),
    ])


def s_pppoe() -> Sample:
    sess = 0x1A2B
    return Sample("pppoe.pcap", LT_ETHERNET, [
        Frame(eth(ET_PPPOE) + pppoe(sess, PPP_IPV4, bytes(ip4(PHARMACY, PLATFORM,
                                                              tcp(52200, 443, flags="S")))),
              expect("eth/pppoe/ppp/ipv4/tcp", PHARMACY, PLATFORM, P_TCP, 52200, 443, 0,
                     line="pppoe:6699", tunnels=[t_pppoe(sess)])),
        Frame(eth(ET_PPPOE) + pppoe(sess, PPP_IPV4, bytes(ip4(PHARMACY, PLATFORM,
                                                              tcp(52200, 443, HTTP_POST)))),
              expect("eth/pppoe/ppp/ipv4/tcp", PHARMACY, PLATFORM, P_TCP, 52200, 443,
                     len(HTTP_POST), line="pppoe:6699", tunnels=[t_pppoe(sess)])),
        # 50 bytes padded to 60: the PPPoE length ends the packet too
        Frame(pad60(eth(ET_PPPOE) + pppoe(sess, PPP_IPV4, bytes(ip4(PHARMACY, INTERNET2,
                                                                    icmp_echo(b""))))),
              expect("eth/pppoe/ppp/ipv4/icmp", PHARMACY, INTERNET2, P_ICMP, None, None, 0,
                     line="pppoe:6699", tunnels=[t_pppoe(sess)])),
        Frame(eth(ET_PPPOE) + pppoe(0x0042, PPP_IPV6, bytes(ip6("fd00:64:17::5", INTERNET6,
                                                                udp(53005, 53, DNS_QUERY)))),
              expect("eth/pppoe/ppp/ipv6/udp", "fd00:64:17::5", INTERNET6, P_UDP, 53005, 53,
                     len(DNS_QUERY), line="pppoe:66", tunnels=[t_pppoe(0x42)])),
    ])


def s_gre() -> Sample:
    cpe, edge = "10.254.1.1", "10.254.0.1"
    cpe6, edge6 = "fd00:254::1", "fd00:254::2"
    inner1 = bytes(ip4(PHARMACY, PLATFORM, tcp(52300, 443, HTTP_POST)))
    inner2 = bytes(ip4(PHARMACY, INTERNET, udp(40125, 123, NTP_REQUEST)))
    inner3 = bytes(ip6("fd00:64:17::5", PLATFORM6, udp(53006, 53, DNS_QUERY)))
    inner4 = (eth(ET_IPV4, dst=MAC_SRV, src=MAC_HOST)
              + bytes(ip4("10.1.5.40", PLATFORM, tcp(52301, 443, flags="S"))))
    inner5 = bytes(ip4(PHARMACY, INTERNET2, icmp_echo(payload("gre-ping", 48))))
    return Sample("gre.pcap", LT_ETHERNET, [
        Frame(eth(ET_IPV4) + bytes(ip4(cpe, edge, Raw(gre(ET_IPV4, inner1, key=42)),
                                       proto=P_GRE)),
              expect("eth/ipv4/gre/ipv4/tcp", PHARMACY, PLATFORM, P_TCP, 52300, 443,
                     len(HTTP_POST), line="gre:42", tunnels=[t_gre(42)], outer=(cpe, edge))),
        Frame(eth(ET_IPV4) + bytes(ip4(cpe, edge, Raw(gre(ET_IPV4, inner2)), proto=P_GRE)),
              expect("eth/ipv4/gre/ipv4/udp", PHARMACY, INTERNET, P_UDP, 40125, 123,
                     len(NTP_REQUEST), tunnels=[t_gre()], outer=(cpe, edge))),
        Frame(eth(ET_IPV4) + bytes(ip4(cpe, edge, Raw(gre(ET_IPV6, inner3, seq=7,
                                                          checksum=True)), proto=P_GRE)),
              expect("eth/ipv4/gre/ipv6/udp", "fd00:64:17::5", PLATFORM6, P_UDP, 53006, 53,
                     len(DNS_QUERY), tunnels=[t_gre()], outer=(cpe, edge))),
        # transparent Ethernet bridging: a whole Ethernet frame inside
        Frame(eth(ET_IPV4) + bytes(ip4(cpe, edge, Raw(gre(ET_TEB, inner4, key=43)),
                                       proto=P_GRE)),
              expect("eth/ipv4/gre/eth/ipv4/tcp", "10.1.5.40", PLATFORM, P_TCP, 52301, 443, 0,
                     line="gre:43", tunnels=[t_gre(43)], outer=(cpe, edge))),
        # IPv6 outside; checksum, key and sequence number all present
        Frame(eth(ET_IPV6) + bytes(ip6(cpe6, edge6, Raw(gre(ET_IPV4, inner5, key=45, seq=1,
                                                           checksum=True)), nh=P_GRE)),
              expect("eth/ipv6/gre/ipv4/icmp", PHARMACY, INTERNET2, P_ICMP, None, None, 48,
                     line="gre:45", tunnels=[t_gre(45)], outer=(cpe6, edge6))),
    ])


def s_pptp() -> Sample:
    client, server = HOSPITAL, "198.51.100.20"   # a PPTP VPN to a server on the internet
    inner1 = bytes(ip4("172.16.50.2", "172.16.0.10", tcp(50500, 3389, payload("rdp", 64))))
    inner2 = bytes(ip4("172.16.50.2", "172.16.0.1", udp(53007, 53, DNS_QUERY)))
    return Sample("pptp.pcap", LT_ETHERNET, [
        Frame(eth(ET_IPV4) + bytes(ip4(client, server, Raw(pptp_gre(0x4001, ppp(PPP_IPV4, inner1),
                                                                      seq=1)), proto=P_GRE)),
              expect("eth/ipv4/gre/ppp/ipv4/tcp", "172.16.50.2", "172.16.0.10", P_TCP,
                     50500, 3389, 64, tunnels=[t_pptp(0x4001)], outer=(client, server))),
        # address/control and protocol fields compressed (RFC 1661 6.5, 6.6)
        Frame(eth(ET_IPV4) + bytes(ip4(client, server,
                                       Raw(pptp_gre(0x4001, ppp(PPP_IPV4, inner2, acfc=True,
                                                                pfc=True), seq=2, ack=1)),
                                       proto=P_GRE)),
              expect("eth/ipv4/gre/ppp/ipv4/udp", "172.16.50.2", "172.16.0.1", P_UDP,
                     53007, 53, len(DNS_QUERY), tunnels=[t_pptp(0x4001)],
                     outer=(client, server))),
        # an acknowledgement alone: no sequence number, payload length 0, nothing inside
        Frame(pad60(eth(ET_IPV4, dst=MAC_CPE, src=MAC_PE)
                    + bytes(ip4(server, client, Raw(pptp_gre(0x8002, b"", ack=2)),
                                proto=P_GRE))),
              expect("eth/ipv4/gre", server, client, P_GRE, None, None, 0,
                     tunnels=[t_pptp(0x8002)])),
    ])


def s_erspan() -> Sample:
    switch, collector = "10.250.0.1", "10.250.0.10"
    m1 = (eth(ET_IPV4, dst=MAC_PE, src=MAC_HOST)
          + bytes(ip4(HOSPITAL, PLATFORM, tcp(51234, 443, HTTP_POST))))
    m2 = (eth(ET_IPV6, dst=MAC_PE, src=MAC_HOST)
          + bytes(ip6(TOWNSHIP6, INTERNET6, udp(53008, 53, DNS_QUERY))))
    m3 = (eth(ET_IPV4, dst=MAC_PE, src=MAC_HOST)
          + bytes(ip4(HOSPITAL2, INTERNET, udp(40126, 123, NTP_REQUEST))))

    def outer(body, proto_type, seq):
        return eth(ET_IPV4, dst=MAC_COLL, src=MAC_SW) + bytes(
            ip4(switch, collector, Raw(gre(proto_type, body, seq=seq)), proto=P_GRE))
    return Sample("erspan.pcap", LT_ETHERNET, [
        Frame(outer(erspan2(5, m1, vlan_id=100, index=3), ET_ERSPAN_II, 1),
              expect("eth/ipv4/gre/erspan/eth/ipv4/tcp", HOSPITAL, PLATFORM, P_TCP, 51234, 443,
                     len(HTTP_POST), line="erspan:5", tunnels=[t_gre(), t_erspan(5)],
                     outer=(switch, collector))),
        Frame(outer(erspan3(6, m2, timestamp=0x01020304, vlan_id=101, hw_id=1), ET_ERSPAN_III, 2),
              expect("eth/ipv4/gre/erspan/eth/ipv6/udp", TOWNSHIP6, INTERNET6, P_UDP, 53008, 53,
                     len(DNS_QUERY), line="erspan:6", tunnels=[t_gre(), t_erspan(6)],
                     outer=(switch, collector))),
        # type III with the optional 8-byte platform-specific subheader (O set)
        Frame(outer(erspan3(1023, m3, timestamp=0x01020305, hw_id=2,
                            platform=(3 << 58) | (17 << 32) | 0x0000_0001), ET_ERSPAN_III, 3),
              expect("eth/ipv4/gre/erspan/eth/ipv4/udp", HOSPITAL2, INTERNET, P_UDP, 40126, 123,
                     len(NTP_REQUEST), line="erspan:1023", tunnels=[t_gre(), t_erspan(1023)],
                     outer=(switch, collector))),
    ])


def s_l2tp() -> Sample:
    lac, lns = "10.254.3.1", "10.254.0.2"   # the carrier's LAC and the agency's LNS
    in1 = bytes(ip4(HOSPITAL, PLATFORM, tcp(51234, 443, flags="S")))
    in2 = bytes(ip4(HOSPITAL2, PLATFORM, tcp(51235, 443, HTTP_POST)))
    in3 = bytes(ip4(HOSPITAL, INTERNET2, icmp_echo(payload("l2tp-ping", 56))))

    def over_udp(body, src=lac, dst=lns):
        return eth(ET_IPV4) + bytes(ip4(src, dst, udp(L2TP_PORT, L2TP_PORT, body)))
    chain = "eth/ipv4/udp/l2tp/ppp/ipv4/"
    return Sample("l2tp.pcap", LT_ETHERNET, [
        Frame(over_udp(l2tp2(7, 3, ppp(PPP_IPV4, in1), length=True)),
              expect(chain + "tcp", HOSPITAL, PLATFORM, P_TCP, 51234, 443, 0, line="l2tp:7/3",
                     tunnels=[t_l2tp(7, 3)], outer=(lac, lns))),
        Frame(over_udp(l2tp2(7, 4, ppp(PPP_IPV4, in2))),
              expect(chain + "tcp", HOSPITAL2, PLATFORM, P_TCP, 51235, 443, len(HTTP_POST),
                     line="l2tp:7/4", tunnels=[t_l2tp(7, 4)], outer=(lac, lns))),
        # sequence numbers and a 4-byte offset pad before the PPP frame
        Frame(over_udp(l2tp2(7, 3, ppp(PPP_IPV4, in3), ns_nr=(5, 6), offset=4)),
              expect(chain + "icmp", HOSPITAL, INTERNET2, P_ICMP, None, None, 56,
                     line="l2tp:7/3", tunnels=[t_l2tp(7, 3)], outer=(lac, lns))),
        # control message SCCRQ: tunnel 0, session 0; its AVPs are the payload
        Frame(over_udp(l2tp2(0, 0, SCCRQ_AVPS, control=True, length=True, ns_nr=(0, 0))),
              expect("eth/ipv4/udp/l2tp", lac, lns, P_UDP, L2TP_PORT, L2TP_PORT,
                     len(SCCRQ_AVPS), line="l2tp:0/0", tunnels=[t_l2tp(0, 0)])),
    ])


def s_l2tpv3() -> Sample:
    pe1, pe2 = "10.254.4.1", "10.254.4.2"
    session = 0x0001_2345
    e1 = eth(ET_IPV4, dst=MAC_SRV, src=MAC_HOST) + bytes(ip4("10.1.6.10", PLATFORM,
                                                             tcp(52400, 443, HTTP_POST)))
    e2 = eth(ET_IPV6, dst=MAC_SRV, src=MAC_HOST) + bytes(ip6("fd00:1:6::10", PLATFORM6,
                                                             udp(53009, 53, DNS_QUERY)))

    def over_ip(inner):   # no cookie, no L2-specific sublayer
        return eth(ET_IPV4) + bytes(ip4(pe1, pe2, Raw(struct.pack("!I", session) + inner),
                                        proto=P_L2TPV3))
    return Sample("l2tpv3.pcap", LT_ETHERNET, [
        Frame(over_ip(e1),
              expect("eth/ipv4/l2tpv3/eth/ipv4/tcp", "10.1.6.10", PLATFORM, P_TCP, 52400, 443,
                     len(HTTP_POST), line=f"l2tpv3:{session}", tunnels=[t_l2tpv3(session)],
                     outer=(pe1, pe2))),
        Frame(over_ip(e2),
              expect("eth/ipv4/l2tpv3/eth/ipv6/udp", "fd00:1:6::10", PLATFORM6, P_UDP, 53009, 53,
                     len(DNS_QUERY), line=f"l2tpv3:{session}", tunnels=[t_l2tpv3(session)],
                     outer=(pe1, pe2))),
    ])


def s_vxlan() -> Sample:
    vtep1, vtep2 = "10.254.5.1", "10.254.5.2"
    e1 = eth(ET_IPV4, dst=MAC_SRV, src=MAC_HOST) + bytes(ip4("10.1.7.10", PLATFORM,
                                                             tcp(52500, 443, HTTP_POST)))
    e2 = eth(ET_IPV4, dst=MAC_SRV, src=MAC_HOST) + bytes(ip4("10.1.7.11", INTERNET,
                                                             udp(40127, 123, NTP_REQUEST)))
    e3 = (eth(ET_VLAN, dst=MAC_SRV, src=MAC_HOST) + vlan(300, ET_IPV4)
          + bytes(ip4("10.1.7.12", PLATFORM_DNS, udp(53010, 53, DNS_QUERY))))

    def over_udp(vni, inner, sport):
        return eth(ET_IPV4) + bytes(ip4(vtep1, vtep2, udp(sport, VXLAN_PORT, vxlan(vni, inner))))
    return Sample("vxlan.pcap", LT_ETHERNET, [
        Frame(over_udp(5001, e1, 49876),
              expect("eth/ipv4/udp/vxlan/eth/ipv4/tcp", "10.1.7.10", PLATFORM, P_TCP, 52500, 443,
                     len(HTTP_POST), line="vxlan:5001", tunnels=[t_vxlan(5001)],
                     outer=(vtep1, vtep2))),
        Frame(over_udp(5002, e2, 51012),
              expect("eth/ipv4/udp/vxlan/eth/ipv4/udp", "10.1.7.11", INTERNET, P_UDP, 40127, 123,
                     len(NTP_REQUEST), line="vxlan:5002", tunnels=[t_vxlan(5002)],
                     outer=(vtep1, vtep2))),
        # a VLAN tag inside the VXLAN segment is the innermost line-identifying layer
        Frame(over_udp(5001, e3, 61000),
              expect("eth/ipv4/udp/vxlan/eth/vlan/ipv4/udp", "10.1.7.12", PLATFORM_DNS, P_UDP,
                     53010, 53, len(DNS_QUERY), line="vlan:300", tunnels=[t_vxlan(5001)],
                     outer=(vtep1, vtep2))),
    ])


def s_ipip() -> Sample:
    a, b = "10.254.6.1", "10.254.6.2"
    broker = "203.0.113.50"            # a 6in4 tunnel broker on the internet
    a6, b6 = "fd00:254::6:1", "fd00:254::6:2"
    return Sample("ipip.pcap", LT_ETHERNET, [
        Frame(eth(ET_IPV4) + bytes(ip4(a, b, ip4("10.1.8.10", PLATFORM,
                                                 tcp(52600, 443, HTTP_POST)))),
              expect("eth/ipv4/ipv4/tcp", "10.1.8.10", PLATFORM, P_TCP, 52600, 443,
                     len(HTTP_POST), tunnels=[T_IPIP], outer=(a, b))),
        Frame(eth(ET_IPV4) + bytes(ip4(a, broker, ip6("2001:db8:1::10", "2001:db8:2::20",
                                                      udp(53011, 53, DNS_QUERY)))),
              expect("eth/ipv4/ipv6/udp", "2001:db8:1::10", "2001:db8:2::20", P_UDP, 53011, 53,
                     len(DNS_QUERY), tunnels=[T_IPIP], outer=(a, broker))),
        Frame(eth(ET_IPV6) + bytes(ip6(a6, b6, ip4("10.1.8.11", INTERNET2,
                                                   icmp_echo(payload("4in6", 40))))),
              expect("eth/ipv6/ipv4/icmp", "10.1.8.11", INTERNET2, P_ICMP, None, None, 40,
                     tunnels=[T_IPIP], outer=(a6, b6))),
    ])


def s_nested() -> Sample:
    """GRE with a key inside L2TPv2 inside QinQ: a pharmacy's GRE tunnel carried over the
    carrier's VPDN, delivered to the edge on a QinQ sub-interface."""
    lac, lns = "10.254.3.1", "10.254.0.2"
    cpe, gw = "100.64.17.1", "10.254.7.1"

    def frame(key, inner):
        g = bytes(ip4(cpe, gw, Raw(gre(ET_IPV4, inner, key=key)), proto=P_GRE))
        l2 = l2tp2(9, 21, ppp(PPP_IPV4, g), length=True)
        return (eth(ET_QINQ) + vlan(10, ET_VLAN) + vlan(200, ET_IPV4)
                + bytes(ip4(lac, lns, udp(L2TP_PORT, L2TP_PORT, l2))))
    in1 = bytes(ip4(PHARMACY, PLATFORM, tcp(52700, 443, HTTP_POST)))
    in2 = bytes(ip4(PHARMACY, INTERNET, udp(40128, 123, NTP_REQUEST)))
    chain = "eth/vlan/vlan/ipv4/udp/l2tp/ppp/ipv4/gre/ipv4/"
    return Sample("nested.pcap", LT_ETHERNET, [
        Frame(frame(42, in1),
              expect(chain + "tcp", PHARMACY, PLATFORM, P_TCP, 52700, 443, len(HTTP_POST),
                     line="gre:42", tunnels=[t_l2tp(9, 21), t_gre(42)], outer=(lac, lns))),
        # no GRE key: the L2TP session is the innermost line-identifying layer
        Frame(frame(None, in2),
              expect(chain + "udp", PHARMACY, INTERNET, P_UDP, 40128, 123, len(NTP_REQUEST),
                     line="l2tp:9/21", tunnels=[t_l2tp(9, 21), t_gre()], outer=(lac, lns))),
    ])


def _sll(pkttype, proto, hwaddr=MAC_CPE):
    return struct.pack("!HHH8sH", pkttype, 1, 6, mac(hwaddr) + bytes(2), proto)


def _sll2(pkttype, proto, ifindex=3, hwaddr=MAC_CPE):
    return struct.pack("!HHIHBB8s", proto, 0, ifindex, 1, pkttype, 6, mac(hwaddr) + bytes(2))


def s_sll() -> Sample:
    return Sample("sll.pcap", LT_SLL, [
        Frame(_sll(4, ET_IPV4) + bytes(ip4(HOSPITAL, PLATFORM, tcp(51234, 443, HTTP_POST))),
              expect("sll/ipv4/tcp", HOSPITAL, PLATFORM, P_TCP, 51234, 443, len(HTTP_POST))),
        Frame(_sll(0, ET_IPV6, MAC_PE) + bytes(ip6(PLATFORM6, TOWNSHIP6,
                                                    udp(53, 53012, DNS_QUERY))),
              expect("sll/ipv6/udp", PLATFORM6, TOWNSHIP6, P_UDP, 53, 53012, len(DNS_QUERY))),
    ])


def s_sll2() -> Sample:
    return Sample("sll2.pcap", LT_SLL2, [
        Frame(_sll2(4, ET_IPV4) + bytes(ip4(HOSPITAL, PLATFORM_DNS, udp(53013, 53, DNS_QUERY))),
              expect("sll2/ipv4/udp", HOSPITAL, PLATFORM_DNS, P_UDP, 53013, 53,
                     len(DNS_QUERY))),
        Frame(_sll2(0, ET_IPV6, hwaddr=MAC_PE) + bytes(ip6(INTERNET6, TOWNSHIP6,
                                                            tcp(443, 52800, payload("tls", 90)))),
              expect("sll2/ipv6/tcp", INTERNET6, TOWNSHIP6, P_TCP, 443, 52800, 90)),
    ])


def s_raw() -> Sample:
    return Sample("raw.pcap", LT_RAW, [
        Frame(bytes(ip4(PHARMACY, PLATFORM, tcp(52900, 443, HTTP_POST))),
              expect("ipv4/tcp", PHARMACY, PLATFORM, P_TCP, 52900, 443, len(HTTP_POST))),
        Frame(bytes(ip6("fd00:64:17::5", INTERNET6, udp(53014, 53, DNS_QUERY))),
              expect("ipv6/udp", "fd00:64:17::5", INTERNET6, P_UDP, 53014, 53,
                     len(DNS_QUERY))),
    ])


def s_null() -> Sample:
    # BSD loopback: the address family in the capturing host's byte order (little-endian
    # here); AF_INET 2, AF_INET6 30 (macOS) or 24 (NetBSD, OpenBSD)
    af = lambda family: struct.pack("<I", family)  # noqa: E731
    return Sample("null.pcap", LT_NULL, [
        Frame(af(2) + bytes(ip4("127.0.0.1", "127.0.0.1", tcp(52901, 8080, HTTP_POST))),
              expect("null/ipv4/tcp", "127.0.0.1", "127.0.0.1", P_TCP, 52901, 8080,
                     len(HTTP_POST))),
        Frame(af(30) + bytes(ip6("::1", "::1", udp(53015, 53, DNS_QUERY))),
              expect("null/ipv6/udp", "::1", "::1", P_UDP, 53015, 53, len(DNS_QUERY))),
        Frame(af(24) + bytes(ip6("::1", "::1", tcp(52902, 443, flags="S"))),
              expect("null/ipv6/tcp", "::1", "::1", P_TCP, 52902, 443, 0)),
    ])


def s_ppp() -> Sample:
    return Sample("ppp.pcap", LT_PPP, [
        Frame(ppp(PPP_IPV4, bytes(ip4(PHARMACY, PLATFORM, tcp(53000, 443, HTTP_POST)))),
              expect("ppp/ipv4/tcp", PHARMACY, PLATFORM, P_TCP, 53000, 443, len(HTTP_POST))),
        Frame(ppp(PPP_IPV6, bytes(ip6("fd00:64:17::5", INTERNET6, udp(53016, 53, DNS_QUERY)))),
              expect("ppp/ipv6/udp", "fd00:64:17::5", INTERNET6, P_UDP, 53016, 53,
                     len(DNS_QUERY))),
        # no address and control field: the frame starts with the protocol
        Frame(ppp(PPP_IPV4, bytes(ip4(PHARMACY, INTERNET2, icmp_echo(payload("ppp", 20)))),
                  acfc=True),
              expect("ppp/ipv4/icmp", PHARMACY, INTERNET2, P_ICMP, None, None, 20)),
    ])


def s_twoif() -> Sample:
    """pcapng: interface 0 Ethernet (microseconds), interface 1 raw IP (nanoseconds)."""
    t0 = (BASE_S + 3600) * 10**9
    return Sample("twoif.pcapng", 0, interfaces=[(LT_ETHERNET, "eth1", 6),
                                                 (LT_RAW, "tun0", 9)], frames=[
        Frame(eth(ET_IPV4) + bytes(ip4(HOSPITAL, PLATFORM, tcp(51234, 443, HTTP_POST))),
              expect("eth/ipv4/tcp", HOSPITAL, PLATFORM, P_TCP, 51234, 443, len(HTTP_POST),
                     line="if:eth1"), ts_ns=t0 + 250_000_000, iface=0),
        Frame(bytes(ip4(PHARMACY, PLATFORM_DNS, udp(53017, 53, DNS_QUERY))),
              expect("ipv4/udp", PHARMACY, PLATFORM_DNS, P_UDP, 53017, 53, len(DNS_QUERY),
                     line="if:tun0"), ts_ns=t0 + 1_123_456_789, iface=1),
        # a Simple Packet Block: interface 0, no timestamp
        Frame(eth(ET_IPV4) + bytes(ip4(HOSPITAL2, INTERNET, udp(40129, 123, NTP_REQUEST))),
              expect("eth/ipv4/udp", HOSPITAL2, INTERNET, P_UDP, 40129, 123, len(NTP_REQUEST),
                     line="if:eth1"), ts_ns=0, iface=0, simple=True),
        Frame(bytes(ip6("fd00:64:17::5", PLATFORM6, tcp(53018, 443, flags="S"))),
              expect("ipv6/tcp", "fd00:64:17::5", PLATFORM6, P_TCP, 53018, 443, 0,
                     line="if:tun0"), ts_ns=t0 + 2 * 10**9 + 987_654_321, iface=1),
    ])


def s_malformed() -> Sample:
    """Frames that must end in a status, never an exception."""
    syn = pad60(eth(ET_IPV4) + bytes(ip4(HOSPITAL, PLATFORM, tcp(51234, 443, flags="S"))))
    short_ihl = bytearray(bytes(ip4(HOSPITAL, PLATFORM, udp(53019, 53, DNS_QUERY))))
    short_ihl[0] = 0x44                                    # version 4, IHL 4: 16 bytes
    gre_full = eth(ET_IPV4) + bytes(ip4("10.254.1.1", "10.254.0.1",
                                        Raw(gre(ET_IPV4, bytes(ip4(PHARMACY, PLATFORM,
                                                                   tcp(52300, 443))), key=42)),
                                        proto=P_GRE))
    bad_l2tp = struct.pack("!HHH", 0x0006, 7, 3) + ppp(PPP_IPV4, bytes(
        ip4(HOSPITAL, PLATFORM, tcp(51234, 443, flags="S"))))   # version 6: no such L2TP
    bad_v6 = bytearray(bytes(ip6(TOWNSHIP6, PLATFORM6, udp(53020, 53, DNS_QUERY))))
    bad_v6[0] = 0x70 | (bad_v6[0] & 0x0F)                  # version 7
    bad_udp = ip4(HOSPITAL, PLATFORM_DNS, UDP(sport=53021, dport=53, len=4) / Raw(DNS_QUERY))
    bad_tcp = ip4(HOSPITAL, PLATFORM, TCP(sport=51236, dport=443, dataofs=3, flags="S"))
    vlan_full = pad60(eth(ET_VLAN) + vlan(100, ET_IPV4)
                      + bytes(ip4(HOSPITAL, PLATFORM, tcp(51234, 443, flags="S"))))
    bad_pppoe = bytearray(pppoe(0x1A2B, PPP_IPV4, bytes(ip4(PHARMACY, PLATFORM,
                                                            tcp(52200, 443, flags="S")))))
    bad_pppoe[0] = 0x21                                    # version 2: no such PPPoE
    mpls_open = eth(ET_MPLS) + mpls(16001, False) + mpls(1000, False) + bytes(
        ip4(TOWNSHIP, PLATFORM, tcp(52100, 443, flags="S")))  # no bottom-of-stack bit
    return Sample("malformed.pcap", LT_ETHERNET, [
        # the capture kept 12 bytes of the IPv4 header
        Frame(syn, expect("eth/ipv4", status="truncated:ipv4"), caplen=14 + 12),
        Frame(eth(ET_IPV4) + bytes(short_ihl), expect("eth/ipv4", status="malformed:ipv4.header_length")),
        # the capture kept the GRE flags and version, not the protocol type
        Frame(gre_full, expect("eth/ipv4/gre", "10.254.1.1", "10.254.0.1", P_GRE,
                               status="truncated:gre"), caplen=14 + 20 + 2),
        Frame(eth(ET_IPV4) + bytes(ip4("10.254.3.1", "10.254.0.2",
                                       udp(L2TP_PORT, L2TP_PORT, bad_l2tp))),
              expect("eth/ipv4/udp/l2tp", "10.254.3.1", "10.254.0.2", P_UDP, L2TP_PORT,
                     L2TP_PORT, status="malformed:l2tp.version")),
        Frame(eth(ET_IPV6) + bytes(bad_v6), expect("eth/ipv6", status="malformed:ipv6.version")),
        # UDP length 4, shorter than the UDP header
        Frame(eth(ET_IPV4) + bytes(bad_udp),
              expect("eth/ipv4/udp", HOSPITAL, PLATFORM_DNS, P_UDP, 53021, 53,
                     status="malformed:udp.length")),
        # TCP data offset 3 (12 bytes), shorter than the TCP header
        Frame(pad60(eth(ET_IPV4) + bytes(bad_tcp)),
              expect("eth/ipv4/tcp", HOSPITAL, PLATFORM, P_TCP, 51236, 443,
                     status="malformed:tcp.data_offset")),
        # the capture kept half of the VLAN tag
        Frame(vlan_full, expect("eth/vlan", status="truncated:vlan"), caplen=14 + 2),
        Frame(eth(ET_PPPOE) + bytes(bad_pppoe), expect("eth/pppoe", status="malformed:pppoe.version")),
        # a label stack that never reaches its bottom before the capture ends
        Frame(mpls_open, expect("eth/mpls", status="truncated:mpls"), caplen=14 + 8),
    ])


SAMPLES = [s_ethernet, s_vlan, s_qinq, s_mpls, s_pppoe, s_gre, s_pptp, s_erspan, s_l2tp,
           s_l2tpv3, s_vxlan, s_ipip, s_nested, s_sll, s_sll2, s_raw, s_null, s_ppp,
           s_twoif, s_malformed]


# ---------------------------------------------------------------------------------------
# writers

PCAP_MAGIC_US = 0xA1B2C3D4
SNAPLEN = 262144


def write_pcap(path: Path, linktype: int, frames: list[Frame]) -> None:
    out = [struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, SNAPLEN, linktype)]
    for f in frames:
        sec, ns = divmod(f.ts_ns, 10**9)
        assert ns % 1000 == 0, "pcap timestamps are microseconds"
        kept = f.data[: f.caplen] if f.caplen is not None else f.data
        out.append(struct.pack("<IIII", sec, ns // 1000, len(kept), len(f.data)) + kept)
    path.write_bytes(b"".join(out))


def _pad4(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def _block(btype: int, body: bytes) -> bytes:
    body = _pad4(body)
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + _pad4(value)


END_OF_OPTIONS = struct.pack("<HH", 0, 0)


def write_pcapng(path: Path, interfaces, frames: list[Frame]) -> None:
    """pcapng (little-endian) by hand: SHB, one IDB per interface (if_name, if_tsresol),
    EPBs in each interface's units, SPBs (interface 0, no timestamp)."""
    shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + \
        _option(4, b"ybsensor pcaps/make_samples.py") + END_OF_OPTIONS
    out = [_block(0x0A0D0D0A, shb)]
    for linktype, name, tsresol in interfaces:
        opts = _option(2, name.encode()) + _option(9, bytes([tsresol])) + END_OF_OPTIONS
        out.append(_block(0x00000001, struct.pack("<HHI", linktype, 0, SNAPLEN) + opts))
    for f in frames:
        kept = f.data[: f.caplen] if f.caplen is not None else f.data
        if f.simple:
            assert f.iface == 0 and f.caplen is None and f.ts_ns == 0
            out.append(_block(0x00000003, struct.pack("<I", len(f.data)) + kept))
            continue
        resol = interfaces[f.iface][2]
        assert f.ts_ns % 10 ** (9 - resol) == 0
        units = f.ts_ns // 10 ** (9 - resol)
        out.append(_block(0x00000006, struct.pack("<IIIII", f.iface, units >> 32,
                                                  units & 0xFFFFFFFF, len(kept), len(f.data))
                          + _pad4(kept)))
    path.write_bytes(b"".join(out))


def expected_rows(sample: Sample) -> list[dict]:
    rows = []
    for i, f in enumerate(sample.frames, 1):
        row = {"frame": i, "ts": round(f.ts_ns / 1e9, 6), "len": len(f.data)}
        row.update(f.exp)
        rows.append(row)
    return rows


def main(argv: list[str]) -> int:
    outdir = Path(argv[1]) if len(argv) > 1 else HERE
    (outdir / "expected").mkdir(parents=True, exist_ok=True)
    for k, make in enumerate(SAMPLES):
        sample = make()
        start_ns = (BASE_S + 60 * k) * 10**9
        for i, f in enumerate(sample.frames):
            if f.ts_ns is None:
                f.ts_ns = start_ns + i * 12_345_000
        path = outdir / sample.name
        if sample.name.endswith(".pcapng"):
            write_pcapng(path, sample.interfaces, sample.frames)
        else:
            write_pcap(path, sample.linktype, sample.frames)
        assert path.stat().st_size < 20_000, f"{path} is too big to commit"
        stem = sample.name.rsplit(".", 1)[0]
        lines = [json.dumps(r, separators=(",", ":")) + "\n" for r in expected_rows(sample)]
        (outdir / "expected" / f"{stem}.jsonl").write_text("".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
