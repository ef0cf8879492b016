"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import (  # noqa: E402
    HOSP, HOSP_C, HOSP_CODE, VLAN100, Case, IpIds, TcpConn, ev, write_here)
from casegen.remote_control import (  # noqa: E402
    RULE, RULE_IB_NAME, dns_to_platform, expect_public_name)


def build(name: str, line) -> Case:
    server = "rs-ny.rustdesk.com"
    c = Case(name, f"The hospital's {HOSP} asks the platform's resolver for RustDesk's public "
                   f"rendezvous server {server}, then opens TCP to a RustDesk server run on "
                   f"{HOSP_C}:21116 (the rendezvous port), {line.describe}, and exchanges a "
                   f"few bytes. Rule: {RULE}; and {RULE_IB_NAME}. Expected: remote_control "
                   f"high by DNS for the query; remote_control medium by port for every "
                   f"packet of the TCP flow (no signature, no name in it); internet_bound "
                   f"for the public name.")
    ids = IpIds()
    query = dns_to_platform(c, line, ids, server, 40100, 0x5101)
    conn = TcpConn(ids, HOSP, 50700, HOSP_C, 21116)
    frames = c.send(line, conn.handshake() + [conn.c2s(mc.payload("rustdesk-c", 64)),
                                              conn.s2c(mc.payload("rustdesk-s", 48))] + conn.close())
    c.expect("remote_control", "high", line.key, HOSP_CODE, [query],
             ev("dns", tool="rustdesk", evidence="dns", name=server))
    expect_public_name(c, line, query, "dns", server)
    c.expect("remote_control", "medium", line.key, HOSP_CODE, frames,
             ev("port", tool="rustdesk", evidence="port"))
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
