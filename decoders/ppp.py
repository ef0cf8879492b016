"""PPP (RFC 1661) in HDLC-like framing (RFC 1662): an optional 0xFF 0x03 address/control
field, then a protocol field of two bytes or, compressed (RFC 1661 6.5), of one odd byte.

On the PPP_HDLC link type a frame may instead be Cisco HDLC (address 0x0F or 0x8F,
control 0x00, then an EtherType), as tcpdump's ppp_hdlc_if_print allows; the C_HDLC link
type is always Cisco HDLC (decode_chdlc).
"""
from __future__ import annotations

import numpy as np

from . import nonip
from .keys import ETHERTYPE, LINKTYPE, PPP as PPP_PROTO
from .layout import Field, Layout, uint
from .protocol import Protocol

PPP = Layout("ppp", 1, {
    "address": Field(0, 1), "control": Field(1, 1), "byte2": Field(2, 1), "byte3": Field(3, 1),
    "chdlc_type": Field(2, 2),
})
ADDRESS, CONTROL = 0xFF, 0x03
CHDLC_ADDRESS = 0x0F   # 0x8F for broadcast: the same with the high bit set
LINKTYPE_PPP_HDLC = 50
PPP_C = PPP.compiled


def decode(f, rows: np.ndarray) -> None:
    rows, pos, blk = f.header(rows, PPP)
    address, control = PPP.cut(blk, "address"), PPP.cut(blk, "control")
    if (f.table.linktype[rows] == LINKTYPE_PPP_HDLC).any():
        chdlc = (((address & 0x7F) == CHDLC_ADDRESS) & (control == 0)
                 & (f.table.linktype[rows] == LINKTYPE_PPP_HDLC) & (f.table.nlayers[rows] == 1))
        if chdlc.any():
            _chdlc(f, rows[chdlc], pos[chdlc], PPP.cut(blk[chdlc], "chdlc_type"))
            keep = ~chdlc
            rows, pos, blk, address, control = (rows[keep], pos[keep], blk[keep],
                                                address[keep], control[keep])
    # a lone 0xFF is a cut address field, not a protocol
    framed = (address == ADDRESS) & ((control == CONTROL) | (pos + 2 > f.end[rows]))
    first = np.where(framed, PPP.cut(blk, "byte2"), address)
    second = np.where(framed, PPP.cut(blk, "byte3"), control)
    # RFC 1661: a protocol's first byte is even and its last odd; an odd first byte is
    # a compressed one-byte protocol field
    compressed = (first & 1) == 1
    hdr_len = 2 * framed + np.where(compressed, 1, 2)
    keep = f.enough(rows, hdr_len)
    proto = np.where(compressed, first, (first << 8) | second)
    f.goto(rows[keep], pos[keep] + hdr_len[keep], PPP_PROTO, proto[keep])


def decode_chdlc(f, rows: np.ndarray) -> None:
    """Cisco HDLC: address (0x0F unicast, 0x8F broadcast), control 0, EtherType."""
    rows = f.need(rows, 4)
    pos = f.pos[rows]
    f.goto(rows, pos + 4, ETHERTYPE, PPP.read(f.buf, pos, "chdlc_type"))


def _chdlc(f, rows, pos, etype) -> None:
    keep = f.enough(rows, 4)
    f.goto(rows[keep], pos[keep] + 4, ETHERTYPE, etype[keep])


def fused(buf, g, p, e, at, nl, flat, c):
    """As decode, never the first layer here, so never Cisco HDLC. Bytes past the end are
    read only where they decide nothing."""
    if p + 1 > e:
        return False, p, e, -1, 0
    address = uint(buf, p, PPP_C.address)
    control = uint(buf, p, PPP_C.control) if p + 1 < e else -1
    framed = address == ADDRESS and (control == CONTROL or p + 2 > e)
    high, low = address, control
    if framed:
        high = uint(buf, p, PPP_C.byte2)
        low = uint(buf, p, PPP_C.byte3) if p + 3 < e else -1
    compressed = (high & 1) == 1
    hdr_len = 2 * np.int64(framed) + (1 if compressed else 2)
    if p + hdr_len > e:
        return False, p, e, -1, 0
    return True, p + hdr_len, e, PPP_PROTO, high if compressed else (high << 8) | low


# PPP protocols that carry no IP: link, network and compression control, authentication
PPP_CONTROL = (
    0xC021,  # LCP
    0xC023,  # PAP
    0xC025,  # link quality report
    0xC223,  # CHAP
    0xC227,  # EAP
    0x8021,  # IPCP
    0x8057,  # IPV6CP
    0x8281,  # MPLSCP
    0x80FD,  # CCP
    0x80FB,  # single-link CCP
    0x8053,  # ECP
    0x8031,  # BCP
    0x803D,  # multilink control
    0x8207,  # CDPCP
    0x0207,  # Cisco discovery protocol
)
PROTOCOL = Protocol(
    layers={"ppp": decode, "ppp-control": nonip.decode, "chdlc": decode_chdlc},
    fused={"ppp": fused},
    routes=[(LINKTYPE, 9, "ppp"),
            (LINKTYPE, LINKTYPE_PPP_HDLC, "ppp"),  # PPP in HDLC-like framing (or Cisco HDLC)
            (LINKTYPE, 104, "chdlc"),              # Cisco HDLC
            (ETHERTYPE, 0x880B, "ppp"),            # GRE (PPTP) and L2TPv2 data
            *((PPP_PROTO, proto, "ppp-control") for proto in PPP_CONTROL)])
