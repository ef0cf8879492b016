"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    HOSP, HOSP_CODE, HTTP_OK, HTTP_POST, PHARM, PHARM_CODE, VLAN100, Case, IpIds, Line, TcpConn,
    ev, write_here)


def build(name: str, line: Line) -> Case:
    c = Case(name, f"The hospital's host {HOSP} connects straight to the pharmacy's "
                   f"{PHARM}:8080 {line.describe}, without going through the platform. "
                   f"Rule: lateral_traffic (CQ §2(1)): a flow between the allocations of two "
                   f"institutions breaks it; both directions count; the institution named is "
                   f"the first packet's source's. The pharmacy's replies are addressed to the "
                   f"line's owner, so they are not unauthorized_source's.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 50100, PHARM, 8080)
    frames = c.send(line, conn.handshake() + [conn.c2s(HTTP_POST), conn.s2c(HTTP_OK)]
                    + conn.close())
    c.expect("lateral_traffic", "high", line.key, HOSP_CODE, frames,
             ev("between_institutions", from_institution=HOSP_CODE, to_institution=PHARM_CODE))
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
