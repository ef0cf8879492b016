"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import (  # noqa: E402
    GRE_HOSP, HOSP, PLATFORM, IpIds, PiiCase, TcpConn, cred_ev, write_here)
from casegen.credentials import (  # noqa: E402
    MYSQL_CLEAR, RULE, SECRETS, mysql_login, mysql_packet, one_alert)


def build(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"A billing client ({HOSP}) logs in to MySQL ({PLATFORM}:3306) "
                      f"{line.describe}: the handshake names mysql_native_password; the server "
                      f"switches the account to the mysql_clear_password plugin "
                      f"(AuthSwitchRequest) and the client answers with the password in clear. "
                      f"Rule: {RULE}. Expected: one high alert, its packet the answer.")
    conn = TcpConn(IpIds(), HOSP, 51540, PLATFORM, 3306)
    pkts = mysql_login(conn) + [
        conn.s2c(mysql_packet(2, b"\xfe" + MYSQL_CLEAR + b"\x00")),
        conn.c2s(mysql_packet(3, SECRETS["mysql"].encode() + b"\x00")),
        conn.s2c(mysql_packet(4, b"\x00\x00\x00\x02\x00\x00\x00"))] + conn.close()
    return one_alert(c, line, pkts, 6, cred_ev("mysql", "clear_password", "billing"))


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
