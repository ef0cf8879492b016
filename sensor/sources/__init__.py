"""Capture sources: each yields Batch objects (decoders/batch.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

from ybsensor.decoders.batch import Batch

from .errors import CaptureError
from .framing import Capture
from . import pcap, pcapng

DEFAULT_BATCH_FRAMES = 65536


def read_capture(path: str | Path, batch_frames: int = DEFAULT_BATCH_FRAMES,
                 warn: Callable[[str], None] | None = None) -> Iterator[Batch]:
    """Batches of a pcap or pcapng file, whichever it is; CaptureError if neither. The
    file is opened once and read from the start, so a FIFO or pipe streams through."""
    path = Path(path)
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise CaptureError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    with fh:
        try:
            cap = Capture(fh, path)
            magic = bytes(cap.head(4))
        except OSError as exc:
            raise CaptureError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        for reader in (pcap, pcapng):
            if reader.recognises(magic):
                yield from reader.read(cap, batch_frames, warn or (lambda msg: None))
                return
        raise CaptureError(f"{path}: not a pcap or pcapng capture "
                           f"(starts with {magic.hex() or 'nothing'})")


__all__ = ["CaptureError", "read_capture", "Batch"]
