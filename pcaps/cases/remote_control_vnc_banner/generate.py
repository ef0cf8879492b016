"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    HOSP, HOSP_CODE, HOSP_D, RFB_BANNER, RULE_RC, VLAN100, Case, IpIds, Line, TcpConn, ev, payload,
    write_here)


def build(name: str, line: Line) -> Case:
    c = Case(name, f"A VNC server at {HOSP_D} listening on the non-standard port 15900 is "
                   f"reached by {HOSP}, {line.describe}: the server sends its RFB banner "
                   f"\"RFB 003.008\\n\", the client answers with the same, then security "
                   f"types and a challenge. Rule: {RULE_RC}. Both banners are signatures: one "
                   f"high alert whose first packet is the server's banner, 2 packets.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 50400, HOSP_D, 15900)
    pkts = conn.handshake() + [conn.s2c(RFB_BANNER), conn.c2s(RFB_BANNER),
                               conn.s2c(b"\x01\x02"), conn.c2s(b"\x02"),
                               conn.s2c(payload("vnc-challenge", 16)),
                               conn.c2s(payload("vnc-response", 16))]
    frames = c.send(line, pkts)
    c.expect("remote_control", "high", line.key, HOSP_CODE, frames[3:5],
             ev("signature", tool="vnc", evidence="signature"))
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
