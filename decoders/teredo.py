"""Teredo (RFC 4380): IPv6 over UDP 3544 through the internet's NATs. Before the IPv6
packet may come an authentication indicator (0x0001, id length, authentication length,
client id, authentication value, 8-byte nonce, confirmation byte) and then an origin
indication (0x0000, port, IPv4 address: 8 bytes). A payload that is not IPv6 after them
is not Teredo: malformed. A tunnel to the internet: internet_vpn reports it where its
outer endpoint is public."""
from __future__ import annotations

import numpy as np

from .keys import ETHERTYPE, ETHERTYPE_IPV6, UDP
from .layout import Field, Layout
from .protocol import Faults, Protocol, Tunnel

AUTH = Layout("teredo-auth", 4, {"indicator": Field(0, 2), "id_len": Field(2, 1),
                                 "au_len": Field(3, 1)})
ORIGIN = Layout("teredo-origin", 8, {"indicator": Field(0, 2)})
AUTH_TYPE, ORIGIN_TYPE = 0x0001, 0x0000
AUTH_FIXED = AUTH.min_len + 8 + 1           # with the nonce and the confirmation byte
IPV6_NIBBLE = 6
TUNNEL = Tunnel("teredo", vpn="teredo")
FAULTS = Faults("not_ipv6")


def decode(f, rows: np.ndarray) -> None:
    rows = f.need(rows, 1)
    pos = f.pos[rows].copy()
    end = f.end[rows]
    auth = (pos + AUTH.min_len <= end) & (AUTH.read(f.buf, pos, "indicator") == AUTH_TYPE)
    id_len, au_len = AUTH.read(f.buf, pos, "id_len", "au_len")
    pos = np.where(auth, pos + AUTH_FIXED + id_len + au_len, pos)
    origin = ((pos + ORIGIN.min_len <= end)
              & (ORIGIN.read(f.buf, np.minimum(pos, end), "indicator") == ORIGIN_TYPE))
    pos = np.where(origin, pos + ORIGIN.min_len, pos)
    keep = f.enough(rows, 1, pos)
    rows, pos = rows[keep], pos[keep]
    ipv6 = (f.buf[pos] >> 4) == IPV6_NIBBLE
    f.malformed(rows, (~ipv6, FAULTS.not_ipv6))
    rows, pos = rows[ipv6], pos[ipv6]
    f.table.add_tunnel(rows, TUNNEL)
    f.goto(rows, pos, ETHERTYPE, ETHERTYPE_IPV6)


PROTOCOL = Protocol(layers={"teredo": decode}, routes=[(UDP, 3544, "teredo")],
                    tunnels=(TUNNEL,), faults=FAULTS)
