"""`replay --jobs N` against one process: the speed-up, the cost of the cluster path, and the
figures of the cost model in bench/scaling.md.

Runs, over the reference mixed pcap with the bench configuration (200 institutions, every
detector on, bench/test_pipeline.py):

1. `ybsensor replay` (one process), `replay --jobs 1` and `replay --jobs N`, each as a
   process of its own: wall time and CPU seconds (the command's and its children's: the
   local cluster's workers), best of ROUNDS. The speed-up is one process's wall time over
   --jobs N's; the cluster path's overhead is --jobs 1 against one process.
2. In this process, one after another (nothing competing: the CPU each part costs): a
   decode-only pass over the file (what every worker pays for every frame, its share or
   not), and share 0 of 1, 2 and 8 (sensor/cluster.py replay_share). With P shares a
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

from bench.mixed import FRAMES, OUT, mixed_pcap  # noqa: E402
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
                            (f"--jobs {jobs}", ("--jobs", str(jobs)))):
            best = min((_command(pcap, config, tmp, *extra) for _ in range(rounds)),
                       key=lambda r: r[0])
            runs[name] = {"wall_s": round(best[0], 3), "cpu_s": round(best[1], 3)}

        fastpath.load_kernel_now()
        paths = [(str(pcap), str(pcap))]
        decode, _ = _cpu(lambda: sum(1 for _ in Pipeline().run_files([pcap], print, print)))
        share_cpu = {}
        for parts in (1, 2, 8):
            share_cpu[parts], result = _cpu(lambda: cluster.replay_share(str(config), paths, 0,
                                                                         parts))
        results = [cluster.replay_share(str(config), paths, k, 2) for k in range(2)]
        size = sum(len(pickle.dumps(r)) for r in results)
        client = Sensor(load_config(config), alerts_path=str(tmp / "reduced.jsonl"))
        reduce_cpu, _ = _cpu(lambda: cluster.Reduce(client, [str(pcap)]).take(results))
        client.close()
    whole = share_cpu[1]
    per_worker = (share_cpu[1] - share_cpu[8]) * 8 / 7     # S, the part that is split
    every = max(whole - per_worker, 0.0)                    # W, what every worker does
    one = runs["one process"]
    spread = runs[f"--jobs {jobs}"]
    return {
        "frames": frames, "jobs": jobs, "rounds": rounds,
        "runs": runs,
        "speedup_wall": round(one["wall_s"] / spread["wall_s"], 2),
        "cluster_overhead_wall_s": round(runs["--jobs 1"]["wall_s"] - one["wall_s"], 3),
        "cluster_overhead_cpu_s": round(runs["--jobs 1"]["cpu_s"] - one["cpu_s"], 3),
        "decode_cpu_us_per_frame": round(decode / frames * 1e6, 3),
        "share_cpu_s": {str(p): round(c, 3) for p, c in share_cpu.items()},
        "every_worker_cpu_us_per_frame": round(every / frames * 1e6, 3),
        "split_cpu_us_per_frame": round(per_worker / frames * 1e6, 3),
        # with nothing else on the cores: one process's CPU over the busiest share's
        "speedup_cpu_projected": round(whole / (share_cpu[2] + reduce_cpu), 2),
        "reduce_cpu_s": round(reduce_cpu, 3),
        "reduce_input_bytes": size,
        "file_bytes": pcap.stat().st_size,
    }


def load_config(path: Path):
    from ybsensor.sensor.config import load
    return load(path)


def report(r: dict) -> None:
    one, spread = r["runs"]["one process"], r["runs"][f"--jobs {r['jobs']}"]
    print(f"replay --jobs {r['jobs']} ({r['frames']:,} frames, best of {r['rounds']}): "
          f"{spread['wall_s']:.2f} s against {one['wall_s']:.2f} s in one process: "
          f"{r['speedup_wall']:.2f}x by the clock "
          f"(CPU: {spread['cpu_s']:.1f} s against {one['cpu_s']:.1f} s)")
    print(f"  the cluster path (--jobs 1 against one process): "
          f"+{r['cluster_overhead_wall_s']:.2f} s wall, +{r['cluster_overhead_cpu_s']:.1f} CPU s")
    print(f"  per share, CPU s (1, 2, 8 shares): {r['share_cpu_s']}; reduce of 2 shares "
          f"{r['reduce_cpu_s']:.2f} s over {r['reduce_input_bytes']:,} bytes of results")
    print(f"  per frame: decode {r['decode_cpu_us_per_frame']} µs; every worker "
          f"{r['every_worker_cpu_us_per_frame']} µs, split {r['split_cpu_us_per_frame']} µs; "
          f"--jobs 2 from CPU seconds alone: {r['speedup_cpu_projected']:.2f}x")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=int(os.environ.get("YBSENSOR_BENCH_FRAMES",
                                                                     FRAMES)))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    r = measure(args.frames, args.jobs, args.rounds)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(r, indent=2) + "\n")
    report(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
