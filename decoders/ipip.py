"""IP in IP (RFC 2003, IP protocol 4) and IPv6 in IP (RFC 4213, protocol 41): no header of
its own; records the tunnel and hands the inner packet to the IP version that the outer
header's protocol number names."""
from __future__ import annotations

import numpy as np

from .keys import ETHERTYPE, IPPROTO
from .protocol import Protocol, Tunnel

IPPROTO_IPV4 = 4
TUNNEL = Tunnel("ipip", vpn="ip-in-ip")


def decode(f, rows: np.ndarray) -> None:
    f.table.add_tunnel(rows, TUNNEL)
    inner = np.where(f.table.proto[rows] == IPPROTO_IPV4, 0x0800, 0x86DD)
    f.goto(rows, f.pos[rows], ETHERTYPE, inner)


PROTOCOL = Protocol(layers={"ipip": (decode, False)},
                    routes=[(IPPROTO, 4, "ipip"), (IPPROTO, 41, "ipip")], tunnels=(TUNNEL,))
