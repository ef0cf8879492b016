"""Timestamps as the sensor's outputs write them."""
from __future__ import annotations

import datetime

import numpy as np


def rfc3339(ts: float) -> str:
    """Seconds since the epoch as RFC 3339 in UTC with microseconds and a `Z`, as Suricata's
    eve and RFC 5424 want them: 2025-01-02T01:12:00.000000Z."""
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc) \
        .isoformat(timespec="microseconds").replace("+00:00", "Z")


def rfc3339_column(ts: np.ndarray) -> list[str]:
    """`rfc3339` of each of the float seconds `ts`, at once: the microseconds rounded as
    `datetime.fromtimestamp` rounds them (half to even)."""
    frac, whole = np.modf(np.asarray(ts, dtype=np.float64))
    us = np.round(frac * 1e6).astype(np.int64)
    sec = whole.astype(np.int64)
    sec, us = np.where(us >= 1_000_000, sec + 1, sec), np.where(us >= 1_000_000, us - 1_000_000, us)
    sec, us = np.where(us < 0, sec - 1, sec), np.where(us < 0, us + 1_000_000, us)
    when = sec.astype("datetime64[s]").astype("datetime64[us]") + us.astype("timedelta64[us]")
    return [text + "Z" for text in np.datetime_as_string(when, unit="us").tolist()]
