"""TCP (RFC 9293): ports, flags, and the payload after the data offset."""
from __future__ import annotations

import numpy as np

from .keys import IPPROTO, MALFORMED, TRUNCATED
from .layout import Field, Layout, uint
from .protocol import Faults, Protocol

TCP = Layout("tcp", 20, {
    "sport": Field(0, 2), "dport": Field(2, 2), "seq": Field(4, 4),
    "data_off": Field(12, 1, shift=4), "flags": Field(12, 2, mask=0x01FF),
})
# the flags field's bits (RFC 9293 3.1; ECE and CWR, RFC 3168)
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
FAULTS = Faults("data_offset")
TCP_C = TCP.compiled


def decode(f, rows: np.ndarray) -> None:
    rows, pos, blk, _, _, end = f.ports(rows, TCP)
    f.table.tcp_flags[rows] = TCP.cut(blk, "flags")
    f.table.tcp_seq[rows] = TCP.cut(blk, "seq")
    payload = pos + TCP.cut(blk, "data_off") * 4
    rows, payload, end = f.drop(rows, payload < pos + TCP.min_len, MALFORMED, payload, end,
                                fault=FAULTS.data_offset)
    rows, payload = f.drop(rows, payload > end, TRUNCATED, payload)
    f.stop(rows, payload)


def fused(buf, g, p, e, at, nl, flat, c):
    """Ends the row at its payload."""
    payload = p + uint(buf, p, TCP_C.data_off) * 4
    if p + TCP_C.min_len > e or payload < p + TCP_C.min_len or payload > e:
        return False, p, e, -1, 0
    c.sport[g], c.dport[g] = uint(buf, p, TCP_C.sport), uint(buf, p, TCP_C.dport)
    c.tcp_flags[g], c.tcp_seq[g] = uint(buf, p, TCP_C.flags), uint(buf, p, TCP_C.seq)
    return True, payload, e, -1, 0


PROTOCOL = Protocol(layers={"tcp": decode}, routes=[(IPPROTO, 6, "tcp")], faults=FAULTS,
                    fused={"tcp": fused})
