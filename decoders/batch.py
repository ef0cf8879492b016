"""A batch of captured frames: one byte buffer and per-frame columns.

Sources build it; decoders read it. Frames are slices of `data` given by `offset` and
`caplen`. `data` always ends with `PAD` zero bytes so that a fixed-width header gather
starting inside the last frame never reads past the buffer (lengths are checked separately).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PAD = 256  # longer than any fixed header block a decoder gathers at once


@dataclass
class Batch:
    data: np.ndarray          # uint8, the frames plus PAD trailing zero bytes
    offset: np.ndarray        # int64, start of each frame in data
    caplen: np.ndarray        # int64, bytes captured
    wirelen: np.ndarray       # int64, bytes on the wire
    ts_ns: np.ndarray         # int64, capture time in nanoseconds since the epoch
    linktype: np.ndarray      # uint16, LINKTYPE_* of each frame
    iface: np.ndarray         # uint16, index into `interfaces`
    first_frame: int = 1      # 1-based number of the first frame in its capture
    interfaces: list[str] = field(default_factory=lambda: ["0"])
    source: str = ""          # where the frames came from: a file's path or an interface
    frame: np.ndarray | None = None  # int64, each frame's number where a filter left gaps

    def take(self, keep: np.ndarray) -> "Batch":
        """The frames where `keep` is true, numbered as in the capture; `data` is shared."""
        frame = self.frame if self.frame is not None else \
            np.arange(self.first_frame, self.first_frame + len(self), dtype=np.int64)
        return Batch(self.data, self.offset[keep], self.caplen[keep], self.wirelen[keep],
                     self.ts_ns[keep], self.linktype[keep], self.iface[keep],
                     self.first_frame, self.interfaces, self.source, frame[keep])

    def __len__(self) -> int:
        return len(self.offset)

    @classmethod
    def from_frames(cls, frames: list[bytes], linktype: int = 1, ts_ns=None,
                    wirelen=None, first_frame: int = 1, interfaces=None) -> "Batch":
        """Build a batch from a few byte strings (tests, tools); not the capture path."""
        lens = np.array([len(f) for f in frames], dtype=np.int64)
        offset = np.zeros(len(frames), dtype=np.int64)
        if len(frames):
            offset[1:] = np.cumsum(lens)[:-1]
        data = np.zeros(int(lens.sum()) + PAD, dtype=np.uint8)
        joined = b"".join(frames)
        data[: len(joined)] = np.frombuffer(joined, dtype=np.uint8)
        n = len(frames)
        return cls(
            data=data,
            offset=offset,
            caplen=lens.copy(),
            wirelen=lens.copy() if wirelen is None else np.asarray(wirelen, dtype=np.int64),
            ts_ns=np.zeros(n, dtype=np.int64) if ts_ns is None else np.asarray(ts_ns, dtype=np.int64),
            linktype=np.full(n, linktype, dtype=np.uint16),
            iface=np.zeros(n, dtype=np.uint16),
            first_frame=first_frame,
            interfaces=list(interfaces) if interfaces else ["0"],
        )
