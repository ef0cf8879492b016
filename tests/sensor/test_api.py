"""The Python API: `ybsensor.read` gives the rows `decode --format jsonl` prints, and
`ybsensor.replay` the alerts, flows and events the command line writes for the same
capture and configuration; `decode --format csv|parquet` the same rows again."""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

import ybsensor
from tools import PCAPS, ybsensor_cmd

ROOT = Path(__file__).resolve().parents[2]
EVENTS = """
[events]
sensor = "edge-api"
flow = "{tmp}/flows.jsonl"
dns = "{tmp}/dns.jsonl"
tls = "{tmp}/tls.jsonl"
http = "{tmp}/http.jsonl"
"""


def run(*args, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(ybsensor_cmd() + [str(a) for a in args], capture_output=True, env=env,
                          timeout=600, **kw)


def decoded(pcap: Path) -> list[dict]:
    out = run("decode", pcap, "--format", "jsonl", check=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    for r in rows:
        r["tunnels"] = json.dumps(r["tunnels"], separators=(",", ":"))
    return rows


@pytest.mark.parametrize("name", ["l2tp.pcap", "malformed.pcap", "twoif.pcapng"])
def test_read_and_the_table_formats_hold_decode_s_rows(name):
    pcap = PCAPS / name
    rows = decoded(pcap)
    assert rows
    assert ybsensor.read(pcap).to_pylist() == rows
    parquet = pq.read_table(io.BytesIO(run("decode", pcap, "--format", "parquet",
                                           check=True).stdout))
    assert parquet.to_pylist() == rows
    csv = pcsv.read_csv(io.BytesIO(run("decode", pcap, "--format", "csv", check=True).stdout),
                        convert_options=pcsv.ConvertOptions(
                            column_types=parquet.schema, strings_can_be_null=True,
                            quoted_strings_can_be_null=False))   # null: an empty field
    assert csv.to_pylist() == rows


def test_replay_gives_what_the_command_line_writes(tmp_path):
    # example.toml and the files it names relative to itself
    shutil.copytree(PCAPS / "intel", tmp_path / "intel")
    shutil.copy(PCAPS / "allocations.csv", tmp_path)
    config = tmp_path / "example.toml"
    config.write_text((PCAPS / "example.toml").read_text().replace(
        'path = "alerts.jsonl"', f'path = "{tmp_path}/a.jsonl"') + EVENTS.format(tmp=tmp_path))
    run("replay", PCAPS / "demo.pcap", "--config", config, "-l", tmp_path, check=True)
    result = ybsensor.replay(PCAPS / "demo.pcap", config)
    alerts = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    volatile = ("seq", "prev_hash", "evidence_pcap", "source")   # the log's, the run's
    strip = lambda r: {k: v for k, v in r.items() if k not in volatile}  # noqa: E731
    assert len(result.alerts) == len(alerts) > 5
    assert list(map(strip, result.alerts)) == list(map(strip, alerts))
    flows = [json.loads(line) for line in (tmp_path / "flows.jsonl").read_text().splitlines()]
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    assert sorted(result.flows.to_pylist(), key=key) == sorted(flows, key=key)
    for kind in ("dns", "tls", "http"):
        logged = [json.loads(line) for line in (tmp_path / f"{kind}.jsonl").read_text()
                  .splitlines()]
        assert logged and sorted(result.events[kind].to_pylist(), key=key) == \
            sorted(logged, key=key), kind


def test_a_file_that_is_no_capture_raises(tmp_path):
    bad = tmp_path / "notes.pcap"
    bad.write_text("not a capture")
    with pytest.raises(ybsensor.CaptureError):
        ybsensor.read(bad)


def test_the_command_line_does_not_load_pyarrow():
    code = "import sys, ybsensor.sensor.cli; print('pyarrow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True).stdout
    assert out.strip() == "False"
