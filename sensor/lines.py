"""When each configured access line last carried a frame (CQ §1(3): a silent backup line
is noticed). Configured lines only, so the metric's label set stays bounded."""
from __future__ import annotations

import numpy as np

from ybsensor.decoders.table import PacketTable

from ybsensor.core.plan import LineOwners


class LineActivity:
    def __init__(self, lines: LineOwners):
        self.lines = lines
        self.seen_ns = np.full(len(lines.patterns), -1, dtype=np.int64)
        self.packets = np.zeros(len(lines.patterns), dtype=np.int64)  # per configured line
        self.bytes = np.zeros(len(lines.patterns), dtype=np.int64)

    def process(self, t: PacketTable, pattern: np.ndarray | None = None, groups=None) -> None:
        """Account a batch; `pattern` is each row's configured-line index if already known.
        With the batch's flow groups (sensor.flows.FlowGroups, counted by the flow table)
        the line is a flow's: its rows are accounted a flow at a time."""
        if not self.lines.patterns or not t.n:
            return
        if pattern is None:
            pattern = self.lines.match(t.line_kind, t.line_a, t.line_b, t.batch.interfaces)
        if groups is not None and groups.packets is not None:
            alone = np.flatnonzero(groups.of_row < 0)             # rows without IP
            self._add(pattern[groups.first], groups.packets, groups.octets, groups.last_ns)
            self._add(pattern[alone], 1, t.wirelen[alone], t.ts_ns[alone])
        else:
            self._add(pattern, 1, t.wirelen, t.ts_ns)

    def _add(self, pattern: np.ndarray, packets, octets: np.ndarray, last_ns: np.ndarray) -> None:
        """Count packets (a column, or 1 each), bytes and the latest time per line."""
        known = pattern >= 0
        if not known.any():
            return
        at = pattern[known]
        n = len(self.lines.patterns)
        np.maximum.at(self.seen_ns, at, last_ns[known])
        weights = None if np.ndim(packets) == 0 else packets[known]
        self.packets += np.bincount(at, weights=weights, minlength=n).astype(np.int64)
        self.bytes += np.bincount(at, weights=octets[known], minlength=n).astype(np.int64)

    def traffic(self) -> list[tuple[str, int, int]]:
        """(line, packets, bytes) of every configured line that carried a frame."""
        return [(line, p, b) for line, p, b in zip(self.lines.patterns, self.packets.tolist(),
                                                  self.bytes.tolist()) if p]

    def configured(self) -> list[tuple[str, str, str]]:
        """(line, institution code, access) of every configured line, carried a frame or not."""
        owners = self.lines.institutions
        return [(line, *owners[k]) for line, k in zip(self.lines.patterns, self.lines.pattern_owner)]

    def last_seen(self) -> dict[str, float]:
        return {line: ns / 1e9 for line, ns in zip(self.lines.patterns, self.seen_ns.tolist()) if ns >= 0}
