"""The sample captures of pcaps/ decode to what pcaps/expected/ says, row by row, field by
field; and pcaps/make_samples.py remakes the committed captures byte for byte.

The expected rows are written by make_samples.py from what it puts in each frame, not
copied from the sensor's output: a difference here is the decoder's or the sample's fault,
and the failure message names the file, the frame and the field.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PCAPS = ROOT / "pcaps"
EXPECTED = PCAPS / "expected"
SCRIPT = PCAPS / "make_samples.py"
FIELDS = ["frame", "ts", "len", "encap", "line", "outer_src", "outer_dst", "tunnels", "src",
          "dst", "proto", "sport", "dport", "payload_len", "status"]
MAX_SAMPLE_BYTES = 20_000


def _captures() -> list[Path]:
    return sorted(p for p in PCAPS.iterdir()
                  if p.is_file() and p.suffix in (".pcap", ".pcapng"))


def _expected_for(capture: Path) -> Path:
    return EXPECTED / f"{capture.stem}.jsonl"


SAMPLES = [p for p in _captures() if _expected_for(p).exists()]


def _decode(capture: Path) -> list[dict]:
    """`ybsensor decode --format jsonl` through the CLI's own entry point."""
    from click.testing import CliRunner

    from ybsensor.sensor.cli import cli

    result = CliRunner().invoke(cli, ["decode", str(capture), "--format", "jsonl"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, (
        f"{capture.name}: ybsensor decode exited {result.exit_code}: {result.stderr}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def _same(field: str, want, got) -> bool:
    if field == "ts" and isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return abs(want - got) < 5e-7       # the contract rounds to microseconds
    return want == got and type(want) is type(got)


def _show(value) -> str:
    return json.dumps(value)


@pytest.mark.parametrize("capture", SAMPLES, ids=[p.name for p in SAMPLES])
def test_sample_decodes_as_expected(capture: Path):
    want_rows = [json.loads(line) for line in _expected_for(capture).read_text().splitlines()
                 if line.strip()]
    got_rows = _decode(capture)
    problems = []
    if len(got_rows) != len(want_rows):
        problems.append(f"{capture.name}: expected {len(want_rows)} rows, got {len(got_rows)}")
    for want, got in zip(want_rows, got_rows):
        frame = want.get("frame")
        for field in FIELDS:
            if field not in got:
                problems.append(f"{capture.name} frame {frame} field {field!r}: "
                                f"expected {_show(want[field])}, got no such field")
            elif not _same(field, want[field], got[field]):
                problems.append(f"{capture.name} frame {frame} field {field!r}: "
                                f"expected {_show(want[field])}, got {_show(got[field])}")
        extra = sorted(set(got) - set(FIELDS))
        if extra:
            problems.append(f"{capture.name} frame {frame}: fields outside the contract: {extra}")
    assert not problems, "\n" + "\n".join(problems)


def test_every_expected_decode_has_its_capture():
    orphans = sorted(e.name for e in EXPECTED.glob("*.jsonl")
                     if not any(p.stem == e.stem for p in _captures()))
    assert SAMPLES, "no sample captures with an expected decode under pcaps/"
    assert not orphans, f"expected decodes without a capture: {orphans}"


def test_samples_are_small():
    big = [f"{p.name} ({p.stat().st_size} bytes)" for p in SAMPLES
           if p.stat().st_size >= MAX_SAMPLE_BYTES]
    assert not big, f"sample captures over {MAX_SAMPLE_BYTES} bytes: {big}"


def test_make_samples_remakes_the_committed_files(tmp_path: Path):
    subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], check=True, cwd=ROOT,
                   capture_output=True, timeout=300)
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert made, "make_samples.py wrote nothing"
    differ, absent = [], []
    for rel in made:
        committed = PCAPS / rel
        if not committed.exists():
            absent.append(str(rel))
        elif committed.read_bytes() != (tmp_path / rel).read_bytes():
            differ.append(str(rel))
    assert not absent, f"made but not under pcaps/ (run pcaps/make_samples.py): {absent}"
    assert not differ, f"pcaps/ differs from what make_samples.py makes now: {differ}"
    # and no expected decode (with its capture) that the script no longer makes
    ours = {str(p.relative_to(PCAPS)) for p in SAMPLES} | \
        {str(p.relative_to(PCAPS)) for p in EXPECTED.glob("*.jsonl")}
    stale = sorted(ours - {str(r) for r in made})
    assert not stale, f"under pcaps/ but no longer made by make_samples.py: {stale}"
