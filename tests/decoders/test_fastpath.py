"""The compiled decode loop (decoders/kernel.py, entered through fastpath.py) writes every
PacketTable column exactly as the generic per-layer decoders do: each capture and batch below
is decoded both ways and compared column by column."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, strategies as st

import fuzzing as F
from ybsensor.decoders import Batch, decode, fastpath
from ybsensor.decoders.batch import PAD
from ybsensor.sensor.sources import CaptureError, read_capture
from tools import CORPUS, PCAPS, REPO, capture_files, require_module

if str(REPO) not in sys.path:          # bench/ is not installed: the repository is its root
    sys.path.insert(0, str(REPO))


def columns(t) -> dict[str, np.ndarray]:
    return {k: v for k, v in vars(t).items() if isinstance(v, np.ndarray)}


KINDS = ["numba"]
kinds = pytest.mark.parametrize("kind", KINDS)


def assert_same(batch: Batch, what: str = "", kind: str = "numba") -> None:
    generic, fused = columns(decode(batch, fast=False)), columns(decode(batch, fast=kind))
    assert generic.keys() == fused.keys()
    for name, want in generic.items():
        got = fused[name]
        assert got.dtype == want.dtype, (what, name)
        if not np.array_equal(got, want):
            rows = np.flatnonzero((got != want).reshape(len(want), -1).any(axis=1))
            raise AssertionError(f"{what}: column {name} differs in {len(rows)} rows, "
                                 f"first {rows[:5].tolist()}: fast {got[rows[:3]].tolist()} "
                                 f"generic {want[rows[:3]].tolist()}")


def assert_capture(path, kind: str) -> None:
    try:
        batches = list(read_capture(path))
    except (CaptureError, ValueError, OSError):
        return                          # a file the reader refuses: nothing to decode
    for k, batch in enumerate(batches):
        assert_same(batch, f"{path} batch {k}", kind)


SAMPLES = capture_files(PCAPS)


@pytest.mark.parametrize("path", SAMPLES, ids=[str(p.relative_to(PCAPS)) for p in SAMPLES])
@kinds
def test_samples_and_cases(path, kind):
    assert_capture(path, kind)


@kinds
def test_corpus(kind):
    files = sorted(p for p in CORPUS.iterdir() if p.is_file()) if CORPUS.is_dir() else []
    if not files:
        pytest.skip(f"no corpus at {CORPUS}")
    for path in files:
        assert_capture(path, kind)


@kinds
def test_mixed_bench_pcap(kind):
    from bench.mixed import SMALL, mixed_pcap
    assert_capture(mixed_pcap(SMALL), kind)


@kinds
@pytest.mark.parametrize("seed", (1, 2))
def test_bulk_random_and_mutated(seed, kind):
    rng = np.random.default_rng(seed)
    assert_same(F.bulk_random(rng, 20_000), "random", kind)
    assert_same(F.bulk_mutated(rng, 20_000)[0], "mutated", kind)


def frame(*parts: bytes) -> bytes:
    return b"".join(parts)


def edge_frames() -> list[bytes]:
    """Each way out of the fused chain, and each header it must leave to the generic one."""
    tcp = F.tcp(40000, 443, b"hello")
    udp = F.udp(40000, 53, b"query")
    out = []
    for l4, proto in ((tcp, 6), (udp, 17)):
        v4 = F.ipv4(proto, l4)
        v6 = F.ipv6(proto, l4)
        for l3, etype in ((v4, 0x0800), (v6, 0x86DD)):
            for tags in ([], [0x8100], [0x88A8, 0x8100], [0x8100, 0x8100, 0x8100]):
                head, types = b"", tags + [etype]
                for k, _ in enumerate(tags):
                    head += (100 + k).to_bytes(2, "big") + types[k + 1].to_bytes(2, "big")
                eth = F.MAC_A + F.MAC_B + types[0].to_bytes(2, "big") + head
                whole = eth + l3
                out += [whole[:cut] for cut in range(len(whole) + 1)]      # every cut
                out.append(whole + b"\0" * 30)                            # padding
    v4 = bytearray(F.ipv4(6, tcp))
    for offset, value in ((0, 0x46), (0, 0x44), (0, 0x55), (6, 0x20), (6, 0x01), (7, 0x01),
                          (2, 0x00), (3, 0x00), (3, 0x14), (3, 0x18), (9, 47), (9, 4), (9, 0)):
        bad = bytearray(v4)
        bad[offset] = value
        out.append(F.eth(0x0800, bytes(bad)))
    options = bytearray(v4)
    options[0] = 0x46
    out.append(F.eth(0x0800, bytes(options[:20]) + b"\x01\x01\x01\x00" + bytes(options[20:])))
    for dport in (1701, 4789, 4754, 6635, 53, 0):
        out.append(F.eth(0x0800, F.ipv4(17, F.udp(40000, dport, b"\0" * 24))))
    out.append(F.eth(0x0800, F.ipv4(17, F.udp(1701, 1701, b"\x00\x02" + b"\0" * 20))))
    for length in (0, 4, 8, 9, 200):
        u = bytearray(F.udp(5000, 6000, b"x" * 20))
        u[4:6] = length.to_bytes(2, "big")
        out.append(F.eth(0x0800, F.ipv4(17, bytes(u))))
    for off in (0x00, 0x40, 0x50, 0xF0):
        t = bytearray(tcp)
        t[12] = off
        out.append(F.eth(0x0800, F.ipv4(6, bytes(t))))
    for etype in (0x0000, 0x0005, 0x05FF, 0x0806, 0x8847, 0x1234, 0x88CC):
        out.append(F.eth(etype, F.ipv4(6, tcp)))
        out.append(F.eth(0x8100, (7).to_bytes(2, "big") + etype.to_bytes(2, "big")
                         + F.ipv4(6, tcp)))
    out.append(F.eth(0x86DD, F.ipv6(0, F.ipv6_ext(6, tcp))))
    out.append(F.eth(0x86DD, F.ipv6(44, b"\x06\0\0\x08\0\0\0\1" + tcp)))
    out += [b"", b"\0", b"\0" * 13, b"\0" * 14]
    return out


def tunnel_frames() -> list[bytes]:
    """The tunnels the kernel passes, each cut at every byte, and each header variant it
    passes or leaves to the generic decoder."""
    import struct
    inner = F.ipv4(6, F.tcp(40000, 443, b"inner"))
    inner6 = F.ipv6(17, F.udp(40000, 53, b"inner"))
    inner_eth = F.eth(0x0800, inner)

    def l2tp(flags, payload, length=None, pad=b""):
        head = struct.pack("!H", flags | 2)
        if flags & 0x4000:
            head += struct.pack("!H", 6 + 2 + 4 * bool(flags & 0x0800) + 2 * bool(flags & 0x0200)
                                + len(pad) + len(payload) if length is None else length)
        head += struct.pack("!HH", 7, 3)
        if flags & 0x0800:
            head += struct.pack("!HH", 1, 2)
        if flags & 0x0200:
            head += struct.pack("!H", len(pad)) + pad
        return F.eth(0x0800, F.ipv4(17, F.udp(1701, 1701, head + payload)))

    def gre_raw(flags, proto, payload, version=0):
        head = struct.pack("!HH", flags | version, proto)
        head += b"".join(struct.pack("!I", 0x1000 + k) for k, bit in
                         enumerate((0x8000, 0x2000, 0x1000)) if flags & bit)
        return F.eth(0x0800, F.ipv4(47, head + payload))

    whole = [
        F.eth(0x8847, F.mpls([16, 1000], inner)),
        F.eth(0x8847, F.mpls([1000], inner6)),
        F.eth(0x8100, (5).to_bytes(2, "big") + (0x8847).to_bytes(2, "big")
              + F.mpls([16, 17, 1000], inner)),
        F.eth(0x0800, F.ipv4(47, F.gre(0x0800, inner, key=42))),
        F.eth(0x0800, F.ipv4(47, F.gre(0x86DD, inner6, key=42, seq=9))),
        gre_raw(0xB000, 0x0800, inner),                     # checksum, key, sequence
        gre_raw(0x8000, 0x0800, inner),                     # checksum alone
        F.eth(0x0800, F.ipv4(47, F.gre(0x6558, inner_eth))),
        F.eth(0x0800, F.ipv4(47, F.gre(0x88BE, struct.pack("!HHI", (1 << 12) | 10, 5, 0)
                                       + inner_eth, seq=1))),
        F.eth(0x0800, F.ipv4(17, F.udp(50000, 4789, struct.pack("!B3xI", 8, 5000 << 8)
                                       + inner_eth))),
        l2tp(0, b"\xff\x03\x00\x21" + inner),
        l2tp(0x4000, b"\xff\x03\x00\x57" + inner6),
        l2tp(0x4800, b"\x00\x21" + inner),                   # no address/control
        l2tp(0x0800, b"\x21" + inner),                       # compressed protocol
        l2tp(0, b"\xff\x03\xc0\x21\x01\x01\x00\x04"),        # LCP
    ]
    out = []
    for frame in whole:
        out += [frame[:cut] for cut in range(len(frame) + 1)]
        out.append(frame + b"\0" * 30)
    out += [
        F.eth(0x8847, F.mpls([13], inner)),                 # GAL: associated channel
        F.eth(0x8847, F.mpls([1000], b"\x10" + inner)),     # PW associated channel
        F.eth(0x8847, F.mpls([1000], b"\x00\x00\x00\x00" + inner_eth)),   # pseudowire
        F.eth(0x8847, F.mpls([1000], b"\x55" + inner)),
        F.eth(0x8847, b"".join(struct.pack("!I", (k << 12) | 64) for k in range(17)) + inner),
        gre_raw(0x4000, 0x0800, inner),                     # routing present
        gre_raw(0x2000, 0x0800, inner, version=2),
        gre_raw(0x3080, 0x880B, b"\xff\x03\x00\x21" + inner, version=1),   # PPTP
        gre_raw(0, 0x88BE, inner_eth),                      # ERSPAN type I
        gre_raw(0, 0x883E, inner),                          # WCCP
        gre_raw(0, 0x1234, inner),                          # no decoder
        F.eth(0x0800, F.ipv4(47, F.gre(0x22EB, struct.pack("!HHIHH", (2 << 12) | 10, 6, 0, 0, 0)
                                       + inner_eth, seq=1))),
        F.eth(0x0800, F.ipv4(47, F.gre(0x88BE, struct.pack("!HHI", (3 << 12), 5, 0)
                                       + inner_eth, seq=1))),
        l2tp(0x0200, b"\xff\x03\x00\x21" + inner, pad=b"\0\0"),
        l2tp(0x4000, b"\xff\x03\x00\x21" + inner, length=4),
        l2tp(0x4000, b"\xff\x03\x00\x21" + inner, length=12),
        l2tp(0x4000, b"\xff\x03\x00\x21" + inner, length=8),
        l2tp(0xC800, b"\0" * 12),                           # control message
        l2tp(0, b"\xff\x03\x12\x34" + inner),                # PPP protocol with no decoder
        F.eth(0x0800, F.ipv4(17, F.udp(1701, 1701, b"\x00\x03" + b"\0" * 30))),   # L2TPv3
        F.eth(0x0800, F.ipv4(17, F.udp(1701, 1701, b"\x00\x01" + b"\0" * 30))),   # L2F
    ]
    return out


@kinds
def test_tunnel_frames(kind):
    frames = tunnel_frames()
    assert_same(Batch.from_frames(frames), "tunnel frames", kind)
    for k in range(0, len(frames), 5):
        assert_same(Batch.from_frames(frames[k:k + 5]), f"tunnel frames {k}", kind)


@kinds
def test_edge_frames(kind):
    frames = edge_frames()
    assert_same(Batch.from_frames(frames), "edge frames", kind)
    for k in range(0, len(frames), 7):          # alone, and in small batches
        assert_same(Batch.from_frames(frames[k:k + 7]), f"edge frames {k}", kind)


@kinds
def test_raw_ip_link_types(kind):
    """Entries at IPv4 and IPv6 themselves (raw IP captures), every row at once."""
    v4 = F.ipv4(6, F.tcp(1, 2, b"x"))
    v6 = F.ipv6(17, F.udp(3, 4, b"y"))
    for linktype, frames in ((228, [v4, v4[:10], v4 + b"pad"]), (229, [v6, v6[:30]]),
                             (101, [v4, v6, v4[:19]])):
        assert_same(Batch.from_frames(frames, linktype=linktype), f"linktype {linktype}", kind)


@kinds
def test_deep_frames_and_round_limit(kind):
    assert_same(F.make_batch(list(F.deep_frames().values())), "deep", kind)
    for wrappers in (["ipip"] * 20, ["vlan"] * 12, ["ipip"] * 18 + ["vxlan"] * 2,
                     ["gre"] * 7 + ["vxlan"] * 3, ["mpls_udp"] * 6, ["ipip"] * 21):
        batch = F.make_batch([F.nest(wrappers, k)[0] for k in range(3)])
        assert_same(batch, "+".join(wrappers), kind)


@kinds
@F.PROFILE
@given(st.lists(F.hostile_frames(), min_size=1, max_size=40))
def test_hostile_frames(kind, frames):
    assert_same(F.make_batch(frames), "hostile", kind)


@kinds
@F.PROFILE
@given(st.lists(F.nested(), min_size=1, max_size=10))
def test_nested_tunnels(kind, nests):
    assert_same(F.make_batch([fn[0] for fn in nests]), "nested", kind)


def test_a_fused_layer_the_dispatch_decodes_otherwise_leaves_the_loop():
    """The loop's steps and their layer ids come from the protocols' `fused` declarations:
    where a dispatch maps a fused layer's name to another decoder, the loop's id for it is
    -1, its rows go to that decoder, and the layers after it are still fused."""
    require_module("numba")
    from ybsensor.decoders import dispatch as D, driver, gre
    seen = []

    def gre_elsewhere(f, rows):
        seen.append(len(rows))
        gre.decode(f, rows)
    variant = D.Dispatch({name: ((gre_elsewhere, visible) if name == "gre" else (fn, visible))
                          for name, (fn, visible) in D.LAYERS.items()})
    chain = fastpath.KernelChain(variant)
    assert chain.ids["gre"] == -1
    assert chain.ids["tcp"] == variant.id("tcp") > 0
    inner = F.ipv4(6, F.tcp(1000, 80, b"GET / HTTP/1.1\r\n"))
    batch = Batch.from_frames([F.eth(0x0800, F.ipv4(47, F.gre(0x0800, inner, key=7)))] * 3)
    got, want = columns(driver.run(batch, variant, fast="numba")), columns(decode(batch, fast=False))
    assert seen == [3]
    for name, column in want.items():
        assert np.array_equal(got[name], column), name


def test_kernel_keeps_each_finished_rows_payload_head(monkeypatch):
    """The decode kernel copies the first HEAD_BYTES payload bytes of every row it finishes
    (zero past the payload): equal to the bytes the table's payload_off and payload_len
    name, on the mix, the tunnel and edge frames and the corpus; content.head, which starts
    from them, equals gathering every row."""
    from bench.mixed import SMALL, mixed_pcap
    from ybsensor.decoders.table import HEAD_BYTES
    from ybsensor.detectors import content
    mix = list(read_capture(mixed_pcap(SMALL)))
    batches = mix + [
        Batch.from_frames(tunnel_frames()), Batch.from_frames(edge_frames())]
    files = sorted(p for p in CORPUS.iterdir() if p.is_file()) if CORPUS.is_dir() else []
    for path in files:
        try:
            batches += list(read_capture(path))
        except (CaptureError, ValueError, OSError):
            pass
    known = 0
    for k, batch in enumerate(batches):
        t = decode(batch, fast="numba", heads=True)
        assert decode(batch, fast="numba").payload_heads is None     # not asked for
        kept = t.payload_heads      # None where the kernel had no row (a link type it
        rows = np.flatnonzero(kept.known) if kept is not None else []     # does not enter)
        known += len(rows) if k < len(mix) else 0
        for row in list(rows):
            size = min(int(t.payload_len[row]), HEAD_BYTES)
            start = int(t.payload_off[row])
            want = bytes(t.batch.data[start: start + size]) + bytes(HEAD_BYTES - size)
            assert kept.values[row].tobytes() == want, (batch.source, row)
        everything = content._gather_heads(t, np.arange(t.n), HEAD_BYTES)
        assert content.head(t, np.arange(t.n), HEAD_BYTES).tolist() == everything.tolist()
    assert known > 0.9 * sum(len(b) for b in mix)      # nearly every row of the mix


def test_pad_is_enough():
    """A header block gathered at a frame's last byte stays inside the padded buffer."""
    import importlib
    import pkgutil
    import ybsensor.decoders as package
    from ybsensor.decoders.layout import Layout
    spans = [v.span for m in pkgutil.iter_modules(package.__path__)
             for v in vars(importlib.import_module(f"ybsensor.decoders.{m.name}")).values()
             if isinstance(v, Layout)]
    assert len(spans) > 10 and max(spans) <= PAD


def test_numba_kernel_is_what_decode_uses(monkeypatch):
    """Where numba is installed (make setup installs it; a failure under CI=true where it is
    missing), decode's default is the compiled kernel: its loop runs for the batch."""
    require_module("numba")
    from ybsensor.decoders import kernel
    monkeypatch.setattr(fastpath, "KERNEL_AFTER_FRAMES", 0)   # as a long-running process
    if os.environ.get("YBSENSOR_DECODE_KERNEL", "auto") in ("auto", "numba"):
        assert fastpath.KERNEL == "numba" and fastpath.backend() == "numba"
    else:
        monkeypatch.setattr(fastpath, "KERNEL", "numba")
    calls = []
    run = kernel.run

    def spy(*args):
        calls.append(len(args[1]))
        return run(*args)
    monkeypatch.setattr(kernel, "run", spy)
    batch = Batch.from_frames([F.eth(0x0800, F.ipv4(6, F.tcp(1, 2, b"x")))] * 3)
    table = decode(batch)
    assert calls == [3]
    assert table.sport.tolist() == [1, 1, 1] and table.nlayers.tolist() == [3, 3, 3]
    assert columns(decode(batch, fast=False)).keys() == columns(table).keys()


def _decode_in_child(env: dict, code: str) -> str:
    script = ("import sys; sys.path.insert(0, sys.argv[1]);" + code)
    out = subprocess.run([sys.executable, "-c", script, str(REPO)], env={**os.environ, **env},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


SMALL_DECODE = ("from ybsensor.decoders import Batch, decode, fastpath;"
                "t = decode(Batch.from_frames([bytes(12) + bytes([8, 0, 0x45]) + bytes(17)]));"
                "print(fastpath.KERNEL, t.nlayers.tolist())")


def test_backend_chosen_without_numba_and_by_the_environment():
    no_numba = "import sys; sys.modules['numba'] = None;"   # as if not installed
    assert _decode_in_child({"YBSENSOR_DECODE_KERNEL": "auto"},
                            no_numba + SMALL_DECODE) == "generic [2]"
    assert _decode_in_child({"YBSENSOR_DECODE_KERNEL": "numpy"}, SMALL_DECODE) == "generic [2]"
    assert _decode_in_child({"YBSENSOR_DECODE_KERNEL": "generic"}, SMALL_DECODE) == "generic [2]"


def test_a_short_process_keeps_the_generic_decoders_until_enough_frames():
    """numba's import costs more than the kernel wins on a small capture: the default
    takes the kernel once the process has decoded KERNEL_AFTER_FRAMES frames (or at once
    after load_kernel_now, as `ybsensor run` does)."""
    require_module("numba")
    code = ("from ybsensor.decoders import Batch, decode, fastpath; import sys;"
            "b = Batch.from_frames([bytes(12) + bytes([8, 0, 0x45]) + bytes(17)] * 600);"
            "fastpath.KERNEL_AFTER_FRAMES = 1000;"
            "decode(b); first = 'ybsensor.decoders.kernel' in sys.modules;"
            "decode(b); second = 'ybsensor.decoders.kernel' in sys.modules;"
            "print(fastpath.KERNEL, first, second)")
    assert _decode_in_child({"YBSENSOR_DECODE_KERNEL": "auto"}, code) == "numba False True"
    now = ("from ybsensor.decoders import Batch, decode, fastpath; import sys;"
           "fastpath.load_kernel_now();"
           "decode(Batch.from_frames([bytes(12) + bytes([8, 0, 0x45]) + bytes(17)]));"
           "print('ybsensor.decoders.kernel' in sys.modules)")
    assert _decode_in_child({"YBSENSOR_DECODE_KERNEL": "auto"}, now) == "True"


def test_read_only_install_compiles_without_a_cache(tmp_path):
    """An installed package (ybsensor with its decoders and core under it) in a directory,
    and a home, that cannot be written: numba caches elsewhere or not at all, and the
    compiled loop decodes. Then no cache location at all (NUMBA_CACHE_LOCATOR_CLASSES names
    none that applies): numba compiles in memory. Each child compiles from a cold start."""
    require_module("numba")
    import shutil
    site = tmp_path / "site"
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "ybsensor", site / "ybsensor", ignore=skip)
    for part in ("core", "decoders"):
        shutil.copytree(REPO / part, site / "ybsensor" / part, ignore=skip)
    home = tmp_path / "home"
    home.mkdir()
    dirs = [home, site, *(p for p in site.rglob("*") if p.is_dir())]
    for d in dirs:
        d.chmod(0o555)
    try:
        code = ("sys.path.insert(0, %r);" % str(site) + SMALL_DECODE
                + ";import ybsensor.decoders as d; assert d.__file__.startswith(%r), d.__file__"
                % str(site))
        env = {"HOME": str(home), "XDG_CACHE_HOME": str(home / "cache"), "PYTHONPATH": str(site),
               "YBSENSOR_DECODE_KERNEL": "numba", "NUMBA_CACHE_DIR": ""}
        if os.geteuid() != 0:   # root writes through the modes: nothing read-only to try
            assert _decode_in_child(env, code) == "numba [2]"
        env["NUMBA_CACHE_LOCATOR_CLASSES"] = "IPythonCacheLocator"
        assert _decode_in_child(env, code) == "numba [2]"
    finally:
        for d in dirs:
            d.chmod(0o755)


def test_no_jit_allowed_falls_back_to_the_generic_decoders():
    """Under a W^X policy (systemd's MemoryDenyWriteExecute; here the kernel's own
    PR_SET_MDWE) numba cannot map executable memory: decoding goes on, generic, with the
    same table, and says why once."""
    require_module("numba")
    code = ("import ctypes, sys, warnings;"
            "ok = ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) == 0;"  # PR_SET_MDWE
            "from ybsensor.decoders import Batch, decode, fastpath;"
            "fastpath.load_kernel_now();"
            "b = Batch.from_frames([bytes(12) + bytes([8, 0, 0x45]) + bytes(17)] * 3);"
            "w = warnings.catch_warnings(record=True); caught = w.__enter__();"
            "warnings.simplefilter('always');"
            "t = decode(b); decode(b);"
            "print(ok, fastpath.KERNEL, t.nlayers.tolist(),"
            "      sum('numba cannot run here' in str(x.message) for x in caught))")
    out = _decode_in_child({"YBSENSOR_DECODE_KERNEL": "auto"}, code)
    if out.startswith("False"):
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    assert out == "True generic [2, 2, 2] 1"


PRIORITY_TAGS = [  # (TPID, VLAN id) of each tag, outermost first -> the line (802.1Q: VLAN
    ([(0x8100, 0)], "if:0"),            # id 0 carries a priority only, on the port's own line)
    ([(0x8100, 0), (0x8100, 100)], "vlan:100"),
    ([(0x88A8, 10), (0x8100, 0)], "vlan:10"),
    ([(0x88A8, 10), (0x8100, 100)], "qinq:10.100"),
    ([(0x8100, 0), (0x8100, 0)], "if:0"),
    ([(0x88A8, 10), (0x8100, 100), (0x8100, 0)], "qinq:10.100"),
    ([(0x8100, 0), (0x88A8, 10), (0x8100, 100)], "qinq:10.100"),
]


@kinds
def test_a_priority_tag_names_no_line(kind):
    """A priority-tagged frame (VLAN id 0, as IP phones and CPEs mark 802.1p) is on its
    port's untagged line, not on a `vlan:0` every such port would share; the tags around it
    name the line as they would without it. The compiled loop agrees with the decoders."""
    from ybsensor.decoders.view import line_key
    frames = []
    for tags, _ in PRIORITY_TAGS:
        types = [tpid for tpid, _ in tags] + [0x0800]
        head = b"".join((0xA000 | vid).to_bytes(2, "big") + types[k + 1].to_bytes(2, "big")
                        for k, (_, vid) in enumerate(tags))    # priority 5 in every tag
        frames.append(F.MAC_A + F.MAC_B + types[0].to_bytes(2, "big") + head
                      + F.ipv4(6, F.tcp(40000, 443, b"x")))
    batch = Batch.from_frames(frames)
    assert_same(batch, "priority tags", kind)
    t = decode(batch, fast=kind)
    assert [line_key(k, a, b, ["0"]) for k, a, b in zip(t.line_kind.tolist(), t.line_a.tolist(),
                                                         t.line_b.tolist())] == \
        [line for _, line in PRIORITY_TAGS]
