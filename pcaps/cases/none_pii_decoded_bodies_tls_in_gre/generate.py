"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import Gre, write_here  # noqa: E402
from casegen.normalisation import in_records  # noqa: E402

build = in_records(0x0303)
LINE = Gre(41)

if __name__ == "__main__":
    write_here(__file__, build, LINE)
