"""Traffic counters by encapsulation chain and decode-error reason, per batch, vectorized."""
from __future__ import annotations

from collections import Counter

import numpy as np

from decoders.keys import NON_IP, OK
from decoders.table import PacketTable
from decoders.view import encap_names, status_text

FEW = 32  # distinct values peeled off one at a time before falling back to a sort


def count_distinct(keys: np.ndarray, weights: np.ndarray | None = None):
    """(distinct key, first row, count, weight sum) for a column with few distinct values.

    A batch carries a handful of encapsulation chains: peeling them off one by one with a
    comparison over the remaining rows beats sorting the whole column. Many distinct values
    (a hostile capture) fall back to np.unique."""
    out = []
    remaining = np.arange(len(keys))
    while remaining.size:
        if len(out) == FEW:
            uniq, first, inverse = np.unique(keys[remaining], return_index=True, return_inverse=True)
            counts = np.bincount(inverse)
            sums = np.bincount(inverse, weights=weights[remaining]) if weights is not None else counts
            out.extend(zip(uniq.tolist(), remaining[first].tolist(), counts.tolist(), sums.tolist()))
            break
        first = remaining[0]
        same = keys[remaining] == keys[first]
        rows = remaining[same]
        out.append((keys[first].item(), int(first), int(rows.size),
                    float(weights[rows].sum()) if weights is not None else int(rows.size)))
        remaining = remaining[~same]
    return out


class TrafficStats:
    def __init__(self, layer_names: list[str]):
        self.layer_names = layer_names
        self.frames = 0
        self.packets: Counter[str] = Counter()   # by encapsulation chain
        self.bytes: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()    # by reason, e.g. truncated:ipv4
        self.non_ip: Counter[str] = Counter()    # by protocol, e.g. non-ip:arp
        self._names: dict[bytes, str] = {}

    def process(self, t: PacketTable) -> None:
        self.frames += t.n
        if not t.n:
            return
        # a chain's layer ids (16 bytes) folded into one comparable 64-bit value
        halves = np.ascontiguousarray(t.layers).view(np.uint64)
        chain = halves[:, 0] * np.uint64(0x9E3779B97F4A7C15) ^ halves[:, 1]
        for _, row, count, octets in count_distinct(chain, t.wirelen):
            raw = t.layers[row].tobytes()
            name = self._names.get(raw)
            if name is None:
                name = self._names[raw] = encap_names(self.layer_names, t.layers[row],
                                                      int(t.nlayers[row])) or "none"
            self.packets[name] += count
            self.bytes[name] += int(octets)
        bad = t.status != OK
        if bad.any():
            reason = t.status[bad].astype(np.int64) * 256 + t.status_layer[bad]
            for value, _, count, _ in count_distinct(reason):
                text = status_text(value // 256, self.layer_names[value % 256])
                (self.non_ip if value // 256 == NON_IP else self.errors)[text] += count
