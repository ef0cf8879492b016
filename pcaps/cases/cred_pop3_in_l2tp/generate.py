"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    CRED_SECRETS, HOSP, HOSP_CODE, L2TP_HOSP, PLATFORM_MAIL, RULE_CRED, Case, IpIds, Line, PiiCase,
    TcpConn, cred_ev, write_here)


def build(name: str, line: Line) -> Case:
    c = PiiCase(name, f"The hospital's {HOSP} reads mail from a POP3 server ({PLATFORM_MAIL}:110) "
                   f"{line.describe}: USER, then PASS in clear. Rule: {RULE_CRED}. Expected: "
                   f"one high alert, its packet the PASS command.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 51420, PLATFORM_MAIL, 110)
    pkts = conn.handshake() + [conn.s2c(b"+OK POP3 server ready\r\n"),
                               conn.c2s(b"USER billing\r\n"), conn.s2c(b"+OK\r\n"),
                               conn.c2s(b"PASS " + CRED_SECRETS["pop3"].encode() + b"\r\n"),
                               conn.s2c(b"+OK 2 messages\r\n"), conn.c2s(b"QUIT\r\n"),
                               conn.s2c(b"+OK bye\r\n")] + conn.close()
    frames = c.send(line, pkts)
    c.expect("cleartext_credentials", "high", line.key, HOSP_CODE, [frames[6]],
             cred_ev("pop3", "user_pass", "billing"))
    return c


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
