"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    HOSP, HOSP_CODE, PUB_WEB, RULE_IB, VLAN100, Case, IpIds, Line, TcpConn, ev, tls_session,
    write_here)


def build(name: str, line: Line) -> Case:
    c = Case(name, f"A hospital workstation ({HOSP}) opens HTTPS (a TLS ClientHello with no "
                   f"server name) straight to the public address {PUB_WEB}, {line.describe} "
                   f"— the hospital's own line. Rule: {RULE_IB}. Expected: one high "
                   f"internet_bound alert for the flow, all its packets, naming {PUB_WEB}.")
    ids = IpIds()
    frames = c.send(line, tls_session(TcpConn(ids, HOSP, 51000, PUB_WEB, 443), "ib1"))
    c.expect("internet_bound", "high", line.key, HOSP_CODE, frames,
             ev("address_outside_private", outside="dst", address=PUB_WEB))
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
