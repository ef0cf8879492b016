"""The walks of the payload engine's stream regions (streams.Engine), compiled loops over
arrays (payload_kernels lists them beside the engine's other loops).

Segments are described by columns of their own (sequence number, length, place of the
payload in the buffer, flow key, table row), not by table rows: the segments a stream held
from earlier batches (streams.Held) walk with the batch's own.
"""
from __future__ import annotations

from ybsensor.core.loops import jit, prefetch

AHEAD = 16    # segments ahead whose bytes are asked for: they lie all over the buffer
QUAD_REACH = 8  # bytes of a boundary's side in which base64 of digits makes it a digit run's


@jit(inline="always")
def digit_quad(data, s, classes) -> bool:
    """Whether data[s:s + 4] is base64 of three ASCII digits (`classes`: matcher.RUN_CLASSES,
    bit j where a byte may stand j-th in such a quad)."""
    return (classes[data[s]] & 1) != 0 and (classes[data[s + 1]] & 2) != 0 \
        and (classes[data[s + 2]] & 4) != 0 and (classes[data[s + 3]] & 8) != 0


@jit
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
            a0, b0 = src_hi[r], dst_hi[r]
            a1, b1 = src_lo[r], dst_lo[r]
            if a0 != b0:
                up = 1 if a0 > b0 else 0
            elif a1 != b1:
                up = 1 if a1 > b1 else 0
            else:
                up = 1 if sport[r] > dport[r] else 0
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


@jit
def stream_positions(sid, seq, size, key, st_key, st_next, half, mod, near_below, near_above,
                     rel, end, known, base):
    """Each segment's place in its stream (segments stream by stream): the base is the
    stream's expected next sequence number where its state is for this flow and its first
    segment lies near it, else that segment's own; rel, end: the segment's bytes relative
    to the base. Returns whether rel ascends within every stream."""
    ascending = True
    n = len(sid)
    i = 0
    while i < n:
        s = sid[i]
        nxt = st_next[s]
        k = st_key[s] == key[i] and nxt >= 0
        if k:
            probe = ((seq[i] - nxt + half) % mod) - half
            k = near_below < probe < near_above
        b = nxt if k else seq[i]
        j = i
        while j < n and sid[j] == s:
            rel[j] = ((seq[j] - b + half) % mod) - half
            end[j] = rel[j] + size[j]
            known[j] = k
            base[j] = b
            if j > i and rel[j] < rel[j - 1]:
                ascending = False
            j += 1
        i = j
    return ascending


@jit
def stream_regions(sid, rel, end, known, base, key, seg_row, seg_place, seg_off, seg_whole, data,
                   heads, st_key, st_next, st_tail, st_tail_len, st_jump, max_held, far, mod,
                   row, off, length, rsid, joined, from_state, skip, last, stored_at,
                   stored_tail, stored_len, short, word, held, counts, rstart):
    """streams.Engine._regions for segments in stream order (by stream, then sequence):
    each segment's region (the bytes it adds to its stream), written to row ... stored_len,
    reading the stream's state as the previous batch left it; then the stream's new state
    (key, next sequence number, last CONTEXT bytes).

    A segment that starts past the stream's end so far leaves a hole: it and the stream's
    later segments are `held` (their indices listed; no region, the state stays before the
    hole), unless the stream may jump its holes (`st_jump`, then cleared) or would hold
    more than `max_held` bytes: then the holes are jumped and their bytes counted.

    A region is reported at its segment's `seg_place` (streams.Segments.attribute); its
    first bytes are read from `heads` at the segment's own `seg_row`.

    Returns (regions, regions continuing a stored tail, short last regions, held
    segments): the last regions whose payload holds fewer than CONTEXT bytes are listed in
    `short` (their tails are composed by the caller). word: each region's first 8 bytes
    (Regions.first_words), from the payload heads where the region is a row's whole payload
    (`seg_whole`). counts: [0] grows by the bytes of the holes jumped, [1] by the segments
    that resend bytes this walk's earlier segments of the stream carried, with other values
    (what they resend is dropped: the first copy stands), [2] by the streams whose holes
    were jumped because they would hold too much. rstart: scratch, a region's start in its
    stream. One pass: each stream's segments lie together, so its state is read before it
    is written."""
    context = st_tail.shape[1]
    n = len(sid)
    top = len(data) - context
    nk = 0
    nfs = 0
    nshort = 0
    nheld = 0
    i = 0
    while i < n:
        s = sid[i]
        furthest = -far                  # the furthest end so far in this stream
        first = nk                       # the stream's first region
        jump = st_jump[s]
        holding = False
        j = i
        while j < n and sid[j] == s:
            if j + AHEAD < n:
                a = j + AHEAD
                prefetch(heads, seg_row[a])
                if sid[a] != sid[a - 1]:
                    prefetch(st_tail, sid[a])
                    prefetch(st_next, sid[a])
                    prefetch(st_key, sid[a])
                if a + 1 == n or sid[a + 1] != sid[a]:
                    prefetch(data, seg_off[a] + end[a] - rel[a] - context)
            if holding:
                held[nheld] = j
                nheld += 1
                j += 1
                continue
            prev = furthest
            cover = max(prev, 0) if known[j] else prev
            new_start = max(rel[j], cover)
            if cover > -far and rel[j] > cover and not jump:
                # a hole: hold the rest of the stream, unless that is too much
                rest = 0
                x = j
                while x < n and sid[x] == s:
                    rest += end[x] - rel[x]
                    x += 1
                if rest <= max_held:
                    holding = True
                    held[nheld] = j
                    nheld += 1
                    j += 1
                    continue
                jump = True
                counts[2] += 1
            if cover > -far and rel[j] > cover:
                counts[0] += rel[j] - cover
            if nk > first and rel[j] < prev:
                # bytes resent: do they differ from what the earlier regions gave?
                upto = min(end[j], prev)
                at = seg_off[j]
                k = nk - 1
                differs = False
                while k >= first and not differs:
                    if rstart[k] + length[k] <= rel[j]:
                        break
                    lo = max(rel[j], rstart[k])
                    hi = min(upto, rstart[k] + length[k])
                    for y in range(lo, hi):
                        if data[off[k] + y - rstart[k]] != data[at + y - rel[j]]:
                            differs = True
                            break
                    k -= 1
                if differs:
                    counts[1] += 1
            if new_start < end[j]:
                r = seg_row[j]
                row[nk] = seg_place[j]
                skip[nk] = new_start - rel[j]
                rstart[nk] = new_start
                off[nk] = seg_off[j] + skip[nk]
                length[nk] = end[j] - new_start
                rsid[nk] = s
                joined[nk] = cover > -far and rel[j] <= cover
                from_state[nk] = joined[nk] and known[j] and prev <= 0
                last[nk] = False
                stored_at[nk] = -1
                if from_state[nk]:
                    stored_at[nk] = nfs
                    for c in range(context):
                        stored_tail[nfs, c] = st_tail[s, c]
                    stored_len[nfs] = st_tail_len[s]
                    nfs += 1
                # the first 8 bytes, zero past the region's end: from the row's payload
                # head where the region is its whole payload (the buffer is not read again)
                w = 0
                whole = skip[nk] == 0 and seg_whole[j]
                for c in range(min(length[nk], 8) - 1, -1, -1):
                    w = (w << 8) | int(heads[r, c] if whole else data[off[nk] + c])
                word[nk] = w
                nk += 1
            furthest = max(furthest, end[j])
            j += 1
        # the stream's new state: key, next sequence number, and its last region's tail
        st_key[s] = key[j - 1]
        st_jump[s] = False
        if furthest > (0 if known[j - 1] else -far):
            st_next[s] = (base[j - 1] + furthest) % mod
        if nk > first:
            k = nk - 1
            last[k] = True
            lend = off[k] + length[k]
            at = min(max(lend - context, 0), top)
            for c in range(context):
                st_tail[s, c] = data[at + c]
            st_tail_len[s] = context
            if skip[k] + length[k] < context:
                short[nshort] = k
                nshort += 1
        i = j
    return nk, nfs, nshort, nheld


@jit
def edges(joined, off, length, from_state, stored_at, stored_tail, stored_len, data, min_run,
          classes, windows, owner, digit_owner):
    """streams.Engine._edges for the joined entries `joined`: each boundary's window
    (the EDGE bytes left of it, right-aligned, zero where fewer; then the region's first
    EDGE bytes, zero past its end) into `windows`, the entry owning a match across it into
    `owner`, and the owners of a digit run that may cross it into digit_owner (digits, X
    and x, and digit groups' separators; or base64 of digits near it on either side).
    Returns their count."""
    edge = windows.shape[1] // 2
    context = stored_tail.shape[1]
    top = len(data) - edge
    n = 0
    for k in range(len(joined)):
        if k + AHEAD < len(joined):     # both sides of a boundary lie anywhere in the buffer
            ahead = joined[k + AHEAD]
            prefetch(data, off[ahead])
            prefetch(data, off[max(ahead - 1, 0)] + length[max(ahead - 1, 0)] - edge)
        e = joined[k]
        p = max(e - 1, 0)
        if from_state[e]:
            at = stored_at[e]
            left_len = min(stored_len[at], edge)
            for c in range(edge):
                windows[k, c] = stored_tail[at, context - edge + c] if c >= edge - left_len else 0
            owner[k] = e
        else:
            left_len = min(length[p], edge)
            start = min(max(off[p] + length[p] - edge, 0), top)
            for c in range(edge):
                windows[k, c] = data[start + c] if c >= edge - left_len else 0
            owner[k] = e - 1
        right_len = min(length[e], edge)
        start = min(off[e], top)
        for c in range(edge):
            windows[k, edge + c] = data[start + c] if c < right_len else 0
        # the run of digits ending the left side and the one starting the right side
        trailing = 0
        while trailing < edge:
            c = windows[k, edge - 1 - trailing]
            if not (48 <= c <= 57 or c == 88 or c == 120 or (
                    classes[c] & 32 and trailing + 1 < edge           # digit groups'
                    and 48 <= windows[k, edge - 2 - trailing] <= 57)):   # separator
                break
            trailing += 1
        if trailing >= left_len:
            trailing = context if left_len > 0 else 0
        leading = 0
        while leading < edge:
            c = windows[k, edge + leading]
            if not (48 <= c <= 57 or c == 88 or c == 120 or (
                    classes[c] & 32 and leading + 1 < edge
                    and 48 <= windows[k, edge + leading + 1] <= 57)):
                break
            leading += 1
        leading = min(leading, right_len)
        # a region of digits only may carry a run on into the next: conservative
        all_digits = leading == length[e] and leading > 0
        run = trailing > 0 and leading > 0 and (trailing + leading >= min_run or all_digits)
        # base64 of digits at one side, base64 going on at the other: an encoded run may
        # cross (its quads told apart only with both sides)
        if not run and left_len > 0 and right_len > 0 and classes[windows[k, edge - 1]] & 64 \
                and classes[windows[k, edge]] & 64:            # both sides base64
            for s in range(edge - QUAD_REACH, edge + QUAD_REACH - 3):
                if (s + 4 <= edge or s >= edge) and digit_quad(windows[k], s, classes):
                    run = True
                    break
        if run:
            digit_owner[n] = owner[k]
            n += 1
    return n
