"""Cisco MetaData (EtherType 0x8909): the TrustSec security group tag (SGT) inline.

On Ethernet: version, length, option, SGT, then the EtherType of what follows (8 bytes).
In GRE (DMVPN with TrustSec), as Wireshark reads it, the EtherType comes first.
"""
from __future__ import annotations

import numpy as np

from .keys import ETHERTYPE
from .layout import Field, Layout
from .protocol import Protocol

CMD = Layout("cmd", 8, {"gre_type": Field(0, 2), "eth_type": Field(6, 2)})


def decode(f, rows: np.ndarray) -> None:
    rows, pos, blk = f.header(rows, CMD)
    in_gre = f.prev_layer(rows) == f.dispatch.id("gre")
    etype = np.where(in_gre, CMD.cut(blk, "gre_type"), CMD.cut(blk, "eth_type"))
    f.goto(rows, pos + CMD.min_len, ETHERTYPE, etype)


PROTOCOL = Protocol(layers={"cmd": decode}, routes=[(ETHERTYPE, 0x8909, "cmd")])
