"""The payload engine orders TCP segments stream by stream without sorting every row: the
batch's flow grouping, parted by direction by counting. It must equal the stable sort."""
import numpy as np
import pytest

from ybsensor.detectors.streams import _part_by_direction


@pytest.mark.parametrize("seed", range(20))
def test_part_by_direction_equals_a_stable_sort_by_flow_then_direction(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    flow = rng.integers(0, int(rng.integers(1, 30)), n)       # a flow id per row
    up = rng.random(n) < rng.random()                         # direction per row
    # rows flow by flow in arrival order, flows in any order (as FlowGroups lists them)
    flow_rank = rng.permutation(flow.max() + 1)[flow]
    by_flow = np.argsort(flow_rank, kind="stable")
    got = _part_by_direction(by_flow, flow, up)
    want = np.lexsort((np.arange(n), up, flow_rank))          # flow, then direction, then arrival
    assert got.tolist() == want.tolist()


def test_part_by_direction_of_nothing():
    empty = np.zeros(0, dtype=np.int64)
    assert _part_by_direction(empty, empty, np.zeros(0, dtype=bool)).size == 0
