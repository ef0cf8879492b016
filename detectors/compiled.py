"""The payload engine's compiled loops (payload_kernels.py), behind the switch that every
compiled loop follows (decoders/compiled.py): `call(name, *args)` gives the loop's result,
or None where the numpy code runs."""
from __future__ import annotations

from ybsensor.decoders import compiled as switch

PAYLOAD = switch.Loops("ybsensor.detectors.payload_kernels")


def on() -> bool:
    return switch.on()


def call(name: str, *args):
    return PAYLOAD.call(name, *args) if on() else None


COMPILE_AT = 4096     # elements of one call that pay numba's load before the switch turns on


def call_sized(name: str, size: int, *args):
    """`call` for a loop that runs interpreted where it is not compiled (stream_walk's):
    also compiled before the decoders' switch turns on where one call has `size` >=
    COMPILE_AT elements and numba could run (interpreted, such a call costs more than
    numba's load)."""
    if on() or (size >= COMPILE_AT and switch.ENABLED and switch.fastpath.ENABLED
                and switch.fastpath.KERNEL == "numba"):
        return PAYLOAD.call(name, *args)
    return None
