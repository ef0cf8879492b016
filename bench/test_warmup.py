"""A service's start: `ybsensor warm-up` into an empty numba cache (cold: every compiled
loop compiled) and into a filled one (warm: loaded), and a fresh process's first replay of
the demo capture on the compiled path with the warm cache, beside the same replay on the
generic decoders (which load nothing): the difference is what a warm start still pays.
CPU seconds of the child process are in each benchmark's extra_info."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
YBSENSOR = [sys.executable, "-m", "ybsensor.sensor.cli"]
DEMO = ROOT / "pcaps" / "demo.pcap"
EXAMPLE = ROOT / "pcaps" / "example.toml"


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(argv: list[str], env: dict, cpu: list[float]) -> None:
    before = _child_cpu()
    subprocess.run(argv, check=True, capture_output=True, env=env, cwd=ROOT, timeout=900)
    cpu.append(_child_cpu() - before)


def _env(cache: str, kernel: str = "numba") -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache, "YBSENSOR_DECODE_KERNEL": kernel,
           "PYTHONPATH": str(ROOT)}
    return env


@pytest.fixture(scope="module")
def warm_cache():
    with tempfile.TemporaryDirectory(prefix="ybsensor-bench-numba-") as cache:
        subprocess.run([*YBSENSOR, "warm-up"], check=True, capture_output=True,
                       env=_env(cache), cwd=ROOT, timeout=900)
        yield cache


def test_warm_up_cold(benchmark):
    pytest.importorskip("numba")
    cpu: list[float] = []

    def cold():
        with tempfile.TemporaryDirectory(prefix="ybsensor-bench-numba-") as cache:
            _run([*YBSENSOR, "warm-up"], _env(cache), cpu)

    benchmark.pedantic(cold, rounds=1, iterations=1)
    benchmark.extra_info["cpu_seconds"] = cpu


def test_warm_up_warm(benchmark, warm_cache):
    cpu: list[float] = []
    benchmark.pedantic(lambda: _run([*YBSENSOR, "warm-up"], _env(warm_cache), cpu),
                       rounds=3, iterations=1)
    benchmark.extra_info["cpu_seconds"] = cpu


@pytest.mark.parametrize("kernel", ["numba", "generic"])
def test_first_replay_of_a_fresh_process(benchmark, warm_cache, kernel, tmp_path):
    cpu: list[float] = []
    argv = [*YBSENSOR, "replay", str(DEMO), "--config", str(EXAMPLE), "--no-progress",
            "--alerts", str(tmp_path / "alerts.jsonl")]
    benchmark.pedantic(lambda: _run(argv, _env(warm_cache, kernel), cpu), rounds=3, iterations=1)
    benchmark.extra_info["cpu_seconds"] = cpu
