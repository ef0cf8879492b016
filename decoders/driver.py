"""The generic decode driver: a cursor per frame, one round per layer.

Each round hands every decoder the rows whose cursor points at it (rows grouped by a stable
radix sort of their decoder ids). A decoder reads its header for those rows, writes what it
found into the table, and moves each row on with `goto` (next offset and next-protocol key)
or ends it with `stop` / `fail`. A row the decoder leaves alone ends there, status ok.
"""
from __future__ import annotations

import numpy as np

from . import fastpath
from .batch import Batch
from .keys import DEPTH, LINKTYPE, MALFORMED, OK, TRUNCATED
from .table import MAX_LAYERS, PacketTable

MAX_ROUNDS = MAX_LAYERS + 8  # invisible layers (IPv6 extension headers) take rounds too
PORTS = 4  # a transport header's bytes that hold its ports


class Frames:
    """The decode state a decoder sees: the buffer, each row's cursor, the table."""

    def __init__(self, batch: Batch, dispatch, options: dict | None = None,
                 heads: bool = False):
        self.buf = batch.data
        self.pos = batch.offset.copy()
        self.end = batch.offset + batch.caplen
        self.table = PacketTable(batch)
        self.aux = np.zeros(len(batch), dtype=np.int64)  # a decoder's word to the next one
        self.next = np.zeros(len(batch), dtype=np.int16)  # decoder id to run; 0 = done
        self.options = options or {}
        self.dispatch = dispatch
        self.layer = 0  # id of the layer whose decoder runs now
        # the fused path (fastpath.py): rounds a row saved by passing layers in one call,
        # an upper bound of those, and the round under way
        self.credit = np.zeros(len(batch), dtype=np.int64)
        self.fused_bound = 0
        self.round = 0
        self.max_rounds = MAX_ROUNDS
        self.want_heads = heads
        self.heads = None     # PayloadHeads, where wanted and the decode kernel ran

    # What decoders call.

    def enough(self, rows: np.ndarray, length, pos=None) -> np.ndarray:
        """Mask of the rows with `length` captured bytes from `pos` (default: the cursor);
        the others fail truncated."""
        start = self.pos[rows] if pos is None else pos
        ok = start + length <= self.end[rows]
        if not ok.all():
            self.fail(rows[~ok], TRUNCATED)
        return ok

    def drop(self, rows: np.ndarray, bad: np.ndarray, status: int | None, *cols, fault=0):
        """Fail the rows where `bad` (status None: failed already); return rows and the
        columns without them. When no row is bad (the common case) nothing is copied."""
        if not bad.any():
            return (rows, *cols)
        if status is not None:
            self.fail(rows[bad], status, fault=fault)
        keep = ~bad
        return (rows[keep], *(c[keep] for c in cols))

    def header(self, rows: np.ndarray, layout):
        """The rows whose `layout` header is captured at their cursor (the others fail
        truncated), their cursors, and the header's fixed bytes (`layout.cut` the fields)."""
        rows = self.need(rows, layout.min_len)
        pos = self.pos[rows]
        return rows, pos, layout.block(self.buf, pos)

    def ports(self, rows: np.ndarray, layout):
        """A transport header's ports, recorded where its first PORTS bytes are captured (as
        Wireshark shows them on a cut header); the rows with its whole fixed header (the
        others fail truncated), their cursors, header bytes, ports and captured ends."""
        rows = self.need(rows, PORTS)
        pos = self.pos[rows]
        blk = layout.block(self.buf, pos)
        sport, dport = layout.cut(blk, "sport"), layout.cut(blk, "dport")
        self.table.set_transport(rows, sport, dport)
        end = self.end[rows]
        return self.drop(rows, pos + layout.min_len > end, TRUNCATED, pos, blk, sport, dport, end)

    def need(self, rows: np.ndarray, length) -> np.ndarray:
        """The rows that have `length` more captured bytes; the others fail truncated."""
        ok = self.enough(rows, length)
        return rows if ok.all() else rows[ok]

    def goto(self, rows: np.ndarray, pos, ns, value, aux=None) -> None:
        """Move rows to `pos`, where the protocol named (ns, value) begins."""
        if not rows.size:
            return
        self.pos[rows] = pos
        if aux is not None:
            self.aux[rows] = aux
        self.dispatch.route(self, rows, ns, value)

    def stop(self, rows: np.ndarray, pos=None) -> None:
        """End rows here with status ok; what follows `pos` is their payload."""
        if pos is not None:
            self.pos[rows] = pos
        self.next[rows] = 0

    def fail(self, rows: np.ndarray, status: int, layer: int | None = None, fault: int = 0):
        """End rows with `status` at the current layer (or `layer`); `fault`: the decoder's
        named reason (protocol.Faults)."""
        t = self.table
        t.status[rows] = status
        t.status_layer[rows] = self.layer if layer is None else layer
        t.fault[rows] = fault
        self.next[rows] = 0

    def malformed(self, rows: np.ndarray, *checks) -> np.ndarray:
        """Fail as malformed the rows that any (mask, fault) check marks, each naming the
        first fault that holds for it; return the mask of those rows."""
        bad = np.zeros(len(rows), dtype=bool)
        for mask, fault in checks:
            new = mask & ~bad
            if new.any():
                self.fail(rows[new], MALFORMED, fault=fault)
                bad |= new
        return bad

    def shrink(self, rows: np.ndarray, new_end: np.ndarray) -> None:
        """A length field says the packet ends before the captured bytes do (padding)."""
        self.end[rows] = np.minimum(self.end[rows], new_end)

    def prev_layer(self, rows: np.ndarray) -> np.ndarray:
        """The layer id recorded just before the current one (0 where none)."""
        t = self.table
        idx = t.nlayers[rows].astype(np.int64) - 2
        return np.where(idx >= 0, t.layers[rows, np.maximum(idx, 0)], 0)


def run(batch: Batch, dispatch, options: dict | None = None,
        fast: bool | str | None = None, heads: bool = False) -> PacketTable:
    """Decode a batch; `fast` picks how the commonest chains are fused (fastpath.backend);
    `heads`: the decode kernel keeps the payload heads of the rows it finishes, for the
    content pre-filters (table.PayloadHeads; plain decoding has no use for them)."""
    f = Frames(batch, dispatch, options, heads)
    t = f.table
    everyone = np.arange(len(batch))
    f.layer = 0
    dispatch.route(f, everyone, LINKTYPE, batch.linktype.astype(np.int64))
    decoders = fastpath.decoders_for(dispatch, fastpath.backend(fast, len(batch)))
    layers_flat = t.layers.reshape(-1)
    for r in range(MAX_ROUNDS):
        f.round = r
        active = np.flatnonzero(f.next)
        if r + f.fused_bound >= MAX_ROUNDS and active.size:
            # rows whose fused layers used up the rounds left end as they would have
            late = f.credit[active] + r >= MAX_ROUNDS
            if late.any():
                f.fail(active[late], DEPTH, 0)
                active = active[~late]
        if not active.size:
            break
        ids = f.next[active]
        order = np.argsort(ids, kind="stable")
        active, ids = active[order], ids[order]
        cuts = np.flatnonzero(np.diff(ids)) + 1
        starts = np.concatenate(([0], cuts))
        ends = np.concatenate((cuts, [len(ids)]))
        f.next[active] = 0
        for a, b in zip(starts.tolist(), ends.tolist()):
            dec = decoders[int(ids[a])]
            rows = active[a:b]
            if dec.visible:
                n = t.nlayers[rows]
                deep = n >= MAX_LAYERS
                if deep.any():
                    f.fail(rows[deep], DEPTH, t.layers[rows[deep], MAX_LAYERS - 1])
                    rows, n = rows[~deep], n[~deep]
                layers_flat[rows * MAX_LAYERS + n] = dec.layer_id
                t.nlayers[rows] = n + 1
            f.layer = dec.layer_id
            dec.fn(f, rows)
    left = np.flatnonzero(f.next)
    if left.size:
        f.fail(left, DEPTH, 0)
    t.payload_off = f.pos
    t.payload_len = np.maximum(f.end - f.pos, 0)
    bad = t.status != OK
    t.payload_len[bad] = 0
    t.payload_heads = f.heads
    return t
