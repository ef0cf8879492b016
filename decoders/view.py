"""The object view: PacketTable rows as dicts in the `ybsensor decode` schema.

Built from the table, never the other way round; per-row Python is fine here because the
view is for people (decode output, inspect), not for the sensor's hot path. Addresses'
text is the exception: one compiled writer serves a single address and whole columns (the
flow log's thousands at once).
"""
from __future__ import annotations

import threading
from typing import Iterator

import numpy as np

from ybsensor.core.loops import jit

from .keys import LINE_IF, OK, STATUS_NAMES
from .protocol import FAULT_NAMES, LINES, TUNNELS
from .table import PacketTable

V4_MAPPED_HI = 0
V4_MAPPED_PREFIX = 0xFFFF_0000_0000


def packed(hi: int, lo: int) -> bytes:
    """An address column pair as 4 bytes (IPv4-mapped) or 16."""
    if hi == V4_MAPPED_HI and (lo >> 32) == 0xFFFF:
        return (lo & 0xFFFFFFFF).to_bytes(4, "big")
    return hi.to_bytes(8, "big") + lo.to_bytes(8, "big")


def packed_column(hi: np.ndarray, lo: np.ndarray) -> list[bytes]:
    """`packed` of each pair of two address columns (uint64), at once."""
    n = len(hi)
    both = np.empty((n, 2), dtype=">u8")  # big-endian: each row's 16 bytes as written
    both[:, 0], both[:, 1] = hi, lo
    raw = both.tobytes()
    v4 = ((hi == V4_MAPPED_HI) & ((lo >> 32) == 0xFFFF)).tolist()
    return [raw[i + 12:i + 16] if mapped else raw[i:i + 16]
            for i, mapped in zip(range(0, 16 * n, 16), v4)]


TEXT_WIDTH = 46         # "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" and one


@jit
def _decimal(out, p, v):
    if v >= 100:
        out[p] = 48 + v // 100
        p += 1
    if v >= 10:
        out[p] = 48 + v // 10 % 10
        p += 1
    out[p] = 48 + v % 10
    return p + 1


@jit
def _dotted(out, p, v):
    for k in range(4):
        if k:
            out[p] = 46
            p += 1
        p = _decimal(out, p, (v >> (24 - 8 * k)) & 0xFF)
    return p


@jit
def _word(hi, lo, k):
    return (hi >> (48 - 16 * k)) & 0xFFFF if k < 4 else (lo >> (112 - 16 * k)) & 0xFFFF


@jit
def _write_text(hi, lo, v4, out, p):
    """inet_ntop's text of an address (glibc's: RFC 5952's, and the IPv4-compatible and
    -mapped forms ::a.b.c.d, ::ffff:a.b.c.d) at out[p:]; the end."""
    if v4:
        return _dotted(out, p, lo & 0xFFFFFFFF)
    best, best_len, run, run_len = -1, 0, -1, 0     # the first longest run of zero words
    for k in range(9):
        if k < 8 and _word(hi, lo, k) == 0:
            if run < 0:
                run, run_len = k, 0
            run_len += 1
        elif run >= 0:
            if best < 0 or run_len > best_len:
                best, best_len = run, run_len
            run = -1
    if best_len < 2:
        best = -1
    for k in range(8):
        if best >= 0 and best <= k < best + best_len:
            if k == best:
                out[p] = 58
                p += 1
            continue
        if k:
            out[p] = 58
            p += 1
        if k == 6 and best == 0 and (best_len == 6 or (
                best_len == 5 and _word(hi, lo, 5) == 0xFFFF)):
            return _dotted(out, p, lo & 0xFFFFFFFF)
        word, started = _word(hi, lo, k), False
        for shift in range(12, -4, -4):
            digit = (word >> shift) & 15
            if digit or started or shift == 0:
                out[p] = 48 + digit if digit < 10 else 87 + digit
                p += 1
                started = True
    if best >= 0 and best + best_len == 8:
        out[p] = 58
        p += 1
    return p


@jit
def _write_texts(hi, lo, v4, out, off):
    """`_write_text` of each address one after another into out; off[i]: where address i
    starts (off[n]: the end)."""
    p = 0
    for i in range(hi.shape[0]):
        off[i] = p
        p = _write_text(hi[i], lo[i], v4[i], out, p)
    off[hi.shape[0]] = p


def address_texts(hi: np.ndarray, lo: np.ndarray, v4: np.ndarray | None = None):
    """The text of each address of two address columns (uint64), at once, as ASCII bytes
    and offsets (address i: data[off[i]: off[i + 1]]); `v4`: which are IPv4 (by default the
    IPv4-mapped ones, as `packed` says)."""
    hi, lo = np.ascontiguousarray(hi, np.uint64), np.ascontiguousarray(lo, np.uint64)
    if v4 is None:
        v4 = (hi == V4_MAPPED_HI) & ((lo >> np.uint64(32)) == 0xFFFF)
    data = np.empty(len(hi) * TEXT_WIDTH, dtype=np.uint8)
    off = np.empty(len(hi) + 1, dtype=np.int64)
    _write_texts(hi, lo, np.ascontiguousarray(v4, np.bool_), data, off)
    return data[:off[-1]], off


def _strings(data: np.ndarray, off: np.ndarray) -> list[str]:
    joined = data.tobytes().decode("ascii")
    return [joined[a:b] for a, b in zip(off[:-1].tolist(), off[1:].tolist())]


def texts(raws: list[bytes]) -> list[str]:
    """The text of each packed address (4 or 16 bytes)."""
    both = np.frombuffer(b"".join(raw if len(raw) == 16 else bytes(12) + raw for raw in raws),
                         dtype=">u8").reshape(-1, 2)
    return _strings(*address_texts(both[:, 0], both[:, 1], np.fromiter(
        (len(raw) == 4 for raw in raws), dtype=np.bool_, count=len(raws))))


_ONE = threading.local()     # `address`'s buffer, one per thread


def address(hi: int, lo: int, v4: bool | None = None) -> str:
    """The text of one address given as its two column values; `v4` as `address_texts`."""
    out = getattr(_ONE, "out", None)
    if out is None:
        out = _ONE.out = np.empty(TEXT_WIDTH, dtype=np.uint8)
    hi, lo = int(hi), int(lo)
    if v4 is None:
        v4 = hi == V4_MAPPED_HI and (lo >> 32) == 0xFFFF
    return out[:_write_text(np.uint64(hi), np.uint64(lo), v4, out, 0)].tobytes().decode("ascii")


def text(raw: bytes) -> str:
    """The text of one packed address (4 or 16 bytes)."""
    if len(raw) == 4:
        return address(V4_MAPPED_HI, int.from_bytes(raw, "big"), True)
    return address(int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:], "big"), False)


def line_key(kind: int, a: int, b: int, interfaces: list[str]) -> str:
    if kind == LINE_IF:
        return f"if:{interfaces[a] if a < len(interfaces) else a}"
    return LINES[kind].key(a, b)


def encap_names(layer_names: list[str], layers: np.ndarray, n: int) -> str:
    return "/".join(layer_names[x] for x in layers[:n])


def status_text(status: int, layer: str, fault: int = 0) -> str:
    """"ok", or why and where decoding stopped ("truncated:ipv4"), with the decoder's
    named fault where it gave one ("malformed:gre.routing")."""
    if status == OK:
        return "ok"
    return f"{STATUS_NAMES[status]}:{layer}" + (f".{FAULT_NAMES[fault]}" if fault else "")


def rows(table: PacketTable, layer_names: list[str]) -> Iterator[dict]:
    t = table
    interfaces = t.batch.interfaces
    cols = {k: getattr(t, k).tolist() for k in (
        "frame", "ts_ns", "wirelen", "nlayers", "line_kind", "line_a", "line_b", "ntun",
        "n_ip", "outer_src_hi", "outer_src_lo", "outer_dst_hi", "outer_dst_lo",
        "src_hi", "src_lo", "dst_hi", "dst_lo", "proto", "sport", "dport",
        "payload_len", "status", "status_layer", "fault")}
    for end in ("outer_src", "outer_dst", "src", "dst"):
        cols[end] = _strings(*address_texts(getattr(t, end + "_hi"), getattr(t, end + "_lo")))
    layers, tun_kind, tun_a, tun_b = t.layers, t.tun_kind.tolist(), t.tun_a.tolist(), t.tun_b.tolist()
    for i in range(t.n):
        c = {k: v[i] for k, v in cols.items()}
        has_ip = c["n_ip"] > 0
        yield {
            "frame": c["frame"],
            # float seconds hold microseconds at today's epoch, not nanoseconds
            "ts": round(c["ts_ns"] / 1e9, 6),
            "len": c["wirelen"],
            "encap": encap_names(layer_names, layers[i], c["nlayers"]),
            "line": line_key(c["line_kind"], c["line_a"], c["line_b"], interfaces),
            "outer_src": c["outer_src"] if has_ip else None,
            "outer_dst": c["outer_dst"] if has_ip else None,
            "tunnels": [_tunnel(tun_kind[i][j], tun_a[i][j], tun_b[i][j]) for j in range(c["ntun"])],
            "src": c["src"] if has_ip else None,
            "dst": c["dst"] if has_ip else None,
            "proto": c["proto"] if has_ip else None,
            "sport": c["sport"] if c["sport"] >= 0 else None,
            "dport": c["dport"] if c["dport"] >= 0 else None,
            "payload_len": c["payload_len"],
            "status": status_text(c["status"], layer_names[c["status_layer"]], c["fault"]),
        }


def _tunnel(kind: int, a: int, b: int) -> dict:
    tunnel = TUNNELS[kind]
    out = {"type": tunnel.name}
    if tunnel.a:
        out[tunnel.a] = a
    if tunnel.b:
        out[tunnel.b] = b
    return out
