"""Timestamps as the sensor's outputs write them: RFC 3339 text, and seconds rounded to
the microsecond. A record's are made by `rfc3339` and Python's `round(x, 6)`; a log written
from columns (the flow log) makes the same values for every row at once, compiled."""
from __future__ import annotations

import datetime

import numpy as np

from ybsensor.core.loops import jit

RFC3339_WIDTH = 27      # 2025-01-02T01:12:00.000000Z
SPLIT = 134217729.0     # 2**27 + 1: Dekker's split of a double into two 26-bit halves


def rfc3339(ts: float) -> str:
    """Seconds since the epoch as RFC 3339 in UTC with microseconds and a `Z`, as Suricata's
    eve and RFC 5424 want them: 2025-01-02T01:12:00.000000Z."""
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc) \
        .isoformat(timespec="microseconds").replace("+00:00", "Z")


@jit
def _half_even(y):
    """y rounded to an integer, ties to even (y - floor(y) is exact)."""
    f = np.floor(y)
    d = y - f
    if d > 0.5 or (d == 0.5 and f % 2.0 != 0.0):
        f += 1.0
    return np.int64(f)


@jit
def _digits(out, row, at, value, width):
    for k in range(width - 1, -1, -1):
        out[row, at + k] = 48 + value % 10
        value //= 10


@jit
def _write_rfc3339(ts, out):
    for i in range(ts.shape[0]):
        whole = np.trunc(ts[i])                 # datetime.fromtimestamp's split and rounding
        sec, us = np.int64(whole), _half_even((ts[i] - whole) * 1e6)
        if us >= 1_000_000:
            sec, us = sec + 1, us - 1_000_000
        elif us < 0:
            sec, us = sec - 1, us + 1_000_000
        days, rem = sec // 86400, sec % 86400
        # the civil date of a day count (H. Hinnant's days_from_civil, inverted)
        z = days + 719468
        era = z // 146097
        doe = z - era * 146097
        yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
        doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
        mp = (5 * doy + 2) // 153
        day = doy - (153 * mp + 2) // 5 + 1
        month = mp + 3 if mp < 10 else mp - 9
        year = yoe + era * 400 + (1 if month <= 2 else 0)
        _digits(out, i, 0, year, 4)
        _digits(out, i, 5, month, 2)
        _digits(out, i, 8, day, 2)
        _digits(out, i, 11, rem // 3600, 2)
        _digits(out, i, 14, rem // 60 % 60, 2)
        _digits(out, i, 17, rem % 60, 2)
        _digits(out, i, 20, us, 6)
        out[i, 4], out[i, 7], out[i, 10], out[i, 13] = 45, 45, 84, 58     # - - T :
        out[i, 16], out[i, 19], out[i, 26] = 58, 46, 90                    # : . Z


def rfc3339_column(ts: np.ndarray) -> np.ndarray:
    """`rfc3339` of each of the float seconds `ts` (years 1 to 9999), as an array of ASCII
    strings (numpy `S27`): the microseconds rounded as `datetime.fromtimestamp` rounds them
    (half to even)."""
    ts = np.ascontiguousarray(ts, dtype=np.float64)
    out = np.empty((len(ts), RFC3339_WIDTH), dtype=np.uint8)
    _write_rfc3339(ts, out)
    return out.view(f"S{RFC3339_WIDTH}").reshape(len(ts))


@jit
def _write_micros(seconds, out):
    for i in range(seconds.shape[0]):
        x = seconds[i]
        p = x * 1e6
        # p + e is x * 1e6 exactly (Dekker's product; 1e6 needs 14 bits, so no split of it)
        big = SPLIT * x
        hi = big - (big - x)
        e = (hi * 1e6 - p) + (x - hi) * 1e6
        f = np.floor(p)
        # the sign of x * 1e6 - (f + 0.5): (p - f) - 0.5 is exact wherever it is small
        d = ((p - f) - 0.5) + e
        if d > 0.0 or (d == 0.0 and f % 2.0 != 0.0):
            f += 1.0
        out[i] = np.int64(f)


def micros(seconds: np.ndarray) -> np.ndarray:
    """Python's `round(x, 6)` of each of the float seconds (correctly rounded from x's exact
    value, ties to even) as int64 microseconds: round(x, 6) == micros / 1e6."""
    seconds = np.ascontiguousarray(seconds, dtype=np.float64)
    out = np.empty(len(seconds), dtype=np.int64)
    _write_micros(seconds, out)
    return out
