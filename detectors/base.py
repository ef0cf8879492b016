"""What every detector shares: the batch context it reads and the findings it returns.

A detector knows its rule, not where packets came from: it gets a BatchContext (the
PacketTable, each row's flow, and address-plan lookups computed once per batch) and returns
Findings — the rows that break its rule, as columns, with evidence for the few it explains.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np

from ybsensor.decoders.table import PacketTable
from ybsensor.core import flow_kernels

SEVERITIES = ("low", "medium", "high", "critical")


@dataclass
class Finding:
    """Rows of one batch that break one detector's rule."""
    rows: np.ndarray                         # row indices in the batch's table
    severity: str = "high"
    reason: str = ""                         # a short code shared by all rows
    explain: Callable[[int], dict] | None = None  # evidence for one row; called only for
                                             # the rows that become alerts
    group: np.ndarray | None = None          # dedup key per row; default: the row's flow
    institution: np.ndarray | None = None    # institution index per row, where the rule knows it


def by_rank(hits) -> list[dict]:
    """(row, item) pairs, in order, as layers {row: item}: a row's first item in the first
    layer, its second in the second... A Finding lists a row once; where one row names
    several things (a segment completing several requests), each layer is a Finding of its
    own, so that each thing has its alert."""
    layers: list[dict] = []
    for row, item in hits:
        k = 0
        while k < len(layers) and row in layers[k]:
            k += 1
        if k == len(layers):
            layers.append({})
        layers[k][row] = item
    return layers


class BatchContext:
    """One batch as the detectors see it; address lookups are made on first use only."""

    def __init__(self, table: PacketTable, flow_of_row: np.ndarray, plan, config,
                 flow_key: np.ndarray | None = None, groups=None,
                 from_client: np.ndarray | None = None):
        self.t = table
        self.flow = flow_of_row
        self.flow_key = flow_key  # each row's 64-bit flow key (the flow table's), if known
        self._groups = groups     # the flow table's FlowGroups of this batch, if known
        # each row: 1 its flow's client sent it, 0 its server, -1 not known (the flow table
        # learns it from the handshake; content.toward_server guesses the rest by port)
        self.from_client = from_client
        self.plan = plan
        self.config = config

    @cached_property
    def groups(self):
        """The batch's IP rows grouped by flow (sensor.flows.FlowGroups), sorted once."""
        if self._groups is not None:
            return self._groups
        from ybsensor.core.flows import FlowGroups
        return FlowGroups.of(self.ip_rows, self.flow_keys[self.ip_rows], self.t.n)

    @cached_property
    def flow_keys(self) -> np.ndarray:
        """Each row's 64-bit flow key (the same for both directions; 0 without IP)."""
        if self.flow_key is not None:
            return self.flow_key
        from ybsensor.core.flows import flow_keys
        keys = np.zeros(self.t.n, dtype=np.uint64)
        rows = np.flatnonzero(self.t.n_ip > 0)
        keys[rows] = flow_keys(self.t, rows)
        return keys

    @cached_property
    def ip_rows(self) -> np.ndarray:
        return np.flatnonzero(self.t.n_ip > 0)

    # one search per address answers both owner and zone
    @cached_property
    def _lookups(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each row's source owner, destination owner, source zone and destination zone.
        Both ends are part of the flow key: where the flow table says which way each row
        goes, they are searched once a flow (at its first row) and handed to its rows,
        swapped for the other direction."""
        t, g, plan = self.t, self.groups, self.plan
        if g.reverse is None or 2 * len(g) >= t.n:     # else search every row
            src, dst = plan.locate(t.src_hi, t.src_lo), plan.locate(t.dst_hi, t.dst_lo)
            return plan.owner_of[src], plan.owner_of[dst], plan.zone_of[src], plan.zone_of[dst]
        lead = g.first
        lead_src = plan.locate(t.src_hi[lead], t.src_lo[lead])
        lead_dst = plan.locate(t.dst_hi[lead], t.dst_lo[lead])
        # rows without IP hold the zero address
        none = plan.locate(np.zeros(1, np.uint64), np.zeros(1, np.uint64))[0]
        out = tuple(np.empty(t.n, dtype=np.int64) for _ in range(4))
        flow_kernels.row_ends(g.rows, g.inverse, g.reverse, lead_src, lead_dst, int(none),
                              plan.owner_of, plan.zone_of, *out)   # one pass over the rows
        return out

    src_owner = property(lambda self: self._lookups[0])
    dst_owner = property(lambda self: self._lookups[1])
    src_zone = property(lambda self: self._lookups[2])
    dst_zone = property(lambda self: self._lookups[3])

    @cached_property
    def line_pattern(self) -> np.ndarray:
        """Index of the configured line each row's line matches (-1 for none)."""
        t = self.t
        match = self.plan.lines.match
        # the line is part of the flow key: look it up once a flow, and for rows without IP
        g = self.groups
        alone = np.flatnonzero(g.of_row < 0)
        if len(g) + len(alone) >= t.n:
            return match(t.line_kind, t.line_a, t.line_b, t.batch.interfaces)
        picked = np.concatenate([g.first, alone])
        found = match(t.line_kind[picked], t.line_a[picked], t.line_b[picked], t.batch.interfaces)
        out = np.empty(t.n, dtype=found.dtype)
        out[g.rows] = found[:len(g)][g.inverse]
        out[alone] = found[len(g):]
        return out

    @cached_property
    def line_owner(self) -> np.ndarray:
        return self.plan.lines.owner_of[self.line_pattern]

    @cached_property
    def has_ip(self) -> np.ndarray:
        """Rows with user traffic's IP header to judge; a tunnel's own transport header
        (carrier LAC/LNS addresses of an L2TP control message, say) is not."""
        return self.t.user_ip()

    def payload(self, row: int, limit: int = 4096) -> bytes:
        """The innermost payload of one row (for the few rows a pre-filter selected)."""
        t = self.t
        start = int(t.payload_off[row])
        return t.batch.data[start: start + min(int(t.payload_len[row]), limit)].tobytes()


class SettingError(ValueError):
    """A mistake in a detector's settings: `why`, and where — a key of its config table
    (`table`: a table under it, `index`: which of an array's tables), or a place in a file
    the settings name (`file`, with `line` for a line-based file, else `table`/`key` in it)."""

    def __init__(self, why: str, key: str | None = None, table: str = "", index: int = 0,
                 file: str | None = None, line: int | None = None):
        super().__init__(why)
        self.why, self.key, self.table, self.index = why, key, table, index
        self.file, self.line = file, line


def per_sensor(cls, registry, detector, make: bool = True):
    """The one `cls` shared by the detectors of one sensor, kept in `registry` (a
    WeakKeyDictionary) under the sensor's address plan (or its config); a private one where
    neither can be a key. The first detector to ask is its `publisher`: it publishes the
    shared one's metrics. `make` false: the one another detector made, or None."""
    anchor = detector.plan if detector.plan is not None else detector.config
    found = None
    try:
        if anchor is not None:
            found = registry.get(anchor)
            if found is None and make:
                found = registry[anchor] = cls()
    except TypeError:           # not weak-referenceable: a private one
        pass
    if not make:
        return found
    found = cls() if found is None else found
    if found.publisher is None:
        found.publisher = detector
    return found


class Detector:
    name = ""
    rule = ""

    @classmethod
    def check_settings(cls, settings: dict, base: str) -> None:
        """Raise SettingError for a mistake in this detector's settings that the config's
        schema cannot see (files they name, the form of their values); `base`: the folder
        of the config file, which relative paths start from."""

    def __init__(self, config, plan):
        self.config = config
        self.plan = plan
        self.settings = config.detectors.get(self.name, {}) if config else {}
        # where the files its settings name are, relative paths: the config file's folder
        self.base = Path(config.path).parent if config is not None and config.path else Path(".")

    def detect(self, ctx: BatchContext) -> list[Finding]:
        raise NotImplementedError
