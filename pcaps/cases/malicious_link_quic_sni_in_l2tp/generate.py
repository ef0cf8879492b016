"""This case's frames and, from the rule, its expected alerts."""

import base64
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import (  # noqa: E402
    HOSP, HOSP_CODE, L2TP_HOSP, PLATFORM_B, IpIds, ev, udp_pkt, write_here)
from casegen.malicious_link import RULE as RULE_LINK, case as link_case, listed  # noqa: E402
from casegen.remote_control import RULE_IB_NAME, expect_public_name  # noqa: E402

SERVER = "update.malware-cdn.example"
# The first datagram of an HTTP/3 client, made once by aioquic 1.7.2 (an independent QUIC
# implementation): QuicConnection(QuicConfiguration(is_client=True, server_name=SERVER,
# alpn_protocols=["h3"])).connect(...), datagrams_to_send(). Kept as made: a new one would
# differ in every byte (random connection IDs and keys), and the case is remade byte for
# byte.
INITIAL = base64.b64decode(
    "wgAAAAEIaW6HiTyrI0AIY6EGwnOHo9QAQf0+nXx6C02CNXtZI+DN1sM9LROCuo1Y/trEY+4GGb4crCeweHOOTK0H"
    "IUodqG9DwKNv8/C+HCU1KsUT2GjbvjfSCwPs/0OZxsO4f/Lj2e9BnDIgOrYTPteeOmnrS/cQP8hnD91HMgC/ttRM"
    "BkyiXvdrVtSVQbvGOH4QD3u36Rr/6ZfdzxypY0x7W4NH9YuuHrfzQgwg0AwJ6jsqGAgV0NKagDfaUMJeE7qdSk/d"
    "HgoqfYqZVTA/kf7SUMVeBXGWWjXRUAmk3OwPg6iQEue4cugN6XGs0Rjpdn9DO5dUqXCAzfPSKsSxsxOX1xF3xkYl"
    "BdW4DJJQYTelPEnCVMhMT8PYyRiFKStiUs8XRLDfZ5t2GandSNmvApJyR+AwcEzz8hsHAecIMgkcUKpb0kWwKhCb"
    "cx1TdsC2iojmv+nLXZwY8E/99vxZV1vP2uFHMFn87nDG3d45S2ETMGRGjTvWhFqcAnhnubCXcvkhjp1r4GhQWr8N"
    "ehoxozrtPrBPX/48YRGD3zMzTQGdqxNftZbIIKnN379WcOmuxupKNdwAwb79CYo9R6k0G4fyrI0KhkoU9oEHUvi0"
    "jqEs0cVbv+WXXubjvXmJu8YJMz32QKYcqqsa++BKmPaLfLbctxemuMeX8QhQF3hcSpI6LNO79pLINYvI018dfyXK"
    "QFF8azg+jA=="
) + bytes(665)   # the datagram's padding after the packet


def build(name: str, line) -> mc.Case:
    c = link_case(name, f"The hospital's {HOSP} opens HTTP/3 (QUIC v1) to the platform's "
                        f"proxy {PLATFORM_B}:443, {line.describe}: its first datagram (1 200 "
                        f"bytes, made by aioquic) is an Initial packet whose ClientHello names "
                        f"{SERVER}. Initial packets are protected with keys derived from the "
                        f"connection ID the client chose, which anyone can derive (RFC 9001 "
                        f"5), so the name is as readable as in TLS over TCP. "
                        f"malware-cdn.example is listed (high). Rule: {RULE_LINK}; and "
                        f"{RULE_IB_NAME}. Expected: malicious_link high and internet_bound "
                        f"public_name tls_sni, each for the Initial datagram.")
    ids = IpIds()
    frames = c.send(line, [udp_pkt(ids, HOSP, 50443, PLATFORM_B, 443, INITIAL, True),
                           udp_pkt(ids, PLATFORM_B, 443, HOSP, 50443, bytes(40), False)])
    c.expect("malicious_link", "high", line.key, HOSP_CODE, [frames[0]],
             ev("listed_name", matched="tls_sni", name=SERVER,
                **listed(indicator="malware-cdn.example")))
    expect_public_name(c, line, frames[0], "tls_sni", SERVER)
    return c


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
