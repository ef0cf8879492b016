"""The compiled decode loop's entries: the rows that reached Ethernet, IPv4 or IPv6 go
through kernel.py's loop, which passes the commonest chains (Ethernet, VLAN tags, IPv4, IPv6,
TCP, UDP) and the tunnels of a private network's lines in their common forms (MPLS, GRE,
ERSPAN II, VXLAN, L2TPv2/PPP) in one call, writing every column as the generic decoders
would; a row leaves the loop where its next layer is not fused, or before a header that is
cut, odd or a rarer variant, and the driver's generic decoders go on from there. The loop
and the generic decoders are the only decoding logic; the references that tests compare
them with are tshark, the tcpdump corpus and dpkt.

Each layer fused past the entry is a round the row does not spend in the driver;
`Frames.credit` counts them so that the round limit falls where it falls without the loop.
Field offsets come from the layouts that the protocol modules declare, and which layer
follows which key from the dispatch table.

`YBSENSOR_DECODE_KERNEL`: `auto` (the default: the compiled loop once the process has decoded
KERNEL_AFTER_FRAMES frames, or at once after `load_kernel_now`), `numba` (at once, and a
failure to compile is an error) or `generic` (the per-layer decoders alone: the reference the
loop is tested against, and what runs where no JIT is allowed). `numpy`, a backend removed,
reads as `generic`. `ENABLED = False` or `decode(batch, fast=False)` turns the loop off;
`fast=True` or `fast="numba"` takes it at once.
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
from .ethernet import ETH, LLC_KEY, VLAN
from .gre import GRE
from .ipv4 import IPV4
from .ipv6 import IPV6
from .keys import (ERSPAN_I, ETHERTYPE, ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO, LINKTYPE,
                   LINKTYPE_ETHERNET, OK, PPP as PPP_NS, UDP, UNSUPPORTED)
from .l2tp import L2TP, V2_PARTS
from .layout import IPV4_MAPPED, Layout
from .mpls import SHIM
from .ppp import PPP
from .table import HEAD_BYTES, MAX_LAYERS, MAX_TUNNELS, NONE, PayloadHeads
from .tcp import TCP
from .udp import UDP as UDP_HDR
from .vxlan import VXLAN

ENABLED = True
BACKENDS = ("numba", "generic")


def numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None


_WANT = os.environ.get("YBSENSOR_DECODE_KERNEL", "auto")
_WANT = "generic" if _WANT == "numpy" else _WANT
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
    `frames`), False the generic decoders, True the compiled loop, or a name."""
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
        return "numba"
    if fast not in BACKENDS:
        raise ValueError(f"unknown decode backend {fast!r}")
    return fast


# the generic decoder of each layer the loop passes; where a dispatch maps one of these names
# to another function (a test's, a variant), rows leave the loop at that layer
FUSED = {"eth": ethernet.decode_eth, "vlan": ethernet.decode_vlan, "ipv4": ipv4.decode,
         "ipv6": ipv6.decode, "tcp": tcp.decode, "udp": udp.decode, "mpls": mpls.decode,
         "gre": gre.decode, "erspan": erspan.decode, "vxlan": vxlan.decode,
         "l2tp": l2tp.decode, "ppp": ppp.decode}
ENTRIES = ("eth", "ipv4", "ipv6")
# the ports are read once for TCP and UDP rows alike
assert all(TCP.fields[k] == UDP_HDR.fields[k] for k in ("sport", "dport"))

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def decoders_for(dispatch, kind: str = "numba") -> list:
    """The dispatch's decoder list with the compiled loop's entries in place of the generic
    ones (`kind` "numba"), or the generic decoders alone."""
    global KERNEL
    if kind == "generic":
        return dispatch.decoders
    per = _CACHE.setdefault(dispatch, {})
    got = per.get(kind)
    if got is None:
        try:
            chain = KernelChain(dispatch)
        except (ImportError, OSError) as e:
            if _WANT == "numba":
                raise
            # a broken install, or no JIT allowed (a W^X policy such as systemd's
            # MemoryDenyWriteExecute: llvmlite cannot map executable memory)
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


class KernelChain:
    """The entries of the compiled loop: each one call of kernel.run over the rows that
    reached Ethernet, IPv4 or IPv6, passing every layer of FUSED it can (kernel.py says
    which forms); the rest stay for their generic decoders."""

    def __init__(self, dispatch):
        from .dispatch import KEY_SPACE
        from .keys import NAMESPACES
        self.key_space = KEY_SPACE
        self.flat = dispatch.flat
        self.names = dispatch.layer_names
        ids = {}
        for name, fn in FUSED.items():
            lid = dispatch.layer_ids.get(name, -1)
            fits = lid > 0 and dispatch.decoders[lid].fn is fn and dispatch.decoders[lid].visible
            ids[name] = lid if fits else -1      # -1 matches no row: rows leave there
        self.ids = ids
        kn = _kernel()
        self.kn = kn
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
            kn.F_GRE_PROTO: (GRE, "proto"),
            kn.F_ERSPAN_VERSION: (ERSPAN, "version"), kn.F_ERSPAN_SESSION: (ERSPAN, "session"),
            kn.F_VXLAN_VNI: (VXLAN, "vni"),
            kn.F_L2TP_FLAGS: (L2TP, "flags"), kn.F_L2TP_VERSION: (L2TP, "version"),
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
            kn.K_SHIM_LEN: SHIM.min_len, kn.K_GRE_LEN: GRE.min_len,
            kn.K_ERSPAN_II_LEN: erspan.LEN_II, kn.K_VXLAN_LEN: VXLAN.min_len,
            kn.K_L2TP_LEN: L2TP.min_len,
            kn.K_NS_LINKTYPE: LINKTYPE, kn.K_NS_ETHERTYPE: ETHERTYPE, kn.K_NS_PPP: PPP_NS,
            kn.K_NS_IPPROTO: IPPROTO, kn.K_NS_UDP: UDP, kn.K_KEY_SPACE: self.key_space,
            kn.K_LLC_KEY: LLC_KEY, kn.K_LLC_BELOW: ethernet.LLC_BELOW,
            kn.K_KEY_IPV4: ETHERTYPE_IPV4, kn.K_KEY_IPV6: ETHERTYPE_IPV6,
            kn.K_KEY_ETHERNET: LINKTYPE_ETHERNET, kn.K_KEY_PPP: l2tp.PPP_TYPE,
            kn.K_LINE_VLAN: ethernet.VLAN_LINE.id, kn.K_LINE_QINQ: ethernet.QINQ_LINE.id,
            kn.K_LINE_MPLS: mpls.LINE.id, kn.K_LINE_GRE: gre.LINE.id,
            kn.K_LINE_ERSPAN: erspan.LINE.id, kn.K_LINE_VXLAN: vxlan.LINE.id,
            kn.K_LINE_L2TP: l2tp.LINE.id,
            kn.K_TUN_MPLS: mpls.TUNNEL.id, kn.K_TUN_GRE: gre.TUNNEL.id,
            kn.K_TUN_ERSPAN: erspan.TUNNEL.id, kn.K_TUN_VXLAN: vxlan.TUNNEL.id,
            kn.K_TUN_L2TP: l2tp.TUNNEL.id,
            kn.K_OK: OK, kn.K_UNSUPPORTED: UNSUPPORTED, kn.K_NONE: NONE,
            kn.K_MAX_LAYERS: MAX_LAYERS, kn.K_MAX_TUNNELS: MAX_TUNNELS,
            kn.K_V4_MAPPED: int(IPV4_MAPPED),
            kn.K_MPLS_LABELS: mpls.MAX_LABELS, kn.K_MPLS_GAL: mpls.GAL,
            kn.K_GRE_R: gre.R, kn.K_GRE_S: gre.S,
            kn.K_GRE_ERSPAN_II: gre.ERSPAN_II, kn.K_GRE_WCCP: gre.WCCP,
            kn.K_AUX_ERSPAN_I: ERSPAN_I, kn.K_ERSPAN_TYPE_II: erspan.TYPE_II,
            kn.K_L2TP_T: l2tp.T, kn.K_L2TP_O: l2tp.O,
            kn.K_L2TP_V2: l2tp.V2,
            kn.K_PPP_ADDRESS: ppp.ADDRESS, kn.K_PPP_CONTROL: ppp.CONTROL,
            kn.K_V4_OFFSET_BITS: ipv4.OFFSET_BITS,
            kn.K_GRE_KEY_PART: gre.WORDS.index["key"],
            kn.K_L2TP_LENGTH_PART: V2_PARTS.index["length"],
            kn.K_L2TP_TUNNEL_PART: V2_PARTS.index["tunnel"],
            kn.K_L2TP_SESSION_PART: V2_PARTS.index["session"],
        }
        assert sorted(slots) == list(range(kn.N_K))
        self.k = tuple(int(slots[slot]) for slot in range(kn.N_K))
        self.miss = dispatch.miss_status
        self.loaded = False          # the compiled loop has run once
        assert self.flat.dtype == np.int16 and len(self.flat) == NAMESPACES * self.key_space

    def entry(self, layer_id: int, generic):
        def fused(f, rows):
            self.run(f, rows, layer_id, generic)
        fused.__qualname__ = fused.__name__ = f"fused_{self.names[layer_id]}"
        return fused

    def run(self, f, rows: np.ndarray, entry: int, generic) -> None:
        t = f.table
        buf = f.buf
        if len(rows) == 0:
            return
        if int(f.end.max()) > len(buf):
            # a batch whose lengths run past its buffer: the bounds-checked generic decoder
            return generic(f, rows)
        rows = np.asarray(rows, dtype=np.int64)
        refused = np.empty(len(rows), dtype=np.int64)
        if not self.loaded:
            try:   # the first call compiles the loop or loads it from the cache
                return self._run(f, t, buf, rows, entry, generic, refused)
            except (OSError, RuntimeError, numba_errors()) as e:
                if _WANT == "numba":
                    raise
                # nothing ran: this batch and the later ones take the generic decoders
                global KERNEL
                warnings.warn(f"the numba decode loop cannot be loaded ({e}): generic "
                              "decoders in use")
                KERNEL = "generic"
                return generic(f, rows)
        return self._run(f, t, buf, rows, entry, generic, refused)

    def _run(self, f, t, buf, rows, entry, generic, refused) -> None:
        if f.heads is None and f.want_heads:
            f.heads = PayloadHeads(np.zeros((t.n, HEAD_BYTES), dtype=np.uint8),
                                   np.zeros(t.n, dtype=bool))
        heads = f.heads if f.heads is not None else NO_HEADS
        most, nref = self.kn.run(
            buf, rows, entry, f.max_rounds - 1 - f.round, self.spec, self.k, gre.WORDS.table,
            V2_PARTS.table, self.flat,
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
