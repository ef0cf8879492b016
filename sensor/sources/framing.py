"""What the pcap and pcapng readers share: the file in memory and batch assembly."""
from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np

from decoders.batch import PAD, Batch

MAX_BATCH_BYTES = 64 << 20


def map_file(path: Path) -> memoryview:
    with open(path, "rb") as fh:
        try:
            return memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
        except ValueError:  # empty file: mmap refuses length 0
            return memoryview(b"")


def cut_batches(raw: memoryview, offset, caplen, wirelen, ts_ns, linktype, iface,
                interfaces: list[str], batch_frames: int, source: str = ""):
    """Copy runs of frames into padded Batch buffers (frames keep file order)."""
    offset = np.asarray(offset, dtype=np.int64)
    caplen = np.asarray(caplen, dtype=np.int64)
    n = len(offset)
    start = 0
    whole = np.frombuffer(raw, dtype=np.uint8) if len(raw) else np.zeros(0, np.uint8)
    while start < n:
        stop = min(n, start + batch_frames)
        # keep each batch's bytes bounded, whatever the frame count
        span_end = offset[start:stop] + caplen[start:stop] - offset[start]
        over = np.flatnonzero(span_end > MAX_BATCH_BYTES)
        if over.size and over[0] > 0:
            stop = start + int(over[0])
        lo = int(offset[start])
        hi = int(offset[stop - 1] + caplen[stop - 1])
        if hi + PAD <= len(whole):
            # a read-only view of the mapped file: what follows the batch (the next record)
            # pads it as well as zeros would, since lengths are checked separately
            data = whole[lo: hi + PAD]
        else:
            data = np.empty(hi - lo + PAD, dtype=np.uint8)
            data[: hi - lo] = whole[lo:hi]
            data[hi - lo:] = 0
        yield Batch(
            data=data,
            offset=offset[start:stop] - lo,
            caplen=caplen[start:stop],
            wirelen=np.asarray(wirelen[start:stop], dtype=np.int64),
            ts_ns=np.asarray(ts_ns[start:stop], dtype=np.int64),
            linktype=np.asarray(linktype[start:stop], dtype=np.uint16),
            iface=np.asarray(iface[start:stop], dtype=np.uint16),
            first_frame=start + 1,
            interfaces=interfaces,
            source=source,
        )
        start = stop
