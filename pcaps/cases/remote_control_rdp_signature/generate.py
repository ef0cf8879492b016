"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    HOSP, HOSP_C, HOSP_CODE, RULE_RC, VLAN100, X224_CC, X224_CR, Case, IpIds, Line, TcpConn, ev,
    write_here)


def build(name: str, line: Line) -> Case:
    c = Case(name, f"The hospital's {HOSP} opens RDP to a colleague's machine {HOSP_C} on the "
                   f"non-standard port 13389, {line.describe}: after the TCP handshake, a TPKT "
                   f"+ X.224 Connection Request (code 0xE0) with an mstshash cookie, answered "
                   f"by a Connection Confirm. Rule: {RULE_RC}. Expected: one high alert, "
                   f"evidence signature, whose only violating packet is the Connection Request "
                   f"(nothing else of the flow matches a signature or a well-known port).")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 50300, HOSP_C, 13389)
    pkts = conn.handshake() + [conn.c2s(X224_CR), conn.s2c(X224_CC)]
    frames = c.send(line, pkts)
    c.expect("remote_control", "high", line.key, HOSP_CODE, [frames[3]],
             ev("signature", tool="rdp", evidence="signature"))
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
