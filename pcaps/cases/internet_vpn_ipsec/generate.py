"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    HOSP, HOSP_CODE, PUB_ESP, RULE_VPN, VLAN100, Case, IpIds, Line, esp_pkt, ev, ike_sa_init,
    udp_pkt, write_here)


def build(name: str, line: Line) -> Case:
    c = Case(name, f"The hospital's {HOSP} negotiates IKEv2 (UDP 500) with the public "
                   f"address {PUB_ESP} and then sends IPsec ESP to it (two packets out, one "
                   f"back), {line.describe}. Rule: {RULE_VPN}. Both flows (IKE, ESP) also "
                   f"have a public endpoint, so each raises internet_bound too: four alerts. "
                   f"ESP has no ports; both directions are one flow.")
    ids = IpIds()
    ike = c.send(line, [udp_pkt(ids, HOSP, 500, PUB_ESP, 500, ike_sa_init(False), True),
                        udp_pkt(ids, PUB_ESP, 500, HOSP, 500, ike_sa_init(True), False)])
    esp = c.send(line, [esp_pkt(ids, HOSP, PUB_ESP, 0xC0FFEE01, 1, 120, True),
                        esp_pkt(ids, HOSP, PUB_ESP, 0xC0FFEE01, 2, 88, True),
                        esp_pkt(ids, PUB_ESP, HOSP, 0x0BADF00D, 1, 152, False)])
    for frames, vpn in ((ike, "ipsec-ike"), (esp, "ipsec-esp")):
        c.expect("internet_vpn", "high", line.key, HOSP_CODE, frames,
                 ev("vpn_over_internet", vpn=vpn, public_endpoint=PUB_ESP))
        c.expect("internet_bound", "high", line.key, HOSP_CODE, frames,
                 ev("address_outside_private", outside="dst", address=PUB_ESP))
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
