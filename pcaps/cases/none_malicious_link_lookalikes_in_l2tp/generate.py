"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import HOSP, L2TP_HOSP, PLATFORM, Case, IpIds, TcpConn, write_here  # noqa: E402
from casegen.malicious_link import case  # noqa: E402


def build(name: str, line) -> Case:
    c = case(name, f"Near misses, {line.describe}, with the same indicators loaded: a query "
                   f"for malware-cdn.example.local (a local name that merely contains the "
                   f"listed domain), the listed URL's path asked of the platform "
                   f"{PLATFORM}:8080 by its own name, and TLS to the platform. No name is "
                   f"under a listed domain, no URL is listed, no address is: no alert.")
    ids = IpIds()
    c.send(line, [mc.udp_pkt(ids, HOSP, 40500, PLATFORM, 53,
                             mc.dns_query("malware-cdn.example.local", 0x6201), True)])
    conn = TcpConn(ids, HOSP, 51500, PLATFORM, 8080)
    c.send(line, conn.handshake() + [conn.c2s(b"GET /login.php HTTP/1.1\r\nHost: 10.200.1.20:8080"
                                              b"\r\n\r\n"), conn.s2c(mc.HTTP_OK)] + conn.close())
    c.send(line, mc.tls_session(TcpConn(ids, HOSP, 51600, PLATFORM, 443), "platform", 1))
    return c


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
