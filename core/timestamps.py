"""Timestamps as the sensor's outputs write them."""
from __future__ import annotations

import datetime


def rfc3339(ts: float) -> str:
    """Seconds since the epoch as RFC 3339 in UTC with microseconds and a `Z`, as Suricata's
    eve and RFC 5424 want them: 2025-01-02T01:12:00.000000Z."""
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc) \
        .isoformat(timespec="microseconds").replace("+00:00", "Z")
