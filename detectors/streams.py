"""Plaintext payloads as byte streams, and the pre-filters shared by the payload detectors.

`Engine` is shared by `plaintext_pii` and `cleartext_credentials` (one per sensor): once per
batch it classifies payloads (`payload_class`), lays the plaintext ones out as stream
regions, runs the literal matcher and the digit-run pre-filter over the regions' bytes (and
no others: `matcher.scan_pieces`), and hands each detector the few regions worth parsing in Python.

TCP streams (one per direction of a flow). Segments are put in sequence order within the
batch; each segment's **region** is the bytes it adds to the stream: a retransmission adds
nothing and is dropped, an overlapping segment adds only its new bytes. So a byte of the
stream is searched once however often it was sent or in whatever order it came — no double
counts. A segment that starts where the stream so far ends is **joined** to it; the detectors
then see the bytes around the boundary (`before`, `after`), so a match split across
segments is found. Across batches each stream keeps its next expected sequence number and
its last `CONTEXT` bytes (the stored tail). When a segment leaves a hole, the stream jumps
past it: bytes that arrive later to fill it (from a later batch) are taken for
retransmissions and not searched — a miss, never a double count; the bytes jumped are
counted (`ybsensor_payload_stream_jumped_bytes_total`). A segment that resends bytes an
earlier segment of the batch carried, with other values, is counted
(`ybsensor_payload_stream_overlaps_differ_total`, an evasion attempt: the first copy is
what is searched). Within a batch order does not matter. Segments of untracked flows and other protocols are regions of their own.

The state lives in columns indexed by (flow slot, direction), checked against the flow key.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from ybsensor.decoders.layout import gather_block
from ybsensor.core.flows import runs

from . import compiled
from .base import per_sensor
from .content import every_head
from .matcher import MIN_RUN, LiteralMatcher, scan_pieces
from .payload_class import PLAINTEXT, PayloadClasses

TCP = 6
CONTEXT = 32          # bytes of stream context kept and shown either side of a region
EDGE = 20             # bytes either side of a segment boundary the boundary pre-filter reads
MOD = 1 << 32
HALF = 1 << 31
FAR = 1 << 62         # "no cover yet"


def _digitish(a: np.ndarray) -> np.ndarray:
    return ((a - np.uint8(48)) < 10) | (a == 88) | (a == 120)    # 0-9, X, x


def _part_by_direction(by_flow: np.ndarray, flow: np.ndarray, up: np.ndarray) -> np.ndarray:
    """`by_flow` (indices, flow by flow, arrival order within a flow) reordered so that
    within each flow direction 0 comes first, then direction 1, each in arrival order: a
    stable partition computed by counting."""
    n = len(by_flow)
    if not n:
        return by_flow
    f, down = flow[by_flow], ~up[by_flow]
    begins = np.ones(n, dtype=bool)
    begins[1:] = f[1:] != f[:-1]
    group = np.cumsum(begins) - 1
    first = np.flatnonzero(begins)
    downs = np.cumsum(down)                          # direction-0 rows up to here
    downs_before = (downs - down)[first]             # ... before each flow's first row
    rank_down = downs - down - downs_before[group]   # direction-0 rows before this one, in its flow
    ends = np.append(first[1:], n)
    n_down = downs[ends - 1] - downs_before          # direction-0 rows of each flow
    rank_up = np.arange(n) - first[group] - rank_down
    dest = first[group] + np.where(down, rank_down, n_down[group] + rank_up)
    out = np.empty_like(by_flow)
    out[dest] = by_flow
    return out


def _resends_other_bytes(data, at, sid, rel, end, new_start, keep, prev) -> int:
    """Segments (in stream order; `at` their payloads, `prev` the furthest end of their
    stream before them in the batch) that resend bytes an earlier region of their stream
    gave, with other values: payload_kernels._resends_other_bytes for the numpy path (a loop
    over the few overlapping segments)."""
    count = 0
    kept = np.flatnonzero(keep)
    for i in np.flatnonzero((prev > -FAR) & (rel < prev)).tolist():
        upto = min(int(end[i]), int(prev[i]))
        for k in kept[(kept < i) & (sid[kept] == sid[i])][::-1].tolist():
            ks, ke = int(new_start[k]), int(end[k])
            if ke <= rel[i]:
                break
            lo, hi = max(int(rel[i]), ks), min(upto, ke)
            first = int(at[k]) + ks - int(rel[k])
            if hi > lo and (data[first + lo - ks: first + hi - ks]
                            != data[int(at[i]) + lo - int(rel[i]): int(at[i]) + hi - int(rel[i])]).any():
                count += 1
                break
    return count


class StreamState:
    """Per TCP stream: next expected sequence number and the last CONTEXT bytes (right
    aligned: the tail's `tail_len` bytes end at column CONTEXT)."""

    def __init__(self):
        self.key = np.zeros(0, dtype=np.uint64)
        self.next_seq = np.full(0, -1, dtype=np.int64)
        self.tail = np.zeros((0, CONTEXT), dtype=np.uint8)
        self.tail_len = np.zeros(0, dtype=np.int16)

    def grow(self, top: int) -> None:
        if top < len(self.key):
            return
        size = max(top + 1, 2 * len(self.key), 2048)
        extra = size - len(self.key)
        self.key = np.concatenate([self.key, np.zeros(extra, np.uint64)])
        self.next_seq = np.concatenate([self.next_seq, np.full(extra, -1, np.int64)])
        self.tail = np.concatenate([self.tail, np.zeros((extra, CONTEXT), np.uint8)])
        self.tail_len = np.concatenate([self.tail_len, np.zeros(extra, np.int16)])

    def compose_tail(self, s: int, regions: "Regions", i: int) -> None:
        """Stream s's tail from its region i and the stream before it: where the region's
        payload holds fewer than CONTEXT bytes."""
        text = (regions.before(i, CONTEXT) + regions.bytes(i))[-CONTEXT:]
        self.tail[s] = 0
        if text:
            self.tail[s, CONTEXT - len(text):] = np.frombuffer(text, np.uint8)
        self.tail_len[s] = len(text)


@dataclass
class Regions:
    """The plaintext regions of one batch, TCP ones in stream order (by stream, then
    sequence), the others after. Arrays are aligned, one entry per region."""
    data: np.ndarray                 # the batch's byte buffer
    row: np.ndarray                  # table row of each region
    off: np.ndarray                  # start of the region in `data`
    length: np.ndarray               # its length (> 0)
    sid: np.ndarray                  # stream id (2 * flow slot + direction), -1 for none
    joined: np.ndarray               # continues the previous entry (or the stored tail)
    from_state: np.ndarray           # joined to the tail stored by the previous batch
    skip: np.ndarray                 # bytes of the row's payload before the region
    last: np.ndarray                 # the stream's last region in this batch
    stored_at: np.ndarray | None = None          # entry -> row of stored_tail (-1: none)
    stored_tail: np.ndarray | None = None        # the tails of the from_state entries
    stored_len: np.ndarray | None = None
    word: np.ndarray | None = None               # first_words(), where already read

    @classmethod
    def whole_payloads(cls, data, row, off, length) -> "Regions":
        """Regions of rows outside any TCP stream: each its row's whole payload."""
        n = len(row)
        f = np.zeros(n, dtype=bool)
        return cls(data, row, off, length, np.full(n, -1), f, f.copy(), np.zeros(n, np.int64),
                   f.copy())

    def first_words(self) -> np.ndarray:
        """Each region's first 8 bytes as one little-endian uint64 (content.first_word's
        form: zero past the region's end)."""
        if self.word is None:
            word = gather_block(self.data, self.off, 8).view("<u8")[:, 0]
            short = np.minimum(self.length, 8).astype(np.uint64) * np.uint64(8)
            keep = np.where(short < 64, (np.uint64(1) << (short & np.uint64(63))) - np.uint64(1),
                            ~np.uint64(0))
            self.word = word & keep
        return self.word

    def tail(self, i: int) -> bytes:
        """The tail the previous batch stored for a from_state entry."""
        k = int(self.stored_at[i]) if self.stored_at is not None else -1
        if k < 0:
            return b""
        n = int(self.stored_len[k])
        return self.stored_tail[k, CONTEXT - n:].tobytes()

    def __len__(self) -> int:
        return len(self.row)

    def bytes(self, i: int) -> bytes:
        o = int(self.off[i])
        return self.data[o: o + int(self.length[i])].tobytes()

    def before(self, i: int, n: int = CONTEXT) -> bytes:
        """Up to n stream bytes just before region i (nothing if it starts a chain)."""
        parts, have = [], 0
        while have < n and self.joined[i]:
            if self.from_state[i]:
                tail = self.tail(i)
                parts.append(tail[-(n - have):])
                break
            i -= 1
            o, ln = int(self.off[i]), int(self.length[i])
            take = min(ln, n - have)
            parts.append(self.data[o + ln - take: o + ln].tobytes())
            have += take
        return b"".join(reversed(parts))

    def after(self, i: int, n: int = CONTEXT) -> tuple[bytes, list[tuple[int, int]]]:
        """Up to n stream bytes just after region i, and the (entry, bytes) they come from."""
        parts, spans, have = [], [], 0
        while have < n and i + 1 < len(self.row) and self.joined[i + 1] \
                and not self.from_state[i + 1] and self.sid[i + 1] == self.sid[i] >= 0:
            i += 1
            o, ln = int(self.off[i]), int(self.length[i])
            take = min(ln, n - have)
            parts.append(self.data[o: o + take].tobytes())
            spans.append((i, take))
            have += take
        return b"".join(parts), spans


@dataclass
class View:
    """What the engine found in one batch."""
    cls: np.ndarray                  # payload class per row (0: none)
    regions: Regions
    lit_entry: np.ndarray            # literal matches wholly inside one region: entry,
    lit_id: np.ndarray               # literal id,
    lit_start: np.ndarray            # start in `data`
    digit_entries: np.ndarray        # entries with a run of >= 11 digits
    edge_digit_owner: np.ndarray     # entries owning a digit run that may cross into the next
    edge_lit_owner: np.ndarray       # entries owning a literal crossing into the next,
    edge_lit_id: np.ndarray          # and its id


class Engine:
    """Payload classes, stream regions and pre-filters, shared by the payload detectors of
    one sensor (`Engine.shared(detector)`), computed once per batch."""

    _shared: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

    def __init__(self):
        self.classes = PayloadClasses()
        self.state = StreamState()
        self.literals: list[bytes] = []
        self._matcher: LiteralMatcher | None = None
        self.publisher = None        # the detector that publishes the engine's metrics
        self.jumped = 0              # stream bytes jumped at holes (never searched)
        self.differ = 0              # resent segments whose bytes differ from the first copy

    @classmethod
    def shared(cls, detector) -> "Engine":
        return per_sensor(cls, cls._shared, detector)

    def register(self, literals: list[bytes]) -> np.ndarray:
        """Add literals to the batch-wide matcher; their ids."""
        ids = []
        for lit in literals:
            if len(lit) > EDGE:
                raise ValueError(f"literals are at most {EDGE} bytes: {lit!r}")
            low = lit.lower()
            if low not in self.literals:
                self.literals.append(low)
                self._matcher = None
            ids.append(self.literals.index(low))
        return np.array(ids, dtype=np.int64)

    def metric_families(self):
        from prometheus_client.core import CounterMetricFamily
        yield from self.classes.metric_families()
        yield CounterMetricFamily("ybsensor_payload_stream_jumped_bytes", "TCP stream bytes "
                                  "the payload detectors jumped at a hole (not searched if they "
                                  "come later)", value=self.jumped)
        yield CounterMetricFamily("ybsensor_payload_stream_overlaps_differ", "TCP segments "
                                  "resending stream bytes with other values than their first "
                                  "copy (the first copy is searched; evasion:tcp_overlap)",
                                  value=self.differ)

    @property
    def matcher(self) -> LiteralMatcher | None:
        if self._matcher is None and self.literals:
            self._matcher = LiteralMatcher(self.literals)
        return self._matcher

    def view(self, ctx) -> View:
        cached = ctx.__dict__.get("_ybsensor_payload_view")
        if cached is not None and cached[0] is self:
            return cached[1]
        view = self._compute(ctx)
        ctx.__dict__["_ybsensor_payload_view"] = (self, view)
        return view

    # --- per batch ---------------------------------------------------------------------

    def _compute(self, ctx) -> View:
        t = ctx.t
        cls = self.classes.classify(ctx)
        rows = np.flatnonzero(cls == PLAINTEXT)
        regions = self._regions(ctx, rows)
        data = t.batch.data
        empty = np.zeros(0, np.int64)
        if not len(regions):
            return View(cls, regions, empty, empty, empty, empty, empty, empty, empty)
        # literals wholly inside one region, and runs of digits: the regions' bytes only
        hits = scan_pieces(data, regions.off, regions.length, self.matcher, MIN_RUN)
        edge_digit_owner, edge_lit_owner, edge_lit_id = self._edges(regions)
        return View(cls, regions, hits.piece, hits.literal, hits.start, hits.digit_pieces,
                    edge_digit_owner, edge_lit_owner, edge_lit_id)

    def _regions(self, ctx, rows: np.ndarray) -> Regions:
        if ctx.flow is not None and compiled.on():
            regions = self._regions_compiled(ctx, rows)
            if regions is not None:
                return regions
        t = ctx.t
        data = t.batch.data
        flow = ctx.flow[rows] if ctx.flow is not None else np.full(len(rows), -1)
        is_tcp = (t.proto[rows] == TCP) & (t.tcp_seq[rows] >= 0) & (flow >= 0)
        other = rows[~is_tcp]
        trows = rows[is_tcp]
        n_o = len(other)
        o_off, o_len = t.payload_off[other], t.payload_len[other]
        if not trows.size:
            return Regions.whole_payloads(data, other, o_off, o_len)
        st = self.state
        # the stream: flow slot and direction (the lower endpoint sends direction 0)
        a = (t.src_hi[trows], t.src_lo[trows], t.sport[trows])
        b = (t.dst_hi[trows], t.dst_lo[trows], t.dport[trows])
        up = (a[0] > b[0]) | ((a[0] == b[0]) & ((a[1] > b[1]) | ((a[1] == b[1]) & (a[2] > b[2]))))
        sid = flow[is_tcp] * 2 + up.astype(np.int64)
        keys = ctx.flow_keys[trows]
        st.grow(int(sid.max()))
        seq = t.tcp_seq[trows]
        plen = t.payload_len[trows]
        # the rows stream by stream in arrival order, without a sort: the batch's rows are
        # grouped by flow already; each flow's rows are parted by direction
        by_stream = _part_by_direction(ctx.groups.narrow(trows), flow[is_tcp], up)
        sid_s = sid[by_stream]
        begins, inv = runs(by_stream, sid_s)
        stream_of = inv[by_stream]
        first_idx = by_stream[begins]               # each stream's first segment to arrive
        usid = sid_s[begins]
        # each stream's base: the expected next sequence number, if known and plausible
        # (a first segment far from it is a new connection on the same ports)
        known_u = (st.key[usid] == keys[first_idx]) & (st.next_seq[usid] >= 0)
        probe = ((seq[first_idx] - st.next_seq[usid] + HALF) % MOD) - HALF
        known_u &= (probe > -(1 << 24)) & (probe < (1 << 30))
        base_u = np.where(known_u, st.next_seq[usid], seq[first_idx])
        known, base = known_u[inv], base_u[inv]
        rel = ((seq - base + HALF) % MOD) - HALF
        end = rel + plen
        # by stream, then sequence, then arrival: segments mostly come in order, so the
        # stream-by-stream arrival order usually is that already; else a stable sort of it
        rank = (stream_of << 33) | (rel[by_stream] + HALF * 2)
        order = by_stream
        if len(rank) > 1 and not (rank[1:] >= rank[:-1]).all():
            order = by_stream[np.argsort(rank, kind="stable")]
        sid, rel, end, known, trows_s = sid[order], rel[order], end[order], known[order], trows[order]
        keys, base = keys[order], base[order]
        n = len(order)
        starts = np.ones(n, dtype=bool)
        starts[1:] = sid[1:] != sid[:-1]
        gidx = np.cumsum(starts) - 1
        # cover before each segment: the furthest end so far in its stream (segmented max)
        shifted = end + HALF * 4 + gidx * (1 << 40)
        cum = np.maximum.accumulate(shifted)
        prev_in_batch = np.full(n, -FAR, dtype=np.int64)
        prev_in_batch[1:] = cum[:-1] - HALF * 4 - gidx[1:] * (1 << 40)
        prev_in_batch[starts] = -FAR
        cover = np.where(known, np.maximum(prev_in_batch, 0), prev_in_batch)
        self.jumped += int(np.maximum(rel - cover, 0)[cover > -FAR].sum())
        new_start = np.maximum(rel, cover)
        keep = new_start < end
        self.differ += _resends_other_bytes(data, t.payload_off[trows_s], sid, rel, end,
                                            new_start, keep, prev_in_batch)
        joined = (cover > -FAR) & (rel <= cover)
        from_state = joined & known & (prev_in_batch <= 0)
        # the stream's new state: next expected sequence number and stored tail
        ends_idx = np.append(np.flatnonzero(starts)[1:] - 1, n - 1)
        max_end = cum[ends_idx] - HALF * 4 - gidx[ends_idx] * (1 << 40)
        gsid = sid[ends_idx]
        sid_k, trow_k = sid[keep], trows_s[keep]
        skip = new_start[keep] - rel[keep]
        off = t.payload_off[trow_k] + skip
        length = end[keep] - new_start[keep]
        joined_k, fs_k = joined[keep], from_state[keep]
        last = np.ones(len(sid_k), dtype=bool)
        last[:-1] = sid_k[:-1] != sid_k[1:]
        regions = Regions(data, trow_k, off, length, sid_k, joined_k, fs_k, skip, last)
        # the tails the previous batch stored, for the regions that continue them (copied
        # before this batch's tails replace them)
        fs_entries = np.flatnonzero(fs_k)
        regions.stored_at = np.full(len(sid_k), -1, dtype=np.int64)
        regions.stored_at[fs_entries] = np.arange(len(fs_entries))
        regions.stored_tail = st.tail[sid_k[fs_entries]]
        regions.stored_len = st.tail_len[sid_k[fs_entries]].astype(np.int64)
        # store: next_seq and the last CONTEXT bytes of each stream that moved on
        moved = max_end > np.where(known[ends_idx], 0, -FAR)
        st.key[gsid] = keys[ends_idx]
        st.next_seq[gsid[moved]] = (base[ends_idx][moved] + max_end[moved]) % MOD
        last_entry = np.flatnonzero(last)
        if last_entry.size:
            ls = sid_k[last_entry]
            lend = off[last_entry] + length[last_entry]
            avail = np.minimum(lend - t.payload_off[trow_k[last_entry]], CONTEXT)
            blk = gather_block(data, np.maximum(lend - CONTEXT, 0), CONTEXT)
            st.tail[ls] = blk
            st.tail_len[ls] = CONTEXT
            short = np.flatnonzero(avail < CONTEXT)
            for k in short.tolist():          # a short last segment: compose from the stream
                st.compose_tail(int(ls[k]), regions, int(last_entry[k]))
        # others after the TCP streams
        if n_o:
            f = np.zeros(n_o, dtype=bool)
            regions = Regions(
                data, np.concatenate([regions.row, other]), np.concatenate([regions.off, o_off]),
                np.concatenate([regions.length, o_len]), np.concatenate([regions.sid, np.full(n_o, -1)]),
                np.concatenate([regions.joined, f]), np.concatenate([regions.from_state, f]),
                np.concatenate([regions.skip, np.zeros(n_o, np.int64)]),
                np.concatenate([regions.last, f]),
                np.concatenate([regions.stored_at, np.full(n_o, -1)]), regions.stored_tail,
                regions.stored_len)
        return regions

    def _regions_compiled(self, ctx, rows: np.ndarray) -> Regions | None:
        """_regions with numba loops (payload_kernels): the same regions and state, in three
        passes over the segments instead of some sixty numpy passes over them; None where
        the loops cannot run here."""
        t = ctx.t
        data = t.batch.data
        n = len(rows)
        seg_rows, seg_sid = np.empty(n, np.int64), np.empty(n, np.int64)
        others = np.empty(n, np.int64)
        got = compiled.call("stream_rows", ctx.groups.order, rows, ctx.flow, t.proto, t.tcp_seq,
                            t.src_hi, t.src_lo, t.sport, t.dst_hi, t.dst_lo, t.dport, TCP,
                            np.zeros(t.n, np.int8), seg_rows, seg_sid, others)
        if got is None:
            return None
        n_seg, n_o, top = got
        other = others[:n_o]
        o_off, o_len = t.payload_off[other], t.payload_len[other]
        if top < 0:
            return Regions.whole_payloads(data, other, o_off, o_len)
        st = self.state
        st.grow(top)
        seg_rows, sid = seg_rows[:n_seg], seg_sid[:n_seg]
        keys = ctx.flow_keys
        rel, end, base = np.empty(n_seg, np.int64), np.empty(n_seg, np.int64), np.empty(n_seg, np.int64)
        known = np.empty(n_seg, dtype=bool)
        ascending = compiled.call("stream_positions", seg_rows, sid, t.tcp_seq, t.payload_len, keys,
                                  st.key, st.next_seq, HALF, MOD, -(1 << 24), 1 << 30,
                                  rel, end, known, base)
        if ascending is None:
            return None
        if not ascending:       # some segments out of order: by stream, then sequence
            starts = np.ones(n_seg, dtype=bool)
            starts[1:] = sid[1:] != sid[:-1]
            rank = ((np.cumsum(starts) - 1) << 33) | (rel + HALF * 2)
            perm = np.argsort(rank, kind="stable")
            seg_rows, sid, rel, end, known, base = (
                seg_rows[perm], sid[perm], rel[perm], end[perm], known[perm], base[perm])
        heads = every_head(t)
        size = n_seg + n_o
        row, off, length = np.empty(size, np.int64), np.empty(size, np.int64), np.empty(size, np.int64)
        rsid, skip, stored_at = np.empty(size, np.int64), np.empty(size, np.int64), np.empty(size, np.int64)
        joined, from_state, last = np.empty(size, bool), np.empty(size, bool), np.empty(size, bool)
        stored_tail = np.empty((n_seg, CONTEXT), np.uint8)
        stored_len = np.empty(n_seg, np.int64)
        short = np.empty(n_seg, np.int64)
        word = np.empty(size, np.uint64)
        jumped, differ = np.zeros(1, np.int64), np.zeros(1, np.int64)
        got = compiled.call(
            "stream_regions", seg_rows, sid, rel, end, known, base, keys, t.payload_off, data,
            heads, st.key, st.next_seq, st.tail, st.tail_len, FAR, MOD, row, off, length, rsid, joined,
            from_state, skip, last, stored_at, stored_tail, stored_len, short, word, jumped, differ,
            np.empty(n_seg, np.int64))
        if got is None:
            return None
        self.jumped += int(jumped[0])
        self.differ += int(differ[0])
        nk, nfs, nshort = got
        # the other rows after the TCP streams, in the same arrays
        k = slice(nk, nk + n_o)
        row[k], off[k], length[k], rsid[k], skip[k], stored_at[k] = other, o_off, o_len, -1, 0, -1
        joined[k], from_state[k], last[k] = False, False, False
        word[k] = heads.view("<u8")[other, 0]     # whole payloads: their heads' first 8 bytes
        m = nk + n_o
        regions = Regions(data, row[:m], off[:m], length[:m], rsid[:m], joined[:m],
                          from_state[:m], skip[:m], last[:m], stored_at[:m],
                          stored_tail[:nfs].copy(), stored_len[:nfs].copy(), word[:m])
        for i in short[:nshort].tolist():    # a short last segment: compose from the stream
            st.compose_tail(int(rsid[i]), regions, i)
        return regions

    def _edges(self, regions: Regions):
        """Boundaries where a match may cross from one region into the next joined one:
        (owner entries of digit runs), (owner entries, literal ids) of literals."""
        empty = np.zeros(0, np.int64)
        j = np.flatnonzero(regions.joined)
        if not j.size:
            return empty, empty, empty
        data = regions.data
        if compiled.on():
            got = self._edges_compiled(regions, j)
            if got is not None:
                return got
        # EDGE bytes on the left of each joined boundary: the previous region's end, or the
        # stored tail; and the first EDGE bytes of the region itself
        prev = np.maximum(j - 1, 0)
        fs = regions.from_state[j]
        left_end = regions.off[prev] + regions.length[prev]
        left = gather_block(data, np.maximum(left_end - EDGE, 0), EDGE).copy()
        left_len = np.where(fs, 0, np.minimum(regions.length[prev], EDGE))
        if fs.any():
            at = regions.stored_at[j[fs]]
            left[fs] = regions.stored_tail[at, CONTEXT - EDGE:]
            left_len[fs] = np.minimum(regions.stored_len[at], EDGE)
        left[np.arange(EDGE)[None, :] < (EDGE - left_len)[:, None]] = 0
        right = gather_block(data, regions.off[j], EDGE).copy()
        rlen = np.minimum(regions.length[j], EDGE)
        right[np.arange(EDGE)[None, :] >= rlen[:, None]] = 0
        owner = np.where(fs, j, j - 1)
        # digits: the run ending the left side and the run starting the right side
        ld = _digitish(left)[:, ::-1]
        trailing = np.where(ld.all(axis=1), EDGE, ld.argmin(axis=1))
        trailing = np.where(trailing >= left_len, np.where(left_len > 0, CONTEXT, 0), trailing)
        rd = _digitish(right)
        leading = np.where(rd.all(axis=1), EDGE, rd.argmin(axis=1))
        leading = np.minimum(leading, rlen)
        # a region of digits only may carry a run on into the next: conservative
        all_digits = (leading == regions.length[j]) & (leading > 0)
        digit_owner = owner[(trailing > 0) & (leading > 0)
                            & ((trailing + leading >= MIN_RUN) | all_digits)]
        lit_owner, lit_id = self._edge_literals(np.concatenate([left, right], axis=1), owner)
        return np.unique(digit_owner), lit_owner, lit_id

    def _edges_compiled(self, regions: Regions, j: np.ndarray):
        """_edges with one numba loop (payload_kernels.edges) for the windows and the digit
        runs; None where it cannot run here."""
        windows = np.empty((len(j), 2 * EDGE), np.uint8)
        owner = np.empty(len(j), np.int64)
        digit_owner = np.empty(len(j), np.int64)
        n = compiled.call("edges", j, regions.off, regions.length, regions.from_state,
                          regions.stored_at, regions.stored_tail, regions.stored_len,
                          regions.data, MIN_RUN, windows, owner, digit_owner)
        if n is None:
            return None
        lit_owner, lit_id = self._edge_literals(windows, owner)
        return np.unique(digit_owner[:n]), lit_owner, lit_id

    def _edge_literals(self, windows: np.ndarray, owner: np.ndarray):
        """(owner entries, literal ids) of the literals crossing a boundary: windows are
        (boundaries, 2 * EDGE) bytes, the boundary in the middle."""
        empty = np.zeros(0, np.int64)
        lit_owner, lit_id = empty, empty
        if self.matcher is not None:
            s, ids = self.matcher.scan(np.ascontiguousarray(windows).reshape(-1))
            if s.size:
                lens = np.array([len(x) for x in self.literals])[ids]
                w = s // (2 * EDGE)
                at = s % (2 * EDGE)
                cross = (at < EDGE) & (at + lens > EDGE) & ((s + lens - 1) // (2 * EDGE) == w)
                lit_owner, lit_id = owner[w[cross]], ids[cross]
        return lit_owner, lit_id
