"""L2TP: version 2 (RFC 2661) and version 3 (RFC 3931) over UDP port 1701 (layer "l2tp"),
and version 3 straight over IP protocol 115 (layer "l2tpv3").

L2TPv2: flags T (control), L (length present), S (Ns/Nr present), O (offset size present,
then that many bytes of padding), P; version 2; tunnel id, session id. Data carries PPP.
Control messages (T, which needs L and S) are counted and not decoded further. Version 1
on the port is L2F: unsupported.

L2TPv3 data: session id (32 bits), a cookie of 0, 4 or 8 bytes and an L2-specific
sublayer (none, or the 4-byte default one), both agreed by control messages that a sensor
rarely sees; then the pseudowire, which we take to be Ethernet. Options "l2tpv3_cookie_len"
(0, 4, 8) and "l2tpv3_l2_specific" ("none" or "default") fix them. Left to detection (the
default), each row gets the smallest of the skips they allow (cookie + sublayer: 0, 4, 8 or
12 bytes) at which the bytes look like an Ethernet header carrying IPv4, IPv6, ARP or a VLAN
tag: the source address is not a group address and, for IP, the next byte has the right
version nibble. Where none does, the smallest skip (Wireshark's default: no cookie, no
sublayer). Session id 0 over IP, and T over UDP, mark a control message (flags T, L, S,
version 3, length, control connection id, Ns, Nr): its length bounds it.
"""
from __future__ import annotations

import numpy as np

from .keys import (ETHERTYPE, INTERNAL, IPPROTO, L2TP_CONTROL, LINKTYPE, UDP, UNSUPPORTED)
from .layout import Field, Layout, Parts, gather_block, part, part_at, read_uint, uint
from .protocol import Faults, Line, Protocol, Tunnel
from .table import add_tunnel_at, set_line_at

L2TP = Layout("l2tp", 2, {"flags": Field(0, 2), "version": Field(1, 1, mask=0x0F)})
V3_UDP = Layout("l2tp", 8, {"session": Field(4, 4)})
V3_IP = Layout("l2tpv3", 4, {"session": Field(0, 4)})
V3_CONTROL = Layout("l2tpv3-control", 12, {
    "flags": Field(0, 2), "version": Field(1, 1, mask=0x0F), "length": Field(2, 2),
    "ccid": Field(4, 4),
})
T, L, S, O = 0x8000, 0x4000, 0x0800, 0x0200
# L2TPv2's header (the offset padding, of the size its last part says, follows it)
V2_PARTS = Parts((0, "flags", 2), (L, "length", 2), (0, "tunnel", 2), (0, "session", 2),
                 (S, "ns_nr", 4), (O, "offset_size", 2))
L2F, V2, V3 = 1, 2, 3
PPP_TYPE = 0x880B

COOKIE_LENS = (0, 4, 8)
SUBLAYER_LENS = {"none": 0, "default": 4}
ETH_TYPES = (0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8)
LINE = Line("l2tp", 65535, sep="/")
V3_LINE = Line("l2tpv3", (1 << 32) - 1)
TUNNEL = Tunnel("l2tp", "tunnel_id", "session_id", vpn="l2tp")
V3_TUNNEL = Tunnel("l2tpv3", "session_id", vpn="l2tpv3")
# a version other than 1-3; a control message without L and S; a length shorter than the
# header; an L2TPv3 control header that is not one
FAULTS = Faults("version", "control_flags", "length", "v3_control")
L2TP_C, V2_C = L2TP.compiled, V2_PARTS.table
LENGTH_PART, TUNNEL_PART, SESSION_PART = (V2_PARTS.index[n]
                                           for n in ("length", "tunnel", "session"))


def decode(f, rows: np.ndarray) -> None:
    """Over UDP: the version field tells L2TPv2 from L2TPv3."""
    rows, pos, blk = f.header(rows, L2TP)
    flags, version = L2TP.cut(blk, "flags"), L2TP.cut(blk, "version")
    f.fail(rows[version == L2F], UNSUPPORTED)
    f.malformed(rows, ((version != L2F) & (version != V2) & (version != V3), FAULTS.version))
    _v2(f, rows[version == V2], pos[version == V2], flags[version == V2])
    v3 = version == V3
    control = v3 & ((flags & T) != 0)
    _v3_control(f, rows[control], pos[control])
    data = v3 & ~control
    if data.any():
        rows = f.need(rows[data], V3_UDP.min_len)
        pos = f.pos[rows]
        _v3_data(f, rows, pos + V3_UDP.min_len, V3_UDP.read(f.buf, pos, "session"))


def decode_ip(f, rows: np.ndarray) -> None:
    """L2TPv3 over IP: session id, or 0 and a control message."""
    rows, pos, blk = f.header(rows, V3_IP)
    session = V3_IP.cut(blk, "session")
    control = session == 0
    _v3_control(f, rows[control], pos[control] + V3_IP.min_len)
    data = ~control
    _v3_data(f, rows[data], pos[data] + V3_IP.min_len, session[data])


def decode_control(f, rows: np.ndarray) -> None:
    """An L2TP control message: the row ends here, ok."""
    f.stop(rows)


def _v2(f, rows, pos, flags) -> None:
    if not rows.size:
        return
    bad = f.malformed(rows, (((flags & T) != 0) & ((flags & (L | S)) != (L | S)),
                             FAULTS.control_flags))
    rows, pos, flags = rows[~bad], pos[~bad], flags[~bad]
    with_length = (flags & L) != 0
    fixed = V2_PARTS.offset(flags)
    keep = f.enough(rows, fixed)
    rows, pos, flags, with_length, fixed = (x[keep] for x in (rows, pos, flags, with_length,
                                                              fixed))
    part = lambda name: read_uint(f.buf, pos + V2_PARTS.offset(flags, name), 2)  # noqa: E731
    length = np.where(with_length, part("length"), 0)
    padding = np.zeros(len(rows), dtype=np.int64)
    offset = (flags & O) != 0
    if offset.any():
        padding[offset] = part("offset_size")[offset]
    hdr_len = fixed + padding
    bad = f.malformed(rows, (with_length & (length < hdr_len), FAULTS.length))
    rows, pos, flags, with_length, hdr_len, length = (
        x[~bad] for x in (rows, pos, flags, with_length, hdr_len, length))
    f.shrink(rows[with_length], (pos + length)[with_length])
    keep = f.enough(rows, hdr_len)
    rows, pos, flags, hdr_len = (x[keep] for x in (rows, pos, flags, hdr_len))
    tunnel, session = part("tunnel"), part("session")
    f.table.add_tunnel(rows, TUNNEL, tunnel, session)
    f.table.set_line(rows, LINE, tunnel, session)
    control = (flags & T) != 0
    f.goto(rows, pos + hdr_len, np.where(control, INTERNAL, ETHERTYPE),
           np.where(control, L2TP_CONTROL, PPP_TYPE))


def _v3_control(f, rows, start) -> None:
    """The L2TPv3 control header at start: T, L, S, version 3; its length bounds it."""
    if not rows.size:
        return
    keep = f.enough(rows, V3_CONTROL.min_len, start)
    rows, start = rows[keep], start[keep]
    flags, version, length = V3_CONTROL.read(f.buf, start, "flags", "version", "length")
    bad = f.malformed(rows, (((flags & (T | L)) != (T | L)) | (version != V3)
                             | (length < V3_CONTROL.min_len), FAULTS.v3_control))
    rows, start, length = rows[~bad], start[~bad], length[~bad]
    f.shrink(rows, start + length)
    f.table.add_tunnel(rows, V3_TUNNEL, 0)
    f.goto(rows, start + V3_CONTROL.min_len, INTERNAL, L2TP_CONTROL)


def _v3_data(f, rows, start, session) -> None:
    if not rows.size:
        return
    f.table.add_tunnel(rows, V3_TUNNEL, session)
    f.table.set_line(rows, V3_LINE, session)
    skip = _v3_skip(f, rows, start)
    keep = f.enough(rows, 0, start + skip)
    f.goto(rows[keep], (start + skip)[keep], LINKTYPE, 1)


def _v3_skip(f, rows, start) -> np.ndarray:
    """Bytes of cookie and L2-specific sublayer before the Ethernet frame, per row."""
    cookie = f.options.get("l2tpv3_cookie_len", "detect")
    sublayer = SUBLAYER_LENS.get(f.options.get("l2tpv3_l2_specific", "detect"))
    # anything but a known value is left to detection (the configuration checks values)
    cookies = (cookie,) if cookie in COOKIE_LENS else COOKIE_LENS
    sublayers = (sublayer,) if sublayer is not None else tuple(SUBLAYER_LENS.values())
    skips = sorted({c + s for c in cookies for s in sublayers})
    skip = np.full(len(rows), skips[0], dtype=np.int64)
    if len(skips) > 1:
        for candidate in reversed(skips):   # the smallest skip that fits wins
            skip[_looks_like_eth(f, rows, start + candidate)] = candidate
    return skip


def _looks_like_eth(f, rows, pos) -> np.ndarray:
    blk = gather_block(f.buf, pos, 15)
    etype = (blk[:, 12].astype(np.int64) << 8) | blk[:, 13]
    nibble = blk[:, 14] >> 4
    ip_ok = np.where(etype == 0x0800, nibble == 4, np.where(etype == 0x86DD, nibble == 6, True))
    return ((pos + 15 <= f.end[rows]) & ((blk[:, 6] & 1) == 0) & np.isin(etype, ETH_TYPES)
            & ip_ok)


def fused(buf, g, p, e, at, nl, flat, c):
    """L2TPv2 data without an offset field, then PPP (control messages, offsets, L2TPv3,
    malformed headers: the generic decoder)."""
    flags = uint(buf, p, L2TP_C.flags)
    hdr_len = part_at(flags, V2_C, len(V2_C))
    if p + hdr_len > e or uint(buf, p, L2TP_C.version) != V2 or flags & (T | O):
        return False, p, e, -1, 0
    end = e
    if flags & L:
        length = part(buf, p, flags, V2_C, LENGTH_PART)
        end = min(e, p + length)
        if length < hdr_len or p + hdr_len > end:
            return False, p, e, -1, 0
    tunnel = part(buf, p, flags, V2_C, TUNNEL_PART)
    session = part(buf, p, flags, V2_C, SESSION_PART)
    add_tunnel_at(c, g, TUNNEL, tunnel, session)
    set_line_at(c, g, LINE, tunnel, session)
    return True, p + hdr_len, end, ETHERTYPE, PPP_TYPE


PROTOCOL = Protocol(
    layers={"l2tp": decode, "l2tpv3": decode_ip, "l2tp-control": (decode_control, False)},
    fused={"l2tp": fused},
    routes=[(UDP, 1701, "l2tp"), (IPPROTO, 115, "l2tpv3"),
            (INTERNAL, L2TP_CONTROL, "l2tp-control")],
    lines=(LINE, V3_LINE), tunnels=(TUNNEL, V3_TUNNEL), faults=FAULTS)
