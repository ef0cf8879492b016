"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import GRE_HOSP, HOSP, PLATFORM, IpIds, PiiCase, TcpConn, write_here  # noqa: E402
from casegen.credentials import RULE, ldap_bind, ldap_bind_response, ldap_starttls  # noqa: E402


def build(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The hospital's {HOSP} talks to the directory ({PLATFORM}:389) "
                      f"{line.describe} twice: an anonymous bind (empty name and password), "
                      f"then on a second connection StartTLS and the simple bind inside TLS "
                      f"records. Rule: {RULE}. Expected: no alert.")
    ids = IpIds()
    anon = TcpConn(ids, HOSP, 51511, PLATFORM, 389)
    tls = TcpConn(ids, HOSP, 51512, PLATFORM, 389)
    pkts = anon.handshake() + [anon.c2s(ldap_bind(b"", b"")), anon.s2c(ldap_bind_response())] \
        + anon.close() + tls.handshake() + [
            tls.c2s(ldap_starttls(False)), tls.s2c(ldap_starttls(True)),
            tls.c2s(mc.tls_client_hello("ldap-tls")), tls.s2c(mc.tls_server_hello("ldap-tls")),
            tls.c2s(mc.tls_app_data("ldap-bind", 96)), tls.s2c(mc.tls_app_data("ldap-ok", 40))] \
        + tls.close()
    c.send(line, pkts)
    return c


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
