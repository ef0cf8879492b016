"""This case's frames and, from the rule, its expected alerts."""

import base64
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    CRED_SECRETS, GRE_HOSP, HOSP, HOSP_CODE, HTTP_OK, PLATFORM, RULE_CRED, Case, IpIds, Line,
    PiiCase, TcpConn, cred_ev, write_here)


def build(name: str, line: Line) -> Case:
    token = base64.b64encode(b"admin01:" + CRED_SECRETS["http_basic"].encode())
    c = PiiCase(name, f"The hospital's {HOSP} opens an administration page on the platform "
                   f"({PLATFORM}:8080) with HTTP Basic authentication, {line.describe}: "
                   f"user admin01 and its password, base64 in the Authorization header. Rule: "
                   f"{RULE_CRED}. Expected: one high alert, its packet the request.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 51410, PLATFORM, 8080)
    request = (b"GET /admin/status HTTP/1.1\r\nHost: 10.200.1.20:8080\r\n"
               b"Authorization: Basic " + token + b"\r\nAccept: */*\r\n\r\n")
    frames = c.send(line, conn.handshake() + [conn.c2s(request), conn.s2c(HTTP_OK)] + conn.close())
    c.expect("cleartext_credentials", "high", line.key, HOSP_CODE, [frames[3]],
             cred_ev("http", "basic", "admin01"))
    return c


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
