"""The demo capture pcaps/demo.pcap: a little day on the edge, with pcaps/example.toml.
Its violations reuse the frames of some cases (their generators under pcaps/cases/)."""
from __future__ import annotations

import sys

from casegen import (BASE_S, HOSP, HOSP_B, HOSP_C, PCAPS, PHARM, PLATFORM, PLATFORM_B, PUB_WEB,
                     STEP_NS, TOWN, TOWN6, VLAN100, LAC_PHARM, WG_INIT, WG_RESP, WG_DATA,
                     HTTP_OK, HTTP_POST, X224_CC, X224_CR, CLINIC, Case, Frame, Gre, IpIds,
                     L2tp, Line, Mpls, Pkt, QinQ, TcpConn, dns_query, generator, tls_session,
                     udp_pkt)
from casegen import hardening


def demo(background: bool = True) -> Case:
    """Legitimate traffic of every institution of example.toml to the platform over its own
    lines through the day, and among it at least one instance of each detector's rule;
    with `background`, also the benign background of pcaps/background/ from 09:00 to 10:00
    (Beijing), which raises nothing."""
    d = Case("demo", "")
    ids = IpIds()
    clock = [BASE_S]
    port = iter(range(52000, 60000))
    hosp_l2tp, pharm_l2tp, pharm_gre = L2tp(7, 2), L2tp(9, 1, lac=LAC_PHARM), Gre(42)
    clinic, town = QinQ(10, 200), Mpls(1000)

    def at(hour: float, line: Line, pkts: list[Pkt]) -> None:
        start = BASE_S + int(hour * 3600) - 8 * 3600     # hour in Beijing time
        assert start >= clock[0], "demo events go forward in time"
        for k, p in enumerate(pkts):
            d.frames.append(Frame(line.frame(p), p, start * 10**9 + k * STEP_NS))
        clock[0] = start + len(pkts)

    def https(src, dst=PLATFORM, n=2):
        return tls_session(TcpConn(ids, src, next(port), dst, 443), f"demo-{len(d.frames)}", n)

    at(8.00, VLAN100, https(HOSP))
    at(8.05, clinic, https(CLINIC))
    at(8.10, town, https(TOWN))
    at(8.15, pharm_l2tp, https(PHARM))
    at(8.20, pharm_gre, https("100.64.17.6", PLATFORM_B))
    at(8.30, hosp_l2tp, https(HOSP_B))
    # internet_bound: a hospital workstation browses a public address
    at(9.12, VLAN100, https("10.1.2.77", PUB_WEB, 1))
    at(9.30, town, https(TOWN6, "fd00:1:4::80"))        # IPv6, inside the township
    # unauthorized_source: a host outside every allocation on the hospital's line
    at(10.03, VLAN100, https("10.1.9.9"))
    # lateral_traffic: the clinic talks to the pharmacy directly
    conn = TcpConn(ids, CLINIC, next(port), PHARM, 8080)
    at(10.40, clinic, conn.handshake() + [conn.c2s(HTTP_POST), conn.s2c(HTTP_OK)] + conn.close())
    at(11.00, VLAN100, https(HOSP, n=3))
    # shared_line (and unauthorized_source): a hospital host on the pharmacy's GRE line
    at(11.20, pharm_gre, https("10.1.2.90"))
    # plaintext_pii: the pharmacy asks the platform for a person's insurance data in clear
    at(11.50, pharm_l2tp, [f.pkt for f in generator("pii_insurance_query_in_l2tp").build(
        "demo", pharm_l2tp).frames])
    at(12.00, pharm_l2tp, https(PHARM))
    # internet_vpn (and internet_bound): WireGuard from the township to the internet
    at(13.05, town, [udp_pkt(ids, TOWN, 41820, "198.51.100.60", 51820, WG_INIT, True),
                     udp_pkt(ids, "198.51.100.60", 51820, TOWN, 41820, WG_RESP, False),
                     udp_pkt(ids, TOWN, 41820, "198.51.100.60", 51820, WG_DATA, True)])
    at(14.00, clinic, https(CLINIC))
    # remote_control: RDP inside the hospital
    conn = TcpConn(ids, HOSP, next(port), HOSP_C, 3389)
    at(14.30, VLAN100, conn.handshake() + [conn.c2s(X224_CR), conn.s2c(X224_CC)] + conn.close())
    at(15.00, hosp_l2tp, https(HOSP_B))
    # cleartext_credentials: a hospital host logs in to the platform's FTP server in clear
    at(15.30, hosp_l2tp, [f.pkt for f in generator("cred_ftp_in_l2tp").build(
        "demo", hosp_l2tp).frames])
    at(16.00, town, https(TOWN))
    # malicious_link (and internet_bound by name): a hospital host asks the platform's
    # resolver for a host under a domain of the demo's indicator file (pcaps/intel/demo.txt)
    at(16.30, VLAN100, [udp_pkt(ids, HOSP, 53111, "10.200.0.53", 53,
                                dns_query("cdn7.malware-cdn.example", 0x6D01), True)])
    # tunnel_evasion: a workstation hides HTTPS in eight GRE tunnels nested between two of
    # the hospital's own hosts, past what the decoder can see through
    at(16.45, VLAN100, nested_past_the_limit(
        tls_session(TcpConn(ids, "10.1.2.78", next(port), PUB_WEB, 443), "demo-nest", 1)))
    at(17.30, VLAN100, https(HOSP))
    if background:
        d.frames = sorted(d.frames + background_hour(BASE_S + 3600), key=lambda f: f.ts_ns)
    return d


def nested_past_the_limit(pkts: list[Pkt]) -> list[Pkt]:
    """The packets inside eight nested GRE tunnels (casegen/hardening.py)."""
    out = []
    for p in pkts:
        ip, _ = hardening.nest(p, 8)
        out.append(Pkt(ip, p.outbound, p.src, p.dst, p.proto, p.sport, p.dport))
    return out


def background_hour(start_s: int) -> list[Frame]:
    """An hour of pcaps/background/'s benign background from start_s."""
    folder = str(PCAPS / "background")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import make_background
    return make_background.hour_frames(start_s)
