"""Decoders: Batch -> PacketTable, one module per protocol, wired by `dispatch`."""
from . import registry  # noqa: F401  (every protocol declared: line kinds, tunnels, faults)
from .batch import Batch
from .table import PacketTable


def decode(batch: Batch, options: dict | None = None, fast: bool | str | None = None,
           heads: bool = False) -> PacketTable:
    """Decode every frame of a batch into a PacketTable (`fast`: see fastpath.py; `heads`:
    keep the payload heads the decode kernel can copy, table.PayloadHeads)."""
    from . import dispatch, driver
    return driver.run(batch, dispatch.DEFAULT, options, fast, heads)


__all__ = ["Batch", "PacketTable", "decode"]
