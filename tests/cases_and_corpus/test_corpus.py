"""Every file of tcpdump's test corpus (../shared/corpus/tcpdump, many of them deliberately
malformed) goes through `ybsensor decode` and `ybsensor replay` with exit status 0 (read) or
2 (refused, with a message), never a traceback and never a hang (DESIGN.md, Tests).

One process per file would spend minutes starting Python, so each file goes through the CLI
in-process (click's CliRunner: the same command functions, exceptions caught and reported),
under a per-file alarm; a handful go through the real console script, and one replay run
takes the whole corpus at once.
"""
from __future__ import annotations

import hashlib
import json
import signal
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from ybsensor.sensor.cli import cli
from tools import CORPUS, REPO, ybsensor_cmd

PER_FILE_SECONDS = 60
ALL_FILES = sorted(p for p in CORPUS.iterdir() if p.is_file()) if CORPUS.is_dir() else []
# a few of every kind through the real console script: pcapng, damaged, refused link type,
# not a capture at all
REAL_RUNS = ["802.1ad_QinQ.pcap", "ahcp.pcapng", "ip_printroute_asan.pcap",
             "LINKTYPE_IPV4_invalid.pcap", "802_15_4-data.pcap", "LICENSE"]


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"still running after {PER_FILE_SECONDS} s")


def invoke(args: list[str]):
    """The CLI in this process, stopped by SIGALRM if it runs too long."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, PER_FILE_SECONDS)
    try:
        return CliRunner().invoke(cli, args, catch_exceptions=True)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_outcome(name: str, exit_code: int, stderr: str, exception=None, exc_info=None) -> None:
    if exception is not None and not isinstance(exception, SystemExit):
        import traceback
        trace = "".join(traceback.format_exception(*exc_info)) if exc_info else repr(exception)
        pytest.fail(f"{name}: {type(exception).__name__}: {exception}\n{trace}", pytrace=False)
    assert "Traceback" not in stderr, f"{name}:\n{stderr}"
    assert exit_code in (0, 2), f"{name}: exit status {exit_code}\n{stderr}"
    if exit_code == 2:
        # refused: the reason is given, and names the file
        assert "ybsensor: error:" in stderr and name in stderr, f"{name}:\n{stderr}"


@pytest.fixture
def corpus(corpus_dir):
    return corpus_dir


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_decode_in_process(path, corpus):
    result = invoke(["decode", "--format", "jsonl", str(path)])
    check_outcome(path.name, result.exit_code, result.stderr, result.exception, result.exc_info)
    # every row is one JSON object and frames count up from 1
    numbers = [json.loads(line)["frame"] for line in result.stdout.splitlines()]
    assert numbers == list(range(1, len(numbers) + 1)), path.name


@pytest.mark.parametrize("name", REAL_RUNS)
def test_decode_console_script(name, corpus):
    path = corpus / name
    if not path.exists():
        pytest.skip(f"{name} is not in the corpus")
    for fmt in ("jsonl", "table"):
        proc = subprocess.run([*ybsensor_cmd(), "decode", "--format", fmt, str(path)],
                              capture_output=True, text=True, cwd=REPO, timeout=PER_FILE_SECONDS)
        check_outcome(name, proc.returncode, proc.stderr)


def test_replay_whole_corpus(corpus):
    """One replay over every file: some are refused (exit 2), the rest are counted."""
    files = [str(p) for p in ALL_FILES]
    proc = subprocess.run([*ybsensor_cmd(), "replay", "--no-progress", *files],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr[-5000:]
    assert proc.returncode == 2, proc.stderr[-5000:]  # LICENSE and unsupported link types
    first = proc.stdout.splitlines()[0]
    frames = int(first.split()[0].replace(",", ""))
    assert frames > 5000, first
    refused = [line for line in proc.stderr.splitlines() if line.startswith("ybsensor: error:")]
    assert any("LICENSE" in line for line in refused)
    assert len(refused) < len(files) / 2, "most of the corpus should be read"


def test_every_capture_is_decoded_or_refused_in_process(corpus):
    """A summary across the corpus, so a regression that refuses everything is noticed."""
    read = refused = 0
    for path in ALL_FILES:
        if path.suffix not in (".pcap", ".pcapng"):
            continue
        result = invoke(["replay", "--no-progress", str(path)])
        check_outcome(path.name, result.exit_code, result.stderr, result.exception,
                      result.exc_info)
        read += result.exit_code == 0
        refused += result.exit_code == 2
    assert read > 500 and refused < 300, (read, refused)


def test_corpus_is_not_copied_into_the_repository(corpus):
    """The corpus is read in place (its README asks so): no file of it lives in the repo."""
    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    theirs = {digest(p): p.name for p in ALL_FILES if p.suffix in (".pcap", ".pcapng")}
    ours = [p for p in REPO.rglob("*") if p.suffix in (".pcap", ".pcapng", ".cap")
            and not {".git", ".venv"} & set(p.relative_to(REPO).parts)]
    copies = [f"{p.relative_to(REPO)} = corpus {theirs[d]}" for p in ours
              if (d := digest(p)) in theirs]
    assert not copies, copies
