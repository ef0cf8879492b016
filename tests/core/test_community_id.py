"""Community ID v1 against the public vectors of the spec (as in Zeek's own tests)."""
import ipaddress

import pytest

from ybsensor.core.community_id import community_id


def a(text):
    return ipaddress.ip_address(text).packed


V6A, V6B = "fe80:1:203:405:607:809:a0b:c0d", "fe80:1011:1213:1415:1617:1819:1a1b:1c1d"


@pytest.mark.parametrize("src, dst, proto, sport, dport, seed, expected", [
    ("1.2.3.4", "5.6.7.8", 6, 1122, 3344, 0, "1:wCb3OG7yAFWelaUydu0D+125CLM="),
    ("5.6.7.8", "1.2.3.4", 6, 3344, 1122, 0, "1:wCb3OG7yAFWelaUydu0D+125CLM="),
    ("1.2.3.4", "5.6.7.8", 17, 1122, 3344, 0, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="),
    ("1.2.3.4", "5.6.7.8", 1, 8, 0, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="),
    ("5.6.7.8", "1.2.3.4", 1, 0, 0, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="),
    (V6A, V6B, 58, 128, 0, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="),
    ("1.2.3.4", "5.6.7.8", 46, None, None, 0, "1:ikv3kmf89luf73WPz1jOs49S768="),
    ("1.2.3.4", "5.6.7.8", 6, 1122, 3344, 1, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="),
    ("1.2.3.4", "5.6.7.8", 17, 1122, 3344, 1, "1:OShq+iKDAMVouh/4bMxB9Sz4amw="),
    ("1.2.3.4", "5.6.7.8", 1, 8, 0, 1, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="),
])
def test_public_vectors(src, dst, proto, sport, dport, seed, expected):
    assert community_id(a(src), a(dst), proto, sport, dport, seed) == expected


def test_agrees_with_the_communityid_library_on_random_tuples():
    """The reference implementation (corelight's `communityid`) on random tuples of every
    kind the sensor hashes: TCP, UDP, SCTP, ICMP and ICMPv6 of every type and code, and
    protocols without ports; IPv4 and IPv6; seeds 0 and others."""
    import random

    import communityid
    rng = random.Random(20261207)
    makers = {6: communityid.FlowTuple.make_tcp, 17: communityid.FlowTuple.make_udp,
              132: communityid.FlowTuple.make_sctp, 1: communityid.FlowTuple.make_icmp,
              58: communityid.FlowTuple.make_icmp6}
    engines: dict[int, object] = {}
    checked = 0
    for _ in range(20_000):
        v6 = rng.random() < 0.5
        size = 16 if v6 else 4
        src, dst = rng.randbytes(size), rng.randbytes(size)
        if rng.random() < 0.05:
            dst = src                                   # same address: the ports decide
        proto = rng.choice((6, 17, 132, 58 if v6 else 1, 47, 50, 0, 255))
        seed = rng.choice((0, 0, 1, rng.randrange(65536)))
        engine = engines.setdefault(seed, communityid.CommunityID(seed))
        sa, da = (ipaddress.ip_address(x) for x in (src, dst))
        if proto in makers:
            icmp = proto in (1, 58)
            sport = rng.randrange(256) if icmp else rng.randrange(65536)
            dport = rng.randrange(256) if icmp else rng.randrange(65536)
            tpl = makers[proto](str(sa), str(da), sport, dport)
            ours = community_id(src, dst, proto, sport, dport, seed)
        else:
            tpl = communityid.FlowTuple.make_ip(str(sa), str(da), proto)
            ours = community_id(src, dst, proto, None, None, seed)
        assert ours == engine.calc(tpl), (sa, da, proto, tpl, seed)
        checked += 1
    assert checked == 20_000


def test_columns_name_each_flow_as_one_at_a_time():
    """`community_ids` over columns (addresses as mapped uint64 halves, `ported` saying
    which flows have ports) gives each flow the id `community_id` gives it alone: flows
    without ports (their port columns holding anything) included."""
    import random

    import numpy as np

    from ybsensor.core.community_id import community_ids
    rng = random.Random(7)
    flows = []
    for _ in range(2_000):
        v6 = rng.random() < 0.5
        src, dst = rng.randbytes(16 if v6 else 4), rng.randbytes(16 if v6 else 4)
        if rng.random() < 0.1:
            dst = src
        proto = rng.choice((6, 17, 132, 58 if v6 else 1, 47, 0))
        ported = rng.random() < 0.7
        icmp = proto in (1, 58)
        sport = rng.randrange(256 if icmp else 65536) if ported else None
        dport = rng.randrange(256 if icmp else 65536) if ported else None
        flows.append((src, dst, proto, sport, dport))

    def halves(raw):
        full = raw if len(raw) == 16 else bytes(10) + b"\xff\xff" + raw
        return int.from_bytes(full[:8], "big"), int.from_bytes(full[8:], "big")

    src = np.array([halves(f[0]) for f in flows], dtype=np.uint64)
    dst = np.array([halves(f[1]) for f in flows], dtype=np.uint64)
    noise = np.array([rng.randrange(65536) for _ in flows])  # what a port-less row holds
    sport = np.array([noise[i] if f[3] is None else f[3] for i, f in enumerate(flows)])
    dport = np.array([noise[i] if f[4] is None else f[4] for i, f in enumerate(flows)])
    ported = np.array([f[3] is not None for f in flows])
    for seed in (0, 9):
        ids = community_ids(src[:, 0], src[:, 1], dst[:, 0], dst[:, 1],
                            np.array([f[2] for f in flows]), sport, dport, seed, ported)
        assert ids.astype(str).tolist() == [community_id(*f, seed=seed) for f in flows]
