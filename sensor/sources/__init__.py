"""Capture sources: each yields Batch objects (decoders/batch.py)."""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ybsensor.decoders.batch import Batch

from . import compressed, pcap, pcapng
from .errors import CaptureError, NotACapture
from .framing import CHUNK, Capture, Stream

DEFAULT_BATCH_FRAMES = 65536
STDIN = "-"
FIRST_CHUNK = 1 << 16  # inflated to find a file's first frame (a directory's order)


def read_capture(path: str | Path, batch_frames: int = DEFAULT_BATCH_FRAMES,
                 warn: Callable[[str], None] | None = None,
                 progress: Callable[[int], None] | None = None,
                 chunk: int = CHUNK) -> Iterator[Batch]:
    """Batches of a pcap or pcapng file, whichever it is, gzip, xz or zstd compressed or
    not (known by the first bytes); CaptureError if neither. `-` is standard input. The
    file is opened once and read from the start, so a FIFO or pipe streams through.
    `progress` is told, after each batch, how many of the file's bytes are read; a stream
    is read `chunk` bytes at a time."""
    path = Path(path) if str(path) != STDIN else STDIN
    try:
        fh = sys.stdin.buffer if path == STDIN else open(path, "rb")
    except OSError as exc:
        raise CaptureError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    name = "standard input" if path == STDIN else path
    try:
        cap, raw = _open(fh, name, chunk)
        magic = bytes(cap.head(4))
        for reader in (pcap, pcapng):
            if reader.recognises(magic):
                for batch in reader.read(cap, batch_frames, warn or (lambda msg: None)):
                    yield batch
                    if progress is not None:
                        progress(raw.count if raw is not None else cap.done)
                return
        raise NotACapture(f"{name}: not a pcap or pcapng capture "
                           f"(starts with {magic.hex() or 'nothing'}"
                           f"{compressed.hint(magic)})")
    except OSError as exc:
        raise CaptureError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    finally:
        if path != STDIN:
            fh.close()


def _open(fh, name, chunk: int) -> tuple[Capture, compressed.CountingReader | None]:
    """The file's capture bytes, inflated where it is compressed (and then the counter of
    the compressed bytes read)."""
    regular = stat.S_ISREG(os.fstat(fh.fileno()).st_mode)
    if regular:
        head = os.pread(fh.fileno(), compressed.LONGEST, 0)
    else:
        fh = Stream(fh)
        head = fh.read(compressed.LONGEST)  # a pipe: given back through the CountingReader
    packed = compressed.kind(head)
    if packed is None:
        if regular:
            return Capture(fh, name), None
        raw = compressed.CountingReader(fh, head)
        return Capture(fh, name, stream=raw, chunk=chunk), None
    raw = compressed.CountingReader(fh, b"" if regular else head)
    return Capture(fh, name, stream=compressed.inflate(packed, raw),
                   damage=compressed.damage(packed), packed=packed, chunk=chunk), raw


def expand(paths: Iterable[str], warn: Callable[[str], None],
           refuse: Callable[[CaptureError], None]) -> list[str]:
    """The files to read: each path as given, a directory replaced by the captures under
    it (recursively) in capture order: by the time of each file's first frame, ties by
    path, files with no frame last. Files under a directory that are no capture are
    skipped with a warning; a directory with none is refused."""
    out = []
    for path in paths:
        if path != STDIN and os.path.isdir(path):
            found = []
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for file in sorted(files):
                    full = os.path.join(root, file)
                    first = first_timestamp(full)
                    if first is False:
                        warn(f"{full}: not a capture; skipped")
                    else:
                        found.append((first is None, first or 0, full))
            if not found:
                refuse(CaptureError(f"{path}: a directory with no capture under it"))
            out.extend(full for _, _, full in sorted(found))
        else:
            out.append(path)
    return out


def first_timestamp(path: str) -> int | None | bool:
    """The first frame's time in nanoseconds; None for a capture with no frame, or one
    damaged before it; False for a file that is no capture (nor a compressed one)."""
    try:
        batch = next(read_capture(path, batch_frames=1, chunk=FIRST_CHUNK), None)
    except NotACapture:
        return False
    except CaptureError:
        return None
    return int(batch.ts_ns[0]) if batch is not None and len(batch) else None


def size(path: str) -> int | None:
    """Bytes a progress meter counts for `path`: a regular file's size (compressed, as it
    lies on disk); None for a pipe or standard input."""
    try:
        st = os.stat(path) if path != STDIN else os.fstat(0)
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


__all__ = ["CaptureError", "read_capture", "expand", "size", "Batch", "STDIN"]
