"""Community ID v1 against the public vectors of the spec (as in Zeek's own tests)."""
import ipaddress

import pytest

from sensor.community_id import community_id


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
