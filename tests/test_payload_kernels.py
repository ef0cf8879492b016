"""The payload engine's compiled loops (detectors/payload_kernels.py, numba) give what its
numpy code gives: each loop against its numpy reference on hypothesis's data, and the whole
engine (classes, stream regions, matches, digit runs, edges) view by view and alert by alert
on the sample cases and on random TCP streams, with the compiled path on and off."""
from __future__ import annotations

import json
import re
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import fuzzing as F
from ybsensor.decoders import Batch, fastpath
from ybsensor.decoders import compiled as compiled_switch
from ybsensor.detectors import compiled, matcher
from ybsensor.detectors.matcher import LiteralMatcher, _digit_run_hits_numpy, digit_run_hits, \
    hyperscan_available
from tools import ONE_HOSPITAL, PCAPS, require_module


@pytest.fixture
def on(monkeypatch):
    """on(True): the compiled loops run (whatever the decoders' switch says); on(False):
    the numpy code."""
    def switch(value: bool) -> None:
        if value:
            require_module("numba")
            # a loop that does not compile is an error here, not a fallback to numpy
            monkeypatch.setattr(fastpath, "_WANT", "numba")
            monkeypatch.setattr(compiled_switch, "_refused", False)
        monkeypatch.setattr(compiled, "on", lambda: value)
    return switch


def _runs(data: np.ndarray, lo: int, hi: int):
    s, e = digit_run_hits(data, lo, hi)
    return s.tolist(), e.tolist()


digit_data = st.lists(st.one_of(st.text("0123456789", min_size=1, max_size=40).map(str.encode),
                                 st.binary(max_size=15)), max_size=30).map(b"".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(digit_data, st.integers(0, 30), st.integers(0, 30))
def test_digit_runs_compiled_equal_numpy(on, data, cut_lo, cut_hi):
    arr = np.frombuffer(data, np.uint8)
    lo, hi = min(cut_lo, len(arr)), max(len(arr) - cut_hi, 0)
    on(False)
    want = _runs(arr, lo, hi)
    on(True)
    assert _runs(arr, lo, hi) == want


def test_digit_runs_at_the_buffer_end(on):
    """Windows that reach past the buffer (no padding after hi) read zeros, not past it."""
    data = np.frombuffer(b"x" * 5 + b"1" * 25, np.uint8).copy()
    for value in (False, True):
        on(value)
        assert _runs(data, 0, len(data)) == ([5, 12], [22, 30])         # samples 11, 22
        assert _runs(data, 3, len(data)) == ([5, 15], [25, 30])          # samples 14, 25


def test_digit_runs_numpy_reference_finds_each_run(on):
    on(False)
    data = np.frombuffer(b"ab" + b"1" * 15 + b"cd" + b"2" * 12, np.uint8)
    s, e = _digit_run_hits_numpy(data, 0, len(data), 11)
    assert list(zip(s.tolist(), e.tolist())) == [(2, 17), (19, 31)]


PIECE_LITERALS = [b"psn_name", b"psn_no", b"certno", b"pwd="]
RUN_OF_11 = re.compile(rb"[0-9]{11}")


def _backends() -> list[str]:
    return ["numpy"] + (["hyperscan"] if hyperscan_available() else [])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.sampled_from([b"psn_name", b"PSN_no", b"certno", b"pwd=",
                                           b"12345678901234", b"0" * 11, b"7" * 6]),
                          st.binary(max_size=12)), max_size=60).map(b"".join),
       st.lists(st.integers(0, 400), max_size=12), st.randoms(use_true_random=False),
       st.integers(1, 6))
def test_scan_pieces_finds_what_each_piece_holds(on, data, cuts, rnd, chunk):
    """Pieces of a buffer (disjoint, in any order), copied and scanned in chunks of any size:
    the literal matches are those of each piece scanned alone; the pieces a digit run
    touches include every piece holding a run of 11 digits, and the others only where a
    run ran over into them across a piece's edge (from its first or last byte)."""
    arr = np.frombuffer(data, np.uint8)
    bounds = sorted({min(c, len(arr)) for c in cuts} | {0, len(arr)})
    spans = [(a, b) for a, b in zip(bounds[:-1], bounds[1:])][::2]   # every other span
    rnd.shuffle(spans)
    off = np.array([a for a, _ in spans], dtype=np.int64)
    length = np.array([b - a for a, b in spans], dtype=np.int64)
    alone = LiteralMatcher(PIECE_LITERALS, "numpy")
    want_lits = sorted((a + int(s_), int(i), k) for k, (a, b) in enumerate(spans)
                       for s_, i in zip(*alone.scan(arr[a:b])))
    holds_run = {k for k, (a, b) in enumerate(spans) if RUN_OF_11.search(data[a:b])}
    at_edge = {k for k, (a, b) in enumerate(spans)
               if b > a and (chr(data[a]).isdigit() or chr(data[b - 1]).isdigit())}
    for value in (False, True):
        on(value)
        for backend in _backends():
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(matcher, "CHUNK", 11 * chunk)
                hits = matcher.scan_pieces(arr, off, length, LiteralMatcher(PIECE_LITERALS, backend))
            got = list(zip(hits.start.tolist(), hits.literal.tolist(), hits.piece.tolist()))
            assert got == want_lits, (value, backend)
            touched = set(hits.digit_pieces.tolist())
            assert holds_run <= touched <= holds_run | at_edge, (value, backend)
            assert hits.digit_pieces.tolist() == sorted(touched)


def test_scan_pieces_never_reads_between_the_pieces(on):
    """What lies between the pieces (headers, encrypted payloads) is not searched: a
    literal and a run of digits there are not found; the same in a piece are."""
    data = np.frombuffer(b"hdr certno 13800138000 hdr" + b"psn_name=x 13800138000" + b"tail",
                         np.uint8)
    off, length = np.array([26]), np.array([22])
    for value in (False, True):
        on(value)
        for backend in _backends():
            hits = matcher.scan_pieces(data, off, length, LiteralMatcher(PIECE_LITERALS, backend))
            assert (hits.start.tolist(), hits.literal.tolist(), hits.piece.tolist()) == \
                ([26], [0], [0])
            assert hits.digit_pieces.tolist() == [0]
            hits = matcher.scan_pieces(data, np.array([0, 48]), np.array([3, 4]),
                                       LiteralMatcher(PIECE_LITERALS, backend))
            assert hits.start.size == 0 and hits.digit_pieces.size == 0
            # two pieces that spell a literal only when put one after the other
            split = np.frombuffer(b"psn_" + b"<hdr>" + b"name", np.uint8)
            hits = matcher.scan_pieces(split, np.array([0, 9]), np.array([4, 4]),
                                       LiteralMatcher(PIECE_LITERALS, backend))
            assert hits.start.size == 0


def test_scan_pieces_a_literal_at_every_place_against_a_chunk_edge(on, monkeypatch):
    """Pieces are never cut: a literal at any place of a piece that straddles where a chunk
    would end is found once."""
    monkeypatch.setattr(matcher, "CHUNK", 11)
    for value in (False, True):
        on(value)
        for backend in _backends():
            m = LiteralMatcher([b"psn_name", b"pwd="], backend)
            for at in range(40):
                data = bytearray(b"x" * 60)
                data[at + 5: at + 13] = b"psn_name"
                arr = np.frombuffer(bytes(data), np.uint8)
                hits = matcher.scan_pieces(arr, np.array([0, 5, 55]), np.array([5, 50, 5]), m)
                assert list(zip(hits.start.tolist(), hits.piece.tolist())) == [(at + 5, 1)]


# --- the whole engine, compiled and not ------------------------------------------------

VIEW_FIELDS = ("cls", "lit_entry", "lit_id", "lit_start", "digit_entries", "edge_digit_owner",
               "edge_lit_owner", "edge_lit_id")
REGION_FIELDS = ("row", "off", "length", "sid", "joined", "from_state", "skip", "last",
                 "stored_at", "stored_tail", "stored_len")


def engine_views(monkeypatch, sensor, batches) -> list[dict]:
    """Every array of the engine's View of each batch, as the sensor replays `batches`."""
    from ybsensor.detectors.streams import Engine
    compute = Engine._compute
    got = []

    def keep(self, ctx):
        view = compute(self, ctx)
        got.append({**{f: getattr(view, f) for f in VIEW_FIELDS},
                    **{f"regions.{f}": getattr(view.regions, f) for f in REGION_FIELDS},
                    "regions.first_words": view.regions.first_words()})
        return view
    with monkeypatch.context() as mp:
        mp.setattr(Engine, "_compute", keep)
        for batch in batches:
            sensor.pipeline.process(batch)
        sensor.close()
    return got


def assert_same_views(numpy_views: list[dict], compiled_views: list[dict]) -> None:
    assert len(numpy_views) == len(compiled_views)
    for k, (want, got) in enumerate(zip(numpy_views, compiled_views)):
        for name, w in want.items():
            g = got[name]
            if w is None or g is None:
                assert w is None and g is None, (k, name)
                continue
            assert g.dtype == w.dtype and np.array_equal(g, w), \
                f"batch {k}, {name}: compiled {g[:8]} numpy {w[:8]}"


def replay_both(monkeypatch, on, make_sensor, batches, alerts_of) -> list[dict]:
    runs = {}
    for value in (False, True):
        on(value)
        sensor, where = make_sensor(value)
        runs[value] = engine_views(monkeypatch, sensor, batches), alerts_of(where)
    assert_same_views(runs[False][0], runs[True][0])
    assert runs[False][1] == runs[True][1]
    return runs[False][0]


def _alerts(path) -> list[dict]:
    """The alerts, each evidence pcap by its name and its bytes (the runs write apart), less
    the hash chain (over records that name those places)."""
    from pathlib import Path
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        alert = json.loads(line)
        alert.pop("prev_hash", None)
        if alert.get("evidence_pcap"):
            pcap = Path(alert["evidence_pcap"])
            alert["evidence_pcap"] = (pcap.name, pcap.read_bytes())
        out.append(alert)
    return out


CASES = sorted(p.name for p in (PCAPS / "cases").iterdir()
               if p.is_dir() and (p.name.startswith(("pii_", "cred_", "none_tls"))))


@pytest.mark.parametrize("case", CASES)
def test_engine_compiled_equals_numpy_on_the_cases(case, on, monkeypatch, tmp_path):
    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
    from ybsensor.sensor.sources import read_capture
    folder = PCAPS / "cases" / case
    batches = list(read_capture(folder / "input.pcap"))

    def make(value):
        out = tmp_path / str(value) / "alerts.jsonl"
        return Sensor(load(folder / "config.toml"), alerts_path=str(out)), out
    views = replay_both(monkeypatch, on, make, batches, _alerts)
    assert views


# random TCP streams of one line: in order, retransmitted, overlapping, with holes, out of
# order, across batches; payloads of digits, the detectors' literals, TLS and SSH headers
CONFIG = ONE_HOSPITAL + '\n[detectors.plaintext_pii]\nhash_key = "k"\n'
CLIENT, SERVER = 0x0A010203, 0x0AC80114
PIECES = [b"psn_name=", b'"certno":"', "姓名：".encode(), "姓名".encode("gbk"), b"infno=1101",
          b"password=", b"\r\nUSER bob\r\nPASS pw\r\n", b"Authorization: Basic Ym9iOnB3\r\n",
          b"\x16\x03\x01\x00\x20", b"SSH-2.0-x", b"\r\n", b"&"]
payloads = st.lists(st.one_of(st.text("0123456789", min_size=1, max_size=24).map(str.encode),
                              st.sampled_from(PIECES), st.binary(max_size=20)),
                    max_size=6).map(b"".join)


def tcp_frame(payload: bytes, stream: int, up: bool, seq: int) -> bytes:
    ports = (40000 + stream, 8080 if stream % 2 else 21)
    src, dst, sport, dport = (SERVER, CLIENT, ports[1], ports[0]) if up else \
        (CLIENT, SERVER, *ports)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq % (1 << 32), 1, 5 << 4, 0x18, 502, 0, 0)
    vlan = struct.pack("!HH", 100, 0x0800)
    return F.eth(0x8100, vlan + F.ipv4(6, tcp + payload, src, dst))


@st.composite
def stream_batches(draw) -> list[list[bytes]]:
    seq: dict[tuple[int, bool], int] = {}
    sent: dict[tuple[int, bool], list[tuple[int, bytes]]] = {}
    batches = []
    for _ in range(draw(st.integers(1, 3))):
        frames = []
        for _ in range(draw(st.integers(1, 12))):
            key = (draw(st.integers(0, 2)), draw(st.booleans()))
            at = seq.setdefault(key, draw(st.integers(0, (1 << 32) - 1)))
            kind = draw(st.sampled_from(["next", "next", "next", "again", "overlap", "hole"]))
            data = draw(payloads)
            old = sent.get(key)
            if kind == "again" and old:
                at, data = draw(st.sampled_from(old))
            elif kind == "overlap":
                at -= draw(st.integers(1, 30))
            elif kind == "hole":
                at += draw(st.integers(1, 30))
            frames.append(tcp_frame(data, key[0], key[1], at))
            sent.setdefault(key, []).append((at, data))
            seq[key] = max(seq[key], at + len(data))
        batches.append(draw(st.permutations(frames)) if draw(st.booleans()) else frames)
    return batches


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(stream_batches())
def test_engine_compiled_equals_numpy_on_random_streams(on, monkeypatch, tmp_path_factory,
                                                        frames):
    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
    folder = tmp_path_factory.mktemp("streams")
    (folder / "sensor.toml").write_text(CONFIG)
    first = np.cumsum([0] + [len(f) for f in frames])[:-1] + 1
    batches = [Batch.from_frames(f, ts_ns=list(range(len(f))), first_frame=int(k))
               for f, k in zip(frames, first)]

    def make(value):
        out = folder / str(value) / "alerts.jsonl"
        return Sensor(load(folder / "sensor.toml"), alerts_path=str(out)), out
    replay_both(monkeypatch, on, make, batches, _alerts)


@pytest.mark.parametrize("compiled_on", [True, False])
def test_a_hole_filled_in_the_next_batch_is_no_hole(on, tmp_path, compiled_on):
    """A hole left at a batch's end: the segment past it is held, and walks again when the
    next batch fills the hole; nothing jumped, nothing left held, whichever way the walks
    ran."""
    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
    on(compiled_on)
    (tmp_path / "sensor.toml").write_text(CONFIG)
    s = Sensor(load(tmp_path / "sensor.toml"), alerts_path=str(tmp_path / "alerts.jsonl"))
    a, b, c = b"a" * 40, b"b" * 25, b"c" * 30
    s.pipeline.process(Batch.from_frames([tcp_frame(a, 1, False, 1000),
                                          tcp_frame(c, 1, False, 1065)]))
    engine = next(d.engine for d in s.alerter.detectors if hasattr(d, "engine"))
    assert engine.held.size == len(c)
    s.pipeline.process(Batch.from_frames([tcp_frame(b, 1, False, 1040),
                                          tcp_frame(c, 1, False, 1065)], first_frame=3))
    assert engine.jumped == 0 and engine.held.size == 0
    text = "".join(str(m) for fam in engine.metric_families() for m in fam.samples)
    assert "ybsensor_payload_stream_jumped_bytes_total" in text


@pytest.mark.parametrize("compiled_on", [True, False])
def test_resent_bytes_that_differ_from_the_first_copy_are_counted(on, tmp_path, compiled_on):
    """A retransmission with the same bytes is no evasion; one with other bytes where it
    overlaps what the stream carried (in this batch) is counted, once a segment."""
    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
    on(compiled_on)
    (tmp_path / "sensor.toml").write_text(CONFIG)
    s = Sensor(load(tmp_path / "sensor.toml"), alerts_path=str(tmp_path / "alerts.jsonl"))
    a, b = b"a" * 40, b"b" * 30
    s.pipeline.process(Batch.from_frames([
        tcp_frame(a, 1, False, 1000), tcp_frame(b, 1, False, 1040),
        tcp_frame(a, 1, False, 1000),                       # the same again
        tcp_frame(a[:10] + b"Z" * 30 + b[:5], 1, False, 1000)]))  # other bytes, overlapping both
    engine = next(d.engine for d in s.alerter.detectors if hasattr(d, "engine"))
    assert engine.differ == 1
    text = "".join(str(m) for fam in engine.metric_families() for m in fam.samples)
    assert "ybsensor_payload_stream_overlaps_differ_total" in text


def test_no_jit_allowed_falls_back_to_numpy():
    """Under a W^X policy (here the kernel's own PR_SET_MDWE) numba cannot map executable
    memory: the engine's loops fall back to numpy, with the same result, and say so once."""
    import subprocess
    import sys

    from tools import REPO
    require_module("numba")
    code = ("import ctypes, sys, warnings; sys.path.insert(0, sys.argv[1]);"
            "ok = ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) == 0;"  # PR_SET_MDWE
            "import numpy as np; from ybsensor.decoders import fastpath; fastpath.load_kernel_now();"
            "from ybsensor.detectors import compiled; from ybsensor.detectors.matcher import digit_run_hits;"
            "data = np.frombuffer(b'ab' + b'7' * 30 + b'cd', np.uint8);"
            "w = warnings.catch_warnings(record=True); caught = w.__enter__();"
            "warnings.simplefilter('always');"
            "a = digit_run_hits(data); b = digit_run_hits(data);"
            "print(ok, a[0].tolist(), b[1].tolist(), compiled.on(),"
            "      sum('numba cannot run here' in str(x.message) for x in caught))")
    out = subprocess.run([sys.executable, "-c", code, str(REPO)], capture_output=True,
                         text=True, timeout=300, env={**__import__("os").environ,
                                                      "YBSENSOR_DECODE_KERNEL": "auto"})
    assert out.returncode == 0, out.stderr
    if out.stdout.startswith("False"):
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    assert out.stdout.strip() == "True [2, 12] [22, 32] False 1"


# --- payload classes: every header kind, every protocol, state across batches --------------

HEADERS = [b"\x16\x03\x01\x00\x20", b"\x17\x03\x03\x40\x00", b"\x17\x01\x01\x00\x10",
           b"\x15\x03\x05\x00\x01", b"SSH-2.0", b"\x16\xfe\xfd\x00\x00", b"\x19\xfe\xff\x00",
           b"\xc0\x00\x00\x00\x01", b"\xc3\x6b\x33\x43\xcf", b"\xc0\xff\x00\x00\x1d",
           b"\xc0\x00\x00\x00\x00", b"\x01\x00\x00\x00", b"\x04\x00\x00\x00", b"\x02\x00\x00\x00",
           b"\x03\x00\x00\x00", b"\x05\x00\x00\x00", b""]


class _Table:
    """The columns of a PacketTable that classify reads."""

    def __init__(self, payloads: list[bytes], proto, sport, dport):
        self.n = len(payloads)
        data = b"".join(payloads)
        self.batch = type("B", (), {})()
        self.batch.data = np.frombuffer(data + bytes(16), np.uint8)
        self.payload_len = np.array([len(p) for p in payloads], dtype=np.int64)
        self.payload_off = np.concatenate([[0], np.cumsum(self.payload_len)[:-1]]).astype(np.int64)
        self.proto, self.sport, self.dport = (np.array(x, dtype=np.int64) for x in (proto, sport, dport))


row_st = st.tuples(st.sampled_from(HEADERS), st.binary(max_size=20), st.sampled_from([6, 17, 50, 1]),
                   st.sampled_from([500, 4500, 443, 1234]), st.sampled_from([500, 4500, 80, 2]),
                   st.integers(-1, 5), st.sampled_from([0, 0, 0, 13, 32, 40, 64, 92, 148]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(row_st, min_size=1, max_size=25), min_size=1, max_size=3))
def test_payload_classes_compiled_equal_numpy(on, batches):
    from ybsensor.detectors.payload_class import PayloadClasses
    from ybsensor.core.flows import FlowGroups
    classes = {}
    for value in (False, True):
        on(value)
        pc, got = PayloadClasses(), []
        for rows in batches:
            # a row's payload: a header, then bytes; sizes like a WireGuard message's at times
            payloads = [(h + tail)[:size] if size and len(h + tail) >= size else
                        (h + tail + bytes(size))[:size] if size else h + tail
                        for h, tail, _, _, _, _, size in rows]
            t = _Table(payloads, *zip(*[(p, s, d) for _, _, p, s, d, _, _ in rows]))
            flow = np.array([f for *_, f, _ in rows], dtype=np.int64)
            ctx = type("Ctx", (), {})()
            ctx.t, ctx.flow = t, flow
            ctx.has_ip = np.ones(t.n, dtype=bool)
            ctx.flow_keys = np.where(flow >= 0, flow * 7 + 1, 0).astype(np.uint64)
            tracked = np.flatnonzero(flow >= 0)
            ctx.groups = FlowGroups.of(tracked, ctx.flow_keys[tracked], t.n)
            got.append(pc.classify(ctx).tolist())
        classes[value] = got, pc.key.tolist(), pc.last.tolist(), pc.flows.tolist(), pc.bytes.tolist()
    assert classes[True] == classes[False]


digitish = st.lists(st.one_of(st.text("0123456789Xx", min_size=1, max_size=25).map(str.encode),
                              st.sampled_from([b"psn_", b"name", b"pass", b"word", b"&"]),
                              st.binary(max_size=6)), min_size=1, max_size=12).map(b"".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(digitish, st.booleans(), st.booleans(), digitish), min_size=1, max_size=12))
def test_region_edges_compiled_equal_numpy(on, parts):
    """The boundary pre-filter on regions laid end to end: joined or not, joined to a stored
    tail (of any length) or to the previous region."""
    assert_same_edges(on, parts)


def test_region_edges_at_every_split_of_a_run(on):
    """Runs of digits split at a boundary, each side 1 to 14 digits (11 in all is a run)."""
    for left in range(1, 15):
        for right in range(1, 15):
            assert_same_edges(on, [(b"ab" + b"1" * left, False, False, b""),
                                   (b"2" * right + b"cd", True, False, b"")])
            assert_same_edges(on, [(b"2" * right + b"cd", True, True, b"x" + b"3" * left)])


def assert_same_edges(on, parts) -> None:
    from ybsensor.detectors.streams import CONTEXT, Engine, Regions
    # after some header bytes, as a batch's payloads are
    data = np.frombuffer(b"h" * 40 + b"".join(p for p, *_ in parts) + bytes(64), np.uint8)
    length = np.array([len(p) for p, *_ in parts], dtype=np.int64)
    off = 40 + np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    joined = np.array([j for _, j, _, _ in parts], dtype=bool)
    from_state = joined & np.array([f for _, _, f, _ in parts], dtype=bool)
    from_state[0] = joined[0]              # the first entry can only continue a stored tail
    fs = np.flatnonzero(from_state)
    stored_at = np.full(len(parts), -1, dtype=np.int64)
    stored_at[fs] = np.arange(len(fs))
    tails = [parts[i][3][-CONTEXT:] for i in fs]
    stored_tail = np.zeros((len(fs), CONTEXT), np.uint8)
    for k, tail in enumerate(tails):
        if tail:
            stored_tail[k, CONTEXT - len(tail):] = np.frombuffer(tail, np.uint8)
    stored_len = np.array([len(x) for x in tails], dtype=np.int64)
    none = np.zeros(len(parts), dtype=bool)
    regions = Regions(data, np.arange(len(parts)), off, length, np.zeros(len(parts), np.int64),
                      joined, from_state, np.zeros(len(parts), np.int64), none, stored_at,
                      stored_tail, stored_len)
    engine = Engine()
    engine.register([b"psn_name", b"password", b"pwd="])
    got = {}
    for value in (False, True):
        on(value)
        got[value] = [x.tolist() for x in engine._edges(regions)]
    assert got[True] == got[False]


# --- names and signatures in payload heads: remote_control's marks, internet_bound's askers -

NAME_HEADS = [
    b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00", b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00",
    b"\x03\x00\x00\x13\x0e\xd0",                                               # RDP
    b"RFB 003.008\n", b"RFB 003.008", b"RFB 003",                                   # VNC
    b"\x17\x24\x0a\x00", b"\x11\x30\x00\x00",                                      # TeamViewer
    b"\x01\x00\x00\x00\x01\x00\x00\x00\x08\x08", b"\x01\x00\x00\x00\x01\x00\x00\x00\x08\x09",  # Radmin
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"\x16\x03\x05\x02\x00\x01",      # ClientHello
    b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www",                  # DNS query
    b"\x12\x34\x81\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www",                  # a response
    b"\x12\x34\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03www",                  # no question
    b"\x12\x34\x01\x00\x00\x01\x00\x01\x00\x00\x00\x00\x03www",                  # an answer
    b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x40www",                  # label of 64
    b"GET / HTTP/1.1\r\n", b"GET / HTTP/1.1\r", b"POST /x HTTP/1.1", b"OPTIONS * HTTP/1.1",
    b"GETX / HTTP/1.1", b"CONNECT a:443 HTTP", b"PATCH", b""]
# a head, then a few random bytes and zeros: long enough at times for a query or a hello
tail_st = st.tuples(st.binary(max_size=6), st.sampled_from([0, 4, 40])).map(
    lambda tail: tail[0] + bytes(tail[1]))
ends_st = st.tuples(st.sampled_from([True, True, True, False]),        # user traffic
                    st.sampled_from([1, 1, 3, 0, 2]), st.sampled_from([1, 1, 3, 0, 2]))  # zones
# (head, tail, proto, sport, dport, user traffic, source zone, destination zone)
name_row_st = st.one_of(
    st.tuples(st.sampled_from(NAME_HEADS), tail_st, st.sampled_from([6, 17, 1, 50, -1]),
              st.sampled_from([3389, 5900, 5938, 7070, 6568, 35600, 53, 443, 0, -1, 40000]),
              st.sampled_from([3389, 5903, 5938, 6568, 35600, 53, 80, 0, -1])).flatmap(
        lambda row: ends_st.map(lambda ends: row + ends)),
    # heads on the protocol and port they are looked for on
    st.tuples(st.sampled_from(NAME_HEADS), tail_st, st.sampled_from([(6, 443), (17, 53), (6, 5938)]),
              st.sampled_from([0, 40000]), ends_st).map(
        lambda r: (r[0], r[1], r[2][0], r[3], r[2][1]) + r[4]))


def _name_prefilters(on, rows) -> dict:
    """RemoteControl.marks and InternetBound.askers of `rows` (as name_row_st draws them),
    with the compiled path off and on."""
    from ybsensor.detectors.internet_bound import InternetBound
    from ybsensor.detectors.remote_control import RemoteControl
    got = {}
    for value in (False, True):
        on(value)
        t = _Table([h + tail for h, tail, *_ in rows], *zip(*[(p, s, d) for _, _, p, s, d, *_ in rows]))
        ctx = type("Ctx", (), {})()
        ctx.t = t
        ctx.has_ip, ctx.src_zone, ctx.dst_zone = (np.array(col, dtype=dtype) for col, dtype in zip(
            list(zip(*rows))[5:], (bool, np.int64, np.int64)))
        got[value] = ([x.tolist() for x in RemoteControl(None, None).marks(ctx)],
                      [x.tolist() for x in InternetBound.askers(ctx)],
                      [x.tolist() for x in InternetBound.askers(ctx, private=0)])  # any ends
    return got


def test_name_and_signature_prefilters_compiled_equal_numpy_on_every_combination(on):
    """Every head after every tail, on every protocol and pair of ports: the compiled pass
    over the rows gives the rows, tools, strengths and questions of the numpy pre-filters."""
    import itertools

    from ybsensor.detectors.remote_control import RemoteControl
    # tails that put payloads on either side of each pre-filter's least length
    combos = itertools.product(NAME_HEADS, (b"", b"\x01\x02", b"\x01\x02\x03", bytes(34), bytes(35)),
                               (6, 17, 1, -1),
                               (3389, 5900, 5938, 7070, 35600, 53, 0, -1, 40000),
                               (5903, 5938, 6568, 53, 80, 0, -1))
    rows = [(h, tail, p, s, d, k % 7 != 0, k % 4, (k // 4) % 4)
            for k, (h, tail, p, s, d) in enumerate(combos)]
    got = _name_prefilters(on, rows)
    assert got[True] == got[False]
    (_, tool, strength, ask), (_, asks), (anywhere, _) = got[False]
    # everything there is to find is found somewhere
    tools = RemoteControl(None, None).tables.tools
    assert set(tool) == {0} | {tools.index(x) for x in ("rdp", "vnc", "teamviewer", "anydesk",
                                                         "todesk", "radmin")}
    assert set(strength) == {0, 1, 4}
    assert set(ask) == {0, 2, 3} and set(asks) == {1, 2, 3}
    assert len(anywhere) > len(got[False][1][0])   # rows between any ends, not only private


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(name_row_st, min_size=1, max_size=40))
def test_name_and_signature_prefilters_compiled_equal_numpy(on, rows):
    got = _name_prefilters(on, rows)
    assert got[True] == got[False]
