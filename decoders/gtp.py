"""GTP-U (3GPP TS 29.281) over UDP 2152: the 4G/5G core's user-plane tunnel, between the
base station and the core (VPDN users' traffic rides in it).

Flags (version 3 bits, 1; PT 1 for GTP; E, S, PN), message type, length (of what follows
the first 8 bytes), TEID. Any of E, S, PN adds 4 bytes (sequence number, N-PDU number, next
extension header type); with E, extension headers follow, each its length (in 4-byte
words) first and the next one's type last, until type 0. A G-PDU (type 255) carries the
user's IPv4 or IPv6 packet; other messages (echo, error indication, end marker) and a
payload that is not IP end the row, ok, at what follows the header.
"""
from __future__ import annotations

import numpy as np

from .keys import ETHERTYPE, MALFORMED, UDP
from .layout import Field, Layout, Parts, read_uint
from .protocol import Faults, Protocol, Tunnel

GTP = Layout("gtp", 8, {
    "flags": Field(0, 1), "version": Field(0, 1, shift=5), "pt": Field(0, 1, shift=4, mask=1),
    "type": Field(1, 1), "length": Field(2, 2), "teid": Field(4, 4),
})
E, S, PN = 0x04, 0x02, 0x01
# any of E, S, PN adds the sequence number, N-PDU number and next extension header type
PARTS = Parts((0, "fixed", GTP.min_len), (E | S | PN, "optional", 4))
NEXT_EXT = GTP.min_len + 3   # the next extension header type's offset
G_PDU = 0xFF
MAX_EXTENSIONS = 8           # more extension headers than any 3GPP message holds: malformed
TUNNEL = Tunnel("gtp", "teid")
# version not 1; PT 0 (GTP'); a length shorter than the optional words; an extension header
# of length 0 or past the message, or too many
FAULTS = Faults("version", "gtp_prime", "length", "extension")


def decode(f, rows: np.ndarray) -> None:
    rows, pos, blk = f.header(rows, GTP)
    flags, version, pt, length = (GTP.cut(blk, k) for k in ("flags", "version", "pt", "length"))
    hdr_len = PARTS.offset(flags)
    bad = f.malformed(rows, (version != 1, FAULTS.version), (pt != 1, FAULTS.gtp_prime),
                      (length < hdr_len - GTP.min_len, FAULTS.length))
    rows, pos, blk, flags, hdr_len, length = f.drop(rows, bad, None, pos, blk, flags, hdr_len,
                                                    length)
    f.shrink(rows, pos + GTP.min_len + length)
    keep = f.enough(rows, hdr_len)
    rows, pos, blk, flags, hdr_len = rows[keep], pos[keep], blk[keep], flags[keep], hdr_len[keep]
    f.table.add_tunnel(rows, TUNNEL, GTP.cut(blk, "teid"))
    start = pos + hdr_len
    # extension headers, a round for the rows that still have one
    ext = np.flatnonzero((flags & E) != 0)
    kind = read_uint(f.buf, pos[ext] + NEXT_EXT, 1)
    bad = np.zeros(len(rows), dtype=bool)
    for _ in range(MAX_EXTENSIONS + 1):
        ext, kind = ext[kind != 0], kind[kind != 0]
        if not ext.size:
            break
        at = start[ext]
        ok = at + 1 <= f.end[rows[ext]]
        words = np.where(ok, read_uint(f.buf, at, 1), 0)
        after = at + 4 * words
        ok &= (words > 0) & (after <= f.end[rows[ext]])
        bad[ext[~ok]] = True
        ext, at, after = ext[ok], at[ok], after[ok]
        start[ext] = after
        kind = read_uint(f.buf, after - 1, 1)
    bad[ext] = True                          # still more after MAX_EXTENSIONS
    rows, start, blk = f.drop(rows, bad, MALFORMED, start, blk, fault=FAULTS.extension)
    # a G-PDU's IP packet, by its version nibble; anything else is the row's payload
    end = f.end[rows]
    nibble = np.where(start < end, f.buf[np.minimum(start, len(f.buf) - 1)] >> 4, 0)
    ip = (GTP.cut(blk, "type") == G_PDU) & ((nibble == 4) | (nibble == 6))
    f.stop(rows[~ip], start[~ip])
    f.goto(rows[ip], start[ip], ETHERTYPE, np.where(nibble[ip] == 4, 0x0800, 0x86DD))


PROTOCOL = Protocol(layers={"gtp": decode}, routes=[(UDP, 2152, "gtp")],
                    tunnels=(TUNNEL,), faults=FAULTS)
