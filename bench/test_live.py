"""Live capture: frames/s that `ybsensor run` captures and takes through the whole pipeline
(every detector on) with no kernel drop, fed by `tcpreplay --topspeed` into a veth pair
between two network namespaces (tests/livenet.py), for 1 and 2 capture workers.

The sensor (bench config: 200 institutions, bench/test_pipeline.py) runs on one end and is
warmed up with the 30 k frame mix. One round: replay the reference mixed pcap at top speed
from the other end, and time from the start of the replay until the sensor's /metrics
counts every frame sent. The ring is sized to
hold the whole burst (so the kernel drops nothing even where the replay outruns the
sensor); a round with any kernel drop fails. Reported: the sensor's rate (frames / that
time, the figure), tcpreplay's own send rate, the pipeline's own time (the sum of
ybsensor_batch_duration_seconds over the workers) and the drops (0). The machine's cores
are shared by tcpreplay (which also pays the kernel's side of capture: a veth delivers in
the sender's context), the workers and the supervisor: with 2 cores, 2 workers compete
with the replay. Written to
bench/out/live.json and printed by `make bench`.

Needs root, tcpreplay and pyroute2; skipped otherwise (under CI=true: failed).
"""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import livenet  # noqa: E402
from livenet import LiveSensor, total  # noqa: E402

from bench.mixed import OUT  # noqa: E402
from bench.test_pipeline import bench_config  # noqa: E402

ROUNDS = 3
RESULTS = OUT / "live.json"
_results: dict[str, dict] = {}


@pytest.fixture(scope="module")
def pair():
    with livenet.veth_pair_for_replay() as veth:
        try:
            yield veth
        finally:
            if _results:
                RESULTS.parent.mkdir(parents=True, exist_ok=True)
                RESULTS.write_text(json.dumps(_results, indent=2) + "\n")


def _ring_blocks(pcap: Path, block_size: int = 1 << 20) -> int:
    """Blocks enough to hold the whole capture in the ring (with the per-frame headers)."""
    frames = (pcap.stat().st_size - 24) // 700 + 1
    need = pcap.stat().st_size + frames * 96
    return max(64, 2 * need // block_size)


def delivered(pcap: Path, workers: int) -> int:
    """The frames of `pcap` the capture hands over: with several workers the kernel makes
    IPv4 datagrams whole before its fanout (sensor/sources/afpacket.py), so a datagram's
    fragments straight after Ethernet come as one frame (the mix has no others)."""
    from ybsensor.decoders import decode
    from ybsensor.sensor.sources import read_capture
    frames = merged = 0
    for batch in read_capture(pcap):
        t = decode(batch)
        frames += t.n
        if workers > 1:   # a later fragment: its decoding ends at its IPv4 header
            merged += int(((t.frag_at >= 0) & (t.nlayers == 2)).sum())
    return frames - merged


@pytest.mark.benchmark(group="live capture")
@pytest.mark.parametrize("workers", [1, 2])
def test_live_capture_rate(benchmark, pair, mixed_path, mixed_frames, tmp_path, workers):
    from bench.mixed import SMALL, mixed_pcap

    bench_config(tmp_path)
    config = tmp_path / "bench.toml"
    blocks = _ring_blocks(mixed_path) // workers + 8
    sends, rates, busy = [], [], []
    sensor = LiveSensor(pair, "--config", str(config), "--workers", str(workers),
                        "--blocks", str(blocks), "--alerts", str(tmp_path / "alerts.jsonl"),
                        "--metrics-interval", "0.1")
    try:
        # warm up (buffers, caches, the flow table) as a sensor that has been running is
        warm = mixed_pcap(SMALL)
        pair.replay(warm, "--topspeed")
        sent = [delivered(warm, workers)]
        each = delivered(mixed_path, workers)
        sensor.wait_for(lambda m: total(m, "ybsensor_packets_total") >= sent[0], timeout=120)

        def once():
            before = sensor.metrics()
            start = time.perf_counter()
            out = pair.replay(mixed_path, "--topspeed")
            sent[0] += each
            got = sensor.wait_for(lambda m: total(m, "ybsensor_packets_total") >= sent[0],
                                  timeout=120, what=f"{sent[0]} frames")
            took = time.perf_counter() - start
            assert total(got, "ybsensor_capture_drops_total") == 0, "the kernel dropped frames"
            assert total(got, "ybsensor_capture_packets_total") == sent[0]
            m = re.search(r"Rated: .*?([0-9.]+) pps", out.replace("\n", " "))
            sends.append(float(m.group(1)) if m else 0.0)
            rates.append(mixed_frames / took)
            busy.append(total(got, "ybsensor_batch_duration_seconds_sum") -
                        total(before, "ybsensor_batch_duration_seconds_sum"))
            return took

        benchmark.pedantic(once, rounds=ROUNDS, warmup_rounds=0)
        assert sensor.stop() == 0, sensor.err
    finally:
        sensor.kill()
    rates.sort()
    sends.sort()
    busy.sort()
    result = {"workers": workers, "frames": mixed_frames, "rounds": ROUNDS,
              "captured_frames_per_s_median": round(rates[len(rates) // 2]),
              "captured_frames_per_s": [round(r) for r in rates],
              "tcpreplay_frames_per_s_median": round(sends[len(sends) // 2]),
              # the pipeline's own time, all workers together: what the analysis costs
              "pipeline_seconds_median": round(busy[len(busy) // 2], 3),
              "kernel_drops": 0, "ring_mib_per_worker": blocks}
    benchmark.extra_info.update(result)
    _results[f"workers={workers}"] = result
    print(f"\nlive capture, {workers} worker(s): {result['captured_frames_per_s_median']:,} "
          f"frames/s captured and analysed with no kernel drop (tcpreplay sent "
          f"{result['tcpreplay_frames_per_s_median']:,} frames/s)")


def report(path: Path = RESULTS) -> int:
    """`python bench/test_live.py`: the figures of the last run (make bench prints them)."""
    if not path.exists():
        print(f"live capture: no figures ({path} missing: the benchmark was skipped)")
        return 0
    for r in json.loads(path.read_text()).values():
        print(f"live capture, {r['workers']} worker(s): {r['captured_frames_per_s_median']:,} "
              f"frames/s captured and analysed, no kernel drop (median of {r['rounds']}; "
              f"tcpreplay --topspeed sent {r['tcpreplay_frames_per_s_median']:,} frames/s)")
    return 0


if __name__ == "__main__":
    sys.exit(report())
