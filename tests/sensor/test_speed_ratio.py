"""The short speed check of `make test`: on a small mixed pcap, ybsensor (file to PacketTable)
must stay at least MIN_RATIO times faster than a per-packet dpkt loop doing the same
decapsulation (bench/peers.py), so that a per-packet Python path cannot creep back into the
hot path. Both are timed as the median CPU time of several interleaved runs (robust to
other work on the machine); no absolute time is asserted. The full comparison is
`python bench/peers.py`."""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.mixed import SMALL, mixed_pcap  # noqa: E402
from bench.peers import dpkt_loop, ybsensor_file  # noqa: E402

MIN_RATIO = 10.0
YBSENSOR_RUNS = 9
DPKT_RUNS = 5


def _cpu(fn):
    t0 = time.process_time()
    result = fn()
    return time.process_time() - t0, result


@pytest.fixture
def small_mixed(require_module) -> Path:
    require_module("dpkt")  # skipped where missing, a failure under CI=true
    require_module("scapy")  # builds the templates of the mix
    return mixed_pcap(SMALL)


def test_mixed_pcap_reaches_every_inner_tuple(small_mixed):
    """The mix is what it claims: every frame leads dpkt to an inner IP header, and every
    one but the later IPv4 fragments (bench/mixed.py: 1 % of frames are fragments, half of
    them the later ones, which carry no transport header) to its ports too."""
    tuples = dpkt_loop(small_mixed, limit=5000)
    assert len(tuples) == 5000
    assert all(t is not None for t in tuples)
    portless = [t for t in tuples if t[5] is None]
    assert len(portless) <= len(tuples) // 100 and all(t[4] == 17 for t in portless)
    lines = {t[0][0] for t in tuples if t[0]}
    assert lines >= {"vlan", "qinq", "mpls", "gre", "l2tp", "erspan", "vxlan"}


def test_ybsensor_at_least_10x_dpkt_loop(small_mixed):
    frames = ybsensor_file(small_mixed)  # warm: imports, page cache, first-call costs
    assert frames == SMALL
    yb, dp = [], []
    for i in range(YBSENSOR_RUNS):  # interleaved, so that a burst of load hits both
        yb.append(_cpu(lambda: ybsensor_file(small_mixed))[0])
        if i < DPKT_RUNS:
            seconds, tuples = _cpu(lambda: dpkt_loop(small_mixed))
            dp.append(seconds)
    assert len(tuples) == frames
    yb_s, dp_s = statistics.median(yb), statistics.median(dp)
    ratio = dp_s / yb_s
    assert ratio >= MIN_RATIO, (
        f"ybsensor file-to-table {frames / yb_s:,.0f} frames/s is only {ratio:.1f}x the dpkt "
        f"loop's {frames / dp_s:,.0f} frames/s (need {MIN_RATIO:.0f}x); medians of "
        f"{YBSENSOR_RUNS} and {DPKT_RUNS} CPU-time runs on {small_mixed.name}")
