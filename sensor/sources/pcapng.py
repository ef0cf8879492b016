"""pcapng files: sections of either byte order, many interfaces with their own link types
and timestamp resolutions, Enhanced, Simple and (obsolete) Packet blocks."""
from __future__ import annotations

import struct

import numpy as np

from . import record_walks
from .errors import CaptureError
from .framing import Capture, cut_batches
from .record_walks import IDB, SHB

BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_IF_NAME, OPT_IF_TSRESOL, OPT_IF_TSOFFSET = 2, 9, 14
MAX_BLOCK = 1 << 24
MAX_INTERFACES = 1 << 20  # interfaces kept per file; packets of later ones are skipped


def recognises(magic: bytes) -> bool:
    return len(magic) == 4 and struct.unpack("<I", magic)[0] == SHB


class _Interfaces:
    """Every interface of every section: names, and per-interface columns (link type,
    timestamp resolution, offset) that grow as interfaces come."""

    def __init__(self):
        self.names: list[str] = []
        self._new: list[tuple[int, int, int]] = []
        self.cols = np.zeros((0, 3), dtype=np.int64)  # linktype, if_tsresol, if_tsoffset
        self.snaplen: list[int] = []

    def add(self, linktype, snaplen, name, resol, offset_s) -> int:
        self.names.append(name or str(len(self.names)))
        self.snaplen.append(snaplen)
        self._new.append((linktype, resol, max(-MAX_OFFSET_S, min(MAX_OFFSET_S, offset_s))))
        return len(self.names) - 1

    def columns(self) -> np.ndarray:
        if self._new:
            self.cols = np.concatenate((self.cols, np.array(self._new, dtype=np.int64)))
            self._new = []
        return self.cols


class _Section:
    """This section's interface ids -> the reader's interface index (-1: not kept), as a
    column that grows by doubling (a hostile file may hold a million interfaces)."""

    def __init__(self):
        self.ids = np.empty(0, dtype=np.int64)
        self.n = 0

    def clear(self) -> None:
        self.n = 0

    def add(self, index: int) -> None:
        if self.n == len(self.ids):
            self.ids = np.concatenate((self.ids, np.empty(max(self.n, 8), dtype=np.int64)))
        self.ids[self.n] = index
        self.n += 1

    @property
    def column(self) -> np.ndarray:
        return self.ids[: self.n]


def read(cap: Capture, batch_frames: int, warn):
    """Batches of the file's packet blocks, gathered a batch at a time
    (record_walks.pcapng_blocks; section and interface blocks here): memory is bounded by
    the batch, cost by the blocks (interfaces included), not their product."""
    path = cap.path
    itfs = _Interfaces()
    section = _Section()
    order = "<"
    done = 0                 # frames yielded
    skipped = 0              # packet blocks of no interface we keep, or overrunning their block
    dropped_ifaces = 0       # interfaces past MAX_INTERFACES
    off = 0                  # the file offset of the next block
    while True:
        raw, base = cap.buf, cap.base
        buf = np.frombuffer(raw, dtype=np.uint8)
        size = len(raw)
        cols = np.empty((4, batch_frames), dtype=np.int64)  # offset, caplen, wirelen, iface
        units = np.empty(batch_frames, dtype=np.uint64)     # timestamps, interface units
        pos, n, stop = off - base, 0, None
        while True:
            first = section.column[0] if section.n else -1
            pos, n, why, lost, lost_at = record_walks.pcapng_blocks(
                buf, pos, order == ">", section.column, itfs.snaplen[first] if first >= 0 else 0,
                MAX_BLOCK, cols, units, n)
            if lost:
                if not skipped:
                    warn(f"{path}: packet block at offset {base + lost_at} names a missing "
                         f"interface or overruns its block; skipped")
                skipped += lost
            if why == record_walks.BAD_LENGTH:
                blen = struct.unpack_from(order + "I", raw, pos + 4)[0]
                stop = f"block with an impossible length {blen}"
                break
            if why != record_walks.HEADER:
                break
            btype = struct.unpack_from(order + "I", raw, pos)[0]
            if btype == SHB:  # a new section may change the byte order
                magic = bytes(raw[pos + 8: pos + 12])
                if magic == b"\x4d\x3c\x2b\x1a":
                    order = "<"
                elif magic == b"\x1a\x2b\x3c\x4d":
                    order = ">"
                else:
                    if base + pos == 0:
                        raise CaptureError(f"{path}: pcapng section header has a bad byte-order magic")
                    stop = "section header with a bad byte-order magic"
                    break
                section.clear()
            blen = struct.unpack_from(order + "I", raw, pos + 4)[0]
            if blen < 12 or blen % 4 or blen > MAX_BLOCK:
                if base + pos == 0:
                    raise CaptureError(f"{path}: pcapng section header has an impossible length {blen}")
                stop = f"block with an impossible length {blen}"
                break
            if pos + blen > size:
                break  # read on, or cut short at the end
            body, body_end = pos + 8, pos + blen - 4
            if btype == IDB and body + 8 <= body_end:
                linktype, _, snaplen = struct.unpack_from(order + "HHI", raw, body)
                if len(itfs.names) < MAX_INTERFACES:
                    section.add(itfs.add(linktype, snaplen,
                                         *_idb_options(raw, order, body + 8, body_end)))
                else:
                    section.add(-1)
                    dropped_ifaces += 1
            pos += blen
        off = cap.done = base + pos
        if n:
            offset, caplen, wirelen, iface = cols[:, :n]
            per_frame = itfs.columns()[iface]
            ts_ns = _to_ns(units[:n], per_frame[:, 1], per_frame[:, 2])
            yield from cut_batches(raw, offset, caplen, wirelen, ts_ns, per_frame[:, 0],
                                   iface, itfs.names, batch_frames, str(path), done + 1)
            done += n
        if stop is not None or (n < batch_frames and not cap.more(off)):
            break
    if skipped > 1:
        warn(f"{path}: {skipped - 1:,} more packet blocks skipped likewise")
    if dropped_ifaces:
        warn(f"{path}: {dropped_ifaces:,} interfaces past the first {MAX_INTERFACES:,} were not "
             f"kept; their packets skipped")
    if stop is not None:
        warn(f"{path}: {stop} at offset {off}; kept the {done} frames before it")
    elif off != cap.end:
        what = "block cut short" if cap.end - off >= 12 else "block header cut short"
        warn(f"{path}: {what} at the end of the file at offset {off}; "
             f"kept the {done} frames before it")


def _idb_options(raw, order, pos, end):
    """name, if_tsresol and if_tsoffset of an interface; an option that runs past its
    block ends the options (damage), the interface keeps what came before it."""
    name, resol, offset_s = None, 6, 0
    while pos + 4 <= end:
        code, length = struct.unpack_from(order + "HH", raw, pos)
        if code == 0 or pos + 4 + length > end:
            break
        value = bytes(raw[pos + 4: pos + 4 + length])
        if code == OPT_IF_NAME:
            name = value.rstrip(b"\0").decode("utf-8", "replace")
        elif code == OPT_IF_TSRESOL and length >= 1:
            resol = value[0]
        elif code == OPT_IF_TSOFFSET and length >= 8:
            offset_s = struct.unpack(order + "q", value[:8])[0]
        pos += 4 + ((length + 3) & ~3)
    return name, resol, offset_s


MAX_OFFSET_S = 9_000_000_000  # if_tsoffset beyond ~285 years is damage: clamped


def _to_ns(ts: np.ndarray, resol: np.ndarray, offset_s: np.ndarray) -> np.ndarray:
    """Timestamps in units of each frame's interface (if_tsresol) as nanoseconds since the
    epoch, plus the interface's if_tsoffset; one pass for each resolution present.
    Resolutions finer than a 64-bit count can span (10^-20, 2^-64...) come from damaged
    files: there every timestamp is under a second, computed in floating point."""
    out = offset_s * 1_000_000_000
    for code in np.flatnonzero(np.bincount(resol, minlength=256)).tolist():
        rows = resol == code
        units = ts[rows]
        if code & 0x80:  # a negative power of two
            shift = code & 0x7F
            if shift >= 64:
                ns = (units.astype(np.float64) / 2.0 ** shift * 1e9).astype(np.int64)
            else:
                sec = units >> np.uint64(shift)
                frac = units & np.uint64((1 << shift) - 1)
                ns = sec.astype(np.int64) * 1_000_000_000 + \
                    ((frac.astype(np.float64) / float(1 << shift)) * 1e9).astype(np.int64)
        else:  # a negative power of ten
            digits = code
            if digits >= 20:
                ns = (units.astype(np.float64) / 10.0 ** (digits - 9)).astype(np.int64)
            else:
                per_sec = 10 ** digits
                sec = (units // np.uint64(per_sec)).astype(np.int64)
                frac = (units % np.uint64(per_sec)).astype(np.int64)
                ns = sec * 1_000_000_000 + (frac * 10 ** (9 - digits) if digits <= 9
                                            else frac // 10 ** (digits - 9))
        out[rows] += ns
    return out
