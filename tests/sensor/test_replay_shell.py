"""Replay and decode as the shell uses them: standard input and pipes, compressed captures,
directories in capture order, a BPF filter, lines/institutions/time windows, `-l DIR`, the
alert log's lock between two processes, and the progress bar. Real processes throughout."""
from __future__ import annotations

import ctypes
import ctypes.util
import gzip
import ipaddress
import json
import lzma
import os
import struct
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest

from tools import CORPUS, PCAPS, REPO, capture_files, require_module, require_tool, \
    write_pcap, ybsensor_cmd
from frames import udp_frame

DEMO = PCAPS / "demo.pcap"
EXAMPLE = PCAPS / "example.toml"


def run(*args, cwd=REPO, timeout=120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*ybsensor_cmd(), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, **kw)


def shell(script: str, cwd=REPO) -> subprocess.CompletedProcess:
    """`script` through bash, with `ybsensor` the console script under test."""
    cmd = " ".join(ybsensor_cmd())
    return subprocess.run(["bash", "-c", f"ybsensor() {{ {cmd} \"$@\"; }}; set -o pipefail; {script}"],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def rows(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """Every 8th record of demo.pcap (every encapsulation and line of it, at an eighth of
    the decoding time)."""
    raw = DEMO.read_bytes()
    assert raw[:4] == b"\xd4\xc3\xb2\xa1"
    out, off, i = [raw[:24]], 24, 0
    while off < len(raw):
        end = off + 16 + struct.unpack_from("<I", raw, off + 8)[0]
        if i % 8 == 0:
            out.append(raw[off:end])
        off, i = end, i + 1
    path = tmp_path_factory.mktemp("sample") / "sample.pcap"
    path.write_bytes(b"".join(out))
    return path


@pytest.fixture(scope="module")
def demo_rows(sample) -> list[dict]:
    proc = run("decode", sample, "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    return rows(proc.stdout)


def packed(tmp_path, how: str, source: Path = DEMO):
    """`source` compressed `how`, under a name that does not say so."""
    raw = source.read_bytes()
    path = tmp_path / f"demo-{how}.cap"
    if how == "gzip":
        path.write_bytes(gzip.compress(raw))
    elif how == "xz":
        path.write_bytes(lzma.compress(raw))
    else:
        path.write_bytes(require_module("zstandard").ZstdCompressor().compress(raw))
    return path


# --- standard input, pipes, compression --------------------------------------------------

def test_decode_from_a_pipe_through_the_shell(tmp_path, sample, demo_rows):
    gz = packed(tmp_path, "gzip", sample)
    for script in (f"zcat {gz} | ybsensor decode - --format jsonl",
                   f"zcat {gz} | ybsensor decode /dev/stdin --format jsonl",
                   f"ybsensor decode <(zcat {gz}) --format jsonl",
                   f"ybsensor decode - --format jsonl < {sample}"):
        proc = shell(script)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (script, proc.stderr)
        assert rows(proc.stdout) == demo_rows, script


def test_replay_of_a_pipe_counts_every_frame(tmp_path, sample, demo_rows):
    proc = shell(f"zcat {packed(tmp_path, 'gzip', sample)} | ybsensor replay - --no-progress")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"{len(demo_rows):,} frames in ")


@pytest.mark.parametrize("how", ["gzip", "xz", "zstd"])
def test_compressed_captures_known_by_their_bytes(tmp_path, sample, demo_rows, how):
    path = packed(tmp_path, how, sample)
    proc = run("decode", path, "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    assert rows(proc.stdout) == demo_rows
    # and through a pipe: the magic is read from the stream, then given back
    proc = shell(f"cat {path} | ybsensor decode - --format jsonl")
    assert proc.returncode == 0, proc.stderr
    assert rows(proc.stdout) == demo_rows


@pytest.mark.parametrize("how", ["gzip", "xz", "zstd"])
def test_a_damaged_stream_fails_its_file_and_the_others_go_through(tmp_path, how):
    whole = packed(tmp_path, how).read_bytes()
    cut = tmp_path / f"cut.{how}"
    cut.write_bytes(whole[: len(whole) // 2])
    garbled = tmp_path / f"garbled.{how}"
    garbled.write_bytes(whole[:40] + bytes(len(whole) - 40))
    good = write_pcap(tmp_path / "good.pcap", [udp_frame(sport=40404)])
    proc = run("decode", cut, garbled, good, "--format", "jsonl")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{cut}: damaged {how} stream" in proc.stderr
    assert f"{garbled}: damaged {how} stream" in proc.stderr
    assert rows(proc.stdout)[-1]["sport"] == 40404


def test_a_compressed_file_that_is_no_capture_says_what_it_is(tmp_path):
    notes = tmp_path / "notes.gz"
    notes.write_bytes(gzip.compress(b"not a capture at all"))
    proc = run("decode", notes)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "not a pcap or pcapng capture" in proc.stderr


@pytest.mark.parametrize("how", ["gzip", "zstd"])
def test_inflating_holds_a_chunk_not_the_file(tmp_path, how):
    """A capture that inflates to far more than the reader's chunk streams through with
    the memory of the chunk: peak RSS grows far less than the inflated size over that of
    reading a one-frame capture (the compiled walk and numba loaded)."""
    frame = udp_frame(payload=bytes(1400))
    big = tmp_path / "big.pcap.z"
    one = write_pcap(tmp_path / "one.pcap", [frame])
    opener = (lambda: gzip.open(big, "wb", compresslevel=1)) if how == "gzip" else \
        (lambda: require_module("zstandard").ZstdCompressor(level=1).stream_writer(open(big, "wb")))
    with opener() as fh:
        fh.write(one.read_bytes())
        records = ((b"\x00" * 8) + len(frame).to_bytes(4, "little") * 2 + frame) * 1000
        for _ in range(200):
            fh.write(records)          # ~290 MB inflated
    script = (
        "import re, sys\n"
        "from ybsensor.sensor.sources import read_capture\n"
        "def peak():\n"
        "    status = open('/proc/self/status').read()\n"
        "    return int(re.search(r'VmHWM:\\s+(\\d+) kB', status)[1]) * 1024\n"
        "assert sum(len(b) for b in read_capture(sys.argv[2])) == 1\n"
        "before = peak()\n"
        "n = sum(len(b) for b in read_capture(sys.argv[1]))\n"
        "print(n, peak() - before)\n")
    proc = subprocess.run([sys.executable, "-c", script, str(big), str(one)], capture_output=True,
                          text=True, cwd=REPO, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    frames, growth = map(int, proc.stdout.split())
    assert frames == 200_001
    assert growth < 100 << 20, growth


def test_standard_input_is_read_once():
    proc = run("decode", "-", "-", input="")
    assert proc.returncode == 2 and "can be read once" in proc.stderr


# --- directories ---------------------------------------------------------------------

def test_a_directory_is_read_recursively_in_capture_order(tmp_path):
    top = tmp_path / "day"
    (top / "b" / "deeper").mkdir(parents=True)
    # names in the opposite order of time; one compressed; one file no capture
    write_pcap(top / "z-first.pcap", [udp_frame(sport=1)], ts=[(1_700_000_000, 0)])
    (top / "b" / "a-second.pcap.gz").write_bytes(gzip.compress(
        write_pcap(tmp_path / "x.pcap", [udp_frame(sport=2)], ts=[(1_700_000_100, 0)]).read_bytes()))
    write_pcap(top / "b" / "deeper" / "a-third.pcap", [udp_frame(sport=3)],
               ts=[(1_700_000_200, 0)])
    # a tie: same first time, ordered by name
    write_pcap(top / "b" / "deeper" / "b-fifth.pcap", [udp_frame(sport=5)], ts=[(1_700_000_300, 0)])
    write_pcap(top / "a-fourth.pcap", [udp_frame(sport=4)], ts=[(1_700_000_300, 0)])
    (top / "README.txt").write_text("captures of the day\n")
    proc = run("decode", top, "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    assert [r["sport"] for r in rows(proc.stdout)] == [1, 2, 3, 4, 5]
    assert "README.txt: not a capture; skipped" in proc.stderr


# --- BPF ---------------------------------------------------------------------------------

EXPRESSIONS = ["udp port 1701", "vlan and tcp", "ip6", "len > 100", "ip[2:2] > 60",
               "not arp", "tcp[tcpflags] & tcp-syn != 0", "vlan 100 and tcp[13] & 2 != 0",
               "udp and ip[6:2] & 0x1fff != 0", "ether[12:2] = 0x8100 and ether[16:2] = 0x0800"]


class _Hdr(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("usec", ctypes.c_long), ("caplen", ctypes.c_uint32),
                ("len", ctypes.c_uint32)]


def _libpcap_verdicts(batch, expr: str) -> np.ndarray:
    """libpcap's own pcap_offline_filter on each frame (the reference)."""
    from ybsensor.sensor.sources.bpf import _Insn, _Program, compile_filter

    lib = ctypes.CDLL(ctypes.util.find_library("pcap") or "libpcap.so.1")
    lib.pcap_offline_filter.argtypes = [ctypes.POINTER(_Program), ctypes.POINTER(_Hdr),
                                        ctypes.c_char_p]
    out = np.zeros(len(batch), dtype=bool)
    for linktype in np.unique(batch.linktype).tolist():
        program = compile_filter(expr, linktype, using="libpcap")
        insns = (_Insn * len(program))(*[_Insn(*i) for i in program])
        prog = _Program(len(program), insns)
        for r in np.flatnonzero(batch.linktype == linktype).tolist():
            o, c = int(batch.offset[r]), int(batch.caplen[r])
            hdr = _Hdr(0, 0, c, int(batch.wirelen[r]))
            out[r] = lib.pcap_offline_filter(ctypes.byref(prog), ctypes.byref(hdr),
                                             bytes(batch.data[o:o + c])) != 0
    return out


def _bpf_files():
    from ybsensor.sensor.sources.bpf import DLT

    files = [DEMO, PCAPS / "l2tp.pcap", PCAPS / "vlan.pcap"]
    corpus = [p for p in capture_files(CORPUS) if p.stat().st_size < 200_000]
    return files + corpus[::25], DLT


def test_the_compiled_filter_agrees_with_libpcap_frame_by_frame():
    from ybsensor.sensor.sources import CaptureError, read_capture
    from ybsensor.sensor.sources.bpf import BpfError, FrameFilter

    files, dlt = _bpf_files()
    checked = 0
    for path in files:
        try:
            batches = list(read_capture(path))
        except CaptureError:
            continue
        for batch in batches:
            if not set(np.unique(batch.linktype).tolist()) <= set(dlt):
                continue
            for expr in EXPRESSIONS:
                try:
                    want = _libpcap_verdicts(batch, expr)
                except BpfError:      # not an expression of this link type
                    continue
                got = FrameFilter(expr)(batch)
                assert (got == want).all(), (path.name, expr, np.flatnonzero(got != want)[:5])
                checked += len(batch)
    assert checked > 100_000


def test_bpf_on_decode_and_replay_keeps_what_tcpdump_keeps(sample, demo_rows):
    tcpdump = require_tool("tcpdump")
    expr = "udp port 1701"
    want = subprocess.run([tcpdump, "-nr", str(sample), expr], capture_output=True, text=True,
                          timeout=60).stdout.count("\n")
    proc = run("decode", sample, "--format", "jsonl", "--bpf", expr)
    got = rows(proc.stdout)
    assert proc.returncode == 0 and len(got) == want > 0
    # the frames keep their numbers in the capture
    by_frame = {r["frame"]: r for r in demo_rows}
    assert all(by_frame[r["frame"]] == r for r in got)
    # the filter sees the outer frame: L2TP's, whatever the tunnel carries
    assert all("l2tp" in r["encap"] for r in got)
    replay = run("replay", sample, "--no-progress", "--bpf", expr)
    assert replay.returncode == 0 and replay.stdout.startswith(f"{want:,} frames")


def test_a_bad_filter_is_exit_2_before_anything_is_read():
    proc = run("replay", DEMO, "--bpf", "udp port", "--no-progress")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "bad capture filter 'udp port'" in proc.stderr and proc.stdout == ""


# --- lines, institutions, time --------------------------------------------------------

def test_line_and_time_window_keep_their_frames(sample, demo_rows):
    stamps = sorted(r["ts"] for r in demo_rows)
    start, end = stamps[len(stamps) // 4], stamps[len(stamps) // 2]
    when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(start)))
    start_text = f"{when}.{round((start % 1) * 1e6):06d}+00:00"
    proc = run("decode", sample, "--format", "jsonl", "--line", "vlan:100",
               "--start", start_text, "--end", repr(end))
    assert proc.returncode == 0, proc.stderr
    want = [r for r in demo_rows if r["line"] == "vlan:100" and start <= r["ts"] < end]
    assert rows(proc.stdout) == want and want


def test_institution_keeps_its_lines_and_addresses(sample, demo_rows):
    cfg = tomllib.loads(EXAMPLE.read_text())
    inst = next(i for i in cfg["institution"] if i["code"] == "P22010200017")
    nets = [ipaddress.ip_network(n) for n in inst["ranges"]]

    def ours(r):
        on_line = any(r["line"] == k or (k.endswith("/*") and r["line"].startswith(k[:-1]))
                      for k in inst["lines"])
        return on_line or any(r[a] and ipaddress.ip_address(r[a]) in n
                              for a in ("src", "dst") for n in nets)

    proc = run("decode", sample, "--format", "jsonl", "--config", EXAMPLE,
               "--institution", "P22010200017")
    assert proc.returncode == 0, proc.stderr
    want = [r for r in demo_rows if ours(r)]
    assert rows(proc.stdout) == want and 0 < len(want) < len(demo_rows)


@pytest.mark.parametrize("args, message", [
    (["--institution", "H22010200001"], "--institution needs --config"),
    (["--config", str(EXAMPLE), "--institution", "NOPE"], "NOPE: not in the configuration"),
    (["--line", "vlan:5000"], "vlan ids go up to 4095"),
    (["--start", "2025-01-01T00:00:00"], "say which time zone"),
    (["--start", "yesterday"], "not a time"),
    (["--start", "20", "--end", "10"], "ends (10) before it starts (20)"),
])
def test_bad_selections_are_exit_2(args, message):
    proc = run("decode", DEMO, *args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert message in proc.stderr, proc.stderr


# --- where a replay writes --------------------------------------------------------------

def production_config(tmp_path):
    """example.toml with its alert log and flow log at 'production' paths."""
    prod = tmp_path / "prod"
    prod.mkdir()
    text = EXAMPLE.read_text().replace('path = "alerts.jsonl"', f'path = "{prod}/alerts.jsonl"')
    text = text.replace('path = "allocations.csv"', f'path = "{PCAPS}/allocations.csv"')
    text = text.replace('paths = ["intel/demo.txt"]', f'paths = ["{PCAPS}/intel/demo.txt"]')
    cfg = tmp_path / "sensor.toml"
    cfg.write_text(text + f'\n[events]\nflow = "{prod}/flows.jsonl"\n')
    return cfg, prod


def test_log_dir_reroots_every_output_and_the_production_log_is_untouched(tmp_path):
    cfg, prod = production_config(tmp_path)
    (prod / "alerts.jsonl").write_text("")
    out = tmp_path / "case-42"
    proc = run("replay", DEMO, "--config", cfg, "-l", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert (prod / "alerts.jsonl").read_text() == "" and not (prod / "flows.jsonl").exists()
    assert len((out / "alerts.jsonl").read_text().splitlines()) > 5
    assert (out / "flows.jsonl").stat().st_size > 0
    assert any((out / "evidence").iterdir())
    assert run("verify-log", out / "alerts.jsonl").returncode == 0


def test_log_dir_gets_an_alert_log_when_the_config_names_none(tmp_path):
    """An analyst's own config often has no [alerts] section: -l still gets the alerts."""
    cfg, _ = production_config(tmp_path)
    text = cfg.read_text()
    cfg.write_text(text.replace(text[text.index("[alerts]"):text.index("[metrics]")], ""))
    out = tmp_path / "case-43"
    proc = run("replay", DEMO, "--config", cfg, "-l", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert len((out / "alerts.jsonl").read_text().splitlines()) > 5
    assert run("verify-log", out / "alerts.jsonl").returncode == 0


def test_replay_without_log_dir_writes_a_directory_of_its_own(tmp_path):
    cfg, prod = production_config(tmp_path)
    work = tmp_path / "analyst"
    work.mkdir()
    proc = run("replay", DEMO, "--config", cfg, "--no-progress", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert not any(prod.iterdir())
    (made,) = work.iterdir()
    assert made.name.startswith("ybsensor-replay-") and made.name in proc.stderr
    assert (made / "alerts.jsonl").stat().st_size > 0


@pytest.mark.parametrize("command", ["run", "replay"])
def test_alerts_without_a_config_is_a_clear_error(tmp_path, command):
    args = ["-i", "lo"] if command == "run" else [DEMO]
    proc = run(command, *args, "--alerts", tmp_path / "a.jsonl", timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--alerts needs --config" in proc.stderr
    assert not (tmp_path / "a.jsonl").exists()


# --- the alert log's lock ------------------------------------------------------------------

def test_a_second_writer_is_refused_and_the_chain_stays_intact(tmp_path):
    cfg, _ = production_config(tmp_path)
    log = tmp_path / "shared" / "alerts.jsonl"
    fifo = tmp_path / "feed"
    os.mkfifo(fifo)
    first = subprocess.Popen([*ybsensor_cmd(), "replay", str(fifo), "--config", str(cfg),
                              "--alerts", str(log), "--no-progress"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while True:  # the first holds the log while it waits for frames on the FIFO
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError:   # ENXIO: not opened for reading yet
                assert first.poll() is None, first.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.05)
        os.set_blocking(fd, True)
        with open(fd, "wb") as feed:
            feed.write(DEMO.read_bytes()[:24])
            seconds = [subprocess.Popen([*ybsensor_cmd(), "replay", str(DEMO), "--config", str(cfg),
                                         "--alerts", str(log), "--no-progress"],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        cwd=REPO) for _ in range(2)]
            for second in seconds:
                _, err = second.communicate(timeout=120)
                assert second.returncode == 2 and "Traceback" not in err, err
                assert f"pid {first.pid}" in err and "writes it" in err, err
            feed.write(DEMO.read_bytes()[24:])
        out, err = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 0, err
    written = int(out.split(" written to ")[0].rsplit("\n", 1)[-1].replace(",", ""))
    assert len(log.read_text().splitlines()) == written > 5
    check = run("verify-log", log)
    assert check.returncode == 0 and "chain intact" in check.stdout, check.stdout + check.stderr
    # the lock goes with the process: the next replay appends and the chain goes on
    again = run("replay", DEMO, "--config", cfg, "--alerts", log, "--no-progress")
    assert again.returncode == 0, again.stderr
    assert run("verify-log", log).returncode == 0


# --- progress ----------------------------------------------------------------------------

def test_progress_shows_a_percentage_when_asked_and_nothing_otherwise(tmp_path):
    gz = packed(tmp_path, "gzip")
    shown = run("replay", gz, DEMO, "--progress")
    assert shown.returncode == 0 and "100%" in shown.stderr, shown.stderr
    assert "%" not in run("replay", gz, DEMO).stderr    # stderr is no terminal here
    piped = shell(f"cat {DEMO} | ybsensor decode - --progress --format jsonl")
    assert piped.returncode == 0 and "%" not in piped.stderr and "B/s" in piped.stderr
