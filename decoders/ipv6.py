"""IPv6 (RFC 8200) and the extension headers that sit between it and the transport:
hop-by-hop, routing, destination options (invisible layers), fragment, and AH."""
from __future__ import annotations

import numpy as np

from .keys import ETHERTYPE, IPPROTO, LINKTYPE, MALFORMED, PPP
from .layout import Field, Layout
from .protocol import Faults, Protocol

IPV6 = Layout("ipv6", 40, {
    "version": Field(0, 1, shift=4), "payload_len": Field(4, 2), "next": Field(6, 1),
    "hop_limit": Field(7, 1),
    "src": Field(8, 16), "dst": Field(24, 16),
})
EXT = Layout("ipv6-ext", 8, {"next": Field(0, 1), "len": Field(1, 1)})
FRAG = Layout("ipv6-frag", 8, {"next": Field(0, 1), "offset": Field(2, 2, shift=3),
                                "more": Field(3, 1, mask=1), "id": Field(4, 4)})
AH = Layout("ah", 12, {"next": Field(0, 1), "len": Field(1, 1), "spi": Field(4, 4)})
FAULTS = Faults("version", "ah_length")


def decode(f, rows: np.ndarray) -> None:
    rows = f.need(rows, IPV6.min_len)
    pos = f.pos[rows]
    blk = IPV6.block(f.buf, pos)
    version = IPV6.cut(blk, "version")
    bad = version != 6
    f.fail(rows[bad], MALFORMED, fault=FAULTS.version)
    keep = ~bad
    rows, pos, blk = rows[keep], pos[keep], blk[keep]
    plen, nxt = IPV6.cut(blk, "payload_len"), IPV6.cut(blk, "next")
    # payload length 0 is a jumbogram or offload: the frame is the packet
    f.shrink(rows, np.where(plen > 0, pos + 40 + plen, f.end[rows]))
    f.table.set_ip(rows, 6, IPV6.cut(blk, "src"), IPV6.cut(blk, "dst"), nxt, -1)
    f.goto(rows, pos + 40, IPPROTO, nxt)


def _chain(f, rows, pos, nxt, length) -> None:
    f.table.proto[rows] = nxt
    f.goto(rows, pos + length, IPPROTO, nxt)


def decode_extension(f, rows: np.ndarray) -> None:
    """Hop-by-hop, routing and destination options: (len + 1) * 8 bytes."""
    rows = f.need(rows, EXT.min_len)
    pos = f.pos[rows]
    nxt, hlen = EXT.read(f.buf, pos, "next", "len")
    length = (hlen + 1) * 8
    keep = f.enough(rows, length)
    _chain(f, rows[keep], pos[keep], nxt[keep], length[keep])


def decode_fragment(f, rows: np.ndarray) -> None:
    rows = f.need(rows, FRAG.min_len)
    pos = f.pos[rows]
    nxt, offset, more = FRAG.read(f.buf, pos, "next", "offset", "more")
    later = offset != 0
    f.table.proto[rows] = nxt
    # offset 0 without more fragments is an atomic fragment (RFC 6946): a whole packet
    f.table.frag_at[rows] = np.where(later | (more != 0), pos, -1)
    f.stop(rows[later], pos[later] + 8)
    _chain(f, rows[~later], pos[~later], nxt[~later], 8)


def decode_ah(f, rows: np.ndarray) -> None:
    """Authentication header (RFC 4302): (len + 2) * 4 bytes, in IPv4 and IPv6 alike."""
    rows = f.need(rows, AH.min_len)
    pos = f.pos[rows]
    nxt, hlen = AH.read(f.buf, pos, "next", "len")
    length = (hlen + 2) * 4
    bad = length < AH.min_len
    f.fail(rows[bad], MALFORMED, fault=FAULTS.ah_length)
    rows, pos, nxt, length = rows[~bad], pos[~bad], nxt[~bad], length[~bad]
    keep = f.enough(rows, length)
    _chain(f, rows[keep], pos[keep], nxt[keep], length[keep])


PROTOCOL = Protocol(
    layers={"ipv6": decode, "ipv6-ext": (decode_extension, False),
            "ipv6-frag": (decode_fragment, False), "ah": decode_ah},
    routes=[(LINKTYPE, 229, "ipv6"), (ETHERTYPE, 0x86DD, "ipv6"), (PPP, 0x0057, "ipv6"),
            (IPPROTO, 0, "ipv6-ext"),       # hop-by-hop options
            (IPPROTO, 43, "ipv6-ext"),      # routing
            (IPPROTO, 44, "ipv6-frag"),
            (IPPROTO, 60, "ipv6-ext"),      # destination options
            (IPPROTO, 51, "ah")],
    faults=FAULTS)
