"""IPv4 (RFC 791): options skipped by IHL; only the first fragment carries ports. A fragment's
row records where its header is (`frag_at`), for reassembly (decoders/reassembly.py)."""
from __future__ import annotations

import numpy as np

from .keys import ETHERTYPE, IPPROTO, LINKTYPE, PPP, TRUNCATED
from .layout import Field, Layout, v4_to_pair
from .protocol import Faults, Protocol

IPV4 = Layout("ipv4", 20, {
    "version": Field(0, 1, shift=4), "ihl": Field(0, 1, mask=0x0F),
    "total_len": Field(2, 2), "id": Field(4, 2),
    "frag": Field(6, 2, mask=0x3FFF),      # the more-fragments flag and the offset (8-byte units)
    "ttl": Field(8, 1), "proto": Field(9, 1), "src": Field(12, 4), "dst": Field(16, 4),
})
OFFSET_BITS = 0x1FFF    # of "frag": the fragment offset; MORE_FRAGMENTS the flag
MORE_FRAGMENTS = 0x2000
FAULTS = Faults("version", "header_length", "total_length")


def decode(f, rows: np.ndarray) -> None:
    rows = f.need(rows, IPV4.min_len)
    pos = f.pos[rows]
    blk = IPV4.block(f.buf, pos)
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
    if later_fragment.any():
        f.stop(rows[later_fragment], nxt[later_fragment])
        first = ~later_fragment
        rows, nxt, proto = rows[first], nxt[first], proto[first]
    f.goto(rows, nxt, IPPROTO, proto)


PROTOCOL = Protocol(layers={"ipv4": decode},
                    routes=[(LINKTYPE, 228, "ipv4"), (ETHERTYPE, 0x0800, "ipv4"),
                            (PPP, 0x0021, "ipv4")],
                    faults=FAULTS)
