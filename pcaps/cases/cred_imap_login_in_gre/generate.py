"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    CRED_SECRETS, GRE_HOSP, HOSP, HOSP_CODE, PLATFORM_MAIL, RULE_CRED, Case, IpIds, Line, PiiCase,
    TcpConn, cred_ev, write_here)


def build(name: str, line: Line) -> Case:
    c = PiiCase(name, f"The hospital's {HOSP} logs in to an IMAP server ({PLATFORM_MAIL}:143) "
                   f"{line.describe} with `a001 LOGIN nurse07 \"...\"`, the password a quoted "
                   f"string. Rule: {RULE_CRED}. Expected: one high alert, its packet the "
                   f"LOGIN command.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 51430, PLATFORM_MAIL, 143)
    pkts = conn.handshake() + [conn.s2c(b"* OK IMAP4rev1 server ready\r\n"),
                               conn.c2s(b'a001 LOGIN nurse07 "' + CRED_SECRETS["imap"].encode()
                                        + b'"\r\n'),
                               conn.s2c(b"a001 OK LOGIN completed\r\n"),
                               conn.c2s(b"a002 LOGOUT\r\n"), conn.s2c(b"* BYE\r\na002 OK\r\n")] \
        + conn.close()
    frames = c.send(line, pkts)
    c.expect("cleartext_credentials", "high", line.key, HOSP_CODE, [frames[4]],
             cred_ev("imap", "login", "nurse07"))
    return c


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
