"""This case's frames and, from the rule, its expected alerts."""

import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import (  # noqa: E402
    GRE_HOSP, HOSP, HOSP_CODE, PLATFORM_B, IpIds, TcpConn, ev, write_here)
from casegen.malicious_link import RULE as RULE_LINK, case as link_case, listed  # noqa: E402
from casegen.remote_control import RULE_IB_NAME, client_hello_sni, expect_public_name  # noqa: E402


def build(name: str, line) -> mc.Case:
    server = "update.malware-cdn.example"
    padding = struct.pack("!HH", 0x0015, 1600) + bytes(1600)      # RFC 7685 padding
    hello = client_hello_sni("pq-hello", server, before=padding)
    cut = 1400
    assert len(hello) > 1800 and hello.index(server.encode()) > cut
    c = link_case(name, f"The hospital's {HOSP} opens TLS to the platform's proxy "
                        f"{PLATFORM_B}:443, {line.describe}, with a ClientHello of "
                        f"{len(hello)} bytes (as browsers send with a post-quantum key share) "
                        f"in two TCP segments: its server name, {server}, lies in the second. "
                        f"malware-cdn.example is listed (high). Rule: {RULE_LINK}; and "
                        f"{RULE_IB_NAME}. A name in a message that spans segments is read when "
                        f"the message is whole, at the segment that completes it. Expected: "
                        f"malicious_link high and internet_bound public_name tls_sni, each for "
                        f"the second segment.")
    conn = TcpConn(IpIds(), HOSP, 51750, PLATFORM_B, 443)
    frames = c.send(line, conn.handshake() + [conn.c2s(hello[:cut], flags="A"),
                                              conn.c2s(hello[cut:])])
    c.send(line, [conn.s2c(b"", flags="A")] + conn.close())
    c.expect("malicious_link", "high", line.key, HOSP_CODE, [frames[4]],
             ev("listed_name", matched="tls_sni", name=server,
                **listed(indicator="malware-cdn.example")))
    expect_public_name(c, line, frames[4], "tls_sni", server)
    return c


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
