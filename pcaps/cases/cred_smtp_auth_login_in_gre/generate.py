"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import (  # noqa: E402
    GRE_HOSP, HOSP, PLATFORM_B, IpIds, PiiCase, TcpConn, cred_ev, write_here)
from casegen.credentials import RULE, SECRETS, b64, one_alert  # noqa: E402


def build(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The hospital's {HOSP} sends mail through the platform's relay "
                      f"({PLATFORM_B}:587) {line.describe}: EHLO, `AUTH LOGIN`, and after each "
                      f"334 continuation the user name and the password, base64 on lines of "
                      f"their own. Rule: {RULE}. Expected: one high alert, its packet the "
                      f"password's line.")
    conn = TcpConn(IpIds(), HOSP, 51500, PLATFORM_B, 587)
    pkts = conn.handshake() + [
        conn.s2c(b"220 mail.platform ESMTP ready\r\n"), conn.c2s(b"EHLO his-ws07\r\n"),
        conn.s2c(b"250-mail.platform\r\n250 AUTH LOGIN PLAIN\r\n"), conn.c2s(b"AUTH LOGIN\r\n"),
        conn.s2c(b"334 VXNlcm5hbWU6\r\n"), conn.c2s(b64("his-mailer") + b"\r\n"),
        conn.s2c(b"334 UGFzc3dvcmQ6\r\n"), conn.c2s(b64(SECRETS["smtp"]) + b"\r\n"),
        conn.s2c(b"235 2.7.0 Authentication successful\r\n"), conn.c2s(b"QUIT\r\n"),
        conn.s2c(b"221 Bye\r\n")] + conn.close()
    return one_alert(c, line, pkts, 10, cred_ev("smtp", "auth_login", "his-mailer"))


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
