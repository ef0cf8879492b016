"""The flow table's per-row loops (core/flows.py calls them), compiled with numba.

Each returns the count of what it did."""
from __future__ import annotations

import numpy as np

from ybsensor.core.loops import PREFETCH_AHEAD, jit, prefetch


@jit(inline="always")
def _mix(h, v):
    """One splitmix64-style round folding v into h (uint64 arithmetic wraps)."""
    h = (h ^ np.uint64(v)) * np.uint64(0x9E3779B97F4A7C15)
    return h ^ (h >> np.uint64(31))


@jit(inline="always")
def _mix_line(h, r, line_kind, line_a, line_b):
    """Row r's line folded into h."""
    return _mix(_mix(_mix(h, line_kind[r]), line_a[r]), line_b[r])


@jit(inline="always")
def _mix_ends(h, s_hi, s_lo, d_hi, d_lo):
    """Two addresses, in the order given, folded into h."""
    return _mix(_mix(_mix(_mix(h, s_hi), s_lo), d_hi), d_lo)


@jit(inline="always")
def _ports(r, proto, sport, dport, icmp_type, icmp_code, icmp_pair, icmp, icmp6):
    """Row r's ports for flow identity: its transport ports (0 where none), or for ICMP its
    type and the counterpart type (or, without one, its code) as in Community ID; and
    whether the ends are put in order (not for an ICMP message without a counterpart,
    which Community ID takes one way)."""
    pr = proto[r]
    sp = max(sport[r], 0)
    dp = max(dport[r], 0)
    it = icmp_type[r]
    ordered = True
    if (pr == icmp or pr == icmp6) and it >= 0:
        it = min(it, 255)
        pair = icmp_pair[1 if pr == icmp6 else 0, it]
        sp = it
        dp = pair if pair >= 0 else icmp_code[r]
        ordered = pair >= 0
    return sp, dp, ordered


@jit
def flow_ports(rows, proto, sport, dport, icmp_type, icmp_code, icmp_pair, icmp, icmp6,
               sport_out, dport_out):
    """Each of `rows`' ports for flow identity (_ports)."""
    for i in range(rows.shape[0]):
        sport_out[i], dport_out[i], _ = _ports(rows[i], proto, sport, dport, icmp_type,
                                               icmp_code, icmp_pair, icmp, icmp6)
    return rows.shape[0]


@jit
def flow_keys(rows, line_kind, line_a, line_b, proto, src_hi, src_lo, dst_hi, dst_lo,
              sport, dport, icmp_type, icmp_code, icmp_pair, icmp, icmp6, seed, keys, swap):
    """A 64-bit key per row of `rows` (never 0), the same for both directions of a flow on
    one line: the line, the protocol and both endpoints (address, port) with the lower
    endpoint first (as they come for a one-way ICMP message), hashed; `swap`: whether the
    row goes from the higher endpoint to the lower."""
    for i in range(rows.shape[0]):
        r = rows[i]
        sp, dp, ordered = _ports(r, proto, sport, dport, icmp_type, icmp_code, icmp_pair, icmp,
                                 icmp6)
        s_hi, s_lo, d_hi, d_lo = src_hi[r], src_lo[r], dst_hi[r], dst_lo[r]
        flip = ordered and (s_hi > d_hi or (s_hi == d_hi and (
            s_lo > d_lo or (s_lo == d_lo and sp > dp))))
        if flip:
            s_hi, s_lo, d_hi, d_lo = d_hi, d_lo, s_hi, s_lo
            sp, dp = dp, sp
        h = _mix(_mix_line(np.uint64(seed), r, line_kind, line_a, line_b), proto[r])
        h = _mix(_mix_ends(h, s_hi, s_lo, d_hi, d_lo), (sp << 16) | dp)
        keys[i] = h if h != 0 else np.uint64(1)
        swap[i] = flip
    return rows.shape[0]


@jit
def shares(rows, line_kind, line_a, line_b, src_hi, src_lo, dst_hi, dst_lo, seed, parts, out):
    """Which of `parts` shares each of `rows` falls in: the line and the two addresses with
    the lower first, hashed (no ports: a later fragment has none), so that both directions
    of a flow and every fragment of a datagram fall in one; the hash's high half scaled to
    [0, parts), as a round's low bits follow the inputs' low bits."""
    for i in range(rows.shape[0]):
        r = rows[i]
        s_hi, s_lo, d_hi, d_lo = src_hi[r], src_lo[r], dst_hi[r], dst_lo[r]
        if s_hi > d_hi or (s_hi == d_hi and s_lo > d_lo):
            s_hi, s_lo, d_hi, d_lo = d_hi, d_lo, s_hi, s_lo
        h = _mix_ends(_mix_line(np.uint64(seed), r, line_kind, line_a, line_b),
                      s_hi, s_lo, d_hi, d_lo)
        out[r] = ((h >> np.uint64(32)) * np.uint64(parts)) >> np.uint64(32)
    return rows.shape[0]


@jit(inline="always")
def _home(key, mask):
    return (key ^ (key >> np.uint64(29))) & mask


@jit(inline="always")
def _prefetch_ahead(index, keys, i, mask):
    """Bring in the home slot of the key PREFETCH_AHEAD places on: the index may be tens
    of MB."""
    if i + PREFETCH_AHEAD < keys.shape[0]:
        prefetch(index, _home(keys[i + PREFETCH_AHEAD], mask) << np.uint64(1))


@jit(inline="always")
def _probe(index, key, mask):
    """The first slot from key's home that holds key or is empty (key 0). A slot is two
    words, its key then its id, so that a look-up reads one cache line."""
    s = _home(key, mask)
    while index[s << np.uint64(1)] != key and index[s << np.uint64(1)] != 0:
        s = (s + np.uint64(1)) & mask
    return s << np.uint64(1)


@jit
def index_find(index, mask, keys, ids):
    """Each key's id in the open-addressing index (slots `mask` + 1), -1 where absent."""
    for i in range(keys.shape[0]):
        _prefetch_ahead(index, keys, i, mask)
        at = _probe(index, keys[i], mask)
        ids[i] = np.int64(index[at + 1]) if index[at] == keys[i] else -1
    return keys.shape[0]


@jit
def index_insert(index, mask, keys, ids):
    """Keys (distinct, absent) into their first free slot from home."""
    for i in range(keys.shape[0]):
        _prefetch_ahead(index, keys, i, mask)
        at = _probe(index, keys[i], mask)     # absent: the first empty slot
        index[at] = keys[i]
        index[at + 1] = np.uint64(ids[i])
    return keys.shape[0]


# --- grouping equal values: an open-addressing table of group numbers ----------------------

@jit(inline="always")
def _group_of(key, r, slot, bits, uniq, first, counts, n):
    """The group of `key` (row r) in an open-addressing table of group numbers (`slot`:
    2**bits long, -1 for an empty slot; `uniq`, `first`, `counts`: each group's key, first
    row and rows so far), counted; a new group where the key is new, unless the table holds
    len(uniq) groups already (then -1). Comparing through `uniq` keeps the table small
    enough for the cache. Returns the group and the count of groups."""
    mask = slot.shape[0] - 1
    s = np.int64((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits))
    while slot[s] >= 0 and uniq[slot[s]] != key:
        s = (s + 1) & mask
    g = slot[s]
    if g < 0:
        if n == uniq.shape[0]:
            return -1, n
        g = slot[s] = n
        uniq[n], first[n], counts[n] = key, r, 0
        n += 1
    counts[g] += 1
    return g, n


# --- few distinct values (stats.count_distinct) ------------------------------------------

@jit
def count_few_distinct(keys, weights, weighted, slot_id, bits, uniq, first, counts, sums):
    """stats.count_distinct for a column of few distinct values: each one's value, first
    row, count and weight sum (where `weighted`), in the order they first appear, through
    an open-addressing table (slot_id: 2**bits long) that holds up to len(uniq)
    of them. Returns their count, or -1 where there are more (the caller sorts)."""
    slot_id[:] = -1
    sums[:] = 0.0
    nd = 0
    for r in range(keys.shape[0]):
        i, nd = _group_of(keys[r], r, slot_id, bits, uniq, first, counts, nd)
        if i < 0:
            return -1
        if weighted:
            sums[i] += weights[r]
    return nd


# --- each row's ends in the address plan (detectors.base.BatchContext) --------------------

@jit
def row_ends(rows, inverse, reverse, lead_src, lead_dst, none, owner_of, zone_of, src_owner,
             dst_owner, src_zone, dst_zone):
    """The owner and zone of each table row's source and destination, from the address
    plan's interval of its flow's first row's ends (lead_src, lead_dst: one a flow), swapped
    for the rows that go the other way; rows without IP hold the zero address's (`none`).
    Returns the count of IP rows."""
    for r in range(src_owner.shape[0]):
        src_owner[r] = dst_owner[r] = owner_of[none]
        src_zone[r] = dst_zone[r] = zone_of[none]
    for k in range(rows.shape[0]):
        f = inverse[k]
        a, b = lead_src[f], lead_dst[f]
        if reverse[k]:
            a, b = b, a
        r = rows[k]
        src_owner[r], dst_owner[r] = owner_of[a], owner_of[b]
        src_zone[r], dst_zone[r] = zone_of[a], zone_of[b]
    return rows.shape[0]


# --- a batch's rows grouped by flow (flows.FlowGroups.of, FlowTable.update) ---------------

# group_keys' sums, one row of `sums` each: the totals, then (where asked) each direction's
# share, the lead direction being that of the group's first row
OCTETS, LAST_NS, FLAGS = 0, 1, 2
LEAD_PACKETS, LEAD_OCTETS, LEAD_PAYLOAD, BACK_PAYLOAD, LEAD_FLAGS, BACK_FLAGS = 3, 4, 5, 6, 7, 8
TOTALS, SPLIT = 3, 9                                 # the rows of sums for each


@jit
def group_keys(keys, slot, bits, uniq, first_at, counts, group, rows, direction, with_direction,
               lead, reverse, wirelen, ts_ns, tcp_flags, payload_len, sums):
    """Each row's group (by equal key) in the order the keys first appear, through an
    open-addressing table of group numbers (`slot`: 2**bits long, at least twice the rows;
    small enough to stay in the cache, where a sort of the rows moves them all): each
    group's key, first row and count. Where `with_direction`, whether each row goes the
    other way than its group's first (`lead`: scratch, one a group). `sums` (TOTALS or
    SPLIT rows, or none): each group's bytes, last time and TCP flags (negative: none),
    and its lead and back directions' shares (SPLIT, with `with_direction`), from the
    columns of the table `rows` lie in. Returns the count of groups."""
    slot[:] = -1
    ng = 0
    for i in range(keys.shape[0]):
        g, grown = _group_of(keys[i], i, slot, bits, uniq, first_at, counts, ng)
        group[i] = g
        if with_direction:
            if grown > ng:          # a new group: its first row leads
                lead[g] = direction[i]
            reverse[i] = direction[i] != lead[g]
        ng = grown
    nsums = sums.shape[0]
    if nsums == 0:
        return ng
    for k in range(nsums):
        for g in range(ng):
            sums[k, g] = 0
    for g in range(ng):
        sums[LAST_NS, g] = np.iinfo(np.int64).min
    for i in range(keys.shape[0]):
        g, r = group[i], rows[i]
        flags = max(tcp_flags[r], 0)
        sums[OCTETS, g] += wirelen[r]
        sums[LAST_NS, g] = max(sums[LAST_NS, g], ts_ns[r])
        sums[FLAGS, g] |= flags
        if nsums == SPLIT:
            payload = max(payload_len[r], 0)
            if reverse[i]:
                sums[BACK_PAYLOAD, g] += payload
                sums[BACK_FLAGS, g] |= flags
            else:
                sums[LEAD_PACKETS, g] += 1
                sums[LEAD_OCTETS, g] += wirelen[r]
                sums[LEAD_PAYLOAD, g] += payload
                sums[LEAD_FLAGS, g] |= flags
    return ng


@jit
def lay_out_groups(rows, group, by_key, counts, rank, fill, start, inverse, of_row, order):
    """FlowGroups.of from group_keys' groups and `by_key` (their order by key): each row's
    group in key order (inverse, of_row) and the rows group by group in capture order
    (order, from each group's start). `rank`, `fill`: scratch, one a group. Returns the
    row count."""
    at = 0
    for j in range(by_key.shape[0]):
        g = by_key[j]
        rank[g] = j
        start[j] = fill[j] = at
        at += counts[g]
    for i in range(rows.shape[0]):
        j, r = rank[group[i]], rows[i]
        inverse[i] = j
        of_row[r] = j
        order[fill[j]] = r
        fill[j] += 1
    return rows.shape[0]
