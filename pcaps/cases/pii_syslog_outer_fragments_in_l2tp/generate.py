"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import L2TP_HOSP, write_here  # noqa: E402
from casegen.reassembly import outer_fragments_case as build  # noqa: E402

LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
