"""The flow table: per access line and inner 5-tuple, packets, bytes, first/last seen and
TCP flags — bounded, updated a batch at a time.

Flows live in fixed columns (one slot per flow, `max_flows` slots) indexed by an
open-addressing hash of 64-bit flow keys. Lookups and inserts probe for a whole column of
keys at once; eviction (idle flows, or the least recently seen when the table is full)
frees slots and rebuilds the index from the survivors. Both directions of a conversation
share one flow: the key is built from the endpoints in a canonical order.
"""
from __future__ import annotations

import numpy as np

from ybsensor.decoders import compiled
from ybsensor.decoders.table import PacketTable

U64 = np.uint64
GOLDEN = U64(0x9E3779B97F4A7C15)
SEED = U64(0x5851F42D4C957F2D)       # flow keys' hash starts here
ICMP, TCP, UDP, ICMP6, SCTP = 1, 6, 17, 58, 132
BYTES_PER_FLOW = 2 * 16 + 18 * 8  # index entry at half load + the flow's columns (a rough
# figure; FlowTable.memory_bytes(max_flows) is the exact one)

# ICMP types with a counterpart (echo / echo reply ...) as in Community ID
_ICMP_PAIR = np.full((2, 256), -1, dtype=np.int64)
for _v, _pairs in ((0, {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}),
                   (1, {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135,
                        130: 131, 131: 130, 144: 145, 145: 144})):
    for _a, _b in _pairs.items():
        _ICMP_PAIR[_v, _a] = _b


# the flow table's compiled loops, where the compiled path is on (decoders/compiled.py)
FLOW_LOOPS = compiled.Loops("ybsensor.core.flow_kernels")


def _mix(h: np.ndarray, v: np.ndarray) -> np.ndarray:
    """One splitmix64-style round folding v into h (uint64 arithmetic wraps)."""
    h = (h ^ v.astype(U64)) * GOLDEN
    return h ^ (h >> U64(31))


def flow_ports(t: PacketTable, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ports for flow identity: transport ports, or ICMP type and its counterpart (or code)."""
    proto = t.proto[rows]
    sport = np.where(t.sport[rows] >= 0, t.sport[rows], 0)
    dport = np.where(t.dport[rows] >= 0, t.dport[rows], 0)
    is_icmp = ((proto == ICMP) | (proto == ICMP6)) & (t.icmp_type[rows] >= 0)
    if is_icmp.any():
        itype = np.clip(t.icmp_type[rows], 0, 255)
        pair = _ICMP_PAIR[(proto == ICMP6).astype(np.int64), itype]
        sport = np.where(is_icmp, itype, sport)
        dport = np.where(is_icmp, np.where(pair >= 0, pair, t.icmp_code[rows]), dport)
    return sport, dport


def _pick(mask: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) where mask is 0, (y, x) where it is all ones."""
    flip = (x ^ y) & mask
    return x ^ flip, y ^ flip


def flow_keys(t: PacketTable, rows: np.ndarray, with_direction: bool = False):
    """A 64-bit key per row, the same for both directions of a flow on one line; with
    `with_direction`, also whether each row goes from the flow's higher endpoint to its
    lower one (rows of one flow with the same value go the same way)."""
    if compiled.on():
        keys = np.empty(len(rows), dtype=U64)
        swap = np.empty(len(rows), dtype=bool)
        if FLOW_LOOPS.call("flow_keys", np.asarray(rows, dtype=np.int64), t.line_kind, t.line_a,
                           t.line_b, t.proto, t.src_hi, t.src_lo, t.dst_hi, t.dst_lo, t.sport,
                           t.dport, t.icmp_type, t.icmp_code, _ICMP_PAIR, ICMP, ICMP6, int(SEED),
                           keys, swap) is not None:
            return (keys, swap) if with_direction else keys
    sport, dport = flow_ports(t, rows)
    s_hi, s_lo, d_hi, d_lo = t.src_hi[rows], t.src_lo[rows], t.dst_hi[rows], t.dst_lo[rows]
    swap = (s_hi > d_hi) | ((s_hi == d_hi) & ((s_lo > d_lo) | ((s_lo == d_lo) & (sport > dport))))
    # the lower endpoint first; selects by xor-masks: np.where branches on every row, and
    # with replies interleaved the branch is a coin toss
    m64 = U64(0) - swap.astype(U64)
    a_hi, b_hi = _pick(m64, s_hi, d_hi)
    a_lo, b_lo = _pick(m64, s_lo, d_lo)
    a_p, b_p = _pick(-swap.astype(np.int64), sport, dport)
    h = np.full(len(rows), SEED)
    for col in (t.line_kind[rows], t.line_a[rows], t.line_b[rows], t.proto[rows],
                a_hi, a_lo, b_hi, b_lo, (a_p << 16) | b_p):
        h = _mix(h, col)
    keys = np.where(h == 0, U64(1), h)  # 0 marks an empty index slot
    return (keys, swap) if with_direction else keys


def share_of(t: PacketTable, parts: int) -> np.ndarray:
    """Which of `parts` shares each row falls in, so that every packet of a flow, and every
    fragment of a datagram, falls in the same one: a hash of the line and the two addresses
    in a canonical order (no ports: a later fragment has none). Rows without IP: share 0."""
    out = np.zeros(t.n, dtype=np.int64)
    rows = np.flatnonzero(t.n_ip > 0)
    if parts <= 1 or not rows.size:
        return out
    s_hi, s_lo, d_hi, d_lo = t.src_hi[rows], t.src_lo[rows], t.dst_hi[rows], t.dst_lo[rows]
    m64 = U64(0) - ((s_hi > d_hi) | ((s_hi == d_hi) & (s_lo > d_lo))).astype(U64)
    a_hi, b_hi = _pick(m64, s_hi, d_hi)
    a_lo, b_lo = _pick(m64, s_lo, d_lo)
    h = np.full(len(rows), SEED)
    for col in (t.line_kind[rows], t.line_a[rows], t.line_b[rows], a_hi, a_lo, b_hi, b_lo):
        h = _mix(h, col)
    # the high half, scaled to [0, parts): a round's low bits follow the inputs' low bits
    out[rows] = (((h >> U64(32)) * U64(parts)) >> U64(32)).astype(np.int64)
    return out


def stable_argsort(keys: np.ndarray) -> np.ndarray:
    """np.argsort(keys, kind="stable") for well-mixed 64-bit keys (flow keys), about ten
    times faster: each key's high bits and its position are packed into one word and the
    words sorted by value (no index sort, no merge sort). Exact: where two different keys
    share those high bits (vanishingly rare for hashes) it falls back to the merge sort."""
    n = len(keys)
    bits = max((n - 1).bit_length(), 1)
    if n < 2 or bits > 32:
        return np.argsort(keys, kind="stable")
    u = keys.view(U64) if keys.dtype == np.int64 else keys.astype(U64, copy=False)
    if keys.dtype == np.int64:
        u = u ^ U64(1 << 63)  # signed order as unsigned
    shift = U64(bits)
    packed = np.sort(((u >> shift) << shift) | np.arange(n, dtype=U64))
    perm = (packed & U64((1 << bits) - 1)).astype(np.int64)
    ordered = u[perm]
    same_prefix = (packed[1:] >> shift) == (packed[:-1] >> shift)
    if (same_prefix & (ordered[1:] != ordered[:-1])).any():
        return np.argsort(keys, kind="stable")
    return perm


def _scramble(values: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a bijection of 64-bit words that spreads any keys (line
    codes, small integers) over the whole range, as stable_argsort wants them."""
    x = values.astype(U64, copy=True) if values.dtype != np.int64 else values.view(U64).copy()
    x ^= x >> U64(30)
    x *= U64(0xBF58476D1CE4E5B9)
    x ^= x >> U64(27)
    x *= U64(0x94D049BB133111EB)
    x ^= x >> U64(31)
    return x


def runs(perm: np.ndarray, ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For `ordered` = values[perm], equal values adjacent: where each run of equal values
    starts in `ordered`, and each original element's run (inverse[perm] = its run)."""
    begins = np.ones(len(ordered), dtype=bool)
    begins[1:] = ordered[1:] != ordered[:-1]
    inverse = np.empty(len(perm), dtype=np.int64)
    inverse[perm] = np.cumsum(begins) - 1
    return np.flatnonzero(begins), inverse


def group_by(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct values, index of each one's first occurrence, each element's group) — as
    np.unique(values, return_index=True, return_inverse=True) gives them, but with the
    groups in no particular order, and without np.unique's merge sort."""
    n = len(values)
    if not n:
        return values[:0], np.zeros(0, np.int64), np.zeros(0, np.int64)
    if values[0] == values[-1] and (values == values[0]).all():  # one group (a line's, say)
        return values[:1], np.zeros(1, np.int64), np.zeros(n, np.int64)
    perm = stable_argsort(_scramble(values))   # a bijection: equal after it means equal
    ordered = values[perm]
    start, inverse = runs(perm, ordered)
    return ordered[start], perm[start], inverse


class FlowGroups:
    """A batch's IP rows grouped by flow key, once, for every stage of the batch (the flow
    table, then detectors that work a flow at a time).

    key[g], first[g]: each group's flow key and first row (groups in key order);
    first_at[g]: that row's position in `rows`; inverse: each of `rows`' group;
    of_row: each table row's group (-1 for rows without IP); order: the rows group by group,
    in capture order within a group; start: where each group begins in `order`;
    reverse: for each of `rows`, whether it goes the other way than its group's first row
    (None where the keys' directions are not known)."""

    def __init__(self, rows, key, first_at, inverse, of_row, order, start, reverse=None):
        self.rows, self.key, self.first_at, self.inverse = rows, key, first_at, inverse
        self.first = rows[first_at]
        self.of_row, self.order, self.start = of_row, order, start
        self.reverse = reverse
        # each group's packets, bytes, last time and TCP flags in this batch, where the flow
        # table counted them (None otherwise)
        self.packets = self.octets = self.last_ns = self.tcp_flags = None

    @classmethod
    def of(cls, rows: np.ndarray, keys: np.ndarray, n: int,
           direction: np.ndarray | None = None, counted: PacketTable | None = None) -> "FlowGroups":
        """`direction`: flow_keys' with_direction column for `rows`, if known; `counted`:
        the rows' table, to count each group's packets, bytes, last time and TCP flags."""
        if len(keys) and compiled.on():
            groups = cls._of_compiled(rows, keys, n, direction, counted)
            if groups is not None:
                return groups
        perm = stable_argsort(keys)
        sorted_keys = keys[perm]
        start, inverse = runs(perm, sorted_keys)
        of_row = np.full(n, -1, dtype=np.int64)
        of_row[rows] = inverse
        reverse = None
        if direction is not None:
            reverse = direction != direction[perm[start]][inverse]
        groups = cls(rows, sorted_keys[start], perm[start], inverse, of_row, rows[perm], start,
                     reverse)
        if counted is not None:
            t, ng, order = counted, len(start), groups.order
            groups.packets = np.bincount(inverse, minlength=ng)
            groups.octets = np.bincount(inverse, weights=t.wirelen[rows],
                                        minlength=ng).astype(np.int64)
            # rows lie flow by flow in order: reduce each run
            groups.last_ns = np.maximum.reduceat(t.ts_ns[order], start)
            groups.tcp_flags = np.bitwise_or.reduceat(np.maximum(t.tcp_flags[order], 0), start)
        return groups

    @classmethod
    def _of_compiled(cls, rows, keys, n, direction, counted):
        """`of` without sorting the rows: they are grouped (and counted) in one pass through
        a hash table, in the order their keys first appear; only the distinct keys, a fifth
        of the rows in a typical batch, are sorted; then a second pass lays the rows out
        group by group. None where the loops do not run."""
        m = len(keys)
        rows = np.asarray(rows, dtype=np.int64)
        uniq, first_at = np.empty(m, dtype=keys.dtype), np.empty(m, dtype=np.int64)
        counts, group = np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64)
        lead, reverse = np.empty(m, dtype=bool), np.empty(m, dtype=bool)
        sums = np.empty((3, m if counted is not None else 0), dtype=np.int64)
        columns = (counted.wirelen, counted.ts_ns, counted.tcp_flags) if counted is not None \
            else (counts[:0],) * 3
        bits = (2 * m - 1).bit_length()
        ng = FLOW_LOOPS.call("group_keys", keys, np.empty(1 << bits, dtype=np.int32), bits, uniq,
                             first_at, counts, group, rows,
                             direction if direction is not None else lead[:0],
                             direction is not None, lead, reverse, *columns,
                             counted is not None, *sums)
        if ng is None:
            return None
        by_key = np.argsort(uniq[:ng])    # distinct keys: any sort is stable
        start, inverse = np.empty(ng, dtype=np.int64), np.empty(m, dtype=np.int64)
        of_row, order = np.full(n, -1, dtype=np.int64), np.empty(m, dtype=np.int64)
        if FLOW_LOOPS.call("lay_out_groups", rows, group, by_key, counts, np.empty(ng, np.int64),
                           np.empty(ng, np.int64), start, inverse, of_row, order) is None:
            return None
        groups = cls(rows, uniq[by_key], first_at[by_key], inverse, of_row, order, start,
                     reverse if direction is not None else None)
        if counted is not None:
            groups.packets = counts[by_key]
            groups.octets, groups.last_ns, groups.tcp_flags = sums[:, by_key]
        return groups

    def __len__(self) -> int:
        return len(self.key)

    def narrow(self, subset: np.ndarray) -> np.ndarray:
        """For `subset` (IP rows, ascending): the permutation of it that lists its rows flow
        by flow, in capture order within a flow (what a stable sort by flow would give)."""
        position = np.full(len(self.of_row), -1, dtype=np.int64)
        position[subset] = np.arange(len(subset))
        picked = position[self.order]
        return picked[picked >= 0]


class FlowTable:
    COLUMNS = {  # name: dtype
        "key": np.uint64, "line_kind": np.uint8, "line_a": np.int64, "line_b": np.int64,
        "proto": np.int64, "src_hi": np.uint64, "src_lo": np.uint64, "dst_hi": np.uint64,
        "dst_lo": np.uint64, "sport": np.int64, "dport": np.int64, "packets": np.int64,
        "bytes": np.int64, "first_ns": np.int64, "last_ns": np.int64, "tcp_flags": np.int64,
        "first_frame": np.int64,
    }

    # each direction's share, for the flow log (kept only where one is written): which way
    # the flow key points from the originator, and the originator's packets, bytes, payload
    # bytes and TCP flags (the responder's are the flow's totals less these)
    DIRECTION_COLUMNS = {
        "orig_dir": np.bool_, "orig_packets": np.int64, "orig_bytes": np.int64,
        "orig_payload": np.int64, "resp_payload": np.int64, "orig_flags": np.int64,
        "resp_flags": np.int64,
    }
    # why a flow left the table, as the flow log says it
    IDLE, EVICTED, SHUTDOWN = "idle", "evicted", "shutdown"

    def __init__(self, max_flows: int = 1_000_000, idle_seconds: float = 300.0,
                 per_direction: bool = False, on_end=None):
        """`per_direction`: keep each direction's counts; `on_end(table, ids, reason)` is
        told of the flows about to leave the table (their columns still hold them)."""
        self.per_direction = per_direction
        self.on_end = on_end
        self.capacity = int(max_flows)
        self.idle_ns = int(idle_seconds * 1e9)
        self.sweep_ns = max(self.idle_ns // 8, 1_000_000_000)
        self.last_sweep = None
        size = 1 << max(4, (2 * self.capacity - 1).bit_length())
        self.mask = U64(size - 1)
        self.index_key = np.zeros(size, dtype=np.uint64)
        self.index_id = np.zeros(size, dtype=np.int64)
        # one row past the last slot absorbs the counts of flows that cannot be tracked
        for name, dtype in self.columns(per_direction).items():
            setattr(self, name, np.zeros(self.capacity + 1, dtype=dtype))
        self.alive = np.zeros(self.capacity + 1, dtype=bool)
        self.free = np.arange(self.capacity - 1, -1, -1, dtype=np.int64)  # a stack
        self.nfree = self.capacity
        self.evicted_total = 0
        self.latest_ns = -(1 << 62)   # the latest packet time seen
        self.groups: FlowGroups | None = None  # the last batch's rows grouped by flow

    @property
    def active(self) -> int:
        return self.capacity - self.nfree

    # --- memory ----------------------------------------------------------------------

    @classmethod
    def columns(cls, per_direction: bool = False) -> dict:
        return {**cls.COLUMNS, **(cls.DIRECTION_COLUMNS if per_direction else {})}

    @classmethod
    def memory_bytes(cls, max_flows: int, per_direction: bool = False) -> int:
        """What a table of `max_flows` slots allocates, all of it up front: the columns (one
        spare row), the alive mask, the free stack and the index (a power of two at least
        twice the slots, 16 bytes an entry)."""
        capacity = int(max_flows)
        row = sum(np.dtype(d).itemsize for d in cls.columns(per_direction).values()) + 1
        index = 1 << max(4, (2 * capacity - 1).bit_length())
        return (capacity + 1) * row + capacity * 8 + index * 16

    @classmethod
    def flows_for(cls, memory_bytes: int) -> int:
        """The most slots whose table fits in `memory_bytes` (0 if not even one does)."""
        lo, hi = 0, max(1, int(memory_bytes) // 100)
        while lo < hi:  # memory_bytes grows with max_flows: bisect
            mid = (lo + hi + 1) // 2
            if cls.memory_bytes(mid) <= memory_bytes:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def nbytes(self) -> int:
        """What this table's arrays hold now (equal to memory_bytes(capacity))."""
        return sum(getattr(self, name).nbytes for name in self.columns(self.per_direction)) \
            + self.alive.nbytes \
            + self.free.nbytes + self.index_key.nbytes + self.index_id.nbytes

    # --- the index -------------------------------------------------------------------

    def _home(self, keys):
        return (keys ^ (keys >> U64(29))) & self.mask

    def _find(self, keys: np.ndarray) -> np.ndarray:
        if compiled.on():            # one key after another, the index's lines prefetched
            ids = np.empty(len(keys), dtype=np.int64)
            if FLOW_LOOPS.call("index_find", self.index_key, self.index_id, self.mask, keys,
                               ids) is not None:
                return ids
        ids = np.full(len(keys), -1, dtype=np.int64)
        slot = self._home(keys)
        pending = np.arange(len(keys))
        while pending.size:
            s = slot[pending]
            at = self.index_key[s]
            hit = at == keys[pending]
            ids[pending[hit]] = self.index_id[s[hit]]
            go_on = ~hit & (at != 0)
            pending = pending[go_on]
            slot[pending] = (slot[pending] + U64(1)) & self.mask
        return ids

    def _insert(self, keys: np.ndarray, ids: np.ndarray) -> None:
        if compiled.on() and FLOW_LOOPS.call("index_insert", self.index_key, self.index_id,
                                             self.mask, keys,
                                             np.asarray(ids, dtype=np.int64)) is not None:
            return
        slot = self._home(keys)
        pending = np.arange(len(keys))
        while pending.size:
            s = slot[pending]
            empty = self.index_key[s] == 0
            cand, cand_slot = pending[empty], s[empty]
            # every candidate writes its key into its empty slot; where several share one,
            # one write stands, and reading back tells which (keys are distinct): no sort
            self.index_key[cand_slot] = keys[cand]
            won = self.index_key[cand_slot] == keys[cand]
            self.index_id[cand_slot[won]] = ids[cand[won]]
            placed = np.zeros(len(keys), dtype=bool)
            placed[cand[won]] = True
            pending = pending[~placed[pending]]
            slot[pending] = (slot[pending] + U64(1)) & self.mask

    def _evict(self, ids: np.ndarray, reason: str) -> None:
        if not ids.size:
            return
        if self.on_end is not None:
            self.on_end(self, ids, reason)
        self.alive[ids] = False
        self.free[self.nfree: self.nfree + len(ids)] = ids
        self.nfree += len(ids)
        self.evicted_total += len(ids)
        self.index_key[:] = 0
        live = np.flatnonzero(self.alive)
        self._insert(self.key[live], live)

    # --- per batch -------------------------------------------------------------------

    def update(self, t: PacketTable) -> np.ndarray:
        """Account a batch; returns each row's flow id (-1 for frames without IP)."""
        flow_of_row = np.full(t.n, -1, dtype=np.int64)
        self.row_keys = np.zeros(t.n, dtype=np.uint64)  # each row's flow key; 0 without IP
        rows = np.flatnonzero(t.n_ip > 0)
        if not rows.size:
            self.groups = FlowGroups.of(rows, self.row_keys[rows], t.n)
            return flow_of_row
        now = int(t.ts_ns[rows].max())
        self.latest_ns = max(self.latest_ns, now)
        keys, direction = flow_keys(t, rows, with_direction=True)
        self.row_keys[rows] = keys
        self.groups = groups = FlowGroups.of(rows, keys, t.n, direction, counted=t)
        uniq, first, inverse = groups.key, groups.first_at, groups.inverse
        ids = self._find(uniq)
        # by packet time: a flow whose first packet here comes more than idle_seconds after
        # its last one ended before it (a new flow opens); one with packets here is not idle
        # because other flows' packets here are later
        found = np.flatnonzero(ids >= 0)
        if found.size:
            gap = t.ts_ns[groups.first[found]] - self.last_ns[ids[found]] > self.idle_ns
            if gap.any():
                self._evict(ids[found[gap]], self.IDLE)
                ids[found[gap]] = -1
                found = found[~gap]
        self._expire(now, busy=ids[found])
        new = np.flatnonzero(ids < 0)
        if new.size:
            if self.per_direction:       # the originator's way, for _open
                self._first_direction = direction[first[new]]
            ids[new] = self._open(uniq[new], t, rows[first[new]])
        flow_of_row[rows] = ids[inverse]
        ids = np.where(ids >= 0, ids, self.capacity)  # untracked flows count into the spare row
        self.packets[ids] += groups.packets
        self.bytes[ids] += groups.octets
        self.last_ns[ids] = np.maximum(self.last_ns[ids], groups.last_ns)
        self.tcp_flags[ids] |= groups.tcp_flags
        if self.per_direction:
            self._count_directions(t, rows, direction, groups, ids)
        return flow_of_row

    def _count_directions(self, t: PacketTable, rows, direction, groups, ids) -> None:
        """Each flow's originator share of the batch: a row goes the originator's way when
        it points as the batch's first row of its flow does, and that row as the flow's
        first ever did (a flow opened in this batch: the same row)."""
        inverse, ng = groups.inverse, len(groups)
        flip = direction[groups.first_at] != self.orig_dir[ids]
        orig = groups.reverse == flip[inverse]
        payload = np.maximum(t.payload_len[rows], 0)
        self.orig_packets[ids] += np.bincount(inverse, weights=orig, minlength=ng).astype(np.int64)
        self.orig_bytes[ids] += np.bincount(inverse, weights=np.where(orig, t.wirelen[rows], 0),
                                            minlength=ng).astype(np.int64)
        mine = np.bincount(inverse, weights=np.where(orig, payload, 0), minlength=ng)
        self.orig_payload[ids] += mine.astype(np.int64)
        self.resp_payload[ids] += (np.bincount(inverse, weights=payload, minlength=ng)
                                   - mine).astype(np.int64)
        # TCP flags a direction at a time: the rows flow by flow (groups.order), each run
        # OR-ed with the other direction's rows masked out
        at = np.empty(len(t.ts_ns), dtype=np.int64)
        at[rows] = np.arange(len(rows))
        in_order = orig[at[groups.order]]
        flags = np.maximum(t.tcp_flags[groups.order], 0)
        self.orig_flags[ids] |= np.bitwise_or.reduceat(np.where(in_order, flags, 0), groups.start)
        self.resp_flags[ids] |= np.bitwise_or.reduceat(np.where(in_order, 0, flags), groups.start)

    def close(self) -> None:
        """The end of the capture: every flow still in the table ends (`on_end`), as idle
        where it was by the last packet's time (as a later sweep would have said), else at
        shutdown: the reason follows packet time, not where the batches happened to end."""
        live = np.flatnonzero(self.alive[:self.capacity])
        if not live.size:
            return
        idle = self.last_ns[live] < self.latest_ns - self.idle_ns
        self._evict(live[idle], self.IDLE)
        self._evict(live[~idle], self.SHUTDOWN)

    def _open(self, keys: np.ndarray, t: PacketTable, first_rows: np.ndarray) -> np.ndarray:
        """Slots for new flows (aligned with `keys`; -1 for any that cannot be tracked),
        evicting the least recently seen when the table is full."""
        out = np.full(len(keys), -1, dtype=np.int64)
        take = np.arange(len(keys))
        if len(keys) > self.capacity:  # one batch wider than the whole table
            self.evicted_total += len(keys) - self.capacity
            take = take[len(keys) - self.capacity:]
            keys, first_rows = keys[take], first_rows[take]
        short = len(keys) - self.nfree
        if short > 0:
            live = np.flatnonzero(self.alive)
            n = min(len(live), short + self.capacity // 8)  # a margin, so eviction is rare
            oldest = live[np.argpartition(self.last_ns[live], n - 1)[:n]] if n < len(live) else live
            self._evict(oldest, self.EVICTED)
        ids = self.free[self.nfree - len(keys): self.nfree][::-1].copy()
        self.nfree -= len(keys)
        self.alive[ids] = True
        self.key[ids] = keys
        for name in ("line_kind", "line_a", "line_b", "proto", "src_hi", "src_lo", "dst_hi", "dst_lo"):
            getattr(self, name)[ids] = getattr(t, name)[first_rows]
        sport, dport = flow_ports(t, first_rows)
        self.sport[ids], self.dport[ids] = sport, dport
        self.packets[ids] = 0
        self.bytes[ids] = 0
        self.tcp_flags[ids] = 0
        self.first_ns[ids] = t.ts_ns[first_rows]
        self.last_ns[ids] = t.ts_ns[first_rows]
        self.first_frame[ids] = t.frame[first_rows]
        if self.per_direction:
            for name in self.DIRECTION_COLUMNS:
                getattr(self, name)[ids] = 0
            self.orig_dir[ids] = self._first_direction[take]
        self._insert(keys, ids)
        out[take] = ids
        return out

    def _expire(self, now: int, busy: np.ndarray) -> None:
        """Every sweep_ns: end the flows idle at `now`, except the `busy` ones (with packets
        in the batch at hand)."""
        if self.last_sweep is None:
            self.last_sweep = now
        if now - self.last_sweep < self.sweep_ns:
            return
        self.last_sweep = now
        idle = self.alive & (self.last_ns < now - self.idle_ns)
        idle[busy] = False
        self._evict(np.flatnonzero(idle), self.IDLE)
