"""Wiring: which decoder handles which next-protocol key, built from the protocols'
declarations (registry.py, protocol.py).

Decoders say what comes next as (namespace, value); the flat table maps each key to a
layer. A key missing from the table ends the row: ok where the namespace names payloads (an
IP protocol or UDP port we do not decode further), unsupported where it names a carrier
(keys.MISS_STATUS).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .keys import KEY_SPACE, MISS_STATUS, NAMESPACES, OK, UNSUPPORTED
from .registry import PROTOCOLS


def _layers(protocols) -> dict[str, tuple[Callable, bool]]:
    """layer name -> (decode function, shown in the encapsulation chain)"""
    out = {}
    for p in protocols:
        for name, fn in p.layers.items():
            assert name not in out, f"layer {name!r} declared twice"
            out[name] = fn if isinstance(fn, tuple) else (fn, True)
    return out


LAYERS = _layers(PROTOCOLS)
# (namespace, value, layer name)
ROUTES: list[tuple[int, int, str]] = [r for p in PROTOCOLS for r in p.routes]


@dataclass(frozen=True)
class Decoder:
    name: str
    layer_id: int
    fn: Callable
    visible: bool


class Dispatch:
    def __init__(self, layers=LAYERS, routes=ROUTES, miss=MISS_STATUS):
        # layer id 0 is "link": the capture's link type itself
        self.layer_names = ["link"] + list(layers)
        self.layer_ids = {name: i for i, name in enumerate(self.layer_names)}
        self.decoders = [None] + [Decoder(name, self.layer_ids[name], fn, visible)
                                  for name, (fn, visible) in layers.items()]
        self.flat = np.zeros(NAMESPACES * KEY_SPACE, dtype=np.int16)
        for ns, value, name in routes:
            at = ns * KEY_SPACE + value
            assert self.flat[at] == 0, f"key ({ns}, {value:#x}) routed twice"
            self.flat[at] = self.layer_ids[name]
        self.miss_status = np.array([miss.get(ns, UNSUPPORTED) for ns in range(NAMESPACES)],
                                    dtype=np.uint8)

    def route(self, f, rows, ns, value) -> None:
        if np.ndim(ns) == 0 and np.ndim(value) == 1:
            # the common call: one namespace, a column of values (all in range: fields of
            # at most 16 bits); no miss work where a miss ends the row ok
            value = np.asarray(value)
            if value.size and not (value.min() < 0 or value.max() >= KEY_SPACE):
                dec = self.flat[int(ns) * KEY_SPACE + value]
                f.next[rows] = dec
                if self.miss_status[ns] != OK:
                    miss = dec == 0
                    if miss.any():
                        f.fail(rows[miss], UNSUPPORTED)
                return
        value = np.broadcast_to(np.asarray(value, dtype=np.int64), rows.shape)
        ns = np.broadcast_to(np.asarray(ns, dtype=np.int64), rows.shape)
        in_range = (value >= 0) & (value < KEY_SPACE)
        dec = np.where(in_range, self.flat[ns * KEY_SPACE + np.where(in_range, value, 0)], 0)
        f.next[rows] = dec
        miss = dec == 0
        if miss.any():
            unsupported = rows[miss & (self.miss_status[ns] != OK)]
            if unsupported.size:
                f.fail(unsupported, UNSUPPORTED)

    def known(self, ns: int, value: np.ndarray) -> np.ndarray:
        """Which values of a namespace have a decoder (UDP tries both ports)."""
        value = np.asarray(value, dtype=np.int64)
        return self.flat[ns * KEY_SPACE + (value & (KEY_SPACE - 1))] != 0

    def id(self, name: str) -> int:
        return self.layer_ids[name]


DEFAULT = Dispatch()
