"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import HOSP, L2TP_HOSP, IpIds, PiiCase, ev, write_here  # noqa: E402
from casegen.credentials import RULE, one_alert, snmp_get, snmpv3_get  # noqa: E402


def build(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The monitoring server {HOSP} polls a switch ({mc.HOSP_C}:161) "
                      f"{line.describe} with SNMPv1 and the default community `public`; then a "
                      f"second switch ({mc.HOSP_D}) with SNMPv3 (users and keys, no community). "
                      f"Rule: {RULE}. Expected: one medium alert default_snmp_community, its "
                      f"packet the v1 GetRequest; nothing for SNMPv3.")
    ids = IpIds()
    pkts = [mc.udp_pkt(ids, HOSP, 40162, mc.HOSP_C, 161, snmp_get(b"public", version=0), True),
            mc.udp_pkt(ids, mc.HOSP_C, 161, HOSP, 40162, snmp_get(b"public", 0, True), False),
            mc.udp_pkt(ids, HOSP, 40163, mc.HOSP_D, 161, snmpv3_get(), True)]
    return one_alert(c, line, pkts, 0, ev("default_snmp_community", protocol="snmp",
                                          method="default_community", credentials=1,
                                          community="public"), "medium")


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
