"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import GRE_HOSP, HOSP, PLATFORM, IpIds, PiiCase, TcpConn, write_here  # noqa: E402
from casegen.credentials import RULE, tds_prelogin  # noqa: E402


def build(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The same SQL Server login {line.describe} with encryption on: after "
                      f"PRELOGIN the Login7 travels in TLS records. Rule: {RULE}. Expected: "
                      f"no alert.")
    conn = TcpConn(IpIds(), HOSP, 51551, PLATFORM, 1433)
    pkts = conn.handshake() + [conn.c2s(tds_prelogin(1)), conn.s2c(tds_prelogin(1, True)),
                               conn.c2s(mc.tls_app_data("tds-login", 220)),
                               conn.s2c(mc.tls_app_data("tds-ack", 60))] + conn.close()
    c.send(line, pkts)
    return c


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
