"""IPv4 (RFC 791): options skipped by IHL; only the first fragment carries ports. A fragment's
row records where its header is (`frag_at`), for reassembly (decoders/reassembly.py), and
its decoding goes no further than the transport header a first fragment opens with
(FRAGMENT_NEXT): what the datagram carries past that (a tunnel: L2TP, GRE, IP in IP...) is
decoded once it is whole, as Wireshark and Zeek read it; decoded from a first fragment, a
tunnel would name a line that its later fragments do not, and its inner packet would be cut
at the fragment's end."""
from __future__ import annotations

import numpy as np

from .keys import ETHERTYPE, IPPROTO, LINKTYPE, PPP, TRUNCATED
from .layout import IPV4_MAPPED, Field, Layout, uint, v4_to_pair
from .protocol import Faults, Protocol
from .table import NONE, set_ip_at

IPV4 = Layout("ipv4", 20, {
    "version": Field(0, 1, shift=4), "ihl": Field(0, 1, mask=0x0F),
    "total_len": Field(2, 2), "id": Field(4, 2),
    "frag": Field(6, 2, mask=0x3FFF),      # the more-fragments flag and the offset (8-byte units)
    "ttl": Field(8, 1), "proto": Field(9, 1), "src": Field(12, 4), "dst": Field(16, 4),
})
OFFSET_BITS = 0x1FFF    # of "frag": the fragment offset; MORE_FRAGMENTS the flag
MORE_FRAGMENTS = 0x2000
# the protocols a first fragment is decoded into (their header gives its ports or type): ICMP,
# TCP, UDP, ICMPv6; a first fragment of any other ends at its IP header (UDP's own decoder
# ends one after its header: udp.py)
FRAGMENT_NEXT = (1, 6, 17, 58)
FAULTS = Faults("version", "header_length", "total_length")
IPV4_C = IPV4.compiled


def decode(f, rows: np.ndarray) -> None:
    rows, pos, blk = f.header(rows, IPV4)
    version, ihl, total = (IPV4.cut(blk, k) for k in ("version", "ihl", "total_len"))
    hdr_len = ihl * 4
    # total length 0 is what segmentation offload leaves: the frame is the packet
    bad = f.malformed(rows, (version != 4, FAULTS.version), (ihl < 5, FAULTS.header_length),
                      ((total < hdr_len) & (total != 0), FAULTS.total_length))
    rows, pos, blk, hdr_len, total = f.drop(rows, bad, None, pos, blk, hdr_len, total)
    end = f.end[rows]
    end = np.where(total > 0, np.minimum(end, pos + total), end)
    f.end[rows] = end
    proto, frag, src, dst = (IPV4.cut(blk, k) for k in ("proto", "frag", "src", "dst"))
    later_fragment = (frag & OFFSET_BITS) != 0
    # the fixed header is captured: its addresses count even where the options are cut short
    # (the row still ends truncated), as Wireshark shows them
    f.table.set_ip(rows, 4, v4_to_pair(src), v4_to_pair(dst), proto, np.where(frag != 0, pos, -1))
    nxt = pos + hdr_len
    rows, nxt, proto, later_fragment = f.drop(rows, nxt > end, TRUNCATED, nxt, proto, later_fragment)
    # a later fragment, or a first one of a datagram that is no transport's, ends here
    ends = later_fragment | ((f.table.frag_at[rows] >= 0) & ~np.isin(proto, FRAGMENT_NEXT))
    if ends.any():
        f.stop(rows[ends], nxt[ends])
        rows, nxt, proto = rows[~ends], nxt[~ends], proto[~ends]
    f.goto(rows, nxt, IPPROTO, proto)


def fused(buf, g, p, e, at, nl, flat, c):
    if p + IPV4_C.min_len > e:
        return False, p, e, -1, 0
    hdr_len, total = uint(buf, p, IPV4_C.ihl) * 4, uint(buf, p, IPV4_C.total_len)
    end = min(e, p + total) if total != 0 else e
    if not (uint(buf, p, IPV4_C.version) == 4 and hdr_len >= IPV4_C.min_len
            and (total >= hdr_len or total == 0) and p + hdr_len <= end):
        return False, p, e, -1, 0
    proto, frag = uint(buf, p, IPV4_C.proto), uint(buf, p, IPV4_C.frag)
    set_ip_at(c, g, 4, np.uint64(0), IPV4_MAPPED | np.uint64(uint(buf, p, IPV4_C.src)),
              np.uint64(0), IPV4_MAPPED | np.uint64(uint(buf, p, IPV4_C.dst)), proto,
              p if frag != 0 else NONE)
    # a later fragment ends after its header, as a first one of no transport's datagram does
    if frag & OFFSET_BITS or (frag != 0 and proto not in FRAGMENT_NEXT):
        return True, p + hdr_len, end, -1, 0
    return True, p + hdr_len, end, IPPROTO, proto


PROTOCOL = Protocol(layers={"ipv4": decode}, fused={"ipv4": fused},
                    routes=[(LINKTYPE, 228, "ipv4"), (ETHERTYPE, 0x0800, "ipv4"),
                            (PPP, 0x0021, "ipv4")],
                    faults=FAULTS)
