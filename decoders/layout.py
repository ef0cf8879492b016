"""Header layouts declared once, read for many rows at once through one gather helper.

A `Layout` names a header's fixed fields (byte offset, width, optional bit mask and shift),
in the manner of dpkt's `__hdr__`. `Layout.read(buf, pos, *names)` gathers the header's
fixed block for every row with one fancy index and cuts the named fields out of it as
columns. Fields are big-endian unless the layout says otherwise. Widths of 16 bytes are
addresses and come back as two uint64 columns (high, low).

The compiled decode loop reads the same declarations one row at a time: `Layout.compiled`
holds each field as (offset, width, mask or -1, shift) and `uint(buf, p, field)` reads it;
functions marked `@compiled` (these readers, the protocols' fused steps and what they share)
are plain Python that kernel.py hands to numba, so that no protocol module imports numba.
"""
from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass

import numpy as np

COMPILED: list = []


def compiled(fn):
    """Mark a function the compiled decode loop calls (kernel.py compiles it inline there)."""
    COMPILED.append(fn)
    return fn


@dataclass(frozen=True)
class Field:
    offset: int
    width: int = 1            # bytes: 1, 2, 3, 4, 8 or 16
    mask: int | None = None   # applied after shifting
    shift: int = 0


class Layout:
    def __init__(self, name: str, min_len: int, fields: dict[str, Field], little: bool = False):
        self.name = name
        self.min_len = min_len
        self.fields = fields
        self.little = little
        self.span = max(f.offset + f.width for f in fields.values()) if fields else 0
        # for the compiled loop (a namedtuple numba takes as a constant): big-endian fields
        self.compiled = namedtuple(f"{name.replace('-', '_')}_fields", [*fields, "min_len"])(
            *((f.offset, f.width, -1 if f.mask is None else f.mask, f.shift)
              for f in fields.values()), min_len)

    def block(self, buf: np.ndarray, pos: np.ndarray, span: int | None = None) -> np.ndarray:
        """The (rows, span) bytes starting at each position."""
        return gather_block(buf, pos, span or self.span)

    def read(self, buf: np.ndarray, pos: np.ndarray, *names: str):
        """Columns for the named fields; one gather of just the bytes they span."""
        fields = [self.fields[name] for name in names]
        lo = min(f.offset for f in fields)
        hi = max(f.offset + f.width for f in fields)
        blk = gather_block(buf, pos + lo if lo else pos, hi - lo)
        cols = tuple(self.cut(blk, name, lo) for name in names)
        return cols[0] if len(cols) == 1 else cols

    def pack(self, length: int, **values) -> bytearray:
        """A header of `length` bytes with the named fields set (the others zero): for the
        few headers the sensor builds itself. A 16-byte field takes a (high, low) pair."""
        out = bytearray(length)
        for name, value in values.items():
            f = self.fields[name]
            if f.width == 16:
                raw = int(value[0]).to_bytes(8, "big") + int(value[1]).to_bytes(8, "big")
            else:
                v = int(value) & f.mask if f.mask is not None else int(value)
                raw = (v << f.shift).to_bytes(f.width, "little" if self.little else "big")
            for i, b in enumerate(raw):
                out[f.offset + i] |= b
        return out

    def put(self, blk: np.ndarray, name: str, values) -> None:
        """Write a whole-byte field into headers laid out as rows of `blk` (bytes, one row a
        header): a column of values, or a (high, low) pair of columns for 16 bytes."""
        f = self.fields[name]
        assert f.mask is None and f.shift == 0 and f.width in (1, 2, 4, 8, 16), name
        order = "<" if self.little else ">"
        if f.width == 16:
            pair = np.stack([np.asarray(v, np.uint64) for v in values], axis=1).astype(">u8")
            blk[:, f.offset: f.offset + 16] = pair.view(np.uint8).reshape(-1, 16)
            return
        col = np.asarray(values, np.uint64).astype(f"{order}u{f.width}") if f.width > 1 \
            else np.asarray(values, np.uint8)
        blk[:, f.offset: f.offset + f.width] = col.view(np.uint8).reshape(-1, f.width)

    def cut(self, blk: np.ndarray, name: str, base: int = 0) -> np.ndarray:
        """A field out of a block gathered from `base` bytes into the header."""
        f = self.fields[name]
        raw = blk[:, f.offset - base: f.offset - base + f.width]
        if f.width == 16:
            return _addr(raw)
        value = _uint(raw, self.little)
        if f.shift:
            value = value >> f.shift
        if f.mask is not None:
            value = value & f.mask
        return value


def gather_block(buf: np.ndarray, pos: np.ndarray, span: int) -> np.ndarray:
    """The bytes buf[p:p+span] for every p in pos, as a (len(pos), span) array.

    The buffer is seen as one `span`-byte record starting at every byte; taking records by
    a 1-D index copies each with one fixed-size move, about twice as fast as indexing a 2-D
    sliding window."""
    records = np.ndarray(shape=(len(buf) - span + 1,), dtype=f"V{span}", buffer=buf, strides=(1,))
    return records[np.minimum(pos, len(records) - 1)].view(np.uint8).reshape(len(pos), span)


def read_uint(buf: np.ndarray, pos: np.ndarray, width: int, little: bool = False) -> np.ndarray:
    """One unsigned integer of `width` bytes at each position (for fields at variable offsets)."""
    return _uint(gather_block(buf, pos, width), little)


def _uint(raw: np.ndarray, little: bool) -> np.ndarray:
    width = raw.shape[1]
    if width == 1:
        return raw[:, 0].astype(np.int64)
    if width in (2, 4, 8):
        # the field's bytes are contiguous within each row: view them as one integer
        dtype = ("<" if little else ">") + {2: "u2", 4: "u4", 8: "u8"}[width]
        if raw.strides[1] != 1:
            raw = np.ascontiguousarray(raw)
        return raw.view(dtype)[:, 0].astype(np.uint64 if width == 8 else np.int64)
    value = np.zeros(len(raw), dtype=np.int64)
    cols = range(width - 1, -1, -1) if little else range(width)
    for i in cols:
        value = (value << 8) | raw[:, i]
    return value


def _addr(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if raw.strides[1] != 1:
        raw = np.ascontiguousarray(raw)
    pair = raw.view(">u8")
    return pair[:, 0].astype(np.uint64), pair[:, 1].astype(np.uint64)


class Parts:
    """A header whose parts are present where their flag bits are (dpkt's (flag, name,
    format) table of GRE's optional words): (mask, name, bytes) in wire order, mask 0 for
    a part always there. Where a part starts and the header's length follow from the flags:
    `offset` for a column of flags (or one), `table` the same data for the compiled loop's
    `part_at` and `part`."""

    def __init__(self, *parts: tuple[int, str, int]):
        self.parts = parts
        self.index = {name: i for i, (_, name, _) in enumerate(parts)}
        self.table = tuple((mask, width) for mask, _, width in parts)

    def offset(self, flags, name: str | None = None):
        """Bytes before part `name` (None: the whole header's length) for these flags."""
        upto = len(self.parts) if name is None else self.index[name]
        off = 0
        for mask, _, width in self.parts[:upto]:
            off = off + (width if mask == 0 else width * ((flags & mask) != 0))
        return off


IPV4_MAPPED = np.uint64(0xFFFF_0000_0000)


def v4_to_pair(v4: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IPv4 addresses as IPv4-mapped IPv6 (::ffff:a.b.c.d) high/low pairs."""
    hi = np.zeros(len(v4), dtype=np.uint64)
    lo = IPV4_MAPPED | v4.astype(np.uint64)
    return hi, lo


# The compiled loop's readers, for one row at a time.

@compiled
def uint(buf, p, field):
    """A field (Layout.compiled) of the header at p: big-endian, shifted and masked."""
    offset, w, mask, shift = field
    off = np.uint64(p + offset)          # unsigned: no negative-index wraparound to test
    if w == 1:
        v = np.int64(buf[off])
    elif w == 2:
        v = (np.int64(buf[off]) << 8) | np.int64(buf[off + np.uint64(1)])
    else:
        v = 0
        for j in range(w):
            v = (v << 8) | np.int64(buf[off + np.uint64(j)])
    if shift:
        v >>= shift
    if mask >= 0:
        v &= mask
    return v


@compiled
def u64(buf, at):
    """The 8 bytes at `at`, big-endian (half of an IPv6 address)."""
    v = np.uint64(0)
    a = np.uint64(at)
    for j in range(8):
        v = (v << np.uint64(8)) | np.uint64(buf[a + np.uint64(j)])
    return v


@compiled
def part_at(flags, parts, upto):
    """Bytes before part `upto` of a header whose parts (Parts.table) are there where `flags`
    has their bits (upto len(parts): the header's length)."""
    off = 0
    for j in range(upto):
        mask, width = parts[j]
        if mask == 0 or (flags & mask) != 0:
            off += width
    return off


@compiled
def part(buf, p, flags, parts, j):
    """The value of part j (big-endian) of the header at p."""
    at = np.uint64(p + part_at(flags, parts, j))
    v = 0
    for i in range(parts[j][1]):
        v = (v << 8) | np.int64(buf[at + np.uint64(i)])
    return v
