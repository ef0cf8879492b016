"""What the pcap and pcapng readers share: the file's bytes and batch assembly."""
from __future__ import annotations

import mmap
import os
import stat
from pathlib import Path

import numpy as np

from ybsensor.decoders.batch import PAD, Batch

from .errors import CaptureError

MAX_BATCH_BYTES = 64 << 20
CHUNK = 8 << 20       # a pipe is read this much at a time
MAX_IFACES = 1 << 16  # Batch.iface is 16 bits: more interfaces are numbered per batch


class Capture:
    """A capture's bytes, read once from the start: a regular file mapped whole; a pipe,
    FIFO, device or inflated stream (`stream`, compressed.inflate) read chunk by chunk, so
    that it is opened once and its memory bounded by the chunk. `buf` holds the bytes from
    file offset `base` on; readers walk it and call `more` where it ends, and say in `done`
    the offset up to which they have cut frames (progress)."""

    def __init__(self, fh, path: Path, stream=None, damage: tuple = (), packed: str = "",
                 chunk: int = CHUNK):
        self.path, self.chunk = path, chunk
        self.base = self.done = 0
        self.damage, self.packed = damage, packed  # a compressed stream's errors and format
        if stream is not None:
            self.stream = stream
            self.buf = memoryview(b"")
            return
        mode = os.fstat(fh.fileno()).st_mode
        if stat.S_ISREG(mode):
            self.stream = None
            try:
                self.buf = memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
            except ValueError:  # empty file: mmap refuses length 0
                self.buf = memoryview(b"")
        elif stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode):
            self.stream = fh
            self.buf = memoryview(b"")
        else:
            raise CaptureError(f"{path}: not a regular file, pipe or character device")

    @property
    def end(self) -> int:
        """The file offset where the bytes read so far end."""
        return self.base + len(self.buf)

    def more(self, keep_from: int) -> bool:
        """Read on, keeping the bytes from file offset `keep_from`; False at the end."""
        if self.stream is None:
            return False
        try:
            chunk = self.stream.read(self.chunk)
        except self.damage as exc:
            raise CaptureError(f"{self.path}: damaged {self.packed} stream: {exc}; "
                               f"kept the frames before it") from exc
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot read: {exc.strerror or exc}") from exc
        if not chunk:
            self.stream = None
            return False
        self.buf = memoryview(bytes(self.buf[keep_from - self.base:]) + chunk)
        self.base = keep_from
        return True

    def head(self, size: int) -> memoryview:
        """The first `size` bytes (fewer if the capture is shorter)."""
        while len(self.buf) < size and self.more(0):
            pass
        return self.buf[:size]


def cut_batches(raw: memoryview, offset, caplen, wirelen, ts_ns, linktype, iface,
                interfaces: list[str], batch_frames: int, source: str = "", first_frame: int = 1):
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
        ifc = np.asarray(iface[start:stop], dtype=np.int64)
        names = interfaces
        if len(interfaces) > MAX_IFACES:  # only the batch's own, renumbered
            used, ifc = np.unique(ifc, return_inverse=True)
            names = [interfaces[i] for i in used.tolist()]
        yield Batch(
            data=data,
            offset=offset[start:stop] - lo,
            caplen=caplen[start:stop],
            wirelen=np.asarray(wirelen[start:stop], dtype=np.int64),
            ts_ns=np.asarray(ts_ns[start:stop], dtype=np.int64),
            linktype=np.asarray(linktype[start:stop], dtype=np.uint16),
            iface=ifc.astype(np.uint16),
            first_frame=first_frame + start,
            interfaces=names,
            source=source,
        )
        start = stop
