"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import GRE_HOSP, HOSP, IpIds, PiiCase, ev, write_here  # noqa: E402
from casegen.credentials import RULE, SECRETS, one_alert, snmp_get  # noqa: E402


def build(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The hospital's monitoring server {HOSP} polls a switch "
                      f"({mc.HOSP_C}:161) {line.describe} with SNMPv2c and a community of its "
                      f"own; the switch answers. Rule: {RULE}. Expected: one high alert, its "
                      f"packet the GetRequest (the response's copy is what the agent says).")
    ids = IpIds()
    community = SECRETS["snmp"].encode()
    pkts = [mc.udp_pkt(ids, HOSP, 40161, mc.HOSP_C, 161, snmp_get(community), True),
            mc.udp_pkt(ids, mc.HOSP_C, 161, HOSP, 40161, snmp_get(community, response=True), False)]
    return one_alert(c, line, pkts, 0, ev("cleartext_password", protocol="snmp",
                                          method="community", credentials=1, user="",
                                          password="sent in clear (not recorded)"))


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
