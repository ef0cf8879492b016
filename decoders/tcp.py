"""TCP (RFC 9293): ports, flags, and the payload after the data offset."""
from __future__ import annotations

import numpy as np

from .keys import IPPROTO, MALFORMED, TRUNCATED
from .layout import Field, Layout
from .protocol import Faults, Protocol

TCP = Layout("tcp", 20, {
    "sport": Field(0, 2), "dport": Field(2, 2), "seq": Field(4, 4),
    "data_off": Field(12, 1, shift=4), "flags": Field(12, 2, mask=0x01FF),
})
PORTS = 4  # bytes enough to know the ports, as Wireshark shows them on a cut header
FAULTS = Faults("data_offset")


def decode(f, rows: np.ndarray) -> None:
    rows = f.need(rows, PORTS)
    pos = f.pos[rows]
    blk = TCP.block(f.buf, pos)
    f.table.set_transport(rows, TCP.cut(blk, "sport"), TCP.cut(blk, "dport"))
    end = f.end[rows]
    rows, pos, blk, end = f.drop(rows, pos + TCP.min_len > end, TRUNCATED, pos, blk, end)
    f.table.tcp_flags[rows] = TCP.cut(blk, "flags")
    f.table.tcp_seq[rows] = TCP.cut(blk, "seq")
    payload = pos + TCP.cut(blk, "data_off") * 4
    rows, payload, end = f.drop(rows, payload < pos + TCP.min_len, MALFORMED, payload, end,
                                fault=FAULTS.data_offset)
    rows, payload = f.drop(rows, payload > end, TRUNCATED, payload)
    f.stop(rows, payload)


PROTOCOL = Protocol(layers={"tcp": decode}, routes=[(IPPROTO, 6, "tcp")], faults=FAULTS)
