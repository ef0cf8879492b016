"""Calling the payload engine's compiled loops (payload_kernels.py): `call(name, *args)`
gives the loop's result. The module is imported on first use (it imports the detectors'
tables), so a process whose detectors never look into payloads does not load it."""
from __future__ import annotations

import importlib

_kernels = None


def call(name: str, *args):
    global _kernels
    if _kernels is None:
        _kernels = importlib.import_module("ybsensor.detectors.payload_kernels")
    return getattr(_kernels, name)(*args)
