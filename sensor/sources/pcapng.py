"""pcapng files: sections of either byte order, many interfaces with their own link types
and timestamp resolutions, Enhanced, Simple and (obsolete) Packet blocks."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from .errors import CaptureError
from .framing import cut_batches, map_file

SHB, IDB, PB, SPB, EPB = 0x0A0D0D0A, 0x00000001, 0x00000002, 0x00000003, 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_IF_NAME, OPT_IF_TSRESOL, OPT_IF_TSOFFSET = 2, 9, 14
MAX_BLOCK = 1 << 24


def recognises(magic: bytes) -> bool:
    return len(magic) == 4 and struct.unpack("<I", magic)[0] == SHB


class _Interface:
    __slots__ = ("linktype", "snaplen", "name", "resol", "offset_s")

    def __init__(self, linktype, snaplen, name, resol, offset_s):
        self.linktype, self.snaplen, self.name = linktype, snaplen, name
        self.resol, self.offset_s = resol, offset_s


def read(path: Path, batch_frames: int, warn):
    raw = map_file(path)
    size = len(raw)
    interfaces: list[_Interface] = []   # every interface of every section
    section: list[int] = []             # this section's interface ids -> global index
    order = "<"
    # per frame: data offset, caplen, wirelen, raw timestamp, global interface index
    off_l, cap_l, wire_l, ts_l, if_l = [], [], [], [], []
    off = 0
    while off + 12 <= size:
        btype = struct.unpack_from(order + "I", raw, off)[0]
        if btype == SHB:  # a new section may change the byte order
            magic = bytes(raw[off + 8: off + 12])
            if magic == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif magic == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                _stop(warn, path, off, off_l, "section header with a bad byte-order magic")
                if off == 0:
                    raise CaptureError(f"{path}: pcapng section header has a bad byte-order magic")
                break
            section = []
        blen = struct.unpack_from(order + "I", raw, off + 4)[0]
        if blen < 12 or blen % 4 or blen > MAX_BLOCK:
            if off == 0:
                raise CaptureError(f"{path}: pcapng section header has an impossible length {blen}")
            _stop(warn, path, off, off_l, f"block with an impossible length {blen}")
            break
        if off + blen > size:
            _stop(warn, path, off, off_l, "block cut short at the end of the file")
            break
        body, body_end = off + 8, off + blen - 4
        if btype == IDB and body + 8 <= body_end:
            linktype, _, snaplen = struct.unpack_from(order + "HHI", raw, body)
            name, resol, offset_s = _idb_options(raw, order, body + 8, body_end)
            section.append(len(interfaces))
            interfaces.append(_Interface(linktype, snaplen, name or str(len(interfaces)),
                                         resol, offset_s))
        elif btype == EPB and body + 20 <= body_end:
            ifid, hi, lo, caplen, wirelen = struct.unpack_from(order + "IIIII", raw, body)
            if ifid < len(section) and body + 20 + caplen <= body_end:
                _frame(off_l, cap_l, wire_l, ts_l, if_l, body + 20, caplen, wirelen,
                       (hi << 32) | lo, section[ifid])
            else:
                warn(f"{path}: packet block at offset {off} names a missing interface "
                     f"or overruns its block; skipped")
        elif btype == SPB and body + 4 <= body_end and section:
            wirelen = struct.unpack_from(order + "I", raw, body)[0]
            iface = interfaces[section[0]]
            caplen = min(wirelen, body_end - body - 4)
            if iface.snaplen:
                caplen = min(caplen, iface.snaplen)
            _frame(off_l, cap_l, wire_l, ts_l, if_l, body + 4, caplen, wirelen, 0, section[0])
        elif btype == PB and body + 20 <= body_end:
            ifid, _, hi, lo, caplen, wirelen = struct.unpack_from(order + "HHIIII", raw, body)
            if ifid < len(section) and body + 20 + caplen <= body_end:
                _frame(off_l, cap_l, wire_l, ts_l, if_l, body + 20, caplen, wirelen,
                       (hi << 32) | lo, section[ifid])
        off += blen
    else:
        if off != size:
            _stop(warn, path, off, off_l, "block header cut short at the end of the file")
    if not interfaces and off_l:
        raise CaptureError(f"{path}: packets but no interface description")
    iface = np.array(if_l, dtype=np.int64)
    ts_ns = _to_ns(np.array(ts_l, dtype=np.uint64), iface, interfaces)
    linktype = np.array([i.linktype for i in interfaces] or [0], dtype=np.int64)[iface]
    return cut_batches(raw, off_l, cap_l, wire_l, ts_ns, linktype, iface,
                       [i.name for i in interfaces] or ["0"], batch_frames, str(path))


def _frame(off_l, cap_l, wire_l, ts_l, if_l, data_off, caplen, wirelen, ts, iface):
    off_l.append(data_off)
    cap_l.append(caplen)
    wire_l.append(wirelen)
    ts_l.append(ts)
    if_l.append(iface)


def _stop(warn, path, off, frames, why):
    warn(f"{path}: {why} at offset {off}; kept the {len(frames)} frames before it")


def _idb_options(raw, order, pos, end):
    name, resol, offset_s = None, 6, 0
    while pos + 4 <= end:
        code, length = struct.unpack_from(order + "HH", raw, pos)
        value = bytes(raw[pos + 4: min(pos + 4 + length, end)])
        if code == 0:
            break
        if code == OPT_IF_NAME:
            name = value.rstrip(b"\0").decode("utf-8", "replace")
        elif code == OPT_IF_TSRESOL and length >= 1:
            resol = value[0]
        elif code == OPT_IF_TSOFFSET and length >= 8:
            offset_s = struct.unpack(order + "q", value[:8])[0]
        pos += 4 + ((length + 3) & ~3)
    return name, resol, offset_s


MAX_OFFSET_S = 9_000_000_000  # if_tsoffset beyond ~285 years is damage: clamped


def _to_ns(ts: np.ndarray, iface: np.ndarray, interfaces: list[_Interface]) -> np.ndarray:
    """Timestamps in each interface's units (if_tsresol) as nanoseconds since the epoch.
    Resolutions finer than a 64-bit count can span (10^-20, 2^-64...) come from damaged
    files: there every timestamp is under a second, computed in floating point."""
    out = np.zeros(len(ts), dtype=np.int64)
    for idx, itf in enumerate(interfaces):
        rows = iface == idx
        if not rows.any():
            continue
        units = ts[rows]
        if itf.resol & 0x80:  # a negative power of two
            shift = itf.resol & 0x7F
            if shift >= 64:
                ns = (units.astype(np.float64) / 2.0 ** shift * 1e9).astype(np.int64)
            else:
                sec = units >> np.uint64(shift)
                frac = units & np.uint64((1 << shift) - 1)
                ns = sec.astype(np.int64) * 1_000_000_000 + \
                    ((frac.astype(np.float64) / float(1 << shift)) * 1e9).astype(np.int64)
        else:  # a negative power of ten
            digits = itf.resol
            if digits >= 20:
                ns = (units.astype(np.float64) / 10.0 ** (digits - 9)).astype(np.int64)
            else:
                per_sec = 10 ** digits
                sec = (units // np.uint64(per_sec)).astype(np.int64)
                frac = (units % np.uint64(per_sec)).astype(np.int64)
                ns = sec * 1_000_000_000 + (frac * 10 ** (9 - digits) if digits <= 9
                                            else frac // 10 ** (digits - 9))
        offset = max(-MAX_OFFSET_S, min(MAX_OFFSET_S, itf.offset_s))
        out[rows] = ns + offset * 1_000_000_000
    return out
