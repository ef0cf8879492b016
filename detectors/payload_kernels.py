"""The payload engine's bytewise loops, compiled with numba (optional: `ybsensor[fast]`).

Imported through `compiled.call` only, where the compiled path is on. Each loop gives what
the numpy code beside its caller gives (tests/test_payload_kernels.py compares them): that
code is the reference and the fallback.
"""
from __future__ import annotations

from decoders.kernel import _jit


@_jit(inline="always")
def _is_digit(c) -> bool:
    return 48 <= c <= 57


@_jit
def digit_runs(data, lo, hi, first, stop, min_run, out_start, out_end):
    """matcher.digit_run_hits for the samples first, first + min_run, ... below stop, with
    windows cut at lo and hi: writes each kept window's (start, end), returns their count."""
    n = 0
    w = min_run - 1
    h = min_run // 2
    span = 2 * w + 1
    for p in range(first, stop, min_run):
        if not _is_digit(data[p]):
            continue
        # a run of min_run digits through p holds p - h or p + h
        if not ((p - h >= lo and _is_digit(data[p - h])) or (p + h < hi and _is_digit(data[p + h]))):
            continue
        window = max(p - w, lo)
        a = p
        while a > window and _is_digit(data[a - 1]):
            a -= 1
        limit = min(window + span, hi)
        b = p + 1
        while b < limit and _is_digit(data[b]):
            b += 1
        if b - a >= min_run:
            out_start[n] = a
            out_end[n] = b
            n += 1
    return n
