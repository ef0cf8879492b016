"""Community ID v1 (corelight/community-id-spec): a flow's shared name across Zeek,
Suricata and this sensor. Computed per alerted flow only, so plain Python is fine."""
from __future__ import annotations

import base64
import hashlib
import struct

ICMP, TCP, UDP, ICMP6, SCTP = 1, 6, 17, 58, 132
# ICMP types that have a counterpart: the pair is one bidirectional "flow"
ICMP4_PAIRS = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
ICMP6_PAIRS = {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135,
               130: 131, 131: 130, 144: 145, 145: 144}


def community_id(src: bytes, dst: bytes, proto: int, sport: int | None = None,
                 dport: int | None = None, seed: int = 0) -> str:
    """src/dst: packed addresses (4 or 16 bytes); sport/dport: ports, or ICMP type/code."""
    one_way = False
    if proto in (ICMP, ICMP6) and sport is not None:
        pairs = ICMP4_PAIRS if proto == ICMP else ICMP6_PAIRS
        if sport in pairs:
            dport = pairs[sport]
        else:
            one_way = True
    has_ports = proto in (ICMP, TCP, UDP, ICMP6, SCTP) and sport is not None
    if not one_way and (src, sport or 0) > (dst, dport or 0):
        src, dst, sport, dport = dst, src, dport, sport
    data = struct.pack("!H", seed) + src + dst + struct.pack("!BB", proto, 0)
    if has_ports:
        data += struct.pack("!HH", sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode()
