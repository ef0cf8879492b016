"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    HOSP_CODE, PLATFORM, RULE_US, UNALLOCATED, VLAN100, Case, IpIds, Line, TcpConn, ev,
    tls_session, write_here)


def build(name: str, line: Line) -> Case:
    c = Case(name, f"A host with the private address {UNALLOCATED}, which no allocation "
                   f"holds, talks to the platform ({PLATFORM}) over HTTPS {line.describe}, "
                   f"a hospital line. Rule: {RULE_US}. Expected: one high alert; its packets "
                   f"are the ones {UNALLOCATED} sent, not the platform's replies.")
    ids = IpIds()
    conn = TcpConn(ids, UNALLOCATED, 40001, PLATFORM, 443)
    pkts = tls_session(conn, "us1", exchanges=1)
    frames = c.send(line, pkts)
    sent = [f for f, p in zip(frames, pkts) if p.src == UNALLOCATED]
    c.expect("unauthorized_source", "high", line.key, HOSP_CODE, sent,
             ev("unallocated", source="in no allocation"))
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
