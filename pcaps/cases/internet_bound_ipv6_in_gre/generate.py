"""The frames and expectations of internet_bound_ipv6, on this case's line."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import Gre, generator, write_here  # noqa: E402

build = generator("internet_bound_ipv6").build
LINE = Gre(44)

if __name__ == "__main__":
    write_here(__file__, build, LINE)
