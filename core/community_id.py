"""Community ID v1 (corelight/community-id-spec): a flow's shared name across Zeek,
Suricata and this sensor. Computed per alerted flow only, so plain Python is fine."""
from __future__ import annotations

import binascii
import hashlib
import struct

ICMP, TCP, UDP, ICMP6, SCTP = 1, 6, 17, 58, 132
# ICMP types that have a counterpart: the pair is one bidirectional "flow"
ICMP4_PAIRS = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
ICMP6_PAIRS = {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135,
               130: 131, 131: 130, 139: 140, 140: 139, 144: 145, 145: 144}
PORTED = frozenset((ICMP, TCP, UDP, ICMP6, SCTP))
SEED = struct.Struct("!H")
PROTO, PROTO_PORTS = struct.Struct("!BB"), struct.Struct("!BBHH")  # proto, padding (, ports)


def community_id(src: bytes, dst: bytes, proto: int, sport: int | None = None,
                 dport: int | None = None, seed: int = 0) -> str:
    """src/dst: packed addresses (4 or 16 bytes); sport/dport: ports, or ICMP type/code."""
    one_way = False
    if sport is not None and (proto == ICMP or proto == ICMP6):
        pairs = ICMP4_PAIRS if proto == ICMP else ICMP6_PAIRS
        if sport in pairs:
            dport = pairs[sport]
        else:
            one_way = True
    has_ports = sport is not None and proto in PORTED
    if not one_way and (src, sport or 0) > (dst, dport or 0):
        src, dst, sport, dport = dst, src, dport, sport
    if has_ports:
        tail = PROTO_PORTS.pack(proto, 0, sport, dport)
    else:
        tail = PROTO.pack(proto, 0)
    digest = hashlib.sha1(SEED.pack(seed) + src + dst + tail).digest()
    return "1:" + binascii.b2a_base64(digest, newline=False).decode("ascii")
