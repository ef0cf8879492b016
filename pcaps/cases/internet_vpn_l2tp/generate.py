"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    HOSP, HOSP_CODE, PLATFORM, PUB_LAC, PUB_LNS, RULE_VPN, Case, IpIds, L2tp, Line, TcpConn, ev,
    tls_session, write_here)


def build(name: str, line: Line) -> Case:
    c = Case(name, f"An L2TPv2 tunnel between two public addresses, {line.describe}, carries "
                   f"the hospital's {HOSP} HTTPS to the platform: a VPN over the internet. "
                   f"Rule: {RULE_VPN}. Expected: one high alert for the inner flow (all its "
                   f"packets), naming the public endpoint of the first packet's outer header "
                   f"(its destination, {PUB_LNS}). The line l2tp:77/1 is configured for no "
                   f"one, so the institution is the inner source's owner; the inner endpoints "
                   f"are private, so no internet_bound.")
    ids = IpIds()
    frames = c.send(line, tls_session(TcpConn(ids, HOSP, 50200, PLATFORM, 443), "vpn-l2tp", 1))
    c.expect("internet_vpn", "high", line.key, HOSP_CODE, frames,
             ev("tunnel_over_internet", vpn="l2tp", public_endpoint=PUB_LNS))
    return c


LINE = L2tp(77, 1, lac=PUB_LAC, lns=PUB_LNS)

if __name__ == "__main__":
    write_here(__file__, build, LINE)
