"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import VLAN100, write_here  # noqa: E402
from casegen.normalisation import spreadsheet_case  # noqa: E402

build = spreadsheet_case
LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
