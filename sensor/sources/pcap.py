"""Classic libpcap files: both byte orders, micro- and nanosecond timestamps."""
from __future__ import annotations

import struct

import numpy as np

from . import record_walks
from .errors import CaptureError
from .framing import Capture, cut_batches

MAGICS = {  # magic as read little-endian -> (byte order, nanosecond timestamps)
    0xA1B2C3D4: ("<", False), 0xD4C3B2A1: (">", False),
    0xA1B23C4D: ("<", True), 0x4D3CB2A1: (">", True),
}
FILE_HEADER = 24
RECORD_HEADER = record_walks.RECORD_HEADER
MAX_RECORD = 1 << 18  # 256 KiB, as libpcap and Wireshark refuse bigger records


def recognises(magic: bytes) -> bool:
    return len(magic) == 4 and struct.unpack("<I", magic)[0] in MAGICS


def read(cap: Capture, batch_frames: int, warn):
    """Batches of the file's records, walked a batch at a time (record_walks.pcap_records):
    memory is bounded by the batch, not the file."""
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
        cols = np.empty((4, batch_frames), dtype=np.int64)  # the batches' columns: kept
        keep, end, why, claim = record_walks.pcap_records(
            np.frombuffer(raw, dtype=np.uint8), off - base, order == ">", nanos, MAX_RECORD, cols)
        if keep:
            off = cap.done = base + end
            start, caplen, wirelen, ts_ns = cols[:, :keep]
            yield from cut_batches(raw, start, caplen, wirelen, ts_ns, np.full(keep, linktype),
                                   np.zeros(keep), ["0"], batch_frames, str(path), done + 1)
            done += keep
        if why == record_walks.DAMAGED:
            warn(f"{path}: record {done + 1} claims {claim} bytes, more than any "
                 f"capture holds; the file is damaged from offset {off}, frames after it skipped")
            return
        if why == record_walks.FULL or cap.more(off):
            continue
        left = cap.end - off
        if left >= RECORD_HEADER:
            warn(f"{path}: record {done + 1} is cut short at the end of the file; "
                 f"kept the {done} frames before it")
        elif left:
            warn(f"{path}: {left} bytes of a record header at the end of the file; "
                 f"kept the {done} frames before it")
        return
