"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import GRE_HOSP, HOSP, PLATFORM, IpIds, PiiCase, TcpConn, write_here  # noqa: E402
from casegen.credentials import (  # noqa: E402
    PG_READY, RULE, pg_auth_request, pg_password, pg_startup)


def build(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The same PostgreSQL login {line.describe}, but the server asks for "
                      f"MD5 (AuthenticationMD5Password with a salt): the PasswordMessage holds "
                      f"a salted hash, no password. Rule: {RULE}. Expected: no alert.")
    conn = TcpConn(IpIds(), HOSP, 51531, PLATFORM, 5432)
    pkts = conn.handshake() + [conn.c2s(pg_startup(b"his_report", b"his")),
                               conn.s2c(pg_auth_request(5, mc.payload("pg-salt", 4))),
                               conn.c2s(pg_password(b"md5" + mc.payload("pg-md5", 16).hex().encode())),
                               conn.s2c(PG_READY)] + conn.close()
    c.send(line, pkts)
    return c


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
