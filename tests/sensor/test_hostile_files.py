"""Inputs that used to end in a traceback or a hang, cost that grew with the file, and good
frames dropped beside an interface we cannot decode (issue #11, defects 7, 8, 9)."""
from __future__ import annotations

import json
import os
import resource
import struct
import subprocess
import threading
import time
import tracemalloc

import pytest

from ybsensor.sensor.config import ConfigError, load
from ybsensor.sensor.sources import read_capture
from test_sources import FRAMES, block, epb, idb, shb
from tools import pcap_bytes, write_pcap, ybsensor_cmd

SEC = 1_700_000_000


def run(*args, timeout=60, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*ybsensor_cmd(), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, **kw)


def rows(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


# ---------------------------------------------------------------------------------------
# Defect 7: tracebacks and hangs

def idb_with_option_past_its_block(code: int, length: int, present: int) -> bytes:
    """An Ethernet interface whose one option claims `length` bytes, `present` of them in
    the block, which ends there (no end-of-options)."""
    body = struct.pack("<HHI", 1, 0, 0) + struct.pack("<HH", code, length) + b"\x07" * present
    return block("<", 1, body)


@pytest.mark.parametrize("code,length,present", [(9, 1, 0), (14, 8, 4), (14, 8, 0)],
                         ids=["if_tsresol", "if_tsoffset-half", "if_tsoffset-none"])
def test_an_interface_option_past_its_block_loses_no_frame(tmp_path, code, length, present):
    damaged = tmp_path / "a.pcapng"
    damaged.write_bytes(shb("<") + idb("<", 1, tsresol=9) + epb("<", 0, SEC * 10**9, FRAMES[0])
                        + idb_with_option_past_its_block(code, length, present)
                        + epb("<", 1, 5, FRAMES[1]) + epb("<", 0, SEC * 10**9 + 1, FRAMES[2]))
    later = write_pcap(tmp_path / "b.pcap", FRAMES)
    proc = run("decode", "--format", "jsonl", damaged, later)
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 0, proc.stderr
    got = rows(proc.stdout)
    assert [r["sport"] for r in got] == [40000, 40001, 40002, 40000, 40001, 40002]
    assert [r["status"] for r in got] == ["ok"] * 6


def _feed(path, data: bytes) -> threading.Thread:
    """A writer that opens the FIFO (waiting for a reader) and writes `data` into it."""
    def write():
        try:
            with open(path, "wb") as fh:
                fh.write(data)
        except BrokenPipeError:  # the reader went away
            pass
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return writer


def test_a_fifo_is_read_once_streaming(tmp_path):
    fifo = tmp_path / "capture.fifo"
    os.mkfifo(fifo)
    frames = [f for _ in range(400) for f in FRAMES]  # more than one pipe buffer
    _feed(fifo, pcap_bytes(frames))
    try:
        proc = run("decode", "--format", "jsonl", fifo, timeout=30)
    except subprocess.TimeoutExpired:
        _unblock(fifo)
        pytest.fail("decode of a FIFO hung")
    assert proc.returncode == 0, proc.stderr
    assert [r["sport"] for r in rows(proc.stdout)] == [40000, 40001, 40002] * 400


def test_a_pipe_on_stdin_is_read(tmp_path):
    path = write_pcap(tmp_path / "in.pcap", FRAMES)
    from_file = run("decode", "--format", "jsonl", path)
    piped = subprocess.run([*ybsensor_cmd(), "decode", "--format", "jsonl", "/dev/stdin"],
                           input=path.read_bytes(), capture_output=True, timeout=30)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.decode() == from_file.stdout
    assert [r["sport"] for r in rows(from_file.stdout)] == [40000, 40001, 40002]


def test_a_signal_stops_a_read_waiting_on_a_quiet_fifo(tmp_path):
    """A signal whose handler is due while the reader waits on a FIFO that its writer keeps
    open and quiet is handled then, not when the writer closes: SIGTERM stops a replay on a
    FIFO. `interrupt_main` makes the handler due with no system call cut short, as a signal
    does that lands while a read(2) returns bytes; the write has returned, so the reader is
    inside its read of a chunk (the bytes are more than a pipe holds, fewer than a chunk)."""
    import _thread
    import signal

    class Stop(Exception):
        pass

    def stop(signum, frame):
        raise Stop

    fifo = tmp_path / "capture.fifo"
    os.mkfifo(fifo)
    data = pcap_bytes([f for _ in range(4000) for f in FRAMES])
    assert 1 << 18 < len(data) < 8 << 20
    order, stopped = [], threading.Event()

    def write():
        with open(fifo, "wb") as fh:
            fh.write(data)
            fh.flush()
            order.append("written")
            _thread.interrupt_main(signal.SIGUSR1)
            stopped.wait(120)           # held open and quiet
            order.append("writer closed")

    previous = signal.signal(signal.SIGUSR1, stop)
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        with pytest.raises(Stop):
            for _ in read_capture(fifo):
                pass
        order.append("stopped")
    finally:
        stopped.set()
        writer.join()
        signal.signal(signal.SIGUSR1, previous)
    assert order == ["written", "stopped", "writer closed"]


def _unblock(fifo) -> None:
    """Open the FIFO's other end so that a blocked opener goes on."""
    try:
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
    except OSError:
        pass


def _memory_limit():
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # a runaway read ends here


def test_verify_log_refuses_a_fifo_and_a_device(tmp_path):
    fifo = tmp_path / "alerts.jsonl"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero"):
        try:
            proc = run("verify-log", path, timeout=30, preexec_fn=_memory_limit)
        except subprocess.TimeoutExpired:
            pytest.fail(f"verify-log {path} hung")
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert "not a regular file" in proc.stderr


def test_verify_log_bounds_a_line(tmp_path):
    log = tmp_path / "alerts.jsonl"
    with open(log, "wb") as fh:
        fh.write(b"\0" * (16 << 20))  # one 16 MiB line
    proc = run("verify-log", log, timeout=60, preexec_fn=lambda: resource.setrlimit(
        resource.RLIMIT_AS, (600 << 20, 600 << 20)))
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 1, proc.stderr
    assert "alerts.jsonl:1: longer than" in proc.stdout


CONFIG = """
[network]
private = ["10.0.0.0/8"]
platform = ["10.200.0.0/16"]

[[allocations]]
path = "alloc.csv"
"""


@pytest.mark.parametrize("csv,where,what", [
    (b"code,name,cidr,line,access\nH1,\xd6\xd0\xd0\xc4,10.1.0.0/16,,dedicated\n", ":2:",
     "not UTF-8"),
    (b"code,name,cidr,line,access\nH1,H," + b"1" * (10 << 20) + b",,dedicated\n", ":2:",
     "not a CSV row"),
    (b"code,name,cidr,line,access\nH1," + b"N" * 100_000 + b",10.1.0.0/16,,dedicated\n", ":2:",
     "name: 100,000 characters"),
], ids=["gbk", "10MB-field", "100k-name"])
def test_an_allocations_csv_that_is_not_text_is_a_config_error(tmp_path, csv, where, what):
    (tmp_path / "sensor.toml").write_text(CONFIG)
    (tmp_path / "alloc.csv").write_bytes(csv)
    with pytest.raises(ConfigError) as err:
        load(tmp_path / "sensor.toml")
    message = str(err.value)
    assert f"alloc.csv{where}" in message and what in message
    assert len(message) < 300
    proc = run("check-config", tmp_path / "sensor.toml")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["decode", "replay"])
def test_a_directory_or_missing_file_among_inputs_does_not_stop_the_others(tmp_path, command):
    first = write_pcap(tmp_path / "first.pcap", FRAMES[:1])
    last = write_pcap(tmp_path / "last.pcap", FRAMES[1:])
    (tmp_path / "adir").mkdir()
    extra = ["--format", "jsonl"] if command == "decode" else []
    proc = run(command, *extra, first, tmp_path / "adir", tmp_path / "missing.pcap", last)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "adir" in proc.stderr and "missing.pcap" in proc.stderr
    if command == "decode":
        assert [r["sport"] for r in rows(proc.stdout)] == [40000, 40001, 40002]
    else:
        assert proc.stdout.startswith("3 frames")


# ---------------------------------------------------------------------------------------
# Defect 8: cost that grew with the file

def _peak_reading(path, batch_frames=4096) -> int:
    tracemalloc.start()
    try:
        frames = sum(len(b) for b in read_capture(path, batch_frames=batch_frames))
        return tracemalloc.get_traced_memory()[1], frames
    finally:
        tracemalloc.stop()


def _pcapng(n: int) -> bytes:
    return shb("<") + idb("<", 1, tsresol=9) + epb("<", 0, 1, FRAMES[0]) * n


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_peak_memory_is_bounded_by_the_batch_not_the_file(tmp_path, kind):
    peaks = []
    sizes = (50_000, 200_000) if kind == "pcap" else (5_000, 20_000)  # pcapng: a walk per block
    for n in sizes:
        path = tmp_path / f"{n}.{kind}"
        path.write_bytes(pcap_bytes([FRAMES[0]] * n) if kind == "pcap" else _pcapng(n))
        peak, frames = _peak_reading(path, batch_frames=1024)
        assert frames == n
        peaks.append(peak)
    # four times the frames: the same batches, the same peak (whole-file lists grew 4x)
    assert peaks[1] < 1.5 * peaks[0], peaks


def _interfaces(n: int) -> bytes:
    """n interfaces, then a frame on each."""
    return b"".join([shb("<")] + [idb("<", 1)] * n
                    + [epb("<", i, SEC * 10**6 + i, FRAMES[0]) for i in range(n)])


def _cpu_readings(*paths) -> list[float]:
    """The least CPU time of five readings of each of `paths`, read in turn: a host whose
    other tenants take a core now and then slows one reading (seen: 0.52 s for the usual
    0.39), not all five, and a busy spell falls on every file alike, not on one."""
    best = [float("inf")] * len(paths)
    for _ in range(5):
        for k, path in enumerate(paths):
            start = time.process_time()
            for _ in read_capture(path):
                pass
            best[k] = min(best[k], time.process_time() - start)
    return best


def test_pcapng_cost_is_linear_in_interfaces(tmp_path):
    small, large = tmp_path / "small.pcapng", tmp_path / "large.pcapng"
    small.write_bytes(_interfaces(10_000))
    large.write_bytes(_interfaces(80_000))
    cost_large, cost_small = _cpu_readings(large, small)
    ratio = cost_large / cost_small
    # 8x the interfaces (and frames): linear is about 8x (up to 11.8 seen with other jobs
    # on the host: the larger file's tables leave the cache); quadratic is 64x (the defect
    # measured over 20x, its setup cost counting)
    assert ratio < 16, ratio


# ---------------------------------------------------------------------------------------
# Defect 9: one interface we cannot decode

def test_an_unsupported_interface_does_not_drop_the_good_ones(tmp_path):
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(shb("<") + idb("<", 1, name="eth0", tsresol=9)
                     + idb("<", 189, name="usbmon0", tsresol=9)       # USB: not read
                     + epb("<", 0, 1, FRAMES[0]) + epb("<", 1, 2, b"\x00" * 48)
                     + epb("<", 0, 3, FRAMES[1]) + epb("<", 1, 4, b"\x00" * 48))
    proc = run("decode", "--format", "jsonl", path)
    assert proc.returncode == 0, proc.stderr
    got = rows(proc.stdout)
    assert [r["status"] for r in got] == ["ok", "unsupported:link", "ok", "unsupported:link"]
    assert [r["sport"] for r in got if r["status"] == "ok"] == [40000, 40001]
    warnings = [line for line in proc.stderr.splitlines() if "usbmon0" in line]
    assert len(warnings) == 1 and "link type 189" in warnings[0]
    replay = run("replay", path)
    assert replay.returncode == 0, replay.stderr
    assert "unsupported:link" in replay.stdout


def test_packets_of_missing_interfaces_are_warned_once_and_counted(tmp_path):
    path = tmp_path / "noif.pcapng"
    path.write_bytes(shb("<") + idb("<", 1) + epb("<", 5, 1, FRAMES[0]) * 1000
                     + epb("<", 0, 2, FRAMES[1]))
    warnings = []
    got = [len(b) for b in read_capture(path, warn=warnings.append)]
    assert got == [1]
    assert len(warnings) == 2 and "missing interface" in warnings[0] and "999" in warnings[1]


def test_interfaces_past_the_cap_are_counted(tmp_path, monkeypatch):
    from ybsensor.sensor.sources import pcapng
    monkeypatch.setattr(pcapng, "MAX_INTERFACES", 2, raising=False)
    path = tmp_path / "many.pcapng"
    path.write_bytes(shb("<") + idb("<", 1) * 3 + epb("<", 2, 1, FRAMES[0])
                     + epb("<", 1, 1, FRAMES[1]))
    warnings = []
    assert [len(b) for b in read_capture(path, warn=warnings.append)] == [1]
    assert any("1 interfaces past the first 2" in w for w in warnings)


def _frames_of(path, **kw) -> list[tuple]:
    warnings = []
    out = [(bytes(b.data[o:o + c]), w, t, lt, b.interfaces[i], b.first_frame + k)
           for b in read_capture(path, warn=warnings.append, **kw)
           for k, (o, c, w, t, lt, i) in enumerate(zip(b.offset.tolist(), b.caplen.tolist(),
                                                       b.wirelen.tolist(), b.ts_ns.tolist(),
                                                       b.linktype.tolist(), b.iface.tolist()))]
    return out, len(warnings)


@pytest.mark.parametrize("kind", ["pcap", "pcapng", "pcap-cut"])
def test_a_pipe_read_in_small_chunks_gives_what_the_file_gives(tmp_path, kind, monkeypatch):
    """Records and blocks across every chunk boundary, a record header cut at the end."""
    from ybsensor.sensor.sources import framing
    frames = [f for _ in range(40) for f in FRAMES]
    data = (pcap_bytes(frames) if kind.startswith("pcap") and kind != "pcapng" else
            shb("<") + idb("<", 1, tsresol=9) + b"".join(epb("<", 0, i, f)
                                                      for i, f in enumerate(frames)))
    if kind == "pcap-cut":
        data = data[:-len(FRAMES[2]) - 9]  # the last record's header cut after 7 bytes
    path = tmp_path / "c"
    path.write_bytes(data)
    expected = _frames_of(path, batch_frames=16)
    monkeypatch.setattr(framing, "CHUNK", 97)
    r, w = os.pipe()
    writer = threading.Thread(target=lambda: os.write(w, data) and os.close(w), daemon=True)
    writer.start()
    try:
        assert _frames_of(f"/proc/self/fd/{r}", batch_frames=16) == expected
    finally:
        os.close(r)
    assert len(expected[0]) == (len(frames) - (kind == "pcap-cut"))
