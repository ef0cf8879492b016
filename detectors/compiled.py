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
