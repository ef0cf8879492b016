"""The evidence writer's byte loop (exporters/evidence.py), compiled with numba."""
from __future__ import annotations

from ybsensor.core.loops import copy_bytes, jit, prefetch

AHEAD = 8     # frames ahead whose first bytes are asked for: they lie all over the batch


@jit
def records(data, off, length, head, out):
    """EvidenceWriter._gather's records: row i's record header head[i] (16 bytes), then its
    frame data[off[i]: off[i] + length[i]], one after another into out; the bytes written."""
    n = off.shape[0]
    p = 0
    for i in range(n):
        if i + AHEAD < n:
            prefetch(data, off[i + AHEAD])
        for k in range(16):
            out[p + k] = head[i, k]
        p += 16
        copy_bytes(out, p, data, off[i], length[i])
        p += length[i]
    return p
