"""The payload engine orders TCP segments stream by stream without sorting every row
(stream_walk.stream_rows: the batch's flow grouping, parted by direction). It must equal the
stable sort by flow (in the grouping's order), then direction, then arrival."""
import numpy as np
import pytest

from ybsensor.detectors.stream_walk import stream_rows

TCP = 6


def _walk(order, rows, flow, up, proto):
    n = len(flow)
    zeros = np.zeros(n, np.int64)
    src = np.where(up, 2, 1).astype(np.uint64)         # the higher endpoint sends direction 1
    dst = np.where(up, 1, 2).astype(np.uint64)
    seq = np.zeros(n, np.int64)
    out_rows, out_sid, others = (np.empty(len(rows), np.int64) for _ in range(3))
    got = stream_rows(order, rows, flow, proto, seq, src, zeros.astype(np.uint64), zeros,
                      dst, zeros.astype(np.uint64), zeros, TCP, np.zeros(n, np.int8),
                      out_rows, out_sid, others)
    n_seg, n_o, top = got
    return out_rows[:n_seg], out_sid[:n_seg], others[:n_o], top


@pytest.mark.parametrize("seed", range(20))
def test_stream_rows_equal_a_stable_sort_by_flow_then_direction(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    flow = rng.integers(0, int(rng.integers(1, 30)), n)       # a flow id per row
    up = rng.random(n) < rng.random()                         # direction per row
    proto = np.where(rng.random(n) < 0.9, TCP, 17)
    # rows flow by flow in arrival order, flows in any order (as FlowGroups lists them)
    flow_rank = rng.permutation(flow.max() + 1)[flow]
    order = np.argsort(flow_rank, kind="stable")
    rows = np.sort(rng.choice(n, int(rng.integers(0, n + 1)), replace=False))   # plaintext
    seg_rows, sid, others, top = _walk(order, rows, flow, up, proto)
    tcp = rows[proto[rows] == TCP]
    want = tcp[np.lexsort((tcp, up[tcp], flow_rank[tcp]))]    # flow, direction, arrival
    assert seg_rows.tolist() == want.tolist()
    assert sid.tolist() == (2 * flow[want] + up[want]).tolist()
    assert others.tolist() == rows[proto[rows] != TCP].tolist()
    assert top == (int(sid.max()) if sid.size else -1)


def test_stream_rows_of_nothing():
    empty = np.zeros(0, dtype=np.int64)
    seg_rows, sid, others, top = _walk(empty, empty, empty, np.zeros(0, bool), empty)
    assert seg_rows.size == sid.size == others.size == 0 and top == -1
