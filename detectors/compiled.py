"""Whether the payload engine's compiled loops (`payload_kernels.py`, numba) run.

They follow the decoders' switch (decoders/fastpath.py): on where the decode kernel is the
backend, that is numba installed, `YBSENSOR_DECODE_KERNEL` auto or numba, and the process
past `KERNEL_AFTER_FRAMES` frames or told `load_kernel_now()`. So a short replay does not
pay numba's import (about 0.3 s), and where the decoders found no JIT allowed (a W^X policy)
these are off too. `ENABLED = False` turns them off alone (tests). Each loop computes what
the numpy code beside its caller computes; that code stays as the fallback and as the
reference the tests compare the loops with.
"""
from __future__ import annotations

import warnings

from decoders import fastpath

ENABLED = True
_loops = None
_refused = False
_loaded: set[str] = set()       # loops that ran once: compiled or loaded from the cache


def on() -> bool:
    return ENABLED and not _refused and fastpath.backend() == "numba"


def call(name: str, *args):
    """payload_kernels.<name>(*args), or None where the compiled path is off or cannot run
    here (then the numpy code from now on, said once)."""
    global _loops
    if not on():
        return None
    if _loops is None:
        try:
            from . import payload_kernels
        except (ImportError, OSError) as e:     # a broken install; no JIT allowed (W^X)
            return _refuse(e)
        _loops = payload_kernels
    fn = getattr(_loops, name)
    if name in _loaded:
        return fn(*args)
    try:        # the first call compiles the loop or loads it from numba's cache
        out = fn(*args)
    except (OSError, RuntimeError, fastpath.numba_errors()) as e:
        return _refuse(e)
    _loaded.add(name)
    return out


def _refuse(e: Exception) -> None:
    global _refused
    if fastpath._WANT == "numba":       # asked for by name: an error, not a fallback
        raise e
    _refused = True
    warnings.warn(f"numba cannot run here ({e}): the payload engine's numpy code in use")
    return None
