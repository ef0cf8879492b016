"""ERSPAN (draft-foschiano-erspan), carried by GRE.

Type I has no header: GRE says so (aux = ERSPAN_I) and Ethernet starts here.
Type II (version 1) has 8 bytes: version, VLAN, COS, encapsulation, T, session id (10
bits), index. Type III (version 2) has 12: version, VLAN, COS, BSO, T, session id,
timestamp, SGT, P, frame type, hardware id, D, granularity, O; O adds an 8-byte
platform-specific subheader. Frame type 0 is Ethernet, 2 an IP packet.
"""
from __future__ import annotations

import numpy as np

from .keys import (ERSPAN_I, ETHERTYPE, INTERNAL, IP_BY_VERSION, LINKTYPE, LINKTYPE_ETHERNET,
                   MALFORMED, UNSUPPORTED)
from .layout import Field, Layout, uint
from .protocol import Faults, Line, Protocol, Tunnel
from .table import add_tunnel_at, set_line_at

ERSPAN = Layout("erspan", 8, {
    "version": Field(0, 1, shift=4), "vlan": Field(0, 2, mask=0x0FFF),
    "session": Field(2, 2, mask=0x03FF),
    # type III only
    "frame_type": Field(10, 2, shift=10, mask=0x1F), "o": Field(11, 1, mask=0x01),
})
TYPE_II, TYPE_III = 1, 2        # values of the version field
LEN_II, LEN_III, PLATFORM = 8, 12, 8
FT_ETHERNET, FT_IP = 0, 2
LINE = Line("erspan", 1023)
TUNNEL = Tunnel("erspan", "session_id")
FAULTS = Faults("version")
ERSPAN_C = ERSPAN.compiled


def decode(f, rows: np.ndarray) -> None:
    t = f.table
    type_i = f.aux[rows] == ERSPAN_I
    t.add_tunnel(rows[type_i], TUNNEL, 0)
    f.goto(rows[type_i], f.pos[rows[type_i]], LINKTYPE, LINKTYPE_ETHERNET)

    rows = f.need(rows[~type_i], LEN_II)
    pos = f.pos[rows]
    blk = ERSPAN.block(f.buf, pos, LEN_III)
    version = ERSPAN.cut(blk, "version")
    bad = (version != TYPE_II) & (version != TYPE_III)
    f.fail(rows[bad], MALFORMED, fault=FAULTS.version)
    rows, pos, blk, version = rows[~bad], pos[~bad], blk[~bad], version[~bad]
    iii = version == TYPE_III
    hdr_len = np.where(iii, LEN_III + PLATFORM * (iii & (ERSPAN.cut(blk, "o") == 1)), LEN_II)
    keep = f.enough(rows, hdr_len)
    rows, pos, blk, iii, hdr_len = rows[keep], pos[keep], blk[keep], iii[keep], hdr_len[keep]
    session = ERSPAN.cut(blk, "session")
    t.add_tunnel(rows, TUNNEL, session)
    t.set_line(rows, LINE, session)
    frame_type = np.where(iii, ERSPAN.cut(blk, "frame_type"), FT_ETHERNET)
    other = (frame_type != FT_ETHERNET) & (frame_type != FT_IP)
    f.fail(rows[other], UNSUPPORTED)
    go = ~other
    ip = frame_type[go] == FT_IP
    f.goto(rows[go], pos[go] + hdr_len[go], np.where(ip, INTERNAL, LINKTYPE),
           np.where(ip, IP_BY_VERSION, LINKTYPE_ETHERNET))


def fused(buf, g, p, e, at, nl, flat, c):
    """Type II (types I and III: the generic decoder)."""
    if c.aux[g] == ERSPAN_I or p + LEN_II > e or uint(buf, p, ERSPAN_C.version) != TYPE_II:
        return False, p, e, -1, 0
    session = uint(buf, p, ERSPAN_C.session)
    add_tunnel_at(c, g, TUNNEL, session, 0)
    set_line_at(c, g, LINE, session, 0)
    return True, p + LEN_II, e, LINKTYPE, LINKTYPE_ETHERNET


PROTOCOL = Protocol(layers={"erspan": decode}, fused={"erspan": fused},
                    routes=[(ETHERTYPE, 0x88BE, "erspan"),  # type II
                            (ETHERTYPE, 0x22EB, "erspan"),  # type III
                            (INTERNAL, ERSPAN_I, "erspan")],
                    lines=(LINE,), tunnels=(TUNNEL,), faults=FAULTS)
