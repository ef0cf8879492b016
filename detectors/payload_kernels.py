"""The payload engine's bytewise loops, compiled with numba (optional: `ybsensor[fast]`).

Imported through `compiled.call` only, where the compiled path is on. Each loop gives what
the numpy code beside its caller gives (tests/test_payload_kernels.py compares them): that
code is the reference and the fallback.
"""
from __future__ import annotations

from decoders.kernel import _jit


@_jit(inline="always")
def _is_digit(c) -> bool:
    return 48 <= c <= 57


@_jit
def digit_runs(data, lo, hi, first, stop, min_run, out_start, out_end):
    """matcher.digit_run_hits for the samples first, first + min_run, ... below stop, with
    windows cut at lo and hi: writes each kept window's (start, end), returns their count."""
    n = 0
    w = min_run - 1
    h = min_run // 2
    span = 2 * w + 1
    for p in range(first, stop, min_run):
        if not _is_digit(data[p]):
            continue
        # a run of min_run digits through p holds p - h or p + h
        if not ((p - h >= lo and _is_digit(data[p - h])) or (p + h < hi and _is_digit(data[p + h]))):
            continue
        window = max(p - w, lo)
        a = p
        while a > window and _is_digit(data[a - 1]):
            a -= 1
        limit = min(window + span, hi)
        b = p + 1
        while b < limit and _is_digit(data[b]):
            b += 1
        if b - a >= min_run:
            out_start[n] = a
            out_end[n] = b
            n += 1
    return n


# --- stream regions (streams.Engine._regions) -------------------------------------------

@_jit
def stream_rows(order, rows, flow, proto, tcp_seq, src_hi, src_lo, sport, dst_hi, dst_lo,
                dport, tcp, code, out_rows, out_sid, others):
    """Of the plaintext `rows`, the TCP segments of tracked flows, stream by stream (flow by
    flow as `order` lists them, direction 0 then 1, each in arrival order) into out_rows
    with their stream ids (2 * flow + direction: 1 where the sender is the higher endpoint),
    and the other rows, ascending, into `others`. `code`: zeros, one a table row (scratch).
    Returns (segments, others, the largest stream id of the segments or -1)."""
    top = -1
    n_other = 0
    # rows in table order first (the columns read in sequence): each segment's direction,
    # as code 1 + direction, for the walk in flow order below
    for r in rows:
        if proto[r] == tcp and tcp_seq[r] >= 0 and flow[r] >= 0:
            up = _up(src_hi, src_lo, sport, dst_hi, dst_lo, dport, r)
            code[r] = 1 + up
            top = max(top, 2 * flow[r] + up)
        else:
            others[n_other] = r
            n_other += 1
    n = 0
    i = 0
    m = len(order)
    while i < m:
        # one run of equal flows among the segments that `order` lists: direction 0, then 1
        r = order[i]
        if code[r] == 0:
            i += 1
            continue
        f = flow[r]
        j = i
        for up in (1, 2):
            j = i
            while j < m:
                r = order[j]
                if code[r] != 0:
                    if flow[r] != f:
                        break
                    if code[r] == up:
                        out_rows[n] = r
                        out_sid[n] = 2 * f + up - 1
                        n += 1
                j += 1
        i = j
    return n, n_other, top


@_jit(inline="always")
def _up(src_hi, src_lo, sport, dst_hi, dst_lo, dport, r):
    a0, b0 = src_hi[r], dst_hi[r]
    if a0 != b0:
        return 1 if a0 > b0 else 0
    a1, b1 = src_lo[r], dst_lo[r]
    if a1 != b1:
        return 1 if a1 > b1 else 0
    return 1 if sport[r] > dport[r] else 0


@_jit
def stream_positions(seg_rows, sid, tcp_seq, payload_len, keys, st_key, st_next, half, mod,
                     near_below, near_above, rel, end, known, base):
    """Each segment's place in its stream (segments stream by stream, arrival order): the
    base is the stream's expected next sequence number where its state is for this flow and
    its first segment lies near it, else that segment's own; rel, end: the segment's bytes
    relative to the base. Returns whether rel ascends within every stream."""
    ascending = True
    n = len(seg_rows)
    i = 0
    while i < n:
        s = sid[i]
        r0 = seg_rows[i]
        nxt = st_next[s]
        k = st_key[s] == keys[r0] and nxt >= 0
        if k:
            probe = ((tcp_seq[r0] - nxt + half) % mod) - half
            k = near_below < probe < near_above
        b = nxt if k else tcp_seq[r0]
        j = i
        while j < n and sid[j] == s:
            r = seg_rows[j]
            rel[j] = ((tcp_seq[r] - b + half) % mod) - half
            end[j] = rel[j] + payload_len[r]
            known[j] = k
            base[j] = b
            if j > i and rel[j] < rel[j - 1]:
                ascending = False
            j += 1
        i = j
    return ascending


@_jit
def stream_regions(seg_rows, sid, rel, end, known, base, keys, payload_off, data,
                   st_key, st_next, st_tail, st_tail_len, far, mod,
                   row, off, length, rsid, joined, from_state, skip, last, stored_at,
                   stored_tail, stored_len, short):
    """streams.Engine._regions for segments in stream order (by stream, then sequence):
    each segment's region (the bytes it adds to its stream), written to row ... stored_len;
    then each stream's state (key, next sequence number, last CONTEXT bytes). Returns
    (regions, regions continuing a stored tail, short last regions): the last regions whose
    payload holds fewer than CONTEXT bytes are listed in `short` (their tails are
    composed by the caller)."""
    context = st_tail.shape[1]
    n = len(seg_rows)
    nk = 0
    nfs = 0
    i = 0
    # the regions, reading the state as the previous batch left it
    while i < n:
        s = sid[i]
        furthest = -far                  # the furthest end so far in this stream
        j = i
        while j < n and sid[j] == s:
            prev = furthest
            cover = max(prev, 0) if known[j] else prev
            new_start = max(rel[j], cover)
            if new_start < end[j]:
                r = seg_rows[j]
                row[nk] = r
                skip[nk] = new_start - rel[j]
                off[nk] = payload_off[r] + skip[nk]
                length[nk] = end[j] - new_start
                rsid[nk] = s
                joined[nk] = cover > -far and rel[j] <= cover
                from_state[nk] = joined[nk] and known[j] and prev <= 0
                last[nk] = True
                if nk > 0 and rsid[nk - 1] == s:
                    last[nk - 1] = False
                stored_at[nk] = -1
                if from_state[nk]:
                    stored_at[nk] = nfs
                    for c in range(st_tail.shape[1]):
                        stored_tail[nfs, c] = st_tail[s, c]
                    stored_len[nfs] = st_tail_len[s]
                    nfs += 1
                nk += 1
            furthest = max(furthest, end[j])
            j += 1
        i = j
    # the new state: each stream's key and next sequence number, and its last region's tail
    i = 0
    while i < n:
        s = sid[i]
        furthest = -far
        j = i
        while j < n and sid[j] == s:
            furthest = max(furthest, end[j])
            j += 1
        st_key[s] = keys[seg_rows[j - 1]]
        if furthest > (0 if known[j - 1] else -far):
            st_next[s] = (base[j - 1] + furthest) % mod
        i = j
    nshort = 0
    top = len(data) - context
    for k in range(nk):
        if not last[k]:
            continue
        s = rsid[k]
        lend = off[k] + length[k]
        at = min(max(lend - context, 0), top)
        for c in range(context):
            st_tail[s, c] = data[at + c]
        st_tail_len[s] = context
        if lend - payload_off[row[k]] < context:
            short[nshort] = k
            nshort += 1
    return nk, nfs, nshort
