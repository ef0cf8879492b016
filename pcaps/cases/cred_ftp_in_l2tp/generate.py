"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    CRED_SECRETS, HOSP_B, HOSP_CODE, L2TP_HOSP, PLATFORM, RULE_CRED, Case, IpIds, Line, PiiCase,
    TcpConn, cred_ev, write_here)


def build(name: str, line: Line) -> Case:
    c = PiiCase(name, f"The hospital's {HOSP_B} logs in to an FTP server on the platform "
                   f"({PLATFORM}:21), {line.describe}: USER yb_upload, PASS in clear. Rule: "
                   f"{RULE_CRED}. Expected: one high alert, its packet the PASS command.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP_B, 51400, PLATFORM, 21)
    pkts = conn.handshake() + [conn.s2c(b"220 platform FTP ready\r\n"),
                               conn.c2s(b"USER yb_upload\r\n"),
                               conn.s2c(b"331 Password required for yb_upload\r\n"),
                               conn.c2s(b"PASS " + CRED_SECRETS["ftp"].encode() + b"\r\n"),
                               conn.s2c(b"230 User yb_upload logged in\r\n"),
                               conn.c2s(b"QUIT\r\n"), conn.s2c(b"221 Goodbye\r\n")] + conn.close()
    frames = c.send(line, pkts)
    c.expect("cleartext_credentials", "high", line.key, HOSP_CODE, [frames[6]],
             cred_ev("ftp", "user_pass", "yb_upload"))
    return c


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
