"""Addresses as the sensor's outputs write them, from the PacketTable's two address columns
(uint64 high and low halves; IPv4 held IPv4-mapped, ::ffff:a.b.c.d, with a zero high half):
packed bytes, and the C library's inet_ntop text. One compiled writer serves a single
address (an alert's) and whole columns (the flow log's thousands at once).
"""
from __future__ import annotations

import threading

import numpy as np

from ybsensor.core.loops import jit

V4_MAPPED_HI = 0


def is_v4(hi, lo):
    """Whether the address columns' values (ints, or uint64 columns) hold IPv4 (are mapped)."""
    return (hi == V4_MAPPED_HI) & ((lo >> 32) == 0xFFFF)


def packed(hi: int, lo: int) -> bytes:
    """An address column pair as 4 bytes (IPv4-mapped) or 16."""
    if is_v4(hi, lo):
        return (lo & 0xFFFFFFFF).to_bytes(4, "big")
    return hi.to_bytes(8, "big") + lo.to_bytes(8, "big")


def packed_column(hi: np.ndarray, lo: np.ndarray) -> list[bytes]:
    """`packed` of each pair of two address columns (uint64), at once."""
    n = len(hi)
    both = np.empty((n, 2), dtype=">u8")  # big-endian: each row's 16 bytes as written
    both[:, 0], both[:, 1] = hi, lo
    raw = both.tobytes()
    v4 = is_v4(hi, lo).tolist()
    return [raw[i + 12:i + 16] if mapped else raw[i:i + 16]
            for i, mapped in zip(range(0, 16 * n, 16), v4)]


TEXT_WIDTH = 46         # "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" and one


@jit
def _decimal(out, p, v):
    if v >= 100:
        out[p] = 48 + v // 100
        p += 1
    if v >= 10:
        out[p] = 48 + v // 10 % 10
        p += 1
    out[p] = 48 + v % 10
    return p + 1


@jit
def _dotted(out, p, v):
    for k in range(4):
        if k:
            out[p] = 46
            p += 1
        p = _decimal(out, p, (v >> (24 - 8 * k)) & 0xFF)
    return p


@jit
def _word(hi, lo, k):
    return (hi >> (48 - 16 * k)) & 0xFFFF if k < 4 else (lo >> (112 - 16 * k)) & 0xFFFF


@jit
def _write_text(hi, lo, v4, out, p):
    """inet_ntop's text of an address (glibc's: RFC 5952's, and the IPv4-compatible and
    -mapped forms ::a.b.c.d, ::ffff:a.b.c.d) at out[p:]; the end."""
    if v4:
        return _dotted(out, p, lo & 0xFFFFFFFF)
    best, best_len, run, run_len = -1, 0, -1, 0     # the first longest run of zero words
    for k in range(9):
        if k < 8 and _word(hi, lo, k) == 0:
            if run < 0:
                run, run_len = k, 0
            run_len += 1
        elif run >= 0:
            if best < 0 or run_len > best_len:
                best, best_len = run, run_len
            run = -1
    if best_len < 2:
        best = -1
    for k in range(8):
        if best >= 0 and best <= k < best + best_len:
            if k == best:
                out[p] = 58
                p += 1
            continue
        if k:
            out[p] = 58
            p += 1
        if k == 6 and best == 0 and (best_len == 6 or (
                best_len == 5 and _word(hi, lo, 5) == 0xFFFF)):
            return _dotted(out, p, lo & 0xFFFFFFFF)
        word, started = _word(hi, lo, k), False
        for shift in range(12, -4, -4):
            digit = (word >> shift) & 15
            if digit or started or shift == 0:
                out[p] = 48 + digit if digit < 10 else 87 + digit
                p += 1
                started = True
    if best >= 0 and best + best_len == 8:
        out[p] = 58
        p += 1
    return p


@jit
def _write_texts(hi, lo, v4, out, off):
    """`_write_text` of each address one after another into out; off[i]: where address i
    starts (off[n]: the end)."""
    p = 0
    for i in range(hi.shape[0]):
        off[i] = p
        p = _write_text(hi[i], lo[i], v4[i], out, p)
    off[hi.shape[0]] = p


def address_texts(hi: np.ndarray, lo: np.ndarray, v4: np.ndarray | None = None):
    """The text of each address of two address columns (uint64), at once, as ASCII bytes
    and offsets (address i: data[off[i]: off[i + 1]]); `v4`: which are IPv4 (by default the
    IPv4-mapped ones, as `packed` says)."""
    hi, lo = np.ascontiguousarray(hi, np.uint64), np.ascontiguousarray(lo, np.uint64)
    if v4 is None:
        v4 = is_v4(hi, lo)
    data = np.empty(len(hi) * TEXT_WIDTH, dtype=np.uint8)
    off = np.empty(len(hi) + 1, dtype=np.int64)
    _write_texts(hi, lo, np.ascontiguousarray(v4, np.bool_), data, off)
    return data[:off[-1]], off


def strings(data: np.ndarray, off: np.ndarray) -> list[str]:
    """`address_texts`' output as a list of str."""
    joined = data.tobytes().decode("ascii")
    return [joined[a:b] for a, b in zip(off[:-1].tolist(), off[1:].tolist())]


def texts(raws: list[bytes]) -> list[str]:
    """The text of each packed address (4 or 16 bytes)."""
    both = np.frombuffer(b"".join(raw if len(raw) == 16 else bytes(12) + raw for raw in raws),
                         dtype=">u8").reshape(-1, 2)
    return strings(*address_texts(both[:, 0], both[:, 1], np.fromiter(
        (len(raw) == 4 for raw in raws), dtype=np.bool_, count=len(raws))))


_ONE = threading.local()     # `address`'s buffer, one per thread


def address(hi: int, lo: int, v4: bool | None = None) -> str:
    """The text of one address given as its two column values; `v4` as `address_texts`."""
    out = getattr(_ONE, "out", None)
    if out is None:
        out = _ONE.out = np.empty(TEXT_WIDTH, dtype=np.uint8)
    hi, lo = int(hi), int(lo)
    if v4 is None:
        v4 = is_v4(hi, lo)
    return out[:_write_text(np.uint64(hi), np.uint64(lo), v4, out, 0)].tobytes().decode("ascii")


def text(raw: bytes) -> str:
    """The text of one packed address (4 or 16 bytes)."""
    if len(raw) == 4:
        return address(V4_MAPPED_HI, int.from_bytes(raw, "big"), True)
    return address(int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:], "big"), False)
