"""TCP (RFC 9293): ports, flags, and the payload after the data offset."""
from __future__ import annotations

import numpy as np

from .keys import MALFORMED
from .layout import Field, Layout

TCP = Layout("tcp", 20, {
    "sport": Field(0, 2), "dport": Field(2, 2), "seq": Field(4, 4),
    "data_off": Field(12, 1, shift=4), "flags": Field(12, 2, mask=0x01FF),
})
PORTS = 4  # bytes enough to know the ports, as Wireshark shows them on a cut header


def decode(f, rows: np.ndarray) -> None:
    rows = f.need(rows, PORTS)
    pos = f.pos[rows]
    blk = TCP.block(f.buf, pos)
    sport, dport = TCP.cut(blk, "sport"), TCP.cut(blk, "dport")
    f.table.set_transport(rows, sport, dport)
    whole = f.enough(rows, TCP.min_len)
    rows, pos, blk = rows[whole], pos[whole], blk[whole]
    f.table.tcp_flags[rows] = TCP.cut(blk, "flags")
    hdr_len = TCP.cut(blk, "data_off") * 4
    bad = hdr_len < TCP.min_len
    f.fail(rows[bad], MALFORMED)
    rows, pos, hdr_len = rows[~bad], pos[~bad], hdr_len[~bad]
    whole = f.enough(rows, hdr_len)
    f.stop(rows[whole], pos[whole] + hdr_len[whole])
