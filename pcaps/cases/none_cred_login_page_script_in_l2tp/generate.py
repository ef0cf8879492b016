"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import HOSP, L2TP_HOSP, PLATFORM, IpIds, PiiCase, TcpConn, write_here  # noqa: E402
from casegen.credentials import LOGIN_PAGE, RULE  # noqa: E402


def build(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The hospital's {HOSP} opens the platform's login page "
                      f"({PLATFORM}:8080) {line.describe}; the page's script builds "
                      f"`'&password='+encodeURIComponent(p)`. The server sends it, no one logs "
                      f"in. Rule: {RULE}. Expected: no alert.")
    conn = TcpConn(IpIds(), HOSP, 51570, PLATFORM, 8080)
    c.send(line, conn.handshake() + [conn.c2s(b"GET /login HTTP/1.1\r\nHost: 10.200.1.20\r\n\r\n"),
                                     conn.s2c(LOGIN_PAGE)] + conn.close())
    return c


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
