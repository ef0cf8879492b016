"""`replay --jobs N` against one process: the speed-up, the cost of the cluster path, and the
figures of the cost model in bench/scaling.md.

Runs, over the reference mixed pcap with the bench configuration (200 institutions, every
detector on, bench/test_pipeline.py):

1. `ybsensor replay` (one process), `replay --jobs 1` and `replay --jobs N`, each as a
   process of its own: wall time and CPU seconds (the command's and its children's: the
   local cluster's workers), best of ROUNDS. The speed-up is one process's wall time over
   --jobs N's; the cluster path's overhead is --jobs 1 against one process.
2. In this process, one after another (nothing competing: the CPU each part costs): a
   pass over the file stage by stage as every worker makes it for every frame, its share
   or not (read, decode, the whole-batch stages, the share cut), and share 0 of 1, 2 and 8 (sensor/cluster.py replay_share). With P shares a
   share costs about W + S/P CPU seconds, W what every worker does for every frame (read,
   decode, the whole-batch stages) and S what is split; from P = 1 and P = 8 come W and S,
   and from those the projection of bench/scaling.md. The reduce is timed on the results
   of 2 shares, with their size.

A machine whose cores others use too gives wall times that say little: the CPU-second
figures and the projection from them say what the partition costs. Written to
bench/out/cluster.json and printed.

    python bench/cluster.py [--frames N] [--jobs N] [--rounds K]
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from bench.mixed import FRAMES, OUT, SMALL, mixed_pcap  # noqa: E402
from bench.test_pipeline import bench_config  # noqa: E402

RESULTS = OUT / "cluster.json"


def _command(pcap: Path, config: Path, tmp: Path, *extra: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and every process it waited for)."""
    from tools import ybsensor_cmd
    alerts = tmp / "alerts.jsonl"
    alerts.unlink(missing_ok=True)
    start = time.perf_counter()
    proc = subprocess.Popen(ybsensor_cmd() + ["replay", str(pcap), "--config", str(config),
                                              "--alerts", str(alerts), "--no-progress", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"ybsensor replay {' '.join(extra)} failed: {proc.stderr.read().decode()}")
    return wall, usage.ru_utime + usage.ru_stime


def _cpu(fn):
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


def measure(frames: int, jobs: int, rounds: int) -> dict:
    from ybsensor.sensor import cluster
    from ybsensor.sensor.pipeline import Pipeline
    from ybsensor.sensor.sensor import Sensor
    from ybsensor.decoders import fastpath

    pcap = mixed_pcap(frames)
    with tempfile.TemporaryDirectory(prefix="ybsensor-bench-cluster-") as where:
        tmp = Path(where)
        bench_config(tmp)
        config = tmp / "bench.toml"
        runs = {}
        for name, extra in (("one process", ()), ("--jobs 1", ("--jobs", "1")),
                            (f"--jobs {jobs}", ("--jobs", str(jobs))))[:3 if rounds else 0]:
            best = min((_command(pcap, config, tmp, *extra) for _ in range(rounds)),
                       key=lambda r: r[0])
            runs[name] = {"wall_s": round(best[0], 3), "cpu_s": round(best[1], 3)}

        fastpath.load_kernel_now()
        # warm: the compiled loops loaded (or compiled) before anything is timed
        warm = mixed_pcap(SMALL)
        sum(1 for _ in Pipeline().run_files([warm], print, print))
        cluster.replay_share(str(config), [(str(warm), str(warm))], 0, 1)
        paths = [(str(pcap), str(pcap))]
        every = stages(pcap, config)
        fixed, _ = _cpu(lambda: cluster.replay_share(str(config), [], 0, 1))
        share_cpu = {}
        for parts in (1, 2, 8):
            cpu, _ = _cpu(lambda: cluster.replay_share(str(config), paths, 0, parts))
            share_cpu[parts] = cpu - fixed
        results = [cluster.replay_share(str(config), paths, k, 2) for k in range(2)]
        size = sum(len(pickle.dumps(r)) for r in results)
        client = Sensor(load_config(config), alerts_path=str(tmp / "reduced.jsonl"))
        reduce_cpu, _ = _cpu(lambda: cluster.Reduce(client, [str(pcap)]).take(results))
        client.close()
    whole = share_cpu[1]
    split = (share_cpu[1] - share_cpu[8]) * 8 / 7          # S, the part that is split
    each = max(whole - split, 0.0)                          # W, what every worker does
    out = {"frames": frames, "jobs": jobs, "rounds": rounds, "runs": runs}
    if runs:
        one, spread = runs["one process"], runs[f"--jobs {jobs}"]
        out.update({
            "speedup_wall": round(one["wall_s"] / spread["wall_s"], 2),
            "cluster_overhead_wall_s": round(runs["--jobs 1"]["wall_s"] - one["wall_s"], 3),
            "cluster_overhead_cpu_s": round(runs["--jobs 1"]["cpu_s"] - one["cpu_s"], 3)})
    return {**out,
        "every_worker_stages_us_per_frame": {k: round(v / frames * 1e6, 3)
                                             for k, v in every.items()},
        "share_fixed_cpu_s": round(fixed, 3),
        "share_cpu_s": {str(p): round(c, 3) for p, c in share_cpu.items()},
        "every_worker_cpu_us_per_frame": round(each / frames * 1e6, 3),
        "split_cpu_us_per_frame": round(split / frames * 1e6, 3),
        # with nothing else on the cores: one share of one over the busiest of two, and
        # the reduce after them
        "speedup_cpu_projected": round(whole / (share_cpu[2] + reduce_cpu), 2),
        "reduce_cpu_s": round(reduce_cpu, 3),
        "reduce_input_bytes": size,
        "file_bytes": pcap.stat().st_size,
    }


def stages(pcap: Path, config: Path, parts: int = 8) -> dict[str, float]:
    """CPU seconds of what every worker does with every frame, stage by stage, in one pass
    as share 0 of `parts` does it: read, decode, the whole-batch stages (L2TP session lines,
    reassembly), cutting the share out, and on share 0 shared_line over the whole batch."""
    from ybsensor.core.flows import share_of
    from ybsensor.decoders.table import take
    from ybsensor.detectors import BatchContext
    from ybsensor.detectors.shared_line import SharedLine
    from ybsensor.sensor.sensor import Sensor
    from ybsensor.sensor.sources import read_capture
    sensor = Sensor(load_config(config), alerts_path="", sinks=False)
    lines = SharedLine(sensor.cfg, sensor.plan)
    cost = dict.fromkeys(("read", "decode", "sessions+reassembly", "share cut",
                          "shared_line (share 0)"), 0.0)
    clock = time.process_time
    batches = read_capture(pcap)
    while True:
        at = clock()
        batch = next(batches, None)
        cost["read"] += clock() - at
        if batch is None:
            return cost
        at = clock()
        t = sensor.pipeline.decode(batch, str(pcap))
        cost["decode"] += clock() - at
        at = clock()
        sensor.sessions.process(t)
        sensor.reassembly.process(t, sensor.pipeline.decode)
        cost["sessions+reassembly"] += clock() - at
        at = clock()
        take(t, share_of(t, parts) == 0)
        cost["share cut"] += clock() - at
        at = clock()
        lines.detect(BatchContext(t, None, sensor.plan, sensor.cfg))
        cost["shared_line (share 0)"] += clock() - at


def load_config(path: Path):
    from ybsensor.sensor.config import load
    return load(path)


def report(r: dict) -> None:
    if r["runs"]:
        _report_runs(r)
    print(f"  per share, CPU s (1, 2, 8 shares): {r['share_cpu_s']} (+{r['share_fixed_cpu_s']} s "
          f"each to start); reduce of 2 shares {r['reduce_cpu_s']:.2f} s over "
          f"{r['reduce_input_bytes']:,} bytes of results")
    print(f"  per frame, CPU µs: every worker {r['every_worker_cpu_us_per_frame']} "
          f"({r['every_worker_stages_us_per_frame']}), split {r['split_cpu_us_per_frame']}; "
          f"--jobs 2 from CPU seconds alone: {r['speedup_cpu_projected']:.2f}x")


def _report_runs(r: dict) -> None:
    one, spread = r["runs"]["one process"], r["runs"][f"--jobs {r['jobs']}"]
    print(f"replay --jobs {r['jobs']} ({r['frames']:,} frames, best of {r['rounds']}): "
          f"{spread['wall_s']:.2f} s against {one['wall_s']:.2f} s in one process: "
          f"{r['speedup_wall']:.2f}x by the clock "
          f"(CPU: {spread['cpu_s']:.1f} s against {one['cpu_s']:.1f} s)")
    print(f"  the cluster path (--jobs 1 against one process): "
          f"+{r['cluster_overhead_wall_s']:.2f} s wall, +{r['cluster_overhead_cpu_s']:.1f} CPU s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=int(os.environ.get("YBSENSOR_BENCH_FRAMES",
                                                                     FRAMES)))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3,
                    help="runs of each command (0: the in-process figures only)")
    args = ap.parse_args(argv)
    r = measure(args.frames, args.jobs, args.rounds)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(r, indent=2) + "\n")
    report(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
