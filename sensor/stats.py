"""Traffic counters by encapsulation chain and decode-error reason, per batch, vectorized."""
from __future__ import annotations

from collections import Counter

import numpy as np

from ybsensor.decoders.keys import NON_IP, OK
from ybsensor.decoders.protocol import FAULT_NAMES
from ybsensor.decoders.table import PacketTable
from ybsensor.decoders.view import encap_names, status_text

from ybsensor.core import flow_kernels
from ybsensor.core.flows import group_by


def count_distinct(keys: np.ndarray, weights: np.ndarray | None = None):
    """(distinct key, first row, count, weight sum) for each distinct value of a column, in
    the order the values first appear.

    One grouping sort (sensor.flows.group_by) whatever the number of distinct values: peeling
    values off one at a time with boolean masks cost a mispredicted branch per row and pass,
    with the encapsulations of a batch interleaved."""
    few = _count_few(keys, weights)
    if few is not None:
        return few
    uniq, first, inverse = group_by(keys)
    counts = np.bincount(inverse, minlength=len(uniq))
    sums = np.bincount(inverse, weights=weights, minlength=len(uniq)) if weights is not None else counts
    order = np.argsort(first)
    return list(zip(uniq[order].tolist(), first[order].tolist(), counts[order].tolist(),
                    sums[order].tolist()))


FEW = 512   # distinct values a batch's column is counted in one pass for (else it is sorted)


def _count_few(keys: np.ndarray, weights: np.ndarray | None):
    """count_distinct in one compiled pass where the column holds at most FEW distinct
    values (encapsulation chains, error reasons: a handful a batch); None where it holds
    more."""
    uniq = np.empty(FEW, dtype=keys.dtype)
    first, counts = np.empty(FEW, dtype=np.int64), np.empty(FEW, dtype=np.int64)
    sums = np.empty(FEW, dtype=np.float64)
    bits = (4 * FEW - 1).bit_length()                  # a table at most a quarter full
    got = flow_kernels.count_few_distinct(keys, keys if weights is None else weights,
                                          weights is not None, np.empty(1 << bits, dtype=np.int64),
                                          bits, uniq, first, counts, sums)
    if got < 0:
        return None
    return list(zip(uniq[:got].tolist(), first[:got].tolist(), counts[:got].tolist(),
                    (sums if weights is not None else counts)[:got].tolist()))


# The `encap` label: a chain is its own value while it is one that a line plausibly carries
# (at most CHAIN_LAYERS layers, no layer more than CHAIN_REPEATS times: GRE in L2TP in a
# VLAN has three IPv4 headers) and fewer than ENCAP_LABELS values are in use; every other
# chain counts under OTHER, so crafted nests cannot raise the number of series.
ENCAP_LABELS = 128
CHAIN_LAYERS, CHAIN_REPEATS = 12, 3
OTHER = "other"
NAMES_CACHED = 1024     # chains whose label is remembered (the rest are named again)


class TrafficStats:
    def __init__(self, layer_names: list[str]):
        self.layer_names = layer_names
        self.frames = 0
        self.packets: Counter[str] = Counter()   # by encapsulation chain (its label)
        self.bytes: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()    # by reason, e.g. truncated:ipv4
        self.non_ip: Counter[str] = Counter()    # by protocol, e.g. non-ip:arp
        # named faults by (decoder, fault), e.g. ("gre", "routing"): Suricata's per-decoder
        # events; bounded by the faults the protocols declare
        self.faults: Counter[tuple[str, str]] = Counter()
        self._names: dict[bytes, str] = {}

    def resume(self, old: "TrafficStats") -> None:
        """A reloaded configuration: the counters go on from `old`'s."""
        vars(self).update(vars(old))

    def encap_label(self, layers: np.ndarray, n: int) -> str:
        """The `encap` label of a chain of n layers (see ENCAP_LABELS)."""
        if n > CHAIN_LAYERS or (n and np.bincount(layers[:n]).max() > CHAIN_REPEATS):
            return OTHER
        name = encap_names(self.layer_names, layers, n) or "none"
        if name in self.packets or len(self.packets) < ENCAP_LABELS:
            return name
        return OTHER

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
                name = self.encap_label(t.layers[row], int(t.nlayers[row]))
                if len(self._names) < NAMES_CACHED:
                    self._names[raw] = name
            self.packets[name] += count
            self.bytes[name] += int(octets)
        bad = t.status != OK
        if bad.any():
            reason = ((t.status[bad].astype(np.int64) << 16)
                      | (t.status_layer[bad].astype(np.int64) << 8) | t.fault[bad])
            for value, _, count, _ in count_distinct(reason):
                status, layer, fault = value >> 16, self.layer_names[(value >> 8) & 255], value & 255
                text = status_text(status, layer, fault)
                (self.non_ip if status == NON_IP else self.errors)[text] += count
                if fault:
                    self.faults[(layer, FAULT_NAMES[fault])] += count
