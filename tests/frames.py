"""The frames the tests send, built in one place, two ways:

- header by header with struct (`eth`, `ipv4`, `ipv6`, `udp`, `tcp`, `mpls`, and the
  tunnels' `gre`, `pptp`, `erspan2`/`erspan3`, `l2tp2`, `l2tp3_*`, `vxlan`): every bit as
  written, every length field right, checksums zero; for the decoders' own tests, the
  fuzzers (fuzzing.py) and captures written byte by byte (`udp_frame`);
- whole frames with scapy, which fills lengths and checksums: `link()` is the Ethernet
  header (two fixed MACs, so a frame's bytes do not depend on the machine's interfaces)
  with the 802.1Q tag of an institution's line, VLAN 100 unless told; `tcp_segment`,
  `udp_datagram` and `tcp_stream` put a payload on it between two addresses.

pcaps/make_cases.py builds the detector cases' frames with builders of its own (a case's
frames travel in L2TP or GRE, with IP ids and times from the case's plan).
"""
from __future__ import annotations

import ipaddress
import struct

# --- headers with struct -----------------------------------------------------------------

MAC_A = bytes.fromhex("001b21aaaa01")
MAC_B = bytes.fromhex("001b21aaaa02")


def eth(etype: int, payload: bytes, dst: bytes = MAC_A, src: bytes = MAC_B) -> bytes:
    return dst + src + struct.pack("!H", etype) + payload


def _v4(address: int | str) -> int:
    return address if isinstance(address, int) else int(ipaddress.IPv4Address(address))


def ipv4(proto: int, payload: bytes, src: int | str = 0xC0000201, dst: int | str = 0xC0000202,
         frag: int = 0x4000) -> bytes:
    """An IPv4 header (id 1, TTL 64, `frag` the flags and offset: don't-fragment unless told)."""
    return struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(payload), 1, frag, 64, proto, 0,
                       _v4(src), _v4(dst)) + payload


def ipv6(nh: int, payload: bytes, src: bytes = bytes.fromhex("20010db8" + "00" * 11 + "01"),
         dst: bytes = bytes.fromhex("20010db8" + "00" * 11 + "02")) -> bytes:
    return struct.pack("!IHBB", 0x60000000, len(payload), nh, 64) + src + dst + payload


def ipv6_ext(nh: int, payload: bytes, kind: int = 60) -> bytes:
    """One hop-by-hop (0), routing (43) or destination options (60) header of 8 bytes."""
    if kind == 43:
        return struct.pack("!BBBB4x", nh, 0, 0, 0) + payload
    return struct.pack("!BB6s", nh, 0, b"\x01\x04\x00\x00\x00\x00") + payload


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport: int, dport: int, payload: bytes, flags: int = 0x18) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, flags, 502, 0, 0) + payload


def mpls(labels, payload: bytes) -> bytes:
    out = b""
    for i, label in enumerate(labels):
        out += struct.pack("!I", (label << 12) | (0x100 if i == len(labels) - 1 else 0) | 64)
    return out + payload


# --- tunnel headers by hand ------------------------------------------------------------

def gre(proto: int, payload, key=None, seq=None, csum=False, flags=0, version=0) -> bytes:
    """GRE (RFC 2784/2890) header by hand: C, K, S bits and their 4-byte words."""
    flags |= (0x8000 if csum else 0) | (0x2000 if key is not None else 0) | \
             (0x1000 if seq is not None else 0) | version
    hdr = struct.pack("!HH", flags, proto)
    if csum:
        hdr += b"\x00\x00\x00\x00"
    if key is not None:
        hdr += struct.pack("!I", key)
    if seq is not None:
        hdr += struct.pack("!I", seq)
    return hdr + bytes(payload)


def pptp(call_id: int, payload: bytes, seq=None, ack=None, length=None) -> bytes:
    """Enhanced GRE (RFC 2637): K always, key = payload length | call id, S, A (0x0080)."""
    flags = 0x2000 | 0x0001 | (0x1000 if seq is not None else 0) | \
        (0x0080 if ack is not None else 0)
    hdr = struct.pack("!HHHH", flags, 0x880B, len(payload) if length is None else length, call_id)
    if seq is not None:
        hdr += struct.pack("!I", seq)
    if ack is not None:
        hdr += struct.pack("!I", ack)
    return hdr + bytes(payload)


def erspan2(session: int, payload, vlan: int = 0, index: int = 0) -> bytes:
    """ERSPAN type II: ver=1 | VLAN, COS/En/T | session (10 bits), reserved | index."""
    return struct.pack("!HHI", (1 << 12) | vlan, session & 0x3FF, index) + bytes(payload)


def erspan3(session: int, payload, o: bool = False, ft: int = 0, ver: int = 2) -> bytes:
    """ERSPAN type III: ver=2 | VLAN, COS/BSO/T | session, timestamp, SGT,
    P | FT(5) | HW(6) | D | Gra(2) | O; O adds an 8-byte platform subheader."""
    last = (ft << 10) | (1 << 4) | (1 if o else 0)
    hdr = struct.pack("!HHIHH", (ver << 12) | 5, session & 0x3FF, 12345678, 0, last)
    if o:
        hdr += bytes(range(1, 9))
    return hdr + bytes(payload)


def l2tp2(tunnel: int, session: int, payload: bytes = b"", *, length=False, seq=False,
          offset=None, control=False, version=2, length_value=None) -> bytes:
    """L2TPv2 header (RFC 2661 3.1) by hand."""
    flags = (0x8000 if control else 0) | (0x4000 if length else 0) | (0x0800 if seq else 0) | \
            (0x0200 if offset is not None else 0) | version
    rest = struct.pack("!HH", tunnel, session)
    if seq:
        rest += struct.pack("!HH", 1, 2)
    if offset is not None:
        rest += struct.pack("!H", offset) + b"\xee" * offset
    if length:
        total = 4 + len(rest) + len(payload) if length_value is None else length_value
        return struct.pack("!HH", flags, total) + rest + payload
    return struct.pack("!H", flags) + rest + payload


def l2tp3_udp_data(session: int, payload: bytes) -> bytes:
    """L2TPv3 over UDP data header (RFC 3931 4.1.2.1): T=0, ver 3, reserved, session id."""
    return struct.pack("!HHI", 0x0003, 0, session) + payload


def l2tp3_control(ccid: int = 9, avps: bytes = b"") -> bytes:
    """L2TPv3 control header: T, L, S, ver 3, length, control connection id, Ns, Nr."""
    return struct.pack("!HHIHH", 0xC803, 12 + len(avps), ccid, 0, 0) + avps


def vxlan(vni: int, payload, flags: int = 0x08) -> bytes:
    return struct.pack("!B3xI", flags, vni << 8) + bytes(payload)


PPP_IP = {4: b"\xff\x03\x00\x21", 6: b"\xff\x03\x00\x57"}


def ip_version(packet: bytes) -> int:
    return packet[0] >> 4


# the two ends of an institution's line: its router and the carrier's edge
MAC_CPE, MAC_PE = "00:25:90:0a:0b:01", "00:25:90:0a:0b:02"


def udp_frame(src: str = "10.1.2.3", dst: str = "10.200.0.1", sport: int = 40000,
              dport: int = 53, payload: bytes = b"hello") -> bytes:
    """An Ethernet / IPv4 / UDP frame, checksums left zero."""
    return eth(0x0800, ipv4(17, udp(sport, dport, payload), src, dst, frag=0),
               dst=bytes.fromhex(MAC_CPE.replace(":", "")), src=bytes.fromhex(MAC_PE.replace(":", "")))


# --- whole frames with scapy ---------------------------------------------------------------

def link(vlan: int | None = 100, back: bool = False):
    """Ethernet from the institution's router to the carrier's edge (`back`: the other way),
    tagged 802.1Q `vlan` (None: untagged); put the IP packet on it with `/`."""
    from scapy.layers.l2 import Dot1Q, Ether

    head = Ether(src=MAC_PE, dst=MAC_CPE) if back else Ether(src=MAC_CPE, dst=MAC_PE)
    return head if vlan is None else head / Dot1Q(vlan=vlan)


def _ip(src: str, dst: str):
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6

    return IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst)


def tcp_segment(payload: bytes = b"", *, src: str = "10.1.2.3", dst: str = "10.200.1.20",
                sport: int = 40000, dport: int = 8080, seq: int = 1000, ack: int = 0,
                flags: str = "PA", vlan: int | None = 100) -> bytes:
    """A TCP segment on the line (IPv6 where the addresses are)."""
    from scapy.layers.inet import TCP

    return bytes(link(vlan) / _ip(src, dst)
                 / TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags) / payload)


def udp_datagram(payload: bytes = b"", *, src: str = "10.1.2.3", dst: str = "10.200.1.20",
                 sport: int = 40000, dport: int = 9000, vlan: int | None = 100) -> bytes:
    """A UDP datagram on the line, its checksum computed."""
    from scapy.layers.inet import UDP

    return bytes(link(vlan) / _ip(src, dst) / UDP(sport=sport, dport=dport) / payload)


def tcp_stream(chunks: list[bytes], seq: int = 1000, **kw) -> list[bytes]:
    """Consecutive segments of one TCP stream, each chunk in one."""
    out = []
    for chunk in chunks:
        out.append(tcp_segment(chunk, seq=seq, **kw))
        seq += len(chunk)
    return out
