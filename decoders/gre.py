"""GRE version 0 (RFC 2784, key and sequence number from RFC 2890) and version 1, the
enhanced GRE of PPTP (RFC 2637).

Version 0: flags C (checksum and reserved1, 4 bytes), K (key, 4 bytes), S (sequence, 4
bytes), then the protocol type, an EtherType. A set routing bit (RFC 1701 source routes)
is not decoded: malformed. ERSPAN (0x88BE) is type II when S is set and type I, which
has no header of its own, when not (as Wireshark tells them apart). WCCP (0x883E) may put
a 4-byte redirect header before the IP packet.

Version 1: K always set, the key holds payload length (16) and call id (16); S adds a
sequence number and A (0x0080) an acknowledgement number; PPP follows.
"""
from __future__ import annotations

import numpy as np

from .keys import ERSPAN_I, ETHERTYPE, INTERNAL, IP_BY_VERSION, IPPROTO, UDP
from .layout import Field, Layout, Parts, part, part_at, read_uint, uint
from .protocol import Faults, Line, Protocol, Tunnel
from .table import add_tunnel_at, set_line_at

GRE = Layout("gre", 4, {
    "flags": Field(0, 2), "version": Field(1, 1, mask=0x07), "proto": Field(2, 2),
    # PPTP: the key field is payload length and call id
    "payload_len": Field(4, 2), "call_id": Field(6, 2),
})
C, R, K, S, A = 0x8000, 0x4000, 0x2000, 0x1000, 0x0080
# the words that the flags add, each 4 bytes: checksum (and reserved1), key, sequence; PPTP's
# acknowledgement number last
WORDS = Parts((0, "fixed", 4), (C, "checksum", 4), (K, "key", 4), (S, "seq", 4))
PPTP_WORDS = Parts(*WORDS.parts, (A, "ack", 4))
PPP_TYPE = 0x880B
ERSPAN_II = 0x88BE
WCCP = 0x883E
WCCP_REDIRECT = 4
LINE = Line("gre", (1 << 32) - 1)
TUNNEL = Tunnel("gre", "key", vpn="gre")
PPTP = Tunnel("pptp", "call_id", vpn="pptp")
# version not 0 or 1; routing present (RFC 1701); PPTP's flags other than K (with S, A)
# or a protocol other than PPP
FAULTS = Faults("version", "routing", "pptp_flags", "pptp_proto")
GRE_C, WORDS_C, KEY_WORD = GRE.compiled, WORDS.table, WORDS.index["key"]


def decode(f, rows: np.ndarray) -> None:
    rows, pos, blk = f.header(rows, GRE)
    flags, version, proto = (GRE.cut(blk, k) for k in ("flags", "version", "proto"))
    has = lambda bit: (flags & bit) != 0  # noqa: E731
    v0, v1 = version == 0, version == 1
    bad = f.malformed(rows, (~v0 & ~v1, FAULTS.version), (v0 & has(R), FAULTS.routing),
                      (v1 & ((flags & (C | R | K)) != K), FAULTS.pptp_flags),
                      (v1 & (proto != PPP_TYPE), FAULTS.pptp_proto))
    hdr_len = np.where(v1, PPTP_WORDS.offset(flags), WORDS.offset(flags))
    keep = ~bad
    keep[keep] = f.enough(rows[keep], hdr_len[keep])
    if v1.any():
        _pptp(f, rows[keep & v1], (pos + hdr_len)[keep & v1], blk[keep & v1])
    keep &= v0
    rows, start, blk, flags, proto = (rows[keep], (pos + hdr_len)[keep], blk[keep],
                                      flags[keep], proto[keep])
    keyed = (flags & K) != 0
    key = np.where(keyed, read_uint(f.buf, f.pos[rows] + WORDS.offset(flags, "key"), 4), 0)
    f.table.add_tunnel(rows, TUNNEL, key)
    f.table.set_line(rows[keyed], LINE, key[keyed])
    erspan_i = (proto == ERSPAN_II) & ((flags & S) == 0)
    ns, value = np.where(erspan_i, INTERNAL, ETHERTYPE), np.where(erspan_i, ERSPAN_I, proto)
    wccp = proto == WCCP
    if wccp.any():
        # WCCPv2 adds a redirect header: skip it unless an IPv4 header starts right here.
        # Only captured bytes count (the byte at the end is the next frame's), and the
        # cursor stays inside the frame: a cut redirect header ends the row truncated.
        at, end = start[wccp], f.end[rows[wccp]]
        v4_here = (at < end) & ((f.buf[at] >> 4) == 4)
        start[wccp] = np.minimum(at + WCCP_REDIRECT * ~v4_here, end)
        ns[wccp], value[wccp] = INTERNAL, IP_BY_VERSION
    f.goto(rows, start, ns, value, aux=np.where(erspan_i, ERSPAN_I, 0))


def _pptp(f, rows, start, blk) -> None:
    """Enhanced GRE: an acknowledgement alone has no payload."""
    length = GRE.cut(blk, "payload_len")
    f.table.add_tunnel(rows, PPTP, GRE.cut(blk, "call_id"))
    f.shrink(rows, start + length)
    empty = length == 0
    f.stop(rows[empty], start[empty])
    f.goto(rows[~empty], start[~empty], ETHERTYPE, PPP_TYPE)


def fused(buf, g, p, e, at, nl, flat, c):
    """Version 0 (PPTP's version 1, routing, ERSPAN type I and WCCP: the generic decoder)."""
    flags, proto = uint(buf, p, GRE_C.flags), uint(buf, p, GRE_C.proto)
    hdr_len = part_at(flags, WORDS_C, len(WORDS_C))
    if (p + hdr_len > e or uint(buf, p, GRE_C.version) != 0 or flags & R or proto == WCCP
            or (proto == ERSPAN_II and not flags & S)):
        return False, p, e, -1, 0
    key = part(buf, p, flags, WORDS_C, KEY_WORD) if flags & K else 0
    if flags & K:
        set_line_at(c, g, LINE, key, 0)
    add_tunnel_at(c, g, TUNNEL, key, 0)
    c.aux[g] = 0                            # as decode's goto: not type I
    return True, p + hdr_len, e, ETHERTYPE, proto


PROTOCOL = Protocol(layers={"gre": decode}, fused={"gre": fused},
                    routes=[(IPPROTO, 47, "gre"),
                            (UDP, 4754, "gre"),             # GRE in UDP (RFC 8086)
                            (ETHERTYPE, 0x6558, "eth")],    # transparent Ethernet bridging
                    lines=(LINE,), tunnels=(TUNNEL, PPTP), faults=FAULTS)
