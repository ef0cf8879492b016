"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    HOSP, HOSP_CODE, PUB_WEB, RULE_IB, Case, Gre, IpIds, Line, TcpConn, ev, tls_app_data,
    write_here)


def build(name: str, line: Line) -> Case:
    c = Case(name, f"The capture starts mid-flow: the first frame is the public server "
                   f"{PUB_WEB} answering the hospital host {HOSP}, {line.describe}, a line "
                   f"no institution is configured for. Rule: {RULE_IB}. The line has no "
                   f"owner and the first packet's source is public, so the institution is "
                   f"the destination's owner, the hospital; the outside end is the source.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 51010, PUB_WEB, 443)
    conn.handshake()                       # not captured
    frames = c.send(line, [conn.s2c(tls_app_data("mid-s0", 900)),
                           conn.c2s(b"", flags="A"),
                           conn.s2c(tls_app_data("mid-s1", 700)),
                           conn.c2s(tls_app_data("mid-c1", 60))])
    c.expect("internet_bound", "high", line.key, HOSP_CODE, frames,
             ev("address_outside_private", outside="src", address=PUB_WEB))
    return c


LINE = Gre(99)

if __name__ == "__main__":
    write_here(__file__, build, LINE)
