"""The address plan: longest prefix wins, IPv4 and IPv6, zones, line owners."""
import ipaddress

import numpy as np
import pytest

from ybsensor.decoders.ethernet import QINQ_LINE, VLAN_LINE
from ybsensor.decoders.keys import LINE_IF
from ybsensor.decoders.l2tp import LINE as L2TP_LINE

LINE_VLAN, LINE_QINQ, LINE_L2TP = VLAN_LINE.id, QINQ_LINE.id, L2TP_LINE.id
from ybsensor.sensor.config import Config, Institution
from ybsensor.core.plan import PLATFORM, PRIVATE, PUBLIC, AddressPlan

N = ipaddress.ip_network


def cols(*addrs):
    hi, lo = [], []
    for text in addrs:
        a = ipaddress.ip_address(text)
        v = (0xFFFF << 32 | int(a)) if a.version == 4 else int(a)
        hi.append(v >> 64)
        lo.append(v & (2**64 - 1))
    return np.array(hi, dtype=np.uint64), np.array(lo, dtype=np.uint64)


@pytest.fixture
def plan():
    cfg = Config(path=None, private=[N("10.0.0.0/8"), N("fd00::/8")], platform=[N("10.200.0.0/16")])
    cfg.institutions = [
        Institution("A", "a", [N("10.1.0.0/16")], ["vlan:100", "l2tp:7/*"], "dedicated"),
        Institution("B", "b", [N("10.1.5.0/24"), N("fd00:1::/48")], ["qinq:10.200", "if:eth1"], "vpdn"),
        Institution("C", "c", [N("10.1.5.128/25")], ["l2tp:7/3"], "vpdn"),
    ]
    return AddressPlan(cfg)


def test_longest_prefix_wins(plan):
    owners = plan.owner(*cols("10.1.0.1", "10.1.5.1", "10.1.5.200", "10.1.6.1", "10.2.0.1",
                              "fd00:1::9", "fd00:2::9", "8.8.8.8", "0.0.0.0", "255.255.255.255"))
    assert owners.tolist() == [0, 1, 2, 0, -1, 1, -1, -1, -1, -1]


def test_zones(plan):
    zones = plan.zone(*cols("10.1.0.1", "10.200.3.4", "8.8.8.8", "fd00::1", "2001:db8::1"))
    assert zones.tolist() == [PRIVATE, PRIVATE | PLATFORM, PUBLIC, PRIVATE, PUBLIC]


LINK_SCOPED = ("0.0.0.0", "0.12.0.1", "127.0.0.1", "::1", "169.254.7.9", "224.0.0.251", "239.255.255.250", "255.255.255.255",
               "::", "fe80::1", "ff02::16", "ff02::1:2", "ff05::1:3",
               "10.1.255.255", "10.1.5.255")    # A's /16 and B's /24 directed broadcasts


def test_link_scope_is_neither_inside_nor_outside(plan):
    """Addresses that never leave their link have no zone bit and no owner, even where a
    configured prefix (10.0.0.0/8, A's 10.1.0.0/16) is wider than they are."""
    addrs = cols(*LINK_SCOPED)
    assert plan.zone(*addrs).tolist() == [0] * len(LINK_SCOPED)
    assert plan.owner(*addrs).tolist() == [-1] * len(LINK_SCOPED)
    # the addresses beside them keep their plan
    near = cols("10.1.255.254", "10.1.5.254", "10.1.6.255", "169.255.0.1", "fe00::1", "1.0.0.0",
                "::2", "fd00:1::")
    assert plan.owner(*near).tolist() == [0, 2, 0, -1, -1, -1, -1, 1]
    assert plan.zone(*near).tolist() == [PRIVATE, PRIVATE, PRIVATE, PUBLIC, PUBLIC, PUBLIC,
                                         PUBLIC, PRIVATE]


def test_configuration_can_claim_link_scope():
    """A prefix the configuration names itself, or one inside a link-scope block, is the
    configuration's: the longest prefix wins, and on a tie the configured one."""
    cfg = Config(path=None, private=[N("10.0.0.0/8"), N("169.254.0.0/16"), N("239.1.0.0/16")])
    cfg.institutions = [Institution("A", "a", [N("169.254.0.0/16")], [], "dedicated"),
                        Institution("B", "b", [N("10.2.0.0/31"), N("10.3.0.0/30")], [], "dedicated")]
    plan = AddressPlan(cfg)
    addrs = cols("169.254.1.1", "239.1.2.3", "239.2.0.1", "10.2.0.1", "10.3.0.3", "169.254.255.255")
    assert plan.zone(*addrs).tolist() == [PRIVATE, PRIVATE, 0, PRIVATE, 0, 0]
    # a /31 has no broadcast address (RFC 3021); a /30's last address is its broadcast
    assert plan.owner(*addrs).tolist() == [0, -1, -1, 1, -1, -1]


def test_line_owners_exact_wildcard_and_interface(plan):
    kind = np.array([LINE_VLAN, LINE_VLAN, LINE_L2TP, LINE_L2TP, LINE_QINQ, LINE_IF, LINE_IF])
    a = np.array([100, 101, 7, 7, 10, 0, 1])
    b = np.array([0, 0, 9, 3, 200, 0, 0])
    owners = plan.lines.owner(kind, a, b, interfaces=["eth0", "eth1"])
    # l2tp:7/3 names C exactly, ahead of A's l2tp:7/*
    assert owners.tolist() == [0, -1, 0, 2, 1, -1, 1]


def test_many_allocations_lookup_stays_vectorized():
    cfg = Config(path=None, private=[N("10.0.0.0/8")])
    cfg.institutions = [Institution(f"I{k}", "", [N(f"10.{k >> 8}.{k & 255}.0/24")], [], "dedicated")
                        for k in range(20_000)]
    plan = AddressPlan(cfg)
    rng = np.random.default_rng(1)
    k = rng.integers(0, 20_000, 50_000)
    # (host 255 is each /24's directed broadcast: no one's)
    v4 = (10 << 24) | (k >> 8) << 16 | (k & 255) << 8 | rng.integers(0, 255, 50_000)
    hi = np.zeros(50_000, dtype=np.uint64)
    lo = (np.uint64(0xFFFF << 32) | v4.astype(np.uint64))
    assert (plan.owner(hi, lo) == k).all()
    assert (plan.owner(hi, lo | np.uint64(255)) == -1).all()


def test_batch_lookups_once_a_flow_equal_lookups_of_every_row(plan):
    """BatchContext searches each flow's ends once and hands them to the flow's rows (swapped
    for replies, flow_kernels.row_ends): every row's owner and zone must be what searching
    the row gives, with the directions interleaved, both ends in one prefix, ICMP, IPv6, and
    frames without IP."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import ARP, Ether

    from ybsensor.decoders import Batch, decode
    from ybsensor.detectors import BatchContext
    from ybsensor.core.flows import FlowTable

    ends = [("10.1.0.1", "10.200.0.1"), ("10.1.5.1", "10.1.5.200"), ("10.1.6.1", "8.8.8.8"),
            ("10.1.5.130", "10.1.5.130"), ("fd00:1::9", "fd00:2::9")]
    packets = []
    for k in range(150):
        a, b = ends[k % len(ends)]
        src, dst = (a, b) if k % 3 else (b, a)
        ip = IPv6(src=src, dst=dst) if ":" in a else IP(src=src, dst=dst)
        l4 = [TCP(sport=40000 + k % 4, dport=443), UDP(sport=53, dport=53 + k % 2),
              TCP(sport=443, dport=40000 + k % 4)][k % 3] if ":" in a or k % 7 else ICMP(type=8 if k % 2 else 0)
        mac = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")  # scapy resolves none
        packets.append(mac / ip / l4)
        if k % 11 == 0:
            packets.append(mac / ARP())
    t = decode(Batch.from_frames([bytes(p) for p in packets]))
    flows = FlowTable(max_flows=64)
    flow_of_row = flows.update(t)
    ctx = BatchContext(t, flow_of_row, plan, None, flows.row_keys, flows.groups)
    assert 2 * len(flows.groups) < t.n          # the once-a-flow path is the one taken
    for got, want in ((ctx.src_owner, plan.owner(t.src_hi, t.src_lo)),
                      (ctx.dst_owner, plan.owner(t.dst_hi, t.dst_lo)),
                      (ctx.src_zone, plan.zone(t.src_hi, t.src_lo)),
                      (ctx.dst_zone, plan.zone(t.dst_hi, t.dst_lo))):
        assert got.tolist() == want.tolist()
    assert (ctx.src_owner != ctx.dst_owner).any() and (ctx.src_zone != ctx.dst_zone).any()


@pytest.mark.parametrize("split_16s", [4096, 3, 0])
def test_ipv4_tables_answer_as_the_search_does(split_16s, monkeypatch):
    """IntervalMap's /16 and /24 tables give every IPv4 address the interval the binary
    search gives: random prefixes of every length, /24s and a /25 under one /16, addresses
    on each boundary and either side of it; with fewer /16 rows than split /16s too."""
    from ybsensor.core import plan as plan_mod
    from ybsensor.core.plan import IntervalMap
    monkeypatch.setattr(plan_mod, "V4_SPLIT_16S", split_16s)
    rng = np.random.default_rng(3)
    nets = []
    for k in range(300):
        a, plen = int(rng.integers(0, 2**32)), int(rng.integers(4, 33))
        nets.append((ipaddress.ip_network((a >> (32 - plen) << (32 - plen), plen)), k))
    nets += [(ipaddress.ip_network(f"10.{i}.{j}.0/24"), 1000 + 10 * i + j)
             for i in range(5) for j in range(10)]
    nets += [(ipaddress.ip_network("10.3.3.128/25"), 7), (ipaddress.ip_network("fd00::/8"), 3)]
    imap = IntervalMap([nets], [-1])
    edges = imap.v4_starts.astype(np.int64)
    addr = np.concatenate([rng.integers(0, 2**32, 20_000), (10 << 24) + rng.integers(0, 2**20, 20_000),
                           edges, edges - 1, edges + 1, [0, 2**32 - 1]])
    addr = addr[(addr >= 0) & (addr < 2**32)].astype(np.uint64)
    want = np.searchsorted(imap.v4_starts, addr, side="right") - 1 + imap.v4_first
    assert imap._locate_v4(addr).tolist() == want.tolist()


def test_ipv4_allocations_finer_than_a_24_are_searched_without_tables():
    """/25s everywhere: the /24 table would answer nothing, so there is none; the answers
    are the search's."""
    from ybsensor.core.plan import IntervalMap
    nets = [(ipaddress.ip_network(((10 << 24) | (k << 7), 25)), k) for k in range(2000)]
    imap = IntervalMap([nets], [-1])
    assert imap.v4_by16 is None
    rng = np.random.default_rng(4)
    addr = ((10 << 24) + rng.integers(0, 2000 << 7, 5000)).astype(np.uint64)
    want = np.searchsorted(imap.v4_starts, addr, side="right") - 1 + imap.v4_first
    assert imap._locate_v4(addr).tolist() == want.tolist()
    assert (imap.values[0][imap._locate_v4(addr)] == (addr - (10 << 24)) // 128).all()


@pytest.mark.parametrize("count", [0, 1, 5, 3000])
def test_key_table_finds_each_key_and_no_other(count):
    """LineOwners' look-up table gives each key's value, and none for any other key: keys
    that collide at home, 0 (what an empty slot holds) present or not, negative keys."""
    from ybsensor.core.plan import NO_OWNER, KeyTable
    rng = np.random.default_rng(count)
    keys = np.unique(np.concatenate([rng.integers(-2**63, 2**63 - 1, count, dtype=np.int64),
                                     np.arange(count // 2, dtype=np.int64) << 58]))[:count]
    mapping = dict(zip(keys.tolist(), rng.integers(0, 1000, len(keys)).tolist()))
    table = KeyTable(mapping)
    assert len(table) == len(mapping)
    others = rng.integers(-2**63, 2**63 - 1, 5000, dtype=np.int64)
    want = np.concatenate([keys, others, [0, -1, 1]]).astype(np.int64)
    assert table.find(want).tolist() == [mapping.get(k, NO_OWNER) for k in want.tolist()]


@pytest.mark.parametrize("private, inside, link_scope, outside", [
    (["::/0"], ["10.0.0.1", "2001:db8::1", "fd00::1"],
     ["::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], []),
    # a link-scope block the configuration names itself is the configuration's
    (["ff00::/8"], ["ff02::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"], ["fe80::1"],
     ["10.0.0.1"]),
    (["0.0.0.0/0"], ["10.0.0.1", "203.0.113.1"], ["0.0.0.0", "255.255.255.255", "::1"],
     ["2001:db8::1"]),
    (["255.255.255.255/32"], ["255.255.255.255"], [], ["255.255.255.254", "::ffff:1:0:0"]),
    (["0.0.0.0/0", "::/0"], ["10.0.0.1", "2001:db8::1"],
     ["0.0.0.0", "255.255.255.255", "::", "ffff::1"], []),
])
def test_a_prefix_reaching_either_end_of_the_space(private, inside, link_scope, outside):
    """A whole family (or a prefix reaching ffff:...:ffff) is a plan like any other: its last
    interval ends at the top of the 128-bit space, with no boundary after it; inside it, the
    addresses that never leave their link stay neither inside nor outside."""
    cfg = Config(path=None, private=[N(p) for p in private])
    cfg.institutions = [Institution("A", "a", [N(private[-1])], [], "dedicated")]
    plan = AddressPlan(cfg)
    assert plan.zone(*cols(*inside)).tolist() == [PRIVATE] * len(inside)
    assert plan.owner(*cols(*inside)).tolist() == [0] * len(inside)
    if link_scope:
        assert plan.zone(*cols(*link_scope)).tolist() == [0] * len(link_scope)
        assert plan.owner(*cols(*link_scope)).tolist() == [-1] * len(link_scope)
    if outside:
        assert plan.zone(*cols(*outside)).tolist() == [PUBLIC] * len(outside)


@pytest.mark.parametrize("private", ['["::/0"]', '["ff00::/8"]', '["0.0.0.0/0", "::/0"]'])
def test_replay_with_a_whole_family_in_the_plan(tmp_path, private):
    """check-config and replay both take a plan that reaches the top of the address space."""
    import subprocess

    from tools import PCAPS, ybsensor_cmd
    config = tmp_path / "sensor.toml"
    config.write_text(f'[network]\nprivate = {private}\n\n[[institution]]\ncode = "H1"\n'
                      f'ranges = ["10.1.2.0/24"]\nlines = ["vlan:100"]\n')
    for args in (["check-config", str(config)],
                 ["replay", str(PCAPS / "vlan.pcap"), "--config", str(config), "--alerts",
                  str(tmp_path / "alerts.jsonl"), "--no-progress"]):
        done = subprocess.run(ybsensor_cmd() + args, capture_output=True, timeout=300)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        assert b"Traceback" not in done.stderr
