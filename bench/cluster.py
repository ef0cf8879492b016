"""`replay --jobs N` against one process: the speed-up, the cost of the cluster path, and the
figures of the cost model in bench/scaling.md.

Runs, with the bench configuration (200 institutions, every detector on,
bench/test_pipeline.py):

1. Over a rotating capture of the reference mix (bench/mixed.py rotating_pcaps: FILES
   files, BIG frames in all, so that starting the cluster is a small part of the replay):
   `ybsensor replay` (one process, the normal replay: with its evidence pcaps), the same
   without evidence pcaps, and `replay --jobs 1` and `replay --jobs N` without them too (so
   that the figure is the partition's, not the disk's: a spread replay's workers write the
   evidence of their alerts), each as a process of its own, in turn, ROUNDS times: wall time and
   CPU seconds (the command's and its children's: the local cluster's workers), medians.
   The speed-up is one process's wall time over --jobs N's, against either one process;
   the CPU ratio one process's CPU seconds over --jobs N's (all its processes'); the
   cluster path's overhead is --jobs 1 against one process without evidence.
2. In this process, one after another (nothing competing: the CPU each part costs), each
   the median of REPEAT runs: a pass over the file stage by stage as every worker makes it
   for every frame, its share or not (read, decode, the whole-batch stages, the share
   cut, shared_line on share 0), and shares 0 of 1, 0 and 1 of 2, 1 of 8
   (sensor/cluster.py replay_share). Share k of P costs W + S x the fraction of the
   buckets it owns, plus L on share 0 (shared_line over every row): W what every worker
   does for every frame (read, decode, the whole-batch stages, the cut), S what is split;
   from share 0 of 1, share 1 of 8 and L come W and S, and from those the projection of
   bench/scaling.md. The reduce is timed on the results of 2 shares, with their size.
   Then shares 0 and 1 of 2 forked together, each decoding every batch and each batch
   decoded once between them (sensor/shared_decode.py): the CPU seconds of each.

A machine whose cores others use too gives wall times that say little: the CPU-second
figures and the projection from them say what the partition costs. Written to
bench/out/cluster.json and printed.

    python bench/cluster.py [--frames N] [--big N] [--files N] [--jobs N] [--rounds K]
                            [--repeat K]
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import numpy as np  # noqa: E402

from bench.mixed import FRAMES, OUT, SMALL, mixed_pcap, rotating_pcaps  # noqa: E402
from bench.test_pipeline import bench_config  # noqa: E402

RESULTS = OUT / "cluster.json"
BIG = 2_000_000      # frames of the rotating capture the commands replay
FILES = 8


def _command(pcaps: list[Path], config: Path, tmp: Path, *extra: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and every process it waited for)."""
    import shutil

    from tools import ybsensor_cmd
    alerts = tmp / "alerts.jsonl"
    for old in tmp.glob("alerts.jsonl*"):
        old.unlink()
    shutil.rmtree(tmp / "evidence", ignore_errors=True)
    start = time.perf_counter()
    proc = subprocess.Popen(ybsensor_cmd() + ["replay", *map(str, pcaps), "--config", str(config),
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


def measure(frames: int, jobs: int, rounds: int, repeat: int = 3, big: int = BIG,
            files: int = FILES) -> dict:
    from ybsensor.sensor import cluster
    from ybsensor.sensor.pipeline import Pipeline
    from ybsensor.sensor.sensor import Sensor
    from ybsensor.decoders import fastpath

    pcap = mixed_pcap(frames)
    with tempfile.TemporaryDirectory(prefix="ybsensor-bench-cluster-") as where:
        tmp = Path(where)
        bench_config(tmp)
        config = tmp / "bench.toml"
        bare = tmp / "bench-no-evidence.toml"
        bare.write_text(config.read_text() + '\n[evidence]\ndir = ""\n')
        rotating = rotating_pcaps(big, files) if rounds else []
        commands = (("one process", config, ()), ("one process, no evidence", bare, ()),
                    ("--jobs 1", bare, ("--jobs", "1")),
                    (f"--jobs {jobs}", bare, ("--jobs", str(jobs))))
        timed: dict[str, list] = {name: [] for name, _, _ in commands}
        for _ in range(rounds):     # in turn, so that a change of load touches each alike
            for name, cfg, extra in commands:
                timed[name].append(_command(rotating, cfg, tmp, *extra))
        runs = {name: {"wall_s": round(statistics.median(w for w, _ in got), 3),
                       "cpu_s": round(statistics.median(c for _, c in got), 3),
                       "wall_s_each": [round(w, 2) for w, _ in got]}
                for name, got in timed.items() if got}

        fastpath.load_kernel_now()
        # warm: every compiled loop the timed parts call loaded (or compiled) before
        warm = mixed_pcap(SMALL)
        sum(1 for _ in Pipeline().run_files([warm], print, print))
        stages(warm, config)
        for parts in (1, 2):
            cluster.replay_share(str(config), [(str(warm), str(warm))], 0, parts)
        one_process(config, [warm], tmp / "one.jsonl")
        paths = [(str(pcap), str(pcap))]
        every = stages(pcap, config)
        fixed = statistics.median(
            _cpu(lambda: cluster.replay_share(str(config), [], 0, 1))[0] for _ in range(repeat))

        def share(k: int, parts: int) -> tuple[float, dict]:
            """The median CPU seconds of share k of `parts` (its start left out), and its result."""
            runs = [_cpu(lambda: cluster.replay_share(str(config), paths, k, parts))
                    for _ in range(repeat)]
            return statistics.median(c for c, _ in runs) - fixed, runs[-1][1]
        alone = [_cpu(lambda: one_process(config, [pcap], tmp / "one.jsonl"))[0]
                 - _cpu(lambda: one_process(config, [], tmp / "none.jsonl"))[0]
                 for _ in range(repeat)]
        share_cpu = {"0 of 1": share(0, 1)[0]}
        two = [share(k, 2) for k in range(2)]
        share_cpu.update({f"{k} of 2": c for k, (c, _) in enumerate(two)})
        share_cpu["1 of 8"] = share(1, 8)[0]
        results = [r for _, r in two]
        size = sum(len(pickle.dumps(r)) for r in results)
        reduce_runs = []
        for _ in range(repeat):
            client = Sensor(load_config(config), alerts_path=str(tmp / "reduced.jsonl"))
            reduce_runs.append(_cpu(lambda: cluster.Reduce(client, [str(pcap)]).take(results))[0])
            client.close()
        reduce_cpu = statistics.median(reduce_runs)
        many = [(str(p), str(p)) for p in rotating] or paths
        together = {how: [_together(str(config), many, decoded) for _ in range(repeat)]
                    for how, decoded in (("each decodes every batch", False),
                                         ("each batch decoded once", True))}
    # the model of bench/scaling.md: share k of P costs W + S x (its buckets' fraction),
    # and share 0 also L (shared_line over every row); from share 0 of 1 (W + L + S) and
    # share 1 of 8 (W + f S)
    whole, lines = share_cpu["0 of 1"], every["shared_line (share 0)"]
    f8 = float(np.mean(cluster.bucket_owners(8, True) == 1))
    split = max(whole - share_cpu["1 of 8"] - lines, 0.0) / (1 - f8)   # S, what is split
    each = max(share_cpu["1 of 8"] - f8 * split, 0.0)                   # W, every worker's
    out = {"frames": frames, "jobs": jobs, "rounds": rounds, "repeat": repeat, "runs": runs}
    if runs:
        spread, bare = runs[f"--jobs {jobs}"], runs["one process, no evidence"]
        out.update({
            "rotating_frames": big, "rotating_files": files,
            "speedup_wall": {name: round(runs[name]["wall_s"] / spread["wall_s"], 2)
                             for name in ("one process", "one process, no evidence")},
            "cpu_ratio": {name: round(runs[name]["cpu_s"] / spread["cpu_s"], 2)
                          for name in ("one process", "one process, no evidence")},
            "cluster_overhead_wall_s": round(runs["--jobs 1"]["wall_s"] - bare["wall_s"], 3),
            "cluster_overhead_cpu_s": round(runs["--jobs 1"]["cpu_s"] - bare["cpu_s"], 3)})
    return {**out,
        "every_worker_stages_us_per_frame": {k: round(v / frames * 1e6, 3)
                                             for k, v in every.items()},
        "share_fixed_cpu_s": round(fixed, 3),
        "share_cpu_s": {p: round(c, 3) for p, c in share_cpu.items()},
        "every_worker_cpu_us_per_frame": round(each / frames * 1e6, 3),
        "split_cpu_us_per_frame": round(split / frames * 1e6, 3),
        "shared_line_cpu_us_per_frame": round(lines / frames * 1e6, 3),
        "one_process_cpu_s": round(statistics.median(alone), 3),
        # with nothing else on the cores: one process over the busier share of two and
        # the reduce after them
        "speedup_cpu_projected": round(statistics.median(alone) / (
            max(share_cpu["0 of 2"], share_cpu["1 of 2"]) + reduce_cpu), 2),
        "reduce_cpu_s": round(reduce_cpu, 3),
        "shares_of_2_together_cpu_s": {
            how: [round(statistics.median(r[k] for r in got), 3) for k in range(2)]
            for how, got in together.items()},
        "reduce_input_bytes": size,
        "file_bytes": pcap.stat().st_size,
    }


def _together(config: str, paths: list, decoded: bool) -> list[float]:
    """Shares 0 and 1 of 2 forked together (as --jobs 2's workers are), each batch decoded
    once between them or by each: the CPU seconds of each."""
    from tools import forked

    from ybsensor.sensor import cluster, shared_decode
    where = shared_decode.create(2) if decoded else None
    try:
        return forked(lambda k: _cpu(lambda: cluster.replay_share(config, paths, k, 2,
                                                                  decoded=where))[0], 2)
    finally:
        shared_decode.remove(where)


def stages(pcap: Path, config: Path, parts: int = 8) -> dict[str, float]:
    """CPU seconds of what every worker does with every frame, stage by stage, in one pass
    as share 0 of `parts` does it: read, decode, the whole-batch stages (L2TP session lines,
    reassembly), cutting the share out, and on share 0 shared_line over the whole batch."""
    from ybsensor.decoders.table import take
    from ybsensor.detectors import BatchContext
    from ybsensor.detectors.shared_line import SharedLine
    from ybsensor.sensor.cluster import share_rows
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
        take(t, share_rows(t, parts, lines_on_share_0=True) == 0)
        cost["share cut"] += clock() - at
        at = clock()
        lines.detect(BatchContext(t, None, sensor.plan, sensor.cfg))
        cost["shared_line (share 0)"] += clock() - at


def one_process(config: Path, pcaps: list[Path], alerts: Path) -> None:
    """A replay in this process with what a share keeps (no evidence pcaps, no dns, tls or
    http logs), its alert log written."""
    import dataclasses

    from ybsensor.sensor.sensor import Sensor
    cfg = dataclasses.replace(load_config(config), evidence_dir="", event_log_paths={})
    for old in alerts.parent.glob(alerts.name + "*"):    # the log and its chain's head
        old.unlink()
    sensor = Sensor(cfg, alerts_path=str(alerts))
    for _ in sensor.pipeline.run_files(pcaps, print, print):
        pass
    sensor.close()


def load_config(path: Path):
    from ybsensor.sensor.config import load
    return load(path)


def report(r: dict) -> None:
    if r["runs"]:
        _report_runs(r)
    print(f"  one process (the shares' outputs), CPU s: {r['one_process_cpu_s']}")
    print(f"  per share, CPU s (median of {r['repeat']}): {r['share_cpu_s']} "
          f"(+{r['share_fixed_cpu_s']} s each to start); reduce of 2 shares "
          f"{r['reduce_cpu_s']:.2f} s over {r['reduce_input_bytes']:,} bytes of results")
    print(f"  per frame, CPU µs: every worker {r['every_worker_cpu_us_per_frame']} "
          f"({r['every_worker_stages_us_per_frame']}), split {r['split_cpu_us_per_frame']}, "
          f"shared_line on share 0 {r['shared_line_cpu_us_per_frame']}; "
          f"--jobs 2 from CPU seconds alone (the busier share, then the reduce): "
          f"{r['speedup_cpu_projected']:.2f}x")
    print(f"  shares 0 and 1 of 2 forked together, CPU s: {r['shares_of_2_together_cpu_s']}")


def _report_runs(r: dict) -> None:
    spread = r["runs"][f"--jobs {r['jobs']}"]
    print(f"replay --jobs {r['jobs']} ({r['rotating_frames']:,} frames in "
          f"{r['rotating_files']} files, median of {r['rounds']}): {spread['wall_s']:.2f} s, "
          f"{spread['cpu_s']:.1f} CPU s")
    for name in ("one process", "one process, no evidence"):
        one = r["runs"][name]
        print(f"  against {name}: {one['wall_s']:.2f} s, {one['cpu_s']:.1f} CPU s: "
              f"{r['speedup_wall'][name]:.2f}x by the clock, CPU ratio {r['cpu_ratio'][name]:.2f}")
    print(f"  the cluster path (--jobs 1 against one process without evidence): "
          f"+{r['cluster_overhead_wall_s']:.2f} s wall, +{r['cluster_overhead_cpu_s']:.1f} CPU s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=int(os.environ.get("YBSENSOR_BENCH_FRAMES",
                                                                     FRAMES)))
    ap.add_argument("--big", type=int, default=BIG,
                    help="frames of the rotating capture the commands replay")
    ap.add_argument("--files", type=int, default=FILES, help="files it is cut into")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each in-process part (medians)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="runs of each command (0: the in-process figures only)")
    args = ap.parse_args(argv)
    r = measure(args.frames, args.jobs, args.rounds, args.repeat, args.big, args.files)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(r, indent=2) + "\n")
    report(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
