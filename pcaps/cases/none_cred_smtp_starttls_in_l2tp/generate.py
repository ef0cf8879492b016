"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import HOSP, L2TP_HOSP, PLATFORM_B, IpIds, PiiCase, TcpConn, write_here  # noqa: E402
from casegen.credentials import RULE  # noqa: E402


def build(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The same relay login {line.describe}, but after `STARTTLS`: the "
                      f"AUTH LOGIN exchange travels in TLS records. Rule: {RULE}. Expected: "
                      f"no alert.")
    conn = TcpConn(IpIds(), HOSP, 51501, PLATFORM_B, 587)
    pkts = conn.handshake() + [
        conn.s2c(b"220 mail.platform ESMTP ready\r\n"), conn.c2s(b"EHLO his-ws07\r\n"),
        conn.s2c(b"250-mail.platform\r\n250 STARTTLS\r\n"), conn.c2s(b"STARTTLS\r\n"),
        conn.s2c(b"220 2.0.0 Ready to start TLS\r\n"),
        conn.c2s(mc.tls_client_hello("smtp-tls")), conn.s2c(mc.tls_server_hello("smtp-tls")),
        conn.c2s(mc.tls_app_data("smtp-auth", 64)), conn.s2c(mc.tls_app_data("smtp-334", 48)),
        conn.c2s(mc.tls_app_data("smtp-pass", 48))] + conn.close()
    c.send(line, pkts)
    return c


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
