"""Every file of tcpdump's test corpus (../shared/corpus/tcpdump, many deliberately malformed)
through `ybsensor replay` with a configuration that turns every detector on and allocates
the addresses the corpus uses to institutions, so that the detectors, the flow table, the
alert log and the metrics all see hostile input, not just the decoders (tests/cases_and_corpus/test_corpus.py
replays without a configuration).

Per file, in-process (click's CliRunner, under a per-file alarm): exit status 0 or 2, no
exception, no hang; every alert line is a JSON object with the fields DESIGN.md fixes; the
metrics file is Prometheus text. Then the whole corpus once through the console script.
"""
from __future__ import annotations

import json
import math
import subprocess

import pytest
from click.testing import CliRunner

from fuzzing import time_bound
from ybsensor.sensor.cli import cli
from ybsensor.sensor.config import DETECTORS, load
from tools import CORPUS, REPO, ybsensor_cmd

PER_FILE_SECONDS = 60
ALL_FILES = sorted(p for p in CORPUS.iterdir() if p.is_file()) if CORPUS.is_dir() else []
ALERT_FIELDS = {"ts", "detector", "severity", "rule", "line", "institution", "src", "dst",
                "proto", "sport", "dport", "community_id", "packets", "bytes", "first_frame",
                "evidence"}

# The private ranges the corpus's captures mostly use are the private network; a few
# institutions own parts of them, on lines the corpus has (VLANs, MPLS, L2TP, GRE...), so
# that every detector has something to look at. Everything else is "the internet".
CONFIG = """\
[network]
private  = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fd00::/8",
            "fe80::/10"]
platform = ["10.200.0.0/16", "192.168.200.0/24"]

[[institution]]
code   = "H00000000001"
name   = "Corpus Hospital"
ranges = ["192.168.1.0/24", "10.0.0.0/16"]
lines  = ["vlan:*", "if:0"]
access = "dedicated"

[[institution]]
code   = "H00000000002"
name   = "Corpus Clinic"
ranges = ["192.168.0.0/24", "172.16.0.0/16", "fd00::/16"]
lines  = ["mpls:*", "qinq:*"]
access = "dedicated"

[[institution]]
code   = "P00000000003"
name   = "Corpus Pharmacy"
ranges = ["10.1.0.0/16", "100.64.0.0/16"]
lines  = ["l2tp:*", "gre:*", "pppoe:*", "l2tpv3:*", "erspan:*", "vxlan:*"]
access = "vpdn"

[detectors.internet_bound]
enabled = true
internal_domains = ["example.org"]

{others}

[alerts]
path = "alerts.jsonl"
dedup_seconds = 60
max_per_second = 50

[flows]
max_flows = 4096
idle_seconds = 30
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory, corpus_dir):
    others = "\n".join(f"[detectors.{name}]\nenabled = true\n" for name in DETECTORS
                       if name != "internet_bound")
    path = tmp_path_factory.mktemp("corpus-replay") / "sensor.toml"
    path.write_text(CONFIG.format(others=others))
    cfg = load(path)
    assert all(cfg.detector_enabled(name) for name in DETECTORS)
    return path


def check_alerts(path, name: str) -> int:
    if not path.exists():
        return 0
    count = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        alert = json.loads(line)
        missing = ALERT_FIELDS - set(alert)
        assert not missing, f"{name}: alert {number} lacks {missing}: {line}"
        assert alert["detector"] in DETECTORS, (name, alert)
        assert alert["packets"] >= 1 and alert["bytes"] >= 0 and alert["first_frame"] >= 1
        count += 1
    return count


def check_metrics(path, name: str) -> None:
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        value = float(line.rsplit(" ", 1)[1])
        assert not math.isnan(value), (name, line)


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_replay_with_every_detector(path, config, tmp_path):
    alerts, metrics = tmp_path / "alerts.jsonl", tmp_path / "metrics.prom"
    with time_bound(PER_FILE_SECONDS, f"replay of {path.name}"):
        result = CliRunner().invoke(cli, ["replay", "--no-progress", "--config", str(config),
                                          "--alerts", str(alerts), "--metrics-file",
                                          str(metrics), str(path)], catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback
        trace = "".join(traceback.format_exception(*result.exc_info))
        pytest.fail(f"{path.name}: {type(result.exception).__name__}: {result.exception}\n"
                    f"{trace}", pytrace=False)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.exit_code in (0, 2), (result.exit_code, result.stderr)
    if result.exit_code == 2:
        assert "ybsensor: error:" in result.stderr and path.name in result.stderr
    check_alerts(alerts, path.name)
    if result.exit_code == 0:
        check_metrics(metrics, path.name)


def test_whole_corpus_through_the_console_script(config, tmp_path):
    """One process, every file, every detector: refused files do not stop the others, and
    the alerts that come out are well formed."""
    alerts = tmp_path / "alerts.jsonl"
    files = [str(p) for p in ALL_FILES]
    proc = subprocess.run([*ybsensor_cmd(), "replay", "--no-progress", "--config", str(config),
                           "--alerts", str(alerts), *files],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr[-5000:]
    assert proc.returncode == 2, proc.stderr[-3000:]   # LICENSE, unsupported link types
    frames = int(proc.stdout.split()[0].replace(",", ""))
    assert frames > 5000, proc.stdout[:500]
    assert check_alerts(alerts, "corpus") > 0
