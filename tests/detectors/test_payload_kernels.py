"""The payload engine's compiled loops (detectors/payload_kernels.py, numba): digit runs
against a regular expression, payload classes against a row-at-a-time model of the rule,
the name and signature pre-filters against the rules they state; the stream regions of random
TCP streams against the stream a receiver reads."""
from __future__ import annotations

import base64
import re
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import fuzzing as F
from ybsensor.decoders import Batch
from ybsensor.detectors import matcher
from ybsensor.detectors.matcher import LiteralMatcher, hyperscan_available, number_run_hits
from tools import ONE_HOSPITAL, PCAPS


def digit_run_hits(data, lo=0, hi=None, min_run=11):
    """number_run_hits' runs of digits (kind 0)."""
    s, e, k = number_run_hits(data, lo, hi, min_run)
    return s[k == 0], e[k == 0]


def base64_digit_run_hits(data):
    """number_run_hits' chains of base64 of digits (kind 1)."""
    s, e, k = number_run_hits(data)
    return s[k == 1], e[k == 1]


def _runs(data: np.ndarray, lo: int, hi: int):
    s, e = digit_run_hits(data, lo, hi)
    return s.tolist(), e.tolist()


digit_data = st.lists(st.one_of(st.text("0123456789", min_size=1, max_size=40).map(str.encode),
                                 st.text("0123456789 -+", min_size=1, max_size=30).map(str.encode),
                                 st.binary(max_size=15)), max_size=30).map(b"".join)
# a maximal run of digits, its groups joined where a separator (a space, a dash, a form's
# `+`) has three digits either side (how a number is written to be read: `138 0013 8000`)
GROUPED_RUN = re.compile(rb"[0-9]+(?:(?<=[0-9]{3})[ +-](?=[0-9]{3})[0-9]+)*")


def _reference_runs(data: bytes, lo: int, hi: int, min_run: int) -> list[tuple[int, int]]:
    return [(lo + m.start(), lo + m.end()) for m in GROUPED_RUN.finditer(data[lo:hi])
            if sum(c in b"0123456789" for c in m.group()) >= min_run] if hi > lo else []


@settings(max_examples=300, deadline=None)
@given(digit_data, st.integers(0, 30), st.integers(0, 30), st.sampled_from([2, 5, 11]))
def test_digit_runs_cover_every_run_and_only_runs(data, cut_lo, cut_hi, min_run):
    """Against the runs a regular expression finds in data[lo:hi]: every window reported
    is inside one such run and holds min_run digits at least; every such run has a window;
    windows come in order."""
    arr = np.frombuffer(data, np.uint8)
    lo, hi = min(cut_lo, len(arr)), max(len(arr) - cut_hi, 0)
    starts, ends = digit_run_hits(arr, lo, hi, min_run)
    runs = _reference_runs(data, lo, hi, min_run)
    for s_, e in zip(starts.tolist(), ends.tolist()):
        assert sum(c in b"0123456789" for c in data[s_:e]) >= min_run, (s_, e)
        assert any(a <= s_ and e <= b for a, b in runs), (s_, e, runs)
    for a, b in runs:
        assert any(a <= s_ < b for s_ in starts.tolist()), (a, b)
    assert starts.tolist() == sorted(starts.tolist())


def test_digit_runs_at_the_buffer_end():
    """Windows that reach past the buffer (no padding after hi) stop at it, not past it."""
    data = np.frombuffer(b"x" * 5 + b"1" * 25 + b"2" * 30, np.uint8).copy()
    assert _runs(data, 0, 30) == ([5, 5], [30, 30])                 # samples 11, 22
    assert _runs(data, 3, 30) == ([5, 5], [30, 30])                 # samples 14, 25


def test_digit_runs_finds_each_run():
    data = np.frombuffer(b"ab" + b"1" * 15 + b"cd" + b"2" * 12, np.uint8)
    s, e = digit_run_hits(data, 0, len(data), 11)
    assert list(zip(s.tolist(), e.tolist())) == [(2, 17), (19, 31)]


@pytest.mark.parametrize("text,found", [
    (b"tel: 138 0013 8000;", [(5, 18)]),
    (b"card 6222-0212-3456-7890-128.", [(5, 28)]),
    (b"id 220104 19530714 405X", [(3, 22)]),        # the check character is the parser's
    (b"1 2 3 4 5 6 7 8 9 0 1 2 3", []),            # groups of one: a list, not a number
    (b"2026-12-08 00:21:05 1208", []),             # a date's groups of two
    (b"138  0013  8000", []),                      # two separators are no group's
])
def test_digit_runs_join_digit_groups(text, found):
    s, e = digit_run_hits(np.frombuffer(text, np.uint8), 0, len(text), 11)
    assert sorted(set(zip(s.tolist(), e.tolist()))) == found


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
def test_scan_pieces_finds_what_each_piece_holds(data, cuts, rnd, chunk):
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
    for backend in _backends():
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(matcher, "CHUNK", 11 * chunk)
            hits = matcher.scan_pieces(arr, off, length, LiteralMatcher(PIECE_LITERALS, backend))
        got = list(zip(hits.start.tolist(), hits.literal.tolist(), hits.piece.tolist()))
        assert got == want_lits, backend
        touched = set(hits.digit_pieces.tolist())
        assert holds_run <= touched <= holds_run | at_edge, backend
        assert hits.digit_pieces.tolist() == sorted(touched)


def test_scan_pieces_never_reads_between_the_pieces():
    """What lies between the pieces (headers, encrypted payloads) is not searched: a
    literal and a run of digits there are not found; the same in a piece are."""
    data = np.frombuffer(b"hdr certno 13800138000 hdr" + b"psn_name=x 13800138000" + b"tail",
                         np.uint8)
    off, length = np.array([26]), np.array([22])
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


def test_scan_pieces_a_literal_at_every_place_against_a_chunk_edge(monkeypatch):
    """Pieces are never cut: a literal at any place of a piece that straddles where a chunk
    would end is found once."""
    monkeypatch.setattr(matcher, "CHUNK", 11)
    for backend in _backends():
        m = LiteralMatcher([b"psn_name", b"pwd="], backend)
        for at in range(40):
            data = bytearray(b"x" * 60)
            data[at + 5: at + 13] = b"psn_name"
            arr = np.frombuffer(bytes(data), np.uint8)
            hits = matcher.scan_pieces(arr, np.array([0, 5, 55]), np.array([5, 50, 5]), m)
            assert list(zip(hits.start.tolist(), hits.piece.tolist())) == [(at + 5, 1)]


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
def stream_batches(draw):
    """Batches of frames of a few TCP streams, each stream's bytes drawn beforehand and every
    segment carrying the stream's bytes at its place (a resent byte is the byte first sent):
    in order, resent, overlapping, past a hole, shuffled within a batch. Returns (batches:
    lists of (stream, frame)), each stream's bytes and first sequence number)."""
    text: dict[tuple[int, bool], bytes] = {}
    isn: dict[tuple[int, bool], int] = {}
    ahead: dict[tuple[int, bool], int] = {}      # the furthest byte sent so far
    sent: dict[tuple[int, bool], list[tuple[int, int]]] = {}
    batches = []
    for _ in range(draw(st.integers(1, 3))):
        frames = []
        for _ in range(draw(st.integers(1, 12))):
            key = (draw(st.integers(0, 2)), draw(st.booleans()))
            if key not in text:
                text[key] = b"".join(draw(st.lists(payloads, min_size=8, max_size=8)))
                isn[key] = draw(st.integers(0, (1 << 32) - 1))
            at = ahead.get(key, 0)
            size = draw(st.integers(1, 40))
            kind = draw(st.sampled_from(["next", "next", "next", "again", "overlap", "hole"]))
            if kind == "again" and sent.get(key):
                at, size = draw(st.sampled_from(sent[key]))
            elif kind == "overlap":
                at = max(at - draw(st.integers(1, 30)), 0)
            elif kind == "hole":
                at += draw(st.integers(1, 30))
            data = text[key][at: at + size]
            if not data:
                continue
            frames.append((key, tcp_frame(data, key[0], key[1], isn[key] + at)))
            sent.setdefault(key, []).append((at, size))
            ahead[key] = max(ahead.get(key, 0), at + len(data))
        if frames:
            batches.append(draw(st.permutations(frames)) if draw(st.booleans()) else frames)
    return batches, text, isn


def readable(batches, text, isn) -> dict[tuple[int, bool], bytes]:
    """What a receiver reads of each stream: from the first byte of the earliest segment of
    the stream's first batch on, as far as the bytes sent reach without a hole."""
    start, have = {}, {}
    for frames in batches:
        here = {}
        for key, frame in frames:
            seq = struct.unpack_from("!I", frame, 14 + 4 + 20 + 4)[0]
            at = (seq - isn[key]) % (1 << 32)
            size = len(frame) - (14 + 4 + 20 + 20)
            here.setdefault(key, []).append(at)
            have.setdefault(key, set()).update(range(at, at + size))
        for key, places in here.items():
            start.setdefault(key, min(places))
    out = {}
    for key, a in start.items():
        b = a
        while b in have[key]:
            b += 1
        out[key] = text[key][a:b]
    return out


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(stream_batches())
def test_stream_regions_are_the_readable_stream_once(tmp_path_factory, drawn):
    """Each stream's regions, batch after batch in stream order, spell what a receiver
    reads of its plaintext segments (payload classes: their own test): every byte once, in
    order, none past a hole never filled; and no resent byte differs from its first copy."""
    from ybsensor.detectors.payload_class import PLAINTEXT
    from ybsensor.detectors.streams import Engine
    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
    batches, text, isn = drawn
    folder = tmp_path_factory.mktemp("streams")
    (folder / "sensor.toml").write_text(CONFIG)
    s = Sensor(load(folder / "sensor.toml"), alerts_path=str(folder / "alerts.jsonl"))
    engine = next(d.engine for d in s.alerter.detectors if hasattr(d, "engine"))
    views, compute, plain = [], Engine._compute, []
    got: dict[tuple[int, bool], bytes] = {}
    first = 1
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Engine, "_compute", lambda self, ctx: views.append(compute(self, ctx))
                   or views[-1])
        for frames in batches:
            s.pipeline.process(Batch.from_frames([f for _, f in frames],
                                                 ts_ns=list(range(len(frames))),
                                                 first_frame=first))
            first += len(frames)
            regions = views[-1].regions
            plain.append([fr for fr, c in zip(frames, views[-1].cls) if c == PLAINTEXT])
            for i in range(len(regions)):
                key = frames[int(regions.row[i])][0]
                got[key] = got.get(key, b"") + regions.bytes(i)
    assert len(views) == len(batches)
    want = readable(plain, text, isn)
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in want.items() if v}
    assert engine.differ == 0


def test_a_hole_filled_in_the_next_batch_is_no_hole(tmp_path):
    """A hole left at a batch's end: the segment past it is held, and walks again when the
    next batch fills the hole; nothing jumped, nothing left held."""
    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
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


def test_resent_bytes_that_differ_from_the_first_copy_are_counted(tmp_path):
    """A retransmission with the same bytes is no evasion; one with other bytes where it
    overlaps what the stream carried (in this batch) is counted, once a segment."""
    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
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


def test_no_jit_allowed_is_an_error_at_start(tmp_path):
    """Under a W^X policy (here the kernel's own PR_SET_MDWE) numba cannot map executable
    memory, and every loop of the sensor is compiled: a replay stops before its first
    batch with a message naming the cause and exit status 2, not a traceback."""
    import subprocess
    import sys

    from tools import REPO
    (tmp_path / "sensor.toml").write_text(CONFIG)
    code = ("import ctypes, sys; sys.path.insert(0, sys.argv[1]);"
            "ok = ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) == 0;"  # PR_SET_MDWE
            "print(ok, flush=True);"
            "sys.argv = ['ybsensor', 'replay', '--config', sys.argv[2], sys.argv[3]];"
            "from ybsensor.sensor.cli import main; main()")
    out = subprocess.run([sys.executable, "-c", code, str(REPO), str(tmp_path / "sensor.toml"),
                          str(PCAPS / "demo.pcap")], capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "NUMBA_CACHE_DIR": str(tmp_path)})
    if out.stdout.startswith("False"):
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    assert out.returncode == 2, out.stderr
    assert "numba cannot compile here" in out.stderr and "Traceback" not in out.stderr


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


def _classes_ctx(payloads, proto, sport, dport, flow):
    from ybsensor.core.flows import FlowGroups
    t = _Table(payloads, proto, sport, dport)
    flow = np.asarray(flow, dtype=np.int64)
    ctx = type("Ctx", (), {})()
    ctx.t, ctx.flow = t, flow
    ctx.has_ip = np.ones(t.n, dtype=bool)
    ctx.flow_keys = np.where(flow >= 0, flow * 7 + 1, 0).astype(np.uint64)
    tracked = np.flatnonzero(flow >= 0)
    ctx.groups = FlowGroups.of(tracked, ctx.flow_keys[tracked], t.n)
    return ctx


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(row_st, min_size=1, max_size=25), min_size=1, max_size=3))
def test_payload_classes_follow_each_flow_in_capture_order(batches):
    """Against a row-at-a-time model of the rule: a row shows its own header's class (that
    of the payload classified alone, untracked), else the last class its flow showed before
    it, in this batch or an earlier one, else plaintext; a flow is counted once, by its
    first row's class; payload bytes by class."""
    from ybsensor.detectors.payload_class import PLAINTEXT, PayloadClasses
    pc = PayloadClasses()
    last: dict[int, int] = {}
    flows, octets = np.zeros_like(pc.flows), np.zeros_like(pc.bytes)
    for rows in batches:
        # a row's payload: a header, then bytes; sizes like a WireGuard message's at times
        payloads = [(h + tail)[:size] if size and len(h + tail) >= size else
                    (h + tail + bytes(size))[:size] if size else h + tail
                    for h, tail, _, _, _, _, size in rows]
        columns = list(zip(*[(p, s, d) for _, _, p, s, d, _, _ in rows]))
        flow = [f for *_, f, _ in rows]
        got = pc.classify(_classes_ctx(payloads, *columns, flow)).tolist()
        own = PayloadClasses().classify(_classes_ctx(payloads, *columns, [-1] * len(rows)))
        want = []
        for k, f in enumerate(flow):
            if not payloads[k]:
                want.append(0)
                continue
            shown = int(own[k]) if own[k] != PLAINTEXT else 0
            if f >= 0 and f not in last:
                last[f] = 0
                flows[shown or last[f] or PLAINTEXT] += 1
            if f >= 0:
                last[f] = shown or last[f]
                shown = last[f]
            want.append(shown or PLAINTEXT)
            octets[want[-1]] += len(payloads[k])
        assert got == want
    assert pc.flows.tolist() == flows.tolist() and pc.bytes.tolist() == octets.tolist()


digitish = st.lists(st.one_of(st.text("0123456789Xx", min_size=1, max_size=25).map(str.encode),
                              st.text("0123456789 -+", min_size=1, max_size=12).map(str.encode),
                              st.sampled_from([b"MTIz", b"NDU2", b"Nzg5", b"MDAw", b"eyJh"]),
                              st.sampled_from([b"psn_", b"name", b"pass", b"word", b"&"]),
                              st.binary(max_size=6)), min_size=1, max_size=12).map(b"".join)


EDGE_LITERALS = [b"psn_name", b"password", b"pwd="]
SEPARATORS, DIGITS = b" -+", b"0123456789"
QUAD = re.compile(rb"[MNO][DTjz][AEIMQUYcgk][w-z0-5]")    # base64 of three digits
BASE64_CHAR = re.compile(rb"[A-Za-z0-9+/_-]")


def _run_from_boundary(side: bytes) -> int:
    """Bytes of a digit run read from the boundary outwards: digits, X, x, and a group's
    separator where a digit comes after it."""
    n = 0
    while n < len(side) and (side[n] in DIGITS + b"Xx" or (
            side[n] in SEPARATORS and n + 1 < len(side) and side[n + 1] in DIGITS)):
        n += 1
    return n


def _quads_near(left: bytes, right: bytes, edge: int, reach: int = 8) -> bool:
    """Base64 goes on across the boundary and base64 of digits lies within `reach` of it on
    one side (a whole quad on either side)."""
    if not (left and right and BASE64_CHAR.match(left[-1:]) and BASE64_CHAR.match(right[:1])):
        return False
    window = left.rjust(edge, b"\x00") + right.ljust(edge, b"\x00")
    return any((s + 4 <= edge or s >= edge) and QUAD.match(window, s)
               for s in range(edge - reach, edge + reach - 3))


def edges_of(parts) -> tuple[list[int], set[tuple[int, int]]]:
    """The boundary pre-filter's rule, entry by entry: a joined entry's boundary has on its
    left the stored tail (a from_state entry: the entry owns the boundary) or the previous
    entry (which owns it), EDGE bytes of each side read. A digit run may cross where both
    sides touch the boundary with digits (or X, x, or a group's separator before a digit)
    and together they make MIN_RUN, or the right entry is digits only, or the left side is
    digits all along (its run may go on before what is kept); or where base64 goes on
    across it with base64 of digits near it. A literal crosses where it starts left of the boundary and ends
    right of it, ASCII letters without case."""
    from ybsensor.detectors.matcher import MIN_RUN
    from ybsensor.detectors.streams import CONTEXT, EDGE
    digit_owners, literals = set(), set()
    for e, (text, joined, from_state, tail) in enumerate(parts):
        if not joined:
            continue
        if from_state or e == 0:
            left, owner = tail[-CONTEXT:][-EDGE:], e
        else:
            left, owner = parts[e - 1][0][-EDGE:], e - 1
        right = text[:EDGE]
        trailing = _run_from_boundary(left[::-1])
        leading = _run_from_boundary(right)
        if trailing == len(left) and left:
            trailing = CONTEXT
        if trailing and leading and (trailing + leading >= MIN_RUN or leading == len(text)) \
                or _quads_near(left, right, EDGE):
            digit_owners.add(owner)
        window = (left + right).lower()
        for k, lit in enumerate(EDGE_LITERALS):
            for m in re.finditer(re.escape(lit), window):
                if m.start() < len(left) < m.end():
                    literals.add((owner, k))
    return sorted(digit_owners), literals


def assert_edges_follow_the_rule(parts) -> None:
    from ybsensor.detectors.streams import CONTEXT, Engine, Regions
    # after some header bytes, as a batch's payloads are
    data = np.frombuffer(b"h" * 40 + b"".join(p for p, *_ in parts) + bytes(64), np.uint8)
    length = np.array([len(p) for p, *_ in parts], dtype=np.int64)
    off = 40 + np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    joined = np.array([j for _, j, _, _ in parts], dtype=bool)
    from_state = joined & np.array([f for _, _, f, _ in parts], dtype=bool)
    from_state[0] = joined[0]              # the first entry can only continue a stored tail
    parts = [(p, j, f, t) for (p, _, _, t), j, f in zip(parts, joined, from_state)]
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
    engine.register(EDGE_LITERALS)
    digit_owner, lit_owner, lit_id = engine._edges(regions)
    want_digits, want_literals = edges_of(parts)
    assert digit_owner.tolist() == want_digits
    assert set(zip(lit_owner.tolist(), lit_id.tolist())) == want_literals


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(digitish, st.booleans(), st.booleans(), digitish), min_size=1, max_size=12))
def test_region_edges_follow_the_rule(parts):
    """The boundary pre-filter on regions laid end to end: joined or not, joined to a stored
    tail (of any length) or to the previous region."""
    assert_edges_follow_the_rule(parts)


def test_region_edges_at_every_split_of_a_run():
    """Runs of digits split at a boundary, each side 1 to 14 digits (11 in all is a run)."""
    for left in range(1, 15):
        for right in range(1, 15):
            assert_edges_follow_the_rule([(b"ab" + b"1" * left, False, False, b""),
                                          (b"2" * right + b"cd", True, False, b"")])
            assert_edges_follow_the_rule([(b"2" * right + b"cd", True, True, b"x" + b"3" * left)])


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


def _name_prefilters(rows) -> tuple:
    """RemoteControl.marks and InternetBound.askers (between private ends, and between any
    ends) of `rows` (as name_row_st draws them)."""
    from ybsensor.detectors.internet_bound import InternetBound
    from ybsensor.detectors.remote_control import RemoteControl
    t = _Table([h + tail for h, tail, *_ in rows], *zip(*[(p, s, d) for _, _, p, s, d, *_ in rows]))
    ctx = type("Ctx", (), {})()
    ctx.t = t
    ctx.has_ip, ctx.src_zone, ctx.dst_zone = (np.array(col, dtype=dtype) for col, dtype in zip(
        list(zip(*rows))[5:], (bool, np.int64, np.int64)))
    return ([x.tolist() for x in RemoteControl(None, None).marks(ctx)],
            [x.tolist() for x in InternetBound.askers(ctx)],
            [x.tolist() for x in InternetBound.askers(ctx, private=0)])  # any ends


def test_name_and_signature_prefilters_on_every_combination():
    """Every head after every tail, on every protocol and pair of ports: each tool, strength
    and question is found somewhere, and only where its protocol and port allow."""
    import itertools

    from ybsensor.detectors.remote_control import RemoteControl
    # tails that put payloads on either side of each pre-filter's least length
    combos = itertools.product(NAME_HEADS, (b"", b"\x01\x02", b"\x01\x02\x03", bytes(34), bytes(35)),
                               (6, 17, 1, -1),
                               (3389, 5900, 5938, 7070, 35600, 53, 0, -1, 40000),
                               (5903, 5938, 6568, 53, 80, 0, -1))
    rows = [(h, tail, p, s, d, k % 7 != 0, k % 4, (k // 4) % 4)
            for k, (h, tail, p, s, d) in enumerate(combos)]
    (_, tool, strength, ask), (_, asks), (anywhere, _) = got = _name_prefilters(rows)
    # everything there is to find is found somewhere
    tools = RemoteControl(None, None).tables.tools
    assert set(tool) == {0} | {tools.index(x) for x in ("rdp", "vnc", "teamviewer", "anydesk",
                                                         "todesk", "radmin")}
    from ybsensor.detectors.remote_control import REPEATING
    assert set(strength) == {0, 1, 4, REPEATING}
    # a signature counted only after several packets off its tool's ports: TeamViewer's
    # header, on neither of its ports, in a row nothing else marks
    marked = got[0][0]
    for row, which, how in zip(marked, tool, strength):
        if how == REPEATING:
            head, tail, proto, sport, dport = rows[row][:5]
            assert tools[which] == "teamviewer" and 5938 not in (sport, dport)
            assert (head + tail)[:2] in (b"\x17\x24", b"\x11\x30")
    assert set(ask) == {0, 2, 3} and set(asks) == {1, 2, 3}
    assert len(anywhere) > len(got[1][0])   # rows between any ends, not only private
    assert_asks_keep_their_rules(rows, got)


def assert_asks_keep_their_rules(rows, got) -> None:
    """What every pre-filter selects holds what names.py's constants ask of it: user
    traffic over TCP or UDP; a DNS question to port 53 (over TCP after its length); a
    ClientHello in a TLS handshake record; an HTTP method and a space."""
    from ybsensor.detectors import names
    marks, private, anywhere = got
    for row, code in zip(*anywhere):
        head, tail, proto, sport, dport, user = rows[row][:6]
        payload = head + tail
        assert user and proto in (6, 17), rows[row]
        if code in (1, 4):
            at = 2 if code == 4 else 0
            assert (proto, dport) == ((17 if code == 1 else 6), names.DNS_PORT) and sport > 0
            assert payload[at + 2] & names.QR_OPCODE == 0 and 1 <= payload[at + 12] <= names.MAX_LABEL
        elif code == 2:
            assert proto == 6 and payload[0] == names.TLS_HANDSHAKE and payload[1] == 3
            assert payload[5] == names.CLIENT_HELLO and len(payload) >= names.HELLO_MIN
        else:
            assert proto == 6 and code == 3 and len(payload) >= names.HTTP_MIN
            assert any(payload.startswith(m + b" ") for m in names.HTTP_METHODS)
    assert set(zip(*private)) <= set(zip(*anywhere))
    for row in marks[0]:
        assert rows[row][5] and rows[row][2] in (6, 17)


@settings(max_examples=100, deadline=None)
@given(st.lists(name_row_st, min_size=1, max_size=40))
def test_name_and_signature_prefilters_keep_their_rules(rows):
    assert_asks_keep_their_rules(rows, _name_prefilters(rows))


# base64 of every three ASCII digits: the quads a run of digits encodes to (the reference)
DIGIT_QUADS = {base64.b64encode(f"{k:03d}".encode()) for k in range(1000)}


def _reference_quad_runs(data: bytes, quads: int = 3) -> list[tuple[int, int]]:
    """Maximal chains of digit quads (each starting where the last ended), `quads` long."""
    runs, at = [], {}
    for s in range(len(data) - 3):
        if data[s:s + 4] in DIGIT_QUADS:
            at[s] = True
    for s in sorted(at):
        if at.get(s - 4):
            continue                               # not a chain's first quad
        e = s
        while at.get(e):
            e += 4
        if e - s >= 4 * quads:
            runs.append((s, e))
    return runs


quad_data = st.lists(st.one_of(st.text("0123456789", min_size=1, max_size=30).map(
    lambda s: base64.b64encode(s.encode())), st.binary(max_size=12),
    st.text("ABMNOjwxyz0123456789+/", max_size=10).map(str.encode)), max_size=25).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(quad_data)
def test_base64_digit_runs_cover_every_chain_and_only_chains(data):
    """Against chains of quads found by brute force from base64's own encoding of every
    three digits: each window lies in a chain of three quads or more; each chain has one."""
    starts, ends = base64_digit_run_hits(np.frombuffer(data, np.uint8))
    runs = _reference_quad_runs(data)
    for s_, e in zip(starts.tolist(), ends.tolist()):
        assert e - s_ >= 12 and any(a <= s_ and e <= b for a, b in runs), (s_, e, runs)
    for a, b in runs:
        assert any(a <= s_ < b for s_ in starts.tolist()), (a, b)


def test_base64_of_an_identifier_is_a_chain_at_every_alignment():
    for lead in range(3):
        for ident in (b"13812345678", b"220104195307144055"):
            data = base64.b64encode(b'{"a":"' + b"x" * lead + ident + b'"}')
            assert base64_digit_run_hits(np.frombuffer(data, np.uint8))[0].size, (lead, ident)
