"""This case's frames and, from the rule, its expected alerts."""

import random
import sys
from pathlib import Path

from scapy.layers.inet import IP
from scapy.packet import Raw

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import L2TP_HOSP, pii, write_here  # noqa: E402
from casegen.reassembly import (  # noqa: E402
    RULE_FRAG, SYSLOG_PORT, frag_pkt, syslog_with_id, udp_datagram)


def build(name: str, line: mc.Line) -> mc.Case:
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


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
