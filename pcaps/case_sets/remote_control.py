"""remote_control (JL art.28) cases for the tools of the packaged catalogue
(detectors/remote_control.toml): RustDesk by its port and its rendezvous name, AnyDesk by
TLS server name, Sunlogin by DNS, Radmin and TeamViewer by their headers, and look-alikes
that must raise nothing. Each on the hospital's VLAN (what ndpiReader can read: it does not
look inside GRE or L2TP) and in a tunnel."""
from __future__ import annotations

import struct

import make_cases as mc
from make_cases import HOSP, HOSP_B, HOSP_C, HOSP_CODE, PLATFORM, PLATFORM_B, Case, IpIds, TcpConn, ev

RULE = ("remote_control (JL art.28): any tool of the catalogue recognised by a protocol "
        "signature (high), by the TLS server name or DNS name of its services (high), or "
        "only by its well-known ports (medium); one alert per flow (per client and name for "
        "names), with the strongest evidence the flow shows")
RULE_IB_NAME = ("internet_bound (JL art.6, art.28): a DNS query, TLS server name or HTTP Host "
                "naming a public service, on a flow between two private ends (a resolver or "
                "proxy reaching the internet for the client), is reported as well")


def client_hello_sni(tag: str, server: str, before: bytes = b"") -> bytes:
    """make_cases' TLS 1.3 ClientHello with a server_name extension for `server` first (after
    the extensions `before`, if any)."""
    hello = mc.tls_client_hello(tag)
    pos = 5 + 4 + 2 + 32                                    # record, handshake, version, random
    pos += 1 + hello[pos]                                   # session id
    pos += 2 + struct.unpack("!H", hello[pos:pos + 2])[0]   # cipher suites
    pos += 1 + hello[pos]                                   # compression methods
    ext, host = hello[pos + 2:], server.encode()            # the extensions end the message
    sni = struct.pack("!HHHBH", 0x0000, len(host) + 5, len(host) + 3, 0, len(host)) + host
    body = hello[9:pos] + struct.pack("!H", len(before) + len(sni) + len(ext)) + before + sni + ext
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return hello[:3] + struct.pack("!H", len(hs)) + hs


def dns_to_platform(c: Case, line, ids: IpIds, name: str, sport: int, qid: int) -> int:
    """A query from the hospital to the platform's resolver; its frame number."""
    return c.send(line, [mc.udp_pkt(ids, HOSP, sport, PLATFORM, 53, mc.dns_query(name, qid), True)])[0]


def opening(c: Case, line, ids: IpIds, cport: int, server: str, sport: int, data: bytes,
            reply: bytes) -> list[int]:
    """The hospital's TCP handshake to server:sport, its first message and the reply; the
    frame numbers (the message is the fourth)."""
    conn = TcpConn(ids, HOSP, cport, server, sport)
    return c.send(line, conn.handshake() + [conn.c2s(data), conn.s2c(reply)])


def expect_public_name(c: Case, line, frame: int, source: str, name: str) -> None:
    c.expect("internet_bound", "high", line.key, HOSP_CODE, [frame],
             ev("public_name", name_source=source, name=name))


def rustdesk(name: str, line) -> Case:
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


def anydesk_sni(name: str, line) -> Case:
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


def sunlogin_dns(name: str, line) -> Case:
    server = "client-api-v2.oray.com"
    c = Case(name, f"Sunlogin (向日葵) starting on the hospital's {HOSP} asks the platform's "
                   f"resolver for {server}, {line.describe}. Rule: {RULE}; and {RULE_IB_NAME}. "
                   f"Expected: remote_control high by dns, tool sunlogin, and internet_bound "
                   f"public_name, both for the query.")
    ids = IpIds()
    query = dns_to_platform(c, line, ids, server, 40200, 0x5201)
    c.expect("remote_control", "high", line.key, HOSP_CODE, [query],
             ev("dns", tool="sunlogin", evidence="dns", name=server))
    expect_public_name(c, line, query, "dns", server)
    return c


RADMIN_HELLO = bytes.fromhex("01000000010000000808")   # the client's first 10 bytes


def radmin_signature(name: str, line) -> Case:
    c = Case(name, f"A Radmin viewer on {HOSP} reaches a Radmin server on {HOSP_C} at the "
                   f"non-standard port 14899, {line.describe}: the client's 10-byte opening "
                   f"message, then the server's reply. Rule: {RULE}. Expected: one high "
                   f"alert, evidence signature, whose only violating packet is the opening "
                   f"message (no port of the flow is a tool's).")
    frames = opening(c, line, IpIds(), 50900, HOSP_C, 14899, RADMIN_HELLO, mc.payload("radmin-s", 46))
    c.expect("remote_control", "high", line.key, HOSP_CODE, [frames[3]],
             ev("signature", tool="radmin", evidence="signature"))
    return c


TEAMVIEWER_HEAD = b"\x17\x24\x0a\x00" + mc.payload("teamviewer", 20)


def teamviewer_header(name: str, line) -> Case:
    c = Case(name, f"TeamViewer between two of the hospital's machines, {HOSP} to {HOSP_B} on "
                   f"its port 5938, {line.describe}: the client's command header 0x17 0x24 "
                   f"opens the stream. Rule: {RULE}. The header counts on TeamViewer's own "
                   f"port. Each packet is judged by what it shows, in packet time: the "
                   f"handshake shows only the port (one medium alert, its 3 packets), the "
                   f"header the signature, more severe, so alerted again (high); the reply "
                   f"after it, the port alone, repeats it within the window and is counted "
                   f"with it.")
    frames = opening(c, line, IpIds(), 51000, HOSP_B, 5938, TEAMVIEWER_HEAD,
                     mc.payload("teamviewer-s", 24))
    c.expect("remote_control", "medium", line.key, HOSP_CODE, frames[:3],
             ev("port", tool="teamviewer", evidence="port"))
    c.expect("remote_control", "high", line.key, HOSP_CODE, frames[3:],
             ev("signature", tool="teamviewer", evidence="signature"))
    return c


def lookalikes(name: str, line) -> Case:
    c = Case(name, f"Traffic that resembles the tools but is none of them, {line.describe}: "
                   f"TeamViewer's command header on port 8443 (it counts on TeamViewer's port "
                   f"only); Radmin's opening bytes in an 11-byte message (its message is 10); "
                   f"the RFB banner cut to 11 bytes; a DNS query for anydesk.com.local (a "
                   f"local name that merely starts like AnyDesk's). Every peer is inside the "
                   f"hospital and no port is a tool's: no alert.")
    ids = IpIds()
    for k, (port, data) in enumerate(((8443, TEAMVIEWER_HEAD), (14899, RADMIN_HELLO + b"\x00"),
                                      (15900, mc.RFB_BANNER[:11]))):
        conn = TcpConn(ids, HOSP, 51100 + k, HOSP_C, port)
        c.send(line, conn.handshake() + [conn.c2s(data)] + conn.close())
    c.send(line, [mc.udp_pkt(ids, HOSP, 40300, HOSP_C, 53, mc.dns_query("anydesk.com.local", 0x5301), True)])
    return c


VLAN100, L2TP_HOSP, GRE_HOSP = mc.VLAN100, mc.L2TP_HOSP, mc.GRE_HOSP
CASES = [
    ("remote_control_rustdesk", rustdesk, VLAN100),
    ("remote_control_rustdesk_in_l2tp", rustdesk, L2TP_HOSP),
    ("remote_control_anydesk_sni", anydesk_sni, VLAN100),
    ("remote_control_anydesk_sni_in_gre", anydesk_sni, GRE_HOSP),
    ("remote_control_sunlogin_dns", sunlogin_dns, VLAN100),
    ("remote_control_sunlogin_dns_in_gre", sunlogin_dns, GRE_HOSP),
    ("remote_control_radmin_signature", radmin_signature, VLAN100),
    ("remote_control_radmin_signature_in_l2tp", radmin_signature, L2TP_HOSP),
    ("remote_control_teamviewer_header", teamviewer_header, VLAN100),
    ("remote_control_teamviewer_header_in_gre", teamviewer_header, GRE_HOSP),
    ("none_remote_control_lookalikes", lookalikes, VLAN100),
    ("none_remote_control_lookalikes_in_l2tp", lookalikes, L2TP_HOSP),
]
