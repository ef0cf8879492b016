"""The object view's address helpers: the column forms give what the one-address forms give."""
import ipaddress

import numpy as np

from ybsensor.decoders.view import packed, packed_column, text, texts


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
