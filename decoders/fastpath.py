"""Fused decoding of the commonest chains: Ethernet, up to two VLAN tags, IPv4 or IPv6, and
TCP or UDP, in one call for every row whose headers need none of the rarer branches.

The generic driver spends a round per layer, and each round costs a regrouping of the rows,
a gather of each decoder's header and a scatter of each field it writes. Most frames are
Ethernet / [802.1Q [802.1Q]] / IP / TCP|UDP, outermost or inside a tunnel, so this module
stands in for the decoders of "eth", "ipv4" and "ipv6" (`decoders_for`): called with the
rows that reached one of them, it reads the chain's headers with one gather per level
(link, network, transport) and writes each table column once, with the values the generic
decoders would write. A row leaves the chain, with the cursor, length bound and next layer
that the generic decoders would give it, where

- its next protocol is one the chain does not fuse (MPLS, GRE, a UDP port with a decoder,
  an IPv6 extension header, a third VLAN tag ...): the generic rounds go on from there;
- a header is cut short or impossible: the row stops before that layer, whose generic
  decoder then reports it (at the entry layer that decoder runs at once, in this call);
- the depth limit or the round limit is near: the driver's own checks apply.

Each layer fused past the entry is a round the row does not spend in the driver;
`Frames.credit` counts them so that the round limit falls where it falls without the fast
path. Field offsets come from the layouts that the protocol modules declare, and which layer
follows which key from the dispatch table.

Two backends do the same work:

- **numba** (`kernel.py`, where numba is installed: `pip install ybsensor[fast]`): one
  compiled loop over the rows, each row's chain parsed and its columns written in one pass,
  tens of ns a row. It goes further than the chain above: through the tunnels of the
  private network's lines (MPLS, GRE, ERSPAN, VXLAN, L2TPv2/PPP: `KERNEL_TUNNELS`) into
  the Ethernet or IP they carry, so that a tunnelled frame is decoded in one call too. numpy
  cannot do that: here each level costs a gather and ~25 column scatters a row, and
  interleaved encapsulations defeat masked passes, so the numpy backend is no faster than
  the generic decoders.
- **numpy** (`Pass` below): the same boundaries with one gather per level; kept as the
  reference that the kernel is tested against, and for tests.

`KERNEL` is the default: the environment's `YBSENSOR_DECODE_KERNEL` (`numba`, `numpy` or
`generic`), else numba where it imports and the generic decoders where it does not.
`ENABLED = False` or `decode(batch, fast=False)` turns the fused path off; `fast="numpy"` or
`fast="numba"` picks a backend. Tests compare every backend column by column.
"""
from __future__ import annotations

import importlib.util
import os
import warnings
import weakref
from dataclasses import replace

import numpy as np

from . import erspan, ethernet, gre, ipv4, ipv6, l2tp, mpls, ppp, tcp, udp, vxlan
from .erspan import ERSPAN
from .ethernet import ETH, LLC_BELOW, LLC_KEY, VLAN
from .gre import GRE
from .ipv4 import IPV4
from .ipv6 import IPV6
from .keys import (ERSPAN_I, ETHERTYPE, ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO, LINE_ERSPAN,
                   LINE_GRE, LINE_L2TP, LINE_MPLS, LINE_QINQ, LINE_VLAN, LINE_VXLAN, LINKTYPE,
                   LINKTYPE_ETHERNET, OK, PPP as PPP_NS, TRUNCATED, TUN_ERSPAN, TUN_GRE, TUN_L2TP,
                   TUN_MPLS, TUN_VXLAN, UDP, UNSUPPORTED)
from .l2tp import L2TP, V2_HEADER
from .layout import IPV4_MAPPED, Layout, gather_block
from .mpls import SHIM
from .ppp import PPP
from .table import HEAD_BYTES, MAX_LAYERS, MAX_TUNNELS, NONE, PayloadHeads
from .tcp import TCP
from .udp import UDP as UDP_HDR
from .vxlan import VXLAN

ENABLED = True
BACKENDS = ("numba", "numpy", "generic")


def numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None


_WANT = os.environ.get("YBSENSOR_DECODE_KERNEL", "auto")
if _WANT not in ("auto", *BACKENDS):
    raise ValueError(f"YBSENSOR_DECODE_KERNEL={_WANT!r}: one of auto, {', '.join(BACKENDS)}")
KERNEL = _WANT if _WANT != "auto" else "numba" if numba_installed() else "generic"


# Importing numba and loading the cached loop takes about 0.3 s, which the kernel wins back
# at about 0.1 us a frame: a process that decodes a few captures (an analyst's decode or
# replay) keeps the generic decoders; one that has decoded this many frames, or a long-running
# sensor (`load_kernel_now`), takes the kernel. YBSENSOR_DECODE_KERNEL=numba takes it at once.
KERNEL_AFTER_FRAMES = 3_000_000
_frames_decoded = 0


def load_kernel_now() -> None:
    """A long-running process (live capture, a benchmark of the steady state): use the
    default backend from the first batch on."""
    global KERNEL_AFTER_FRAMES
    KERNEL_AFTER_FRAMES = 0


def backend(fast=None, frames: int = 0) -> str:
    """The backend that `decode(batch, fast=fast)` uses: None the default (KERNEL, unless
    ENABLED is off; numba only once KERNEL_AFTER_FRAMES frames were decoded, counting
    `frames`), False the generic decoders, True the fastest fused one, or a name."""
    global _frames_decoded
    if fast is None:
        if not ENABLED:
            return "generic"
        if KERNEL == "numba" and _WANT == "auto" and _KERNEL_MODULE is None:
            _frames_decoded += frames
            if _frames_decoded < KERNEL_AFTER_FRAMES:
                return "generic"
        return KERNEL
    if fast is False:
        return "generic"
    if fast is True:
        return "numba" if numba_installed() else "numpy"
    if fast not in BACKENDS:
        raise ValueError(f"unknown decode backend {fast!r}")
    return fast

# the generic decoder of each layer the chain fuses; where a dispatch maps one of these names
# to another function (a test's, a variant), rows leave the chain at that layer
GENERIC = {"eth": ethernet.decode_eth, "vlan": ethernet.decode_vlan, "ipv4": ipv4.decode,
           "ipv6": ipv6.decode, "tcp": tcp.decode, "udp": udp.decode}
# the numba kernel also passes the tunnels of a private network's lines, in their common
# forms (kernel.py says which); the rest of each is left to its generic decoder
KERNEL_TUNNELS = {"mpls": mpls.decode, "gre": gre.decode, "erspan": erspan.decode,
                  "vxlan": vxlan.decode, "l2tp": l2tp.decode, "ppp": ppp.decode}
ENTRIES = ("eth", "ipv4", "ipv6")
CHUNK = 65536
OUT = -2                                     # `at` of a row the chain dropped
FUSED_MAX = 4                                # layers a row can pass past its entry layer

TAGS = 2                                     # VLAN tags fused: a lone tag or a QinQ pair
LINK_SPAN = ETH.min_len + TAGS * VLAN.min_len
NET_SPAN = max(IPV4.span, IPV6.span)
TRANSPORT_SPAN = max(TCP.span, UDP_HDR.span)
# the ports are read once for TCP and UDP rows alike
assert all(TCP.fields[k] == UDP_HDR.fields[k] for k in ("sport", "dport"))

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def decoders_for(dispatch, kind: str = "numpy") -> list:
    """The dispatch's decoder list with the fused entries (backend `kind`) in place of the
    generic ones."""
    global KERNEL
    if kind == "generic":
        return dispatch.decoders
    per = _CACHE.setdefault(dispatch, {})
    got = per.get(kind)
    if got is None:
        if kind == "numpy":
            chain = Chain(dispatch)
        else:
            try:
                chain = KernelChain(dispatch)
            except (ImportError, OSError) as e:
                if _WANT == "numba":
                    raise
                # installed but not importable (a broken install), or no JIT allowed (a
                # W^X policy such as systemd's MemoryDenyWriteExecute: llvmlite cannot map
                # executable memory): as if it were absent
                warnings.warn(f"numba cannot run here ({e}): generic decoders in use")
                KERNEL = "generic"
                return dispatch.decoders
        got = list(dispatch.decoders)
        for name in ENTRIES:
            lid = chain.ids[name]
            if lid > 0:
                got[lid] = replace(got[lid], fn=chain.entry(lid, got[lid].fn))
        per[kind] = got
    return got


class Chain:
    fused = GENERIC          # the layers this backend passes, by name, with their decoders

    def __init__(self, dispatch):
        from .dispatch import KEY_SPACE
        self.key_space = KEY_SPACE
        self.flat = dispatch.flat
        self.names = dispatch.layer_names
        ids = {}
        for name, fn in self.fused.items():
            lid = dispatch.layer_ids.get(name, -1)
            fits = lid > 0 and dispatch.decoders[lid].fn is fn and dispatch.decoders[lid].visible
            ids[name] = lid if fits else -1      # -1 matches no row: rows leave there
        self.ids = ids
        self.eth, self.vlan = ids["eth"], ids["vlan"]
        self.ip4, self.ip6 = ids["ipv4"], ids["ipv6"]
        self.tcp, self.udp = ids["tcp"], ids["udp"]

    def entry(self, layer_id: int, generic):
        def fused(f, rows):
            self.run(f, rows, layer_id, generic)
        fused.__qualname__ = fused.__name__ = f"fused_{self.names[layer_id]}"
        return fused

    def next_of(self, ns: int, value: np.ndarray) -> np.ndarray:
        """The layer that dispatch gives (ns, value) (0: none); values are 16-bit fields."""
        return self.flat[ns * self.key_space + value]

    def run(self, f, rows: np.ndarray, entry: int, generic) -> None:
        # in chunks whose temporaries stay in the core's cache: a numpy pass over a chunk
        # costs a third of what it costs over a whole batch
        full = len(rows) == f.table.n    # every row, in order (rows are sorted and unique)
        for a in range(0, len(rows), CHUNK):
            b = min(a + CHUNK, len(rows))
            Pass(self, f, rows[a:b], a if full else None, entry).run(generic)


class Pass:
    """One call's work on one chunk of rows. Each level (link, network, transport) takes the
    rows that reached it as an index (`i*`: positions in the chunk), reads their headers with
    one gather, and writes their columns: no row mask is applied to a whole column (the
    encapsulations of a batch interleave, and numpy's masked passes branch on every row)."""

    def __init__(self, chain: Chain, f, rows: np.ndarray, start: int | None, entry: int):
        self.c, self.f, self.t, self.rows, self.entry = chain, f, f.table, rows, entry
        n = len(rows)
        # where the chunk's rows sit in the columns: a slice when they are consecutive
        self.ix = slice(start, start + n) if start is not None else rows
        self.start = start
        self.pos = f.pos[self.ix].copy()
        self.end = f.end[self.ix].copy()
        self.nl = self.t.nlayers[self.ix].astype(np.int64)
        self.nl0 = self.nl.copy()
        self.at = np.full(n, entry, dtype=np.int64)
        self.mine = None                 # rows this call leaves to the entry's generic decoder
        # a layer may be passed while the row has room in the chain and rounds left
        left = f.max_rounds - 1 - f.round
        if left - f.fused_bound >= FUSED_MAX:
            self.room = MAX_LAYERS
        else:
            self.room = np.minimum(MAX_LAYERS, self.nl0 + (left - f.credit[self.ix]))

    def glob(self, i: np.ndarray) -> np.ndarray:
        """Chunk positions -> row numbers."""
        return i + self.start if self.start is not None else self.rows[i]

    def room_for(self, i: np.ndarray) -> np.ndarray:
        return self.nl[i] < (self.room if np.ndim(self.room) == 0 else self.room[i])

    def record(self, i: np.ndarray, lid: int) -> None:
        self.t.layers.reshape(-1)[self.glob(i) * MAX_LAYERS + self.nl[i]] = lid
        self.nl[i] += 1

    def run(self, generic) -> None:
        c = self.c
        if self.entry == c.eth:
            self.link()
        ip = self.network()
        if ip is not None:
            self.transport(ip)
        self.finish(generic)

    def link(self) -> None:
        """Ethernet and up to TAGS VLAN tags, from one block at the frame's start."""
        c, f, t = self.c, self.f, self.t
        pos, end = self.pos, self.end
        blk = gather_block(f.buf, pos, LINK_SPAN)
        etype = ETH.cut(blk, "type")
        short = pos + ETH.min_len > end
        if short.any():
            f.fail(self.rows[short], TRUNCATED)      # as decode_eth
            self.mine = ~short
        llc = np.flatnonzero(etype < LLC_BELOW)         # an 802.3 length: bytes past it pad
        if llc.size:
            end[llc] = np.minimum(end[llc], pos[llc] + ETH.min_len + etype[llc])
            etype[llc] = LLC_KEY
        at = self.at = c.next_of(ETHERTYPE, etype).astype(np.int64)
        pos += ETH.min_len
        if self.mine is not None:
            at[~self.mine] = OUT                     # matches no layer, not even a miss
        tagged = []
        i = np.flatnonzero(at == c.vlan)
        for k in range(TAGS):
            if not i.size:
                break
            go = (pos[i] + VLAN.min_len <= end[i]) & self.room_for(i)
            if not go.all():
                i = i[go]                            # the others stop at this tag
            self.record(i, c.vlan)
            base = -(ETH.min_len + k * VLAN.min_len)
            sub = blk[i]
            vid, inner = VLAN.cut(sub, "vid", base), VLAN.cut(sub, "type", base)
            inner[inner < LLC_BELOW] = LLC_KEY
            at[i] = c.next_of(ETHERTYPE, inner)
            pos[i] += VLAN.min_len
            tagged.append((i, vid))
            i = i[at[i] == c.vlan]
        if tagged:
            # the first tag names a VLAN line; a second right after it makes a QinQ pair
            (i, vid) = tagged[0]
            g = self.glob(i)
            t.line_kind[g] = LINE_VLAN
            t.line_a[g] = vid
            t.line_b[g] = 0
            if len(tagged) > 1:
                (i, vid) = tagged[1]
                g = self.glob(i)
                t.line_kind[g] = LINE_QINQ
                t.line_b[g] = vid
        miss = np.flatnonzero(at == 0)               # an EtherType with no decoder
        if miss.size:
            g = self.glob(miss)
            t.status[g] = UNSUPPORTED
            by = np.full(len(miss), c.eth)
            for i, _ in tagged:
                by[np.isin(miss, i)] = c.vlan
            t.status_layer[g] = by
        if self.mine is not None:
            at[~self.mine] = 0

    def network(self):
        """IPv4 and IPv6: each version's rows from one gather of its fixed header."""
        c = self.c
        at = self.at
        entry = self.entry in (c.ip4, c.ip6)
        i4 = np.flatnonzero(at == c.ip4)
        i6 = np.flatnonzero(at == c.ip6)
        if not (i4.size or i6.size):
            return None
        parts = []
        if i4.size:
            parts.append(self.ipv4(i4, entry))
        if i6.size:
            parts.append(self.ipv6(i6, entry))
        if len(parts) == 1:
            i, proto, frag_at, later, src, dst, version = parts[0]
        else:
            i = np.concatenate([p[0] for p in parts])
            proto = np.concatenate([p[1] for p in parts])
            frag_at = np.concatenate([p[2] for p in parts])
            later = np.concatenate([p[3] for p in parts])
            src = tuple(np.concatenate([p[4][k] for p in parts]) for k in (0, 1))
            dst = tuple(np.concatenate([p[5][k] for p in parts]) for k in (0, 1))
            version = np.concatenate([np.full(len(p[0]), p[6], dtype=np.int64) for p in parts])
        if not i.size:
            return None
        nxt = c.next_of(IPPROTO, proto)
        if later.any():
            nxt[later] = 0     # a later fragment ends after its header: no ports
        at[i] = nxt
        self.ip_columns(i, version, src, dst, proto, frag_at)
        return i

    def ipv4(self, i, entry):
        f = self.f
        pos, end = self.pos[i], self.end[i]
        blk = gather_block(f.buf, pos, IPV4.span)
        ihl, total = IPV4.cut(blk, "ihl"), IPV4.cut(blk, "total_len")
        hdr_len = ihl * 4
        bounded = np.minimum(end, pos + total)
        unset = total == 0            # segmentation offload: the frame is the packet
        if unset.any():
            bounded[unset] = end[unset]
        after = pos + hdr_len
        ok = ((pos + IPV4.min_len <= end) & (IPV4.cut(blk, "version") == 4) & (ihl >= 5)
              & ((total >= hdr_len) | unset) & (after <= bounded))
        if not entry:
            ok &= self.room_for(i)
        if not ok.all():
            self.refuse(i[~ok], entry)
            i, blk, bounded, after, pos = i[ok], blk[ok], bounded[ok], after[ok], pos[ok]
        if not entry:
            self.record(i, self.c.ip4)
        self.end[i] = bounded
        self.pos[i] = after
        zero = np.zeros(len(i), dtype=np.uint64)
        src = IPV4_MAPPED | IPV4.cut(blk, "src").astype(np.uint64)
        dst = IPV4_MAPPED | IPV4.cut(blk, "dst").astype(np.uint64)
        frag = IPV4.cut(blk, "frag")
        return (i, IPV4.cut(blk, "proto"), np.where(frag != 0, pos, -1),
                (frag & ipv4.OFFSET_BITS) != 0, (zero, src), (zero, dst), 4)

    def ipv6(self, i, entry):
        f = self.f
        pos, end = self.pos[i], self.end[i]
        blk = gather_block(f.buf, pos, IPV6.span)
        ok = (pos + IPV6.min_len <= end) & (IPV6.cut(blk, "version") == 6)
        if not entry:
            ok &= self.room_for(i)
        if not ok.all():
            self.refuse(i[~ok], entry)
            i, blk, pos, end = i[ok], blk[ok], pos[ok], end[ok]
        if not entry:
            self.record(i, self.c.ip6)
        plen = IPV6.cut(blk, "payload_len")
        bounded = np.minimum(end, pos + IPV6.min_len + plen)
        unset = plen == 0             # a jumbogram, or offload: the frame is the packet
        if unset.any():
            bounded[unset] = end[unset]
        self.end[i] = bounded
        self.pos[i] = pos + IPV6.min_len
        return (i, IPV6.cut(blk, "next"), np.full(len(i), -1, dtype=np.int64),
                np.zeros(len(i), dtype=bool), IPV6.cut(blk, "src"), IPV6.cut(blk, "dst"), 6)

    def refuse(self, i, entry) -> None:
        """Rows whose header the chain does not take: at the entry layer its generic decoder
        runs for them; past it they stop before the layer (self.at keeps it)."""
        if entry:
            if self.mine is None:
                self.mine = np.ones(len(self.rows), dtype=bool)
            self.mine[i] = False

    def ip_columns(self, i, version, src, dst, proto, frag_at) -> None:
        """PacketTable.set_ip for chunk positions `i`."""
        self.t.set_ip(self.glob(i), version, src, dst, proto, frag_at)

    def transport(self, ip) -> None:
        """TCP ends the row at its payload; UDP goes on by port."""
        c, f, t = self.c, self.f, self.t
        at = self.at
        kind = at[ip]
        for lid in (c.tcp, c.udp):
            i = ip[np.flatnonzero(kind == lid)]
            if not i.size:
                continue
            pos, end = self.pos[i], self.end[i]
            blk = gather_block(f.buf, pos, TRANSPORT_SPAN)
            if lid == c.tcp:
                payload = pos + TCP.cut(blk, "data_off") * 4
                ok = ((pos + TCP.min_len <= end) & (payload >= pos + TCP.min_len)
                      & (payload <= end))
            else:
                length = UDP_HDR.cut(blk, "len")
                ok = (pos + UDP_HDR.min_len <= end) & ((length >= UDP_HDR.min_len) | (length == 0))
            ok &= self.room_for(i)
            if not ok.all():                         # these stop before the header
                i, blk, pos, end = i[ok], blk[ok], pos[ok], end[ok]
                if lid == c.tcp:
                    payload = payload[ok]
                else:
                    length = length[ok]
            self.record(i, lid)
            g = self.glob(i)
            sport, dport = TCP.cut(blk, "sport"), TCP.cut(blk, "dport")
            t.sport[g] = sport
            t.dport[g] = dport
            if lid == c.tcp:
                t.tcp_flags[g] = TCP.cut(blk, "flags")
                t.tcp_seq[g] = TCP.cut(blk, "seq")
                self.pos[i] = payload
                at[i] = 0
            else:
                bounded = np.minimum(end, pos + length)
                unset = length == 0
                if unset.any():
                    bounded[unset] = end[unset]
                self.end[i] = bounded
                self.pos[i] = pos + UDP_HDR.min_len
                # as udp.decode: the lower port names the protocol when both are known
                low, high = np.minimum(sport, dport), np.maximum(sport, dport)
                port = np.where(c.next_of(UDP, low) != 0, low, high)
                at[i] = c.next_of(UDP, port)

    def finish(self, generic) -> None:
        """The cursor: where each row goes on, or ends; then the refused entry rows."""
        f, t, ix, mine = self.f, self.t, self.ix, self.mine
        passed = self.nl - self.nl0
        most = int(passed.max()) if len(passed) else 0
        cols = [(f.pos, self.pos), (f.end, self.end), (f.next, self.at)]
        if most:
            cols += [(t.nlayers, self.nl), (f.credit, f.credit[ix] + passed)]
            f.fused_bound += most
        if mine is None:
            for col, value in cols:
                col[ix] = value
            return
        i = np.flatnonzero(mine)
        g = self.glob(i)
        for col, value in cols:
            col[g] = value[i]
        if self.entry != self.c.eth and not mine.all():
            generic(f, self.rows[~mine])


def _spec(fields: list[tuple[Layout, str]]) -> tuple:
    """(offset, width, mask or -1, shift) of each field, from its layout's declaration."""
    out = []
    for layout, name in fields:
        f = layout.fields[name]
        if layout.little or f.width not in (1, 2, 3, 4, 16):
            raise ValueError(f"{layout.name}.{name}: the kernel reads big-endian 1-4 or 16 bytes")
        out.append((f.offset, f.width, -1 if f.mask is None else f.mask, f.shift))
    return tuple(out)


_KERNEL_MODULE = None


def numba_errors() -> type:
    """numba's own error class (compiling or typing the loop), once numba is imported."""
    import numba.core.errors
    return numba.core.errors.NumbaError


def _kernel():
    """kernel.py, imported (and its loop compiled or loaded from numba's cache) once."""
    global _KERNEL_MODULE
    if _KERNEL_MODULE is None:
        from . import kernel
        _KERNEL_MODULE = kernel
    return _KERNEL_MODULE


# what the kernel gets where no heads are wanted: no rows to keep them for
NO_HEADS = PayloadHeads(np.zeros((0, HEAD_BYTES), dtype=np.uint8), np.zeros(0, dtype=bool))


class KernelChain(Chain):
    """The numba backend: the same entries, each one call of kernel.run over its rows, which
    also passes the tunnels of a private network's lines (KERNEL_TUNNELS)."""

    fused = {**GENERIC, **KERNEL_TUNNELS}

    def __init__(self, dispatch):
        super().__init__(dispatch)
        from .keys import NAMESPACES
        kn = _kernel()
        self.kn = kn
        ids = self.ids
        fields = {
            kn.F_ETH_TYPE: (ETH, "type"), kn.F_VLAN_VID: (VLAN, "vid"),
            kn.F_VLAN_TYPE: (VLAN, "type"),
            kn.F_V4_VERSION: (IPV4, "version"), kn.F_V4_IHL: (IPV4, "ihl"),
            kn.F_V4_TOTAL: (IPV4, "total_len"), kn.F_V4_FRAG: (IPV4, "frag"),
            kn.F_V4_PROTO: (IPV4, "proto"), kn.F_V4_SRC: (IPV4, "src"),
            kn.F_V4_DST: (IPV4, "dst"),
            kn.F_V6_VERSION: (IPV6, "version"), kn.F_V6_PLEN: (IPV6, "payload_len"),
            kn.F_V6_NEXT: (IPV6, "next"), kn.F_V6_SRC: (IPV6, "src"), kn.F_V6_DST: (IPV6, "dst"),
            kn.F_SPORT: (TCP, "sport"), kn.F_DPORT: (TCP, "dport"), kn.F_TCP_SEQ: (TCP, "seq"),
            kn.F_TCP_OFF: (TCP, "data_off"), kn.F_TCP_FLAGS: (TCP, "flags"),
            kn.F_UDP_LEN: (UDP_HDR, "len"),
            kn.F_MPLS_LABEL: (SHIM, "label"), kn.F_MPLS_BOS: (SHIM, "bos"),
            kn.F_GRE_FLAGS: (GRE, "flags"), kn.F_GRE_VERSION: (GRE, "version"),
            kn.F_GRE_PROTO: (GRE, "proto"), kn.F_GRE_KEY: (GRE, "key"),
            kn.F_GRE_KEY_AFTER_CHECKSUM: (GRE, "key_after_checksum"),
            kn.F_ERSPAN_VERSION: (ERSPAN, "version"), kn.F_ERSPAN_SESSION: (ERSPAN, "session"),
            kn.F_VXLAN_VNI: (VXLAN, "vni"),
            kn.F_L2TP_FLAGS: (L2TP, "flags"), kn.F_L2TP_VERSION: (L2TP, "version"),
            kn.F_L2TP_LENGTH: (V2_HEADER, "length"), kn.F_L2TP_TUNNEL: (V2_HEADER, "tunnel"),
            kn.F_L2TP_SESSION: (V2_HEADER, "session"),
            kn.F_L2TP_TUNNEL_L: (V2_HEADER, "tunnel_l"),
            kn.F_L2TP_SESSION_L: (V2_HEADER, "session_l"),
            kn.F_PPP_ADDRESS: (PPP, "address"), kn.F_PPP_CONTROL: (PPP, "control"),
            kn.F_PPP_BYTE2: (PPP, "byte2"), kn.F_PPP_BYTE3: (PPP, "byte3"),
        }
        assert sorted(fields) == list(range(kn.N_FIELDS))
        self.spec = _spec([fields[slot] for slot in range(kn.N_FIELDS)])
        slots = {
            kn.K_ETH: ids["eth"], kn.K_VLAN: ids["vlan"], kn.K_IP4: ids["ipv4"],
            kn.K_IP6: ids["ipv6"], kn.K_TCP: ids["tcp"], kn.K_UDP: ids["udp"],
            kn.K_MPLS: ids["mpls"], kn.K_GRE: ids["gre"], kn.K_ERSPAN: ids["erspan"],
            kn.K_VXLAN: ids["vxlan"], kn.K_L2TP: ids["l2tp"], kn.K_PPP: ids["ppp"],
            kn.K_ETH_LEN: ETH.min_len, kn.K_VLAN_LEN: VLAN.min_len,
            kn.K_IP4_LEN: IPV4.min_len, kn.K_IP6_LEN: IPV6.min_len,
            kn.K_TCP_LEN: TCP.min_len, kn.K_UDP_LEN: UDP_HDR.min_len,
            kn.K_SHIM_LEN: SHIM.min_len, kn.K_GRE_LEN: GRE.min_len, kn.K_GRE_OPTION: gre.OPTION,
            kn.K_ERSPAN_II_LEN: erspan.LEN_II, kn.K_VXLAN_LEN: VXLAN.min_len,
            kn.K_L2TP_LEN: L2TP.min_len,
            kn.K_NS_LINKTYPE: LINKTYPE, kn.K_NS_ETHERTYPE: ETHERTYPE, kn.K_NS_PPP: PPP_NS,
            kn.K_NS_IPPROTO: IPPROTO, kn.K_NS_UDP: UDP, kn.K_KEY_SPACE: self.key_space,
            kn.K_LLC_KEY: LLC_KEY, kn.K_LLC_BELOW: ethernet.LLC_BELOW,
            kn.K_KEY_IPV4: ETHERTYPE_IPV4, kn.K_KEY_IPV6: ETHERTYPE_IPV6,
            kn.K_KEY_ETHERNET: LINKTYPE_ETHERNET, kn.K_KEY_PPP: l2tp.PPP_TYPE,
            kn.K_LINE_VLAN: LINE_VLAN, kn.K_LINE_QINQ: LINE_QINQ, kn.K_LINE_MPLS: LINE_MPLS,
            kn.K_LINE_GRE: LINE_GRE, kn.K_LINE_ERSPAN: LINE_ERSPAN,
            kn.K_LINE_VXLAN: LINE_VXLAN, kn.K_LINE_L2TP: LINE_L2TP,
            kn.K_TUN_MPLS: TUN_MPLS, kn.K_TUN_GRE: TUN_GRE, kn.K_TUN_ERSPAN: TUN_ERSPAN,
            kn.K_TUN_VXLAN: TUN_VXLAN, kn.K_TUN_L2TP: TUN_L2TP,
            kn.K_OK: OK, kn.K_UNSUPPORTED: UNSUPPORTED, kn.K_NONE: NONE,
            kn.K_MAX_LAYERS: MAX_LAYERS, kn.K_MAX_TUNNELS: MAX_TUNNELS,
            kn.K_V4_MAPPED: int(IPV4_MAPPED),
            kn.K_MPLS_LABELS: mpls.MAX_LABELS, kn.K_MPLS_GAL: mpls.GAL,
            kn.K_GRE_C: gre.C, kn.K_GRE_R: gre.R, kn.K_GRE_K: gre.K, kn.K_GRE_S: gre.S,
            kn.K_GRE_ERSPAN_II: gre.ERSPAN_II, kn.K_GRE_WCCP: gre.WCCP,
            kn.K_AUX_ERSPAN_I: ERSPAN_I, kn.K_ERSPAN_TYPE_II: erspan.TYPE_II,
            kn.K_L2TP_T: l2tp.T, kn.K_L2TP_L: l2tp.L, kn.K_L2TP_S: l2tp.S, kn.K_L2TP_O: l2tp.O,
            kn.K_L2TP_V2: l2tp.V2,
            kn.K_PPP_ADDRESS: ppp.ADDRESS, kn.K_PPP_CONTROL: ppp.CONTROL,
            kn.K_V4_OFFSET_BITS: ipv4.OFFSET_BITS,
        }
        assert sorted(slots) == list(range(kn.N_K))
        self.k = tuple(int(slots[slot]) for slot in range(kn.N_K))
        self.miss = dispatch.miss_status
        self.loaded = False          # the compiled loop has run once
        assert self.flat.dtype == np.int16 and len(self.flat) == NAMESPACES * self.key_space

    def run(self, f, rows: np.ndarray, entry: int, generic) -> None:
        t = f.table
        buf = f.buf
        if len(rows) == 0:
            return
        if int(f.end.max()) > len(buf):
            # a batch whose lengths run past its buffer: the bounds-checked numpy pass
            return super().run(f, rows, entry, generic)
        rows = np.asarray(rows, dtype=np.int64)
        refused = np.empty(len(rows), dtype=np.int64)
        if not self.loaded:
            try:   # the first call compiles the loop or loads it from the cache
                return self._run(f, t, buf, rows, entry, generic, refused)
            except (OSError, RuntimeError, numba_errors()) as e:
                if _WANT == "numba":
                    raise
                # nothing ran: the numpy pass does the same work, and later batches take
                # the generic decoders
                global KERNEL
                warnings.warn(f"the numba decode loop cannot be loaded ({e}): generic "
                              "decoders in use")
                KERNEL = "generic"
                return super().run(f, rows, entry, generic)
        return self._run(f, t, buf, rows, entry, generic, refused)

    def _run(self, f, t, buf, rows, entry, generic, refused) -> None:
        if f.heads is None and f.want_heads:
            f.heads = PayloadHeads(np.zeros((t.n, HEAD_BYTES), dtype=np.uint8),
                                   np.zeros(t.n, dtype=bool))
        heads = f.heads if f.heads is not None else NO_HEADS
        most, nref = self.kn.run(
            buf, rows, entry, f.max_rounds - 1 - f.round, self.spec, self.k, self.flat,
            self.miss, f.pos, f.end, f.next, f.aux, t.nlayers, t.layers, f.credit,
            t.status, t.status_layer, t.line_kind, t.line_a, t.line_b,
            t.ntun, t.tun_kind, t.tun_a, t.tun_b, t.ip_at_tunnel,
            t.n_ip, t.ip_ver, t.src_hi, t.src_lo, t.dst_hi, t.dst_lo, t.proto, t.frag_at,
            t.outer_ver, t.outer_src_hi, t.outer_src_lo, t.outer_dst_hi, t.outer_dst_lo,
            t.sport, t.dport, t.tcp_flags, t.tcp_seq, t.icmp_type, t.icmp_code,
            heads.values, heads.known, refused)
        self.loaded = True
        f.fused_bound += most
        if nref:
            generic(f, rows[refused[:nref]])
