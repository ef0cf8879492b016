"""Classic libpcap files: both byte orders, micro- and nanosecond timestamps."""
from __future__ import annotations

import struct

import numpy as np

from .errors import CaptureError
from ybsensor.decoders.layout import gather_block

from .framing import Capture, cut_batches

MAGICS = {  # magic as read little-endian -> (byte order, nanosecond timestamps)
    0xA1B2C3D4: ("<", False), 0xD4C3B2A1: (">", False),
    0xA1B23C4D: ("<", True), 0x4D3CB2A1: (">", True),
}
FILE_HEADER = 24
RECORD_HEADER = 16
MAX_RECORD = 1 << 18  # 256 KiB, as libpcap and Wireshark refuse bigger records


def recognises(magic: bytes) -> bool:
    return len(magic) == 4 and struct.unpack("<I", magic)[0] in MAGICS


def read(cap: Capture, batch_frames: int, warn):
    """Batches of the file's records, walked a batch at a time: memory is bounded by the
    batch, not the file."""
    path = cap.path
    head = cap.head(FILE_HEADER)
    if len(head) < FILE_HEADER:
        raise CaptureError(f"{path}: pcap file header is cut short ({len(head)} bytes)")
    order, nanos = MAGICS[struct.unpack_from("<I", head, 0)[0]]
    _, _, _, _, snaplen, network = struct.unpack_from(order + "HHiIII", head, 4)
    linktype = network & 0xFFFF  # the upper bits may carry an FCS length
    off = FILE_HEADER  # the file offset of the next record
    done = 0           # frames yielded
    while True:
        raw, base = cap.buf, cap.base
        starts = _walk(raw, off - base, order, batch_frames)
        n = len(starts)
        if n:
            hdr = gather_block(np.frombuffer(raw, dtype=np.uint8), starts, RECORD_HEADER)
            sec, frac, incl, orig = hdr.view(order + "u4").T.astype(np.int64)
            keep, damaged = _check(starts, incl, len(raw))
            if keep:
                ts_ns = sec[:keep] * 1_000_000_000 + (frac[:keep] if nanos else frac[:keep] * 1000)
                off = cap.done = base + int(starts[keep - 1] + RECORD_HEADER + incl[keep - 1])
                yield from cut_batches(raw, starts[:keep] + RECORD_HEADER, incl[:keep], orig[:keep],
                                       ts_ns, np.full(keep, linktype), np.zeros(keep), ["0"],
                                       batch_frames, str(path), done + 1)
                done += keep
            if damaged:
                warn(f"{path}: record {done + 1} claims {int(incl[keep])} bytes, more than any "
                     f"capture holds; the file is damaged from offset {off}, frames after it skipped")
                return
            if keep == batch_frames:
                continue
        if cap.more(off):
            continue
        left = cap.end - off
        if left >= RECORD_HEADER:
            warn(f"{path}: record {done + 1} is cut short at the end of the file; "
                 f"kept the {done} frames before it")
        elif left:
            warn(f"{path}: {left} bytes of a record header at the end of the file; "
                 f"kept the {done} frames before it")
        return


def _walk(raw: memoryview, off: int, order: str, limit: int) -> np.ndarray:
    """Offsets of up to `limit` record headers from `off`: the one sequential step (each
    length gives the next), as tight as Python allows; `_check` vets them, vectorized."""
    incl_of = struct.Struct(order + "I").unpack_from
    starts = []
    append = starts.append
    try:
        for _ in range(limit):
            incl = incl_of(raw, off + 8)[0]  # struct.error past the end of the buffer
            append(off)
            off += RECORD_HEADER + incl
    except struct.error:
        pass
    return np.array(starts, dtype=np.int64)


def _check(starts, incl, size: int) -> tuple[int, bool]:
    """How many records to keep (those before the first damaged or cut one), and whether
    the one after them is damaged (else it runs past the bytes read so far, or none is)."""
    whole = starts + RECORD_HEADER <= size  # else the header's fields are not read yet
    too_big = (incl > MAX_RECORD) & whole
    cut = ~whole | (starts + RECORD_HEADER + incl > size)
    bad = np.flatnonzero(too_big | cut)
    if bad.size:
        i = int(bad[0])
        return i, bool(too_big[i])
    return len(starts), False
