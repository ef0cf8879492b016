"""The heap of a running sensor: what start-up built (modules, compiled loops and matchers,
the address plan, the flow table's arrays) lives as long as the process, and the cyclic
collector's full passes walk all of it again and again (one every million frames or so
on the bench mix, 60-80 ms each in a process that holds the bench's captures). Once a
sensor is built and running, what start-up left is collected and the rest frozen
(`gc.freeze`): later passes walk only what the traffic made. The collection itself costs
about as much as one such pass, so a replay settles only once it has read enough frames
to be long (`Settling`); a live worker settles as it starts."""
from __future__ import annotations

import gc

SETTLE_AFTER_FRAMES = 200_000   # a replay shorter than this ends before a pass would come


def settle() -> None:
    """Collect what is garbage now and freeze the rest; again after a reload (what the old
    configuration froze is collected then, once it is no longer held)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class Settling:
    """A replay inside a longer-lived process (the CLI under tests, a Dask worker): `seen`
    settles the heap once `after` frames have gone through, and the end of the `with` block
    gives what was frozen back to the collector."""

    def __init__(self, after: int = SETTLE_AFTER_FRAMES):
        self.after = after
        self.settled = False

    def seen(self, frames: int) -> None:
        """`frames`: how many the replay has taken so far."""
        if not self.settled and frames >= self.after:
            settle()
            self.settled = True

    def __enter__(self) -> "Settling":
        return self

    def __exit__(self, *exc) -> None:
        if self.settled:
            gc.unfreeze()
            self.settled = False
