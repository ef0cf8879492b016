"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    CLINIC, GRE_HOSP, HOSP, HOSP_B, HTTP_OK, HTTP_POST, L2TP_HOSP, LAC_PHARM, PHARM, PLATFORM,
    PLATFORM6, PLATFORM_B, TOWN, TOWN6, VLAN100, Case, Gre, IpIds, L2tp, Line, Mpls, QinQ, TcpConn,
    tls_session, write_here)


def build(name: str, line: Line | None = None) -> Case:
    c = Case(name, "Every institution talks to the platform over its own lines: the hospital "
                   "on VLAN 100, on L2TP tunnel 7 and on GRE key 41; the clinic on QinQ "
                   "10.200; the township health centre on MPLS label 1000 (IPv4, and IPv6 to "
                   "the platform's fd00:200::/48); the pharmacy on L2TP tunnel 9 and GRE key 42. "
                   "HTTP to the platform names it by address (Host: 10.200.1.20:8080). This "
                   "is what the rules allow (CQ §2(1): the platform is the meeting point; JL "
                   "art.15, art.26: each on its own allocation and line): no alert.")
    ids = IpIds()
    port = iter(range(50700, 50800))

    def https(src, dst=PLATFORM):
        return tls_session(TcpConn(ids, src, next(port), dst, 443), f"ok-{src}-{dst}", 1)

    def http(src):
        conn = TcpConn(ids, src, next(port), PLATFORM, 8080)
        return conn.handshake() + [conn.c2s(HTTP_POST), conn.s2c(HTTP_OK)] + conn.close()

    c.send(VLAN100, https(HOSP))
    c.send(VLAN100, http(HOSP_B))
    c.send(L2TP_HOSP, https(HOSP_B, PLATFORM_B))
    c.send(GRE_HOSP, https(HOSP))
    c.send(QinQ(10, 200), https(CLINIC))
    c.send(Mpls(1000), http(TOWN))
    c.send(Mpls(1000), https(TOWN6, PLATFORM6))
    c.send(L2tp(9, 5, lac=LAC_PHARM), https(PHARM))
    c.send(Gre(42), https(PHARM, PLATFORM_B))
    return c


LINE = None

if __name__ == "__main__":
    write_here(__file__, build, LINE)
