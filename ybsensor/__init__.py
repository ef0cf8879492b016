"""ybsensor: a packet-level sensor for the medical-insurance private network's edges.

The code lives in five subpackages, each importing only those before it:
`ybsensor.decoders` (headers into a table of columns), `ybsensor.core` (what the detectors
and the application share: flow grouping, the address plan and its zone bits, the compiled
loops' making), `ybsensor.detectors` (the rules), `ybsensor.exporters` (alert log, evidence,
metrics, event logs) and `ybsensor.sensor` (the application that wires them).

For notebooks (ybsensor/api.py, imported on first use so that the command line starts
without pyarrow): `ybsensor.read(path)` -> a pyarrow.Table of the decoded frames;
`ybsensor.replay(paths, config)` -> `.alerts` (list of dicts), `.flows` and `.events`
(pyarrow.Tables).
"""
import os as _os

# In a checkout the folders sit beside this one (the repository's layout); an install
# maps them under this package. Either way `ybsensor.sensor` is the one name they go by.
_CHECKOUT = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_CHECKOUT, "sensor", "cli.py")) and _CHECKOUT not in __path__:
    __path__.append(_CHECKOUT)

_API = frozenset(("read", "replay", "Replay", "CaptureError", "ConfigError"))


def __getattr__(name: str):
    if name in _API:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'ybsensor' has no attribute {name!r}")
