"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import HOSP, L2TP_HOSP, PLATFORM, IpIds, PiiCase, TcpConn, write_here  # noqa: E402
from casegen.credentials import MYSQL_OK, RULE, mysql_login  # noqa: E402


def build(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The same MySQL login {line.describe} with mysql_native_password: the "
                      f"client sends a scramble of the password, not the password. Rule: "
                      f"{RULE}. Expected: no alert.")
    conn = TcpConn(IpIds(), HOSP, 51541, PLATFORM, 3306)
    pkts = mysql_login(conn) + [conn.s2c(MYSQL_OK)] + conn.close()
    c.send(line, pkts)
    return c


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
