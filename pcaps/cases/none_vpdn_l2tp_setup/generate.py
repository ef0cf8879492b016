"""This case's frames and, from the rule, its expected alerts."""

import ipaddress
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    LAC_PHARM, LNS, PHARM, PLATFORM, PPP_IPCP, PPP_LCP, Case, IpIds, L2tp, TcpConn, l2tp_avp,
    payload, tls_session, write_here)


def build(name: str, line: L2tp) -> Case:
    c = Case(name, f"The same legitimate VPDN session as vpdn_l2tp, captured from its start: "
                   f"L2TP control messages (SCCRQ, SCCRP, SCCCN, ZLB, ICRQ, ICRP, ICCN) between "
                   f"the carrier's LAC {LAC_PHARM} and LNS {LNS}, PPP LCP and IPCP negotiation, "
                   f"the pharmacy's HTTPS to the platform, then an L2TP Hello. The carrier's "
                   f"signalling is not traffic of a terminal on the line: it has no inner IP "
                   f"packet, and its addresses are the tunnel's own. No rule is broken: no "
                   f"alert (JL art.14 allows VPDN over the private network).")

    avp, control = l2tp_avp, line.control
    t, s = line.t, line.s
    c.raw(control(True, 0, 0, 0, 0, 1, avp(2, b"\x01\x00"), avp(7, b"lac-4g-01"),
                  avp(9, struct.pack("!H", t))))                          # SCCRQ
    c.raw(control(False, t, 0, 0, 1, 2, avp(2, b"\x01\x00"), avp(7, b"lns-yb-01"),
                  avp(9, struct.pack("!H", t))))                          # SCCRP
    c.raw(control(True, t, 0, 1, 1, 3))                                   # SCCCN
    c.raw(control(False, t, 0, 1, 2, None))                               # ZLB ack
    c.raw(control(True, t, 0, 2, 1, 10, avp(14, struct.pack("!H", s))))   # ICRQ
    c.raw(control(False, t, 0, 1, 3, 11, avp(14, struct.pack("!H", s))))  # ICRP
    c.raw(control(True, t, s, 3, 2, 12, avp(24, struct.pack("!I", 100_000_000))))  # ICCN
    lcp_req = struct.pack("!BBH", 1, 1, 14) + bytes([1, 4, 0x05, 0xDC, 5, 6]) + payload("magic", 4)
    lcp_ack = struct.pack("!BBH", 2, 1, 14) + lcp_req[4:]
    ipcp_req = struct.pack("!BBH", 1, 1, 10) + bytes([3, 6]) + ipaddress.ip_address(PHARM).packed
    ipcp_ack = struct.pack("!BBH", 2, 1, 10) + ipcp_req[4:]
    c.raw(line.data(True, PPP_LCP, lcp_req))
    c.raw(line.data(False, PPP_LCP, lcp_ack))
    c.raw(line.data(True, PPP_IPCP, ipcp_req))
    c.raw(line.data(False, PPP_IPCP, ipcp_ack))
    ids = IpIds()
    c.send(line, tls_session(TcpConn(ids, PHARM, 51110, PLATFORM, 443), "vpdn-setup", 1))
    c.raw(control(True, t, 0, 4, 3, 6))                                   # Hello
    return c


LINE = L2tp(9, 5, lac=LAC_PHARM)

if __name__ == "__main__":
    write_here(__file__, build, LINE)
