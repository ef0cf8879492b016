"""IP reassembly (RFC 791; RFC 8200 section 4.5): fragments held across batches until their
datagram is whole, then the whole datagram decoded as one row by the same decoders.

The fragments of a batch are its rows with a `frag_at` (a column mask; they are rare). Each
one's bytes go into a buffer keyed by (line, IP version, source, destination, protocol or
next header, identification). A datagram is whole once its last fragment (more-fragments
flag clear) has come and every byte before that fragment's end is held. It is then rebuilt
as a bare IP packet, a fresh fixed header and the payload (IPv4 options and the IPv6
extension headers before the fragment header are not carried), and decoded from that
header by the decode driver: one row with its transport header and ports. The row takes
the line, tunnels and outer header of the fragment that completed it, and that fragment's
frame number and time, so alerts and evidence point at a captured frame.

The fragments' own rows stay in their batch (decoded and counted as frames). A later
fragment, which carries no ports, is no IP packet of its own for the analysis (`hide`): its
datagram stands for it, and it makes no port-0 flow. A first fragment whose datagram is made
whole in the same batch is hidden too: the datagram is one packet, carrying the bytes of
every fragment. A first fragment whose datagram is not whole by the end of its batch keeps
its addresses and ports (a datagram never made whole still went where it went; MF set on
every packet hides nothing) but not its payload, which is searched in the datagram's; it
is counted then, as a packet with its bytes, so the datagram, when whole, carries the bytes
of the other fragments only. Each frame is counted once. A tunnel's first fragment (its
decoding stopped before the tunnel: ipv4.py) is the carrier's packet, never a user's: it is
hidden like a later one, and its datagram carries its bytes too.

Most datagrams come whole within one batch, their fragments side by side: those whose
fragments tile the datagram exactly (no overlap, no gap, nothing held before) are made
whole from columns (`_whole_in_batch`); the rest, rare, go fragment by fragment.

Overlaps: the first copy of a byte wins, as Windows and the BSDs keep the data they hold
and as Zeek reassembles; a later fragment whose bytes differ from the held ones where they
overlap is counted as the decode reason `evasion:frag_overlap` (Linux drops such a datagram
altogether; the sensor shows what a first-wins receiver gets, and says an overlap was tried).
Identical copies (a retransmitted fragment) are not counted.

Bounds, each counted where it gives something up (`dropped{reason}`): a datagram's payload
beyond what its IP version's length field can say (MAX_DATAGRAM: `too_big`), more than
`max_fragments` fragments (`fragments`), all held datagrams over `max_bytes` (the oldest
go: `memory`), a fragment cut short by the capture's snap length (`truncated`); and a
datagram not whole `timeout` seconds of packet time after its first fragment is given up
(`timed_out`).
"""
from __future__ import annotations

from collections import Counter, OrderedDict
from typing import Callable

import numpy as np

from . import dispatch as dispatch_mod
from .batch import Batch
from .ipv4 import FRAGMENT_NEXT, IPV4, MORE_FRAGMENTS, OFFSET_BITS
from .ipv6 import FRAG, IPV6
from .keys import IPPROTO, LINE_IF, OK, UDP
from .table import MAX_TUNNELS, PacketTable

LINKTYPE_RAW = 101       # a rebuilt datagram is a bare IP packet
# the most payload bytes a datagram can have, by IP version: IPv4's total length field holds
# its 20-byte header too; IPv6's payload length field (fragments are no jumbograms, RFC 2675)
MAX_DATAGRAM = {4: 65535 - 20, 6: 65535}
HELD_COST = 256          # bytes charged for a held datagram besides its data (a rough figure)
PART_COST = 64           # ... and for each of its pieces
OVERLAP_REASON = "evasion:frag_overlap"
DROP_REASONS = ("too_big", "fragments", "memory", "truncated")


class _Held:
    """One datagram's fragments so far: pieces (start, bytes), sorted, not overlapping."""
    __slots__ = ("first_ns", "pieces", "end", "count", "cost", "wire", "counted")

    def __init__(self, first_ns: int):
        self.first_ns = first_ns
        self.pieces: list[tuple[int, bytes]] = []
        self.end = -1           # the payload's length, once the last fragment came
        self.count = 0          # fragments taken
        self.cost = HELD_COST
        self.wire = 0           # bytes of the frames that carried its fragments
        self.counted = 0        # ... of those, the bytes of a first fragment counted already

    def add(self, start: int, data: bytes) -> tuple[int, bool]:
        """Take the bytes not held yet (the first copy wins); (bytes taken, whether held
        bytes differ from this fragment's)."""
        end = start + len(data)
        new, cur, differ = [], start, False
        for ps, pb in self.pieces:
            pe = ps + len(pb)
            if pe <= start:
                continue
            if ps >= end:
                break
            lo, hi = max(ps, start), min(pe, end)
            if data[lo - start: hi - start] != pb[lo - ps: hi - ps]:
                differ = True
            if ps > cur:
                new.append((cur, data[cur - start: ps - start]))
            cur = max(cur, pe)
        if cur < end:
            new.append((cur, data[cur - start:]))
        if new:
            self.pieces = sorted(self.pieces + new)
        return sum(len(b) for _, b in new), differ

    def whole(self) -> bytes | None:
        if self.end < 0:
            return None
        held = sum(min(s + len(b), self.end) - s for s, b in self.pieces if s < self.end)
        if held < self.end:
            return None
        return b"".join(b for s, b in self.pieces if s < self.end)[:self.end]


class Reassembly:
    """The fragments held across batches, bounded; `process` a batch's table, get a table
    of the datagrams it completed."""

    def __init__(self, max_bytes: int = 32 << 20, timeout: float = 30.0,
                 max_fragments: int = 128, errors: Counter | None = None, dispatch=None):
        self.dispatch = dispatch if dispatch is not None else dispatch_mod.DEFAULT
        self.max_bytes = max_bytes
        self.timeout_ns = int(timeout * 1e9)
        self.max_fragments = max_fragments
        self.held: OrderedDict[tuple, _Held] = OrderedDict()     # oldest first
        self.bytes = 0
        self.errors = errors if errors is not None else Counter()   # decode reasons
        self.reassembled = 0
        self.timed_out = 0
        self.dropped: Counter[str] = Counter({r: 0 for r in DROP_REASONS})
        self.overlaps = 0

    # --- per batch ---------------------------------------------------------------------

    def process(self, t: PacketTable, decode: Callable[[Batch], PacketTable]) -> PacketTable | None:
        """Take the fragments of table `t` (and hide them from the analysis); the table of
        the datagrams they completed (decoded by `decode`), or None."""
        rows = np.flatnonzero(t.frag_at >= 0)
        if self.held and t.n:
            self._expire(int(t.ts_ns.max()))
        if not rows.size:
            return None
        fields = self._fields(t, rows)
        carrier = self._carriers(t, rows)
        done, completed = self._take(t, rows, fields, carrier)
        whole = self._decode(t, done, decode) if done else None
        # a first fragment whose datagram is not whole yet is a packet with its transport
        # header: its addresses and ports stay in the analysis (a datagram never made whole,
        # or one with MF set on every packet, still reaches where it goes), its payload is
        # searched in the datagram's; any other fragment is no packet of its own, nor is a
        # tunnel's first fragment (the carrier's: its user packet is inside)
        shown = (fields[2] == 0) & ~completed & ~carrier
        hide(t, rows[~shown])
        t.payload_len[rows[shown]] = 0
        return whole

    def _carriers(self, t: PacketTable, rows: np.ndarray) -> np.ndarray:
        """Which fragments' rows stopped before a tunnel their datagram carries (ipv4.py):
        at a UDP header whose port is a tunnel's, or at an IP header whose protocol has a
        decoder and is no transport (GRE, IP in IP...)."""
        d = self.dispatch
        last = t.layers[rows, np.maximum(t.nlayers[rows].astype(np.int64) - 1, 0)]
        proto = t.proto[rows]
        at_udp = (last == d.layer_ids["udp"]) & \
            (d.known(UDP, t.sport[rows]) | d.known(UDP, t.dport[rows]))
        at_ip = np.isin(last, [d.layer_ids["ipv4"], d.layer_ids["ipv6"]]) & \
            d.known(IPPROTO, proto) & ~np.isin(proto, FRAGMENT_NEXT)
        return at_udp | at_ip

    def _fields(self, t: PacketTable, rows: np.ndarray):
        """Per fragment: where its data starts and ends in the buffer, its offset in the
        datagram, more-fragments, identification, and whether the capture cut it."""
        buf, at = t.batch.data, t.frag_at[rows]
        frame_end = t.batch.offset[rows] + t.caplen[rows]
        start, end = np.empty(len(rows), np.int64), np.empty(len(rows), np.int64)
        offset, more, ident = (np.empty(len(rows), np.int64) for _ in range(3))
        v4 = t.ip_ver[rows] == 4
        i4, i6 = np.flatnonzero(v4), np.flatnonzero(~v4)
        if i4.size:
            ihl, total, ident4, frag = IPV4.read(buf, at[i4], "ihl", "total_len", "id", "frag")
            start[i4] = at[i4] + ihl * 4
            end[i4] = np.where(total > 0, at[i4] + total, frame_end[i4])
            offset[i4], more[i4], ident[i4] = (frag & OFFSET_BITS) * 8, frag & MORE_FRAGMENTS, ident4
        if i6.size:
            off6, more6, ident6 = FRAG.read(buf, at[i6], "offset", "more", "id")
            start[i6] = at[i6] + FRAG.min_len
            r6 = rows[i6]
            # a later fragment's payload ends where the IPv6 packet does; a first fragment's
            # transport may say less (a UDP length), so its frame's end: an IPv6 fragment
            # with data is longer than Ethernet's minimum frame, which leaves no padding
            later = (t.status[r6] == OK) & (t.payload_off[r6] == start[i6])
            end[i6] = np.where(later, t.payload_off[r6] + t.payload_len[r6], frame_end[i6])
            offset[i6], more[i6], ident[i6] = off6 * 8, more6, ident6
        cut = (end > frame_end) | (t.wirelen[rows] > t.caplen[rows]) | (end < start)
        return start, np.minimum(end, frame_end), offset, more != 0, ident, cut

    def _take(self, t: PacketTable, rows: np.ndarray, fields, carrier: np.ndarray
              ) -> tuple[list, np.ndarray]:
        """Fragments into the buffer (`fields`: theirs, from `_fields`; `carrier`: a tunnel's,
        `_carriers`); (row, identification, payload, wire bytes not counted yet) of each
        datagram made whole, in row order, and per fragment whether its datagram was made
        whole in this batch."""
        start, end, offset, more, ident, cut = fields
        cols = [c[rows] for c in (t.line_kind, t.line_a, t.line_b, t.ip_ver, t.src_hi,
                                  t.src_lo, t.dst_hi, t.dst_lo, t.proto)] + [ident]
        wire = t.wirelen[rows].astype(np.int64)
        data = memoryview(t.batch.data)     # slices without an array object each (a mapped file)
        completed = np.zeros(len(rows), dtype=bool)
        done, slow = self._whole_in_batch(rows, cols, fields, wire, data, completed)
        if slow.size:
            done += self._take_each(rows, cols, fields, wire, data, completed, slow, t.ts_ns,
                                    carrier)
        done.sort(key=lambda d: d[0])     # the columns' are in the order of their keys
        return done, completed

    def _whole_in_batch(self, rows, cols, fields, wire, data, completed) -> tuple[list, np.ndarray]:
        """The datagrams made whole by this batch's fragments alone, found from columns:
        none of their key held, fragments that tile the payload from 0 to a last fragment
        (more-fragments clear on it alone), none cut or overlapping, within the bounds. Their
        (row, identification, payload, wire) as `_take` gives them, and the positions of the other
        fragments (in row order)."""
        start, end, offset, more, ident, cut = fields
        length = end - start
        order = np.lexsort((offset, *cols[::-1]))    # by key, then offset in the datagram
        same = np.ones(len(order), dtype=bool)       # the same key as the fragment before
        same[0] = False
        for c in cols:
            cs = c[order]
            same[1:] &= cs[1:] == cs[:-1]
        begin = np.flatnonzero(~same)
        last = np.append(begin[1:], len(order)) - 1
        o, ln, mf = offset[order], length[order], more[order]
        # a fragment that breaks the tiling: the first not at 0, a later not where the one
        # before ended, MF clear before the last, MF set on the last, cut or empty
        bad = (ln <= 0) | cut[order] | np.r_[False, same[1:] & (o[1:] != o[:-1] + ln[:-1])]
        bad[begin] |= o[begin] != 0
        is_last = np.zeros(len(order), dtype=bool)
        is_last[last] = True
        bad |= mf == is_last
        group_bad = np.add.reduceat(bad.astype(np.int64), begin) > 0
        size = o[last] + ln[last]
        ver = cols[3][order][begin]
        group_bad |= size > np.where(ver == 4, MAX_DATAGRAM[4], MAX_DATAGRAM[6])
        group_bad |= (last - begin + 1) > self.max_fragments
        good = np.flatnonzero(~group_bad)
        done = []
        if good.size and self.held:                  # none that joins what earlier batches sent
            group_bad[good[self._held_keys([c[order][begin[good]] for c in cols])]] = True
            good = np.flatnonzero(~group_bad)
        if good.size:
            so, eo = start[order].tolist(), end[order].tolist()
            wire_sum = np.add.reduceat(wire[order], begin)[good].tolist()
            completer = np.maximum.reduceat(rows[order], begin)[good].tolist()
            for ident_, b, e, w, row in zip(cols[-1][order][begin[good]].tolist(),
                                            begin[good].tolist(), last[good].tolist(),
                                            wire_sum, completer):
                whole = b"".join([data[so[i]:eo[i]] for i in range(b, e + 1)])
                done.append((row, ident_, whole, w))
            self.reassembled += len(done)
            took = np.repeat(~group_bad, last - begin + 1)
            completed[order[took]] = True
            slow = np.sort(order[~took])
        else:
            slow = np.arange(len(order))
        return done, slow

    def _held_keys(self, cols: list[np.ndarray]) -> np.ndarray:
        """Which of the keys given as columns are held."""
        n = len(cols[0])
        if len(self.held) * len(cols) > 4 * n:       # many held: a look-up per key
            return np.array([k in self.held for k in zip(*(c.tolist() for c in cols))], bool)
        found = np.zeros(n, dtype=bool)
        for key in self.held:                        # few held: a compare per held key
            match = np.ones(n, dtype=bool)
            for c, v in zip(cols, key):
                match &= c == v
            found |= match
        return found

    def _take_each(self, rows, cols, fields, wire, data, completed, pick, ts_ns,
                   carrier) -> list:
        """The fragments at positions `pick` (row order) one at a time into the buffer."""
        start, end, offset, more, ident, cut = fields
        keys = zip(*(c[pick].tolist() for c in cols))
        done = []
        here: dict[tuple, list[int]] = {}   # positions of each held datagram's fragments here
        firsts = []                         # positions of first fragments
        for pos, row, key, s, e, off, mf, bad, ts, w in zip(
                pick.tolist(), rows[pick].tolist(), keys, start[pick].tolist(),
                end[pick].tolist(), offset[pick].tolist(), more[pick].tolist(),
                cut[pick].tolist(), ts_ns[rows[pick]].tolist(), wire[pick].tolist()):
            d = self.held.get(key)
            if bad:
                self._drop(key, d, "truncated")
                continue
            if off + (e - s) > MAX_DATAGRAM[key[3]]:
                self._drop(key, d, "too_big")
                continue
            if d is None:
                d = self.held[key] = _Held(ts)
                self.bytes += d.cost
                here[key] = []
            here.setdefault(key, []).append(pos)
            if off == 0 and not carrier[pos]:      # counted as a packet of its own
                firsts.append((pos, key, w))
            d.count += 1
            d.wire += w
            if d.count > self.max_fragments:
                self._drop(key, d, "fragments")
                continue
            taken, differ = d.add(off, bytes(data[s:e]))
            if differ:
                self.overlaps += 1
                self.errors[OVERLAP_REASON] += 1
            if not mf and d.end < 0:        # the first last fragment says where it ends
                d.end = off + (e - s)
            cost = taken + PART_COST
            d.cost += cost
            self.bytes += cost
            whole = d.whole()
            if whole is not None:
                del self.held[key]
                self.bytes -= d.cost
                self.reassembled += 1
                completed[here.pop(key)] = True
                done.append((row, key[-1], whole, d.wire - d.counted))
            elif self.bytes > self.max_bytes:
                self._trim()
        # a first fragment still waiting for the rest is counted now, as a packet of its own
        for pos, key, w in firsts:
            d = self.held.get(key)
            if d is not None and not completed[pos]:
                d.counted += w
        return done

    def _drop(self, key: tuple, d: _Held | None, reason: str) -> None:
        self.dropped[reason] += 1
        if d is not None and self.held.pop(key, None) is not None:
            self.bytes -= d.cost

    def _trim(self) -> None:
        """The oldest datagrams go until the rest fit."""
        while self.bytes > self.max_bytes and self.held:
            _, d = self.held.popitem(last=False)
            self.bytes -= d.cost
            self.dropped["memory"] += 1

    def _expire(self, now: int) -> None:
        """Datagrams whose first fragment is older than the timeout go (oldest first: the
        buffer is in arrival order)."""
        limit = now - self.timeout_ns
        while self.held:
            key, d = next(iter(self.held.items()))
            if d.first_ns >= limit:
                break
            self.held.popitem(last=False)
            self.bytes -= d.cost
            self.timed_out += 1

    def _decode(self, t: PacketTable, done: list, decode) -> PacketTable:
        """The whole datagrams as bare IP packets, decoded; each row then takes the line,
        tunnels, outer header, frame and time of the fragment that completed it."""
        src = np.array([row for row, _, _, _ in done], dtype=np.int64)
        heads = _headers(t, src, [len(payload) for _, _, payload, _ in done],
                         [ident for _, ident, _, _ in done])
        frames = [head + payload for head, (_, _, payload, _) in zip(heads, done)]
        # on the wire: the frames that carried it (flows and alerts count those bytes)
        batch = Batch.from_frames(frames, LINKTYPE_RAW, ts_ns=t.ts_ns[src],
                                  wirelen=[w for _, _, _, w in done],
                                  interfaces=t.batch.interfaces)
        batch.iface = t.iface[src].copy()
        batch.source = t.batch.source
        d = decode(batch)
        d.frame = t.frame[src].copy()
        own = d.line_kind == LINE_IF          # no header inside the datagram named a line
        for name in ("line_kind", "line_a", "line_b"):
            getattr(d, name)[own] = getattr(t, name)[src][own]
        outer = t.n_ip[src] > 1               # the fragments came through an IP tunnel
        for name in ("outer_ver", "outer_src_hi", "outer_src_lo", "outer_dst_hi", "outer_dst_lo"):
            getattr(d, name)[outer] = getattr(t, name)[src][outer]
        # the chain: the fragment's layers up to its innermost IP header, then the datagram's
        width = d.layers.shape[1]
        same_ip = (t.layers[src] == d.layers[:, :1]) & \
            (np.arange(width)[None, :] < t.nlayers[src][:, None])
        cut = width - 1 - np.argmax(same_ip[:, ::-1], axis=1)
        cut = np.where(same_ip.any(axis=1), cut, t.nlayers[src])
        take = np.arange(width)[None, :] - cut[:, None]
        theirs = (take >= 0) & (take < d.nlayers[:, None])
        chain = np.where(take < 0, t.layers[src], 0).astype(d.layers.dtype)
        chain[theirs] = d.layers[np.nonzero(theirs)[0], take[theirs]]
        d.layers[:] = chain
        d.nlayers[:] = np.minimum(cut + d.nlayers, width)
        # the tunnels: the fragment's, then any inside the datagram (rare: one by one)
        inner = d.ntun.astype(np.int64)
        for j in np.flatnonzero(inner > 0).tolist():
            row, n1, n2 = int(src[j]), int(t.ntun[src[j]]), int(inner[j])
            for col, mine in ((d.tun_kind, t.tun_kind), (d.tun_a, t.tun_a), (d.tun_b, t.tun_b)):
                vals = (mine[row, :n1].tolist() + col[j, :n2].tolist())[:MAX_TUNNELS]
                col[j] = 0
                col[j, :len(vals)] = vals
            d.ip_at_tunnel[j] += t.n_ip[row] - 1
            d.ntun[j] = min(n1 + n2, MAX_TUNNELS)
        plain = inner == 0
        for name in ("tun_kind", "tun_a", "tun_b", "ntun", "ip_at_tunnel"):
            getattr(d, name)[plain] = getattr(t, name)[src[plain]]
        d.n_ip[:] = d.n_ip + t.n_ip[src].astype(np.int64) - 1
        return d

    # --- metrics -----------------------------------------------------------------------

    def metric_families(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        pre = "ybsensor_ip_reassembly"
        yield CounterMetricFamily(f"{pre}_reassembled", "IP datagrams reassembled from "
                                  "fragments", value=self.reassembled)
        yield CounterMetricFamily(f"{pre}_timed_out", "IP datagrams given up incomplete after "
                                  "the reassembly timeout", value=self.timed_out)
        dropped = CounterMetricFamily(f"{pre}_dropped", "IP datagrams given up by a reassembly "
                                      "bound", labels=["reason"])
        for reason in DROP_REASONS:
            dropped.add_metric([reason], self.dropped[reason])
        yield dropped
        yield CounterMetricFamily(f"{pre}_overlaps", "IP fragments whose bytes differ from "
                                  "those held where they overlap", value=self.overlaps)
        yield GaugeMetricFamily(f"{pre}_held_bytes", "Bytes charged for incomplete IP "
                                "datagrams", value=self.bytes)


def hide(t: PacketTable, rows: np.ndarray) -> None:
    """Rows that are no IP packets of their own for the analysis (flows, detectors): their
    reassembled datagram stands for them."""
    t.n_ip[rows] = 0
    t.payload_len[rows] = 0


def _headers(t: PacketTable, rows: np.ndarray, lengths: list[int], ident: list[int]) -> list[bytes]:
    """A fresh fixed IP header for each reassembled payload, from its fragment's row."""
    out: list[bytes] = [b""] * len(rows)
    lengths, ident = np.array(lengths, np.int64), np.array(ident, np.int64)
    v4 = t.ip_ver[rows] == 4
    for pick, layout, first in ((np.flatnonzero(v4), IPV4, IPV4.pack(IPV4.min_len, version=4, ihl=5, ttl=64)),
                                (np.flatnonzero(~v4), IPV6, IPV6.pack(IPV6.min_len, version=6, hop_limit=64))):
        if not pick.size:
            continue
        r = rows[pick]
        blk = np.tile(np.frombuffer(bytes(first), np.uint8), (len(pick), 1))
        if layout is IPV4:
            layout.put(blk, "total_len", lengths[pick] + IPV4.min_len)
            layout.put(blk, "id", ident[pick])
            layout.put(blk, "proto", t.proto[r])
            layout.put(blk, "src", t.src_lo[r] & np.uint64(0xFFFFFFFF))
            layout.put(blk, "dst", t.dst_lo[r] & np.uint64(0xFFFFFFFF))
        else:
            layout.put(blk, "payload_len", lengths[pick])
            layout.put(blk, "next", t.proto[r])
            layout.put(blk, "src", (t.src_hi[r], t.src_lo[r]))
            layout.put(blk, "dst", (t.dst_hi[r], t.dst_lo[r]))
        for k, j in enumerate(pick.tolist()):
            out[j] = blk[k].tobytes()
    return out
