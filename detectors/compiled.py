"""Calling the payload engine's compiled loops (payload_kernels.py): `call(name, *args)`
gives the loop's result. The module is imported on first use (it imports the detectors'
tables), so a process whose detectors never look into payloads does not load it.

`on()` says whether the stream regions take their compiled loops (streams.py), which
tests turn off to compare them with the numpy code there."""
from __future__ import annotations

import importlib

_kernels = None


def on() -> bool:
    return True


def call(name: str, *args):
    global _kernels
    if _kernels is None:
        _kernels = importlib.import_module("ybsensor.detectors.payload_kernels")
    return getattr(_kernels, name)(*args)
