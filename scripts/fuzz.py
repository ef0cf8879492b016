#!/usr/bin/env python3
"""The long fuzz run behind `make fuzz`: hostile frames against every decoder until a time
budget is spent, then the property tests of tests/decoders/test_fuzz_decoders.py under the "long"
hypothesis profile.

Phase 1 (bulk): batches built with numpy (tests/fuzzing.py: random bytes under every link
type; valid frames of every encapsulation with header bytes mutated, cut short, or cut and
continued with random bytes), a fresh seed each batch. Every row is checked against the
invariants; a sample of rows is decoded alone and must decode the same. A failure is saved
as a pcap under --out with the seed that made it, and the run stops with status 1.

Phase 2 (configurations): hostile configurations (tests/config_fuzzing.py: NaN and
infinities, wrong types, huge numbers, bad paths, bad files) for --config-seconds, each
through check-config, a replay when it is accepted, and a reload of a supervisor and its
workers; then, as root, through a real SIGHUP to `ybsensor run` on the loopback interface
(a capture filter nothing matches). Never a traceback, and the sensor keeps running. A
failure is saved under --out with its configuration.

Phase 3 (properties): pytest tests/decoders/test_fuzz_decoders.py with HYPOTHESIS_PROFILE=long
(FUZZ_EXAMPLES examples a property, 20000 unless set).

    python scripts/fuzz.py --seconds 600            # what `make fuzz` runs
    python scripts/fuzz.py --seconds 60 --no-properties
    python scripts/fuzz.py --seconds 0 --config-seconds 60 --no-properties
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import fuzzing as F  # noqa: E402
from ybsensor.decoders import decode  # noqa: E402
from ybsensor.decoders.keys import STATUS_NAMES  # noqa: E402


def bulk(seconds: float, rows: int, out: Path, seed0: int) -> dict:
    counts: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    seed = seed0
    batches = 0
    while time.monotonic() < deadline:
        rng = np.random.default_rng(seed)
        kind = ("random", "mutated", "mutated4")[seed % 3]
        if kind == "random":
            batch = F.bulk_random(rng, rows, max_len=int(rng.integers(16, 400)))
        else:
            batch, _ = F.bulk_mutated(rng, rows, mutations=2 if kind == "mutated" else 4)
        try:
            with F.time_bound(60, f"bulk decode (seed {seed})"):
                t = decode(batch)
            F.check_invariants(batch, t)
            F.check_rows_alone(batch, t, rng.choice(rows, min(rows, 100), replace=False))
        except Exception:
            out.mkdir(parents=True, exist_ok=True)
            path = out / f"fuzz-fail-seed{seed}.txt"
            path.write_text(f"seed {seed} kind {kind} rows {rows}\n{traceback.format_exc()}")
            print(f"FAIL (seed {seed}, {kind}): {path}", file=sys.stderr)
            print(traceback.format_exc(), file=sys.stderr)
            return {"failed_seed": seed, "frames": sum(counts.values())}
        counts[kind] += rows
        for code, n in zip(*np.unique(t.status, return_counts=True)):
            statuses[STATUS_NAMES[int(code)]] += int(n)
        seed += 1
        batches += 1
    return {"frames": sum(counts.values()), "batches": batches, "by_kind": dict(counts),
            "by_status": dict(statuses), "seeds": [seed0, seed - 1]}


def configs(seconds: float, out: Path, seed0: int) -> dict:
    """Phase 2: hostile configurations through check-config, replay and a reload."""
    import config_fuzzing as CF

    counts: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    seed = seed0
    home = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="ybsensor-config-fuzz-") as tmp:
        work = Path(tmp)
        os.chdir(work)  # relative paths in the configurations land here
        where = CF.hostile_dir(work / "files")
        harness = CF.Harness(work / "reload")
        live = CF.LoopbackSensor.start(work / "live") if os.geteuid() == 0 else None
        if isinstance(live, str):
            print(f"config fuzz: no live sensor on lo, the in-process reload only:\n{live}",
                  file=sys.stderr)
            live = None
        try:
            while time.monotonic() < deadline:
                try:
                    _, accepted = CF.one(seed, harness, where, live)
                except CF.Broken as exc:
                    out.mkdir(parents=True, exist_ok=True)
                    saved = out / f"config-fail-seed{seed}.toml"
                    saved.write_text(harness.config.with_name("checked.toml").read_text())
                    print(f"FAIL (config seed {seed}): {saved}\n{exc}", file=sys.stderr)
                    return {"failed_seed": seed, **counts}
                counts["accepted" if accepted else "refused"] += 1
                seed += 1
        finally:
            harness.close()
            if live is not None:
                counts["sighup"] = live.reloads
                live.stop()
            os.chdir(home)
    return {**counts, "seeds": [seed0, seed - 1]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600, help="time for the bulk phase")
    ap.add_argument("--rows", type=int, default=65536, help="frames a batch")
    ap.add_argument("--seed", type=int, default=int(time.time()) & 0xFFFFFF)
    ap.add_argument("--out", type=Path, default=REPO / "fuzz-out")
    ap.add_argument("--config-seconds", type=float, default=120,
                    help="time for the configuration phase")
    ap.add_argument("--no-properties", action="store_true", help="skip the hypothesis phase")
    args = ap.parse_args(argv)

    print(f"bulk phase: {args.seconds:.0f} s, {args.rows} frames a batch, from seed {args.seed}")
    report = bulk(args.seconds, args.rows, args.out, args.seed)
    print(json.dumps(report, indent=1))
    if "failed_seed" in report:
        return 1
    print(f"configuration phase: {args.config_seconds:.0f} s, from seed {args.seed}")
    report = configs(args.config_seconds, args.out, args.seed)
    print(json.dumps(report, indent=1))
    if "failed_seed" in report:
        return 1
    if args.no_properties:
        return 0
    env = dict(os.environ, HYPOTHESIS_PROFILE=os.environ.get("HYPOTHESIS_PROFILE", "long"))
    print(f"property phase: profile {env['HYPOTHESIS_PROFILE']}, "
          f"{env.get('FUZZ_EXAMPLES', 'default')} examples a property")
    return subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
                            "--hypothesis-show-statistics", "tests/decoders/test_fuzz_decoders.py"],
                           cwd=REPO, env=env)


if __name__ == "__main__":
    sys.exit(main())
