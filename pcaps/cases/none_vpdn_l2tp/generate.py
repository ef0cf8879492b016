"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    LAC_PHARM, LNS, PHARM, PLATFORM, Case, IpIds, L2tp, Line, TcpConn, tls_session, write_here)


def build(name: str, line: Line) -> Case:
    c = Case(name, f"A legitimate wireless VPDN session: the carrier's LAC {LAC_PHARM} and the "
                   f"LNS {LNS} (private addresses) carry, in L2TPv2 tunnel 9 session 5 (PPP), "
                   f"the pharmacy's {PHARM} HTTPS to the platform. JL art.14 allows VPDN over "
                   f"the private network; the inner flow is the pharmacy's to the platform "
                   f"on its own line: no alert.")
    ids = IpIds()
    c.send(line, tls_session(TcpConn(ids, PHARM, 51100, PLATFORM, 443), "vpdn", 2))
    return c


LINE = L2tp(9, 5, lac=LAC_PHARM)

if __name__ == "__main__":
    write_here(__file__, build, LINE)
