"""Whether the compiled loops beyond the decoders run (numba), and calling them.

The payload engine's loops (detectors/payload_kernels.py) and the flow table's
(core/flow_kernels.py) follow the decoders' switch (fastpath.py): on where the decode
kernel is the backend, that is numba installed, `YBSENSOR_DECODE_KERNEL` auto or numba, and
the process past `KERNEL_AFTER_FRAMES` frames or told `load_kernel_now()`. So a short replay
does not pay numba's import (about 0.3 s), and where the decoders found no JIT allowed (a W^X
policy) these are off too. `ENABLED = False` turns them off alone (tests). Each loop computes
what the numpy code beside its caller computes; that code stays as the fallback and as the
reference the tests compare the loops with. Every loop returns a value (a count, a flag):
None from `Loops.call` means the numpy code runs.
"""
from __future__ import annotations

import importlib
import warnings

from . import fastpath

ENABLED = True
_refused = False


def on() -> bool:
    return ENABLED and not _refused and fastpath.backend() == "numba"


class Loops:
    """The compiled loops of one module, imported on first use."""

    def __init__(self, module: str):
        self.module = module
        self._loops = None
        self._loaded: set[str] = set()     # loops that ran once: compiled or loaded from cache

    def call(self, name: str, *args):
        """<module>.<name>(*args) where `on()` said yes, or None where the loop cannot run
        here (then `on()` says no from now on, and the numpy code runs: said once)."""
        if _refused:
            return None
        if self._loops is None:
            try:
                self._loops = importlib.import_module(self.module)
            except (ImportError, OSError) as e:     # a broken install; no JIT allowed (W^X)
                return _refuse(e)
        fn = getattr(self._loops, name)
        if name in self._loaded:
            return fn(*args)
        try:        # the first call compiles the loop or loads it from numba's cache
            out = fn(*args)
        except (OSError, RuntimeError, fastpath.numba_errors()) as e:
            return _refuse(e)
        self._loaded.add(name)
        return out


def _refuse(e: Exception) -> None:
    global _refused
    if fastpath._WANT == "numba":       # asked for by name: an error, not a fallback
        raise e
    _refused = True
    warnings.warn(f"numba cannot run here ({e}): the numpy code in use")
    return None
