"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import GRE_HOSP, write_here  # noqa: E402
from casegen.reassembly import sni_case  # noqa: E402

build = sni_case("relay-17.net.anydesk.com", 51401, "an AnyDesk relay",
                 "remote_control (anydesk by tls_sni, high) and internet_bound "
                 "(public name by tls_sni)", "anydesk")
LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
