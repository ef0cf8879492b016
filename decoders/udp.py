"""UDP (RFC 768): ports, length, and dispatch of tunnels by well-known port."""
from __future__ import annotations

import numpy as np

from .keys import MALFORMED, UDP as UDP_PORT
from .layout import Field, Layout

UDP = Layout("udp", 8, {"sport": Field(0, 2), "dport": Field(2, 2), "len": Field(4, 2)})
PORTS = 4


def decode(f, rows: np.ndarray) -> None:
    rows = f.need(rows, PORTS)
    pos = f.pos[rows]
    blk = UDP.block(f.buf, pos)
    sport, dport = UDP.cut(blk, "sport"), UDP.cut(blk, "dport")
    f.table.set_transport(rows, sport, dport)
    whole = f.enough(rows, UDP.min_len)
    rows, pos, blk, sport, dport = rows[whole], pos[whole], blk[whole], sport[whole], dport[whole]
    length = UDP.cut(blk, "len")
    # length 0 is a jumbogram's (RFC 2675): the IP packet gives the length
    bad = (length < UDP.min_len) & (length != 0)
    f.fail(rows[bad], MALFORMED)
    rows, pos, length, sport, dport = rows[~bad], pos[~bad], length[~bad], sport[~bad], dport[~bad]
    f.shrink(rows, np.where(length > 0, pos + length, f.end[rows]))
    # as Wireshark does: the lower port names the protocol when both are known
    low, high = np.minimum(sport, dport), np.maximum(sport, dport)
    port = np.where(f.dispatch.known(UDP_PORT, low), low, high)
    f.goto(rows, pos + UDP.min_len, UDP_PORT, port)
