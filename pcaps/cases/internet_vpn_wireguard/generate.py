"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    HOSP, HOSP_CODE, PUB_WG, RULE_VPN, VLAN100, WG_DATA, WG_INIT, WG_RESP, Case, IpIds, Line, ev,
    udp_pkt, write_here)


def build(name: str, line: Line) -> Case:
    c = Case(name, f"The hospital's {HOSP} starts WireGuard with the public address "
                   f"{PUB_WG}:51820, {line.describe}: a 148-byte handshake initiation (type 1), "
                   f"the 92-byte response (type 2) and a transport data message (type 4, "
                   f"96 bytes). Rule: {RULE_VPN}. Expected: one internet_vpn alert "
                   f"(wireguard) and one internet_bound alert for the flow, 3 packets each.")
    ids = IpIds()
    frames = c.send(line, [udp_pkt(ids, HOSP, 41820, PUB_WG, 51820, WG_INIT, True),
                           udp_pkt(ids, PUB_WG, 51820, HOSP, 41820, WG_RESP, False),
                           udp_pkt(ids, HOSP, 41820, PUB_WG, 51820, WG_DATA, True)])
    c.expect("internet_vpn", "high", line.key, HOSP_CODE, frames,
             ev("vpn_over_internet", vpn="wireguard", public_endpoint=PUB_WG))
    c.expect("internet_bound", "high", line.key, HOSP_CODE, frames,
             ev("address_outside_private", outside="dst", address=PUB_WG))
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
