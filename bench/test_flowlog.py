"""What the flow log and the event logs cost a replay: the bench mix with every detector on
(bench/test_pipeline.py's configuration), replayed without any log, with the flow log, and
with the flow log and the dns/tls/http event logs, in turn, each round a fresh sensor.

The rounds of the three are interleaved and timed in process CPU time, so a busy neighbour
on a shared host slows all three alike; `extra_info` has each one's median and the ratios
to the replay without logs (issue 15's bar: the flow log costs at most 10 %).
"""
from __future__ import annotations

import statistics
import time

import pytest

from bench.test_pipeline import ROUNDS, bench_config

EVENT_TYPES = ("dns", "tls", "http")


def _replay_cpu(cfg, out, batches, flow_log: bool, event_logs: bool) -> tuple[float, object]:
    from ybsensor.sensor.sensor import Sensor
    out.mkdir(parents=True)
    sensor = Sensor(cfg, alerts_path=str(out / "alerts.jsonl"),
                    flow_log=str(out / "flows.jsonl") if flow_log else "",
                    event_logs={k: str(out / f"{k}.jsonl") for k in EVENT_TYPES}
                    if event_logs else {})
    start = time.process_time()
    for batch in batches:
        sensor.pipeline.process(batch)
    sensor.close()
    return time.process_time() - start, sensor


@pytest.mark.benchmark(group="flow log")
def test_flow_log_cost(benchmark, tmp_path, mixed_batches, mixed_frames):
    cfg = bench_config(tmp_path)
    kinds = {"no logs": (False, False), "flow log": (True, False),
             "flow and event logs": (True, True)}
    runs = iter(range(10**6))

    def interleaved():
        cpu = {name: [] for name in kinds}
        sensors = {}
        for _ in range(ROUNDS + 1):          # the first round of each warms up, untimed
            for name, (flows, events) in kinds.items():
                seconds, sensors[name] = _replay_cpu(cfg, tmp_path / f"run{next(runs)}",
                                                     mixed_batches, flows, events)
                cpu[name].append(seconds)
        return {name: statistics.median(times[1:]) for name, times in cpu.items()}, sensors

    medians, sensors = benchmark.pedantic(interleaved, rounds=1, iterations=1)
    print({name: round(seconds * 1e3, 1) for name, seconds in medians.items()})
    logged = sensors["flow log"]
    assert logged.flow_log.written > 0
    with open(logged.flow_log.path, encoding="utf-8") as lines:
        assert sum(1 for _ in lines) == logged.flow_log.written
    base = medians["no logs"]
    for name, seconds in medians.items():
        benchmark.extra_info[f"{name} cpu_ms"] = round(seconds * 1e3, 1)
        benchmark.extra_info[f"{name} frames_per_cpu_s"] = round(mixed_frames / seconds)
        benchmark.extra_info[f"{name} / no logs"] = round(seconds / base, 3)
    benchmark.extra_info["flows written"] = logged.flow_log.written
    benchmark.extra_info["events written"] = dict(sensors["flow and event logs"].events.written)
