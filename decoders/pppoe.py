"""PPPoE session stage (RFC 2516, EtherType 0x8864): version/type 0x11, code 0, session id,
length (of the PPP frame that follows, which starts with its protocol field and has no
address/control field); the PPP frame goes to the ppp layer, as in L2TP and PPTP."""
from __future__ import annotations

import numpy as np

from .keys import ETHERTYPE, LINKTYPE
from .layout import Field, Layout
from .protocol import Faults, Line, Protocol, Tunnel

PPPOE = Layout("pppoe", 6, {
    "ver_type": Field(0, 1), "code": Field(1, 1), "session": Field(2, 2), "length": Field(4, 2),
})
PPP_TYPE = 0x880B
PROTO_LEN = 2    # the PPP frame holds at least its protocol field
LINE = Line("pppoe", 65535)
TUNNEL = Tunnel("pppoe", "session_id")
FAULTS = Faults("version", "code", "length")


def decode(f, rows: np.ndarray) -> None:
    rows, pos, blk = f.header(rows, PPPOE)
    ver_type, code, length = (PPPOE.cut(blk, k) for k in ("ver_type", "code", "length"))
    bad = f.malformed(rows, (ver_type != 0x11, FAULTS.version), (code != 0, FAULTS.code),
                      (length < PROTO_LEN, FAULTS.length))
    keep = ~bad
    rows, pos, blk, length = rows[keep], pos[keep], blk[keep], length[keep]
    session = PPPOE.cut(blk, "session")
    f.shrink(rows, pos + PPPOE.min_len + length)
    f.table.add_tunnel(rows, TUNNEL, session)
    f.table.set_line(rows, LINE, session)
    f.goto(rows, pos + PPPOE.min_len, ETHERTYPE, PPP_TYPE)


PROTOCOL = Protocol(layers={"pppoe": decode},
                    routes=[(LINKTYPE, 51, "pppoe"),       # PPPoE session header, no Ethernet
                            (ETHERTYPE, 0x8864, "pppoe")],
                    lines=(LINE,), tunnels=(TUNNEL,), faults=FAULTS)
