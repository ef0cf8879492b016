"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    HOSP, HOSP_C, HOSP_CODE, RULE_RC, VLAN100, Case, IpIds, Line, TcpConn, ev, write_here)


def build(name: str, line: Line) -> Case:
    c = Case(name, f"{HOSP} connects to {HOSP_C}:3389 and closes without sending a byte, "
                   f"{line.describe}: nothing but the well-known RDP port. Rule: {RULE_RC}. "
                   f"Expected: one medium alert, evidence port, every packet of the flow.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 50500, HOSP_C, 3389)
    frames = c.send(line, conn.handshake() + conn.close())
    c.expect("remote_control", "medium", line.key, HOSP_CODE, frames,
             ev("port", tool="rdp", evidence="port"))
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
