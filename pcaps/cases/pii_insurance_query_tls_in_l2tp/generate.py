"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import LAC_PHARM, L2tp, pii_insurance_query_encrypted, write_here  # noqa: E402

build = pii_insurance_query_encrypted(0x0303)
LINE = L2tp(9, 5, lac=LAC_PHARM)

if __name__ == "__main__":
    write_here(__file__, build, LINE)
