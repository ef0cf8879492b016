"""UDP (RFC 768): ports, length, and dispatch of tunnels by well-known port. The header of a
first fragment's datagram gives its ports and no more: the tunnel it carries is decoded once
the datagram is whole (ipv4.py)."""
from __future__ import annotations

import numpy as np

from .keys import IPPROTO, KEY_SPACE, MALFORMED, UDP as UDP_PORT
from .layout import Field, Layout, uint
from .protocol import Faults, Protocol

UDP = Layout("udp", 8, {"sport": Field(0, 2), "dport": Field(2, 2), "len": Field(4, 2)})
FAULTS = Faults("length")
UDP_C = UDP.compiled


def decode(f, rows: np.ndarray) -> None:
    rows, pos, blk, sport, dport, end = f.ports(rows, UDP)
    length = UDP.cut(blk, "len")
    # length 0 is a jumbogram's (RFC 2675): the IP packet gives the length
    bad = (length < UDP.min_len) & (length != 0)
    rows, pos, length, sport, dport, end = f.drop(rows, bad, MALFORMED, pos, length, sport, dport,
                                                  end, fault=FAULTS.length)
    f.end[rows] = np.where(length > 0, np.minimum(end, pos + length), end)
    # as Wireshark does: the lower port names the protocol when both are known
    low, high = np.minimum(sport, dport), np.maximum(sport, dport)
    port = np.where(f.dispatch.known(UDP_PORT, low), low, high)
    fragment = f.table.frag_at[rows] >= 0
    if fragment.any():
        f.stop(rows[fragment], pos[fragment] + UDP.min_len)
        rows, pos, port = rows[~fragment], pos[~fragment], port[~fragment]
    f.goto(rows, pos + UDP.min_len, UDP_PORT, port)


def fused(buf, g, p, e, at, nl, flat, c):
    """Goes on by port, as decode does."""
    length = uint(buf, p, UDP_C.len)
    if p + UDP_C.min_len > e or (length < UDP_C.min_len and length != 0):
        return False, p, e, -1, 0
    sport, dport = uint(buf, p, UDP_C.sport), uint(buf, p, UDP_C.dport)
    c.sport[g], c.dport[g] = sport, dport
    end = min(e, p + length) if length != 0 else e
    if c.frag_at[g] >= 0:                   # a fragment's: no further
        return True, p + UDP_C.min_len, end, -1, 0
    low, high = min(sport, dport), max(sport, dport)
    return (True, p + UDP_C.min_len, end, UDP_PORT,
            low if flat[UDP_PORT * KEY_SPACE + low] != 0 else high)


PROTOCOL = Protocol(layers={"udp": decode}, routes=[(IPPROTO, 17, "udp")], faults=FAULTS,
                    fused={"udp": fused})
