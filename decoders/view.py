"""The object view: PacketTable rows as dicts in the `ybsensor decode` schema.

Built from the table, never the other way round; per-row Python is fine here because the
view is for people (decode output, inspect), not for the sensor's hot path; addresses'
text is core/addresses.py's compiled writer.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from ybsensor.core.addresses import address_texts, strings

from .keys import LINE_IF, OK, STATUS_NAMES
from .protocol import FAULT_NAMES, LINES, TUNNELS
from .table import PacketTable


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
        cols[end] = strings(*address_texts(getattr(t, end + "_hi"), getattr(t, end + "_lo")))
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
