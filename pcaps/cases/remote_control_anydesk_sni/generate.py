"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import HOSP, HOSP_CODE, PLATFORM_B, VLAN100, Case, IpIds, ev, write_here  # noqa: E402
from casegen.remote_control import (  # noqa: E402
    RULE, RULE_IB_NAME, client_hello_sni, expect_public_name, opening)


def build(name: str, line) -> Case:
    server = "relay-7f3a21c4.net.anydesk.com"
    c = Case(name, f"The hospital's {HOSP} opens TLS through the platform's transparent proxy "
                   f"{PLATFORM_B}:443, {line.describe}; its ClientHello asks for the AnyDesk "
                   f"relay {server}. Rule: {RULE}; and {RULE_IB_NAME}. Expected: remote_control "
                   f"high by tls_sni and internet_bound public_name, each for the ClientHello "
                   f"alone (the only packet of the flow that shows the tool).")
    frames = opening(c, line, IpIds(), 50800, PLATFORM_B, 443, client_hello_sni("anydesk", server),
                     mc.tls_server_hello("anydesk"))
    c.expect("remote_control", "high", line.key, HOSP_CODE, [frames[3]],
             ev("tls_sni", tool="anydesk", evidence="tls_sni", name=server))
    expect_public_name(c, line, frames[3], "tls_sni", server)
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
