"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    HOSP, HOSP_C, HOSP_CODE, RULE_RC, VLAN100, X224_CC, X224_CR, Case, IpIds, Line, TcpConn, ev,
    write_here)


def build(name: str, line: Line) -> Case:
    c = Case(name, f"The common case: {HOSP} opens RDP to {HOSP_C} on its well-known port "
                   f"3389, {line.describe}, and sends an X.224 Connection Request. Rule: "
                   f"{RULE_RC}. Each packet is judged by what it shows, in packet time: the "
                   f"handshake shows only the port (one medium alert, its 3 packets), the "
                   f"Connection Request the signature — more severe, so alerted again (high); "
                   f"the Connection Confirm after it, the port alone, repeats it within the "
                   f"window and is counted with it.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 50600, HOSP_C, 3389)
    frames = c.send(line, conn.handshake() + [conn.c2s(X224_CR), conn.s2c(X224_CC)])
    c.expect("remote_control", "medium", line.key, HOSP_CODE, frames[:3],
             ev("port", tool="rdp", evidence="port"))
    c.expect("remote_control", "high", line.key, HOSP_CODE, frames[3:],
             ev("signature", tool="rdp", evidence="signature"))
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
