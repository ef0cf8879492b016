"""What the pcap and pcapng readers share: the file's bytes and batch assembly."""
from __future__ import annotations

import mmap
import os
import select
from pathlib import Path

import numpy as np

from ybsensor.decoders.batch import PAD, Batch

from .errors import CaptureError

MAX_BATCH_BYTES = 64 << 20
CHUNK = 8 << 20       # a pipe is read this much at a time
WAIT_MS = 500         # a stream's reader waits for bytes this long at a time
MAX_IFACES = 1 << 16  # Batch.iface is 16 bits: more interfaces are numbered per batch


class Capture:
    """A capture's bytes, read once from the start: a regular file mapped whole; a pipe,
    FIFO, device or inflated stream (`stream`, compressed.inflate) read chunk by chunk, so
    that it is opened once and its memory bounded by the chunk. `buf` holds the bytes from
    file offset `base` on; readers walk it and call `more` where it ends, and say in `done`
    the offset up to which they have cut frames (progress)."""

    def __init__(self, fh, path: Path, stream=None, damage: tuple = (), packed: str = "",
                 chunk: int = CHUNK):
        """`fh`: a regular file, mapped; or `stream`: a file object to read chunk by chunk
        (a Stream, or what inflates one)."""
        self.path, self.chunk = path, chunk
        self.base = self.done = 0
        self.damage, self.packed = damage, packed  # a compressed stream's errors and format
        self.stream = stream
        self.buf = memoryview(b"")
        if stream is None:
            try:
                self.buf = memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
            except ValueError:  # empty file: mmap refuses length 0
                pass

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


class Stream:
    """A pipe, FIFO, socket or device whose read(n) gives n bytes (fewer only at its end),
    waiting for them in Python: poll(2) at most WAIT_MS, then read(2), so that the
    interpreter runs a signal's handler between the two calls. A buffered file's read(n)
    loops over read(2) in C: the handler of a signal that lands while one of those calls
    returns bytes would wait for read(n) to return, which a writer that stays open and
    sends no more puts off for ever (SIGTERM would not stop a replay on such a FIFO)."""

    def __init__(self, fh):
        self.fh, self.fd = fh, fh.fileno()     # fh kept: its fd stays open while read
        self.poll = select.poll()
        self.poll.register(self.fd, select.POLLIN)
        self.buf = bytearray()      # read into, then copied out: allocated once

    def fileno(self) -> int:
        return self.fd

    def read(self, size: int = -1) -> bytes:
        if size < 0:    # to the end
            parts = []
            while part := self.read(CHUNK):
                parts.append(part)
            return b"".join(parts)
        if len(self.buf) < size:
            self.buf = bytearray(size)
        with memoryview(self.buf) as view:
            got = 0
            while got < size:
                if not self.poll.poll(WAIT_MS):
                    continue    # nothing came: a handler still to run has run by the next wait
                n = os.readv(self.fd, [view[got:size]])
                if not n:
                    break
                got += n
            return bytes(view[:got])


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
