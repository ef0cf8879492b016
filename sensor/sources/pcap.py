"""Classic libpcap files: both byte orders, micro- and nanosecond timestamps."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from .errors import CaptureError
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
    starts = _walk(raw, order, path, warn)
    n = len(starts)
    if n:
        hdr = np.frombuffer(raw, dtype=np.uint8)[starts[:, None] + np.arange(RECORD_HEADER)]
        fields = hdr.view(order + "u4").astype(np.int64)
        sec, frac, incl, orig = fields.T
    else:
        sec = frac = incl = orig = np.zeros(0, dtype=np.int64)
    ts_ns = sec * 1_000_000_000 + (frac if nanos else frac * 1000)
    return cut_batches(raw, starts + RECORD_HEADER, incl, orig, ts_ns,
                       np.full(n, linktype), np.zeros(n), ["0"], batch_frames, str(path))


def _walk(raw: memoryview, order: str, path: Path, warn) -> np.ndarray:
    """Offsets of the record headers; the one sequential step (each length gives the next)."""
    size = len(raw)
    incl_of = struct.Struct(order + "I").unpack_from
    starts = []
    append = starts.append
    off = FILE_HEADER
    while off + RECORD_HEADER <= size:
        incl = incl_of(raw, off + 8)[0]
        if incl > MAX_RECORD:
            warn(f"{path}: record {len(starts) + 1} claims {incl} bytes, more than any "
                 f"capture holds; the file is damaged from offset {off}, frames after it skipped")
            break
        if off + RECORD_HEADER + incl > size:
            warn(f"{path}: record {len(starts) + 1} is cut short at the end of the file; "
                 f"kept the {len(starts)} frames before it")
            break
        append(off)
        off += RECORD_HEADER + incl
    else:
        if off != size:
            warn(f"{path}: {size - off} bytes of a record header at the end of the file; "
                 f"kept the {len(starts)} frames before it")
    return np.array(starts, dtype=np.int64)
