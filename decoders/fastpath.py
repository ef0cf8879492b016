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
The loop takes the columns by name (kernel.Columns) and, per fused step that the protocol
modules declare, its layer's id in this dispatch; which layer follows which key comes from
the dispatch table.

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

from .keys import KEY_SPACE, NAMESPACES
from .table import HEAD_BYTES, PayloadHeads

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


ENTRIES = ("eth", "ipv4", "ipv6")

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
        except (ImportError, OSError, RuntimeError) as e:   # RuntimeError: loops.NoJit
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


_KERNEL_MODULE = None


def numba_errors() -> type:
    """numba's own error class (compiling or typing the loop), once numba is imported
    (NoJit's where it could not be)."""
    from ybsensor.core import loops     # imports numba, if it can
    if loops.numba is None:
        return loops.NoJit
    import numba.core.errors
    return numba.core.errors.NumbaError


def _kernel():
    """kernel.py, imported (and its loop compiled or loaded from numba's cache) once."""
    global _KERNEL_MODULE
    if _KERNEL_MODULE is None:
        from ybsensor.core import loops     # imports numba, if it can
        if loops.numba is None:     # numba's import failed (no executable memory): say why
            loops.require_jit()
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
        self.flat = dispatch.flat
        self.names = dispatch.layer_names
        self.kn = _kernel()
        # where a dispatch maps a fused layer's name to another function (a test's, a
        # variant), rows leave the loop at that layer: -1 matches no row
        self.ids = {}
        for name, fn, _ in self.kn.FUSED:
            lid = dispatch.layer_ids.get(name, -1)
            fits = lid > 0 and dispatch.decoders[lid].fn is fn and dispatch.decoders[lid].visible
            self.ids[name] = lid if fits else -1
        self.miss = dispatch.miss_status
        self.loaded = False          # the compiled loop has run once
        assert self.flat.dtype == np.int16 and len(self.flat) == NAMESPACES * KEY_SPACE

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
        named = {"head_values": heads.values, "head_known": heads.known}
        cols = self.kn.Columns._make(
            named[n] if n in named else getattr(t, n) if hasattr(t, n) else getattr(f, n)
            for n in self.kn.Columns._fields)
        most, nref = self.kn.run(buf, rows, entry, f.max_rounds - 1 - f.round,
                                 tuple(self.ids.values()), self.flat, self.miss, cols, refused)
        self.loaded = True
        f.fused_bound += most
        if nref:
            generic(f, rows[refused[:nref]])
