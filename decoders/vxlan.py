"""VXLAN (RFC 7348): flags (I marks a valid VNI), 24-bit VNI, then Ethernet.

As Wireshark does, a frame whose I flag is clear is still decoded; its VNI is recorded as
read (RFC 7348 makes the other flag bits "ignored on receipt")."""
from __future__ import annotations

import numpy as np

from .keys import LINKTYPE, LINKTYPE_ETHERNET, UDP
from .layout import Field, Layout, uint
from .protocol import Line, Protocol, Tunnel
from .table import add_tunnel_at, set_line_at

VXLAN = Layout("vxlan", 8, {"flags": Field(0, 1), "vni": Field(4, 3)})
LINE = Line("vxlan", (1 << 24) - 1)
TUNNEL = Tunnel("vxlan", "vni")
VXLAN_C = VXLAN.compiled


def decode(f, rows: np.ndarray) -> None:
    rows, pos, blk = f.header(rows, VXLAN)
    vni = VXLAN.cut(blk, "vni")
    f.table.add_tunnel(rows, TUNNEL, vni)
    f.table.set_line(rows, LINE, vni)
    f.goto(rows, pos + VXLAN.min_len, LINKTYPE, LINKTYPE_ETHERNET)


def fused(buf, g, p, e, at, nl, flat, c):
    if p + VXLAN_C.min_len > e:
        return False, p, e, -1, 0
    vni = uint(buf, p, VXLAN_C.vni)
    add_tunnel_at(c, g, TUNNEL, vni, 0)
    set_line_at(c, g, LINE, vni, 0)
    return True, p + VXLAN_C.min_len, e, LINKTYPE, LINKTYPE_ETHERNET


PROTOCOL = Protocol(layers={"vxlan": decode}, routes=[(UDP, 4789, "vxlan")], fused={"vxlan": fused},
                    lines=(LINE,), tunnels=(TUNNEL,))
