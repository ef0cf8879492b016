"""The flow table: per access line and inner 5-tuple, packets, bytes, first/last seen and
TCP flags — bounded, updated a batch at a time.

Flows live in fixed columns (one slot per flow, `max_flows` slots) indexed by an
open-addressing hash of 64-bit flow keys. Lookups and inserts probe for a whole column of
keys at once; eviction (idle flows, or the least recently seen when the table is full)
frees slots and rebuilds the index from the survivors. The index is allocated for
`max_flows` at half load, but only a prefix of it sized to the flows alive is used (and so
touched by the process): a few thousand flows probe a table that stays in the cache, not
pages spread over tens of MB; it doubles (a rebuild) as flows come. Both directions of a conversation
share one flow: the key is built from the endpoints in a canonical order.
"""
from __future__ import annotations

import numpy as np

from ybsensor.core import flow_kernels as kernels
from ybsensor.core.community_id import ICMP4_PAIRS, ICMP6_PAIRS
from ybsensor.decoders.table import PacketTable
from ybsensor.decoders.tcp import ACK, SYN

U64 = np.uint64
SEED = U64(0x5851F42D4C957F2D)       # flow keys' hash starts here
ICMP, TCP, UDP, ICMP6, SCTP = 1, 6, 17, 58, 132
INDEX_MIN = 1 << 14                   # index slots used at first (a power of two)
BYTES_PER_FLOW = 2 * 16 + 18 * 8  # index entry at half load + the flow's columns (a rough
# figure; FlowTable.memory_bytes(max_flows) is the exact one)

# ICMP types with a counterpart (echo / echo reply ...), Community ID's pairs: [v6, type]
_ICMP_PAIR = np.full((2, 256), -1, dtype=np.int64)
for _v, _pairs in enumerate((ICMP4_PAIRS, ICMP6_PAIRS)):
    for _a, _b in _pairs.items():
        _ICMP_PAIR[_v, _a] = _b


def flow_ports(t: PacketTable, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ports for flow identity: transport ports, or ICMP type and its counterpart (or code)."""
    sport, dport = np.empty(len(rows), dtype=np.int64), np.empty(len(rows), dtype=np.int64)
    kernels.flow_ports(np.asarray(rows, dtype=np.int64), t.proto, t.sport, t.dport, t.icmp_type,
                       t.icmp_code, _ICMP_PAIR, ICMP, ICMP6, sport, dport)
    return sport, dport


def flow_keys(t: PacketTable, rows: np.ndarray, with_direction: bool = False):
    """A 64-bit key per row, the same for both directions of a flow on one line; with
    `with_direction`, also whether each row goes from the flow's higher endpoint to its
    lower one (rows of one flow with the same value go the same way)."""
    keys = np.empty(len(rows), dtype=U64)
    swap = np.empty(len(rows), dtype=bool)
    kernels.flow_keys(np.asarray(rows, dtype=np.int64), t.line_kind, t.line_a, t.line_b, t.proto,
                      t.src_hi, t.src_lo, t.dst_hi, t.dst_lo, t.sport, t.dport, t.icmp_type,
                      t.icmp_code, _ICMP_PAIR, ICMP, ICMP6, int(SEED), keys, swap)
    return (keys, swap) if with_direction else keys


def share_of(t: PacketTable, parts: int) -> np.ndarray:
    """Which of `parts` shares each row falls in, so that every packet of a flow, and every
    fragment of a datagram, falls in the same one: a hash of the line and the two addresses
    in a canonical order (no ports: a later fragment has none). Rows without IP: share 0."""
    out = np.zeros(t.n, dtype=np.int64)
    rows = np.flatnonzero(t.n_ip > 0)
    if parts <= 1 or not rows.size:
        return out
    kernels.shares(rows, t.line_kind, t.line_a, t.line_b, t.src_hi, t.src_lo, t.dst_hi,
                   t.dst_lo, int(SEED), parts, out)
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
        # the same of the rows that go as each group's first row does, and of the others,
        # where asked for (FlowGroups.of's `split`): dicts of packets, octets, payload, flags
        self.lead = self.back = None

    @classmethod
    def of(cls, rows: np.ndarray, keys: np.ndarray, n: int,
           direction: np.ndarray | None = None, counted: PacketTable | None = None,
           split: bool = False) -> "FlowGroups":
        """`direction`: flow_keys' with_direction column for `rows`, if known; `counted`:
        the rows' table, to count each group's packets, bytes, last time and TCP flags;
        `split` (with both): also each direction's share (`lead`, `back`).

        The rows are grouped (and counted) in one pass through a hash table, in the order
        their keys first appear; only the distinct keys, a fifth of the rows in a typical
        batch, are sorted; then a second pass lays the rows out group by group."""
        m = len(keys)
        rows = np.asarray(rows, dtype=np.int64)
        uniq, first_at = np.empty(m, dtype=keys.dtype), np.empty(m, dtype=np.int64)
        counts, group = np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64)
        lead, reverse = np.empty(m, dtype=bool), np.empty(m, dtype=bool)
        nsums = 0 if counted is None else kernels.SPLIT if split else kernels.TOTALS
        sums = np.empty((nsums, m), dtype=np.int64)
        columns = (counted.wirelen, counted.ts_ns, counted.tcp_flags, counted.payload_len) \
            if counted is not None else (counts[:0],) * 4
        bits = max(2 * m - 1, 1).bit_length()
        ng = kernels.group_keys(keys, np.empty(1 << bits, dtype=np.int32), bits, uniq, first_at,
                                counts, group, rows,
                                direction if direction is not None else lead[:0],
                                direction is not None, lead, reverse, *columns, sums)
        by_key = np.argsort(uniq[:ng])    # distinct keys: any sort is stable
        start, inverse = np.empty(ng, dtype=np.int64), np.empty(m, dtype=np.int64)
        of_row, order = np.full(n, -1, dtype=np.int64), np.empty(m, dtype=np.int64)
        kernels.lay_out_groups(rows, group, by_key, counts, np.empty(ng, np.int64),
                               np.empty(ng, np.int64), start, inverse, of_row, order)
        groups = cls(rows, uniq[by_key], first_at[by_key], inverse, of_row, order, start,
                     reverse if direction is not None else None)
        if counted is not None:
            sums = sums[:, by_key]
            groups.packets = counts[by_key]
            groups.octets, groups.last_ns, groups.tcp_flags = sums[:kernels.TOTALS]
            if split:
                groups.lead = dict(packets=sums[kernels.LEAD_PACKETS],
                                   octets=sums[kernels.LEAD_OCTETS],
                                   payload=sums[kernels.LEAD_PAYLOAD],
                                   flags=sums[kernels.LEAD_FLAGS])
                groups.back = dict(packets=groups.packets - groups.lead["packets"],
                                   octets=groups.octets - groups.lead["octets"],
                                   payload=sums[kernels.BACK_PAYLOAD],
                                   flags=sums[kernels.BACK_FLAGS])
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
        # which way the flow's client sends (the `direction` of its rows, flow_keys), where
        # a TCP handshake was seen (SYN: the client's, SYN+ACK: the server's); -1 unknown
        "client_way": np.int8,
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
        self.index_slots = self.index_size(self.capacity)
        self.index = np.zeros(2 * self.index_slots, dtype=np.uint64)   # (key, id) a slot
        self.mask = U64(min(INDEX_MIN, self.index_slots) - 1)       # slots in use, less one
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

    def resume(self, old: "FlowTable") -> bool:
        """A reloaded configuration: go on with `old`'s flows, counters and index where
        it has the same size, idle time and columns (this table's `on_end` stays); whether
        it did."""
        if (old.capacity, old.idle_ns, old.per_direction) != \
                (self.capacity, self.idle_ns, self.per_direction):
            return False
        on_end = self.on_end
        vars(self).update(vars(old))
        self.on_end = on_end
        return True

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
        return (capacity + 1) * row + capacity * 8 + cls.index_size(capacity) * 16

    @staticmethod
    def index_size(capacity: int) -> int:
        """Index slots for `capacity` flows: a power of two, at least twice as many."""
        return 1 << max(4, (2 * capacity - 1).bit_length())

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
            + self.free.nbytes + self.index.nbytes

    # --- the index -------------------------------------------------------------------

    def _find(self, keys: np.ndarray) -> np.ndarray:
        ids = np.empty(len(keys), dtype=np.int64)
        kernels.index_find(self.index, self.mask, keys, ids)
        return ids

    def _insert(self, keys: np.ndarray, ids: np.ndarray) -> None:
        """Index new flows (already alive in the columns); past half load in the prefix in
        use, a prefix four times the flows alive is rebuilt from the columns instead."""
        used = int(self.mask) + 1
        if 2 * self.active > used and used < self.index_slots:
            self._rebuild(4 * self.active)
            return
        kernels.index_insert(self.index, self.mask, keys, np.asarray(ids, dtype=np.int64))

    def _rebuild(self, slots: int) -> None:
        """The index of the flows alive, in a prefix of at least `slots` slots (INDEX_MIN
        at least, the whole index at most)."""
        used = min(max(INDEX_MIN, 1 << (max(slots, 1) - 1).bit_length()), self.index_slots)
        self.index[:2 * max(used, int(self.mask) + 1)] = 0
        self.mask = U64(used - 1)
        live = np.flatnonzero(self.alive[:self.capacity])
        kernels.index_insert(self.index, self.mask, self.key[live], live)

    def _evict(self, ids: np.ndarray, reason: str) -> None:
        if not ids.size:
            return
        if self.on_end is not None:
            self.on_end(self, ids, reason)
        self.alive[ids] = False
        self.free[self.nfree: self.nfree + len(ids)] = ids
        self.nfree += len(ids)
        self.evicted_total += len(ids)
        self._rebuild(4 * self.active)

    # --- per batch -------------------------------------------------------------------

    def update(self, t: PacketTable) -> np.ndarray:
        """Account a batch; returns each row's flow id (-1 for frames without IP)."""
        flow_of_row = np.full(t.n, -1, dtype=np.int64)
        self.row_keys = np.zeros(t.n, dtype=np.uint64)  # each row's flow key; 0 without IP
        # each row: 1 sent by its flow's client, 0 by its server, -1 not known (client_way)
        self.from_client = np.full(t.n, -1, dtype=np.int8)
        rows = np.flatnonzero(t.n_ip > 0)
        if not rows.size:
            self.groups = FlowGroups.of(rows, self.row_keys[rows], t.n)
            return flow_of_row
        now = int(t.ts_ns[rows].max())
        self.latest_ns = max(self.latest_ns, now)
        keys, direction = flow_keys(t, rows, with_direction=True)
        self.row_keys[rows] = keys
        self.groups = groups = FlowGroups.of(rows, keys, t.n, direction, counted=t,
                                             split=self.per_direction)
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
            self._count_directions(direction, groups, ids)
        self._client_sides(t, rows, direction, ids, groups)
        return flow_of_row

    def _client_sides(self, t: PacketTable, rows, direction, ids, groups) -> None:
        """Learn which way each flow's client sends from its handshake's rows, and mark each
        row of a flow whose way is known (from_client). `ids`: each group's flow (the spare
        row for one not tracked, whose way stays unknown)."""
        inverse, flags = groups.inverse, groups.tcp_flags
        shook = (flags > 0) & ((flags & SYN) != 0) & (ids < self.capacity)
        if shook.any():   # a SYN goes the client's way, a SYN+ACK the other
            sel = np.flatnonzero(shook[inverse])
            row_flags = t.tcp_flags[rows[sel]]
            has_syn = (row_flags & SYN) != 0
            syn = sel[has_syn]
            self.client_way[ids[inverse[syn]]] = direction[syn] ^ ((row_flags[has_syn] & ACK) != 0)
        way = self.client_way[ids]
        known = way >= 0
        if known.any():
            at = np.flatnonzero(known[inverse])
            self.from_client[rows[at]] = direction[at] == way[inverse[at]]

    def _count_directions(self, direction, groups, ids) -> None:
        """Each flow's originator share of the batch: the rows that go as the batch's first
        row of the flow does (groups.lead) where that row goes as the flow's first ever did
        (a flow opened in this batch: the same row), else the others (groups.back)."""
        flip = direction[groups.first_at] != self.orig_dir[ids]
        lead, back = groups.lead, groups.back
        self.orig_packets[ids] += np.where(flip, back["packets"], lead["packets"])
        self.orig_bytes[ids] += np.where(flip, back["octets"], lead["octets"])
        self.orig_payload[ids] += np.where(flip, back["payload"], lead["payload"])
        self.resp_payload[ids] += np.where(flip, lead["payload"], back["payload"])
        self.orig_flags[ids] |= np.where(flip, back["flags"], lead["flags"])
        self.resp_flags[ids] |= np.where(flip, lead["flags"], back["flags"])

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
        self.client_way[ids] = -1
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
