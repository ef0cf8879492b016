"""VXLAN (RFC 7348): flags (I marks a valid VNI), 24-bit VNI, then Ethernet.

As Wireshark does, a frame whose I flag is clear is still decoded; its VNI is recorded as
read (RFC 7348 makes the other flag bits "ignored on receipt")."""
from __future__ import annotations

import numpy as np

from .keys import LINKTYPE, LINKTYPE_ETHERNET, UDP
from .layout import Field, Layout
from .protocol import Line, Protocol, Tunnel

VXLAN = Layout("vxlan", 8, {"flags": Field(0, 1), "vni": Field(4, 3)})
LINE = Line("vxlan", (1 << 24) - 1)
TUNNEL = Tunnel("vxlan", "vni")


def decode(f, rows: np.ndarray) -> None:
    rows = f.need(rows, VXLAN.min_len)
    pos = f.pos[rows]
    vni = VXLAN.read(f.buf, pos, "vni")
    f.table.add_tunnel(rows, TUNNEL.id, vni)
    f.table.set_line(rows, LINE.id, vni)
    f.goto(rows, pos + VXLAN.min_len, LINKTYPE, LINKTYPE_ETHERNET)


PROTOCOL = Protocol(layers={"vxlan": decode}, routes=[(UDP, 4789, "vxlan")],
                    lines=(LINE,), tunnels=(TUNNEL,))
