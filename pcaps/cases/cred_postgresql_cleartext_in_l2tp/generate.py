"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import (  # noqa: E402
    HOSP, L2TP_HOSP, PLATFORM, IpIds, PiiCase, TcpConn, cred_ev, write_here)
from casegen.credentials import (  # noqa: E402
    PG_READY, RULE, SECRETS, one_alert, pg_auth_request, pg_password, pg_startup)


def build(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"A report tool ({HOSP}) logs in to PostgreSQL ({PLATFORM}:5432) "
                      f"{line.describe}: the startup message names the user his_report; the "
                      f"server asks for a cleartext password (AuthenticationCleartextPassword) "
                      f"and the client sends it in a PasswordMessage. Rule: {RULE}. Expected: "
                      f"one high alert, its packet the PasswordMessage.")
    conn = TcpConn(IpIds(), HOSP, 51530, PLATFORM, 5432)
    pkts = conn.handshake() + [conn.c2s(pg_startup(b"his_report", b"his")),
                               conn.s2c(pg_auth_request(3)),
                               conn.c2s(pg_password(SECRETS["postgresql"].encode())),
                               conn.s2c(PG_READY)] + conn.close()
    return one_alert(c, line, pkts, 5,
                     cred_ev("postgresql", "cleartext_password", "his_report"))


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
