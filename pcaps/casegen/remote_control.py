"""Builders of the remote_control (JL art.28) cases for the tools of the packaged catalogue
(detectors/remote_control.toml): RustDesk by its port and its rendezvous name, AnyDesk by
TLS server name, Sunlogin by DNS, Radmin and TeamViewer by their headers, and look-alikes
that must raise nothing. Each on the hospital's VLAN (what ndpiReader can read: it does not
look inside GRE or L2TP) and in a tunnel."""
from __future__ import annotations

import struct

import casegen as mc
from casegen import HOSP, HOSP_CODE, PLATFORM, Case, IpIds, TcpConn, ev

RULE = ("remote_control (JL art.28): any tool of the catalogue recognised by a protocol "
        "signature (high), by the TLS server name or DNS name of its services (high), or "
        "only by its well-known ports (medium); one alert per flow (per client and name for "
        "names), with the strongest evidence the flow shows")
RULE_IB_NAME = ("internet_bound (JL art.6, art.28): a DNS query, TLS server name or HTTP Host "
                "naming a public service, on a flow between two private ends (a resolver or "
                "proxy reaching the internet for the client), is reported as well")


def client_hello_sni(tag: str, server: str, before: bytes = b"") -> bytes:
    """casegen's TLS 1.3 ClientHello with a server_name extension for `server` first (after
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


RADMIN_HELLO = bytes.fromhex("01000000010000000808")   # the client's first 10 bytes


TEAMVIEWER_HEAD = b"\x17\x24\x0a\x00" + mc.payload("teamviewer", 20)
