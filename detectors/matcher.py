"""Many literals at once over a whole batch, and runs of digits, without a call per packet.

Two pre-filters that the payload detectors (`plaintext_pii`, `cleartext_credentials`) run
once per batch over the batch's plaintext payloads (`scan_pieces`: copied one after another
into a scratch buffer, a chunk at a time, so that headers and encrypted payloads are never
read and each chunk is scanned twice while it is in the cache); only the few payloads they
select are then parsed in Python.

`LiteralMatcher` finds every occurrence of every literal (ASCII letters compared without
case; other bytes exactly — so GBK and UTF-8 labels are matched byte for byte). Two
backends give the same answer, a sorted array of (start, literal id) pairs, overlaps
included:

- **Hyperscan** (`pip install ybsensor[fast]`, the `hyperscan` package), where it is
  installed: one pass over the buffer at gigabytes a second for the whole set. It is an
  optional extra because it is a compiled wheel (x86-64 Linux/macOS) that a sensor on
  another platform may lack; nothing else needs it.
- **numpy** (always there): every literal is anchored on its first two bytes; one table
  look-up per byte pair (the buffer read as 16-bit words, even and odd offsets) finds the
  positions where some literal could start, and a vectorized compare per literal confirms
  them. About a tenth of Hyperscan's speed on random bytes; slower on text that is full
  of the anchors' byte pairs, never per packet.

`number_run_hits` finds runs of at least `MIN_RUN` ASCII digits by sampling every
`MIN_RUN`-th byte (a run that long always covers one sample) and measuring the run
around each sampled digit; a group separator (GROUP_SEPARATORS) between groups of three
digits or more is part of a run (`138 0013 8000`: a number written to be read), its digits
counted. In the same
pass it finds base64 that encodes such a run (chains of quads each of three digits).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ybsensor.decoders.layout import gather_block

from . import compiled

MIN_RUN = 11          # the shortest identifier (a mobile number) is 11 digits
B64_DIGIT_QUADS = 3   # base64 quads of three digits each that a run of MIN_RUN digits holds,
                      # whatever its alignment (number_run_hits)
CHUNK = 352 << 10      # bytes of plaintext copied and scanned at once by `scan_pieces` (in the
                       # core's cache; the fastest of 32 KiB to 4 MiB on the 300 k mix)
_LOWER = np.arange(256, dtype=np.uint8)
_LOWER[65:91] += 32    # A-Z -> a-z; every other byte unchanged

try:  # the optional fast path
    import hyperscan as _hs
except ImportError:  # pragma: no cover - depends on the installation
    _hs = None


def hyperscan_available() -> bool:
    return _hs is not None


def _as_array(buf) -> np.ndarray:
    if isinstance(buf, np.ndarray):
        return buf if buf.dtype == np.uint8 else buf.view(np.uint8)
    return np.frombuffer(buf, dtype=np.uint8)


class LiteralMatcher:
    """Every occurrence of each of `literals` in a buffer, ASCII letters without case."""

    def __init__(self, literals: list[bytes], backend: str | None = None):
        if not literals:
            raise ValueError("no literals")
        for lit in literals:
            if len(lit) < 2:
                raise ValueError(f"a literal needs two bytes at least: {lit!r}")
        self.literals = [bytes(_LOWER[np.frombuffer(lit, np.uint8)]) for lit in literals]
        self.lengths = np.array([len(lit) for lit in self.literals], dtype=np.int64)
        backend = backend or os.environ.get("YBSENSOR_MATCHER", "auto")
        if backend == "auto":
            backend = "hyperscan" if _hs is not None else "numpy"
        if backend == "hyperscan" and _hs is None:
            raise RuntimeError("the hyperscan package is not installed (pip install ybsensor[fast])")
        if backend not in ("hyperscan", "numpy"):
            raise ValueError(f"unknown matcher backend {backend!r}")
        self.backend = backend
        if backend == "hyperscan":
            n = len(self.literals)
            exprs = [_hs_escape(lit) for lit in self.literals]
            flags = [_hs.HS_FLAG_CASELESS | _hs.HS_FLAG_SOM_LEFTMOST] * n
            self._db = _hs.Database()
            self._db.compile(expressions=exprs, ids=list(range(len(exprs))),
                             elements=len(exprs), flags=flags)
            self._scratch = _hs.Scratch(self._db)
        else:
            # anchors: every case variant of each literal's first two bytes -> literal ids
            self._anchor = np.zeros(1 << 16, dtype=bool)
            for lit in self.literals:
                for a in _case_variants(lit[0]):
                    for b in _case_variants(lit[1]):
                        self._anchor[a | (b << 8)] = True   # the little-endian word of the pair
            self._first2 = np.array([lit[0] | (lit[1] << 8) for lit in self.literals])
            self._arrays = [np.frombuffer(lit, np.uint8) for lit in self.literals]

    def scan(self, buf, lo: int = 0, hi: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(starts, ids) of every literal match lying wholly in buf[lo:hi], sorted by start
        then id."""
        data = _as_array(buf)
        hi = len(data) if hi is None else min(hi, len(data))
        empty = np.zeros(0, np.int64)
        if hi - lo < 2:
            return empty, empty
        if self.backend == "numpy":
            return self._scan_numpy(data, lo, hi)
        found: list[tuple[int, int]] = []

        def on_match(ident, start, end, flags, context):
            found.append((start + lo, ident))
            return None

        self._db.scan(memoryview(data[lo:hi]), match_event_handler=on_match,
                      scratch=self._scratch)
        if not found:
            return empty, empty
        lits = np.array(found, dtype=np.int64)
        order = np.lexsort((lits[:, 1], lits[:, 0]))
        return lits[order, 0], lits[order, 1]

    def _scan_numpy(self, data: np.ndarray, lo: int, hi: int):
        seg = data[lo:hi]
        n = len(seg)
        cands = []
        for parity in (0, 1):
            m = (n - parity) // 2
            if m <= 0:
                continue
            words = seg[parity: parity + 2 * m].view("<u2")
            hit = np.flatnonzero(self._anchor[words])
            if hit.size:
                cands.append(hit * 2 + parity)
        if not cands:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        pos = np.concatenate(cands)
        word = _LOWER[seg[pos]].astype(np.int64) | (_LOWER[seg[np.minimum(pos + 1, n - 1)]].astype(np.int64) << 8)
        starts, ids = [], []
        for k, lit in enumerate(self._arrays):
            at = pos[word == self._first2[k]]
            at = at[at + len(lit) <= n]
            if not at.size:
                continue
            blk = _LOWER[gather_block(seg, at, len(lit))]
            ok = (blk == lit).all(axis=1)
            if ok.any():
                starts.append(at[ok] + lo)
                ids.append(np.full(int(ok.sum()), k, dtype=np.int64))
        if not starts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        starts, ids = np.concatenate(starts).astype(np.int64), np.concatenate(ids)
        order = np.lexsort((ids, starts))
        return starts[order], ids[order]


@dataclass
class PieceHits:
    """What `scan_pieces` found: each literal match wholly inside one piece (its piece,
    literal id and start in the buffer), sorted by start then id; and the pieces that a
    run of digits touches (ascending)."""
    piece: np.ndarray
    literal: np.ndarray
    start: np.ndarray
    digit_pieces: np.ndarray


def scan_pieces(data: np.ndarray, off: np.ndarray, length: np.ndarray,
                matcher: LiteralMatcher | None, min_run: int = MIN_RUN) -> PieceHits:
    """The literals of `matcher` (if any) and runs of `min_run` digits in the pieces
    data[off[i]: off[i] + length[i]] (disjoint; the plaintext payloads of a batch) and
    nowhere else: the pieces are copied one after another into a scratch buffer, a chunk
    of about CHUNK bytes at a time, and each chunk is scanned while it is in the cache.
    The bytes in between (headers, encrypted payloads) are never read. A run that spans two
    pieces of the copy touches both (a superset: the detectors parse what is touched)."""
    data = _as_array(data)
    off = np.asarray(off, dtype=np.int64)
    length = np.asarray(length, dtype=np.int64)
    empty = np.zeros(0, np.int64)
    if not len(off) or not length.any():
        return PieceHits(empty, empty, empty, empty)
    ends = np.cumsum(length)                # piece i lies at [starts[i], ends[i]) of the copy
    starts = ends - length
    total = int(ends[-1])
    # chunks of whole pieces, each from the first piece that starts at or past a multiple
    # of CHUNK (a piece longer than that is a chunk of its own)
    cut = np.unique(np.append(np.searchsorted(starts, np.arange(0, total, CHUNK)), len(off)))
    scratch = np.empty(CHUNK + int(length.max()) + 8, np.uint8)
    buffers = run_buffers(len(scratch), min_run)
    lit_at, lit_id, runs = [], [], []
    for a, b in zip(cut[:-1].tolist(), cut[1:].tolist()):
        base = int(starts[a])
        m = _gather(data, off, length, a, b, scratch)
        if matcher is not None:
            s, ids = matcher.scan(scratch, 0, m)
            if s.size:
                lit_at.append(s + base)
                lit_id.append(ids)
        rs, re_, _ = number_run_hits(scratch, 0, m, min_run, buffers)
        if rs.size:
            runs += [rs + base, re_ - 1 + base]
    piece, literal, start = empty, empty, empty
    if lit_at:
        at, literal = np.concatenate(lit_at), np.concatenate(lit_id)
        piece = np.searchsorted(starts, at, side="right") - 1
        inside = at + matcher.lengths[literal] <= ends[piece]
        piece, literal, at = piece[inside], literal[inside], at[inside]
        start = off[piece] + (at - starts[piece])
        order = np.lexsort((literal, start))
        piece, literal, start = piece[order], literal[order], start[order]
    digit_pieces = empty
    if runs:
        digit_pieces = np.unique(np.searchsorted(starts, np.concatenate(runs), side="right") - 1)
    return PieceHits(piece, literal, start, digit_pieces)


def gather(data: np.ndarray, off: np.ndarray, length: np.ndarray) -> np.ndarray:
    """The pieces [off, off + length) of `data`, one after another, in a new array."""
    out = np.empty(int(length.sum()), np.uint8)
    if len(off):
        _gather(data, off, length, 0, len(off), out)
    return out


def _gather(data, off, length, a, b, out) -> int:
    """Pieces a .. b-1 one after another into `out`; their bytes."""
    return compiled.call("gather_pieces", data, off, length, a, b, out)


def _hs_escape(lit: bytes) -> bytes:
    """A literal as a Hyperscan pattern: every byte as \\xHH."""
    return b"".join(b"\\x%02x" % c for c in lit)


def _case_variants(byte: int) -> set[int]:
    if 97 <= byte <= 122:
        return {byte, byte - 32}
    return {byte}


def number_run_hits(data: np.ndarray, lo: int = 0, hi: int | None = None,
                    min_run: int = MIN_RUN, out: tuple | None = None):
    """(start, end, kind) of the runs an identifier needs in data[lo:hi], found by sampling
    (payload_kernels.number_runs): kind 0, runs of at least `min_run` ASCII digits (a group
    separator between groups of three digits or more part of a run: `138 0013 8000`, its
    digits counted); kind 1, chains of B64_DIGIT_QUADS base64 quads or more, each of three
    digits (base64 text that carries a run of MIN_RUN digits). A run is reported once per
    sample in it, its ends cut to a window around the sample (callers only map the
    positions to payloads, then parse those). `out`: three int64 arrays to write into,
    `run_buffers(hi - lo)` long (the result then views them)."""
    data = _as_array(data)
    hi = len(data) if hi is None else min(hi, len(data))
    if hi - lo < min(min_run, 4 * B64_DIGIT_QUADS):
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    if out is None:
        out = run_buffers(hi - lo, min_run)
    n = compiled.call("number_runs", data, lo, hi, min_run, B64_DIGIT_QUADS, RUN_CLASSES, *out)
    return out[0][:n], out[1][:n], out[2][:n]


def run_buffers(size: int, min_run: int = MIN_RUN) -> tuple:
    """Output arrays for number_run_hits over `size` bytes: two windows a sample at most."""
    cap = 2 * ((size - 1) // min(min_run, 4 * B64_DIGIT_QUADS - 1) + 1)
    return np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.int64)


# base64 of three ASCII digits, character by character (0x30-0x39: the six bits of
# 0b0011xxxx... in turn take these)
B64_DIGIT_QUAD = (b"MNO", b"DTjz", b"AEIMQUYcgk", b"wxyz012345")
# what separates the groups of a number written to be read (`138 0013 8000`): a space, a
# dash, or a space as a form or a query string encodes it
GROUP_SEPARATORS = b" -+"
# base64's characters, and base64url's
BASE64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_"
# for each byte, bit j set where it may stand j-th in such a quad, bit 4 where it is a digit
# or a group separator, bit 5 where it is a group separator, bit 6 where it is one of
# BASE64_CHARS: the compiled loops' classes
RUN_CLASSES = np.zeros(256, dtype=np.uint8)
for _j, _chars in enumerate(B64_DIGIT_QUAD):
    RUN_CLASSES[list(_chars)] |= 1 << _j
RUN_CLASSES[list(b"0123456789" + GROUP_SEPARATORS)] |= 16
RUN_CLASSES[list(GROUP_SEPARATORS)] |= 32
RUN_CLASSES[list(BASE64_CHARS)] |= 64
