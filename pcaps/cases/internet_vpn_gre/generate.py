"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    GRE_CPE, HOSP, HOSP_CODE, PLATFORM, PUB_GRE, RULE_VPN, Case, Gre, IpIds, Line, TcpConn, ev,
    tls_session, write_here)


def build(name: str, line: Line) -> Case:
    c = Case(name, f"GRE with key 41 (a hospital line) from the carrier-side address "
                   f"{GRE_CPE[41]} to the public concentrator {PUB_GRE}, {line.describe}: one "
                   f"tunnel endpoint on the internet is enough. Rule: {RULE_VPN}. Expected: "
                   f"one high alert for the inner flow {HOSP} -> {PLATFORM}, naming {PUB_GRE}.")
    ids = IpIds()
    frames = c.send(line, tls_session(TcpConn(ids, HOSP, 50210, PLATFORM, 443), "vpn-gre", 1))
    c.expect("internet_vpn", "high", line.key, HOSP_CODE, frames,
             ev("tunnel_over_internet", vpn="gre", public_endpoint=PUB_GRE))
    return c


LINE = Gre(41, pe=PUB_GRE)

if __name__ == "__main__":
    write_here(__file__, build, LINE)
