"""Plaintext payloads as byte streams, and the pre-filters shared by the payload detectors.

`Engine` is shared by `plaintext_pii` and `cleartext_credentials` (one per sensor): once per
batch it classifies payloads (`payload_class`), lays the plaintext ones out as stream
regions, runs the literal matcher and the digit-run pre-filter over the regions' bytes (and
no others: `matcher.scan_pieces`), and hands each detector the few regions worth parsing in Python.

TCP streams (one per direction of a flow). Segments are put in sequence order; each
segment's **region** is the bytes it adds to the stream: a retransmission adds nothing and is
dropped, an overlapping segment adds only its new bytes. So a byte of the stream is searched
once however often it was sent or in whatever order it came — no double counts. A segment
that starts where the stream so far ends is **joined** to it; the detectors then see the
bytes around the boundary (`before`, `after`), so a match split across segments is found.
Across batches each stream keeps its next expected sequence number and its last `CONTEXT`
bytes (the stored tail).

A segment past a hole, and the stream's later ones, are **held** (`Held`) until a later batch
fills the hole; they then walk again with that batch's segments, in sequence order, joined to
the bytes before them. A region is reported at the packet where it became readable: the
latest to arrive among its segment and those before it in the stream (`Segments.attribute`),
so an item is found at the same packet whatever the batching. What is given up is counted
(`Held` has the bounds): holes jumped (`ybsensor_payload_stream_holes_given_up_total{reason}`,
the bytes never seen in `ybsensor_payload_stream_jumped_bytes_total`) and held bytes dropped
unsearched (`ybsensor_payload_stream_held_dropped_bytes_total{reason}`).

Overlaps follow the BSD policy (Novak and Sturges' target-based reassembly; Suricata's
default host OS policy): where two copies of a byte differ, the one that came first is read,
unless the later segment begins before it. The segment whose bytes lose is counted
(`ybsensor_payload_stream_overlaps_differ_total`) and is the decode reason
`evasion:tcp_overlap` (as Zeek's `rexmit_inconsistency`). Segments of untracked flows and
other protocols are regions of their own.

The walks over the segments are compiled loops (`stream_walk`); only streams with a held
hole take Python steps.
The state lives in columns indexed by (flow slot, direction), checked against the flow key.
"""
from __future__ import annotations

import weakref
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ybsensor.decoders.layout import gather_block

from . import compiled
from .base import per_sensor
from .content import data_seq, every_head
from .matcher import MIN_RUN, RUN_CLASSES, LiteralMatcher, gather, scan_pieces
from .payload_class import PLAINTEXT, PayloadClasses

TCP = 6
CONTEXT = 32          # bytes of stream context kept and shown either side of a region
EDGE = 20             # bytes either side of a segment boundary the boundary pre-filter reads
MOD = 1 << 32
HALF = 1 << 31
FAR = 1 << 62         # "no cover yet"
HOLD_STREAM = 256 * 1024          # bytes a stream holds past its holes
HOLD_TOTAL = 32 * 1024 * 1024     # bytes all streams hold
HOLD_TIMEOUT_NS = 30 * 10**9      # packet time a stream waits for its holes to be filled
STREAM_COST, PIECE_COST = 400, 120     # bytes charged for a held stream, a held segment
GIVE_UP = ("timeout", "flow_end", "stream_bound", "total_bound")
OVERLAP_REASON = "evasion:tcp_overlap"


class StreamState:
    """Per TCP stream: next expected sequence number and the last CONTEXT bytes (right
    aligned: the tail's `tail_len` bytes end at column CONTEXT)."""

    def __init__(self):
        self.key = np.zeros(0, dtype=np.uint64)
        self.next_seq = np.full(0, -1, dtype=np.int64)
        self.tail = np.zeros((0, CONTEXT), dtype=np.uint8)
        self.tail_len = np.zeros(0, dtype=np.int16)
        self.jump = np.zeros(0, dtype=bool)       # may jump its holes in the next walk
        self.held = np.zeros(0, dtype=np.int64)   # bytes held past its holes (Held)
        self.held_since = np.zeros(0, dtype=np.int64)     # packet time it began to hold

    def grow(self, top: int) -> None:
        if top < len(self.key):
            return
        size = max(top + 1, 2 * len(self.key), 2048)
        extra = size - len(self.key)
        self.key = np.concatenate([self.key, np.zeros(extra, np.uint64)])
        self.next_seq = np.concatenate([self.next_seq, np.full(extra, -1, np.int64)])
        self.tail = np.concatenate([self.tail, np.zeros((extra, CONTEXT), np.uint8)])
        self.tail_len = np.concatenate([self.tail_len, np.zeros(extra, np.int16)])
        self.jump = np.concatenate([self.jump, np.zeros(extra, bool)])
        self.held = np.concatenate([self.held, np.zeros(extra, np.int64)])
        self.held_since = np.concatenate([self.held_since, np.zeros(extra, np.int64)])

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
class Segments:
    """The TCP segments a stream walk reads, one entry each: the batch's, and the ones held
    from earlier batches (row -1; their bytes lie past the batch's buffer, and `attribute`
    places them at a row of the batch)."""
    sid: np.ndarray                  # stream id (2 * flow slot + direction)
    seq: np.ndarray                  # TCP sequence number
    size: np.ndarray                 # payload bytes
    off: np.ndarray                  # where the payload lies in the buffer
    key: np.ndarray                  # flow key
    row: np.ndarray                  # table row, -1 for a held segment
    whole: np.ndarray | None = None  # the entry is its row's whole payload
    place: np.ndarray | None = None  # the row its region is reported at (`attribute`)

    def __post_init__(self):
        if self.whole is None:
            self.whole = self.row >= 0
        if self.place is None:
            self.place = self.row

    def take(self, idx: np.ndarray) -> "Segments":
        return Segments(*(getattr(self, f)[idx] for f in
                          ("sid", "seq", "size", "off", "key", "row", "whole", "place")))

    def attribute(self, n_rows: int, end: np.ndarray) -> None:
        """`place`: the row each segment's region is reported at. A receiver reads a byte
        once every byte before it came, so a segment is placed at the latest row (rows are
        in arrival order) among it and the segments before it in its stream that added
        bytes (a later copy of bytes an earlier segment brought, `end` not past theirs,
        adds none); held segments that lead their stream (their holes jumped), at the next
        row. So an item is reported where it became readable, whichever batch held its
        bytes."""
        starts = np.ones(len(self.sid), bool)
        starts[1:] = self.sid[1:] != self.sid[:-1]
        stream = np.cumsum(starts) - 1
        lift = stream * (n_rows + 1)                        # streams apart, in order
        reach = stream * (1 << 34) + end                    # `end` stays within +-2**32
        before = np.empty_like(reach)
        before[0] = reach[0] if len(reach) else 0
        before[1:] = np.maximum.accumulate(reach)[:-1]
        copy = ~starts & (reach <= before)
        latest = np.maximum.accumulate(np.where(copy, -1, self.row + lift)) - lift
        ahead = np.where(self.row < 0, FAR, self.row + lift)
        following = np.minimum.accumulate(ahead[::-1])[::-1] - lift
        self.place = np.where(latest >= 0, latest, following)


def _starts(size: np.ndarray) -> np.ndarray:
    """Where each of pieces of these sizes starts when they lie one after another."""
    return (np.cumsum(size) - size).astype(np.int64)


@dataclass
class _Chunk:
    """The segments one batch left held: columns, their bytes one after another."""
    sid: np.ndarray
    seq: np.ndarray
    size: np.ndarray
    at: np.ndarray                   # where each segment's bytes start in `data`
    key: np.ndarray
    data: np.ndarray
    alive: np.ndarray
    first_ns: int

    def dead_bytes(self) -> int:
        return len(self.data) - int(self.size[self.alive].sum())

    def compact(self) -> "_Chunk":
        keep = self.alive
        data = gather(self.data, self.at[keep], self.size[keep])
        return _Chunk(self.sid[keep], self.seq[keep], self.size[keep], _starts(self.size[keep]),
                      self.key[keep], data,
                      np.ones(int(keep.sum()), bool), self.first_ns)


class Held:
    """TCP segments past a hole, kept per stream across batches until a later batch fills
    the hole: then they walk again with that batch's segments, in sequence order. Kept as
    columns, one chunk a batch (oldest first); each stream's bytes held and since when in
    the stream state (`StreamState.held`, `held_since`). Bounds, each counted where it gives
    something up: `per_stream` bytes a stream (more, and its holes are jumped:
    `holes_given_up{stream_bound}`; what a batch held past it is dropped:
    `dropped_bytes{stream_bound}`), `total` bytes all streams, charged with a cost a stream
    and a segment (the oldest holes go: `total_bound`), `timeout_ns` of packet time after a
    stream's first held segment (its holes are jumped when it shows again, else its bytes
    dropped: `timeout`), and a flow whose slot a new flow took (`flow_end`)."""

    def __init__(self, per_stream: int = HOLD_STREAM, total: int = HOLD_TOTAL,
                 timeout_ns: int = HOLD_TIMEOUT_NS):
        self.per_stream, self.total, self.timeout_ns = per_stream, total, timeout_ns
        self.chunks: list[_Chunk] = []
        self.size = 0                   # payload bytes held
        self.pieces = 0                 # segments held
        self.streams = 0                # streams holding
        self.holes_given_up: Counter[str] = Counter({r: 0 for r in GIVE_UP})
        self.dropped_bytes: Counter[str] = Counter({r: 0 for r in GIVE_UP})
        self._since: dict[int, int] = {}    # streams released this batch: since when they held

    def charged(self) -> int:
        """The memory held, as bounded: the bytes and a rough cost of each stream and
        segment kept."""
        return self.size + STREAM_COST * self.streams + PIECE_COST * self.pieces

    def release(self, seg: Segments, st: StreamState, data: np.ndarray, now_ns: int):
        """The batch's segments and the held ones of its streams whose hole they may fill
        (a segment reaches the hole's start) or whose holes are to be jumped (timed out, too
        much held): (segments stream by stream, the buffer holding their bytes: the batch's,
        with the released bytes after it where there are any)."""
        if not self.chunks:
            return seg, data
        here = st.held[seg.sid] > 0                 # the batch's segments of holding streams
        if self.chunks[0].first_ns < now_ns - self.timeout_ns:
            old = np.flatnonzero((st.held > 0) & (st.held_since < now_ns - self.timeout_ns))
            shows = np.isin(old, seg.sid[here])
            st.jump[old[shows]] = True          # released below, their holes jumped
            self.holes_given_up["timeout"] += int(shows.sum())
            self._drop(old[~shows], st, "timeout")
        p = np.flatnonzero(here)
        if not p.size:
            return seg, data
        ps = seg.sid[p]
        ended = seg.key[p] != st.key[ps]            # a new flow in the slot: the old one ended
        if ended.any():
            self._drop(np.unique(ps[ended]), st, "flow_end")
            p, ps = p[~ended], ps[~ended]
        ahead = ((seg.seq[p] - st.next_seq[ps] + HALF) % MOD) - HALF
        reach = (ahead <= 0) & (ahead + seg.size[p] > 0)
        out = np.unique(ps[reach | st.jump[ps]])
        if not out.size:
            return seg, data
        self._since = dict(zip(out.tolist(), st.held_since[out].tolist()))
        sid, seq, size, key, extra = self._take(out, st)
        off = len(data) + _starts(size)
        # each held segment joins its stream's run of the batch's segments, at its start:
        # it came first (a later copy of the same bytes loses to it in the walk)
        run_sid, run_at = np.unique(seg.sid, return_index=True)
        starts = np.ones(len(seg.sid), bool)
        starts[1:] = seg.sid[1:] != seg.sid[:-1]
        run = np.cumsum(starts) - 1
        order = np.argsort(np.concatenate([run[run_at[np.searchsorted(run_sid, sid)]], run]),
                           kind="stable")
        joined = Segments(np.concatenate([sid, seg.sid]), np.concatenate([seq, seg.seq]),
                          np.concatenate([size, seg.size]), np.concatenate([off, seg.off]),
                          np.concatenate([key, seg.key]),
                          np.concatenate([np.full(len(sid), -1, np.int64), seg.row])).take(order)
        # the walk reads a few bytes past a region (its tail): room after the released ones
        return joined, np.concatenate([data, extra, np.zeros(CONTEXT, np.uint8)])

    def keep(self, seg: Segments, buf: np.ndarray, now_ns: int, st: StreamState) -> None:
        """Hold the segments a walk left past a hole (stream by stream); then the bounds."""
        sid, size = seg.sid, seg.size
        starts = np.ones(len(sid), bool)
        starts[1:] = sid[1:] != sid[:-1]
        first = np.flatnonzero(starts)
        within = np.cumsum(size) - np.repeat(np.cumsum(size)[first] - size[first],
                                             np.diff(np.append(first, len(sid))))
        over = st.held[sid] + within > self.per_stream
        if over.any():
            self.dropped_bytes["stream_bound"] += int(size[over].sum())
            st.jump[sid[over]] = True           # next time the stream shows, its holes are jumped
            seg = seg.take(np.flatnonzero(~over))
            sid, size = seg.sid, seg.size
        since, self._since = self._since, {}
        if not len(sid):
            return
        fresh = np.unique(sid[st.held[sid] == 0])      # a stream held again keeps its age
        st.held_since[fresh] = [since.get(s, now_ns) for s in fresh.tolist()]
        np.add.at(st.held, sid, size)
        self.streams += len(fresh)
        self.chunks.append(_Chunk(sid, seg.seq, size, _starts(size), seg.key,
                                  gather(buf, seg.off, size), np.ones(len(sid), bool), now_ns))
        self.size += int(size.sum())
        self.pieces += len(sid)
        while self.streams and self.charged() > self.total:
            self._evict(st)

    def _evict(self, st: StreamState) -> None:
        """The oldest holes go: the streams of the oldest chunk, in the order they came,
        until the charge is within the bound."""
        c = self.chunks[0]
        sids = c.sid[c.alive]
        _, at = np.unique(sids, return_index=True)
        sids = sids[np.sort(at)]
        cost = np.cumsum(st.held[sids] + STREAM_COST + PIECE_COST)
        need = int(np.searchsorted(cost, self.charged() - self.total)) + 1
        self._drop(sids[:need], st, "total_bound")

    def _take(self, sids: np.ndarray, st: StreamState):
        """The held segments of streams `sids`, in the order they came, out of the store:
        (sid, seq, size, key, their bytes one after another)."""
        parts = []
        for c in self.chunks:
            m = c.alive & np.isin(c.sid, sids)
            if m.any():
                parts.append((c.sid[m], c.seq[m], c.size[m], c.key[m],
                              gather(c.data, c.at[m], c.size[m])))
                c.alive[m] = False
        self._forget(sids, st)
        return tuple(np.concatenate([p[k] for p in parts]) for k in range(5))

    def _drop(self, sids: np.ndarray, st: StreamState, reason: str) -> None:
        if not len(sids):
            return
        self.dropped_bytes[reason] += int(st.held[sids].sum())
        self.holes_given_up[reason] += len(sids)
        for c in self.chunks:
            c.alive &= ~np.isin(c.sid, sids)
        self._forget(sids, st)

    def _forget(self, sids: np.ndarray, st: StreamState) -> None:
        """Streams `sids` hold nothing now; chunks mostly dead are compacted, empty ones go."""
        self.size -= int(st.held[sids].sum())
        self.streams -= len(sids)
        st.held[sids] = 0
        chunks = []
        for c in self.chunks:
            if c.alive.any():
                chunks.append(c.compact() if c.dead_bytes() > len(c.data) // 2 else c)
        self.chunks = chunks
        self.pieces = sum(int(c.alive.sum()) for c in chunks)

    def metric_families(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        holes = CounterMetricFamily("ybsensor_payload_stream_holes_given_up", "TCP streams "
                                    "whose holes the payload detectors stopped waiting for",
                                    labels=["reason"])
        dropped = CounterMetricFamily("ybsensor_payload_stream_held_dropped_bytes", "Bytes "
                                      "held past a hole in a TCP stream and dropped unsearched",
                                      labels=["reason"])
        for reason in GIVE_UP:
            holes.add_metric([reason], self.holes_given_up[reason])
            dropped.add_metric([reason], self.dropped_bytes[reason])
        yield holes
        yield dropped
        yield GaugeMetricFamily("ybsensor_payload_stream_held_bytes", "Bytes held past holes "
                                "in TCP streams, waiting for the holes to be filled",
                                value=self.size)
        yield GaugeMetricFamily("ybsensor_payload_stream_held_streams", "TCP streams holding "
                                "bytes past a hole", value=self.streams)


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
        self.held = Held()
        self.reasons: Counter[str] = Counter()   # decode reasons (the sensor's, where wired)
        self._normaliser = None

    @classmethod
    def shared(cls, detector) -> "Engine":
        """The sensor's instance; the first detector to ask publishes its metrics."""
        return per_sensor(cls, cls._shared, detector)

    @classmethod
    def made_for(cls, detector) -> "Engine | None":
        """The sensor's instance if one of its payload detectors made it (asked at a
        batch, once every detector is made), else None."""
        return per_sensor(cls, cls._shared, detector, make=False)

    def count_reasons_in(self, counter: Counter) -> None:
        """Count the decode reasons the streams show (OVERLAP_REASON) in `counter` (the
        sensor's, beside the decoders')."""
        counter.update(self.reasons)
        self.reasons = counter

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
        yield from self.held.metric_families()
        if self._normaliser is not None:
            yield from self._normaliser.metric_families()

    @property
    def normaliser(self):
        """The streams read as their receiver reads them (normalise.Normaliser), shared by
        the payload detectors; made when a detector asks, at its start, so that its
        literals are in the batch-wide pass from the first batch on."""
        if self._normaliser is None:
            from .normalise import Normaliser
            self._normaliser = Normaliser(self)
        return self._normaliser

    def normalised(self, ctx, view: "View"):
        """(the regions fed to a stream parser this batch, the decoded pieces to search):
        normalise.Normaliser.run, once per batch whichever detector asks first."""
        cached = ctx.__dict__.get("_ybsensor_normalised")
        if cached is not None and cached[0] is self:
            return cached[1]
        got = self.normaliser.run(ctx, view)
        ctx.__dict__["_ybsensor_normalised"] = (self, got)
        return got

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
        cls = self.classes.classify(ctx)
        rows = np.flatnonzero(cls == PLAINTEXT)
        regions = self._regions(ctx, rows)
        data = regions.data
        empty = np.zeros(0, np.int64)
        if not len(regions):
            return View(cls, regions, empty, empty, empty, empty, empty, empty, empty)
        # literals wholly inside one region, and runs of digits: the regions' bytes only
        hits = scan_pieces(data, regions.off, regions.length, self.matcher, MIN_RUN)
        edge_digit_owner, edge_lit_owner, edge_lit_id = self._edges(regions)
        return View(cls, regions, hits.piece, hits.literal, hits.start, hits.digit_pieces,
                    edge_digit_owner, edge_lit_owner, edge_lit_id)

    def _regions(self, ctx, rows: np.ndarray) -> Regions:
        """The batch's regions: the stream walks (stream_walk) over its TCP segments and
        the segments its streams held from earlier batches whose hole may close now."""
        t = ctx.t
        data = t.batch.data
        n = len(rows)
        if ctx.flow is None:
            return Regions.whole_payloads(data, rows, t.payload_off[rows], t.payload_len[rows])
        seg_rows, sid = np.empty(n, np.int64), np.empty(n, np.int64)
        others = np.empty(n, np.int64)
        n_seg, n_o, top = compiled.call(
            "stream_rows", ctx.groups.order, rows, ctx.flow, t.proto, t.tcp_seq, t.src_hi,
            t.src_lo, t.sport, t.dst_hi, t.dst_lo, t.dport, TCP, np.zeros(t.n, np.int8), seg_rows, sid,
            others)
        other = others[:n_o]
        o_off, o_len = t.payload_off[other], t.payload_len[other]
        if top < 0:
            return Regions.whole_payloads(data, other, o_off, o_len)
        st = self.state
        st.grow(top)
        seg_rows, sid = seg_rows[:n_seg], sid[:n_seg]
        seg = Segments(sid, data_seq(t, seg_rows), t.payload_len[seg_rows], t.payload_off[seg_rows],
                       ctx.flow_keys[seg_rows], seg_rows)
        buf = data
        now_ns = int(t.ts_ns.max())
        if self.held.streams:
            seg, buf = self.held.release(seg, st, data, now_ns)
        released = buf is not data
        n_seg = len(seg.sid)
        rel, end, base = np.empty(n_seg, np.int64), np.empty(n_seg, np.int64), np.empty(n_seg, np.int64)
        known = np.empty(n_seg, dtype=bool)
        ascending = compiled.call("stream_positions", seg.sid, seg.seq, seg.size, seg.key,
                                  st.key, st.next_seq, HALF, MOD, -(1 << 24), 1 << 30, rel, end, known, base)
        if not ascending:       # some segments out of order: by stream, then sequence
            starts = np.ones(n_seg, dtype=bool)
            starts[1:] = seg.sid[1:] != seg.sid[:-1]
            perm = np.argsort(((np.cumsum(starts) - 1) << 33) | (rel + HALF * 2), kind="stable")
            seg = seg.take(perm)
            rel, end, known, base = rel[perm], end[perm], known[perm], base[perm]
        if not ascending or released:
            seg.attribute(t.n, end)
        heads = every_head(t)
        size = n_seg + n_o
        row, off, length = np.empty(size, np.int64), np.empty(size, np.int64), np.empty(size, np.int64)
        rsid, skip, stored_at = np.empty(size, np.int64), np.empty(size, np.int64), np.empty(size, np.int64)
        joined, from_state, last = np.empty(size, bool), np.empty(size, bool), np.empty(size, bool)
        stored_tail = np.empty((n_seg, CONTEXT), np.uint8)
        stored_len = np.empty(n_seg, np.int64)
        short, held = np.empty(n_seg, np.int64), np.empty(n_seg, np.int64)
        word = np.empty(size, np.uint64)
        counts = np.zeros(3, np.int64)
        nk, nfs, nshort, nheld = compiled.call(
            "stream_regions", seg.sid, rel, end, known, base, seg.key, seg.row, seg.place,
            seg.off, seg.whole, buf, heads, st.key, st.next_seq, st.tail, st.tail_len, st.jump,
            self.held.per_stream, FAR, MOD, row, off, length, rsid, joined, from_state, skip,
            last, stored_at, stored_tail, stored_len, short, word, held, counts,
            np.empty(n_seg, np.int64))
        self.jumped += int(counts[0])
        self.differ += int(counts[1])
        if counts[1]:   # a reason is listed only once it happened
            self.reasons[OVERLAP_REASON] += int(counts[1])
        self.held.holes_given_up["stream_bound"] += int(counts[2])
        if nheld:
            self.held.keep(seg.take(held[:nheld]), buf, now_ns, st)
        # the other rows after the TCP streams, in the same arrays
        k = slice(nk, nk + n_o)
        row[k], off[k], length[k], rsid[k], skip[k], stored_at[k] = other, o_off, o_len, -1, 0, -1
        joined[k], from_state[k], last[k] = False, False, False
        word[k] = heads.view("<u8")[other, 0]     # whole payloads: their heads' first 8 bytes
        m = nk + n_o
        regions = Regions(buf, row[:m], off[:m], length[:m], rsid[:m], joined[:m],
                          from_state[:m], skip[:m], last[:m], stored_at[:m],
                          stored_tail[:nfs].copy(), stored_len[:nfs].copy(), word[:m])
        for i in short[:nshort].tolist():    # a short last segment: compose from the stream
            st.compose_tail(int(rsid[i]), regions, i)
        return regions

    def _edges(self, regions: Regions):
        """Boundaries where a match may cross from one region into the next joined one:
        (owner entries of digit runs), (owner entries, literal ids) of literals
        (stream_walk.edges reads the windows and the digit runs)."""
        empty = np.zeros(0, np.int64)
        j = np.flatnonzero(regions.joined)
        if not j.size:
            return empty, empty, empty
        windows = np.empty((len(j), 2 * EDGE), np.uint8)
        owner = np.empty(len(j), np.int64)
        digit_owner = np.empty(len(j), np.int64)
        n = compiled.call("edges", j, regions.off, regions.length, regions.from_state,
                          regions.stored_at, regions.stored_tail, regions.stored_len,
                          regions.data, MIN_RUN, RUN_CLASSES, windows, owner, digit_owner)
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
