"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import (  # noqa: E402
    HOSP, L2TP_HOSP, PLATFORM, IpIds, PiiCase, TcpConn, cred_ev, write_here)
from casegen.credentials import (  # noqa: E402
    RULE, SECRETS, ldap_bind, ldap_bind_response, one_alert)


def build(name: str, line: mc.Line) -> PiiCase:
    dn = "cn=his-app,ou=services,dc=hosp,dc=local"
    c = PiiCase(name, f"The hospital's HIS server {HOSP} binds to the directory "
                      f"({PLATFORM}:389) {line.describe} with LDAP simple authentication: its "
                      f"DN and password in the BindRequest. Rule: {RULE}. Expected: one high "
                      f"alert, its packet the BindRequest.")
    conn = TcpConn(IpIds(), HOSP, 51510, PLATFORM, 389)
    pkts = conn.handshake() + [conn.c2s(ldap_bind(dn.encode(), SECRETS["ldap"].encode())),
                               conn.s2c(ldap_bind_response())] + conn.close()
    return one_alert(c, line, pkts, 3, cred_ev("ldap", "simple_bind", dn))


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
