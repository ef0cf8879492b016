"""End-to-end replay with every detector on, beside decoding alone; and the address plan's
lookup rate with 100 000 allocations.

The replay config matches the mixed pcap (bench/mixed.py): 200 institutions at
10.1.K.0/24 and fd00:1:0:K::/64, each with its VLAN, QinQ, MPLS, GRE, L2TP, ERSPAN and VXLAN
lines; the platform at 10.200.0.0/16 and fd00:200::/32; the rest of 10/8, 100.64/10 and
fd00::/8 private. About 3 % of the mix leaves for the internet, so the detectors have work.
The replay runs on the mix (the TLS services' payloads encrypted, bench/mixed.py) and on
the same mix with every payload plaintext, the payload detectors' worst case.
"""
from __future__ import annotations

import ipaddress
import itertools
import statistics
import time

import numpy as np
import pytest

from bench.mixed import INSTITUTIONS
from ybsensor.sensor.config import Config, Institution, load

ROUNDS = 7   # rounds of a replay: its median moves by 15 % run to run on a shared machine


def bench_config(tmp_path) -> Config:
    lines = []
    for k in range(INSTITUTIONS):
        lines.append(f"""
[[institution]]
code = "H{k:011d}"
ranges = ["10.1.{k}.0/24", "fd00:1:0:{k:x}::/64"]
lines = ["vlan:{100 + k}", "qinq:{10 + k // 50}.{100 + k}", "mpls:{1000 + k}", "gre:{1 + k}",
         "l2tp:{1 + k // 16}/{1 + k}", "erspan:{1 + k}", "vxlan:{5000 + k}"]
""")
    path = tmp_path / "bench.toml"
    path.write_text('[network]\nprivate = ["10.0.0.0/8", "100.64.0.0/10", "fd00::/8"]\n'
                    'platform = ["10.200.0.0/16", "fd00:200::/32"]\n' + "".join(lines) +
                    "\n[alerts]\ndedup_seconds = 300\n")
    return load(path)


def _report(benchmark, count: int, unit: str, cpu: list[float] | None = None) -> None:
    """`unit`s a second of the median round; with `cpu` (each round's CPU seconds, the
    process's user and system time), a CPU second's too."""
    benchmark.extra_info[unit] = count
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info[f"{unit}_per_s"] = round(count / stats.stats.median)
    if cpu:
        benchmark.extra_info["cpu_s_median"] = round(statistics.median(cpu), 4)
        benchmark.extra_info[f"{unit}_per_cpu_s"] = round(count / statistics.median(cpu))


def replay(benchmark, cfg, out_dir, batches, cpu: list[float] | None = None):
    """benchmark.pedantic of a replay of `batches`; the last round's sensor. `cpu` gets
    each timed round's CPU seconds (the warm-up's too, first)."""
    from ybsensor.sensor.heap import settle
    from ybsensor.sensor.sensor import Sensor
    rounds = itertools.count()

    def start():
        # building the sensor (address plan, flow table, evidence directory scan) is a
        # start-up cost, not a per-frame one: each round gets a fresh sensor, untimed,
        # writing into a directory of its own, and its heap settled as a long `ybsensor
        # replay` settles its own once its first frames are in (sensor/heap.py)
        out = out_dir / f"round{next(rounds)}"
        sensor = Sensor(cfg, alerts_path=str(out / "alerts.jsonl"))
        settle()
        return (sensor,), {}

    def run(sensor):
        before = time.process_time()
        for batch in batches:
            sensor.pipeline.process(batch)
        sensor.close()
        after = time.process_time()
        if cpu is not None:
            cpu.append(after - before)
        return sensor

    return benchmark.pedantic(run, setup=start, rounds=ROUNDS, warmup_rounds=1)


def _replay_every_detector(benchmark, out_dir, batches, frames):
    cpu: list[float] = []
    sensor = replay(benchmark, bench_config(out_dir), out_dir, batches, cpu)
    assert sensor.stats.frames == frames
    assert sum(sensor.alerter.alerts.values()) > 0  # the internet-bound share is found
    _report(benchmark, frames, "frames", cpu[1:])   # the warm-up round left out


@pytest.mark.benchmark(group="ybsensor")
def test_replay_every_detector(benchmark, out_dir, mixed_batches, mixed_frames):
    _replay_every_detector(benchmark, out_dir, mixed_batches, mixed_frames)


@pytest.mark.benchmark(group="ybsensor")
def test_replay_every_detector_all_plaintext(benchmark, out_dir, plaintext_batches,
                                             mixed_frames):
    """The same mix with no TLS records: every payload searched (the worst case)."""
    _replay_every_detector(benchmark, out_dir, plaintext_batches, mixed_frames)


@pytest.mark.benchmark(group="address plan")
def test_plan_lookup_100k_allocations(benchmark):
    from ybsensor.core.plan import AddressPlan
    n_alloc, n_addr = 100_000, 1_000_000
    cfg = Config(path=None, private=[ipaddress.ip_network("10.0.0.0/8")])
    nets = [ipaddress.ip_network(((10 << 24) | (k << 7), 25)) for k in range(n_alloc)]
    cfg.institutions = [Institution(f"I{k}", "", [net], [], "dedicated") for k, net in enumerate(nets)]
    plan = AddressPlan(cfg)
    rng = np.random.default_rng(5)
    k = rng.integers(0, n_alloc, n_addr)
    v4 = (10 << 24) | (k << 7) | rng.integers(0, 128, n_addr)
    hi = np.zeros(n_addr, dtype=np.uint64)
    lo = np.uint64(0xFFFF << 32) | v4.astype(np.uint64)
    owners = benchmark.pedantic(lambda: plan.owner(hi, lo), rounds=5, warmup_rounds=1)
    # each /25's last address is its directed broadcast: link-scope, no one's (core/plan.py)
    assert (owners == np.where((v4 & 127) == 127, -1, k)).all()
    _report(benchmark, n_addr, "addresses")
