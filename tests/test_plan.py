"""The address plan: longest prefix wins, IPv4 and IPv6, zones, line owners."""
import ipaddress

import numpy as np
import pytest

from decoders.keys import LINE_IF, LINE_L2TP, LINE_QINQ, LINE_VLAN
from sensor.config import Config, Institution
from sensor.plan import PLATFORM, PRIVATE, AddressPlan

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
    assert zones.tolist() == [PRIVATE, PRIVATE | PLATFORM, 0, PRIVATE, 0]


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
    v4 = (10 << 24) | (k >> 8) << 16 | (k & 255) << 8 | rng.integers(0, 256, 50_000)
    hi = np.zeros(50_000, dtype=np.uint64)
    lo = (np.uint64(0xFFFF << 32) | v4.astype(np.uint64))
    assert (plan.owner(hi, lo) == k).all()
