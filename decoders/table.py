"""PacketTable: what decoding found, one row per frame, one numpy array per column."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .batch import PAD, Batch
from .keys import LINE_IF, OK
from .layout import compiled

MAX_LAYERS = 16   # depth limit: layers recorded per frame
HEAD_BYTES = 16   # payload bytes the decode kernel keeps per row for the content pre-filters
MAX_TUNNELS = 4   # tunnel headers recorded per frame (outermost first)
NONE = -1         # "absent" in integer columns (proto, ports)


@dataclass
class PayloadHeads:
    """The first HEAD_BYTES payload bytes of the rows whose decoding ended in the compiled
    decode loop, copied while their frames were in the cache (zero past the payload's end);
    `known` marks those rows. A cache of bytes the table's payload_off and payload_len name,
    not a column: the other backends leave it out."""
    values: np.ndarray        # (n, HEAD_BYTES) uint8
    known: np.ndarray         # bool


class PacketTable:
    """Columns (all length n):

    frame, ts_ns, caplen, wirelen, linktype, iface       from the batch
    status, status_layer, fault                            why decoding stopped, where, and
                                                           the named fault (0: none)
    layers[n, MAX_LAYERS], nlayers                         the chain of layer ids
    line_kind, line_a, line_b                              the access line
    tun_kind/tun_a/tun_b[n, MAX_TUNNELS], ntun             tunnel ids, outermost first
    ip_at_tunnel                                           IP headers seen before the last tunnel
    n_ip, outer_ver, outer_src_hi/lo, outer_dst_hi/lo      outermost IP header
    ip_ver, src_hi/lo, dst_hi/lo, proto                    innermost IP header
    frag_at                                                where the header with its fragment
                                                           fields begins (the IPv4 header, the
                                                           IPv6 fragment header); -1: no fragment
    sport, dport, tcp_flags, tcp_seq                       innermost transport (-1 absent)
    icmp_type, icmp_code                                   innermost ICMP/ICMPv6 (-1 absent)
    payload_off, payload_len                               where the innermost payload lies
    Addresses are IPv6 high/low uint64 pairs; IPv4 is IPv4-mapped (::ffff:a.b.c.d).
    """

    def __init__(self, batch: Batch):
        n = len(batch)
        self.n = n
        self.batch = batch
        self.frame = batch.frame if batch.frame is not None else \
            np.arange(batch.first_frame, batch.first_frame + n, dtype=np.int64)
        self.ts_ns = batch.ts_ns
        self.caplen = batch.caplen
        self.wirelen = batch.wirelen
        self.linktype = batch.linktype
        self.iface = batch.iface
        u8 = lambda: np.zeros(n, dtype=np.uint8)  # noqa: E731
        i64 = lambda fill=0: np.full(n, fill, dtype=np.int64)  # noqa: E731
        u64 = lambda: np.zeros(n, dtype=np.uint64)  # noqa: E731
        self.status = np.full(n, OK, dtype=np.uint8)
        self.status_layer = u8()
        self.fault = u8()      # a named fault of a malformed row (protocol.FAULT_NAMES)
        self.layers = np.zeros((n, MAX_LAYERS), dtype=np.uint8)
        self.nlayers = u8()
        self.line_kind = np.full(n, LINE_IF, dtype=np.uint8)
        self.line_a = batch.iface.astype(np.int64)
        self.line_b = i64()
        self.tun_kind = np.zeros((n, MAX_TUNNELS), dtype=np.uint8)
        self.tun_a = np.zeros((n, MAX_TUNNELS), dtype=np.int64)
        self.tun_b = np.zeros((n, MAX_TUNNELS), dtype=np.int64)
        self.ntun = u8()
        self.ip_at_tunnel = u8()
        self.n_ip = u8()
        self.outer_ver = u8()
        self.outer_src_hi, self.outer_src_lo = u64(), u64()
        self.outer_dst_hi, self.outer_dst_lo = u64(), u64()
        self.ip_ver = u8()
        self.src_hi, self.src_lo = u64(), u64()
        self.dst_hi, self.dst_lo = u64(), u64()
        self.proto = i64(NONE)
        self.frag_at = i64(NONE)
        self.sport = i64(NONE)
        self.dport = i64(NONE)
        self.tcp_flags = i64(NONE)
        self.tcp_seq = i64(NONE)
        self.icmp_type = i64(NONE)
        self.icmp_code = i64(NONE)
        self.payload_off = i64()
        self.payload_len = i64()
        self.payload_heads: PayloadHeads | None = None

    # Writers used by decoders; each takes the rows it concerns.

    def set_ip(self, rows, ver, src, dst, proto, frag_at) -> None:
        """Record an IP header: it is the innermost so far, and the outermost if first.
        `ver` is one version or a column of them (the fused path mixes IPv4 and IPv6)."""
        n = self.n_ip[rows]
        self.n_ip[rows] = n + 1
        self.ip_ver[rows] = ver
        self.src_hi[rows], self.src_lo[rows] = src
        self.dst_hi[rows], self.dst_lo[rows] = dst
        self.proto[rows] = proto
        self.frag_at[rows] = frag_at
        first = n == 0
        if first.all():  # the common case: outermost header; nothing to reset yet
            self.outer_ver[rows] = ver
            self.outer_src_hi[rows], self.outer_src_lo[rows] = src
            self.outer_dst_hi[rows], self.outer_dst_lo[rows] = dst
            return
        # an inner IP header replaces whatever transport the outer one had
        inner = rows[~first]
        self.sport[inner] = NONE
        self.dport[inner] = NONE
        self.tcp_flags[inner] = NONE
        self.tcp_seq[inner] = NONE
        self.icmp_type[inner] = NONE
        self.icmp_code[inner] = NONE
        if first.any():
            pick = lambda col: col[first] if np.ndim(col) else col  # noqa: E731
            outer = rows[first]
            self.outer_ver[outer] = pick(ver)
            self.outer_src_hi[outer], self.outer_src_lo[outer] = pick(src[0]), pick(src[1])
            self.outer_dst_hi[outer], self.outer_dst_lo[outer] = pick(dst[0]), pick(dst[1])

    def set_line(self, rows, kind, a, b=0) -> None:
        """The innermost line-identifying layer names the access line."""
        self.line_kind[rows] = kind
        self.line_a[rows] = a
        self.line_b[rows] = b

    def add_tunnel(self, rows, kind, a=0, b=0) -> None:
        slot = self.ntun[rows].astype(np.int64)
        room = slot < MAX_TUNNELS
        rows, slot = rows[room], slot[room]
        a = a[room] if np.ndim(a) else a
        b = b[room] if np.ndim(b) else b
        self.tun_kind[rows, slot] = kind
        self.tun_a[rows, slot] = a
        self.tun_b[rows, slot] = b
        self.ntun[rows] += 1
        self.ip_at_tunnel[rows] = self.n_ip[rows]

    def user_ip(self) -> np.ndarray:
        """Rows whose innermost IP header is user traffic: not the transport header of a
        tunnel that carried nothing decodable (L2TP control, PPP LCP, a cut tunnel)."""
        return (self.n_ip > 0) & ((self.ntun == 0) | (self.n_ip > self.ip_at_tunnel))

    def set_transport(self, rows, sport, dport, flags=NONE) -> None:
        self.sport[rows] = sport
        self.dport[rows] = dport
        self.tcp_flags[rows] = flags


# The same writers for one row g of the compiled loop (`c`: kernel.Columns, the table's
# columns and the decode state's, by name).

@compiled
def set_ip_at(c, g, ver, src_hi, src_lo, dst_hi, dst_lo, proto, frag_at):
    n = c.n_ip[g]
    c.n_ip[g] = n + 1
    c.ip_ver[g] = ver
    c.src_hi[g], c.src_lo[g], c.dst_hi[g], c.dst_lo[g] = src_hi, src_lo, dst_hi, dst_lo
    c.proto[g] = proto
    c.frag_at[g] = frag_at
    if n == 0:
        c.outer_ver[g] = ver
        c.outer_src_hi[g], c.outer_src_lo[g] = src_hi, src_lo
        c.outer_dst_hi[g], c.outer_dst_lo[g] = dst_hi, dst_lo
    else:
        c.sport[g] = c.dport[g] = c.tcp_flags[g] = c.tcp_seq[g] = NONE
        c.icmp_type[g] = c.icmp_code[g] = NONE


@compiled
def set_line_at(c, g, kind, a, b):
    c.line_kind[g] = kind
    c.line_a[g] = a
    c.line_b[g] = b


@compiled
def add_tunnel_at(c, g, kind, a, b):
    s = np.int64(c.ntun[g])
    if s < MAX_TUNNELS:
        c.tun_kind[g, s] = kind
        c.tun_a[g, s] = a
        c.tun_b[g, s] = b
        c.ntun[g] = s + 1
        c.ip_at_tunnel[g] = c.n_ip[g]


def take(t: PacketTable, rows: np.ndarray, frames: bool = True) -> PacketTable:
    """The table of `rows` of `t` (indices or a mask), as if decoded from those frames alone:
    every per-row column and the batch's per-frame columns indexed, the frame numbers kept.
    With `frames` false the frames' bytes are left behind (a table to send elsewhere that
    only its columns are read from)."""
    rows = np.flatnonzero(rows) if rows.dtype == bool else rows
    out = PacketTable.__new__(PacketTable)
    for name, value in vars(t).items():
        setattr(out, name, value[rows] if isinstance(value, np.ndarray) and value.ndim and
                len(value) == t.n else value)
    out.n = len(rows)
    b = t.batch
    picked = {name: getattr(b, name)[rows] for name in _BATCH_COLUMNS}
    if not frames:
        picked.update(data=np.zeros(PAD, dtype=np.uint8), offset=np.zeros(len(rows), np.int64))
        out.payload_off = np.zeros(len(rows), dtype=np.int64)
    out.batch = dataclasses.replace(b, **picked)
    if t.payload_heads is not None:
        out.payload_heads = PayloadHeads(t.payload_heads.values[rows], t.payload_heads.known[rows])
    return out


def concat(tables: list[PacketTable]) -> PacketTable:
    """One table of several (of frames of one capture, as `take` makes them without their
    bytes): the columns joined in the order given."""
    first = tables[0]
    out = PacketTable.__new__(PacketTable)
    for name, value in vars(first).items():
        setattr(out, name, np.concatenate([getattr(x, name) for x in tables])
                if isinstance(value, np.ndarray) and value.ndim and len(value) == first.n
                else value)
    out.n = sum(x.n for x in tables)
    joined = {name: np.concatenate([getattr(x.batch, name) for x in tables])
              for name in _BATCH_COLUMNS}
    out.batch = dataclasses.replace(first.batch, **joined)
    heads = [x.payload_heads for x in tables]
    out.payload_heads = None if any(h is None for h in heads) else PayloadHeads(
        np.concatenate([h.values for h in heads]), np.concatenate([h.known for h in heads]))
    return out


_BATCH_COLUMNS = ("offset", "caplen", "wirelen", "ts_ns", "linktype", "iface")

# the columns that hold places in the batch's buffer (-1: none), moved with its bytes
BUFFER_PLACES = ("payload_off", "frag_at")


def _moved(t: PacketTable, data: np.ndarray, offset: np.ndarray) -> PacketTable:
    """`t` over another buffer: its frames at `offset` in `data`, the places moved along."""
    out = PacketTable.__new__(PacketTable)
    vars(out).update(vars(t))
    delta = offset - t.batch.offset
    for name in BUFFER_PLACES:
        place = getattr(t, name)
        setattr(out, name, np.where(place >= 0, place + delta, place))
    out.batch = dataclasses.replace(t.batch, data=data, offset=offset, frame=None)
    return out


def join(tables: list[PacketTable]) -> PacketTable:
    """One table of several (a few rows each, as `take` picks them), their frames' bytes
    copied one after another into a buffer of its own: the tables' buffers (a mapped file's
    stretch) are not held by it."""
    lengths = [x.batch.caplen.astype(np.int64) for x in tables]
    ends = np.cumsum(np.concatenate(lengths))
    data = np.zeros(int(ends[-1]) + PAD if len(ends) else PAD, dtype=np.uint8)
    moved, at = [], 0
    for x, length in zip(tables, lengths):
        offset = ends[at: at + len(length)] - length
        start, size = int(ends[at - 1]) if at else 0, int(length.sum())
        data[start: start + size] = x.batch.data[np.repeat(x.batch.offset - offset, length)
                                                 + np.arange(start, start + size)]
        moved.append(_moved(x, data, offset))
        at += len(length)
    return concat(moved)

