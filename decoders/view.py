"""The object view: PacketTable rows as dicts in the `ybsensor decode` schema.

Built from the table, never the other way round; per-row Python is fine here because the
view is for people (decode output, inspect), not for the sensor's hot path.
"""
from __future__ import annotations

import socket
from typing import Iterator

import numpy as np

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


def text(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def texts(raws: list[bytes]) -> list[str]:
    """`text` of each packed address."""
    ntop, v4, v6 = socket.inet_ntop, socket.AF_INET, socket.AF_INET6
    return [ntop(v4 if len(raw) == 4 else v6, raw) for raw in raws]


def address(hi: int, lo: int) -> str:
    return text(packed(int(hi), int(lo)))


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
            "outer_src": address(c["outer_src_hi"], c["outer_src_lo"]) if has_ip else None,
            "outer_dst": address(c["outer_dst_hi"], c["outer_dst_lo"]) if has_ip else None,
            "tunnels": [_tunnel(tun_kind[i][j], tun_a[i][j], tun_b[i][j]) for j in range(c["ntun"])],
            "src": address(c["src_hi"], c["src_lo"]) if has_ip else None,
            "dst": address(c["dst_hi"], c["dst_lo"]) if has_ip else None,
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
