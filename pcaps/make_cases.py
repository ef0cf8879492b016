#!/usr/bin/env python3
"""Make the detector cases under pcaps/cases/, in the style of suricata-verify, and the
demo capture pcaps/demo.pcap.

Each case is a folder NAME/ with
  input.pcap      the frames (built here with scapy; written byte by byte);
  config.toml     a small self-contained configuration (DESIGN.md format);
  expected.jsonl  the alerts the rules call for, one JSON object a line (empty: none);
  README.md       what the case shows and which rule applies.

The expected alerts are written BY HAND FROM THE RULE in each case's definition below:
which detector fires, with which severity, institution and evidence, and which frames are
the violating packets of each alerted flow. The fields the rule leaves to construction
(addresses, ports, protocol, frame numbers, packet and byte counts) are taken from the
frames this script itself built — never from the sensor's output.

How the rules group packets into alerts (sensor/alerting.py, detectors/*.py): one alert per
detector and flow (both directions are one flow; a flow lives on one access line) per
dedup window (in packet time; a more severe packet is alerted again), or per line for
shared_line; `packets` counts the violating packets of that flow in the batch from the alert
up to the flow's next one (every case here is one batch), `first_frame` is the first, and
src/dst/ports are that first packet's. `institution` is the line's owner where the line is
configured, else the source's owner, else the destination's (unless the rule names it:
lateral_traffic names the source's owner, unauthorized_source the line's).

Every case also travels inside a tunnel (L2TPv2/PPP or GRE with a key), as carriers deliver
VPDN traffic: either the case's traffic is tunnelled, or a variant NAME_in_l2tp /
NAME_in_gre carries the same packets that way.

Deterministic: fixed timestamps, MAC addresses, IP ids, TCP sequence numbers and payloads
(payload bytes come from a seeded hash chain), so a rerun writes identical files
(tests/test_cases.py checks).

    python pcaps/make_cases.py [OUTDIR] [--demo PATH]

OUTDIR defaults to pcaps/cases; the demo goes to pcaps/demo.pcap by default, or to
OUTDIR/demo.pcap when OUTDIR is given.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import shutil
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from ybsensor.core.community_id import community_id as _community_id  # noqa: E402  (spec-tested)
from make_samples import payload as sample_payload  # noqa: E402  (pcaps/, beside this script)

BASE_S = 1735776000          # 2025-01-02 00:00:00 UTC, 08:00 in Beijing
STEP_NS = 10_000_000         # 10 ms between the frames of a case
SEED = b"ybsensor-cases-1"

# ---------------------------------------------------------------------------------------
# the address plan of every case (as pcaps/example.toml, plus a GRE key per institution
# and the platform's IPv6 prefix)

HOSP_CODE, PHARM_CODE, CLINIC_CODE, TOWN_CODE = \
    "H22010200001", "P22010200017", "H22010200002", "H22010200003"

CASE_PLAN = f"""\
[network]
private  = ["10.0.0.0/8", "100.64.0.0/10", "fd00::/8"]
platform = ["10.200.0.0/16", "fd00:200::/48"]

[[institution]]
code   = "{HOSP_CODE}"
name   = "Example Hospital"
ranges = ["10.1.2.0/24"]
lines  = ["vlan:100", "l2tp:7/*", "gre:41"]
access = "dedicated"

[[institution]]
code   = "{PHARM_CODE}"
name   = "Example Pharmacy"
ranges = ["100.64.17.0/24"]
lines  = ["l2tp:9/*", "gre:42"]
access = "vpdn"

[[institution]]
code   = "{CLINIC_CODE}"
name   = "Example Clinic"
ranges = ["10.1.3.0/24"]
lines  = ["qinq:10.200", "gre:43"]
access = "dedicated"

[[institution]]
code   = "{TOWN_CODE}"
name   = "Example Township Health Centre"
ranges = ["10.1.4.0/24", "fd00:1:4::/48"]
lines  = ["mpls:1000", "gre:44"]
access = "dedicated"
"""

HOSP, HOSP_B, HOSP_C, HOSP_D = "10.1.2.10", "10.1.2.20", "10.1.2.50", "10.1.2.60"
CLINIC = "10.1.3.20"
TOWN, TOWN6 = "10.1.4.30", "fd00:1:4::30"
PHARM = "100.64.17.5"
UNALLOCATED = "10.9.9.9"                 # private, in no allocation
PLATFORM, PLATFORM_B, PLATFORM6 = "10.200.1.20", "10.200.1.21", "fd00:200::20"
PUB_WEB, PUB_PING, PUB_WEB6 = "203.0.113.5", "198.51.100.7", "2001:db8:100::80"
PUB_ESP, PUB_WG = "203.0.113.40", "203.0.113.50"
PUB_LAC, PUB_LNS, PUB_GRE = "203.0.113.20", "198.51.100.30", "198.51.100.31"
# carrier tunnel endpoints (private, in no allocation): LAC side, LNS / PE side
LAC_HOSP, LAC_PHARM, LNS = "10.254.7.1", "10.254.9.1", "10.254.0.2"
GRE_CPE = {41: "10.254.41.1", 42: "10.254.42.1", 43: "10.254.43.1", 44: "10.254.44.1",
           99: "10.254.99.1"}
GRE_PE = "10.254.0.3"

MAC_CPE = "00:1b:21:3a:4f:01"    # institution's router / the LAC
MAC_PE = "00:25:90:aa:bb:02"     # carrier edge router / the LNS

ET_IPV4, ET_IPV6, ET_VLAN, ET_QINQ, ET_MPLS = 0x0800, 0x86DD, 0x8100, 0x88A8, 0x8847
PPP_IPV4, PPP_IPV6, PPP_LCP, PPP_IPCP = 0x0021, 0x0057, 0xC021, 0x8021
P_ICMP, P_TCP, P_UDP, P_ESP = 1, 6, 17, 50
L2TP_PORT = 1701


def payload(tag: str, n: int) -> bytes:
    """n deterministic pseudo-random bytes named by tag (the samples' chain, our seed)."""
    return sample_payload(tag, n, SEED)


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def is6(a: str) -> bool:
    return ":" in a


# ---------------------------------------------------------------------------------------
# inner packets: what an institution's host and its peers send

@dataclass
class Pkt:
    """One inner IP packet and which way it goes (outbound: from the institution side)."""
    ip: bytes
    outbound: bool
    src: str
    dst: str
    proto: int
    sport: int | None
    dport: int | None


class IpIds:
    def __init__(self):
        self.next = 0x3000

    def __call__(self) -> int:
        self.next += 1
        return self.next


def ip_packet(ids: IpIds, src, dst, inner, proto=None) -> bytes:
    if is6(src):
        return bytes(IPv6(src=src, dst=dst, hlim=64, **({"nh": proto} if proto else {})) / inner)
    return bytes(IP(src=src, dst=dst, id=ids(), ttl=64, **({"proto": proto} if proto else {}))
                 / inner)


class TcpConn:
    """A TCP connection from client to server, with sequence numbers kept."""

    def __init__(self, ids: IpIds, client, cport, server, sport, client_outbound=True):
        self.ids, self.c, self.cp, self.s, self.sp = ids, client, cport, server, sport
        self.out = client_outbound
        self.cseq, self.sseq = 0x1000_0000 + cport, 0x2000_0000 + sport

    def _pkt(self, from_client: bool, flags: str, data: bytes = b"") -> Pkt:
        if from_client:
            src, sp, dst, dp, seq, ack = self.c, self.cp, self.s, self.sp, self.cseq, self.sseq
        else:
            src, sp, dst, dp, seq, ack = self.s, self.sp, self.c, self.cp, self.sseq, self.cseq
        seg = TCP(sport=sp, dport=dp, flags=flags, seq=seq, ack=ack if "A" in flags else 0,
                  window=64240) / Raw(data)
        adv = len(data) + (1 if ("S" in flags or "F" in flags) else 0)
        if from_client:
            self.cseq += adv
        else:
            self.sseq += adv
        return Pkt(ip_packet(self.ids, src, dst, seg), self.out == from_client, src, dst,
                   P_TCP, sp, dp)

    def handshake(self) -> list[Pkt]:
        return [self._pkt(True, "S"), self._pkt(False, "SA"), self._pkt(True, "A")]

    def c2s(self, data: bytes = b"", flags: str = "PA") -> Pkt:
        return self._pkt(True, flags, data)

    def s2c(self, data: bytes = b"", flags: str = "PA") -> Pkt:
        return self._pkt(False, flags, data)

    def close(self) -> list[Pkt]:
        return [self._pkt(True, "FA"), self._pkt(False, "FA"), self._pkt(True, "A")]


def udp_pkt(ids, src, sport, dst, dport, data: bytes, outbound: bool) -> Pkt:
    return Pkt(ip_packet(ids, src, dst, UDP(sport=sport, dport=dport) / Raw(data)), outbound,
               src, dst, P_UDP, sport, dport)


def dns_query(name: str, qid: int) -> bytes:
    """A DNS query (RD set) for name's A record."""
    labels = b"".join(bytes([len(x)]) + x.encode() for x in name.split("."))
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\x00" + struct.pack("!HH", 1, 1)


def esp_pkt(ids, src, dst, spi: int, seq: int, n: int, outbound: bool) -> Pkt:
    body = struct.pack("!II", spi, seq) + payload(f"esp-{spi}-{seq}", n)
    return Pkt(ip_packet(ids, src, dst, Raw(body), proto=P_ESP), outbound, src, dst, P_ESP,
               None, None)


def icmp_echo(ids, src, dst, reply: bool, seq: int, outbound: bool) -> Pkt:
    msg = ICMP(type=0 if reply else 8, code=0, id=0x2B1, seq=seq) / Raw(payload(f"ping{seq}", 32))
    return Pkt(ip_packet(ids, src, dst, msg), outbound, src, dst, P_ICMP, None, None)


# application payloads ------------------------------------------------------------------

def tls_client_hello(tag: str) -> bytes:
    """A TLS 1.3 ClientHello with no server_name (the client connects to an IP address,
    and RFC 6066 3 puts no IP literal in SNI)."""
    ciphers = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030]
    key = payload(tag + "-key", 32)
    ext = (struct.pack("!HHB", 0x002B, 5, 4) + struct.pack("!HH", 0x0304, 0x0303)   # versions
           + struct.pack("!HHH", 0x000A, 6, 4) + struct.pack("!HH", 0x001D, 0x0017)  # groups
           + struct.pack("!HHH", 0x000D, 8, 6) + struct.pack("!HHH", 0x0403, 0x0804, 0x0401)
           + struct.pack("!HHHHH", 0x0033, 38, 36, 0x001D, 32) + key)               # key share
    body = (struct.pack("!H", 0x0303) + payload(tag + "-random", 32)
            + b"\x20" + payload(tag + "-sid", 32)
            + struct.pack("!H", 2 * len(ciphers)) + b"".join(struct.pack("!H", c) for c in ciphers)
            + b"\x01\x00" + struct.pack("!H", len(ext)) + ext)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def tls_server_hello(tag: str) -> bytes:
    ext = (struct.pack("!HHH", 0x002B, 2, 0x0304)
           + struct.pack("!HHHH", 0x0033, 36, 0x001D, 32) + payload(tag + "-skey", 32))
    body = (struct.pack("!H", 0x0303) + payload(tag + "-srandom", 32)
            + b"\x20" + payload(tag + "-sid", 32) + struct.pack("!HB", 0x1301, 0)
            + struct.pack("!H", len(ext)) + ext)
    hs = b"\x02" + len(body).to_bytes(3, "big") + body
    return (b"\x16\x03\x03" + struct.pack("!H", len(hs)) + hs
            + b"\x14\x03\x03\x00\x01\x01")                       # ChangeCipherSpec


def tls_app_data(tag: str, n: int) -> bytes:
    return b"\x17\x03\x03" + struct.pack("!H", n) + payload(tag, n)


def tls_session(conn: TcpConn, tag: str, exchanges: int = 2) -> list[Pkt]:
    pkts = conn.handshake() + [conn.c2s(tls_client_hello(tag)), conn.s2c(tls_server_hello(tag))]
    for k in range(exchanges):
        pkts += [conn.c2s(tls_app_data(f"{tag}-c{k}", 180 + 16 * k)),
                 conn.s2c(tls_app_data(f"{tag}-s{k}", 420 + 16 * k))]
    return pkts + conn.close()


# RDP: TPKT (version 3) + X.224 Connection Request (0xE0) + routing cookie + RDP_NEG_REQ
_X224_CR_BODY = b"\x00\x00\x00\x00\x00" + b"Cookie: mstshash=ws0107\r\n" + \
    struct.pack("<BBHI", 1, 0, 8, 3)
X224_CR = struct.pack("!BBH", 3, 0, 4 + 2 + len(_X224_CR_BODY)) + \
    struct.pack("!BB", 1 + len(_X224_CR_BODY), 0xE0) + _X224_CR_BODY
# X.224 Connection Confirm (0xD0) with RDP_NEG_RSP (TLS selected)
_X224_CC_BODY = b"\x00\x00\x12\x34\x00" + struct.pack("<BBHI", 2, 0, 8, 1)
X224_CC = struct.pack("!BBH", 3, 0, 4 + 2 + len(_X224_CC_BODY)) + \
    struct.pack("!BB", 1 + len(_X224_CC_BODY), 0xD0) + _X224_CC_BODY
RFB_BANNER = b"RFB 003.008\n"

# WireGuard (whitepaper 5.4): handshake initiation 148 bytes, response 92, transport data
WG_INIT = b"\x01\x00\x00\x00" + payload("wg-init", 144)
WG_RESP = b"\x02\x00\x00\x00" + payload("wg-resp", 88)
WG_DATA = b"\x04\x00\x00\x00" + payload("wg-data", 12 + 80)   # 96 bytes: 16 + 16 * 5

# IKEv2 IKE_SA_INIT (RFC 7296 3.1): SPIs, next payload SA (33), version 2.0, exchange 34
def ike_sa_init(response: bool) -> bytes:
    spi_i, spi_r = bytes.fromhex("5a17c0ffee000001"), bytes(8) if not response else \
        bytes.fromhex("6b28d1aabb000002")
    body = payload("ike-resp" if response else "ike-init", 220)
    flags = 0x20 if response else 0x08
    return spi_i + spi_r + struct.pack("!BBBBII", 33, 0x20, 34, flags, 0, 28 + len(body)) + body


HTTP_POST = (b"POST /api/fsi/settle HTTP/1.1\r\nHost: 10.200.1.20:8080\r\n"
             b"Content-Type: application/json\r\nContent-Length: 19\r\n\r\n"
             b"{\"infno\":\"2207\"}\r\n\r\n")
HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


# ---------------------------------------------------------------------------------------
# access lines: how a packet reaches the edge

def eth(etype: int, outbound: bool) -> bytes:
    a, b = (MAC_PE, MAC_CPE) if outbound else (MAC_CPE, MAC_PE)
    return mac(a) + mac(b) + struct.pack("!H", etype)


def outer_id(inner: bytes) -> int:
    """The outer IP id of a tunnelled packet: from its contents, so the same packet gets
    the same id whichever case sends it first."""
    return zlib.crc32(inner) & 0xFFFF


def ip_etype(ip: bytes) -> int:
    return ET_IPV6 if ip[0] >> 4 == 6 else ET_IPV4


class Line:
    key = ""
    describe = ""

    def frame(self, p: Pkt) -> bytes:
        raise NotImplementedError


class Vlan(Line):
    def __init__(self, vid):
        self.vid, self.key, self.describe = vid, f"vlan:{vid}", f"on 802.1Q VLAN {vid}"

    def frame(self, p):
        return eth(ET_VLAN, p.outbound) + struct.pack("!HH", self.vid, ip_etype(p.ip)) + p.ip


class QinQ(Line):
    def __init__(self, outer, inner):
        self.tags, self.key = (outer, inner), f"qinq:{outer}.{inner}"
        self.describe = f"on QinQ (802.1ad {outer}, 802.1Q {inner})"

    def frame(self, p):
        return (eth(ET_QINQ, p.outbound) + struct.pack("!HH", self.tags[0], ET_VLAN)
                + struct.pack("!HH", self.tags[1], ip_etype(p.ip)) + p.ip)


class Mpls(Line):
    def __init__(self, label):
        self.label, self.key, self.describe = label, f"mpls:{label}", f"on MPLS label {label}"

    def frame(self, p):
        return eth(ET_MPLS, p.outbound) + struct.pack("!I", (self.label << 12) | 0x100 | 64) + p.ip


class L2tp(Line):
    """L2TPv2 data over UDP 1701 between a LAC and an LNS, PPP (FF 03) inside. Both
    directions carry the same tunnel and session ids here."""

    def __init__(self, tunnel, session, lac=LAC_HOSP, lns=LNS):
        self.t, self.s, self.lac, self.lns = tunnel, session, lac, lns
        self.key = f"l2tp:{tunnel}/{session}"
        self.describe = (f"in L2TPv2 tunnel {tunnel} session {session} (PPP) between "
                         f"{lac} and {lns}")

    def outer(self, outbound: bool, body: bytes) -> bytes:
        src, dst = (self.lac, self.lns) if outbound else (self.lns, self.lac)
        return eth(ET_IPV4, outbound) + bytes(
            IP(src=src, dst=dst, id=outer_id(body), ttl=64)
            / UDP(sport=L2TP_PORT, dport=L2TP_PORT) / Raw(body))

    def data(self, outbound: bool, ppp_proto: int, inner: bytes, session=None) -> bytes:
        hdr = struct.pack("!HHH", 0x0002, self.t, self.s if session is None else session)
        return self.outer(outbound, hdr + b"\xff\x03" + struct.pack("!H", ppp_proto) + inner)

    def frame(self, p):
        return self.data(p.outbound, PPP_IPV6 if p.ip[0] >> 4 == 6 else PPP_IPV4, p.ip)

    def control(self, outbound: bool, tunnel: int, session: int, ns: int, nr: int,
                msg_type: int | None, *avps: bytes) -> bytes:
        """A control message (T, L and S bits; ZLB without a type) holding `avps`."""
        body = (l2tp_avp(0, struct.pack("!H", msg_type)) if msg_type is not None else b"") + \
            b"".join(avps)
        hdr_len = 12
        return self.outer(outbound, struct.pack("!HHHHHH", 0xC802, hdr_len + len(body), tunnel,
                                                session, ns, nr) + body)


def l2tp_avp(attr: int, value: bytes) -> bytes:
    """An L2TP AVP, mandatory bit set, IETF vendor."""
    return struct.pack("!HHH", 0x8000 | (6 + len(value)), 0, attr) + value


class Gre(Line):
    """GRE version 0 with a key, between the institution's router and the carrier's PE."""

    def __init__(self, key, cpe=None, pe=GRE_PE):
        self.k, self.cpe, self.pe = key, cpe or GRE_CPE[key], pe
        self.key = f"gre:{key}"
        self.describe = f"in GRE with key {key} between {self.cpe} and {pe}"

    def frame(self, p):
        src, dst = (self.cpe, self.pe) if p.outbound else (self.pe, self.cpe)
        gre = struct.pack("!HHI", 0x2000, ip_etype(p.ip), self.k)
        return eth(ET_IPV4, p.outbound) + bytes(
            IP(src=src, dst=dst, id=outer_id(p.ip), ttl=64, proto=47) / Raw(gre + p.ip))


# ---------------------------------------------------------------------------------------
# a capture and its expected alerts

@dataclass
class Frame:
    data: bytes
    pkt: Pkt | None               # the inner packet (None: tunnel signalling)
    ts_ns: int | None = None      # default: the case's clock, STEP_NS apart


@dataclass
class Case:
    name: str
    readme: str
    frames: list[Frame] = field(default_factory=list)
    expected: list[dict] = field(default_factory=list)
    dedup_seconds: int = 300
    start_s: int = BASE_S
    known_issue: str = ""         # where the sensor is known to disagree with the rule

    def send(self, line: Line, pkts: list[Pkt]) -> list[int]:
        """Append the packets as frames on `line`; their frame numbers (1-based)."""
        numbers = []
        for p in pkts:
            self.frames.append(Frame(line.frame(p), p))
            numbers.append(len(self.frames))
        return numbers

    def raw(self, data: bytes) -> int:
        self.frames.append(Frame(data, None))
        return len(self.frames)

    def expect(self, detector: str, severity: str, line: str, institution: str | None,
               frames: list[int], evidence: dict) -> None:
        """One alert: the violating frames of one flow (or line) are `frames`; the alert
        shows the first of them."""
        first = self.frames[min(frames) - 1].pkt
        proto_ports = (first.sport, first.dport) if first.proto in (P_TCP, P_UDP) else (None, None)
        self.expected.append({
            "detector": detector, "severity": severity, "line": line,
            "institution": institution, "src": first.src, "dst": first.dst,
            "proto": first.proto, "sport": proto_ports[0], "dport": proto_ports[1],
            "community_id": community_id(first),
            "packets": len(frames), "bytes": sum(len(self.frames[f - 1].data) for f in frames),
            "first_frame": min(frames), "evidence": evidence,
        })


def community_id(p: Pkt) -> str:
    src, dst = ipaddress.ip_address(p.src).packed, ipaddress.ip_address(p.dst).packed
    if p.proto == P_ICMP:   # type and code stand for the ports
        icmp = IP(p.ip)[ICMP]
        return _community_id(src, dst, P_ICMP, int(icmp.type), int(icmp.code))
    return _community_id(src, dst, p.proto, p.sport, p.dport)


def ev(reason: str, **more) -> dict:
    return {"reason": reason, **more}


# ---------------------------------------------------------------------------------------
# the cases. Each builder takes the case name and the line to deliver on; variants in
# tunnels reuse it with an L2TP or GRE line.

VLAN100, L2TP_HOSP, GRE_HOSP = Vlan(100), L2tp(7, 3), Gre(41)
RULE_IB = ("internet_bound (JL art.6, art.28; CQ §2(1), §2(2), annex 1): a flow whose inner "
           "endpoint lies outside `network.private` breaks it; one alert per flow, both "
           "directions counted, the institution being the line's owner where the line is "
           "configured, else the source's, else the destination's")


def internet_bound_dedicated(name: str, line: Line) -> Case:
    c = Case(name, f"A hospital workstation ({HOSP}) opens HTTPS (a TLS ClientHello with no "
                   f"server name) straight to the public address {PUB_WEB}, {line.describe} "
                   f"— the hospital's own line. Rule: {RULE_IB}. Expected: one high "
                   f"internet_bound alert for the flow, all its packets, naming {PUB_WEB}.")
    ids = IpIds()
    frames = c.send(line, tls_session(TcpConn(ids, HOSP, 51000, PUB_WEB, 443), "ib1"))
    c.expect("internet_bound", "high", line.key, HOSP_CODE, frames,
             ev("address_outside_private", outside="dst", address=PUB_WEB))
    return c


def internet_bound_vpdn_l2tp(name: str, line: Line) -> Case:
    c = Case(name, f"A pharmacy terminal ({PHARM}) on wireless VPDN pings the public address "
                   f"{PUB_PING} twice, {line.describe}. Rule: {RULE_IB}. ICMP echo request "
                   f"and reply are one flow. Expected: one high internet_bound alert, 4 "
                   f"packets, institution the pharmacy (owner of l2tp:9/*).")
    ids = IpIds()
    pkts = []
    for seq in (1, 2):
        pkts += [icmp_echo(ids, PHARM, PUB_PING, False, seq, True),
                 icmp_echo(ids, PUB_PING, PHARM, True, seq, False)]
    frames = c.send(line, pkts)
    c.expect("internet_bound", "high", line.key, PHARM_CODE, frames,
             ev("address_outside_private", outside="dst", address=PUB_PING))
    return c


def internet_bound_ipv6(name: str, line: Line) -> Case:
    c = Case(name, f"The township health centre's IPv6 host {TOWN6} opens HTTPS to the "
                   f"public IPv6 address {PUB_WEB6}, {line.describe}. Rule: {RULE_IB}; "
                   f"IPv6 is first-class. Expected: one high internet_bound alert for the flow.")
    ids = IpIds()
    frames = c.send(line, tls_session(TcpConn(ids, TOWN6, 52000, PUB_WEB6, 443), "ib6"))
    c.expect("internet_bound", "high", line.key, TOWN_CODE, frames,
             ev("address_outside_private", outside="dst", address=PUB_WEB6))
    return c


def internet_bound_inbound_first(name: str, line: Line) -> Case:
    c = Case(name, f"The capture starts mid-flow: the first frame is the public server "
                   f"{PUB_WEB} answering the hospital host {HOSP}, {line.describe}, a line "
                   f"no institution is configured for. Rule: {RULE_IB}. The line has no "
                   f"owner and the first packet's source is public, so the institution is "
                   f"the destination's owner, the hospital; the outside end is the source.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 51010, PUB_WEB, 443)
    conn.handshake()                       # not captured
    frames = c.send(line, [conn.s2c(tls_app_data("mid-s0", 900)),
                           conn.c2s(b"", flags="A"),
                           conn.s2c(tls_app_data("mid-s1", 700)),
                           conn.c2s(tls_app_data("mid-c1", 60))])
    c.expect("internet_bound", "high", line.key, HOSP_CODE, frames,
             ev("address_outside_private", outside="src", address=PUB_WEB))
    return c


RULE_US = ("unauthorized_source (JL art.15): a private source address in no allocation, or "
           "in the allocation of an institution other than the line's owner (unless addressed "
           "to the line's owner), breaks it; platform and public sources are not its concern, "
           "so the platform's replies do not count; the institution is the line's owner")


def unauthorized_unallocated(name: str, line: Line) -> Case:
    c = Case(name, f"A host with the private address {UNALLOCATED}, which no allocation "
                   f"holds, talks to the platform ({PLATFORM}) over HTTPS {line.describe}, "
                   f"a hospital line. Rule: {RULE_US}. Expected: one high alert; its packets "
                   f"are the ones {UNALLOCATED} sent, not the platform's replies.")
    ids = IpIds()
    conn = TcpConn(ids, UNALLOCATED, 40001, PLATFORM, 443)
    pkts = tls_session(conn, "us1", exchanges=1)
    frames = c.send(line, pkts)
    sent = [f for f, p in zip(frames, pkts) if p.src == UNALLOCATED]
    c.expect("unauthorized_source", "high", line.key, HOSP_CODE, sent,
             ev("unallocated", source="in no allocation"))
    return c


def unauthorized_foreign(name: str, line: Line) -> Case:
    c = Case(name, f"The clinic's host {CLINIC} (allocated to {CLINIC_CODE}, whose line is "
                   f"qinq:10.200) talks to the platform {line.describe}, which belongs to the "
                   f"hospital {HOSP_CODE}: the carrier extended the hospital's line to another "
                   f"institution. Rule: {RULE_US}. Expected: one high alert for the clinic's "
                   f"packets; only one institution appears on the line, so no shared_line.")
    ids = IpIds()
    conn = TcpConn(ids, CLINIC, 40002, PLATFORM, 443)
    pkts = tls_session(conn, "us2", exchanges=1)
    frames = c.send(line, pkts)
    sent = [f for f, p in zip(frames, pkts) if p.src == CLINIC]
    c.expect("unauthorized_source", "high", line.key, HOSP_CODE, sent,
             ev("allocated_to_another", source="allocated to another institution",
                source_institution=CLINIC_CODE, line_institution=HOSP_CODE))
    return c


def shared_line(name: str, line: Line) -> Case:
    c = Case(name, f"Two institutions' hosts talk to the platform over one line, "
                   f"{line.describe} (the hospital's): the hospital's {HOSP} and then the "
                   f"clinic's {CLINIC}. Rule: shared_line (JL art.26; CQ §1(1)): a line on "
                   f"which addresses of two or more institutions talk to the platform or "
                   f"beyond breaks it. The line is shared from the first packet of the second "
                   f"institution on it (whatever the batching): one alert per line, counting "
                   f"every packet on it with an institution end (replies too) from there on, "
                   f"institution the line's owner, evidence the institutions seen. The hospital's "
                   f"session before it is not part of the violation. The clinic's packets also "
                   f"break unauthorized_source "
                   f"(JL art.15: a source allocated to another institution than the line's).")
    ids = IpIds()
    c.send(line, tls_session(TcpConn(ids, HOSP, 50001, PLATFORM, 443), "sl-h", 1))
    pkts = tls_session(TcpConn(ids, CLINIC, 50002, PLATFORM, 443), "sl-c", 1)
    b = c.send(line, pkts)
    c.expect("shared_line", "high", line.key, HOSP_CODE, b,
             ev("two_or_more_institutions", institutions=sorted([HOSP_CODE, CLINIC_CODE])))
    c.expect("unauthorized_source", "high", line.key, HOSP_CODE,
             [f for f, p in zip(b, pkts) if p.src == CLINIC],
             ev("allocated_to_another", source="allocated to another institution",
                source_institution=CLINIC_CODE, line_institution=HOSP_CODE))
    return c


def lateral_traffic(name: str, line: Line) -> Case:
    c = Case(name, f"The hospital's host {HOSP} connects straight to the pharmacy's "
                   f"{PHARM}:8080 {line.describe}, without going through the platform. "
                   f"Rule: lateral_traffic (CQ §2(1)): a flow between the allocations of two "
                   f"institutions breaks it; both directions count; the institution named is "
                   f"the first packet's source's. The pharmacy's replies are addressed to the "
                   f"line's owner, so they are not unauthorized_source's.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 50100, PHARM, 8080)
    frames = c.send(line, conn.handshake() + [conn.c2s(HTTP_POST), conn.s2c(HTTP_OK)]
                    + conn.close())
    c.expect("lateral_traffic", "high", line.key, HOSP_CODE, frames,
             ev("between_institutions", from_institution=HOSP_CODE, to_institution=PHARM_CODE))
    return c


RULE_VPN = ("internet_vpn (JL art.14): tunnel or VPN traffic with an endpoint outside "
            "`network.private` breaks it — L2TP, GRE by their outer header, IPsec ESP and "
            "IKE, WireGuard by protocol, port and first payload bytes")


def internet_vpn_l2tp(name: str, line: Line) -> Case:
    c = Case(name, f"An L2TPv2 tunnel between two public addresses, {line.describe}, carries "
                   f"the hospital's {HOSP} HTTPS to the platform: a VPN over the internet. "
                   f"Rule: {RULE_VPN}. Expected: one high alert for the inner flow (all its "
                   f"packets), naming the public endpoint of the first packet's outer header "
                   f"(its destination, {PUB_LNS}). The line l2tp:77/1 is configured for no "
                   f"one, so the institution is the inner source's owner; the inner endpoints "
                   f"are private, so no internet_bound.")
    ids = IpIds()
    frames = c.send(line, tls_session(TcpConn(ids, HOSP, 50200, PLATFORM, 443), "vpn-l2tp", 1))
    c.expect("internet_vpn", "high", line.key, HOSP_CODE, frames,
             ev("tunnel_over_internet", vpn="l2tp", public_endpoint=PUB_LNS))
    return c


def internet_vpn_gre(name: str, line: Line) -> Case:
    c = Case(name, f"GRE with key 41 (a hospital line) from the carrier-side address "
                   f"{GRE_CPE[41]} to the public concentrator {PUB_GRE}, {line.describe}: one "
                   f"tunnel endpoint on the internet is enough. Rule: {RULE_VPN}. Expected: "
                   f"one high alert for the inner flow {HOSP} -> {PLATFORM}, naming {PUB_GRE}.")
    ids = IpIds()
    frames = c.send(line, tls_session(TcpConn(ids, HOSP, 50210, PLATFORM, 443), "vpn-gre", 1))
    c.expect("internet_vpn", "high", line.key, HOSP_CODE, frames,
             ev("tunnel_over_internet", vpn="gre", public_endpoint=PUB_GRE))
    return c


def internet_vpn_ipsec(name: str, line: Line) -> Case:
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


def internet_vpn_wireguard(name: str, line: Line) -> Case:
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


RULE_RC = ("remote_control (JL art.28): RDP, VNC and the like recognised by protocol "
           "signature on any port (high), or — the weakest evidence, medium — only by their "
           "well-known ports; one alert per flow")


def rdp_signature(name: str, line: Line) -> Case:
    c = Case(name, f"The hospital's {HOSP} opens RDP to a colleague's machine {HOSP_C} on the "
                   f"non-standard port 13389, {line.describe}: after the TCP handshake, a TPKT "
                   f"+ X.224 Connection Request (code 0xE0) with an mstshash cookie, answered "
                   f"by a Connection Confirm. Rule: {RULE_RC}. Expected: one high alert, "
                   f"evidence signature, whose only violating packet is the Connection Request "
                   f"(nothing else of the flow matches a signature or a well-known port).")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 50300, HOSP_C, 13389)
    pkts = conn.handshake() + [conn.c2s(X224_CR), conn.s2c(X224_CC)]
    frames = c.send(line, pkts)
    c.expect("remote_control", "high", line.key, HOSP_CODE, [frames[3]],
             ev("signature", tool="rdp", evidence="signature"))
    return c


def vnc_banner(name: str, line: Line) -> Case:
    c = Case(name, f"A VNC server at {HOSP_D} listening on the non-standard port 15900 is "
                   f"reached by {HOSP}, {line.describe}: the server sends its RFB banner "
                   f"\"RFB 003.008\\n\", the client answers with the same, then security "
                   f"types and a challenge. Rule: {RULE_RC}. Both banners are signatures: one "
                   f"high alert whose first packet is the server's banner, 2 packets.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 50400, HOSP_D, 15900)
    pkts = conn.handshake() + [conn.s2c(RFB_BANNER), conn.c2s(RFB_BANNER),
                               conn.s2c(b"\x01\x02"), conn.c2s(b"\x02"),
                               conn.s2c(payload("vnc-challenge", 16)),
                               conn.c2s(payload("vnc-response", 16))]
    frames = c.send(line, pkts)
    c.expect("remote_control", "high", line.key, HOSP_CODE, frames[3:5],
             ev("signature", tool="vnc", evidence="signature"))
    return c


def rdp_port_only(name: str, line: Line) -> Case:
    c = Case(name, f"{HOSP} connects to {HOSP_C}:3389 and closes without sending a byte, "
                   f"{line.describe}: nothing but the well-known RDP port. Rule: {RULE_RC}. "
                   f"Expected: one medium alert, evidence port, every packet of the flow.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 50500, HOSP_C, 3389)
    frames = c.send(line, conn.handshake() + conn.close())
    c.expect("remote_control", "medium", line.key, HOSP_CODE, frames,
             ev("port", tool="rdp", evidence="port"))
    return c


def rdp_standard_port(name: str, line: Line) -> Case:
    c = Case(name, f"The common case: {HOSP} opens RDP to {HOSP_C} on its well-known port "
                   f"3389, {line.describe}, and sends an X.224 Connection Request. Rule: "
                   f"{RULE_RC}. Each packet is judged by what it shows, in packet time: the "
                   f"handshake shows only the port (one medium alert, its 3 packets), the "
                   f"Connection Request the signature — more severe, so alerted again (high); "
                   f"the Connection Confirm after it, the port alone, repeats it within the "
                   f"window and is counted with it.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 50600, HOSP_C, 3389)
    frames = c.send(line, conn.handshake() + [conn.c2s(X224_CR), conn.s2c(X224_CC)])
    c.expect("remote_control", "medium", line.key, HOSP_CODE, frames[:3],
             ev("port", tool="rdp", evidence="port"))
    c.expect("remote_control", "high", line.key, HOSP_CODE, frames[3:],
             ev("signature", tool="rdp", evidence="signature"))
    return c


# --- cases that must raise nothing -----------------------------------------------------

def platform_own_lines(name: str, line: Line | None = None) -> Case:
    c = Case(name, "Every institution talks to the platform over its own lines: the hospital "
                   "on VLAN 100, on L2TP tunnel 7 and on GRE key 41; the clinic on QinQ "
                   "10.200; the township health centre on MPLS label 1000 (IPv4, and IPv6 to "
                   "the platform's fd00:200::/48); the pharmacy on L2TP tunnel 9 and GRE key 42. "
                   "HTTP to the platform names it by address (Host: 10.200.1.20:8080). This "
                   "is what the rules allow (CQ §2(1): the platform is the meeting point; JL "
                   "art.15, art.26: each on its own allocation and line): no alert.")
    ids = IpIds()
    port = iter(range(50700, 50800))

    def https(src, dst=PLATFORM):
        return tls_session(TcpConn(ids, src, next(port), dst, 443), f"ok-{src}-{dst}", 1)

    def http(src):
        conn = TcpConn(ids, src, next(port), PLATFORM, 8080)
        return conn.handshake() + [conn.c2s(HTTP_POST), conn.s2c(HTTP_OK)] + conn.close()

    c.send(VLAN100, https(HOSP))
    c.send(VLAN100, http(HOSP_B))
    c.send(L2TP_HOSP, https(HOSP_B, PLATFORM_B))
    c.send(GRE_HOSP, https(HOSP))
    c.send(QinQ(10, 200), https(CLINIC))
    c.send(Mpls(1000), http(TOWN))
    c.send(Mpls(1000), https(TOWN6, PLATFORM6))
    c.send(L2tp(9, 5, lac=LAC_PHARM), https(PHARM))
    c.send(Gre(42), https(PHARM, PLATFORM_B))
    return c


def inside_institution(name: str, line: Line) -> Case:
    c = Case(name, f"Two hosts of the hospital talk to each other (SMB on 445, and a ping), "
                   f"{line.describe}: the hospital's own line, both ends in its allocation. "
                   f"No rule is broken: no alert.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 50900, HOSP_B, 445)
    c.send(line, conn.handshake() + [conn.c2s(payload("smb-neg", 120)),
                                     conn.s2c(payload("smb-neg-resp", 200))] + conn.close())
    c.send(line, [icmp_echo(ids, HOSP_B, HOSP, False, 1, True),
                  icmp_echo(ids, HOSP, HOSP_B, True, 1, True)])
    return c


def vpdn_l2tp(name: str, line: Line) -> Case:
    c = Case(name, f"A legitimate wireless VPDN session: the carrier's LAC {LAC_PHARM} and the "
                   f"LNS {LNS} (private addresses) carry, in L2TPv2 tunnel 9 session 5 (PPP), "
                   f"the pharmacy's {PHARM} HTTPS to the platform. JL art.14 allows VPDN over "
                   f"the private network; the inner flow is the pharmacy's to the platform "
                   f"on its own line: no alert.")
    ids = IpIds()
    c.send(line, tls_session(TcpConn(ids, PHARM, 51100, PLATFORM, 443), "vpdn", 2))
    return c


def vpdn_l2tp_setup(name: str, line: L2tp) -> Case:
    c = Case(name, f"The same legitimate VPDN session as vpdn_l2tp, captured from its start: "
                   f"L2TP control messages (SCCRQ, SCCRP, SCCCN, ZLB, ICRQ, ICRP, ICCN) between "
                   f"the carrier's LAC {LAC_PHARM} and LNS {LNS}, PPP LCP and IPCP negotiation, "
                   f"the pharmacy's HTTPS to the platform, then an L2TP Hello. The carrier's "
                   f"signalling is not traffic of a terminal on the line: it has no inner IP "
                   f"packet, and its addresses are the tunnel's own. No rule is broken: no "
                   f"alert (JL art.14 allows VPDN over the private network).")

    avp, control = l2tp_avp, line.control
    t, s = line.t, line.s
    c.raw(control(True, 0, 0, 0, 0, 1, avp(2, b"\x01\x00"), avp(7, b"lac-4g-01"),
                  avp(9, struct.pack("!H", t))))                          # SCCRQ
    c.raw(control(False, t, 0, 0, 1, 2, avp(2, b"\x01\x00"), avp(7, b"lns-yb-01"),
                  avp(9, struct.pack("!H", t))))                          # SCCRP
    c.raw(control(True, t, 0, 1, 1, 3))                                   # SCCCN
    c.raw(control(False, t, 0, 1, 2, None))                               # ZLB ack
    c.raw(control(True, t, 0, 2, 1, 10, avp(14, struct.pack("!H", s))))   # ICRQ
    c.raw(control(False, t, 0, 1, 3, 11, avp(14, struct.pack("!H", s))))  # ICRP
    c.raw(control(True, t, s, 3, 2, 12, avp(24, struct.pack("!I", 100_000_000))))  # ICCN
    lcp_req = struct.pack("!BBH", 1, 1, 14) + bytes([1, 4, 0x05, 0xDC, 5, 6]) + payload("magic", 4)
    lcp_ack = struct.pack("!BBH", 2, 1, 14) + lcp_req[4:]
    ipcp_req = struct.pack("!BBH", 1, 1, 10) + bytes([3, 6]) + ipaddress.ip_address(PHARM).packed
    ipcp_ack = struct.pack("!BBH", 2, 1, 10) + ipcp_req[4:]
    c.raw(line.data(True, PPP_LCP, lcp_req))
    c.raw(line.data(False, PPP_LCP, lcp_ack))
    c.raw(line.data(True, PPP_IPCP, ipcp_req))
    c.raw(line.data(False, PPP_IPCP, ipcp_ack))
    ids = IpIds()
    c.send(line, tls_session(TcpConn(ids, PHARM, 51110, PLATFORM, 443), "vpdn-setup", 1))
    c.raw(control(True, t, 0, 4, 3, 6))                                   # Hello
    return c


def tls_to_platform(name: str, line: Line) -> Case:
    c = Case(name, f"An encrypted flow: the pharmacy's {PHARM} runs TLS 1.3 to the platform "
                   f"{PLATFORM}:443, {line.describe} (its own VPDN line). The ClientHello "
                   f"carries no server name (the client dials the platform by address). "
                   f"Encrypted, on the institution's own line, to the platform: no alert.")
    ids = IpIds()
    c.send(line, tls_session(TcpConn(ids, PHARM, 51200, PLATFORM, 443), "tls", 3))
    return c


# (name, builder, line): the variants in tunnels reuse a builder on an L2TP or GRE line
CASES = [
    ("internet_bound_dedicated", internet_bound_dedicated, VLAN100),
    ("internet_bound_dedicated_in_gre", internet_bound_dedicated, GRE_HOSP),
    ("internet_bound_vpdn_l2tp", internet_bound_vpdn_l2tp, L2tp(9, 5, lac=LAC_PHARM)),
    ("internet_bound_ipv6", internet_bound_ipv6, Mpls(1000)),
    ("internet_bound_ipv6_in_gre", internet_bound_ipv6, Gre(44)),
    ("internet_bound_inbound_first_in_gre", internet_bound_inbound_first, Gre(99)),
    ("unauthorized_source_unallocated", unauthorized_unallocated, VLAN100),
    ("unauthorized_source_unallocated_in_l2tp", unauthorized_unallocated, L2TP_HOSP),
    ("unauthorized_source_foreign", unauthorized_foreign, VLAN100),
    ("unauthorized_source_foreign_in_l2tp", unauthorized_foreign, L2TP_HOSP),
    ("shared_line", shared_line, VLAN100),
    ("shared_line_in_l2tp", shared_line, L2TP_HOSP),
    ("lateral_traffic", lateral_traffic, VLAN100),
    ("lateral_traffic_in_l2tp", lateral_traffic, L2TP_HOSP),
    ("internet_vpn_l2tp", internet_vpn_l2tp, L2tp(77, 1, lac=PUB_LAC, lns=PUB_LNS)),
    ("internet_vpn_gre", internet_vpn_gre, Gre(41, pe=PUB_GRE)),
    ("internet_vpn_ipsec", internet_vpn_ipsec, VLAN100),
    ("internet_vpn_ipsec_in_l2tp", internet_vpn_ipsec, L2TP_HOSP),
    ("internet_vpn_wireguard", internet_vpn_wireguard, VLAN100),
    ("internet_vpn_wireguard_in_gre", internet_vpn_wireguard, GRE_HOSP),
    ("remote_control_rdp_signature", rdp_signature, VLAN100),
    ("remote_control_rdp_signature_in_l2tp", rdp_signature, L2TP_HOSP),
    ("remote_control_vnc_banner", vnc_banner, VLAN100),
    ("remote_control_vnc_banner_in_gre", vnc_banner, GRE_HOSP),
    ("remote_control_rdp_port_only", rdp_port_only, VLAN100),
    ("remote_control_rdp_port_only_in_l2tp", rdp_port_only, L2TP_HOSP),
    ("remote_control_rdp_standard_port", rdp_standard_port, VLAN100),
    ("remote_control_rdp_standard_port_in_gre", rdp_standard_port, GRE_HOSP),
    ("none_platform_own_lines", platform_own_lines, None),
    ("none_inside_institution", inside_institution, VLAN100),
    ("none_inside_institution_in_l2tp", inside_institution, L2TP_HOSP),
    ("none_vpdn_l2tp", vpdn_l2tp, L2tp(9, 5, lac=LAC_PHARM)),
    ("none_vpdn_l2tp_setup", vpdn_l2tp_setup, L2tp(9, 5, lac=LAC_PHARM)),
    ("none_tls_to_platform_in_gre", tls_to_platform, Gre(42)),
    ("none_tls_to_platform_in_l2tp", tls_to_platform, L2tp(9, 6, lac=LAC_PHARM)),
]


# ---------------------------------------------------------------------------------------
# the demo: a little day on the edge, with pcaps/example.toml

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
    at(11.50, pharm_l2tp, [f.pkt for f in pii_insurance_query("demo", pharm_l2tp).frames])
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
    at(15.30, hosp_l2tp, [f.pkt for f in cred_ftp("demo", hosp_l2tp).frames])
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
    """The packets inside eight nested GRE tunnels (pcaps/case_sets/hardening.py)."""
    if str(HERE / "case_sets") not in sys.path:
        sys.path.insert(0, str(HERE / "case_sets"))
    import hardening
    out = []
    for p in pkts:
        ip, _ = hardening.nest(p, 8)
        out.append(Pkt(ip, p.outbound, p.src, p.dst, p.proto, p.sport, p.dport))
    return out


def background_hour(start_s: int) -> list[Frame]:
    """An hour of pcaps/background/'s benign background from start_s."""
    folder = str(HERE / "background")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import make_background
    return make_background.hour_frames(start_s)


# ---------------------------------------------------------------------------------------
# writers

PCAP_MAGIC_US, SNAPLEN, LT_ETHERNET = 0xA1B2C3D4, 262144, 1


def write_pcap(path: Path, frames: list[Frame], start_s: int) -> None:
    out = [struct.pack("<IHHiIII", PCAP_MAGIC_US, 2, 4, 0, 0, SNAPLEN, LT_ETHERNET)]
    for i, f in enumerate(frames):
        ts_ns = f.ts_ns if f.ts_ns is not None else start_s * 10**9 + i * STEP_NS
        sec, ns = divmod(ts_ns, 10**9)
        out.append(struct.pack("<IIII", sec, ns // 1000, len(f.data), len(f.data)) + f.data)
    path.write_bytes(b"".join(out))


def config_text(case: Case) -> str:
    return (f"# {case.name}: made by pcaps/make_cases.py\n" + CASE_PLAN
            + f"\n[alerts]\ndedup_seconds = {case.dedup_seconds}\n")


def readme_text(case: Case) -> str:
    kinds = sorted({a["detector"] for a in case.expected})
    outcome = (f"Expected alerts ({len(case.expected)}): {', '.join(kinds)}."
               if case.expected else "Expected alerts: none (`expected.jsonl` is empty).")
    text = f"# {case.name}\n\n{case.readme} {outcome}\n"
    if case.known_issue:
        text += f"\nKnown disagreement (the test expects it to fail until fixed): {case.known_issue}\n"
    return text


def write_case(outdir: Path, case: Case) -> None:
    folder = outdir / case.name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    write_pcap(folder / "input.pcap", case.frames, case.start_s)
    (folder / "config.toml").write_text(config_text(case))
    (folder / "expected.jsonl").write_text(
        "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in case.expected))
    (folder / "README.md").write_text(readme_text(case))
    if case.known_issue:   # tests/test_cases.py marks the case xfail (strict) while it lasts
        (folder / "known_issue.txt").write_text(case.known_issue.strip() + "\n")


def case_set_rows() -> list[tuple]:
    """The (name, builder, line) rows of CASES, then those of every module under
    case_sets/ (one module an area, sorted by name), each of which builds on the helpers
    here (`import make_cases`) and exposes a CASES list of its own."""
    import importlib
    rows = list(CASES)
    folder = HERE / "case_sets"
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    for path in sorted(folder.glob("*.py")):
        if not path.name.startswith("_"):
            rows += importlib.import_module(path.stem).CASES
    return rows


def build_cases() -> list[Case]:
    return [builder(name, line) for name, builder, line in case_set_rows()]


def index_text(cases: list[Case]) -> str:
    rows = "\n".join(f"| `{c.name}` | {', '.join(sorted({a['detector'] for a in c.expected})) or 'none'} "
                     f"| {len(c.frames)} |" for c in cases)
    return ("# Detector cases\n\n"
            "Made by `pcaps/make_cases.py`, in the style of suricata-verify: each folder holds "
            "`input.pcap`, `config.toml`, `expected.jsonl` (the alerts the rule calls for, "
            "written from the rule and from how the script built the frames, never from the "
            "sensor's output) and a `README.md`. `tests/test_cases.py` replays each and "
            "compares. Cases named `none_*` must raise nothing; `*_in_l2tp` / `*_in_gre` carry "
            "the same packets in a tunnel.\n\n"
            "| case | expected detectors | frames |\n|---|---|---|\n" + rows + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", nargs="?", type=Path, default=None)
    ap.add_argument("--demo", type=Path, default=None, help="where to write demo.pcap")
    args = ap.parse_args(argv)
    outdir = args.outdir or HERE / "cases"
    demo_path = args.demo or (outdir / "demo.pcap" if args.outdir else HERE / "demo.pcap")
    outdir.mkdir(parents=True, exist_ok=True)
    cases = build_cases()
    names = [c.name for c in cases]
    assert len(set(names)) == len(names), "case names are unique"
    for case in cases:
        write_case(outdir, case)
    (outdir / "README.md").write_text(index_text(cases))
    write_pcap(demo_path, demo().frames, BASE_S)
    return 0



# ---------------------------------------------------------------------------------------
# plaintext_pii (JL art.32) and cleartext_credentials (JL art.30). Appended: every case
# above is unchanged. Personal data is synthetic (tests/pii.py: valid check digits, no
# one's); the mobile numbers are made up from a seeded generator.

import base64                 # noqa: E402
import hmac as _hmac          # noqa: E402
import random as _random      # noqa: E402
import re as _re              # noqa: E402

sys.path.insert(0, str(HERE.parent / "tests"))
import pii as _pii            # noqa: E402

PII_KEY = "ybsensor-cases-hash-key"
PII_CONFIG = f'\n[detectors.plaintext_pii]\nhash_key = "{PII_KEY}"\n'


@dataclass
class PiiCase(Case):
    extra_config: str = PII_CONFIG


_config_text_before_pii = config_text


def config_text(case: Case) -> str:  # noqa: F811  (the PII cases add the hash key)
    return _config_text_before_pii(case) + getattr(case, "extra_config", "")


# the rule's masked forms and keyed hashes, written from the rule (detectors/plaintext_pii.py
# docstring): keep an ID's first 6 and last 4, a card's first 6 and last 4, a mobile's first
# 3 and last 4; hash = HMAC-SHA256(key, "kind:VALUE") in hex, first 32 digits
def masked_id(v: str) -> str:
    return v[:6] + "*" * 8 + v[-4:]


def masked_mobile(v: str) -> str:
    return v[:3] + "****" + v[-4:]


def keyed(kind: str, value: str) -> str:
    return _hmac.new(PII_KEY.encode(), f"{kind}:{value.upper()}".encode(), "sha256").hexdigest()[:32]


def made_up_mobile(rng: _random.Random) -> str:
    return "1" + rng.choice("3456789") + "".join(str(rng.randrange(10)) for _ in range(9))


# GB/T 2260 province-level codes: the first two digits of a plausible region code
PROVINCES = {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35",
             "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54",
             "61", "62", "63", "64", "65", "71", "81", "82"}


def identifiers_by_rule(text: bytes) -> list[str]:
    """Every identifier in `text` by the rule of the issue (not the sensor's code): maximal
    digit runs that are valid resident IDs (a province that exists, a real birth date, 17
    digits + check character), Luhn-valid runs of 16-19 digits, or 11 digits starting 13-19."""
    out = []
    for m in _re.finditer(rb"[0-9]+[Xx]?", text):
        run = m.group().decode()
        if len(run) == 18 and run[:2] in PROVINCES and _pii.is_valid_resident_id(run):
            out.append(run)
            continue
        run = run.rstrip("Xx")
        if 16 <= len(run) <= 19 and _pii.is_luhn_valid(run):
            out.append(run)
        elif len(run) == 11 and run[0] == "1" and run[1] in "3456789":
            out.append(run)
    return out


RULE_PII = ("plaintext_pii (JL art.32): a payload that no encrypted protocol carries (TLS, "
            "TLCP, SSH, IPsec, WireGuard, DTLS, QUIC) and that holds personal data — a resident "
            "ID with a valid check character, a Luhn-valid card number, a mobile number, an "
            "insurance interface field (psn_name, certno, psn_cert_type, mdtrt_cert_no, psn_no, "
            "card_sn) with a value, or 姓名 with a value, in UTF-8 or GBK — breaks it; one "
            "alert per flow, its packets the ones that complete personal data, severity "
            "critical when an insurance interface message (infno / msgid / fixmedins_code) "
            "carries personal fields, else high. An item is placed at the packet that made "
            "it readable: the one completing it, in stream order (an item split across "
            "segments, at the segment that ends it or fills the hole before its end). "
            "Evidence, of what the alert's own packet completes: kinds and counts, masked "
            "forms and keyed hashes of the identifiers, the offset where its first item "
            "starts in its payload (negative: the item began in an earlier segment), and the "
            "flow's (not personal) infno and fixmedins_code")

PERSON = _pii.resident_id(_random.Random(20250102), region="220102")
PERSON_BORN = f"{PERSON[6:10]}-{PERSON[10:12]}-{PERSON[12:14]}"


def query_1101() -> tuple[bytes, bytes]:
    """An insurance 1101 (人员信息获取, person information) request and its answer, as the
    national interface sends them: JSON over HTTP."""
    req = {"infno": "1101", "msgid": f"{PHARM_CODE}202501020800000001",
           "mdtrtarea_admvs": "220100", "insuplc_admdvs": "220100", "recer_sys_code": "YBXT",
           "dev_no": "", "dev_safe_info": "", "cainfo": "", "signtype": "", "infver": "V1.0",
           "opter_type": "1", "opter": "P001", "opter_name": "药师甲",
           "inf_time": "2025-01-02 08:00:00", "fixmedins_code": PHARM_CODE,
           "fixmedins_name": "Example Pharmacy", "sign_no": "",
           "input": {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": PERSON, "card_sn": "",
                              "begntime": "", "psn_cert_type": "01", "certno": PERSON,
                              "psn_name": "张三"}}}
    resp = {"infcode": 0, "inf_refmsgid": "220100202501020800000123456789",
            "refmsg_time": "20250102080000123", "respond_time": "20250102080000456",
            "err_msg": None,
            "output": {"baseinfo": {"psn_no": "22000000000000001101", "psn_cert_type": "01",
                                    "certno": PERSON, "psn_name": "张三", "gend": "1",
                                    "naty": "01", "brdy": PERSON_BORN, "age": 55},
                       "insuinfo": [{"balc": 0, "insutype": "310", "psn_type": "11",
                                     "psn_insu_stas": "1", "insuplc_admdvs": "220102"}],
                       "idetinfo": []}}
    body = json.dumps(req, ensure_ascii=False, separators=(",", ":")).encode()
    answer = json.dumps(resp, ensure_ascii=False, separators=(",", ":")).encode()
    request = (b"POST /fsi/api/fsiPsnInfoService/queryPsnInfo HTTP/1.1\r\n"
               b"Host: 10.200.1.20:8080\r\nContent-Type: application/json;charset=utf-8\r\n"
               b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    response = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=utf-8\r\n"
                b"Content-Length: " + str(len(answer)).encode() + b"\r\n\r\n" + answer)
    # the only identifiers are the planted ID (the message's timestamps and ids are not)
    assert identifiers_by_rule(request) == [PERSON, PERSON]
    assert identifiers_by_rule(response) == [PERSON]
    return request, response


def pii_insurance_query(name: str, line: Line) -> Case:
    c = PiiCase(name, f"A pharmacy terminal ({PHARM}) on wireless VPDN, {line.describe}, asks "
                      f"the platform ({PLATFORM}:8080) for a person's insurance information: "
                      f"interface transaction 1101 in plaintext HTTP (JSON), and gets the answer "
                      f"the same way. Rule: {RULE_PII}. The request holds mdtrt_cert_no and "
                      f"certno (each the person's resident ID), psn_cert_type and psn_name "
                      f"(card_sn is empty: no value); the answer psn_no, psn_cert_type, certno "
                      f"(the ID) and psn_name. Expected: one critical alert for the flow, its "
                      f"two packets the request and the answer, at the request; its evidence "
                      f"the request's: resident_id 2, insurance_field 3 (mdtrt_cert_no, "
                      f"psn_cert_type and certno), person_name 1; one identifier (the same ID "
                      f"twice) shown masked and hashed; infno 1101 and fixmedins_code "
                      f"{PHARM_CODE}.")
    ids = IpIds()
    conn = TcpConn(ids, PHARM, 51300, PLATFORM, 8080)
    request, response = query_1101()
    pkts = conn.handshake() + [conn.c2s(request), conn.s2c(b"", flags="A"),
                               conn.s2c(response), conn.c2s(b"", flags="A")] + conn.close()
    frames = c.send(line, pkts)
    req_frame, resp_frame = frames[3], frames[5]
    c.expect("plaintext_pii", "critical", line.key, PHARM_CODE, [req_frame, resp_frame],
             ev("insurance_message_with_personal_data",
                kinds={"insurance_field": 3, "person_name": 1, "resident_id": 2},
                masked=[masked_id(PERSON)], hashes=[keyed("resident_id", PERSON)],
                offset=request.index(b"mdtrt_cert_no"),
                fields=["mdtrt_cert_no", "psn_cert_type", "certno", "psn_name"],
                infno="1101", fixmedins_code=PHARM_CODE, message="insurance_interface"))
    return c


def tlcp_client_hello(tag: str, server_name: bytes = b"") -> bytes:
    """A TLCP (GB/T 38636) ClientHello: record and client version 1.1 (0x0101), SM2/SM4/SM3
    cipher suites ECC_SM4_CBC_SM3 (0xE013), ECDHE_SM4_CBC_SM3 (0xE011); with `server_name`,
    a server_name extension (none else)."""
    ciphers = [0xE013, 0xE011, 0xE053, 0xE051]
    body = (struct.pack("!H", 0x0101) + payload(tag + "-random", 32) + b"\x00"
            + struct.pack("!H", 2 * len(ciphers)) + b"".join(struct.pack("!H", x) for x in ciphers)
            + b"\x01\x00")
    if server_name:
        sni = struct.pack("!HBH", len(server_name) + 3, 0, len(server_name)) + server_name
        ext = struct.pack("!HH", 0x0000, len(sni)) + sni
        body += struct.pack("!H", len(ext)) + ext
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x01\x01" + struct.pack("!H", len(hs)) + hs


def tlcp_server_hello(tag: str) -> bytes:
    body = (struct.pack("!H", 0x0101) + payload(tag + "-srandom", 32) + b"\x20"
            + payload(tag + "-sid", 32) + struct.pack("!HB", 0xE013, 0))
    hs = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x01\x01" + struct.pack("!H", len(hs)) + hs + b"\x14\x01\x01\x00\x01\x01"


def pii_insurance_query_encrypted(version: int):
    """The same 1101 exchange inside TLS 1.2 (version 0x0303) or TLCP (0x0101) records."""
    label = "TLS" if version == 0x0303 else "TLCP (GB/T 38636, record version 0x0101)"

    def build(name: str, line: Line) -> Case:
        c = PiiCase(name, f"The same 1101 request and answer as pii_insurance_query_in_l2tp, "
                          f"{line.describe}, but inside {label}: a handshake, then application "
                          f"data records. To make the point sharp the records carry the very "
                          f"bytes of the plaintext exchange (a real session would carry "
                          f"ciphertext), and the request's record is cut across two TCP "
                          f"segments, so the second starts in the middle of a record, with no "
                          f"record header, in the middle of the JSON. Rule: {RULE_PII}. "
                          f"Encrypted payloads are not searched; a segment without a header "
                          f"takes its flow's class. Expected: no alert.")
        ids = IpIds()
        conn = TcpConn(ids, PHARM, 51310 if version == 0x0303 else 51320, PLATFORM, 443)
        request, response = query_1101()
        tag = f"pii-enc-{version:04x}"
        if version == 0x0303:
            hello = [conn.c2s(tls_client_hello(tag)), conn.s2c(tls_server_hello(tag))]
        else:
            hello = [conn.c2s(tlcp_client_hello(tag)), conn.s2c(tlcp_server_hello(tag))]
        vhi, vlo = version >> 8, version & 0xFF

        def record(data: bytes) -> bytes:
            return bytes((0x17, vhi, vlo)) + struct.pack("!H", len(data)) + data

        rec = record(request)
        cut = len(rec) // 2
        pkts = conn.handshake() + hello + [conn.c2s(rec[:cut], flags="A"), conn.c2s(rec[cut:]),
                                          conn.s2c(record(response))] + conn.close()
        c.send(line, pkts)
        return c

    return build


def pii_near_miss(name: str, line: Line) -> Case:
    rng = _random.Random(4711)
    person = _pii.resident_id(rng)
    wrong_check = person[:17] + str((int(person[17]) + 1) % 10 if person[17] != "X" else 0)
    no_such_day = "22010219700230051"                     # 30 February
    no_such_day += _pii.id_check_digit(no_such_day)
    no_such_region = "99010219700101051"                  # no province 99
    no_such_region += _pii.id_check_digit(no_such_region)
    card = _pii.bank_card(rng)
    bad_card = card[:-1] + str((int(card[-1]) + 3) % 10)
    long_run = card + "5"                                  # 20 digits: no card
    near = [wrong_check, no_such_day, no_such_region, person[:17], person + "7",
            "7" + person, bad_card, long_run, "12812345678", "138123456789", "1381234567",
            "1735776000000", masked_id(person), masked_mobile("13800000000"),
            "220102********051X"]
    randoms = []
    while len(randoms) < 40:
        run = "".join(str(rng.randrange(10)) for _ in range(rng.choice((11, 12, 16, 17, 18, 19, 24))))
        if not identifiers_by_rule(run.encode()):
            randoms.append(run)
    body = ("note=" + ",".join(near) + "&batch=" + " ".join(randoms)).encode()
    assert identifiers_by_rule(body) == [], identifiers_by_rule(body)
    request = (b"POST /his/upload HTTP/1.1\r\nHost: 10.200.1.20:8080\r\n"
               b"Content-Type: application/x-www-form-urlencoded\r\n"
               b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    c = PiiCase(name, f"The hospital's {HOSP} posts to the platform in plaintext, "
                      f"{line.describe}, a body full of digits that are not personal data: "
                      f"ID numbers with a wrong check digit, an impossible birth date (30 "
                      f"February), a region code that does not exist, 17 and 19 digit runs "
                      f"around a valid ID (inside a longer run is no ID), a card number with a "
                      f"wrong Luhn digit, a 20-digit run, 12-digit and 10-digit numbers that "
                      f"look like mobiles, a millisecond timestamp, already masked forms, and "
                      f"forty random digit runs (11-24 digits) that happen to pass no check. "
                      f"Rule: {RULE_PII}. Expected: no alert.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 51330, PLATFORM, 8080)
    c.send(line, conn.handshake() + [conn.c2s(request), conn.s2c(HTTP_OK)] + conn.close())
    return c


def pii_split_id(name: str, line: Line) -> Case:
    rng = _random.Random(1802)
    person = _pii.resident_id(rng)
    body = ('{"visit":"V2025010200042","idcard":"' + person + '","dept":"0301"}').encode()
    request = (b"POST /his/visit HTTP/1.1\r\nHost: 10.200.1.20:8080\r\n"
               b"Content-Type: application/json\r\nContent-Length: "
               + str(len(body)).encode() + b"\r\n\r\n" + body)
    assert identifiers_by_rule(request) == [person]
    at = request.index(person.encode())
    cut1 = at + 9                       # the ID's first 9 characters in A, the rest in B
    cut2 = len(request) - 6
    a, b, tail = request[:cut1], request[cut1:cut2], request[cut2:]
    c = PiiCase(name, f"The hospital's {HOSP} posts a JSON visit record holding a resident ID "
                      f"to the platform, {line.describe}, in three TCP segments: A ends with "
                      f"the ID's first nine characters, B holds the rest. The segments arrive "
                      f"A, C (the last six bytes, out of order), B, then B again (a "
                      f"retransmission). Rule: {RULE_PII}. The sensor follows sequence "
                      f"numbers: the ID is found across the boundary, once, at B, which "
                      f"completes it. Expected: one high alert for the flow, resident_id 1, "
                      f"its packet B (the retransmission adds no bytes), the offset the ID's "
                      f"start relative to B's payload: -9, its first nine characters in A.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 51340, PLATFORM, 8080)
    pkts = conn.handshake()
    pa = conn.c2s(a, flags="A")
    pb = conn.c2s(b, flags="A")
    pc = conn.c2s(tail)
    frames = c.send(line, pkts + [pa, pc, pb, pb])
    fb = frames[5]
    c.send(line, [conn.s2c(HTTP_OK)] + conn.close())
    c.expect("plaintext_pii", "high", line.key, HOSP_CODE, [fb],
             ev("personal_data_in_plaintext", kinds={"resident_id": 1},
                masked=[masked_id(person)], hashes=[keyed("resident_id", person)],
                offset=at - cut1))
    return c


def pii_gbk_form(name: str, line: Line) -> Case:
    rng = _random.Random(936)                               # 936: the GBK code page
    person = _pii.resident_id(rng)
    mobile = made_up_mobile(rng)
    form = f"姓名=张三&性别=男&身份证号={person}&手机号={mobile}&科室=内科".encode("gbk")
    request = (b"POST /his/register.do HTTP/1.1\r\nHost: 10.200.1.20:8080\r\n"
               b"Content-Type: application/x-www-form-urlencoded; charset=GBK\r\n"
               b"Content-Length: " + str(len(form)).encode() + b"\r\n\r\n" + form)
    assert identifiers_by_rule(request) == [person, mobile]
    c = PiiCase(name, f"A hospital registration terminal ({HOSP_B}) posts a patient's "
                      f"registration to the platform as form data in GBK, as older hospital "
                      f"software does, {line.describe}: 姓名 (name), 性别, 身份证号 (ID number), "
                      f"手机号 (mobile), 科室, the labels raw GBK bytes. Rule: {RULE_PII}. "
                      f"Expected: one high alert (no insurance interface envelope): "
                      f"person_name 1 (姓名 with a value), resident_id 1, mobile 1, the three "
                      f"labels in GBK, the offset where 姓名 starts.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP_B, 51350, PLATFORM, 8080)
    pkts = conn.handshake() + [conn.c2s(request), conn.s2c(HTTP_OK)] + conn.close()
    frames = c.send(line, pkts)
    c.expect("plaintext_pii", "high", line.key, HOSP_CODE, [frames[3]],
             ev("personal_data_in_plaintext",
                kinds={"mobile": 1, "person_name": 1, "resident_id": 1},
                masked=[masked_id(person), masked_mobile(mobile)],
                hashes=[keyed("resident_id", person), keyed("mobile", mobile)],
                offset=request.index("姓名".encode("gbk")),
                labels=["姓名", "身份证号", "手机号"], encodings=["gbk"]))
    return c


RULE_CRED = ("cleartext_credentials (JL art.30): a password sent in a payload no encrypted "
             "protocol carries — HTTP Basic or a login form, FTP or POP3 USER/PASS, IMAP LOGIN, "
             "a Telnet login — breaks it; one high alert per flow, its packets the ones that "
             "carry the password (a password typed a key a packet: the packet holding the "
             "Enter, which completes it); the user name shown as its first character and ***, with a "
             "keyed hash; the password nowhere")
# the passwords of the cases: tests/test_credentials.py and tests/test_no_leak.py look for
# them in every output of the sensor
CRED_SECRETS = {"ftp": "Zq7-upload-2025", "http_basic": "Hosp-Basic-2025",
                "pop3": "Pop3-Secret-77", "imap": "Imap-W4rd-7", "telnet": "tnpw91"}
PLATFORM_MAIL = PLATFORM_B


def cred_ev(protocol: str, method: str, user: str) -> dict:
    return ev("cleartext_password", protocol=protocol, method=method, credentials=1,
              user=user[0] + "***", user_hash=keyed("user", user),
              password="sent in clear (not recorded)")


def cred_ftp(name: str, line: Line) -> Case:
    c = PiiCase(name, f"The hospital's {HOSP_B} logs in to an FTP server on the platform "
                   f"({PLATFORM}:21), {line.describe}: USER yb_upload, PASS in clear. Rule: "
                   f"{RULE_CRED}. Expected: one high alert, its packet the PASS command.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP_B, 51400, PLATFORM, 21)
    pkts = conn.handshake() + [conn.s2c(b"220 platform FTP ready\r\n"),
                               conn.c2s(b"USER yb_upload\r\n"),
                               conn.s2c(b"331 Password required for yb_upload\r\n"),
                               conn.c2s(b"PASS " + CRED_SECRETS["ftp"].encode() + b"\r\n"),
                               conn.s2c(b"230 User yb_upload logged in\r\n"),
                               conn.c2s(b"QUIT\r\n"), conn.s2c(b"221 Goodbye\r\n")] + conn.close()
    frames = c.send(line, pkts)
    c.expect("cleartext_credentials", "high", line.key, HOSP_CODE, [frames[6]],
             cred_ev("ftp", "user_pass", "yb_upload"))
    return c


def cred_http_basic(name: str, line: Line) -> Case:
    token = base64.b64encode(b"admin01:" + CRED_SECRETS["http_basic"].encode())
    c = PiiCase(name, f"The hospital's {HOSP} opens an administration page on the platform "
                   f"({PLATFORM}:8080) with HTTP Basic authentication, {line.describe}: "
                   f"user admin01 and its password, base64 in the Authorization header. Rule: "
                   f"{RULE_CRED}. Expected: one high alert, its packet the request.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 51410, PLATFORM, 8080)
    request = (b"GET /admin/status HTTP/1.1\r\nHost: 10.200.1.20:8080\r\n"
               b"Authorization: Basic " + token + b"\r\nAccept: */*\r\n\r\n")
    frames = c.send(line, conn.handshake() + [conn.c2s(request), conn.s2c(HTTP_OK)] + conn.close())
    c.expect("cleartext_credentials", "high", line.key, HOSP_CODE, [frames[3]],
             cred_ev("http", "basic", "admin01"))
    return c


def cred_pop3(name: str, line: Line) -> Case:
    c = PiiCase(name, f"The hospital's {HOSP} reads mail from a POP3 server ({PLATFORM_MAIL}:110) "
                   f"{line.describe}: USER, then PASS in clear. Rule: {RULE_CRED}. Expected: "
                   f"one high alert, its packet the PASS command.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 51420, PLATFORM_MAIL, 110)
    pkts = conn.handshake() + [conn.s2c(b"+OK POP3 server ready\r\n"),
                               conn.c2s(b"USER billing\r\n"), conn.s2c(b"+OK\r\n"),
                               conn.c2s(b"PASS " + CRED_SECRETS["pop3"].encode() + b"\r\n"),
                               conn.s2c(b"+OK 2 messages\r\n"), conn.c2s(b"QUIT\r\n"),
                               conn.s2c(b"+OK bye\r\n")] + conn.close()
    frames = c.send(line, pkts)
    c.expect("cleartext_credentials", "high", line.key, HOSP_CODE, [frames[6]],
             cred_ev("pop3", "user_pass", "billing"))
    return c


def cred_imap(name: str, line: Line) -> Case:
    c = PiiCase(name, f"The hospital's {HOSP} logs in to an IMAP server ({PLATFORM_MAIL}:143) "
                   f"{line.describe} with `a001 LOGIN nurse07 \"...\"`, the password a quoted "
                   f"string. Rule: {RULE_CRED}. Expected: one high alert, its packet the "
                   f"LOGIN command.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 51430, PLATFORM_MAIL, 143)
    pkts = conn.handshake() + [conn.s2c(b"* OK IMAP4rev1 server ready\r\n"),
                               conn.c2s(b'a001 LOGIN nurse07 "' + CRED_SECRETS["imap"].encode()
                                        + b'"\r\n'),
                               conn.s2c(b"a001 OK LOGIN completed\r\n"),
                               conn.c2s(b"a002 LOGOUT\r\n"), conn.s2c(b"* BYE\r\na002 OK\r\n")] \
        + conn.close()
    frames = c.send(line, pkts)
    c.expect("cleartext_credentials", "high", line.key, HOSP_CODE, [frames[4]],
             cred_ev("imap", "login", "nurse07"))
    return c


def cred_telnet(name: str, line: Line) -> Case:
    c = PiiCase(name, f"The hospital's {HOSP} logs in by Telnet to a device at {HOSP_C}:23, "
                   f"{line.describe}: option negotiation, the `login:` prompt, the user name "
                   f"typed a key a packet (echoed), the `Password:` prompt, the password typed "
                   f"a key a packet (not echoed), then Enter. Rule: {RULE_CRED}. Expected: one "
                   f"high alert, its packet the Enter.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 51440, HOSP_C, 23)
    pkts = conn.handshake() + [conn.s2c(b"\xff\xfd\x18\xff\xfd\x20\xff\xfb\x01\xff\xfb\x03"),
                               conn.c2s(b"\xff\xfb\x18\xff\xfc\x20\xff\xfd\x01\xff\xfd\x03"),
                               conn.s2c(b"\r\nUbuntu 22.04 LTS\r\nlogin: ")]
    for ch in b"opr":
        pkts += [conn.c2s(bytes((ch,))), conn.s2c(bytes((ch,)))]
    pkts += [conn.c2s(b"\r\n"), conn.s2c(b"\r\nPassword: ")]
    for ch in CRED_SECRETS["telnet"].encode():
        pkts.append(conn.c2s(bytes((ch,))))
    enter = len(pkts)
    pkts.append(conn.c2s(b"\r\n"))
    pkts += [conn.s2c(b"\r\nLast login: Thu Jan  2 07:58:01 2025\r\n$ "),
             conn.c2s(b"exit\r\n")] + conn.close()
    frames = c.send(line, pkts)
    c.expect("cleartext_credentials", "high", line.key, HOSP_CODE, [frames[enter]],
             cred_ev("telnet", "login", "opr"))
    return c


CASES += [
    ("pii_insurance_query_in_l2tp", pii_insurance_query, L2tp(9, 5, lac=LAC_PHARM)),
    ("pii_insurance_query_tls_in_l2tp", pii_insurance_query_encrypted(0x0303),
     L2tp(9, 5, lac=LAC_PHARM)),
    ("pii_insurance_query_tlcp_in_l2tp", pii_insurance_query_encrypted(0x0101),
     L2tp(9, 5, lac=LAC_PHARM)),
    ("pii_near_miss_in_gre", pii_near_miss, GRE_HOSP),
    ("pii_id_split_across_segments_in_gre", pii_split_id, GRE_HOSP),
    ("pii_gbk_form_in_l2tp", pii_gbk_form, L2TP_HOSP),
    ("cred_ftp_in_l2tp", cred_ftp, L2TP_HOSP),
    ("cred_http_basic_in_gre", cred_http_basic, GRE_HOSP),
    ("cred_pop3_in_l2tp", cred_pop3, L2TP_HOSP),
    ("cred_imap_login_in_gre", cred_imap, GRE_HOSP),
    ("cred_telnet_in_l2tp", cred_telnet, L2TP_HOSP),
]


if __name__ == "__main__":
    sys.exit(main())
