"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    PUB_WEB6, RULE_IB, TOWN6, TOWN_CODE, Case, IpIds, Line, Mpls, TcpConn, ev, tls_session,
    write_here)


def build(name: str, line: Line) -> Case:
    c = Case(name, f"The township health centre's IPv6 host {TOWN6} opens HTTPS to the "
                   f"public IPv6 address {PUB_WEB6}, {line.describe}. Rule: {RULE_IB}; "
                   f"IPv6 is first-class. Expected: one high internet_bound alert for the flow.")
    ids = IpIds()
    frames = c.send(line, tls_session(TcpConn(ids, TOWN6, 52000, PUB_WEB6, 443), "ib6"))
    c.expect("internet_bound", "high", line.key, TOWN_CODE, frames,
             ev("address_outside_private", outside="dst", address=PUB_WEB6))
    return c


LINE = Mpls(1000)

if __name__ == "__main__":
    write_here(__file__, build, LINE)
