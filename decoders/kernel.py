"""The decoders' compiled loop over rows (numba); fastpath.py enters it.

`run` takes each row from its entry layer (Ethernet, IPv4 or IPv6) through every layer that
has a compiled step: the `fused` functions the protocol modules declare in their `PROTOCOL`
(a header's common form: Ethernet, VLAN tags, IPv4, IPv6, TCP, UDP, an MPLS stack over IP,
GRE version 0, ERSPAN type II, VXLAN, L2TPv2 data and the PPP inside it). A step reads its
header at the row's cursor and writes its columns as the layer's generic decoder would, or
declines (a cut, odd or rarer header): the row then stops before that layer, in the state
the generic decoders would leave it, and the driver goes on from there. Which layer follows
a key comes from the dispatch's flat table; which step takes a layer is `step`, a ladder
generated here from the declarations, one branch a step.

The steps and what they call (`layout.compiled` functions) are plain Python that numba
compiles here: the steps inline into `run`, their helpers once each. numba keys its cache of
`run` by this file's stamp and by the values in its closure: `SOURCES`, a digest of the
decoders' sources, is one, so a change to a step in any protocol module compiles the loop
again. How every loop is compiled, `jit`, and the intrinsics are in core/loops.py.
"""
from __future__ import annotations

import hashlib
import types
from collections import namedtuple
from pathlib import Path

import numpy as np
import numba

from ybsensor.core.loops import PREFETCH_AHEAD, jit, prefetch

from .keys import KEY_SPACE, OK, UNSUPPORTED
from .layout import COMPILED
from .registry import PROTOCOLS
from .table import MAX_LAYERS

# the columns the loop reads and writes, by name: the decode state's (driver.Frames), the
# table's, and the payload heads' (table.PayloadHeads)
Columns = namedtuple("Columns", (
    "pos", "end", "next", "aux", "credit",
    "status", "status_layer", "nlayers", "layers", "line_kind", "line_a", "line_b",
    "ntun", "tun_kind", "tun_a", "tun_b", "ip_at_tunnel", "n_ip", "ip_ver",
    "src_hi", "src_lo", "dst_hi", "dst_lo", "proto", "frag_at",
    "outer_ver", "outer_src_hi", "outer_src_lo", "outer_dst_hi", "outer_dst_lo",
    "sport", "dport", "tcp_flags", "tcp_seq", "icmp_type", "icmp_code",
    "head_values", "head_known"))

# (layer name, its generic decoder, its compiled step) of every fused layer, registry order
FUSED = [(name, p.layers[name], fn) for p in PROTOCOLS for name, fn in p.fused.items()]
_COMPILED: dict = {}


def _compiled(fn, inline: str = "never"):
    """fn compiled, with the compiled form of every `layout.compiled` function in its
    globals (the protocol modules import no numba). The steps are inlined into the loop;
    what they call is compiled once and left to LLVM to inline (inlining it too in numba's
    IR took most of the compile time)."""
    if fn not in _COMPILED:
        scope = dict(fn.__globals__)
        for name in fn.__code__.co_names:
            if any(scope.get(name) is c for c in COMPILED):
                scope[name] = _compiled(scope[name])
        _COMPILED[fn] = numba.njit(inline=inline, nogil=True, _nrt=False)(types.FunctionType(
            fn.__code__, scope, fn.__name__, fn.__defaults__, fn.__closure__))
    return _COMPILED[fn]


def _ladder(steps) -> str:
    """The source of `step(at, ids, ...)`: the step of the layer whose id (ids[i], that of
    FUSED[i] in this dispatch) is `at`; (False, ...) where none is."""
    out = ["def step(at, ids, buf, g, p, e, nl, flat, c):"]
    for i in range(len(steps)):
        out += [f"    {'el' if i else ''}if at == ids[{i}]:",
                f"        return step_{i}(buf, g, p, e, at, nl, flat, c)"]
    return "\n".join(out + ["    return False, p, e, -1, 0"])


_namespace = {f"step_{i}": _compiled(fn, "always") for i, (_, _, fn) in enumerate(FUSED)}
exec(_ladder(FUSED), _namespace)
step = numba.njit(inline="always")(_namespace["step"])

# what the compiled loop is made of: every module of the decoders (steps, the layouts and
# constants they read, the registry's order, which sets the line and tunnel ids)
SOURCES = int(hashlib.sha256(b"".join(path.read_bytes() for path in sorted(
    Path(__file__).parent.glob("*.py")))).hexdigest()[:15], 16)

# Rows ahead whose lines of the columns are prefetched. Each row writes some 30 columns, a
# stream each: more than the hardware prefetcher follows, so without this the loop waited on
# most of them (a third of its time on a batch that other work has pushed out of the cache).
COLUMNS_AHEAD = 64


@jit(inline="always")
def _prefetch_row(cols, g):
    """Prefetch row g of each column of `cols` (all of one row width; of a 2-D column, the
    row's first byte) where row g starts a new 64-byte line of it: once a line, for
    consecutive rows."""
    width = cols[0].strides[0]
    if ((g * width) & 63) < width:
        for col in cols:
            prefetch(col, g)


def _compile(sources: int):
    @jit
    def run(buf, rows, entry, left, ids, flat, miss, c, refused):
        """Pass the fused layers of each row of `rows` (which reached layer `entry`; `ids`:
        the layer id of each FUSED step, -1 where this dispatch has another decoder); write
        the columns `c` and the row's cursor. Returns (the most layers a row passed past its
        entry, the count of entry rows refused: their indices in `rows` are
        refused[:count], for the entry's generic decoder). A row whose decoding ends here
        gets its payload's first head_values.shape[1] bytes copied to head_values[row]
        (zero past the payload) and head_known[row] set: its frame's lines are in the cache
        now, later they are not."""
        sources        # noqa: B018 - in the closure, so in numba's cache key
        most = 0
        nref = 0
        nrows = rows.shape[0]
        for r in range(nrows):
            if r + PREFETCH_AHEAD < nrows:
                ahead = c.pos[rows[r + PREFETCH_AHEAD]]
                prefetch(buf, ahead)
                prefetch(buf, ahead + 64)          # headers may cross into the next line
            if r + COLUMNS_AHEAD < nrows:
                ahead = rows[r + COLUMNS_AHEAD]
                _prefetch_row((c.pos, c.end, c.aux, c.credit, c.line_a, c.line_b, c.proto,
                               c.frag_at, c.sport, c.dport, c.tcp_flags, c.tcp_seq,
                               c.icmp_type, c.icmp_code), ahead)
                _prefetch_row((c.src_hi, c.src_lo, c.dst_hi, c.dst_lo, c.outer_src_hi,
                               c.outer_src_lo, c.outer_dst_hi, c.outer_dst_lo), ahead)
                _prefetch_row((c.status, c.status_layer, c.nlayers, c.line_kind, c.ntun,
                               c.ip_at_tunnel, c.n_ip, c.ip_ver, c.outer_ver), ahead)
                _prefetch_row((c.tun_a, c.tun_b), ahead)
                _prefetch_row((c.next,), ahead)
                _prefetch_row((c.tun_kind,), ahead)
                _prefetch_row((c.layers,), ahead)
                _prefetch_row((c.head_values,), ahead)
                _prefetch_row((c.head_known,), ahead)
            g = rows[r]
            p = c.pos[g]
            e = c.end[g]
            nl0 = np.int64(c.nlayers[g])
            nl = nl0
            room = min(MAX_LAYERS, nl0 + left - c.credit[g])
            at = np.int64(entry)
            first = True        # at the entry layer, which the driver has recorded already
            refuse = False
            # Each pass takes the layer `at`: where its step declines (or the chain or the
            # rounds are full) the row stops before it, for its generic decoder (at the
            # entry: refused, for the entry's generic decoder now); else the step has written
            # its columns, the cursor moves past it, and (ns, key) name what follows (ns -1:
            # the row ends here, ok).
            while first or nl < room:
                passed, p_next, e_next, ns, key = step(at, ids, buf, g, p, e, nl, flat, c)
                if not passed:
                    refuse = first
                    break
                p, e = p_next, e_next
                if not first:
                    c.layers[g, nl] = at
                    nl += 1
                first = False
                if ns < 0:
                    at = 0
                    break
                last = at
                at = np.int64(flat[ns * KEY_SPACE + key])
                if at == 0 and miss[ns] != OK:     # a carrier with no decoder
                    c.status[g] = UNSUPPORTED
                    c.status_layer[g] = last
            if refuse:                             # the entry's generic decoder takes it
                refused[nref] = r
                nref += 1
                continue
            c.pos[g] = p
            c.end[g] = e
            c.next[g] = at
            if at == 0 and c.head_values.shape[0]:  # done: its payload's head, as the
                take = 0                            # table will give payload_off/len
                if c.status[g] == OK:
                    take = min(max(e - p, 0), c.head_values.shape[1])
                for j in range(take):
                    c.head_values[g, j] = buf[p + j]
                c.head_known[g] = True
            if nl > nl0:
                c.nlayers[g] = nl
                c.credit[g] += nl - nl0
                most = max(most, nl - nl0)
        return most, nref
    return run


run = _compile(SOURCES)
