"""When each configured access line last carried a frame (CQ §1(3): a silent backup line
is noticed). Configured lines only, so the metric's label set stays bounded."""
from __future__ import annotations

import numpy as np

from decoders.table import PacketTable

from .plan import LineOwners


class LineActivity:
    def __init__(self, lines: LineOwners):
        self.lines = lines
        self.seen_ns = np.full(len(lines.patterns), -1, dtype=np.int64)
        self.packets = np.zeros(len(lines.patterns), dtype=np.int64)  # per configured line
        self.bytes = np.zeros(len(lines.patterns), dtype=np.int64)

    def process(self, t: PacketTable, pattern: np.ndarray | None = None) -> None:
        """Account a batch; `pattern` is each row's configured-line index if already known."""
        if not self.lines.patterns or not t.n:
            return
        if pattern is None:
            pattern = self.lines.match(t.line_kind, t.line_a, t.line_b, t.batch.interfaces)
        known = pattern >= 0
        np.maximum.at(self.seen_ns, pattern[known], t.ts_ns[known])
        n = len(self.lines.patterns)
        self.packets += np.bincount(pattern[known], minlength=n)
        self.bytes += np.bincount(pattern[known], weights=t.wirelen[known], minlength=n).astype(np.int64)

    def traffic(self) -> list[tuple[str, int, int]]:
        """(line, packets, bytes) of every configured line that carried a frame."""
        return [(line, p, b) for line, p, b in zip(self.lines.patterns, self.packets.tolist(),
                                                  self.bytes.tolist()) if p]

    def last_seen(self) -> dict[str, float]:
        return {line: ns / 1e9 for line, ns in zip(self.lines.patterns, self.seen_ns.tolist()) if ns >= 0}
