"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import (  # noqa: E402
    GRE_HOSP, HOSP, HOSP_CODE, PLATFORM, IpIds, PiiCase, TcpConn, write_here)
from casegen.credentials import RULE, SECRETS, token_ev  # noqa: E402


def build(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"A hospital application ({HOSP}) calls the platform's API "
                      f"({PLATFORM}:8080) over plain HTTP {line.describe} twice: with "
                      f"`Authorization: Bearer <JWT>`, and with `?access_token=` in the query "
                      f"string. Rule: {RULE}. Expected: two high alerts cleartext_token, one a "
                      f"connection, each its request.")
    ids = IpIds()
    a = TcpConn(ids, HOSP, 51560, PLATFORM, 8080)
    b = TcpConn(ids, HOSP, 51561, PLATFORM, 8080)
    bearer = (b"GET /api/v1/claims?status=open HTTP/1.1\r\nHost: 10.200.1.20:8080\r\n"
              b"Authorization: Bearer " + SECRETS["bearer"].encode() + b"\r\n\r\n")
    query = (b"GET /api/v1/claims?status=open&access_token=" + SECRETS["api_key"].encode()
             + b" HTTP/1.1\r\nHost: 10.200.1.20:8080\r\n\r\n")
    fa = c.send(line, a.handshake() + [a.c2s(bearer), a.s2c(mc.HTTP_OK)] + a.close())
    fb = c.send(line, b.handshake() + [b.c2s(query), b.s2c(mc.HTTP_OK)] + b.close())
    c.expect("cleartext_credentials", "high", line.key, HOSP_CODE, [fa[3]], token_ev("bearer"))
    c.expect("cleartext_credentials", "high", line.key, HOSP_CODE, [fb[3]], token_ev("query_key"))
    return c


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
