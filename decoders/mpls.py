"""MPLS label stack (RFC 3032) and what follows its bottom, as Wireshark guesses it
(BCP 128 / RFC 4928, RFC 4385): a first nibble of 4 is IPv4, 6 is IPv6, 1 is a
pseudowire associated channel (non-IP), 0 is an Ethernet pseudowire with or without a
control word, anything else an Ethernet pseudowire without one where the bytes look like an
Ethernet header (see below; Wireshark shows such payloads as data), else unsupported.

With a first nibble of 0, Wireshark (pw_eth_heuristic) asks which start, 4 bytes in (after
a control word) or right here, looks more like an Ethernet header, preferring the control
word on a tie. It judges by the MAC vendors it knows; we judge by what the bytes allow: the
source address is not a group address, the EtherType is one we have a decoder for, and
universally administered addresses count more than locally administered ones.

The line is the bottom-of-stack label: the service label that names the VPN or pseudowire.
"""
from __future__ import annotations

import numpy as np

from .keys import (DEPTH, ETH_NO_CW, ETHERTYPE, ETHERTYPE_IPV4, ETHERTYPE_IPV6, INTERNAL,
                   IPPROTO, LINKTYPE, LINKTYPE_ETHERNET, NON_IP, PPP, PW_ETH_CW, UDP,
                   UNSUPPORTED)
from .layout import Field, Layout, gather_block, uint
from .protocol import Line, Protocol, Tunnel
from .table import add_tunnel_at, set_line_at

SHIM = Layout("mpls", 4, {"label": Field(0, 4, shift=12, mask=0xFFFFF),
                          "bos": Field(2, 1, mask=1)})
BOS_BYTE = 2      # the byte of a shim that holds the bottom-of-stack bit (its lowest)
CONTROL_WORD = 4
MAX_LABELS = 16   # the stack is read in one gather of this many shims; deeper: DEPTH
STACK = MAX_LABELS * SHIM.min_len
GAL = 13          # generic associated channel label (RFC 5586): an ACH follows
ETH_HEADER = 14
LINE = Line("mpls", (1 << 20) - 1)
TUNNEL = Tunnel("mpls", "label")
SHIM_C = SHIM.compiled


def decode(f, rows: np.ndarray) -> None:
    rows = f.need(rows, SHIM.min_len)
    pos = f.pos[rows]
    # the whole stack at once: MAX_LABELS shims per row, bottom = the first with S set
    stack = gather_block(f.buf, pos, STACK).reshape(len(rows), MAX_LABELS, SHIM.min_len)
    bottom = (stack[:, :, BOS_BYTE] & 1) == 1   # SHIM's "bos" field, for every shim
    found = bottom.any(axis=1)
    depth = np.where(found, bottom.argmax(axis=1) + 1, MAX_LABELS)
    stack_len = depth * SHIM.min_len
    deep = ~found & (pos + stack_len <= f.end[rows])
    f.fail(rows[deep], DEPTH)
    keep = ~deep
    rows, pos, stack, depth, stack_len = (
        x[keep] for x in (rows, pos, stack, depth, stack_len))
    keep = f.enough(rows, stack_len)    # cut inside the stack
    rows, pos, stack, depth = rows[keep], pos[keep] + stack_len[keep], stack[keep], depth[keep]
    label = SHIM.cut(stack[np.arange(len(rows)), depth - 1], "label")
    f.table.set_line(rows, LINE, label)
    f.table.add_tunnel(rows, TUNNEL, label)
    f.pos[rows] = pos

    ach = label == GAL
    f.fail(rows[ach], NON_IP)
    rows, pos = rows[~ach], pos[~ach]
    keep = f.enough(rows, 1, pos)
    rows, pos = rows[keep], pos[keep]
    nibble = f.buf[pos].astype(np.int64) >> 4
    f.fail(rows[nibble == 1], NON_IP)  # PW associated channel (RFC 4385)
    ip = (nibble == 4) | (nibble == 6)
    here = np.zeros(len(rows), dtype=np.int64)
    cw = np.zeros(len(rows), dtype=bool)
    pw = ~ip & (nibble != 1)
    if pw.any():
        here[pw] = _eth_score(f, rows[pw], pos[pw])
        zero = pw & (nibble == 0)
        cw[zero] = _eth_score(f, rows[zero], pos[zero] + CONTROL_WORD) >= here[zero]
    # other nibbles: Ethernet without a control word where it looks like one (Wireshark
    # shows such payloads as data; other pseudowire types are not decoded)
    other = ~ip & (nibble > 1) & (here == 0)
    f.fail(rows[other], UNSUPPORTED)
    ns = np.where(ip, ETHERTYPE, INTERNAL)
    value = np.select([nibble == 4, nibble == 6, cw], [ETHERTYPE_IPV4, ETHERTYPE_IPV6, PW_ETH_CW], ETH_NO_CW)
    go = (nibble != 1) & ~other
    f.goto(rows[go], pos[go], ns[go], value[go])


def _eth_score(f, rows: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """How much the bytes at pos look like an Ethernet header: 0 not, 1 with a locally
    administered address, 2 with universally administered ones."""
    blk = gather_block(f.buf, pos, ETH_HEADER)
    dst0, src0 = blk[:, 0], blk[:, 6]
    etype = (blk[:, 12].astype(np.int64) << 8) | blk[:, 13]
    plausible = ((pos + ETH_HEADER <= f.end[rows]) & ((src0 & 1) == 0) & (etype >= 0x0600)
                 & f.dispatch.known(ETHERTYPE, etype))
    local = ((dst0 | src0) & 2) != 0
    return plausible * np.where(local, 1, 2)


def decode_pw_cw(f, rows: np.ndarray) -> None:
    """Pseudowire control word (RFC 4448 / RFC 4385): 4 bytes, then Ethernet."""
    rows = f.need(rows, CONTROL_WORD)
    f.goto(rows, f.pos[rows] + CONTROL_WORD, LINKTYPE, LINKTYPE_ETHERNET)


def fused(buf, g, p, e, at, nl, flat, c):
    """The stack down to its bottom, then IPv4 or IPv6 (the pseudowire guesses and an
    associated channel: the generic decoder)."""
    q, depth = p, 0
    while depth < MAX_LABELS and q + SHIM_C.min_len <= e and not uint(buf, q, SHIM_C.bos):
        q += SHIM_C.min_len
        depth += 1
    if depth == MAX_LABELS or q + SHIM_C.min_len > e:        # no bottom captured
        return False, p, e, -1, 0
    label = uint(buf, q, SHIM_C.label)
    q += SHIM_C.min_len
    nibble = np.int64(buf[q]) >> 4 if q < e else 0
    if label == GAL or (nibble != 4 and nibble != 6):
        return False, p, e, -1, 0
    set_line_at(c, g, LINE, label, 0)
    add_tunnel_at(c, g, TUNNEL, label, 0)
    return True, q, e, ETHERTYPE, ETHERTYPE_IPV4 if nibble == 4 else ETHERTYPE_IPV6


PROTOCOL = Protocol(
    layers={"mpls": decode, "pw-cw": (decode_pw_cw, False)}, fused={"mpls": fused},
    routes=[(ETHERTYPE, 0x8847, "mpls"),
            (ETHERTYPE, 0x8848, "mpls"),    # multicast
            (UDP, 6635, "mpls"),            # RFC 7510
            (IPPROTO, 137, "mpls"),         # MPLS in IP (RFC 4023)
            (PPP, 0x0281, "mpls"), (PPP, 0x0283, "mpls"),
            (INTERNAL, PW_ETH_CW, "pw-cw"),
            (INTERNAL, ETH_NO_CW, "eth")],
    lines=(LINE,), tunnels=(TUNNEL,))
