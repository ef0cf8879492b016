"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    HOSP, HOSP_B, VLAN100, Case, IpIds, Line, TcpConn, icmp_echo, payload, write_here)


def build(name: str, line: Line) -> Case:
    c = Case(name, f"Two hosts of the hospital talk to each other (SMB on 445, and a ping), "
                   f"{line.describe}: the hospital's own line, both ends in its allocation. "
                   f"No rule is broken: no alert.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 50900, HOSP_B, 445)
    c.send(line, conn.handshake() + [conn.c2s(payload("smb-neg", 120)),
                                     conn.s2c(payload("smb-neg-resp", 200))] + conn.close())
    c.send(line, [icmp_echo(ids, HOSP_B, HOSP, False, 1, True),
                  icmp_echo(ids, HOSP, HOSP_B, True, 1, True)])
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
