"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import (  # noqa: E402
    GRE_HOSP, HOSP, PLATFORM, IpIds, PiiCase, TcpConn, cred_ev, write_here)
from casegen.credentials import RULE, SECRETS, one_alert, resp  # noqa: E402


def build(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"A hospital application ({HOSP}) logs in to a Redis cache "
                      f"({PLATFORM}:6379) {line.describe}: `AUTH his-cache <password>` as a "
                      f"RESP array (an ACL user). Rule: {RULE}. Expected: one high alert, its "
                      f"packet the AUTH command.")
    conn = TcpConn(IpIds(), HOSP, 51520, PLATFORM, 6379)
    pkts = conn.handshake() + [conn.c2s(resp(b"AUTH", b"his-cache", SECRETS["redis"].encode())),
                               conn.s2c(b"+OK\r\n"), conn.c2s(resp(b"GET", b"queue:len")),
                               conn.s2c(b"$1\r\n0\r\n")] + conn.close()
    return one_alert(c, line, pkts, 3, cred_ev("redis", "auth", "his-cache"))


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
