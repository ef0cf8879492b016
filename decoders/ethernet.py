"""Ethernet II / 802.3 and 802.1Q / 802.1ad VLAN tags."""
from __future__ import annotations

import numpy as np

from .keys import ETHERTYPE, LINKTYPE
from .layout import Field, Layout, uint
from .protocol import Line, Protocol
from .table import set_line_at

ETH = Layout("eth", 14, {"dst": Field(0, 6), "src": Field(6, 6), "type": Field(12, 2)})
VLAN = Layout("vlan", 4, {"tci": Field(0, 2), "vid": Field(0, 2, mask=0x0FFF),
                          "type": Field(2, 2)})

LLC_BELOW = 0x0600  # an EtherType field below this is an 802.3 length: LLC follows
LLC_KEY = 0x0000  # the key such frames go on with
PRIORITY_ONLY = 0   # a tag's VLAN id that names no VLAN (a priority-tagged frame)
VLAN_ID = r"0*[1-9]\d{0,3}"      # in a line key: any id but PRIORITY_ONLY
VLAN_LINE = Line("vlan", 4095, pattern=VLAN_ID)
QINQ_LINE = Line("qinq", 4095, sep=".", pattern=rf"{VLAN_ID}\.({VLAN_ID}|\*)")
ETH_C, VLAN_C = ETH.compiled, VLAN.compiled


def _next_type(etype: np.ndarray) -> np.ndarray:
    return np.where(etype < LLC_BELOW, LLC_KEY, etype)


def decode_eth(f, rows: np.ndarray) -> None:
    rows, pos, blk = f.header(rows, ETH)
    etype = ETH.cut(blk, "type")
    # 802.3 frames carry their length: bytes past it are padding
    short = etype < LLC_BELOW
    if short.any():
        f.shrink(rows[short], pos[short] + 14 + etype[short])
    f.goto(rows, pos + ETH.min_len, ETHERTYPE, _next_type(etype))


def decode_vlan(f, rows: np.ndarray) -> None:
    rows, pos, blk = f.header(rows, VLAN)
    vid, etype = (VLAN.cut(blk, k) for k in ("vid", "type"))
    add_vlan(f.table, rows, vid, f.prev_layer(rows) == f.layer)
    f.goto(rows, pos + VLAN.min_len, ETHERTYPE, _next_type(etype))


def add_vlan(t, rows, vid, prev_is_vlan) -> None:
    """A tag right after another tag makes a QinQ pair (outer.inner); a lone tag a VLAN.
    Tags beyond the second keep the pair of the first two. A tag of VLAN id 0 only carries
    a priority (802.1Q: the frame is the port's untagged one): it names no line, and a tag
    after it is a lone one."""
    kind = t.line_kind[rows]
    named = prev_is_vlan & ((kind == VLAN_LINE) | (kind == QINQ_LINE))   # by the tag before
    stacked = named & (kind == VLAN_LINE) & (vid != PRIORITY_ONLY)
    t.line_kind[rows[stacked]] = QINQ_LINE
    t.line_b[rows[stacked]] = vid[stacked]
    lone = ~named & (vid != PRIORITY_ONLY)
    t.set_line(rows[lone], VLAN_LINE, vid[lone])


# The compiled loop's steps (kernel.py): a row's header at p (captured bytes up to e), to
# (passed, p and e after it, next namespace and key; namespace -1: the row ends here).

def fused_eth(buf, g, p, e, at, nl, flat, c):
    if p + ETH_C.min_len > e:
        return False, p, e, -1, 0
    key = uint(buf, p, ETH_C.type)
    if key < LLC_BELOW:
        e = min(e, p + ETH_C.min_len + key)
        key = LLC_KEY
    return True, p + ETH_C.min_len, e, ETHERTYPE, key


def fused_vlan(buf, g, p, e, at, nl, flat, c):
    if p + VLAN_C.min_len > e:
        return False, p, e, -1, 0
    vid = uint(buf, p, VLAN_C.vid)
    kind = c.line_kind[g]                           # as add_vlan
    named = c.layers[g, nl - 1] == at and (kind == VLAN_LINE or kind == QINQ_LINE)
    if vid == PRIORITY_ONLY:
        pass
    elif not named:
        set_line_at(c, g, VLAN_LINE, vid, 0)
    elif kind == VLAN_LINE:
        c.line_kind[g] = QINQ_LINE
        c.line_b[g] = vid
    key = uint(buf, p, VLAN_C.type)
    return True, p + VLAN_C.min_len, e, ETHERTYPE, LLC_KEY if key < LLC_BELOW else key


PROTOCOL = Protocol(
    layers={"eth": decode_eth, "vlan": decode_vlan},
    fused={"eth": fused_eth, "vlan": fused_vlan},
    routes=[(LINKTYPE, 1, "eth"), *((ETHERTYPE, tpid, "vlan") for tpid in (0x8100, 0x88A8,
                                                                          0x9100, 0x9200))],
    lines=(VLAN_LINE, QINQ_LINE))
