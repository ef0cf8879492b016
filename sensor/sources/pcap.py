"""Classic libpcap files: both byte orders, micro- and nanosecond timestamps."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from .errors import CaptureError
from decoders.layout import gather_block

from .framing import cut_batches, map_file

MAGICS = {  # magic as read little-endian -> (byte order, nanosecond timestamps)
    0xA1B2C3D4: ("<", False), 0xD4C3B2A1: (">", False),
    0xA1B23C4D: ("<", True), 0x4D3CB2A1: (">", True),
}
FILE_HEADER = 24
RECORD_HEADER = 16
MAX_RECORD = 1 << 18  # 256 KiB, as libpcap and Wireshark refuse bigger records


def recognises(magic: bytes) -> bool:
    return len(magic) == 4 and struct.unpack("<I", magic)[0] in MAGICS


def read(path: Path, batch_frames: int, warn):
    raw = map_file(path)
    if len(raw) < FILE_HEADER:
        raise CaptureError(f"{path}: pcap file header is cut short ({len(raw)} bytes)")
    order, nanos = MAGICS[struct.unpack_from("<I", raw, 0)[0]]
    _, _, _, _, snaplen, network = struct.unpack_from(order + "HHiIII", raw, 4)
    linktype = network & 0xFFFF  # the upper bits may carry an FCS length
    starts = _walk(raw, order)
    n = len(starts)
    if n:
        hdr = gather_block(np.frombuffer(raw, dtype=np.uint8), starts, RECORD_HEADER)
        sec, frac, incl, orig = hdr.view(order + "u4").T.astype(np.int64)
        n = _check(starts, incl, len(raw), path, warn)
        starts, sec, frac, incl, orig = starts[:n], sec[:n], frac[:n], incl[:n], orig[:n]
    else:
        sec = frac = incl = orig = np.zeros(0, dtype=np.int64)
        if len(raw) > FILE_HEADER:
            warn(f"{path}: {len(raw) - FILE_HEADER} bytes of a record header at the end of the "
                 f"file; kept the 0 frames before it")
    ts_ns = sec * 1_000_000_000 + (frac if nanos else frac * 1000)
    return cut_batches(raw, starts + RECORD_HEADER, incl, orig, ts_ns,
                       np.full(n, linktype), np.zeros(n), ["0"], batch_frames, str(path))


def _walk(raw: memoryview, order: str) -> np.ndarray:
    """Offsets of the record headers: the one sequential step (each length gives the next),
    as tight as Python allows; `_check` vets the records afterwards, vectorized."""
    incl_of = struct.Struct(order + "I").unpack_from
    starts = []
    append = starts.append
    off = FILE_HEADER
    try:
        while True:
            incl = incl_of(raw, off + 8)[0]  # struct.error past the end of the file
            append(off)
            off += RECORD_HEADER + incl
    except struct.error:
        pass
    return np.array(starts, dtype=np.int64)


def _check(starts, incl, size: int, path: Path, warn) -> int:
    """How many records to keep: those before the first damaged or cut one."""
    too_big = incl > MAX_RECORD
    cut = starts + RECORD_HEADER + incl > size
    bad = np.flatnonzero(too_big | cut)
    if bad.size:
        i = int(bad[0])
        if too_big[i]:
            warn(f"{path}: record {i + 1} claims {int(incl[i])} bytes, more than any "
                 f"capture holds; the file is damaged from offset {int(starts[i])}, frames after it skipped")
        else:
            warn(f"{path}: record {i + 1} is cut short at the end of the file; "
                 f"kept the {i} frames before it")
        return i
    end = int(starts[-1] + RECORD_HEADER + incl[-1])
    if end != size:
        warn(f"{path}: {size - end} bytes of a record header at the end of the file; "
             f"kept the {len(starts)} frames before it")
    return len(starts)
