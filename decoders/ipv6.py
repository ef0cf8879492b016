"""IPv6 (RFC 8200) and the extension headers that sit between it and the transport:
hop-by-hop, routing, destination options (invisible layers), fragment, and AH."""
from __future__ import annotations

import numpy as np

from .ipv4 import FRAGMENT_NEXT
from .keys import ETHERTYPE, IPPROTO, LINKTYPE, MALFORMED, PPP
from .layout import Field, Layout, u64, uint
from .protocol import Faults, Protocol
from .table import NONE, set_ip_at

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
IPV6_C = IPV6.compiled


def decode(f, rows: np.ndarray) -> None:
    rows, pos, blk = f.header(rows, IPV6)
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
    rows, pos, blk = f.header(rows, EXT)
    nxt, hlen = (EXT.cut(blk, k) for k in ("next", "len"))
    length = (hlen + 1) * 8
    keep = f.enough(rows, length)
    _chain(f, rows[keep], pos[keep], nxt[keep], length[keep])


def decode_fragment(f, rows: np.ndarray) -> None:
    rows, pos, blk = f.header(rows, FRAG)
    nxt, offset, more = (FRAG.cut(blk, k) for k in ("next", "offset", "more"))
    later = offset != 0
    f.table.proto[rows] = nxt
    # offset 0 without more fragments is an atomic fragment (RFC 6946): a whole packet
    f.table.frag_at[rows] = np.where(later | (more != 0), pos, -1)
    # a later fragment ends here, as a first one of no transport's datagram does (ipv4.py)
    ends = later | ((more != 0) & ~np.isin(nxt, FRAGMENT_NEXT))
    f.stop(rows[ends], pos[ends] + 8)
    _chain(f, rows[~ends], pos[~ends], nxt[~ends], 8)


def decode_ah(f, rows: np.ndarray) -> None:
    """Authentication header (RFC 4302): (len + 2) * 4 bytes, in IPv4 and IPv6 alike."""
    rows, pos, blk = f.header(rows, AH)
    nxt, hlen = (AH.cut(blk, k) for k in ("next", "len"))
    length = (hlen + 2) * 4
    bad = length < AH.min_len
    f.fail(rows[bad], MALFORMED, fault=FAULTS.ah_length)
    rows, pos, nxt, length = rows[~bad], pos[~bad], nxt[~bad], length[~bad]
    keep = f.enough(rows, length)
    _chain(f, rows[keep], pos[keep], nxt[keep], length[keep])


def fused(buf, g, p, e, at, nl, flat, c):
    if p + IPV6_C.min_len > e or uint(buf, p, IPV6_C.version) != 6:
        return False, p, e, -1, 0
    plen, proto = uint(buf, p, IPV6_C.payload_len), uint(buf, p, IPV6_C.next)
    src, dst = p + IPV6_C.src[0], p + IPV6_C.dst[0]
    set_ip_at(c, g, 6, u64(buf, src), u64(buf, src + 8), u64(buf, dst), u64(buf, dst + 8),
              proto, NONE)
    end = min(e, p + IPV6_C.min_len + plen) if plen != 0 else e
    return True, p + IPV6_C.min_len, end, IPPROTO, proto


PROTOCOL = Protocol(
    fused={"ipv6": fused},
    layers={"ipv6": decode, "ipv6-ext": (decode_extension, False),
            "ipv6-frag": (decode_fragment, False), "ah": decode_ah},
    routes=[(LINKTYPE, 229, "ipv6"), (ETHERTYPE, 0x86DD, "ipv6"), (PPP, 0x0057, "ipv6"),
            (IPPROTO, 0, "ipv6-ext"),       # hop-by-hop options
            (IPPROTO, 43, "ipv6-ext"),      # routing
            (IPPROTO, 44, "ipv6-frag"),
            (IPPROTO, 60, "ipv6-ext"),      # destination options
            (IPPROTO, 51, "ah")],
    faults=FAULTS)
