"""Builders of the cases of payloads seen as the receiver sees them: IP datagrams in fragments,
TCP segments out of order, names in messages that span segments (issue #13 items 1, 2 and
4)."""
from __future__ import annotations

import random
import struct

from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
from scapy.packet import Raw

import casegen as mc
import pii

RULE_FRAG = ("An IP datagram in fragments is seen as its receiver sees it: reassembled, then "
             "judged as one packet, found when its last fragment arrives (that frame is the "
             "alert's first), counted once with the bytes of the frames that carried it; "
             "where fragments overlap and disagree, the first copy of a byte wins")

SYSLOG_PORT = 514


def syslog_with_id(person: str, host: str) -> bytes:
    """An RFC 5424 syslog message of a hospital's registration system naming a patient."""
    msg = (f"<134>1 2025-01-02T08:00:00+08:00 {host} his-reg 2231 REG - patient registered: "
           f"name=ZHANG San idcard={person} dept=0301 visit=V2025010200042 "
           f"clerk=R017 window=3 status=ok").encode()
    assert mc.identifiers_by_rule(msg) == [person]
    return msg


def fragments_v4(ids: mc.IpIds, src: str, dst: str, datagram: bytes, cuts: list[int]) -> list[bytes]:
    """The IPv4 packets carrying `datagram` (transport header and payload) cut at `cuts`
    (multiples of 8), one identification."""
    ident = ids()
    edges = [0, *cuts, len(datagram)]
    return [bytes(IP(src=src, dst=dst, id=ident, ttl=64, proto=mc.P_UDP,
                     flags="MF" if b < len(datagram) else 0, frag=a // 8) / Raw(datagram[a:b]))
            for a, b in zip(edges, edges[1:])]


def fragments_v6(ident: int, src: str, dst: str, datagram: bytes, cuts: list[int]) -> list[bytes]:
    edges = [0, *cuts, len(datagram)]
    return [bytes(IPv6(src=src, dst=dst, hlim=64)
                  / IPv6ExtHdrFragment(nh=mc.P_UDP, offset=a // 8, m=int(b < len(datagram)), id=ident)
                  / Raw(datagram[a:b]))
            for a, b in zip(edges, edges[1:])]


def udp_datagram(src: str, sport: int, dst: str, dport: int, data: bytes) -> bytes:
    """A UDP header and its data, checksummed for the pair of addresses."""
    wrap = IPv6 if mc.is6(src) else IP
    return bytes(wrap(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(data))[
        40 if mc.is6(src) else 20:]


def frag_pkt(ip: bytes, src: str, dst: str, sport, dport) -> mc.Pkt:
    return mc.Pkt(ip, True, src, dst, mc.P_UDP, sport, dport)


def expect_datagram(c: mc.Case, line: mc.Line, inst: str, src: str, dst: str, sport: int,
                    dport: int, frames: list[int], evidence: dict) -> None:
    """plaintext_pii for a reassembled datagram: one packet, the bytes of its frames, found
    at its last frame."""
    import ipaddress
    c.expected.append({
        "detector": "plaintext_pii", "severity": "high", "line": line.key, "institution": inst,
        "src": src, "dst": dst, "proto": mc.P_UDP, "sport": sport, "dport": dport,
        "community_id": mc._community_id(ipaddress.ip_address(src).packed,
                                         ipaddress.ip_address(dst).packed, mc.P_UDP, sport, dport),
        "packets": 1, "bytes": sum(len(c.frames[f - 1].data) for f in frames),
        "first_frame": max(frames), "evidence": evidence})


def syslog_case(name: str, line: mc.Line, v6: bool, order: str) -> mc.Case:
    rng = random.Random(f"{name}-person")
    person = pii.resident_id(rng)
    src, dst, inst = ((mc.TOWN6, mc.PLATFORM6, mc.TOWN_CODE) if v6
                      else (mc.HOSP, mc.PLATFORM, mc.HOSP_CODE))
    msg = syslog_with_id(person, src)
    sport = 40514
    datagram = udp_datagram(src, sport, dst, SYSLOG_PORT, msg)
    at = 8 + msg.index(person.encode())
    cut = (at + 9) // 8 * 8                      # inside the ID
    assert at < cut < at + 18
    ips = (fragments_v6(0x5A17, src, dst, datagram, [cut]) if v6
           else fragments_v4(mc.IpIds(), src, dst, datagram, [cut]))
    first, second = frag_pkt(ips[0], src, dst, sport, SYSLOG_PORT), frag_pkt(ips[1], src, dst, None, None)
    pkts = [first, second] if order == "in order" else [second, first]
    what = "IPv6 fragment headers" if v6 else "IPv4 fragments"
    c = mc.PiiCase(name, f"A registration system ({src}) sends a syslog message naming a "
                         f"patient to the platform's collector ({dst}:514), {line.describe}: "
                         f"one UDP datagram in two {what} cut inside the resident ID, sent "
                         f"{order}. Rule: {RULE_FRAG}; {mc.RULE_PII}. Expected: one high "
                         f"alert, resident_id 1, at the later frame, the offset the ID's start "
                         f"in the syslog message.")
    frames = c.send(line, pkts)
    expect_datagram(c, line, inst, src, dst, sport, SYSLOG_PORT, frames, mc.ev(
        "personal_data_in_plaintext", kinds={"resident_id": 1}, masked=[mc.masked_id(person)],
        hashes=[mc.keyed("resident_id", person)], offset=msg.index(person.encode())))
    return c


RULE_OUTER = ("A tunnel's packet that a router fragmented on its way (its outer IP header: an "
              "L2TP or GRE packet over the path's MTU) is reassembled, then decoded through "
              "the tunnel: the inner packet is judged whole, on the tunnel's line, found when "
              "its last fragment arrives")
PATH_MTU = 1500


def outer_fragments(frame: bytes, at: int) -> list[bytes]:
    """A tunnel's frame (Ethernet, then its outer IPv4 packet) as a router on a path of
    PATH_MTU sends it on: its outer packet's payload cut at `at` (a multiple of 8)."""
    head, outer = frame[:14], IP(frame[14:])
    data = bytes(outer.payload)
    assert len(frame) - 14 > PATH_MTU and at % 8 == 0 and at + 20 <= PATH_MTU
    return [head + bytes(IP(src=outer.src, dst=outer.dst, id=outer.id, ttl=outer.ttl,
                            proto=outer.proto, flags="MF" if b < len(data) else 0,
                            frag=a // 8) / Raw(data[a:b]))
            for a, b in ((0, at), (at, len(data)))]


def outer_fragments_case(name: str, line: mc.Line) -> mc.Case:
    """A long syslog message naming a patient, in one UDP datagram that fits the institution's
    own MTU; the tunnel's headers take it over the path's, and its outer packet goes in two
    fragments, the ID in the second."""
    rng = random.Random(f"{name}-person")
    person = pii.resident_id(rng)
    src, dst, inst = mc.HOSP, mc.PLATFORM, mc.HOSP_CODE
    msg = syslog_with_id(person, src)
    # a stack trace before it, as a registration system logs a failed call
    trace = b"at his.reg.Call(Call.java:42) " * 64
    msg = msg.replace(b" REG - ", b" REG - " + trace[:PATH_MTU - 20 - 28 - len(msg)], 1)
    sport = 40515
    datagram = udp_datagram(src, sport, dst, SYSLOG_PORT, msg)
    inner = bytes(IP(src=src, dst=dst, id=0x4A21, ttl=64, proto=mc.P_UDP) / Raw(datagram))
    assert len(inner) <= PATH_MTU < len(line.frame(frag_pkt(inner, src, dst, sport, SYSLOG_PORT))) - 14
    pkt = frag_pkt(inner, src, dst, sport, SYSLOG_PORT)
    c = mc.PiiCase(name, f"A registration system ({src}) sends a long syslog message naming a "
                         f"patient to the platform's collector ({dst}:514), {line.describe}: "
                         f"the datagram fits a 1500-byte MTU, the tunnel's headers do not, "
                         f"and the outer packet goes in two IPv4 fragments, the ID in the "
                         f"second. Rule: {RULE_OUTER}; {mc.RULE_PII}. Expected: one high "
                         f"alert on the tunnel's line, resident_id 1, at the second frame, "
                         f"the offset the ID's start in the syslog message.")
    for frame in outer_fragments(line.frame(pkt), 1400):
        c.frames.append(mc.Frame(frame, pkt))
    expect_datagram(c, line, inst, src, dst, sport, SYSLOG_PORT, [1, 2], mc.ev(
        "personal_data_in_plaintext", kinds={"resident_id": 1}, masked=[mc.masked_id(person)],
        hashes=[mc.keyed("resident_id", person)], offset=msg.index(person.encode())))
    return c


# --- names in messages that span segments ----------------------------------------------

RULE_NAMES = ("A name is read from the client's first message however many TCP segments "
              "carry it, in sequence order; the alert is on the segment that completes the "
              "name")


def long_client_hello(tag: str, server: str) -> bytes:
    """A TLS 1.3 ClientHello as browsers send it today: an X25519MLKEM768 key share (1216
    bytes) and an X25519 one before the server_name extension, about 1.5 KB in all."""
    ciphers = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F]
    pq = mc.payload(tag + "-mlkem", 1216) + mc.payload(tag + "-x25519", 32)
    shares = struct.pack("!HH", 0x11EC, 1216 + 32) + pq + struct.pack("!HH", 0x001D, 32) \
        + mc.payload(tag + "-key", 32)
    name = server.encode()
    sni = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
    ext = (struct.pack("!HHB", 0x002B, 5, 4) + struct.pack("!HH", 0x0304, 0x0303)
           + struct.pack("!HHH", 0x000A, 6, 4) + struct.pack("!HH", 0x11EC, 0x001D)
           + struct.pack("!HHH", 0x0033, len(shares) + 2, len(shares)) + shares
           + struct.pack("!HH", 0x0000, len(sni)) + sni)
    body = (struct.pack("!H", 0x0303) + mc.payload(tag + "-random", 32)
            + b"\x20" + mc.payload(tag + "-sid", 32)
            + struct.pack("!H", 2 * len(ciphers)) + b"".join(struct.pack("!H", c) for c in ciphers)
            + b"\x01\x00" + struct.pack("!H", len(ext)) + ext)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


MSS = 1400


def _spanning_hello(c: mc.Case, line: mc.Line, client: str, server_ip: str, cport: int,
                    name: str) -> int:
    """A TLS connection whose ClientHello takes two segments (the name in the second);
    the frame of the second."""
    hello = long_client_hello(c.name, name)
    assert hello.index(name.encode()) > MSS
    conn = mc.TcpConn(mc.IpIds(), client, cport, server_ip, 443)
    pkts = conn.handshake() + [conn.c2s(hello[:MSS], flags="A"), conn.c2s(hello[MSS:])]
    frames = c.send(line, pkts)
    c.send(line, [conn.s2c(mc.tls_server_hello(c.name))])
    return frames[-1]


def sni_case(server: str, cport: int, what: str, expected: str, tool: str | None):
    """A hospital host's TLS through a forward proxy inside the network, naming `server`
    in the second segment of its ClientHello; internet_bound by name, and remote_control
    where `server` is a remote-control tool's."""
    def build(name: str, line: mc.Line) -> mc.Case:
        rules = f"{mc.RULE_RC}; and {mc.RULE_IB}" if tool else mc.RULE_IB
        c = mc.Case(name, f"The hospital's {mc.HOSP} opens TLS through a forward proxy inside "
                          f"the network ({mc.PLATFORM_B}:443), {line.describe}, to {server}, "
                          f"{what}. Its ClientHello (1.5 KB: a post-quantum key share) takes "
                          f"two segments, the server name in the second. Rule: {rules}; a TLS "
                          f"ClientHello naming a public service on a flow between two private "
                          f"ends breaks internet_bound too. {RULE_NAMES}. Expected: {expected}, "
                          f"at the second segment.")
        at = _spanning_hello(c, line, mc.HOSP, mc.PLATFORM_B, cport, server)
        if tool:
            c.expect("remote_control", "high", line.key, mc.HOSP_CODE, [at],
                     mc.ev("tls_sni", tool=tool, evidence="tls_sni", name=server))
        c.expect("internet_bound", "high", line.key, mc.HOSP_CODE, [at],
                 mc.ev("public_name", name_source="tls_sni", name=server))
        return c
    return build


def two_segments(c: mc.Case, line: mc.Line, port: int, cport: int, message: bytes, cut: int,
                  source: str, server: str) -> mc.Case:
    """The hospital host's first message to a private server in two segments cut at `cut`;
    internet_bound names `server` (by `source`) at the second."""
    conn = mc.TcpConn(mc.IpIds(), mc.HOSP, cport, mc.PLATFORM_B, port)
    frames = c.send(line, conn.handshake() + [conn.c2s(message[:cut], flags="A"),
                                              conn.c2s(message[cut:])])
    c.expect("internet_bound", "high", line.key, mc.HOSP_CODE, [frames[-1]],
             mc.ev("public_name", name_source=source, name=server))
    return c
