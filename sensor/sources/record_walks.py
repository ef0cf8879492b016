"""The one sequential step of reading a capture, compiled: each record's (or block's)
length gives where the next one starts. Each walk reads the headers' fields in the same
pass and fills preallocated columns, so the readers (pcap.py, pcapng.py) only cut
batches out of them."""
from __future__ import annotations

import numpy as np

from ybsensor.core.loops import jit

# why a walk stopped
FULL = 0       # the columns are full (or, pcapng, the bytes end between blocks)
CUT = 1        # the bytes read so far end inside a record header or body
DAMAGED = 2    # a record claims more bytes than any capture holds (pcap)
HEADER = 3     # a section or interface block, for the reader to take (pcapng)
BAD_LENGTH = 4  # a block of an impossible length (pcapng)

# pcap record header and pcapng block types (as read in the section's byte order)
RECORD_HEADER = 16
SHB, IDB, PB, SPB, EPB = 0x0A0D0D0A, 0x00000001, 0x00000002, 0x00000003, 0x00000006


@jit(inline="always")
def _u32(buf, at, big):
    if big:
        return ((np.int64(buf[at]) << 24) | (np.int64(buf[at + 1]) << 16)
                | (np.int64(buf[at + 2]) << 8) | np.int64(buf[at + 3]))
    return ((np.int64(buf[at + 3]) << 24) | (np.int64(buf[at + 2]) << 16)
            | (np.int64(buf[at + 1]) << 8) | np.int64(buf[at]))


@jit(inline="always")
def _u16(buf, at, big):
    if big:
        return (np.int64(buf[at]) << 8) | np.int64(buf[at + 1])
    return (np.int64(buf[at + 1]) << 8) | np.int64(buf[at])


@jit
def pcap_records(buf, off, big, nanos, max_record, out):
    """Records of a libpcap file from byte `off` of `buf`, up to out.shape[1] of them,
    into `out` (int64 rows: data offset, caplen, wirelen, time in ns). Returns (records,
    the offset after them, why it stopped: FULL, CUT or DAMAGED, and then the damaged
    record's claimed length)."""
    size = buf.shape[0]
    limit = out.shape[1]
    scale = 1 if nanos else 1000
    n = 0
    while n < limit:
        if off + RECORD_HEADER > size:
            return n, off, CUT, 0
        incl = _u32(buf, off + 8, big)
        if incl > max_record:
            return n, off, DAMAGED, incl
        if off + RECORD_HEADER + incl > size:
            return n, off, CUT, 0
        out[0, n] = off + RECORD_HEADER
        out[1, n] = incl
        out[2, n] = _u32(buf, off + 12, big)
        out[3, n] = _u32(buf, off, big) * 1_000_000_000 + _u32(buf, off + 4, big) * scale
        n += 1
        off += RECORD_HEADER + incl
    return n, off, FULL, 0


@jit
def pcapng_blocks(buf, pos, big, section, snaplen0, max_block, out, ts, n):
    """Blocks of a pcapng section from byte `pos` of `buf`: its packets (Enhanced, Simple
    and obsolete Packet blocks) go into the columns from row `n` on, `out` (int64 rows:
    data offset, caplen, wirelen, interface) and `ts` (the timestamp in its interface's
    units), until they are full; other blocks are passed over. `section` maps the
    section's interface ids to the reader's (-1: not kept); `snaplen0` is the first one's
    snap length (Simple blocks). Returns (the offset reached, rows filled, why it stopped:
    FULL, CUT, HEADER or BAD_LENGTH, packets skipped for naming no kept interface or
    overrunning their block, the offset of the first of them or -1)."""
    size = buf.shape[0]
    limit = out.shape[1]
    known = section.shape[0]
    skipped = 0
    first_skipped = -1
    while pos + 12 <= size and n < limit:
        btype = _u32(buf, pos, big)
        if btype == SHB or btype == IDB:
            return pos, n, HEADER, skipped, first_skipped
        blen = _u32(buf, pos + 4, big)
        if blen < 12 or blen % 4 or blen > max_block:
            return pos, n, BAD_LENGTH, skipped, first_skipped
        if pos + blen > size:
            return pos, n, CUT, skipped, first_skipped
        body = pos + 8
        body_end = pos + blen - 4
        if (btype == EPB or btype == PB) and body + 20 <= body_end:
            ifid = _u32(buf, body, big) if btype == EPB else _u16(buf, body, big)
            caplen = _u32(buf, body + 12, big)
            if ifid < known and section[ifid] >= 0 and body + 20 + caplen <= body_end:
                out[0, n] = body + 20
                out[1, n] = caplen
                out[2, n] = _u32(buf, body + 16, big)
                out[3, n] = section[ifid]
                ts[n] = (np.uint64(_u32(buf, body + 4, big)) << np.uint64(32)) \
                    | np.uint64(_u32(buf, body + 8, big))
                n += 1
            elif btype == EPB:
                skipped += 1
                if first_skipped < 0:
                    first_skipped = pos
        elif btype == SPB and body + 4 <= body_end and known and section[0] >= 0:
            wirelen = _u32(buf, body, big)
            caplen = min(wirelen, body_end - body - 4)
            if snaplen0:
                caplen = min(caplen, snaplen0)
            out[0, n] = body + 4
            out[1, n] = caplen
            out[2, n] = wirelen
            out[3, n] = section[0]
            ts[n] = 0
            n += 1
        pos += blen
    return pos, n, FULL, skipped, first_skipped
