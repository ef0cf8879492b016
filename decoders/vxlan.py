"""VXLAN (RFC 7348): flags (I marks a valid VNI), 24-bit VNI, then Ethernet.

As Wireshark does, a frame whose I flag is clear is still decoded; its VNI is recorded as
read (RFC 7348 makes the other flag bits "ignored on receipt")."""
from __future__ import annotations

import numpy as np

from .keys import LINE_VXLAN, LINKTYPE, LINKTYPE_ETHERNET, TUN_VXLAN
from .layout import Field, Layout

VXLAN = Layout("vxlan", 8, {"flags": Field(0, 1), "vni": Field(4, 3)})


def decode(f, rows: np.ndarray) -> None:
    rows = f.need(rows, VXLAN.min_len)
    pos = f.pos[rows]
    vni = VXLAN.read(f.buf, pos, "vni")
    f.table.add_tunnel(rows, TUN_VXLAN, vni)
    f.table.set_line(rows, LINE_VXLAN, vni)
    f.goto(rows, pos + VXLAN.min_len, LINKTYPE, LINKTYPE_ETHERNET)
