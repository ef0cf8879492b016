"""UDP (RFC 768): ports, length, and dispatch of tunnels by well-known port."""
from __future__ import annotations

import numpy as np

from .keys import IPPROTO, MALFORMED, TRUNCATED, UDP as UDP_PORT
from .layout import Field, Layout
from .protocol import Faults, Protocol

UDP = Layout("udp", 8, {"sport": Field(0, 2), "dport": Field(2, 2), "len": Field(4, 2)})
PORTS = 4
FAULTS = Faults("length")


def decode(f, rows: np.ndarray) -> None:
    rows = f.need(rows, PORTS)
    pos = f.pos[rows]
    blk = UDP.block(f.buf, pos)
    sport, dport = UDP.cut(blk, "sport"), UDP.cut(blk, "dport")
    f.table.set_transport(rows, sport, dport)
    end = f.end[rows]
    rows, pos, blk, sport, dport, end = f.drop(rows, pos + UDP.min_len > end, TRUNCATED,
                                               pos, blk, sport, dport, end)
    length = UDP.cut(blk, "len")
    # length 0 is a jumbogram's (RFC 2675): the IP packet gives the length
    bad = (length < UDP.min_len) & (length != 0)
    rows, pos, length, sport, dport, end = f.drop(rows, bad, MALFORMED, pos, length, sport, dport,
                                                  end, fault=FAULTS.length)
    f.end[rows] = np.where(length > 0, np.minimum(end, pos + length), end)
    # as Wireshark does: the lower port names the protocol when both are known
    low, high = np.minimum(sport, dport), np.maximum(sport, dport)
    port = np.where(f.dispatch.known(UDP_PORT, low), low, high)
    f.goto(rows, pos + UDP.min_len, UDP_PORT, port)


PROTOCOL = Protocol(layers={"udp": decode}, routes=[(IPPROTO, 17, "udp")], faults=FAULTS)
