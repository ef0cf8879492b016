"""Faults the alert log survives: every batch flushed, fsync on an interval, rotation by size,
a full disk (injected, and for real on a 64 KiB tmpfs), and SIGTERM/SIGINT at any moment of a
real `ybsensor replay` — after which no alert the sensor counted is missing from the file.

The tmpfs test needs `mount` (root, or CAP_SYS_ADMIN). Decision: a missing `mount`/`umount`
program is a missing tool (a failure under CI=true, as DESIGN.md asks); a mount refused for
lack of privilege is a skip everywhere, CI included — unprivileged CI containers are normal,
and the injected-ENOSPC tests below run the same code paths without privilege.
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import tools
from ybsensor.decoders import Batch
from ybsensor.exporters import alerts as alerts_mod
from ybsensor.exporters.alerts import UNINTERRUPTED, AlertLog
from ybsensor.sensor.audit import StopOnSignals, Stopped, verify
from ybsensor.sensor.cli import cli
from ybsensor.sensor.config import load
from ybsensor.sensor.sensor import Sensor
from frames import tcp_segment
from tools import ONE_HOSPITAL, REPO, ybsensor_cmd

CONFIG = ONE_HOSPITAL + """
[alerts]
max_per_second = 40
{alerts}

[evidence]
packets_per_flow = 4
max_bytes = 2000000
"""


def alert(i: int) -> dict:
    return {"ts": 1_735_689_600.0 + i, "detector": "internet_bound", "severity": "high",
            "src": "10.1.2.3", "dst": "203.0.113.5", "sport": 40000 + i, "first_frame": i + 1,
            "evidence": {"reason": "address_outside_private", "pad": "x" * 200}}


def records(path: Path) -> list[dict]:
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), "a torn last line"
    return [json.loads(line) for line in data.splitlines()]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


# --- flush and fsync ----------------------------------------------------------------------

def test_each_batch_is_on_disk_when_write_returns(tmp_path):
    path = tmp_path / "alerts.jsonl"
    log = AlertLog(path, fsync_seconds=3600)
    for k in range(3):
        log.write([alert(2 * k), alert(2 * k + 1)])
        # another reader (a tail -f, a shipper) sees the whole batch at once: no buffering
        assert [r["seq"] for r in records(path)] == list(range(1, 2 * k + 3))
    log.close()


def test_fsync_on_the_configured_interval(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    clock = Clock()
    log = AlertLog(tmp_path / "alerts.jsonl", fsync_seconds=5, clock=clock)
    synced.clear()
    for now in (1, 2, 4.9):
        clock.now = now
        log.write([alert(int(now))])
    assert log.syncs == 0
    clock.now = 5.0
    log.write([alert(5)])
    assert log.syncs == 1
    clock.now = 6.0
    log.write([])                   # nothing new since: no sync
    clock.now = 11.0
    log.write([])                   # nothing new: still none
    assert log.syncs == 1
    log.write([alert(11)])          # dirty and due
    assert log.syncs == 2
    log.close()                     # close syncs whatever the interval
    assert log.syncs == 3 and synced


def test_fsync_every_batch_with_zero(tmp_path):
    log = AlertLog(tmp_path / "alerts.jsonl", fsync_seconds=0)
    for i in range(4):
        log.write([alert(i)])
    assert log.syncs == 4
    log.close()


def test_the_config_keys_reach_the_log(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text(CONFIG.format(alerts="fsync_seconds = 0.5\nrotate_bytes = 4096\nkeep = 3\n"
                                 "max_backlog = 7"))
    s = Sensor(load(cfg), alerts_path=str(tmp_path / "a.jsonl"))
    assert (s.log.fsync_seconds, s.log.rotate_bytes, s.log.keep, s.log.max_backlog) == \
        (0.5, 4096, 3, 7)
    assert (s.evidence.packets_per_flow, s.evidence.max_bytes, s.evidence.mask) == (4, 2_000_000, True)
    s.close()


@pytest.mark.parametrize("line, message", [
    ("keep = 0", "alerts.keep: must be at least 1"),
    ("fsync_seconds = -1", "alerts.fsync_seconds: must not be negative"),
    ("rotate_bytes = \"big\"", "alerts.rotate_bytes: must be a int"),
    ("max_backlog = 0", "alerts.max_backlog: must be at least 1"),
])
def test_bad_values_name_file_line_and_key(tmp_path, line, message):
    cfg = tmp_path / "s.toml"
    cfg.write_text(CONFIG.format(alerts=line))
    with pytest.raises(Exception) as exc:
        load(cfg)
    number = cfg.read_text().splitlines().index(line) + 1
    assert f"{cfg}:{number}: {message}" in str(exc.value)


def test_bad_evidence_values_name_file_line_and_key(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text(CONFIG.format(alerts="").replace("packets_per_flow = 4", "packets_per_flow = 0"))
    with pytest.raises(Exception, match=r"s\.toml:\d+: evidence\.packets_per_flow: must be at least 1"):
        load(cfg)


# --- rotation ----------------------------------------------------------------------------

def test_rotation_by_size_keeps_n_files(tmp_path):
    path = tmp_path / "alerts.jsonl"
    log = AlertLog(path, rotate_bytes=3000, keep=3)
    for i in range(0, 60, 3):
        log.write([alert(i), alert(i + 1), alert(i + 2)])
    log.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["alerts.jsonl", "alerts.jsonl.1", "alerts.jsonl.1.chain", "alerts.jsonl.2",
                     "alerts.jsonl.2.chain", "alerts.jsonl.3", "alerts.jsonl.3.chain",
                     "alerts.jsonl.chain", "alerts.jsonl.head", "alerts.jsonl.lock"]
    files = [path.with_name(n) for n in names if not n.endswith((".chain", ".head", ".lock"))]
    assert all(p.stat().st_size <= 3000 for p in files)
    seqs = [r["seq"] for p in reversed(sorted(files[1:])) for r in records(p)] + \
        [r["seq"] for r in records(path)]
    assert seqs == list(range(seqs[0], 61))          # the newest, in order, none lost among them
    assert log.rotations > 3 and verify(files).ok


# --- a full disk, injected ------------------------------------------------------------------

class FullDisk:
    """`write_all` that, while `full`, writes half the data and then fails like ENOSPC."""

    def __init__(self, code=errno.ENOSPC):
        self.full = False
        self.code = code
        self.real = alerts_mod.write_all

    def __call__(self, fd, data):
        if self.full:
            os.write(fd, bytes(data[: len(data) // 2]))
            raise OSError(self.code, os.strerror(self.code))
        self.real(fd, data)


@pytest.fixture
def disk(monkeypatch) -> FullDisk:
    fake = FullDisk()
    monkeypatch.setattr(alerts_mod, "write_all", fake)
    return fake


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_a_failed_write_leaves_no_torn_line_and_is_retried(tmp_path, disk, code):
    disk.code = code
    path = tmp_path / "alerts.jsonl"
    log = AlertLog(path)
    log.write([alert(0), alert(1)])
    disk.full = True
    log.write([alert(2), alert(3)])
    log.write([alert(4)])
    assert log.write_errors == 2 and len(log.backlog) == 3 and log.written == 2
    assert [r["seq"] for r in records(path)] == [1, 2]   # the half-written batch was cut off
    disk.full = False
    log.write([alert(5)])                                 # the next batch takes the backlog
    log.close()
    got = records(path)
    assert [r["sport"] for r in got] == [40000 + i for i in range(6)]
    assert [r["seq"] for r in got] == list(range(1, 7)) and log.written == 6
    assert verify([path]).ok


def test_the_backlog_is_bounded_and_drops_are_counted_and_told(tmp_path, disk):
    path = tmp_path / "alerts.jsonl"
    log = AlertLog(path, max_backlog=4)
    disk.full = True
    for i in range(0, 9, 3):
        log.write([alert(i), alert(i + 1), alert(i + 2)])
    assert len(log.backlog) == 4 and log.dropped == 5
    disk.full = False
    log.write([alert(100)])
    log.close()
    got = records(path)
    assert [r["sport"] for r in got] == [40000, 40001, 40002, 40003, 40100]
    assert got[-1]["dropped_before"] == 5                 # the gap is in the record itself
    assert verify([path]).ok


def test_alerts_held_at_close_are_counted_as_dropped(tmp_path, disk):
    log = AlertLog(tmp_path / "alerts.jsonl")
    disk.full = True
    log.write([alert(0), alert(1)])
    log.close()
    assert log.dropped == 2 and log.written == 0


def test_a_torn_log_on_a_full_disk_does_not_stop_the_start(tmp_path, disk):
    path = tmp_path / "alerts.jsonl"
    log = AlertLog(path)
    log.write([alert(0), alert(1)])
    log.close()
    path.write_bytes(path.read_bytes()[:-20])           # a crash cut the last line
    disk.full = True
    log = AlertLog(path)                                 # cannot even end the torn line
    log.write([alert(2)])
    assert log.write_errors == 2 and len(log.backlog) == 1
    disk.full = False
    log.write([])
    log.close()
    rows = path.read_bytes().splitlines()
    assert len(rows) == 3 and json.loads(rows[2])["sport"] == 40002
    assert verify([path]).problem.line == 2               # the torn line, and only it


def frame(sport: int, dst: str = "203.0.113.5") -> bytes:
    return tcp_segment(b"GET / HTTP/1.1\r\n\r\n", dst=dst, sport=sport, dport=80, seq=0,
                       flags="S")


def sensor_on(tmp_path: Path, where: Path, alerts: str = "fsync_seconds = 0") -> Sensor:
    cfg = tmp_path / "s.toml"
    cfg.write_text(CONFIG.format(alerts=alerts))
    return Sensor(load(cfg), alerts_path=str(where / "alerts.jsonl"))


def test_the_sensor_keeps_capturing_and_says_so_in_its_metrics(tmp_path, disk):
    s = sensor_on(tmp_path, tmp_path)
    disk.full = True
    for k in range(5):
        s.pipeline.process(Batch.from_frames([frame(40000 + k)], ts_ns=[k * 10**9]))
    assert s.stats.frames == 5
    text = s.metrics.text().decode()
    assert "ybsensor_alert_write_errors_total 5.0" in text
    assert "ybsensor_alert_backlog 5.0" in text
    disk.full = False
    s.pipeline.process(Batch.from_frames([frame(40100)], ts_ns=[6 * 10**9]))
    s.close()
    assert len(records(tmp_path / "alerts.jsonl")) == 6
    assert "ybsensor_alerts_written_total 6.0" in s.metrics.text().decode()


# --- a full disk, for real -------------------------------------------------------------------

@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs mounted for the test."""
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if mount is None or umount is None:
        tools.require_tool("mount" if mount is None else "umount")  # skip, or fail under CI
    where = tmp_path / "disk"
    where.mkdir()
    proc = subprocess.run([mount, "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs privilege): {proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run([umount, "-l", str(where)], capture_output=True)


def fill(path: Path, size: int) -> None:
    with open(path, "wb") as fh:
        fh.write(b"\0" * size)


def test_disk_full_for_real(tiny_disk):
    filler = tiny_disk / "filler"
    fill(filler, 40 * 1024)
    path = tiny_disk / "alerts.jsonl"
    log = AlertLog(path, fsync_seconds=0)
    queued = 0
    while log.write_errors < 3 and queued < 2000:
        log.write([alert(queued + i) for i in range(10)])
        queued += 10
    assert log.write_errors >= 3, "the tmpfs never filled up"
    assert log.backlog and log.written + len(log.backlog) == queued
    got = records(path)                                   # whole lines only, nothing torn
    assert len(got) == log.written and verify([path]).ok
    filler.unlink()                                       # room again
    log.write([])
    assert not log.backlog
    log.close()
    got = records(path)
    assert [r["sport"] - 40000 for r in got] == list(range(queued))
    assert verify([path]).ok


def test_the_sensor_on_a_full_disk_keeps_capturing(tiny_disk, tmp_path):
    fill(tiny_disk / "filler", 56 * 1024)
    s = sensor_on(tmp_path, tiny_disk)
    for k in range(40):
        s.pipeline.process(Batch.from_frames([frame(40000 + k)], ts_ns=[k * 10**9]))
    assert s.stats.frames == 40
    assert s.log.write_errors > 0
    assert s.evidence.write_errors + s.evidence.refused > 0
    s.close()
    got = records(tiny_disk / "alerts.jsonl")
    assert len(got) == s.log.written and s.log.written + s.log.dropped == 40
    text = s.metrics.text().decode()
    assert re.search(r"^ybsensor_alert_write_errors_total [1-9]", text, re.M)


# --- signals --------------------------------------------------------------------------------

def test_a_signal_inside_a_write_waits_for_its_end(tmp_path, monkeypatch):
    path = tmp_path / "alerts.jsonl"
    log = AlertLog(path)
    real = alerts_mod.write_all

    def interrupted(fd, data):          # the handler runs in the middle of the write
        monkeypatch.setattr(alerts_mod, "write_all", real)     # once
        UNINTERRUPTED.interrupt(Stopped(signal.SIGTERM))
        real(fd, data)

    monkeypatch.setattr(alerts_mod, "write_all", interrupted)
    with pytest.raises(Stopped):
        log.write([alert(0), alert(1), alert(2)])
    assert log.written == 3 and len(records(path)) == 3  # counted and written together
    with pytest.raises(Stopped):        # outside a critical section: at once
        UNINTERRUPTED.interrupt(Stopped(signal.SIGTERM))
    log.close()


def test_a_real_signal_is_deferred_to_the_end_of_the_section():
    done = []
    with StopOnSignals() as stop:
        with pytest.raises(Stopped) as exc:
            with UNINTERRUPTED:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.01)
                done.append("the section ran to its end")
        assert done and exc.value.signum == signal.SIGTERM and stop.received == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is not stop.handler   # put back


FRAMES = 600_000
PER_FLOW = 8


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> tuple[Path, Path]:
    """A capture of 600 k frames (75 k internet-bound flows, one every 8 ms of packet time)
    and its config: thousands of alerts, written batch by batch, with evidence."""
    where = tmp_path_factory.mktemp("big")
    tmpl = frame(1024)
    size = len(tmpl)
    rec = np.empty((FRAMES, 16 + size), dtype=np.uint8)
    rec[:, 16:] = np.frombuffer(tmpl, dtype=np.uint8)
    ts = 1_735_689_600_000_000 + np.arange(FRAMES, dtype=np.int64) * 1000   # 1 ms apart
    hdr = np.empty((FRAMES, 4), dtype="<u4")
    hdr[:, 0], hdr[:, 1], hdr[:, 2], hdr[:, 3] = ts // 10**6, ts % 10**6, size, size
    rec[:, :16] = hdr.view(np.uint8).reshape(FRAMES, 16)
    flow = np.arange(FRAMES) // PER_FLOW
    sport = 1024 + flow % 60000
    sport_at = 14 + 4 + 20                          # Ethernet, 802.1Q, IPv4: then TCP
    rec[:, 16 + sport_at], rec[:, 16 + sport_at + 1] = sport >> 8, sport & 0xFF
    rec[:, 16 + 14 + 4 + 19] = flow // 60000 % 250 + 1   # the destination's last octet
    pcap = where / "big.pcap"
    pcap.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + rec.tobytes())
    cfg = where / "sensor.toml"
    cfg.write_text(CONFIG.format(alerts=""))
    return pcap, cfg


STOP_LINE = re.compile(r"stopped early by (SIG\w+): ([\d,]+) frames read.*; ([\d,]+) alerts "
                       r"raised, ([\d,]+) written to (\S+)")


def _n(text: str) -> int:
    return int(text.replace(",", ""))


@pytest.mark.parametrize("sig, moment", [
    (signal.SIGTERM, "at once"),
    (signal.SIGTERM, 1),          # as soon as the first batch's alerts are in the file
    (signal.SIGTERM, 1500),
    (signal.SIGINT, 700),
    (signal.SIGTERM, 3000),
    (signal.SIGTERM, "late"),     # after the alerts, in the passes that raise none
])
def test_a_signal_at_any_moment_loses_no_counted_alert(big, tmp_path, sig, moment):
    pcap, cfg = big
    out = tmp_path / "out"
    alerts_path, metrics = out / "alerts.jsonl", tmp_path / "final.prom"
    proc = subprocess.Popen([*ybsensor_cmd(), "replay", str(pcap), str(pcap), str(pcap), str(pcap),
                             "--config", str(cfg), "--alerts", str(alerts_path), "--no-progress",
                             "--metrics-file", str(metrics)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        if moment == "at once":
            time.sleep(0.05)
        else:
            want = 3500 if moment == "late" else moment
            while time.monotonic() < deadline and proc.poll() is None:
                if alerts_path.exists() and alerts_path.read_bytes().count(b"\n") >= want:
                    break
                time.sleep(0.005)
            if moment == "late":
                time.sleep(0.3)
        if proc.poll() is not None:
            pytest.skip(f"the replay ended before the signal (exit {proc.returncode}): this "
                        f"machine is faster than the capture is long")
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    name = signal.Signals(sig).name
    if proc.returncode == -sig:
        # the signal came before ybsensor installed its handler (the interpreter starting):
        # it ended the way a signal ends any program, before any alert existed
        assert moment == "at once" and not (alerts_path.exists() and alerts_path.read_bytes())
        return
    assert proc.returncode == 128 + sig, (proc.returncode, stderr)
    m = STOP_LINE.search(stderr)
    assert m and m.group(1) == name, stderr
    raised, written = _n(m.group(3)), _n(m.group(4))
    got = records(alerts_path) if alerts_path.exists() else []   # no torn last line
    assert raised == written == len(got), stderr                    # nothing counted is missing
    assert f"ybsensor_alerts_written_total {float(written)}" in metrics.read_text()
    if moment != "at once":
        assert 0 < _n(m.group(2)) < 4 * FRAMES and written >= 1
    result = CliRunner().invoke(cli, ["verify-log", str(alerts_path)])
    if got:
        assert result.exit_code == 0, result.output
    assert "summary" not in stdout  # the summary of a finished replay was not printed
    assert stdout == ""
