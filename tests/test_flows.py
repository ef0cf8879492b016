"""The flow table: both directions are one flow, counts add up, the table stays bounded."""
import numpy as np
import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Dot1Q, Ether

from ybsensor.decoders import Batch, decode, fastpath
from ybsensor.core.flows import FlowTable

pytestmark = pytest.mark.usefixtures("loop_backend")  # numpy and compiled loops


def table(packets, ts=None):
    frames = [bytes(p) for p in packets]
    ts_ns = ts if ts is not None else [i * 1_000_000 for i in range(len(frames))]
    return decode(Batch.from_frames(frames, ts_ns=ts_ns))


def tcp(src, dst, sport, dport, vlan=None, flags="A"):
    head = Ether() / Dot1Q(vlan=vlan) if vlan else Ether()
    return head / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags)


def test_both_directions_are_one_flow_with_exact_counts():
    pkts = [tcp("10.1.2.3", "10.200.0.1", 40000, 443, flags="S"),
            tcp("10.200.0.1", "10.1.2.3", 443, 40000, flags="SA"),
            tcp("10.1.2.3", "10.200.0.1", 40000, 443, flags="A")]
    t = table(pkts)
    flows = FlowTable(max_flows=16)
    ids = flows.update(t)
    assert len(set(ids.tolist())) == 1 and flows.active == 1
    fid = ids[0]
    assert flows.packets[fid] == 3
    assert flows.bytes[fid] == sum(len(bytes(p)) for p in pkts)
    assert flows.tcp_flags[fid] == 0x02 | 0x12 | 0x10
    assert flows.first_frame[fid] == 1 and flows.first_ns[fid] == 0 and flows.last_ns[fid] == 2_000_000
    # the initiator is the first packet's sender
    assert flows.sport[fid] == 40000 and flows.dport[fid] == 443


def test_flows_of_different_lines_or_ports_are_apart():
    pkts = [tcp("10.1.2.3", "10.200.0.1", 40000, 443, vlan=100),
            tcp("10.1.2.3", "10.200.0.1", 40000, 443, vlan=101),
            tcp("10.1.2.3", "10.200.0.1", 40001, 443, vlan=100),
            Ether() / IP(src="10.1.2.3", dst="10.200.0.1") / UDP(sport=40000, dport=443)]
    ids = FlowTable(max_flows=16).update(table(pkts))
    assert len(set(ids.tolist())) == 4


def test_icmp_echo_and_reply_share_a_flow_and_frames_without_ip_have_none():
    from scapy.layers.l2 import ARP
    pkts = [Ether() / IP(src="10.1.2.3", dst="10.1.2.4") / ICMP(type=8),
            Ether() / IP(src="10.1.2.4", dst="10.1.2.3") / ICMP(type=0),
            Ether() / ARP()]
    ids = FlowTable(max_flows=16).update(table(pkts))
    assert ids[0] == ids[1] >= 0 and ids[2] == -1


def test_counts_accumulate_across_batches():
    flows = FlowTable(max_flows=16)
    p = tcp("10.1.2.3", "10.200.0.1", 40000, 443)
    first = flows.update(table([p, p]))
    second = flows.update(table([p], ts=[5_000_000]))
    assert first[0] == second[0] and flows.packets[first[0]] == 3 and flows.active == 1


def test_full_table_evicts_least_recently_seen_and_counts_it():
    flows = FlowTable(max_flows=8)
    old = [tcp("10.1.2.3", "10.200.0.1", 1000 + i, 443) for i in range(8)]
    flows.update(table(old, ts=[i for i in range(8)]))
    assert flows.active == 8
    fresh = [tcp("10.1.2.3", "10.200.0.1", 2000 + i, 443) for i in range(3)]
    ids = flows.update(table(fresh, ts=[100, 101, 102]))
    assert flows.active <= 8 and flows.evicted_total >= 3
    assert (ids >= 0).all() and flows.alive[ids].all()
    # the survivors are the newest: the three fresh flows and none older than the evicted
    live = np.flatnonzero(flows.alive)
    assert set(flows.sport[live].tolist()) >= {2000, 2001, 2002}
    assert 1000 not in set(flows.sport[live].tolist())


def test_idle_flows_expire():
    flows = FlowTable(max_flows=16, idle_seconds=1)
    flows.update(table([tcp("10.1.2.3", "10.200.0.1", 1, 2)], ts=[0]))
    flows.update(table([tcp("10.1.2.3", "10.200.0.1", 3, 4)], ts=[10_000_000_000]))
    assert flows.active == 1 and flows.evicted_total == 1


def test_a_flood_wider_than_the_table_stays_bounded():
    flows = FlowTable(max_flows=64)
    rng = np.random.default_rng(7)
    for round_ in range(5):
        pkts = [tcp(f"10.{rng.integers(256)}.{rng.integers(256)}.{rng.integers(256)}", "10.200.0.1",
                    int(rng.integers(1024, 65535)), 443) for _ in range(200)]
        flows.update(table(pkts, ts=[round_ * 1000 + i for i in range(200)]))
        assert flows.active <= 64
    assert flows.evicted_total >= 1000 - 64
    # the index still finds every live flow
    live = np.flatnonzero(flows.alive)
    assert (flows._find(flows.key[live]) == live).all()


def test_stable_argsort_equals_numpy_stable_sort():
    from ybsensor.core.flows import stable_argsort
    rng = np.random.default_rng(7)
    for n in (0, 1, 2, 5, 1000, 70_000):
        # hashes with repeats (flows with many packets), and keys that share high bits
        # but differ below (the fallback), signed and unsigned
        hashes = rng.integers(0, 2**63, max(n // 3, 1), dtype=np.int64).view(np.uint64)[rng.integers(0, max(n // 3, 1), n)]
        close = np.uint64(0xABCD) << np.uint64(48) | rng.integers(0, 4, n).astype(np.uint64)
        signed = rng.integers(-5, 5, n, dtype=np.int64) * (1 << 60)
        for keys in (hashes, close, signed, hashes.view(np.int64)):
            assert stable_argsort(keys).tolist() == np.argsort(keys, kind="stable").tolist()


def test_group_by_gives_np_unique_groups():
    from ybsensor.core.flows import group_by
    rng = np.random.default_rng(11)
    for values in (rng.integers(0, 5, 1000), rng.integers(-3, 3, 77) << 40,
                   np.arange(10, dtype=np.int64) << 56, np.zeros(0, dtype=np.int64),
                   rng.integers(0, 2**63, 500, dtype=np.int64).view(np.uint64)):
        uniq, first, inverse = group_by(values)
        want_uniq, want_first, want_inverse = np.unique(values, return_index=True, return_inverse=True)
        order = np.argsort(uniq)  # group_by lists groups in no particular order
        assert uniq[order].tolist() == want_uniq.tolist()
        assert first[order].tolist() == want_first.tolist()
        assert (uniq[inverse] == values).all()


def test_compiled_flow_keys_and_index_equal_numpy(monkeypatch):
    """flow_keys (with directions) of the bench mix and of hostile columns (negative ports,
    ICMP types past 255, every endpoint order), and index look-ups after inserts and
    evictions, with the compiled loops and with numpy."""
    import sys

    from ybsensor.core.flows import flow_keys
    from tools import REPO
    if not fastpath.numba_installed():
        pytest.skip("numba not installed (make setup installs it)")
    fastpath._kernel()
    sys.path.insert(0, str(REPO))
    from bench.mixed import SMALL, mixed_pcap
    from ybsensor.sensor.sources import read_capture
    tables = [decode(b) for b in read_capture(mixed_pcap(SMALL))]
    rng = np.random.default_rng(5)
    t = tables[0]
    n = t.n
    hostile = decode(Batch.from_frames([b"\0" * 60] * n))
    for name in ("line_a", "line_b", "sport", "dport", "icmp_type", "icmp_code"):
        getattr(hostile, name)[:] = rng.integers(-2, 300, n)
    hostile.proto[:] = rng.choice([1, 6, 17, 58, 132], n)
    for name in ("src_hi", "src_lo", "dst_hi", "dst_lo"):
        getattr(hostile, name)[:] = rng.integers(0, 3, n).astype(np.uint64) << np.uint64(63)
    hostile.line_kind[:] = rng.integers(0, 10, n)
    for table in tables + [hostile]:
        rows = np.flatnonzero(table.n_ip > 0) if table is not hostile else np.arange(n)
        got = {}
        for kind in ("numba", "generic"):
            monkeypatch.setattr(fastpath, "KERNEL", kind)
            got[kind] = flow_keys(table, rows, with_direction=True)
        assert np.array_equal(got["numba"][0], got["generic"][0])
        assert np.array_equal(got["numba"][1], got["generic"][1])
    fields = ("rows", "key", "first_at", "first", "inverse", "of_row", "order", "start",
              "reverse", "packets", "octets", "last_ns", "tcp_flags")
    for kind in ("numba", "generic"):
        monkeypatch.setattr(fastpath, "KERNEL", kind)
        flows = FlowTable(max_flows=500)
        ids, groups = [], []
        for t in tables:
            ids.append(flows.update(t))
            groups.append([getattr(flows.groups, name) for name in fields])
        got[kind] = ids, flows.key.copy(), flows._find(flows.key[flows.alive]), groups
        assert flows.evicted_total > 0         # the index was rebuilt along the way
    assert all(np.array_equal(a, b) for a, b in zip(got["numba"][0], got["generic"][0]))
    assert np.array_equal(got["numba"][1], got["generic"][1])
    assert np.array_equal(got["numba"][2], got["generic"][2])
    for a, b in zip(got["numba"][3], got["generic"][3]):     # the batches' flow groups
        for name, x, y in zip(fields, a, b):
            assert x.dtype == y.dtype and np.array_equal(x, y), name


def test_flow_groups_compiled_equal_numpy(monkeypatch):
    """FlowGroups.of with and without directions and counts, for keys with few and many
    repeats, signed and unsigned, rows with gaps: the same groups both ways."""
    from ybsensor.decoders import compiled
    from ybsensor.core.flows import FlowGroups
    if not fastpath.numba_installed():
        pytest.skip("numba not installed (make setup installs it)")
    fastpath._kernel()
    rng = np.random.default_rng(3)
    for m, distinct in ((1, 1), (2, 1), (7, 3), (1000, 1), (1000, 300), (5000, 5000)):
        n = m + 40
        keys = rng.integers(0, 2**64 - 1, distinct, dtype=np.uint64)[rng.integers(0, distinct, m)]
        rows = np.sort(rng.choice(n, m, replace=False))
        t = decode(Batch.from_frames([b"\0" * 60] * n, ts_ns=rng.integers(0, 10**12, n)))
        t.tcp_flags[:] = rng.integers(-1, 256, n)
        direction = rng.integers(0, 2, m).astype(bool)
        for k, d, counted in ((keys, direction, t), (keys, None, None), (keys.view(np.int64), direction, None)):
            got = {}
            for kind in ("numba", "generic"):
                monkeypatch.setattr(fastpath, "KERNEL", kind)
                assert compiled.on() == (kind == "numba")
                got[kind == "numba"] = FlowGroups.of(rows, k, n, d, counted)
            for name in ("key", "first_at", "first", "inverse", "of_row", "order", "start",
                         "reverse", "packets", "octets", "last_ns", "tcp_flags"):
                x, y = getattr(got[True], name), getattr(got[False], name)
                assert (x is None) == (y is None), name
                assert x is None or (x.dtype == y.dtype and np.array_equal(x, y)), name


def test_group_by_one_value_is_one_group():
    from ybsensor.core.flows import group_by
    for values in (np.full(1, 7, dtype=np.int64), np.full(300, -5, dtype=np.int64),
                   np.full(4, 2**63 + 9, dtype=np.uint64)):
        uniq, first, inverse = group_by(values)
        assert uniq.tolist() == values[:1].tolist() and uniq.dtype == values.dtype
        assert first.tolist() == [0] and inverse.tolist() == [0] * len(values)
    # the same first and last value, another between: not one group
    uniq, first, inverse = group_by(np.array([3, 4, 3], dtype=np.int64))
    assert sorted(uniq.tolist()) == [3, 4] and (uniq[inverse] == [3, 4, 3]).all()
