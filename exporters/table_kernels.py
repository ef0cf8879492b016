"""The JSON-lines writer's byte loop (exporters/tables.py), compiled with numba: each
line's fields written one after another, numbers as the text `json.dumps` gives them."""
from __future__ import annotations

import numpy as np

from ybsensor.core.loops import copy_bytes, jit

# how a field's cells are written
TEXT = 0        # a cell is the number of a text: texts[text_off[c]: text_off[c + 1]]
INT = 1         # an int64, as `str` writes it
MICROS = 2      # int64 microseconds, as `repr` writes the float seconds micros / 1e6
WIDTH = {INT: 20, MICROS: 24}      # the longest: "-9223372036854775808", with a point


PAIRS = np.frombuffer("".join(f"{k:02d}" for k in range(100)).encode(), dtype=np.uint8)


@jit
def _unsigned(out, p, value):
    """The decimal digits of value >= 0 at out[p:], two at a time; the end."""
    width = 1
    rest = value // 10
    while rest:
        width += 1
        rest //= 10
    end = p + width
    at = end
    while value >= 10:
        pair = 2 * (value % 100)
        value //= 100
        out[at - 1] = PAIRS[pair + 1]
        out[at - 2] = PAIRS[pair]
        at -= 2
    if at > p:
        out[at - 1] = 48 + value
    return end


@jit
def _int(out, p, v):
    if v < 0:
        out[p] = 45
        p += 1
        if v == -v:                         # -2**63 has no int64 opposite
            p = _unsigned(out, p, 922337203685477580)
            out[p] = 56
            return p + 1
        v = -v
    return _unsigned(out, p, v)


@jit
def _micros(out, p, v):
    """repr of the float v / 1e6: the decimal without trailing zeros (one digit after the
    point at least), below 1e-4 repr's exponent form (5e-06, 1.2e-05); zero is 0.0."""
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
        return p + 4
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
    return p + digits + 1


@jit
def write_lines(pieces, piece_off, kinds, cells, texts, text_off, out):
    """Row i's line: piece 0, the cell cells[i, 0] written as kinds[0] says, piece 1, ...,
    the last piece; piece j is pieces[piece_off[j]: piece_off[j + 1]]. The bytes written."""
    p = 0
    fields = cells.shape[1]
    for i in range(cells.shape[0]):
        for j in range(fields):
            start, size = piece_off[j], piece_off[j + 1] - piece_off[j]
            copy_bytes(out, p, pieces, start, size)
            p += size
            c = cells[i, j]
            kind = kinds[j]
            if kind == TEXT:
                start, size = text_off[c], text_off[c + 1] - text_off[c]
                copy_bytes(out, p, texts, start, size)
                p += size
            elif kind == INT:
                p = _int(out, p, c)
            else:
                p = _micros(out, p, c)
        start, size = piece_off[fields], piece_off[fields + 1] - piece_off[fields]
        copy_bytes(out, p, pieces, start, size)
        p += size
    return p
