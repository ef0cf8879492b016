"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import HOSP, HOSP_C, VLAN100, Case, IpIds, TcpConn, write_here  # noqa: E402
from casegen.remote_control import RADMIN_HELLO, TEAMVIEWER_HEAD  # noqa: E402


def build(name: str, line) -> Case:
    c = Case(name, f"Traffic that resembles the tools but is none of them, {line.describe}: "
                   f"TeamViewer's command header on port 8443 (it counts on TeamViewer's port "
                   f"only); Radmin's opening bytes in an 11-byte message (its message is 10); "
                   f"the RFB banner cut to 11 bytes; a DNS query for anydesk.com.local (a "
                   f"local name that merely starts like AnyDesk's). Every peer is inside the "
                   f"hospital and no port is a tool's: no alert.")
    ids = IpIds()
    for k, (port, data) in enumerate(((8443, TEAMVIEWER_HEAD), (14899, RADMIN_HELLO + b"\x00"),
                                      (15900, mc.RFB_BANNER[:11]))):
        conn = TcpConn(ids, HOSP, 51100 + k, HOSP_C, port)
        c.send(line, conn.handshake() + [conn.c2s(data)] + conn.close())
    c.send(line, [mc.udp_pkt(ids, HOSP, 40300, HOSP_C, 53, mc.dns_query("anydesk.com.local", 0x5301), True)])
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
