"""The heap settled once a replay is long (sensor/heap.py): garbage collected, the rest
frozen out of the collector's passes for the run, and given back to it at the end."""
import gc
import weakref

import pytest

from ybsensor.sensor.heap import Settling, settle


class Node:
    pass


@pytest.fixture(autouse=True)
def no_automatic_collection():
    """Only the collections the code asks for: an automatic one could free the planted
    cycles before the code under test does."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _tracked(obj) -> bool:
    """Whether the collector's generations hold `obj` (frozen objects are in none)."""
    return any(o is obj for o in gc.get_objects())


def test_a_long_replay_collects_garbage_and_freezes_what_lives():
    cycle = Node()
    cycle.me = cycle                   # garbage only the cyclic collector frees
    gone = weakref.ref(cycle)
    del cycle
    alive = Node()
    assert gone() is not None and _tracked(alive)
    with Settling(after=1000) as heap:
        heap.seen(999)                 # a short replay pays no collection
        assert gone() is not None and gc.get_freeze_count() == 0
        heap.seen(1000)
        assert gone() is None          # collected, not frozen with the rest
        assert gc.get_freeze_count() > 0
        assert not _tracked(alive)     # out of the collector's passes
        made = Node()
        assert _tracked(made)          # what the run makes is the collector's
    assert gc.get_freeze_count() == 0 and _tracked(alive)


def test_settle_again_lets_the_collector_free_what_the_first_froze():
    old = Node()
    old.me = old
    gone = weakref.ref(old)
    settle()
    try:
        del old                        # a reload drops the old stages: frozen garbage
        assert gone() is not None
        settle()
        assert gone() is None
    finally:
        gc.unfreeze()
