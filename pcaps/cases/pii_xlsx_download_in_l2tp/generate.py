"""The frames and expectations of pii_xlsx_download, on this case's line."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import L2TP_HOSP, generator, write_here  # noqa: E402

build = generator("pii_xlsx_download").build
LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
