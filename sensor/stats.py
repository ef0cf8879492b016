"""Traffic counters by encapsulation chain and decode-error reason, per batch, vectorized."""
from __future__ import annotations

from collections import Counter

import numpy as np

from decoders.keys import NON_IP, OK
from decoders.table import PacketTable
from decoders.view import encap_names, status_text


class TrafficStats:
    def __init__(self, layer_names: list[str]):
        self.layer_names = layer_names
        self.frames = 0
        self.packets: Counter[str] = Counter()   # by encapsulation chain
        self.bytes: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()    # by reason, e.g. truncated:ipv4
        self.non_ip: Counter[str] = Counter()    # by protocol, e.g. non-ip:arp

    def process(self, t: PacketTable) -> None:
        self.frames += t.n
        if not t.n:
            return
        # one key per distinct chain: the layer ids of a row as one 16-byte value
        chains = np.ascontiguousarray(t.layers).view(np.dtype((np.void, t.layers.shape[1])))[:, 0]
        uniq, first, inverse = np.unique(chains, return_index=True, return_inverse=True)
        counts = np.bincount(inverse, minlength=len(uniq))
        octets = np.bincount(inverse, weights=t.wirelen, minlength=len(uniq))
        for k, row in enumerate(first.tolist()):
            name = encap_names(self.layer_names, t.layers[row], int(t.nlayers[row])) or "none"
            self.packets[name] += int(counts[k])
            self.bytes[name] += int(octets[k])
        reason = t.status.astype(np.int64) * 256 + t.status_layer
        bad = t.status != OK
        if bad.any():
            values, counts = np.unique(reason[bad], return_counts=True)
            for v, c in zip(values.tolist(), counts.tolist()):
                text = status_text(v // 256, self.layer_names[v % 256])
                (self.non_ip if v // 256 == NON_IP else self.errors)[text] += c
