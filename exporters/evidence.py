"""Evidence pcaps: the first packets of each alerted flow, for the analyst (JL art.34-36).

When an alert is raised, its flow gets a file in the evidence directory and the alert names
it (`evidence_pcap`). The flow's packets of that batch go in (from the flow's first one in the
batch: earlier batches are gone), then its packets of later batches, until the file holds
`packets_per_flow`. Whole captured frames are written, with their own timestamps, into a
classic pcap (nanosecond timestamps) of the frame's link type.

Personal data is masked in what is written (JL art.33): every frame through
`detectors.pii_mask.mask_payload`, and the innermost payload once more with `edges=True`, so
that digits an identifier left at a segment's edge never join the next packet's into a whole
one. Lengths stay as they were; checksums no longer match the masked bytes. A flow whose
alert read an identifier only by undoing a coding (gzip, base64, chunked framing, a
WebSocket's mask: bytes any reader undoes, which the maskers do not see through) has its
payloads left out whole, as a credentials flow's always are (`_left_out`). `mask = false`
writes the frames as captured.

Bounds: `packets_per_flow` per file; flows collecting at once at most `max_open` (the least
recently alerted is closed first); the directory's evidence files together at most
`max_bytes` (the oldest files are removed to make room — as rotation removes old alert logs —
and a packet that still does not fit is refused and counted).

Per batch, the records of every flow collecting are built at once (numpy: the rows chosen,
the headers packed; the frames gathered behind them by one compiled loop, evidence_kernels)
and each flow's go out in one write, on a descriptor kept open while the flow collects (a
new file's header goes out with its first records). The maskers are Python: only the frames
that a vectorized pre-filter (`_suspects`) finds they could change go through them
(`_masked`); the others are written as captured, which is what the maskers would return for
them.
"""
from __future__ import annotations

import errno
import functools
import operator
import os
import re
import struct
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ybsensor.detectors.matcher import GROUP_SEPARATORS, RUN_CLASSES, LiteralMatcher, number_run_hits
from ybsensor.detectors.normalise import TEXT_DECODINGS, TEXT_MARKERS
from ybsensor.detectors.pii_mask import (
    CREDENTIAL_WORDS,
    EDGE_HEAD,
    EDGE_TAIL,
    base64_digits_at_edges,
    binary_credential_heads,
    long_digit_run,
    mask_credentials,
    mask_payload,
    wide_digit_run,
)

from .alerts import write_all
from .evidence_kernels import records

PCAP_NS_MAGIC = 0xA1B23C4D
SNAPLEN = 262_144
HEADER = struct.Struct("<IHHiIII")
RECORD = struct.Struct("<IIII")
# what a cut identifier can end in: a digit, a check character, a digit group's separator
_EDGE = frozenset(bytes([c]) for c in b"0123456789Xx" + GROUP_SEPARATORS)
NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z_[a-z_]+_(?:[0-9a-f]{16}|frame\d+)(?:-\d+)?\.pcap$")

# --- which frames the maskers could change: decided for a whole batch at once -------------
# (`_masked` is the rule; a frame none of these tests selects is one it returns unchanged)
RUN = 11                                                     # digits long_digit_run looks for
_EDGE_BYTE = np.zeros(256, dtype=bool)                       # what `mask_payload` edges cut
_EDGE_BYTE[[c for c in b"0123456789Xx" + GROUP_SEPARATORS]] = True
# every credential word, folded to lower case (| 0x20), has a byte pair at an even offset
# among its first three bytes: one look-up per even offset finds where a word may start
_WORD_PAIR = np.zeros(1 << 16, dtype=bool)
for _w in CREDENTIAL_WORDS:
    assert len(_w) >= 3 and _w.isalpha() and _w.islower(), _w   # what the folding relies on
    _WORD_PAIR[_w[0] | _w[1] << 8] = _WORD_PAIR[_w[1] | _w[2] << 8] = True
_WORD_MAX = max(len(w) for w in CREDENTIAL_WORDS)
_WORDS = [np.frombuffer(w, dtype=np.uint8) for w in CREDENTIAL_WORDS]
_CHUNK = 1 << 16           # byte pairs looked up at once
_MATCHER: LiteralMatcher | None = None   # the credential words, then the wide digits' markers
_WIDE: LiteralMatcher | None = None      # the markers alone (without Hyperscan; on first use)


@functools.lru_cache(maxsize=64)
def _header(linktype: int) -> bytes:
    """A classic pcap's file header (nanosecond timestamps) for `linktype`."""
    return HEADER.pack(PCAP_NS_MAGIC, 2, 4, 0, 0, SNAPLEN, linktype)


def _pcap_times(ts_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(seconds, nanoseconds) of each time as a classic pcap holds them: unsigned 32-bit
    seconds, so a time before 1970 or after 2106 (a damaged capture's) is clamped to the
    nearest end."""
    sec, nsec = np.divmod(ts_ns.astype(np.int64), 1_000_000_000)
    low, high = sec < 0, sec > 0xFFFFFFFF
    if low.any() or high.any():
        sec = np.where(low, 0, np.where(high, 0xFFFFFFFF, sec))
        nsec = np.where(low, 0, np.where(high, 999_999_999, nsec))
    return sec, nsec


def _suspects(data: np.ndarray, start: np.ndarray, length: np.ndarray, p0: np.ndarray,
              plen: np.ndarray) -> np.ndarray:
    """Which frames `_masked` could change — frame i is data[start[i]: start[i] + length[i]],
    its payload at p0[i] (relative), plen[i] bytes — found for all of them at once: a run of
    11 digits in the frame, or a payload that holds a credential word (a superset: letters
    folded, matched anywhere in the frame), opens like a binary login message, starts with a
    run of more than EDGE_HEAD digits (or X), ends with one of more than EDGE_TAIL, or is
    such a run whole. Every other frame is left as it is; these go through `_masked`."""
    n, size = len(start), len(data)
    hit = np.zeros(n, dtype=bool)
    if not n or not size:
        return hit
    # credential words and runs of 11 digits, over the whole buffer at once. Every frame a
    # run's window touches may hold one: a superset of the runs inside one frame (such a
    # run's window holds it, so touches its frame)
    first, rs, re_, wide = _words_runs_and_marks(data)
    if wide.size:               # the frames whose payload holds a wide digit (not a header's)
        row = np.maximum(np.searchsorted(start, wide, side="right") - 1, 0)
        wide_rows = np.unique(row[(p0[row] >= 0) & (wide >= start[row] + p0[row])])
        # a wide digit alone changes nothing: only a run of 11 is masked (`mask_payload`),
        # so those frames are told by the maskers' own quick test (binary payloads' NULs
        # mark many frames that hold none)
        hit[_wide_runs([data[start[r]: start[r] + length[r]] for r in wide_rows.tolist()],
                       wide_rows.tolist())] = True
    if rs.size:
        touched = np.zeros(n + 1, dtype=np.int64)
        np.add.at(touched, np.maximum(np.searchsorted(start, rs, side="right") - 1, 0), 1)
        np.add.at(touched, np.searchsorted(start, re_ - 1, side="right"), -1)
        hit |= np.cumsum(touched[:n]) > 0
    # the payload's own tests
    has = (plen > 0) & (p0 >= 0) & (p0 < length)
    if not has.any():
        return hit
    idx = np.flatnonzero(has)
    seg0 = start[idx] + p0[idx]
    seg_n = np.minimum(plen[idx], length[idx] - p0[idx])
    # a run of more than EDGE_HEAD at the start, or the whole payload a run
    k = np.arange(EDGE_HEAD + 1)
    head = (_EDGE_BYTE[data[np.minimum(seg0[:, None] + k, size - 1)]] | (k >= seg_n[:, None])).all(axis=1)
    # a run of more than EDGE_TAIL at the end
    k = np.arange(EDGE_TAIL + 1)
    tail = _EDGE_BYTE[data[np.clip(seg0[:, None] + seg_n[:, None] - (EDGE_TAIL + 1) + k, 0, size - 1)]].all(axis=1) \
        & (seg_n > EDGE_TAIL)
    hit[idx[head | tail | _quad_at_edges(data, seg0, seg_n)]] = True
    # a binary message that carries a secret (LDAP bind, SNMP, TDS Login7, PostgreSQL)
    hit[idx[binary_credential_heads(data[np.minimum(seg0[:, None] + np.arange(2), size - 1)])]] = True
    # a credential word (matched anywhere in the frame) in a frame with a payload
    if first.size:
        row = np.searchsorted(start, first, side="right") - 1
        row = row[(row >= 0) & has[np.maximum(row, 0)]]
        hit[row] = True
    return hit


WIDE_ALONE = 16  # frames a part holding a wide run is cut into before they are tested alone


def _quad_at_edges(data: np.ndarray, seg0: np.ndarray, seg_n: np.ndarray) -> np.ndarray:
    """Which payloads (data[seg0: seg0 + seg_n]) hold base64 of digits in their first or
    last four characters' quads: a superset of what `base64_digits_at_edges` masks."""
    size = len(data)
    out = np.zeros(len(seg0), dtype=bool)
    j = np.arange(4)
    place = (1 << j).astype(np.uint8)            # matcher.RUN_CLASSES: bit j, j-th in a quad
    for k in range(4):
        for at in (seg0 + k, seg0 + seg_n - 4 - k):
            pos = np.clip(at[:, None] + j, 0, size - 1)
            out |= ((RUN_CLASSES[data[pos]] & place) != 0).all(axis=1) & (seg_n >= 4 + k)
    return out


def _wide_runs(frames: list[np.ndarray], rows: list[int]) -> list[int]:
    """The rows whose frame holds a digit run in a wide form (`wide_digit_run`): the
    frames tested joined, then halves of them where that finds one (a run found across
    two frames is in neither), down to WIDE_ALONE frames tested one by one; frames that
    hold none (most: binary payloads' NULs mark many) cost one test together."""
    out, todo = [], [(frames, rows)] if rows else []
    while todo:
        part, which = todo.pop()
        if len(part) > 1 and not wide_digit_run(b"".join(part)):
            continue
        if len(part) <= WIDE_ALONE:
            out += [r for frame, r in zip(part, which) if wide_digit_run(frame.tobytes())]
        else:
            half = len(part) // 2
            todo += [(part[half:], which[half:]), (part[:half], which[:half])]
    return out


def _words_runs_and_marks(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                     np.ndarray]:
    """Where a credential word starts in `data` (letters folded, the word wholly inside);
    the runs of RUN digits, and of base64 of digits, that `number_run_hits` gives (start,
    end); and where a digit in a
    wide form (UTF-16, full-width, a JSON escape: those pii_mask also masks) may be, by the
    payload normaliser's text markers. Words and markers in one pass of the payload
    engine's Hyperscan matcher where that is installed, else the words by byte pairs
    looked up (the same positions; the numpy matcher is slower than those here) and the
    markers by the numpy matcher."""
    global _MATCHER, _WIDE
    if _MATCHER is None:
        _MATCHER = LiteralMatcher(list(CREDENTIAL_WORDS) + TEXT_MARKERS)
    rs, re_, _ = number_run_hits(data, 0, len(data), RUN)
    if _MATCHER.backend == "hyperscan":
        starts, ids = _MATCHER.scan(data)
        word = ids < len(CREDENTIAL_WORDS)
        return starts[word], rs, re_, starts[~word]
    if _WIDE is None:
        _WIDE = LiteralMatcher(TEXT_MARKERS)
    return _word_starts(data), rs, re_, _WIDE.scan(data)[0]


def _word_starts(data: np.ndarray) -> np.ndarray:
    """Where a credential word starts in `data` (letters folded, the word wholly inside):
    folded byte pairs at even offsets, then the words themselves."""
    size = len(data)
    words = data[: size - size % 2].view("<u2")
    pair = [np.flatnonzero(_WORD_PAIR.take(words[a: a + _CHUNK] | np.uint16(0x2020), mode="wrap")) + a
            for a in range(0, len(words), _CHUNK)]  # in pieces that stay in the cache
    pair = np.concatenate(pair) * 2 if pair else np.zeros(0, dtype=np.int64)
    if not pair.size:
        return pair
    first = np.concatenate([pair - 1, pair])         # where a word through a pair starts
    first = first[first >= 0]
    k = np.arange(_WORD_MAX)
    block = data[np.minimum(first[:, None] + k, size - 1)] | np.uint8(0x20)
    word = np.zeros(first.size, dtype=bool)
    for w in _WORDS:
        word |= (block[:, : len(w)] == w).all(axis=1) & (first + len(w) <= size)
    return first[word]


def _write_rest(fd: int, data: memoryview, n: int) -> None:
    """The rest of `data` after a write that took only its first n bytes (or, n < 0, not
    all of what went before it)."""
    if n < 0:
        raise OSError(errno.EIO, "short write")
    write_all(fd, data[n:])


def _close_all(fds: dict) -> None:
    for fd in fds.values():
        try:
            os.close(fd)
        except OSError:
            pass
    fds.clear()


@dataclass(slots=True)
class _Open:
    """A flow still collecting packets into its file."""
    path: str
    linktype: int
    remaining: int
    blank: bool = False  # payloads replaced whole (`_left_out`)
    head: bytes = b""    # the file header, until it goes out with the first records
    row: int = -1        # the alert's row (a file made this batch)


_REMAINING = operator.attrgetter("remaining")
_LINKTYPE = operator.attrgetter("linktype")
_BLANK = operator.attrgetter("blank")


def _left_out(alert: dict, mask: bool) -> bool:
    """Whether the payloads of an alerted flow's packets are left out of its evidence
    whole: a password typed one keystroke a packet (Telnet) cannot be told from the packets
    alone (whatever `mask` says); with `mask`, an identifier read only once a coding the
    maskers do not see through was undone (gzip, base64, chunked framing, a WebSocket's
    mask...) is in bytes that Wireshark, or any reader, undoes too."""
    if alert.get("detector") == "cleartext_credentials":
        return True
    decoded = (alert.get("evidence") or {}).get("decoded") or ()
    return mask and any(label not in TEXT_DECODINGS for label in decoded)


class EvidenceWriter:
    # files kept open between batches (the flows still collecting): at most this many, or
    # a quarter of what the process may open, whichever is less
    MAX_FDS = 1024

    def __init__(self, directory: str | Path, packets_per_flow: int = 10,
                 max_bytes: int = 1 << 30, mask: bool = True, max_open: int = 4096):
        self.dir = Path(directory)
        self.packets_per_flow = max(int(packets_per_flow), 1)
        self.max_bytes = int(max_bytes)
        self.mask = bool(mask)
        self.max_open = max(int(max_open), 1)
        self.open: OrderedDict[int, _Open] = OrderedDict()  # flow key -> state
        self._open_key: dict[str, int] = {}                  # an open state's path -> its key
        self._keys: np.ndarray | None = None                 # sorted keys of `open` (None: anew)
        self.files = 0           # evidence files made
        self.packets = 0         # packets written
        self.removed = 0         # old files removed to make room
        self.refused = 0         # packets not written: no room even after removing
        self.write_errors = 0    # files or packets that could not be written (disk full...)
        self.abandoned = 0       # flows closed before their packets were all in (max_open)
        self.plain = False       # every frame through `_masked` (the reference path: tests)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._prefix = str(self.dir / "_")[:-1]             # + a name: str(self.dir / name)
        self._fds: OrderedDict[str, int] = OrderedDict()    # path -> fd, least recent first
        self._finalizer = weakref.finalize(self, _close_all, self._fds)
        try:
            import resource
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            soft = self.MAX_FDS * 4 if soft == resource.RLIM_INFINITY else soft
        except (ImportError, OSError, ValueError):
            soft = 256
        self.max_fds = max(min(self.MAX_FDS, soft // 4), 1)
        self._detectors: dict[str, str] = {}                # alert's detector -> in names
        # what is in the directory already counts against max_bytes: oldest first
        self.sizes: OrderedDict[str, int] = OrderedDict()   # path -> bytes
        existing = []
        with os.scandir(self.dir) as entries:
            for entry in entries:
                if NAME.match(entry.name) and entry.is_file():
                    st = entry.stat()
                    existing.append((st.st_mtime_ns, entry.name, st.st_size))
        for _, name, size in sorted(existing):
            self.sizes[self._prefix + name] = size
        self.total = sum(self.sizes.values())

    # --- per batch --------------------------------------------------------------------

    def process(self, ctx, alerts: list[dict]) -> None:
        """Name each alert's evidence file (a new one for a flow not collecting yet), then
        write this batch's packets of every flow still collecting."""
        t = ctx.t
        single: list[_Open] = []  # frames without a flow: their own file each
        made: list[_Open] = []    # the files made for this batch's alerts
        rows = self._rows(t, alerts)
        known = [k for k, row in enumerate(rows) if row is not None]
        if len(known) < len(alerts):
            for alert, row in zip(alerts, rows):
                if row is None:
                    alert["evidence_pcap"] = None
        if known:  # what naming and making a file needs of each alert's row: one look-up
            at = np.array([rows[k] for k in known], dtype=np.int64)
            ours = [alerts[k] for k in known]
            keys = ctx.flow_keys[at].tolist()
            facts = zip(ours, at.tolist(), keys, t.batch.linktype[at].tolist(),
                        t.caplen[at].tolist(), self._names(t, at, keys, ours))
        else:
            facts = ()
        opened = self.open
        for alert, row, key, linktype, caplen, name in facts:
            state = opened.get(key) if key else None
            if state is not None:
                opened.move_to_end(key)
                state.blank = state.blank or _left_out(alert, self.mask)
            else:
                state = self._create(row, alert, name, linktype, caplen)
                if state is None:
                    alert["evidence_pcap"] = None
                    continue
                made.append(state)
                if key:
                    opened[key] = state
                    self._open_key[state.path] = key
                else:
                    single.append(state)
            alert["evidence_pcap"] = state.path
        for state in single:  # no flow: no credentials detector alerts it (they follow
            buf, ends = self._records(t, np.array([state.row]), np.zeros(1, dtype=bool))  # TCP flows)
            self._write(state, memoryview(buf), ends, 0, 1)
            self._release(state.path)
        if made and len(made) > len(single):
            self._keys = None
        if opened:
            self._collect(ctx)
        # a file made for an alert whose packets did not go in (no room) holds its header
        # all the same: a file an alert names is never left empty
        for state in made:
            if state.head:
                self._head(state, alerts)
        # past the bound, the least recently alerted flows stop collecting (after this
        # batch's packets went in: a file an alert names is never left empty)
        if len(opened) > self.max_open:
            while len(opened) > self.max_open:
                self._release(self._stop(next(iter(opened))).path)
                self.abandoned += 1

    def _stop(self, key: int) -> _Open | None:
        """The flow `key` collects no more (its file stays): its state, if it had one."""
        state = self.open.pop(key, None)
        if state is not None:
            del self._open_key[state.path]
            self._keys = None
        return state

    def _sorted_keys(self) -> np.ndarray:
        """The keys of `open`, sorted: made again only after `open` lost or gained one."""
        if self._keys is None:
            keys = np.fromiter(self.open.keys(), dtype=np.uint64, count=len(self.open))
            self._keys = np.sort(keys)
        return self._keys

    @classmethod
    def _rows(cls, t, alerts: list[dict]) -> list[int | None]:
        """`_row` of each alert's first frame: one look-up for them all."""
        frames = [alert.get("first_frame") for alert in alerts]
        if not frames or t.n == 0 or not all(type(f) is int for f in frames):
            return [cls._row(t, f) for f in frames]
        try:
            want = np.array(frames, dtype=np.int64)
        except OverflowError:
            return [cls._row(t, f) for f in frames]
        rows = np.minimum(np.searchsorted(t.frame, want), t.n - 1)
        hit = t.frame[rows] == want
        return [row if ok else cls._row(t, f)
                for row, ok, f in zip(rows.tolist(), hit.tolist(), frames)]

    @staticmethod
    def _row(t, frame) -> int | None:
        if frame is None or t.n == 0:
            return None
        row = int(np.searchsorted(t.frame, frame))
        if row < t.n and t.frame[row] == frame:
            return row
        rows = np.flatnonzero(t.frame == frame)
        return int(rows[0]) if rows.size else None

    def _collect(self, ctx) -> None:
        """This batch's packets of the flows collecting: one vectorized membership test and
        selection (per flow its first `remaining` rows, of the file's link type), every
        record built at once, then one write per flow."""
        # the batch's flows that are collecting: their keys looked up among the batch's
        # (the flow table's grouping of its rows, both sorted by key)
        g = ctx.groups
        if not len(g):
            return
        keys = self._sorted_keys()
        pos = np.minimum(np.searchsorted(g.key, keys), len(g) - 1)
        hit = g.key[pos] == keys
        if not hit.any():
            return
        flows, pos = keys[hit], pos[hit]
        order = np.argsort(g.first[pos])            # flows in order of appearance
        flows, pos = flows[order], pos[order]
        states = [self.open.get(key) for key in flows.tolist()]
        remaining = np.fromiter(map(_REMAINING, states), dtype=np.int64, count=len(states))
        linktype = np.fromiter(map(_LINKTYPE, states), dtype=np.int64, count=len(states))
        blank = np.fromiter(map(_BLANK, states), dtype=bool, count=len(states))
        # each flow's first `remaining` rows (in capture order: g.order lists a group's so),
        # of the file's link type
        begin = g.start[pos]
        take = np.clip(np.append(g.start, len(g.order))[pos + 1] - begin, 0, remaining)
        group = np.repeat(np.arange(len(flows)), take)                # of each row
        rows = g.order[np.arange(len(group)) + np.repeat(begin - (np.cumsum(take) - take), take)]
        keep = ctx.t.batch.linktype[rows].astype(np.int64) == linktype[group]
        rows, group = rows[keep], group[keep]
        mine = np.bincount(group, minlength=len(flows))             # rows of each flow
        buf, ends = self._records(ctx.t, rows, blank[group])
        first = np.concatenate([[0], np.cumsum(mine)]).tolist()
        view, opened, done, write = memoryview(buf), self.open, [], self._write
        for key, state, lo, hi in zip(flows.tolist(), states, first, first[1:]):
            if opened.get(key) is not state:  # its file was removed to make room a
                continue                          # moment ago
            written = write(state, view, ends, lo, hi)
            state.remaining -= written
            if state.remaining <= 0 or written < hi - lo:
                done.append(key)
        for key in done:
            state = self._stop(key)
            if state is not None:
                self._release(state.path)

    def _records(self, t, rows: np.ndarray, blank: np.ndarray) -> tuple[bytes | np.ndarray, list[int]]:
        """The pcap records of `rows` (whole frames, masked), one after another, and where
        each ends. `blank[i]`: row i's payload bytes are replaced by `*` whatever the mask
        setting (credentials never leave the sensor)."""
        if not rows.size:
            return b"", [0]
        batch = t.batch
        off = batch.offset[rows].astype(np.int64)
        length = np.clip(np.minimum(batch.caplen[rows].astype(np.int64), len(batch.data) - off), 0, None)
        p0 = t.payload_off[rows].astype(np.int64) - off
        plen = t.payload_len[rows].astype(np.int64)
        has = (plen > 0) & (p0 >= 0) & (p0 < length)
        wiped = blank & has
        if self.mask and self.plain:  # the reference path: every frame through the maskers
            view = memoryview(batch.data)
            frames = [bytes(view[o: o + n]) for o, n in zip(off.tolist(), length.tolist())]
            for i in np.flatnonzero(wiped).tolist():
                frame, a = frames[i], int(p0[i])
                frames[i] = frame[:a] + b"*" * min(int(plen[i]), len(frame) - a) + frame[a + int(plen[i]):]
            for i in np.flatnonzero(~wiped).tolist():
                frames[i] = self._masked(frames[i], int(p0[i]), int(plen[i]))
            return self._join(batch, rows, frames)
        buf, ends = self._gather(batch, rows, off, length)
        start = np.asarray(ends[1:], dtype=np.int64) - length
        if wiped.any():  # in place: the length stays
            buf = memoryview(buf)
            for i in np.flatnonzero(wiped).tolist():
                a = int(start[i] + p0[i])
                n = min(int(plen[i]), int(length[i] - p0[i]))
                buf[a: a + n] = b"*" * n
        if self.mask:
            # the frames the maskers could change, found in the records themselves, and
            # masked in place (they keep their length: the maskers' contract)
            change = _suspects(np.frombuffer(buf, dtype=np.uint8), start, length, p0, plen) & ~wiped
            masked = {}
            for i in np.flatnonzero(change).tolist():
                frame = bytes(buf[start[i]: start[i] + length[i]])
                new = self._masked(frame, int(p0[i]), int(plen[i]))
                if new != frame:
                    masked[i] = new
            if masked:
                if all(len(new) == length[i] for i, new in masked.items()):
                    buf = memoryview(buf)
                    for i, new in masked.items():
                        buf[start[i]: start[i] + len(new)] = new
                else:  # not the same length after all: the records anew
                    frames = [masked[i] if i in masked else bytes(buf[s: s + n])
                              for i, (s, n) in enumerate(zip(start.tolist(), length.tolist()))]
                    buf, ends = self._join(batch, rows, frames)
        return buf, ends

    @staticmethod
    def _heads(batch, rows: np.ndarray, length: np.ndarray) -> np.ndarray:
        """The record header of each row (its frame `length` bytes long): (n, 16) bytes."""
        sec, nsec = _pcap_times(batch.ts_ns[rows])
        head = np.empty((len(rows), 4), dtype="<u4")
        head[:, 0], head[:, 1], head[:, 2] = sec, nsec, length
        head[:, 3] = np.minimum(np.maximum(batch.wirelen[rows].astype(np.int64), length), 0xFFFFFFFF)
        return head.view(np.uint8)

    @classmethod
    def _gather(cls, batch, rows: np.ndarray, off: np.ndarray, length: np.ndarray,
                data: np.ndarray | None = None) -> tuple[np.ndarray, list[int]]:
        """The records of `rows`, frame i being data[off[i]: off[i] + length[i]] (data: the
        batch's buffer where not given), one after another; where each ends."""
        ends = np.cumsum(length + RECORD.size)
        out = np.empty(int(ends[-1]) if len(rows) else 0, dtype=np.uint8)
        records(batch.data if data is None else data, off, length,
                cls._heads(batch, rows, length), out)
        return out, [0] + ends.tolist()

    @classmethod
    def _join(cls, batch, rows: np.ndarray, frames: list[bytes]) -> tuple[np.ndarray, list[int]]:
        """The records of `rows` whose frames are `frames` (masked: not the batch's bytes)."""
        length = np.array([len(f) for f in frames], dtype=np.int64)
        data = np.frombuffer(b"".join(frames), dtype=np.uint8)
        return cls._gather(batch, rows, np.cumsum(length) - length, length, data)

    def _masked(self, frame: bytes, p0: int, plen: int) -> bytes:
        # every identifier holds a run of 11 digits: a frame without one is left alone
        # (one scan in C, where mask_payload would visit every short digit run in Python)
        masked = mask_payload(frame) if long_digit_run(frame) or wide_digit_run(frame) else frame
        if plen > 0 and 0 <= p0 < len(frame):
            p1 = min(p0 + plen, len(frame))
            seg = masked[p0:p1]
            if long_digit_run(seg) or seg[:1] in _EDGE or seg[-1:] in _EDGE \
                    or base64_digits_at_edges(seg):
                masked = masked[:p0] + mask_payload(seg, edges=True) + masked[p1:]
            else:  # no identifier; a password in clear is masked all the same
                masked = masked[:p0] + mask_credentials(seg) + masked[p1:]
        return masked

    # --- files ------------------------------------------------------------------------

    def _names(self, t, rows: np.ndarray, keys: list[int], alerts: list[dict]) -> list[str]:
        """The name of the file each alert's flow would get (`keys`; 0: its row's frame
        alone): its row's time, the alert's detector, the flow. At once for a batch's
        alerts: the time columns in numpy, a second's text once per distinct second."""
        sec, nsec = _pcap_times(t.ts_ns[rows])
        seconds, which = np.unique(sec, return_inverse=True)
        stamps = [time.strftime("%Y%m%dT%H%M%S", time.gmtime(s)) for s in seconds.tolist()]
        detector = self._detector
        return [f"{stamps[w]}.{us:06d}Z_{detector(alert.get('detector', 'alert'))}_"
                + (f"{key:016x}" if key else f"frame{frame}")
                for w, us, key, frame, alert in zip(which.tolist(), (nsec // 1000).tolist(),
                                                    keys, t.frame[rows].tolist(), alerts)]

    def _detector(self, raw) -> str:
        """An alert's detector as names write it."""
        detector = self._detectors.get(raw) if isinstance(raw, str) else None
        if detector is None:
            detector = re.sub(r"[^a-z_]", "_", str(raw).lower()) or "alert"
            if isinstance(raw, str) and len(self._detectors) < 256:
                self._detectors[raw] = detector
        return detector

    def _create(self, row: int, alert: dict, name: str, linktype: int,
                caplen: int) -> _Open | None:
        """A new file `name` for the alert's flow (or its row's frame alone), its state. The
        file is made empty: its header goes out with its first records (`_write`), or alone
        after the batch (`_head`), but counts from now on."""
        if self.total + HEADER.size + RECORD.size + caplen > self.max_bytes \
                and not self._room(HEADER.size + RECORD.size + caplen):
            return None
        base = self._prefix + name
        for n in range(1, 1000):
            path = f"{base}.pcap" if n == 1 else f"{base}-{n}.pcap"
            if path in self.sizes:  # ours: there already
                continue
            try:
                fd = self._open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC)
            except FileExistsError:
                continue
            except OSError:
                self.write_errors += 1
                return None
            self._keep(path, fd)
            self.files += 1
            self.sizes[path] = HEADER.size
            self.total += HEADER.size
            return _Open(path, linktype, self.packets_per_flow, _left_out(alert, self.mask),
                         _header(linktype), row)
        self.write_errors += 1
        return None

    def _head(self, state: _Open, alerts: list[dict]) -> None:
        """The header of a file made this batch that no records went into; where even that
        cannot be written, the file is removed and the alerts name none."""
        head, state.head, path = state.head, b"", state.path
        if path not in self.sizes:  # removed to make room
            return
        kept = path in self._fds
        try:
            fd = self._fds[path] if kept else self._fd(path)
            try:
                write_all(fd, head)
            finally:
                if not kept:  # reopened for this: the flow collects no more
                    self._let_go(path, fd)
            return
        except OSError:
            self.write_errors += 1
        self._unlink(path)
        for alert in alerts:
            if alert.get("evidence_pcap") == state.path:
                alert["evidence_pcap"] = None

    def _write(self, state: _Open, view: memoryview, ends: list[int], lo: int, hi: int) -> int:
        """Append records lo..hi-1 of `view` (record i is view[ends[i]: ends[i + 1]]) to
        the file of `state` (after its header, where that is still to go out); how many
        went in."""
        path = state.path
        before = self.sizes.get(path)
        if before is None or hi <= lo:  # removed to make room; nothing to write
            return 0
        start, end = ends[lo], ends[hi]
        size = end - start
        total = self.total + size
        if total <= self.max_bytes:  # all fit: nothing to remove
            self.total = total  # reserved now; given back if the write fails
        else:
            hi = self._fit(path, ends, lo, hi)
            if hi == lo:
                return 0
            end = ends[hi]
            size = end - start
        fds = self._fds
        fd = fds.get(path)
        if fd is not None:
            fds.move_to_end(path)
        else:
            try:
                fd = self._fd(path)
            except OSError:
                self.write_errors += 1
                self.total -= size
                return 0
        head = state.head
        data = view[start: end]
        try:
            if head:  # a new file: its header and first records in one write
                n = os.writev(fd, (head, data)) - len(head)
                state.head = b""
            else:
                n = os.write(fd, data)
            if n != size:
                _write_rest(fd, data, n)
        except OSError:
            self.write_errors += 1
            self.total -= size
            state.head = head
            try:  # no half record stays behind (nor a header: `_head` writes it alone)
                os.ftruncate(fd, before - len(head))
            except OSError:
                pass
            self._let_go(path, fd)
            return 0
        if fds.get(path) != fd:  # opened for this write alone (`_fd`)
            os.close(fd)
        self.sizes[path] = before + size
        self.packets += hi - lo
        return hi - lo

    def _fit(self, path: str, ends: list[int], lo: int, hi: int) -> int:
        """Room for records lo..hi-1 of `path`, one by one, the oldest other files removed
        to make it: those that fit are reserved, the others refused; the new hi."""
        for i in range(lo, hi):
            if not self._room(ends[i + 1] - ends[i], keep=path):
                self.refused += hi - i
                return i
            self.total += ends[i + 1] - ends[i]
        return hi

    # --- open files: kept between batches while their flow collects ---------------------

    def _fd(self, path: str) -> int:
        """A descriptor that appends to `path`, opened now (not among those kept): kept if
        fewer than max_fds are, else the caller's to close. A kept one is not closed for it:
        the flows are written in the same order each batch, so whichever went would be
        opened again in its turn (past max_fds every write of a batch would reopen)."""
        fd = self._open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW)
        if len(self._fds) < self.max_fds:
            self._fds[path] = fd
        return fd

    def _open(self, path: str, flags: int) -> int:
        try:
            return os.open(path, flags, 0o640)
        except OSError as exc:
            if exc.errno not in (errno.EMFILE, errno.ENFILE) or not self._fds:
                raise
            _close_all(self._fds)  # out of descriptors: give ours back, then once more
            return os.open(path, flags, 0o640)

    def _keep(self, path: str, fd: int) -> None:
        self._fds[path] = fd
        while len(self._fds) > self.max_fds:
            os.close(self._fds.popitem(last=False)[1])

    def _release(self, path: str) -> None:
        fd = self._fds.pop(path, None)
        if fd is not None:
            os.close(fd)

    def _let_go(self, path: str, fd: int) -> None:
        """Close `fd` of `path`, whether it was kept or opened for one write."""
        if self._fds.get(path) == fd:
            del self._fds[path]
        os.close(fd)

    def _room(self, need: int, keep: str | None = None) -> bool:
        """Whether `need` more bytes fit under max_bytes, removing the oldest files (never
        `keep`, the one being written) until they do."""
        while self.total + need > self.max_bytes:
            victim = next((p for p in self.sizes if p != keep), None)
            if victim is None:
                self.refused += 1 if keep is None else 0
                return False
            self._unlink(victim)
            self.removed += 1
        return True

    def _unlink(self, path: str) -> None:
        self.total -= self.sizes.pop(path, 0)
        self._release(path)
        key = self._open_key.get(path)
        if key is not None:   # a flow still collecting into it: no more
            self._stop(key)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError:
            self.write_errors += 1

    def close(self) -> None:
        self.open.clear()
        self._open_key.clear()
        self._keys = None
        _close_all(self._fds)

    # --- metrics ----------------------------------------------------------------------

    def metric_families(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        yield CounterMetricFamily("ybsensor_evidence_files", "Evidence pcaps made (one per "
                                  "alerted flow)", value=self.files)
        yield CounterMetricFamily("ybsensor_evidence_packets", "Packets written to evidence "
                                  "pcaps", value=self.packets)
        yield GaugeMetricFamily("ybsensor_evidence_bytes", "Bytes of evidence pcaps in the "
                                "evidence directory", value=self.total)
        yield CounterMetricFamily("ybsensor_evidence_files_removed", "Old evidence pcaps removed "
                                  "to stay under evidence.max_bytes", value=self.removed)
        yield CounterMetricFamily("ybsensor_evidence_refused", "Evidence packets (or files) not "
                                  "written for lack of room under evidence.max_bytes",
                                  value=self.refused)
        yield CounterMetricFamily("ybsensor_evidence_write_errors", "Evidence files or packets "
                                  "that could not be written (disk full, I/O error)",
                                  value=self.write_errors)
