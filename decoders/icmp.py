"""ICMP and ICMPv6: type and code; the rest is payload (errors quote an IP header, which
is not a tunnel and is not decoded)."""
from __future__ import annotations

import numpy as np

from .keys import IPPROTO
from .layout import Field, Layout
from .protocol import Protocol

ICMP = Layout("icmp", 4, {"type": Field(0, 1), "code": Field(1, 1)})
HEADER = 8  # type, code, checksum and the 4-byte rest of header


def decode(f, rows: np.ndarray) -> None:
    rows = f.need(rows, ICMP.min_len)
    f.table.icmp_type[rows], f.table.icmp_code[rows] = ICMP.read(f.buf, f.pos[rows], "type", "code")
    f.stop(rows, np.minimum(f.pos[rows] + HEADER, f.end[rows]))


PROTOCOL = Protocol(layers={"icmp": decode, "icmpv6": decode},
                    routes=[(IPPROTO, 1, "icmp"), (IPPROTO, 58, "icmpv6")])
