"""Looking inside payloads: vectorized pre-filters over the first bytes of many payloads,
then per-row parsing only for the few rows they select."""
from __future__ import annotations

import numpy as np

from decoders.layout import gather_block


def head(t, rows: np.ndarray, n: int) -> np.ndarray:
    """The first n payload bytes of each row, as a (len(rows), n) array; bytes past the
    payload's end read as zero."""
    blk = gather_block(t.batch.data, t.payload_off[rows], n).copy()
    short = t.payload_len[rows] < n
    if short.any():
        blk[short] *= (np.arange(n) < t.payload_len[rows][short, None])
    return blk


def starts_with(t, rows: np.ndarray, prefix: bytes) -> np.ndarray:
    """Mask of the rows whose payload begins with `prefix`."""
    if not rows.size:
        return np.zeros(0, dtype=bool)
    want = np.frombuffer(prefix, dtype=np.uint8)
    return (t.payload_len[rows] >= len(want)) & (head(t, rows, len(want)) == want).all(axis=1)


def port_in(t, rows: np.ndarray, ports) -> np.ndarray:
    ports = np.asarray(list(ports))
    return np.isin(t.sport[rows], ports) | np.isin(t.dport[rows], ports)
