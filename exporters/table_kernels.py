"""The JSON-lines writer's byte loops (exporters/tables.py), compiled with numba: numbers
as the text `json.dumps` writes, and the lines joined from their fields' texts."""
from __future__ import annotations

from ybsensor.core.loops import copy_bytes, jit

INT_WIDTH = 20          # the longest int64: "-9223372036854775808"
MICROS_WIDTH = 24       # the longest int64 microseconds as seconds, a sign and a point


@jit
def _unsigned(out, p, value):
    """The decimal digits of value >= 0 at out[p:]; the end."""
    width = 1
    rest = value // 10
    while rest:
        width += 1
        rest //= 10
    for k in range(width - 1, -1, -1):
        out[p + k] = 48 + value % 10
        value //= 10
    return p + width


@jit
def int_texts(values, out, off):
    """Each value as `str` writes it, one after another into out; off[i]: where value i
    starts (off[n]: the end)."""
    p = 0
    for i in range(values.shape[0]):
        off[i] = p
        v = values[i]
        if v < 0:
            out[p] = 45
            p += 1
            if v == -v:                         # -2**63 has no int64 opposite
                p = _unsigned(out, p, 922337203685477580)
                out[p] = 56
                p += 1
                continue
            v = -v
        p = _unsigned(out, p, v)
    off[values.shape[0]] = p


@jit
def micros_texts(values, out, off):
    """Each value (integer microseconds) as `repr` writes the float seconds micros / 1e6:
    the decimal without trailing zeros (one digit after the point at least), and below
    1e-4 in repr's exponent form (5e-06, 1.2e-05). Zero is "0.0"."""
    p = 0
    for i in range(values.shape[0]):
        off[i] = p
        v = values[i]
        if v < 0:
            out[p] = 45
            p += 1
            v = -v
        if 0 < v < 100:                         # d[.d]e-0X
            tens = v // 10
            if tens:
                out[p] = 48 + tens
                p += 1
                if v % 10:
                    out[p], out[p + 1] = 46, 48 + v % 10
                    p += 2
                exponent = 5
            else:
                out[p] = 48 + v
                p += 1
                exponent = 6
            out[p], out[p + 1], out[p + 2], out[p + 3] = 101, 45, 48, 48 + exponent
            p += 4
            continue
        p = _unsigned(out, p, v // 1_000_000)
        out[p] = 46
        frac = v % 1_000_000
        digits = 6
        while digits > 1 and frac % 10 == 0:
            frac //= 10
            digits -= 1
        for k in range(digits, 0, -1):
            out[p + k] = 48 + frac % 10
            frac //= 10
        p += digits + 1
    off[values.shape[0]] = p


@jit
def join_lines(pieces, piece_off, texts, text_off, index, out):
    """Row i's line: pieces' piece 0, the text of index[i, 0], piece 1, ..., the last
    piece; piece j is pieces[piece_off[j]: piece_off[j + 1]], a text k
    texts[text_off[k]: text_off[k + 1]]. The bytes written."""
    p = 0
    fields = index.shape[1]
    for i in range(index.shape[0]):
        for j in range(fields):
            start, size = piece_off[j], piece_off[j + 1] - piece_off[j]
            copy_bytes(out, p, pieces, start, size)
            p += size
            k = index[i, j]
            start, size = text_off[k], text_off[k + 1] - text_off[k]
            copy_bytes(out, p, texts, start, size)
            p += size
        start, size = piece_off[fields], piece_off[fields + 1] - piece_off[fields]
        copy_bytes(out, p, pieces, start, size)
        p += size
    return p
