"""The flow table: both directions are one flow, counts add up, the table stays bounded."""
import numpy as np
import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP

from frames import link

from ybsensor.decoders import Batch, decode
from ybsensor.core.flows import FlowTable

def table(packets, ts=None):
    frames = [bytes(p) for p in packets]
    ts_ns = ts if ts is not None else [i * 1_000_000 for i in range(len(frames))]
    return decode(Batch.from_frames(frames, ts_ns=ts_ns))


def tcp(src, dst, sport, dport, vlan=None, flags="A"):
    head = link(vlan or None)
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
            link(None) / IP(src="10.1.2.3", dst="10.200.0.1") / UDP(sport=40000, dport=443)]
    ids = FlowTable(max_flows=16).update(table(pkts))
    assert len(set(ids.tolist())) == 4


def test_icmp_echo_and_reply_share_a_flow_and_frames_without_ip_have_none():
    from scapy.layers.l2 import ARP
    pkts = [link(None) / IP(src="10.1.2.3", dst="10.1.2.4") / ICMP(type=8),
            link(None) / IP(src="10.1.2.4", dst="10.1.2.3") / ICMP(type=0),
            link(None) / ARP()]
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


def _mix_tables():
    """The bench mix's batches, and a table of hostile columns (negative ports, every ICMP
    type, every endpoint order, the same address both ends)."""
    import sys

    from tools import REPO
    sys.path.insert(0, str(REPO))
    from bench.mixed import SMALL, mixed_pcap
    from ybsensor.sensor.sources import read_capture
    tables = [decode(b) for b in read_capture(mixed_pcap(SMALL))]
    rng = np.random.default_rng(5)
    n = tables[0].n
    hostile = decode(Batch.from_frames([b"\0" * 60] * n))
    # few lines, addresses and ports, so that rows meet: every ICMP type with its
    # counterpart, every endpoint order
    for name in ("line_a", "line_b"):
        getattr(hostile, name)[:] = rng.integers(0, 2, n)
    for name in ("sport", "dport"):
        getattr(hostile, name)[:] = rng.choice([-1, 0, 1, 80, 65535], n)
    hostile.icmp_type[:] = np.where(rng.random(n) < 0.5, rng.integers(0, 256, n),
                                    rng.choice([0, 8, 128, 129, 139, 140, 3], n))
    hostile.icmp_code[:] = rng.integers(0, 2, n)
    hostile.proto[:] = rng.choice([1, 6, 17, 58, 132], n)
    for name in ("src_hi", "src_lo", "dst_hi", "dst_lo"):
        getattr(hostile, name)[:] = rng.integers(0, 2, n).astype(np.uint64) << np.uint64(63)
    hostile.line_kind[:] = rng.integers(0, 2, n)
    return [(t, np.flatnonzero(t.n_ip > 0)) for t in tables] + [(hostile, np.arange(n))]


def _community_ids(t, rows):
    """Each row's flow by the reference Community ID (corelight's `communityid`): its line
    and its Community ID."""
    import communityid

    from ybsensor.core.addresses import packed_column
    engine = communityid.CommunityID()
    makers = {6: communityid.FlowTuple.make_tcp, 17: communityid.FlowTuple.make_udp,
              132: communityid.FlowTuple.make_sctp, 1: communityid.FlowTuple.make_icmp,
              58: communityid.FlowTuple.make_icmp6}
    src = packed_column(t.src_hi[rows], t.src_lo[rows])
    dst = packed_column(t.dst_hi[rows], t.dst_lo[rows])
    out, known = [], {}   # the mix's flows repeat their tuples: each computed once
    for i, r in enumerate(rows.tolist()):
        proto = int(t.proto[r])
        if proto in (1, 58):
            a, b = int(t.icmp_type[r]), int(t.icmp_code[r])
        else:
            a, b = max(int(t.sport[r]), 0), max(int(t.dport[r]), 0)   # no port: 0
        x, y = src[i], dst[i]
        cid = known.get((proto, x, y, a, b))
        if cid is None:
            cid = known[proto, x, y, a, b] = engine.calc(
                makers[proto](x, y, a, b) if proto in makers else
                communityid.FlowTuple.make_ip(x, y, proto))
        out.append((int(t.line_kind[r]), int(t.line_a[r]), int(t.line_b[r]), cid))
    return out


def test_flow_keys_group_rows_as_community_id_does():
    """On the bench mix and on hostile columns, two rows have the same flow key exactly
    where they are on the same line and the reference Community ID names the same flow
    (ICMP with and without a counterpart type, ports or none, equal ends); and rows of one
    flow from the same source address get the same direction bit, rows from the other end
    the other (where the two ends' addresses differ)."""
    from ybsensor.core.flows import flow_keys
    for t, rows in _mix_tables():
        keys, swap = flow_keys(t, rows, with_direction=True)
        reference = _community_ids(t, rows)
        assert len(set(keys.tolist())) == len(set(reference)) \
            == len(set(zip(keys.tolist(), reference)))
        assert (keys != 0).all()
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        lead = rows[first][inverse]
        differ = (t.src_hi[lead] != t.dst_hi[lead]) | (t.src_lo[lead] != t.dst_lo[lead])
        same_source = (t.src_hi[rows] == t.src_hi[lead]) & (t.src_lo[rows] == t.src_lo[lead])
        assert ((swap == swap[first][inverse]) == same_source)[differ].all()


def test_flow_ids_follow_the_keys_through_inserts_and_evictions():
    """Across the bench mix's batches in a table that must evict: rows with the same key in
    a batch get the same flow, rows with different keys different ones, every live flow is
    found under its key and a key never inserted is not."""
    flows = FlowTable(max_flows=500)
    for t, rows in _mix_tables()[:-1]:
        ids = flows.update(t)[rows]
        keys = flows.row_keys[rows]
        tracked = ids >= 0
        pairs = set(zip(keys[tracked].tolist(), ids[tracked].tolist()))
        assert len(pairs) == len(set(keys[tracked].tolist())) == len(set(ids[tracked].tolist()))
        live = np.flatnonzero(flows.alive[:flows.capacity])
        assert (flows._find(flows.key[live]) == live).all()
        assert (flows.key[ids[tracked]] == keys[tracked]).all()
        absent = np.setdiff1d(np.arange(1, 2000, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15),
                              flows.key[live])
        assert (flows._find(absent) == -1).all()
    assert flows.evicted_total > 0         # the index was rebuilt along the way


def test_flow_groups_are_the_groups_of_equal_keys():
    """FlowGroups.of, with and without directions and counts, for keys with few and many
    repeats, signed and unsigned, rows with gaps, against np.unique's grouping and
    per-group sums by np.add.at / np.maximum.at / np.bitwise_or.at."""
    from ybsensor.core.flows import FlowGroups
    rng = np.random.default_rng(3)
    for m, distinct in ((0, 1), (1, 1), (2, 1), (7, 3), (1000, 1), (1000, 300), (5000, 5000)):
        n = m + 40
        keys = rng.integers(0, 2**64 - 1, distinct, dtype=np.uint64)[rng.integers(0, distinct, m)]
        rows = np.sort(rng.choice(n, m, replace=False))
        t = decode(Batch.from_frames([b"\0" * 60] * n, ts_ns=rng.integers(0, 10**12, n)))
        t.tcp_flags[:] = rng.integers(-1, 256, n)
        t.payload_len[:] = rng.integers(-1, 1500, n)
        direction = rng.integers(0, 2, m).astype(bool)
        for k, d, counted in ((keys, direction, t), (keys, None, None),
                              (keys.view(np.int64), direction, None)):
            g = FlowGroups.of(rows, k, n, d, counted, split=counted is not None)
            uniq, first_at, inverse = np.unique(k, return_index=True, return_inverse=True)
            ng = len(uniq)
            assert g.key.tolist() == uniq.tolist() and g.first_at.tolist() == first_at.tolist()
            assert g.inverse.tolist() == inverse.tolist()
            assert g.first.tolist() == rows[first_at].tolist()
            of_row = np.full(n, -1)
            of_row[rows] = inverse
            assert g.of_row.tolist() == of_row.tolist()
            assert g.order.tolist() == rows[np.argsort(inverse, kind="stable")].tolist()
            assert g.start.tolist() == np.searchsorted(inverse[np.argsort(inverse)], np.arange(ng)).tolist()
            if d is None:
                assert g.reverse is None
            else:
                assert g.reverse.tolist() == (d != d[first_at][inverse]).tolist()
            if counted is None:
                assert g.packets is None and g.lead is None
                continue

            def per_group(values, ufunc, start, where=True):
                out = np.full(ng, start, dtype=np.int64)
                ufunc.at(out, inverse[where], values[where])
                return out

            flags, wirelen = np.maximum(t.tcp_flags[rows], 0), t.wirelen[rows]
            payload = np.maximum(t.payload_len[rows], 0)
            assert g.packets.tolist() == np.bincount(inverse, minlength=ng).tolist()
            assert g.octets.tolist() == per_group(wirelen, np.add, 0).tolist()
            assert g.last_ns.tolist() == per_group(t.ts_ns[rows], np.maximum, -2**63).tolist()
            assert g.tcp_flags.tolist() == per_group(flags, np.bitwise_or, 0).tolist()
            for share, way in ((g.lead, ~g.reverse), (g.back, g.reverse)):
                assert share["packets"].tolist() == per_group(np.ones(m, np.int64), np.add, 0, way).tolist()
                assert share["octets"].tolist() == per_group(wirelen, np.add, 0, way).tolist()
                assert share["payload"].tolist() == per_group(payload, np.add, 0, way).tolist()
                assert share["flags"].tolist() == per_group(flags, np.bitwise_or, 0, way).tolist()


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
