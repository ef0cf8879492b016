"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import (  # noqa: E402
    GRE_HOSP, HOSP, PLATFORM, IpIds, PiiCase, TcpConn, cred_ev, write_here)
from casegen.credentials import RULE, SECRETS, one_alert  # noqa: E402

USER = b"his-proxy"


def build(name: str, line: mc.Line) -> PiiCase:
    password = SECRETS["socks"].encode()
    c = PiiCase(name, f"A hospital workstation ({HOSP}) goes through the platform's SOCKS5 "
                      f"proxy ({PLATFORM}:1080) {line.describe}: its greeting offers no "
                      f"authentication and username/password (RFC 1928), the proxy picks the "
                      f"latter (05 02), and the client sends its user and password in clear "
                      f"(RFC 1929), then a CONNECT. Rule: {RULE}. Expected: one high alert, "
                      f"its packet the username/password request; protocol socks, method "
                      f"user_pass.")
    conn = TcpConn(IpIds(), HOSP, 51544, PLATFORM, 1080)
    request = b"\x01" + bytes([len(USER)]) + USER + bytes([len(password)]) + password
    connect = b"\x05\x01\x00\x01" + bytes([10, 200, 1, 20]) + (8080).to_bytes(2, "big")
    pkts = conn.handshake() + [conn.c2s(b"\x05\x02\x00\x02"), conn.s2c(b"\x05\x02"),
                               conn.c2s(request), conn.s2c(b"\x01\x00"), conn.c2s(connect),
                               conn.s2c(b"\x05\x00\x00\x01" + bytes(6))] + conn.close()
    return one_alert(c, line, pkts, 5, cred_ev("socks", "user_pass", USER.decode()))


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
