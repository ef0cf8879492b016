"""Cases of payloads seen as the receiver sees them: IP datagrams in fragments, TCP segments
out of order, names in messages that span segments (issue #13 items 1, 2 and 4)."""
from __future__ import annotations

import random
import struct

from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
from scapy.packet import Raw

import make_cases as mc
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


def _syslog_case(name: str, line: mc.Line, v6: bool, order: str) -> mc.Case:
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


def syslog_v4(name, line):
    return _syslog_case(name, line, False, "in order")


def syslog_v4_reversed(name, line):
    return _syslog_case(name, line, False, "last fragment first")


def syslog_v6(name, line):
    return _syslog_case(name, line, True, "in order")


def frag_overlap(name: str, line: mc.Line) -> mc.Case:
    """The ID only in a later copy of bytes the receiver holds already: a first-wins
    receiver never sees it."""
    rng = random.Random(f"{name}-person")
    person = pii.resident_id(rng)
    src, dst = mc.HOSP, mc.PLATFORM
    msg = syslog_with_id(person, src)
    cover = msg.replace(person.encode(), b"X" * len(person))
    sport = 40515
    clean = udp_datagram(src, sport, dst, SYSLOG_PORT, cover)
    dirty = udp_datagram(src, sport, dst, SYSLOG_PORT, msg)
    at = 8 + msg.index(person.encode())
    lo, hi = at // 8 * 8, (at + 18 + 7) // 8 * 8       # the 8-byte blocks the ID spans
    ident = mc.IpIds()()

    def piece(data: bytes, a: int, b: int, more: bool) -> bytes:
        return bytes(IP(src=src, dst=dst, id=ident, ttl=64, proto=mc.P_UDP,
                        flags="MF" if more else 0, frag=a // 8) / Raw(data[a:b]))

    pkts = [frag_pkt(piece(clean, 0, hi, True), src, dst, sport, SYSLOG_PORT),
            frag_pkt(piece(dirty, lo, hi, True), src, dst, None, None),
            frag_pkt(piece(clean, hi, len(clean), False), src, dst, None, None)]
    c = mc.PiiCase(name, f"The hospital's {src} sends a syslog datagram to the platform "
                         f"({dst}:514), {line.describe}, in fragments: the first carries the "
                         f"message with the ID's digits blanked (X); a second fragment "
                         f"overlaps it with the real ID; the last fragment completes it. "
                         f"Rule: {RULE_FRAG}; {mc.RULE_PII}. The receiver keeps the blanked "
                         f"copy, the overlap is counted as evasion:frag_overlap. Expected: no "
                         f"alert.")
    c.send(line, pkts)
    return c


CASES = [
    ("pii_syslog_ipv4_fragments", syslog_v4, mc.VLAN100),
    ("pii_syslog_ipv4_fragments_in_l2tp", syslog_v4, mc.L2TP_HOSP),
    ("pii_syslog_ipv4_fragments_in_gre", syslog_v4, mc.GRE_HOSP),
    ("pii_syslog_ipv4_fragments_reversed_in_gre", syslog_v4_reversed, mc.GRE_HOSP),
    ("pii_syslog_ipv6_fragments_in_gre", syslog_v6, mc.Gre(44)),
    ("none_fragment_overlap_in_l2tp", frag_overlap, mc.L2TP_HOSP),
]
