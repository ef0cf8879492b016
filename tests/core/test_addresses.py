"""The address helpers: the column forms give what the one-address forms give."""
import ipaddress

import numpy as np

from ybsensor.core.addresses import packed, packed_column, text, texts


def test_packed_and_text_columns_equal_one_address_at_a_time():
    rng = np.random.default_rng(5)
    hi = np.concatenate([np.zeros(6, np.uint64), rng.integers(0, 2**63, 6, dtype=np.uint64) * 2,
                         np.array([2**64 - 1, 1], np.uint64)])
    lo = np.concatenate([
        np.array([0xFFFF_0A01_0203, 0xFFFF_0000_0000, 0xFFFF_FFFF_FFFF,   # IPv4-mapped
                  0xFFFE_0A01_0203, 0x1_FFFF_0A01_0203, 1], np.uint64),   # IPv6 that look close
        rng.integers(0, 2**63, 6, dtype=np.uint64), np.array([2**64 - 1, 0xFFFF_0A01_0203], np.uint64)])
    want = [packed(int(h), int(lo_)) for h, lo_ in zip(hi, lo)]
    got = packed_column(hi, lo)
    assert got == want
    assert [len(x) for x in got[:3]] == [4, 4, 4] and all(len(x) == 16 for x in got[3:])
    assert texts(got) == [text(x) for x in want]
    assert texts(got)[:2] == ["10.1.2.3", "0.0.0.0"]
    assert texts(got)[-1] == str(ipaddress.ip_address((1 << 64) | 0xFFFF_0A01_0203))
    assert packed_column(hi[:0], lo[:0]) == [] and texts([]) == []


def test_address_texts_are_inet_ntops():
    """The compiled address text is the C library's inet_ntop, on random addresses with
    runs of zero words of every length and place, and on the forms glibc writes with an
    IPv4 tail (::a.b.c.d, ::ffff:a.b.c.d) or a lone `::`."""
    import random
    import socket

    from ybsensor.core.addresses import address, address_texts

    rng = random.Random(11)
    raws = [rng.randbytes(4) for _ in range(3000)]
    for _ in range(20000):
        raws.append(b"".join(rng.choice((0, 0, 0, 1, 0xFFFF, rng.randrange(16),
                                         rng.randrange(65536))).to_bytes(2, "big")
                             for _ in range(8)))
    raws += [socket.inet_pton(socket.AF_INET6, a) for a in (
        "::", "::1", "::0.0.0.1", "::1.2.3.4", "::ffff:1.2.3.4", "::ffff:0:0", "::ffff",
        "1::", "0:0:1::", "1:0:0:1::", "1:0:0:1:0:0:0:1", "fe80::1", "ff02::1:ff00:1")]
    want = [socket.inet_ntop(socket.AF_INET if len(r) == 4 else socket.AF_INET6, r)
            for r in raws]
    assert texts(raws) == want
    assert [text(r) for r in raws[::50]] == want[::50]
    mapped = [0xFFFF_0000_0000 | int.from_bytes(r, "big") for r in raws[:3000]]
    data, off = address_texts(np.zeros(3000, np.uint64), np.array(mapped, np.uint64))
    assert data.tobytes().decode() == "".join(want[:3000])
    assert off.tolist()[-1] == len(data) and address(0, mapped[0]) == want[0]
