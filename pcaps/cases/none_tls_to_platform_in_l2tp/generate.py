"""The frames and expectations of none_tls_to_platform_in_gre, on this case's line."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import LAC_PHARM, L2tp, generator, write_here  # noqa: E402

build = generator("none_tls_to_platform_in_gre").build
LINE = L2tp(9, 6, lac=LAC_PHARM)

if __name__ == "__main__":
    write_here(__file__, build, LINE)
