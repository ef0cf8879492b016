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
