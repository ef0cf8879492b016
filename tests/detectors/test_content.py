"""The payload pre-filters' prefix test: one integer compare a row, as bytes.startswith."""
import numpy as np
import pytest

from ybsensor.detectors.content import first_word, opens_with

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


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_payload_heads_are_each_rows_first_bytes_zero_past_its_end(monkeypatch, backend):
    """content.head (the compiled gather where the decode kernel is on, numpy's otherwise)
    against bytes sliced from each frame: short, empty and cut payloads, a payload at the
    buffer's end, every row and a subset."""
    import sys

    from ybsensor.decoders import Batch, decode, fastpath
    from ybsensor.detectors.content import HEAD, _gather_heads, head
    from tools import REPO
    if backend == "numba":
        if not fastpath.numba_installed():
            pytest.skip("numba not installed (make setup installs it)")
        fastpath._kernel()
    monkeypatch.setattr(fastpath, "KERNEL", backend)
    sys.path.insert(0, str(REPO / "tests"))
    import fuzzing as F
    payloads = [b"", b"x", b"GET / HTTP/1.1\r\n", b"0123456789abcdef!", bytes(range(40))]
    frames = [F.eth(0x0800, F.ipv4(proto, l4(40000, 80, p)))
              for p in payloads for proto, l4 in ((6, F.tcp), (17, F.udp))]
    frames += [frames[3][:-5], frames[-1][:60], b"\0" * 10]       # cut, cut, not IP
    t = decode(Batch.from_frames(frames))
    want = np.zeros((t.n, HEAD), dtype=np.uint8)
    for row in range(t.n):
        start, size = int(t.payload_off[row]), min(int(t.payload_len[row]), HEAD)
        want[row, :size] = t.batch.data[start: start + size]
    assert (t.payload_len[:len(payloads) * 2] > 0).sum() == 8
    assert _gather_heads(t, np.arange(t.n), HEAD).tolist() == want.tolist()
    subset = np.array([1, 4, 9, t.n - 1])
    assert head(t, subset, 5).tolist() == want[subset, :5].tolist()
    last = decode(Batch.from_frames(frames[-3:-2]))   # the payload ends where the data does
    assert _gather_heads(last, np.arange(1), HEAD)[0, :int(last.payload_len[0])].tolist() == \
        list(last.batch.data[int(last.payload_off[0]):][:int(last.payload_len[0])])
