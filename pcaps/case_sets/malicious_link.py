"""malicious_link (CQ annex 7) cases: indicators from pcaps/intel/cases.txt matched in a
DNS question (a listed domain's subdomain), an HTTP URL asked of a proxy, and a flow to a
listed network; and look-alikes that must raise nothing. Each inside GRE or L2TP."""
from __future__ import annotations

import make_cases as mc
from make_cases import HOSP, HOSP_CODE, PLATFORM, PLATFORM_B, Case, IpIds, TcpConn, ev
from remote_control import RULE_IB_NAME, dns_to_platform, expect_public_name, opening

INTEL = "../../intel/cases.txt"   # from the case's folder
CONFIG = f'\n[detectors.malicious_link]\npaths = ["{INTEL}"]\n'
RULE = ("malicious_link (CQ annex 7): a DNS question, TLS server name, HTTP Host or URL, or "
        "flow endpoint that an indicator file lists (a domain with every name under it, a "
        "URL with or without its query, an address or network) raises an alert of the "
        "indicator's severity, naming the indicator, its source and its file; one alert per "
        "client and name, or per flow for an endpoint")
LISTED = {"indicator": None, "source": "case-feed", "list": "cases.txt"}


def case(name: str, text: str) -> Case:
    c = Case(name, text)
    c.extra_config = CONFIG
    return c


def listed(**more) -> dict:
    return {**LISTED, **more}


def dns_subdomain(name: str, line) -> Case:
    query = "dl.malware-cdn.example"
    c = case(name, f"The hospital's {HOSP} asks the platform's resolver for {query}, "
                   f"{line.describe}; malware-cdn.example is listed (high). Rule: {RULE}; and "
                   f"{RULE_IB_NAME}. Expected: malicious_link high for the query (a subdomain "
                   f"of the listed domain), and internet_bound public_name for it.")
    ids = IpIds()
    frame = dns_to_platform(c, line, ids, query, 40400, 0x6101)
    c.expect("malicious_link", "high", line.key, HOSP_CODE, [frame],
             ev("listed_name", matched="dns", name=query,
                **listed(indicator="malware-cdn.example")))
    expect_public_name(c, line, frame, "dns", query)
    return c


def http_url(name: str, line) -> Case:
    c = case(name, f"The hospital's {HOSP} asks the platform's proxy {PLATFORM_B}:3128 for "
                   f"http://phish.example/login.php?id=8812, {line.describe}; the URL "
                   f"http://phish.example/login.php is listed (critical). Rule: {RULE}; and "
                   f"{RULE_IB_NAME}. Expected: malicious_link critical for the request (the "
                   f"listed URL without the query), and internet_bound public_name http_host.")
    request = (b"GET http://phish.example/login.php?id=8812 HTTP/1.1\r\nHost: phish.example\r\n"
               b"User-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n")
    frames = opening(c, line, IpIds(), 51300, PLATFORM_B, 3128, request, mc.HTTP_OK)
    c.expect("malicious_link", "critical", line.key, HOSP_CODE, [frames[3]],
             ev("listed_name", matched="http_url", name="phish.example",
                **listed(indicator="phish.example/login.php")))
    expect_public_name(c, line, frames[3], "http_host", "phish.example")
    return c


def listed_network(name: str, line) -> Case:
    server = "203.0.113.77"
    c = case(name, f"The hospital's {HOSP} opens TLS to {server}:443, {line.describe}; "
                   f"203.0.113.64/26 is listed (medium). Rule: {RULE}. The address is also "
                   f"outside the private network: internet_bound raises address_outside_private "
                   f"for the flow. Expected: both, each for every packet of the flow.")
    ids = IpIds()
    frames = c.send(line, mc.tls_session(TcpConn(ids, HOSP, 51400, server, 443), "listed", 1))
    c.expect("malicious_link", "medium", line.key, HOSP_CODE, frames,
             ev("listed_address", matched="dst", address=server,
                **listed(indicator="203.0.113.64/26")))
    c.expect("internet_bound", "high", line.key, HOSP_CODE, frames,
             ev("address_outside_private", outside="dst", address=server))
    return c


def lookalikes(name: str, line) -> Case:
    c = case(name, f"Near misses, {line.describe}, with the same indicators loaded: a query "
                   f"for malware-cdn.example.local (a local name that merely contains the "
                   f"listed domain), the listed URL's path asked of the platform "
                   f"{PLATFORM}:8080 by its own name, and TLS to the platform. No name is "
                   f"under a listed domain, no URL is listed, no address is: no alert.")
    ids = IpIds()
    c.send(line, [mc.udp_pkt(ids, HOSP, 40500, PLATFORM, 53,
                             mc.dns_query("malware-cdn.example.local", 0x6201), True)])
    conn = TcpConn(ids, HOSP, 51500, PLATFORM, 8080)
    c.send(line, conn.handshake() + [conn.c2s(b"GET /login.php HTTP/1.1\r\nHost: 10.200.1.20:8080"
                                              b"\r\n\r\n"), conn.s2c(mc.HTTP_OK)] + conn.close())
    c.send(line, mc.tls_session(TcpConn(ids, HOSP, 51600, PLATFORM, 443), "platform", 1))
    return c


CASES = [
    ("malicious_link_dns_subdomain_in_gre", dns_subdomain, mc.GRE_HOSP),
    ("malicious_link_http_url_in_l2tp", http_url, mc.L2TP_HOSP),
    ("malicious_link_listed_network_in_gre", listed_network, mc.GRE_HOSP),
    ("none_malicious_link_lookalikes_in_l2tp", lookalikes, mc.L2TP_HOSP),
]
