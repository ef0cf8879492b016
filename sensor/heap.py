"""The heap of a running sensor: what start-up built (modules, compiled loops and matchers,
the address plan, the flow table's arrays) lives as long as the process, and the cyclic
collector's full passes walk all of it again and again (one every million frames or so
on the bench mix, 60-80 ms each in a process that holds the bench's captures). Once a sensor is built, what start-up left is collected and the rest frozen
(`gc.freeze`): later passes walk only what the traffic made."""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


def settle() -> None:
    """Collect what is garbage now and freeze the rest; again after a reload (what the old
    configuration froze is collected then, once it is no longer held)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@contextmanager
def settled() -> Iterator[None]:
    """`settle` for a run inside a longer-lived process (the CLI under tests, a Dask
    worker): what was frozen is the collector's again at the end."""
    settle()
    try:
        yield
    finally:
        gc.unfreeze()
