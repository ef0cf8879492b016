"""Traffic counters: frames and bytes by encapsulation chain, and decode errors by reason."""
import numpy as np
import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP

from frames import link

from ybsensor.decoders import Batch, decode, dispatch
from ybsensor.sensor import stats as stats_mod
from ybsensor.core.flows import group_by
from ybsensor.sensor.stats import TrafficStats, count_distinct

pytestmark = pytest.mark.usefixtures("loop_backend")  # numpy and compiled loops


def test_count_distinct_in_order_of_first_appearance_with_exact_sums():
    keys = np.array([7, 3, 7, 9, 3, 7, -1], dtype=np.int64)
    weights = np.array([1, 10, 100, 1000, 10000, 100000, 5], dtype=np.int64)
    assert count_distinct(keys, weights) == [(7, 0, 3, 100101.0), (3, 1, 2, 10010.0),
                                             (9, 3, 1, 1000.0), (-1, 6, 1, 5.0)]
    assert count_distinct(np.zeros(0, dtype=np.int64)) == []


def test_many_distinct_values_are_each_counted():
    rng = np.random.default_rng(2)
    keys = rng.integers(0, 500, 20_000).astype(np.uint64)
    got = {k: c for k, _, c, _ in count_distinct(keys)}
    values, counts = np.unique(keys, return_counts=True)
    assert got == dict(zip(values.tolist(), counts.tolist()))


def test_few_or_many_distinct_values_as_the_grouping_sort_counts_them():
    """The one-pass count of few distinct values, and the sort past FEW of them, give what
    group_by gives, in the order of first appearance, for signed and unsigned keys."""
    rng = np.random.default_rng(5)
    for distinct in (1, 7, stats_mod.FEW, stats_mod.FEW + 1, 3000):
        for dtype in (np.int64, np.uint64):
            values = rng.integers(-2**62, 2**62, distinct).astype(dtype)
            keys = values[rng.integers(0, distinct, 10_000)]
            weights = rng.integers(0, 9000, len(keys))
            uniq, first, inverse = group_by(keys)
            order = np.argsort(first)
            want = list(zip(uniq[order].tolist(), first[order].tolist(),
                            np.bincount(inverse)[order].tolist(),
                            np.bincount(inverse, weights=weights)[order].tolist()))
            assert count_distinct(keys, weights) == want
            assert count_distinct(keys) == [w[:3] + (w[2],) for w in want]


def test_frames_and_bytes_by_chain_and_errors_by_reason():
    frames = [bytes(link(None) / IP() / TCP()), bytes(link(5) / IP() / UDP()),
              bytes(link(None) / IP() / TCP()), bytes(link(None) / ARP()),
              bytes(link(None) / IP() / TCP())[:20]]   # cut inside the IPv4 header
    stats = TrafficStats(dispatch.DEFAULT.layer_names)
    stats.process(decode(Batch.from_frames(frames)))
    assert stats.frames == 5
    assert stats.packets["eth/ipv4/tcp"] == 2
    assert stats.bytes["eth/ipv4/tcp"] == 2 * len(frames[0])
    assert stats.packets["eth/vlan/ipv4/udp"] == 1
    assert sum(stats.errors.values()) == 1 and sum(stats.non_ip.values()) == 1


def test_crafted_nests_cannot_raise_the_number_of_encap_labels():
    """3 000 frames of tunnels nested in random order (each chain distinct or nearly): the
    `encap` label takes at most ENCAP_LABELS values plus `other`, and every frame and byte
    is still counted under one of them."""
    import random

    from fuzzing import WRAPPERS, make_batch, nest

    rng = random.Random(16)
    names = sorted(WRAPPERS)
    frames = [nest([rng.choice(names) for _ in range(rng.randint(0, 9))], rng.randrange(4))[0]
              for _ in range(3000)]
    batch = make_batch(frames)
    t = decode(batch)
    chains = {tuple(t.layers[i, :t.nlayers[i]]) for i in range(t.n)}
    assert len(chains) > 2 * stats_mod.ENCAP_LABELS, "the flood must offer more chains than the cap"
    s = TrafficStats(dispatch.DEFAULT.layer_names)
    for lo in range(0, len(frames), 500):      # several batches: the cap holds across them
        s.process(decode(make_batch(frames[lo:lo + 500])))
    assert len(s.packets) <= stats_mod.ENCAP_LABELS + 1
    assert set(s.packets) == set(s.bytes)
    assert s.packets[stats_mod.OTHER] > 0
    assert sum(s.packets.values()) == len(frames)
    assert sum(s.bytes.values()) == int(batch.wirelen.sum())


def test_ordinary_chains_keep_their_own_label():
    """GRE in L2TP in a VLAN (three IPv4 headers) is a real line, not `other`."""
    from fuzzing import make_batch, nest

    frame, _ = nest(["gre", "l2tp", "vlan"])
    s = TrafficStats(dispatch.DEFAULT.layer_names)
    s.process(decode(make_batch([frame])))
    (label,) = s.packets
    assert label != stats_mod.OTHER and label.count("ipv4") == 3, label
