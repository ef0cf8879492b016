"""The payload pre-filters' prefix test: one integer compare a row, as bytes.startswith."""
import numpy as np
import pytest

from detectors.content import first_word, opens_with

PREFIXES = [b"220 ", b"+OK", b"* OK", b"RFB 003.", b"U", b"USER", b"PASS"]


@pytest.mark.parametrize("width", [3, 5, 8, 16])
def test_opens_with_is_startswith_on_the_gathered_bytes(width):
    rng = np.random.default_rng(width)
    rows = [rng.integers(0, 256, width, dtype=np.uint8).tobytes() for _ in range(300)]
    # plant each prefix, in both cases, in some rows
    for k, prefix in enumerate(PREFIXES):
        for case in (prefix, prefix.lower(), prefix.swapcase()):
            rows[(7 * k + len(case) * 3 + sum(case)) % len(rows)] = (case + rows[k])[:width]
    block = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), width)
    word = first_word(block)
    for prefix in PREFIXES:
        got = opens_with(word, prefix)
        want = [len(prefix) <= width and r.startswith(prefix) for r in rows]
        assert got.tolist() == want, prefix
        if prefix.isalpha():
            folded = opens_with(word, prefix, fold=True)
            want = [len(prefix) <= width and r[:len(prefix)].upper() == prefix.upper()
                    and r[:len(prefix)].isalpha() for r in rows]
            # folding ignores bit 0x20, which for an ASCII letter is its case
            assert folded.tolist() == want, prefix
