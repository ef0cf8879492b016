"""Looking inside payloads: vectorized pre-filters over the first bytes of many payloads,
then per-row parsing only for the few rows they select."""
from __future__ import annotations

import weakref
from functools import lru_cache

import numpy as np

from ybsensor.decoders.table import HEAD_BYTES
from ybsensor.decoders.tcp import SYN

from . import compiled


HEAD = HEAD_BYTES  # payload bytes taken once a batch for every row: the most a pre-filter reads
_heads: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()   # table -> its heads


def _gather_heads(t, rows: np.ndarray, n: int) -> np.ndarray:
    """The first n payload bytes of `rows`, zero past each payload's end: one compiled pass
    with the frames' lines prefetched (the payloads lie all over a batch's buffer, and
    numpy's gather waits for each line in turn)."""
    out = np.empty((len(rows), n), dtype=np.uint8)
    compiled.call("gather_heads", t.batch.data, t.payload_off, t.payload_len,
                  np.asarray(rows, dtype=np.int64), out)
    return out


def _collect_heads(t) -> np.ndarray:
    """Every row's HEAD bytes: those the decode kernel kept (PayloadHeads), the others
    gathered."""
    kept = getattr(t, "payload_heads", None)
    if kept is None:
        return _gather_heads(t, np.arange(t.n), HEAD)
    heads = kept.values
    rest = np.flatnonzero(~kept.known)
    if rest.size:
        heads[rest] = _gather_heads(t, rest, HEAD)
        kept.known[rest] = True
    return heads


def every_head(t) -> np.ndarray:
    """The first HEAD payload bytes of every row of a table, a (t.n, HEAD) array (bytes
    past a payload's end read as zero): gathered once a table, shared by the detectors."""
    heads = _heads.get(t)
    if heads is None:
        heads = _heads[t] = _collect_heads(t)
    return heads


def head(t, rows: np.ndarray, n: int) -> np.ndarray:
    """The first n payload bytes of each row, as a (len(rows), n) array; bytes past the
    payload's end read as zero. Several detectors read heads of the same rows: the first
    HEAD bytes of every row are gathered once a table and shared."""
    if n > HEAD:
        return _gather_heads(t, rows, n)
    heads = every_head(t)
    # each row's head taken whole as one 16-byte record: numpy copies a 2-D fancy index
    # element by element, four times slower
    picked = heads.view(f"V{HEAD}").ravel()[rows]
    return picked.view(np.uint8).reshape(len(picked), HEAD)[:, :n]


def first_word(first: np.ndarray) -> np.ndarray:
    """The first 8 bytes of each row of a (n, k) byte block as one little-endian uint64
    (zero past k): prefixes are then tested with one compare a row (`opens_with`)."""
    wide = np.zeros((len(first), 8), dtype=np.uint8)
    k = min(first.shape[1], 8)
    wide[:, :k] = first[:, :k]
    return wide.view("<u8")[:, 0]


def opens_with(word: np.ndarray, prefix: bytes, fold: bool = False) -> np.ndarray:
    """Mask of the rows whose `first_word` begins with `prefix` (at most 8 bytes); `fold`:
    ASCII letters without case (bit 0x20 ignored on every byte of the prefix)."""
    size = len(prefix)
    mask = (1 << 8 * size) - 1
    if fold:
        mask &= int.from_bytes(b"\xdf" * size, "little")
    want = int.from_bytes(prefix, "little") & mask
    return (word & np.uint64(mask)) == np.uint64(want)


def starts_with(t, rows: np.ndarray, prefix: bytes) -> np.ndarray:
    """Mask of the rows whose payload begins with `prefix`."""
    if not rows.size:
        return np.zeros(0, dtype=bool)
    want = np.frombuffer(prefix, dtype=np.uint8)
    return (t.payload_len[rows] >= len(want)) & (head(t, rows, len(want)) == want).all(axis=1)


def port_in(t, rows: np.ndarray, ports) -> np.ndarray:
    """Mask of the rows with either port in `ports` (one table look-up per port column)."""
    listed = _port_table(tuple(ports))
    return listed[t.sport[rows] + 1] | listed[t.dport[rows] + 1]


@lru_cache(maxsize=256)
def _port_table(ports: tuple[int, ...]) -> np.ndarray:
    listed = np.zeros(65537, dtype=bool)  # indexed by port + 1: a missing port (-1) is 0
    listed[np.asarray(ports, dtype=np.int64) + 1] = True
    return listed


def toward_server(t, rows: np.ndarray, ports, from_client: np.ndarray | None = None) -> np.ndarray:
    """Mask of the rows a client sends: as `from_client` says where it knows (the flow
    table saw the handshake: BatchContext.from_client), else toward the port in `ports`
    where one end alone has one, else toward the lower port (clients take ephemeral ports
    above the services', which a service on a high port breaks)."""
    listed = _port_table(tuple(ports))
    src, dst = listed[t.sport[rows] + 1], listed[t.dport[rows] + 1]
    guess = np.where(src != dst, dst, t.dport[rows] <= t.sport[rows])
    if from_client is None:
        return guess
    known = from_client[rows]
    return np.where(known >= 0, known == 1, guess)


SEQ_SPACE = 1 << 32


def data_seq(t, rows):
    """The sequence number of the first payload byte of TCP rows `rows` (an array, or one
    row): the header's, plus one on a SYN, which takes the first number itself (RFC 9293
    3.4) — a TCP Fast Open client's data rides in its SYN after it (RFC 7413). Rows
    without TCP keep -1."""
    seq = t.tcp_seq[rows]
    return np.where(seq < 0, seq, (seq + ((t.tcp_flags[rows] & SYN) != 0)) % SEQ_SPACE)
