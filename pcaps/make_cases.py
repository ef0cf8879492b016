#!/usr/bin/env python3
"""Make the detector cases under pcaps/cases/ (suricata-verify style) and the demo capture
pcaps/demo.pcap: run every case folder's own generator (pcaps/cases/NAME/generate.py, on
the shared builders of pcaps/casegen/), write the cases' index README, then the demo.

    python pcaps/make_cases.py [OUTDIR] [--demo PATH]
    python pcaps/cases/NAME/generate.py        # one case, into its own folder

OUTDIR defaults to pcaps/cases; the demo goes to pcaps/demo.pcap by default, or to
OUTDIR/demo.pcap when OUTDIR is given.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from casegen import BASE_S, CASES_DIR, GENERATOR, Case, build_case, write_case, write_pcap  # noqa: E402
from casegen.demo import demo  # noqa: E402


def case_names() -> list[str]:
    """The folders under pcaps/cases/ that hold a generator, in name order."""
    return sorted(p.parent.name for p in CASES_DIR.glob(f"*/{GENERATOR}"))


def index_text(cases: list[Case]) -> str:
    rows = "\n".join(f"| `{c.name}` | {', '.join(sorted({a['detector'] for a in c.expected})) or 'none'} "
                     f"| {len(c.frames)} |" for c in cases)
    return ("# Detector cases\n\n"
            "In the style of suricata-verify: each folder holds its generator `generate.py`, "
            "and what it makes: `input.pcap`, `config.toml`, `expected.jsonl` (the alerts the "
            "rule calls for, written from the rule and from how the generator built the "
            "frames, never from the sensor's output) and a `README.md`. `tests/cases_and_corpus/test_cases.py` "
            "replays each and compares. Cases named `none_*` must raise nothing; `*_in_l2tp` / "
            "`*_in_gre` carry the same packets in a tunnel.\n\n"
            "## Adding a case\n\n"
            "1. Make the folder `pcaps/cases/NAME/` and its `generate.py`: copy a case's "
            "generator that is close, and change its `build(name, line)` (the frames, with "
            "the builders of `pcaps/casegen/`; personal data only from `casegen.pii`, "
            "synthetic) and `c.expect(...)` for each alert the rule calls for, written from "
            "the rule, never from the sensor's output; and `LINE`, the access line it "
            "delivers on. A variant on another line "
            "takes `build = generator(\"OTHER\").build`. Helpers that several cases share go "
            "in `pcaps/casegen/` (one module an area).\n"
            "2. Every case travels inside L2TP or GRE: its `LINE`, or a variant "
            "`NAME_in_l2tp` / `NAME_in_gre`.\n"
            "3. `python pcaps/cases/NAME/generate.py` writes that case; "
            "`python pcaps/make_cases.py` remakes every case, this index and "
            "`pcaps/demo.pcap`. Commit the folder.\n\n"
            "| case | expected detectors | frames |\n|---|---|---|\n" + rows + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", nargs="?", type=Path, default=None)
    ap.add_argument("--demo", type=Path, default=None, help="where to write demo.pcap")
    args = ap.parse_args(argv)
    outdir = args.outdir or CASES_DIR
    demo_path = args.demo or (outdir / "demo.pcap" if args.outdir else HERE / "demo.pcap")
    outdir.mkdir(parents=True, exist_ok=True)
    cases = [build_case(name) for name in case_names()]
    for case in cases:
        write_case(outdir, case)
    (outdir / "README.md").write_text(index_text(cases))
    write_pcap(demo_path, demo().frames, BASE_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
