"""The evidence writer's batch path (exporters/evidence.py): the records of a batch are
built at once, and only the frames that a vectorized pre-filter (`_suspects`) selects go
through the Python maskers. Here: the pre-filter never misses a frame that `_masked` would
change; the batch path writes what the plain path (every frame through `_masked`) writes,
byte for byte, on a stream dense with identifiers, cut identifiers and passwords; no whole
identifier reaches a file; and the files kept open between batches are bounded and closed.
"""
from __future__ import annotations

import errno
import os
import random
import struct
from pathlib import Path

import numpy as np
import pii
import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from frames import link
from tools import ONE_HOSPITAL

from ybsensor.decoders import Batch
from ybsensor.detectors.pii_mask import find_identifiers
from ybsensor.exporters.evidence import EvidenceWriter, _suspects
from ybsensor.sensor.config import load
from ybsensor.sensor.sensor import Sensor

CONFIG = ONE_HOSPITAL + """
[alerts]
dedup_seconds = 10

[evidence]
{evidence}
"""
T0 = 1_735_689_600 * 10**9
CREDENTIALS = [b"PASS hunter2\r\n", b"a1 LOGIN bob s3cret\r\n", b"Authorization: Basic dXNlcjpwYXNz\r\n",
               b"AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n", b"&password=abc123&", b'{"pwd": "x y"}',
               b"<passwd>zz</", b"Pass", b"LOGIN", b"bAsIc", b"PlAiN", b"pwd", b"pa", b"lo"]
FILLER = [b"GET /q?id=", b" HTTP/1.1\r\n", b"name=", "姓名".encode(), b" ", b"\r\n", b"abc", b"tel:"]


def mobile(rng: random.Random) -> str:
    return "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))


def piece(rng: random.Random, made: list[str]) -> bytes:
    """A piece of payload: an identifier (remembered in `made`), digits, X, a password,
    random bytes or filler."""
    k = rng.random()
    if k < .3:
        ident = rng.choice([pii.resident_id, pii.bank_card, mobile])(rng)
        made.append(ident)
        return (b"+86" if k < .03 and len(ident) == 11 else b"") + ident.encode()
    if k < .45:
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 25))).encode()
    if k < .5:
        return rng.choice([b"X", b"x", b"9X", b"12345X"])
    if k < .56:
        return rng.choice(CREDENTIALS)
    if k < .62:
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
    return rng.choice(FILLER)


def stream(seed: int, batches: int = 3, per: int = 300) -> tuple[list[Batch], list[bytes]]:
    """Batches of 40 flows (TCP and UDP, to the internet: every flow alerts) whose payloads
    are full of identifiers, some cut by the frame's end; and the identifiers the frames
    hold whole."""
    rng = random.Random(seed)
    made: list[str] = []
    found: list[bytes] = []
    out, t = [], T0
    for _ in range(batches):
        frames, stamps = [], []
        for i in range(per):
            f = rng.randrange(40)
            payload = b"".join(piece(rng, made) for _ in range(rng.randint(0, 30)))
            if rng.random() < .03:   # no flow: a frame of its own
                fr = bytes(Ether(src="00:25:90:0a:0b:01", dst="ff:ff:ff:ff:ff:ff", type=0x88B5)
                           / Raw(payload or b"z"))
            else:
                l4 = TCP(sport=40000 + f, dport=[80, 21, 110, 143][f % 4], flags="PA", seq=i) \
                    if f % 7 else UDP(sport=40000 + f, dport=53)
                fr = bytes(link(100)
                           / IP(src=f"10.1.2.{3 + f}", dst=["203.0.113.5", "198.51.100.7"][f % 2])
                           / l4 / Raw(payload))
            if rng.random() < .05:
                fr = fr[: rng.randint(14, len(fr))]   # captured short
            # what the rule calls an identifier here (not one inside a longer run of digits)
            found += [i.value for i in find_identifiers(fr, strict=False)]
            t += rng.randint(1, 50_000_000)
            frames.append(fr)
            stamps.append(t)
        out.append(Batch.from_frames(frames, ts_ns=stamps))
    return out, found


def replay(tmp_path: Path, batches: list[Batch], evidence: str = "", plain: bool = False,
           max_fds: int | None = None) -> tuple[Sensor, dict[str, bytes]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "sensor.toml").write_text(CONFIG.format(evidence=evidence))
    s = Sensor(load(tmp_path / "sensor.toml"), alerts_path=str(tmp_path / "alerts.jsonl"))
    s.evidence.plain = plain
    if max_fds is not None:
        s.evidence.max_fds = max_fds
    for batch in batches:
        s.pipeline.process(batch)
    s.close()
    return s, {p.name: p.read_bytes() for p in sorted((tmp_path / "evidence").iterdir())}


COUNTERS = ("files", "packets", "removed", "refused", "write_errors", "abandoned", "total")


@pytest.mark.parametrize("seed,evidence", [(1, ""), (2, "packets_per_flow = 25"),
                                           (3, "max_bytes = 20000"), (4, "max_bytes = 900")])
def test_the_batch_path_writes_what_the_plain_path_writes(tmp_path, seed, evidence):
    batches, idents = stream(seed)
    fast, got = replay(tmp_path / "fast", batches, evidence)
    plain, want = replay(tmp_path / "plain", batches, evidence, plain=True)
    assert got == want
    assert [getattr(fast.evidence, k) for k in COUNTERS] == [getattr(plain.evidence, k) for k in COUNTERS]
    assert got and fast.evidence.packets > 0
    if evidence == "max_bytes = 900":
        assert fast.evidence.removed and fast.evidence.refused   # the bounds were reached
    # the rule: evidence never holds a whole personal identifier
    blob = b"\n".join(got.values())
    assert len(idents) > 100 and not [i for i in idents if i in blob]


def test_every_record_is_counted_and_the_files_are_pcaps(tmp_path):
    s, files = replay(tmp_path, stream(5)[0])
    records = 0
    for data in files.values():
        assert int.from_bytes(data[:4], "little") == 0xA1B23C4D
        off = 24
        while off < len(data):
            caplen = int.from_bytes(data[off + 8: off + 12], "little")
            off += 16 + caplen
            records += 1
        assert off == len(data)
    assert (s.evidence.files, s.evidence.packets) == (len(files), records)
    assert s.evidence.total == sum(map(len, files.values()))


def test_open_files_are_bounded_and_closed(tmp_path):
    batches = stream(6)[0]
    _, want = replay(tmp_path / "a", batches)
    before = len(os.listdir("/proc/self/fd"))
    s, got = replay(tmp_path / "b", batches, max_fds=2)  # reopened as they come back
    assert got == want
    assert not s.evidence._fds and len(os.listdir("/proc/self/fd")) == before


def test_a_second_writer_in_the_same_directory_names_its_files_anew(tmp_path):
    batches = stream(7, batches=2)[0]
    _, first = replay(tmp_path, batches)
    _, both = replay(tmp_path, batches)
    second = {k: v for k, v in both.items() if k not in first}
    assert len(second) == len(first)
    assert {k.replace(".pcap", "-2.pcap") for k in first} == set(second)
    assert all(second[k.replace(".pcap", "-2.pcap")] == v for k, v in first.items())


# --- the pre-filter against the maskers, frame by frame -------------------------------------

def frames_for_the_filter(rng: random.Random, n: int) -> list[tuple[bytes, int, int]]:
    """(frame, payload offset, payload length): identifiers and runs of digits or X placed at
    the frame's and the payload's edges, credential words in any case at any offset, runs
    of exactly 10 and 11 digits, empty and out-of-range payloads."""
    out = []
    made: list[str] = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(0, 8)):
            k = rng.random()
            if k < .3:
                parts.append("".join(rng.choice("0123456789") for _ in range(rng.choice([4, 5, 6, 7, 10, 11, 12]))).encode())
            elif k < .4:
                parts.append(rng.choice([b"X", b"x", b"12X", b"1234x"]))
            elif k < .55:
                w = rng.choice([b"pass", b"login", b"basic", b"plain", b"pwd"])
                parts.append(bytes(c - 32 if rng.random() < .5 else c for c in w))
            elif k < .65:
                parts.append(rng.choice(CREDENTIALS))
            else:
                parts.append(piece(rng, made))
        frame = b"".join(parts)
        if rng.random() < .5:
            frame = bytes(rng.randrange(256) for _ in range(rng.randint(0, 20))) + frame
        p0 = rng.choice([0, rng.randint(0, max(len(frame), 1)), len(frame), -1])
        plen = rng.choice([0, rng.randint(0, len(frame) + 3), len(frame) - max(p0, 0)])
        out.append((frame, p0, plen))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_the_pre_filter_misses_no_frame_the_maskers_change(seed):
    rng = random.Random(seed)
    cases = frames_for_the_filter(rng, 400)
    frames = [f for f, _, _ in cases]
    length = np.array([len(f) for f in frames], dtype=np.int64)
    start = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    p0 = np.array([p for _, p, _ in cases], dtype=np.int64)
    plen = np.array([n for _, _, n in cases], dtype=np.int64)
    suspect = _suspects(np.frombuffer(b"".join(frames), dtype=np.uint8), start, length, p0, plen)
    changed = np.array([EvidenceWriter._masked(None, f, int(a), int(n)) != f for f, a, n in cases])
    assert changed.any()
    assert not (changed & ~suspect).any(), [cases[i] for i in np.flatnonzero(changed & ~suspect)][:3]


def wide(ident: str, rng: random.Random) -> bytes:
    """`ident` written in one of the wide forms the maskers read: UTF-16 (either order),
    full-width digits (UTF-8 or GBK), JSON escapes."""
    form = rng.randrange(5)
    if form < 2:
        return ident.encode("utf-16-le" if form == 0 else "utf-16-be")
    if form < 4:
        return "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in ident).encode(
            "utf-8" if form == 2 else "gbk")
    return "".join(f"\\u{ord(c):04x}" for c in ident).encode()


@pytest.mark.parametrize("seed", range(4))
def test_the_pre_filter_finds_wide_identifiers_among_many_binary_frames(seed):
    """Identifiers written wide, a few frames among many binary ones (their NULs mark every
    frame as one that may hold a wide digit), and wide runs cut between two neighbours:
    every frame the maskers change is suspected, wherever it lies among the others."""
    rng = random.Random(seed)
    frames, planted = [], 0
    for _ in range(rng.choice([5, 40, 300])):
        frame = bytes(rng.choice([0, rng.randrange(256)]) for _ in range(rng.randint(20, 200)))
        k = rng.random()
        if k < .1:
            at = rng.randint(0, len(frame))
            frame = frame[:at] + wide(rng.choice([pii.resident_id, mobile])(rng), rng) + frame[at:]
            planted += 1
        elif k < .2:   # a wide run cut by the frame's end: its rest opens the next frame
            frame += wide(mobile(rng), rng)[: rng.randint(4, 12)]
        frames.append(frame)
    length = np.array([len(f) for f in frames], dtype=np.int64)
    start = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    zero = np.zeros(len(frames), dtype=np.int64)
    suspect = _suspects(np.frombuffer(b"".join(frames), dtype=np.uint8), start, length, zero,
                        length)
    changed = np.array([EvidenceWriter._masked(None, f, 0, len(f)) != f for f in frames])
    assert changed.sum() >= planted
    assert not (changed & ~suspect).any()


def test_the_pre_filter_passes_frames_with_nothing_to_mask():
    frames = [b"GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n", b"abc 0123456789 abc 0123456789 z",
              b"\x00\x01\x02" * 30, b"", b"pa ss lo gin 1234"]
    length = np.array([len(f) for f in frames], dtype=np.int64)
    start = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    p0 = np.zeros(len(frames), dtype=np.int64)
    suspect = _suspects(np.frombuffer(b"".join(frames), dtype=np.uint8), start, length, p0, length)
    assert not suspect.any()
    # a run of 11 made of two frames' digits is no identifier of either: at worst suspected
    # (the filter may pass both to the maskers), and the maskers leave both alone
    two = [b"ab012345", b"678901cd"]
    assert all(EvidenceWriter._masked(None, f, 0, 0) == f for f in two)
    # a run inside one frame whose digits go on into its neighbours: that frame is suspected
    three = [b"xx9999", b"12345678901234", b"9999yy"]
    length = np.array([len(f) for f in three], dtype=np.int64)
    start = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    suspect = _suspects(np.frombuffer(b"".join(three), dtype=np.uint8), start, length,
                        np.zeros(3, dtype=np.int64), np.zeros(3, dtype=np.int64))
    assert suspect[1]


def test_out_of_descriptors_the_kept_ones_are_given_back(tmp_path, monkeypatch):
    batches = stream(8, batches=2)[0]
    _, want = replay(tmp_path / "a", batches)
    real_open, refused = os.open, []

    def open_(path, flags, *args, **kw):   # the first open while files are kept: EMFILE
        if not refused and str(tmp_path / "b") in str(path) and kept():
            refused.append(path)
            raise OSError(errno.EMFILE, "Too many open files")
        return real_open(path, flags, *args, **kw)

    writers: list[EvidenceWriter] = []
    real_init = EvidenceWriter.__init__

    def init(self, *args, **kw):
        real_init(self, *args, **kw)
        writers.append(self)

    def kept() -> bool:
        return bool(writers and writers[-1]._fds)

    monkeypatch.setattr(EvidenceWriter, "__init__", init)
    monkeypatch.setattr(os, "open", open_)
    s, got = replay(tmp_path / "b", batches)
    assert refused and got == want and s.evidence.write_errors == 0


# --- the compiled records loop, the words and digit runs, a new file's header ---------------

def pcap_records(batch, rows, frames) -> bytes:
    """Classic pcap records as the format states them: seconds and nanoseconds (unsigned
    32-bit seconds: a time out of range held at the nearest end), the bytes kept, the
    length on the wire (never less than those kept), then the frame."""
    out = b""
    for row, frame in zip(rows.tolist(), frames):
        sec, nsec = divmod(int(batch.ts_ns[row]), 10**9)
        sec, nsec = (0, 0) if sec < 0 else (2**32 - 1, 10**9 - 1) if sec >= 2**32 else (sec, nsec)
        wire = min(max(int(batch.wirelen[row]), len(frame)), 2**32 - 1)
        out += struct.pack("<IIII", sec, nsec, len(frame), wire) + frame
    return out


def test_the_records_are_pcap_records_of_the_frames():
    """The compiled records loop (EvidenceWriter._gather) and the masked frames' records
    (_join) against the pcap record format: frames empty, cut by the buffer's end, times
    before 1970 and after 2106, the records of none."""
    data = np.frombuffer(bytes(range(256)) * 4, dtype=np.uint8)
    batch = Batch(data=data, offset=np.array([0, 5, 5, 1000, 1020], dtype=np.int64),
                  caplen=np.array([5, 0, 300, 40, 4], dtype=np.int64),
                  wirelen=np.array([5, 60, 300, 40, 4], dtype=np.int64),
                  ts_ns=np.array([0, 1, -5, 2**62, 10**9 + 7], dtype=np.int64),
                  linktype=np.ones(5, dtype=np.uint16), iface=np.zeros(5, dtype=np.uint16))
    for rows in (np.array([4, 0, 1, 2, 3]), np.array([], dtype=np.int64), np.array([3])):
        off = batch.offset[rows]
        length = np.clip(np.minimum(batch.caplen[rows], len(data) - off), 0, None)
        frames = [data[o: o + n].tobytes() for o, n in zip(off.tolist(), length.tolist())]
        want = pcap_records(batch, rows, frames)
        ends = np.cumsum([0] + [16 + len(f) for f in frames]).tolist()
        buf, got_ends = EvidenceWriter._gather(batch, rows, off, length)
        assert (bytes(buf), got_ends) == (want, ends)
        masked = [b"*" * len(f) if k % 2 else f[:3] for k, f in enumerate(frames)]
        buf, got_ends = EvidenceWriter._join(batch, rows, masked)
        assert bytes(buf) == pcap_records(batch, rows, masked)
        assert got_ends == np.cumsum([0] + [16 + len(f) for f in masked]).tolist()


@pytest.mark.parametrize("seed", range(3))
def test_the_words_runs_and_wide_marks_are_the_same_with_hyperscan_and_without(seed, monkeypatch):
    from ybsensor.detectors.matcher import LiteralMatcher, hyperscan_available
    from ybsensor.detectors.normalise import TEXT_MARKERS
    from ybsensor.detectors.pii_mask import CREDENTIAL_WORDS
    from ybsensor.exporters import evidence
    if not hyperscan_available():
        pytest.skip("hyperscan not installed")
    rng = random.Random(seed)
    wide = ["１３９".encode(), "139".encode("utf-16-le"), b"\\u0031\\u0033"]  # wide digits
    frames = [f for f, _, _ in frames_for_the_filter(rng, 300)]
    for at, form in zip(rng.sample(range(len(frames)), len(wide)), wide):
        frames[at] += form
    data = np.frombuffer(b"".join(frames), dtype=np.uint8)
    got = {}
    for backend in ("hyperscan", "numpy"):   # one pass for words and marks; two without
        monkeypatch.setattr(evidence, "_MATCHER", LiteralMatcher(
            list(CREDENTIAL_WORDS) + TEXT_MARKERS, backend=backend))
        monkeypatch.setattr(evidence, "_WIDE", LiteralMatcher(TEXT_MARKERS, backend=backend))
        first, rs, re_, wide = evidence._words_runs_and_marks(data)
        got[backend] = (sorted(first.tolist()), rs.tolist(), re_.tolist(), wide.tolist())
    assert got["hyperscan"] == got["numpy"] and got["numpy"][0] and got["numpy"][1] \
        and got["numpy"][3]


def one_flow(tmp_path: Path, monkeypatch, fail: set[str]) -> tuple[Sensor, dict, dict[str, bytes]]:
    """One alerted flow's batch, the writes named in `fail` refused (disk full): the
    sensor, the alert, the evidence files."""
    from ybsensor.exporters import evidence

    def full(*args, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")
    for name in fail:
        monkeypatch.setattr(evidence.os, name, full)
    (tmp_path / "sensor.toml").write_text(CONFIG.format(evidence=""))
    s = Sensor(load(tmp_path / "sensor.toml"), alerts_path=str(tmp_path / "alerts.jsonl"))
    frames = [bytes(link(100)
                    / IP(src="10.1.2.3", dst="203.0.113.5") / TCP(sport=40000, dport=80, flags="PA", seq=k)
                    / Raw(b"hello")) for k in range(3)]
    s.pipeline.process(Batch.from_frames(frames, ts_ns=[T0 + k for k in range(3)]))
    (alert,) = s.last_alerts
    monkeypatch.undo()
    s.close()
    return s, alert, {p.name: p.read_bytes() for p in (tmp_path / "evidence").iterdir()}


def test_a_new_files_header_goes_out_with_its_first_records(tmp_path, monkeypatch):
    s, alert, files = one_flow(tmp_path, monkeypatch, set())
    (data,) = files.values()
    assert Path(alert["evidence_pcap"]).name in files
    assert data[:4] == (0xA1B23C4D).to_bytes(4, "little")
    off, records = 24, 0
    while off < len(data):
        off += 16 + int.from_bytes(data[off + 8: off + 12], "little")
        records += 1
    assert off == len(data) == s.evidence.total and records == s.evidence.packets == 3


def test_a_new_file_whose_records_cannot_be_written_keeps_its_header(tmp_path, monkeypatch):
    s, alert, files = one_flow(tmp_path, monkeypatch, {"writev"})
    (data,) = files.values()
    assert Path(alert["evidence_pcap"]).name in files and len(data) == 24   # a capture, empty
    assert (s.evidence.write_errors, s.evidence.packets, s.evidence.total) == (1, 0, 24)


def test_a_new_file_that_cannot_be_written_at_all_is_removed(tmp_path, monkeypatch):
    s, alert, files = one_flow(tmp_path, monkeypatch, {"writev", "write"})
    assert alert["evidence_pcap"] is None and files == {}
    assert (s.evidence.write_errors, s.evidence.packets, s.evidence.total) == (2, 0, 0)
