"""The shared builders of the detector cases under pcaps/cases/ (suricata-verify style):
the address plan, inner packets, application payloads, access lines and tunnels, a case
with its expected alerts, the synthetic personal data, and the writers. Each case's folder
holds its own generator, `generate.py`, built on these; `pcaps/make_cases.py` runs them all.

Each case is a folder NAME/ with
  generate.py     its generator: `build(name, line)` and the `LINE` it delivers on;
  input.pcap      the frames (built with scapy; written byte by byte);
  config.toml     a small self-contained configuration (DESIGN.md format);
  expected.jsonl  the alerts the rules call for, one JSON object a line (empty: none);
  README.md       what the case shows and which rule applies.

The expected alerts are written BY HAND FROM THE RULE in each case's generator: which
detector fires, with which severity, institution and evidence, and which frames are the
violating packets of each alerted flow. The fields the rule leaves to construction
(addresses, ports, protocol, frame numbers, packet and byte counts) are taken from the
frames the generator itself built — never from the sensor's output.

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
NAME_in_gre carries the same packets that way (its generator reuses the first one's
`build` through `generator(NAME)`).

Deterministic: fixed timestamps, MAC addresses, IP ids, TCP sequence numbers and payloads
(payload bytes come from a seeded hash chain), so a rerun writes identical files
(tests/cases_and_corpus/test_cases.py checks). Personal data is synthetic (tests/pii.py: valid check digits,
no one's); the mobile numbers are made up from a seeded generator.
"""
from __future__ import annotations

import hmac
import importlib.util
import ipaddress
import json
import random
import re
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw

PCAPS = Path(__file__).resolve().parent.parent
CASES_DIR = PCAPS / "cases"
GENERATOR = "generate.py"        # each case's own script, in its folder
for _folder in (PCAPS.parent, PCAPS, PCAPS.parent / "tests"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))
from ybsensor.core.community_id import community_id as _community_id  # noqa: E402  (spec-tested)
from make_samples import payload as sample_payload  # noqa: E402  (pcaps/make_samples.py)
import pii  # noqa: E402  (tests/pii.py: synthetic identifiers with valid check digits)

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
    extra_config: str = ""        # TOML appended to the case's config.toml

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
# the lines most cases deliver on, and the rules several cases cite. A case's generator
# (pcaps/cases/NAME/generate.py) has `build(name, line)` and the `LINE` it delivers on;
# variants in tunnels reuse a build with an L2TP or GRE line.

VLAN100, L2TP_HOSP, GRE_HOSP = Vlan(100), L2tp(7, 3), Gre(41)
RULE_IB = ("internet_bound (JL art.6, art.28; CQ §2(1), §2(2), annex 1): a flow whose inner "
           "endpoint lies outside `network.private` breaks it; one alert per flow, both "
           "directions counted, the institution being the line's owner where the line is "
           "configured, else the source's, else the destination's")
RULE_US = ("unauthorized_source (JL art.15): a private source address in no allocation, or "
           "in the allocation of an institution other than the line's owner (unless addressed "
           "to the line's owner), breaks it; platform and public sources are not its concern, "
           "so the platform's replies do not count; the institution is the line's owner")
RULE_VPN = ("internet_vpn (JL art.14): tunnel or VPN traffic with an endpoint outside "
            "`network.private` breaks it — L2TP, GRE by their outer header, IPsec ESP and "
            "IKE, WireGuard by protocol, port and first payload bytes")
RULE_RC = ("remote_control (JL art.28): RDP, VNC and the like recognised by protocol "
           "signature on any port (high), or — the weakest evidence, medium — only by their "
           "well-known ports; one alert per flow")


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
            + f"\n[alerts]\ndedup_seconds = {case.dedup_seconds}\n" + case.extra_config)


def readme_text(case: Case) -> str:
    kinds = sorted({a["detector"] for a in case.expected})
    outcome = (f"Expected alerts ({len(case.expected)}): {', '.join(kinds)}."
               if case.expected else "Expected alerts: none (`expected.jsonl` is empty).")
    text = f"# {case.name}\n\n{case.readme} {outcome}\n"
    if case.known_issue:
        text += f"\nKnown disagreement (the test expects it to fail until fixed): {case.known_issue}\n"
    return text


MADE = ("input.pcap", "config.toml", "expected.jsonl", "README.md", "known_issue.txt")


def write_case(outdir: Path, case: Case) -> None:
    """The case's made files in outdir/NAME/ (its generator, if there, stays)."""
    folder = outdir / case.name
    folder.mkdir(parents=True, exist_ok=True)
    for name in MADE:
        (folder / name).unlink(missing_ok=True)
    write_pcap(folder / "input.pcap", case.frames, case.start_s)
    (folder / "config.toml").write_text(config_text(case))
    (folder / "expected.jsonl").write_text(
        "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in case.expected))
    (folder / "README.md").write_text(readme_text(case))
    if case.known_issue:   # tests/cases_and_corpus/test_cases.py marks the case xfail (strict) while it lasts
        (folder / "known_issue.txt").write_text(case.known_issue.strip() + "\n")


def generator(name: str):
    """The module of pcaps/cases/NAME/generate.py (loaded once; no bytecode is left in the
    case's folder): its `build(name, line)` and `LINE`."""
    key = f"casegen.cases.{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, CASES_DIR / name / GENERATOR)
        if spec is None:
            raise FileNotFoundError(f"no {GENERATOR} in {CASES_DIR / name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True
        try:
            spec.loader.exec_module(module)
        finally:
            sys.dont_write_bytecode = writes
    return sys.modules[key]


def build_case(name: str) -> Case:
    """The case pcaps/cases/NAME/ as its generator builds it."""
    module = generator(name)
    return module.build(name, module.LINE)


def write_here(script: str, build, line: Line | None) -> None:
    """What a case's generate.py does when run: remake the files of its own folder."""
    folder = Path(script).resolve().parent
    write_case(folder.parent, build(folder.name, line))


# ---------------------------------------------------------------------------------------
# plaintext_pii (JL art.32) and cleartext_credentials (JL art.30)

PII_KEY = "ybsensor-cases-hash-key"
PII_CONFIG = f'\n[detectors.plaintext_pii]\nhash_key = "{PII_KEY}"\n'


@dataclass
class PiiCase(Case):
    extra_config: str = PII_CONFIG


# the rule's masked forms and keyed hashes, written from the rule (detectors/plaintext_pii.py
# docstring): keep an ID's first 6 and last 4, a card's first 6 and last 4, a mobile's first
# 3 and last 4; hash = HMAC-SHA256(key, "kind:VALUE") in hex, first 32 digits
def masked_id(v: str) -> str:
    return v[:6] + "*" * 8 + v[-4:]


def masked_mobile(v: str) -> str:
    return v[:3] + "****" + v[-4:]


def keyed(kind: str, value: str) -> str:
    return hmac.new(PII_KEY.encode(), f"{kind}:{value.upper()}".encode(), "sha256").hexdigest()[:32]


def made_up_mobile(rng: random.Random) -> str:
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
    for m in re.finditer(rb"[0-9]+[Xx]?", text):
        run = m.group().decode()
        if len(run) == 18 and run[:2] in PROVINCES and pii.is_valid_resident_id(run):
            out.append(run)
            continue
        run = run.rstrip("Xx")
        if 16 <= len(run) <= 19 and pii.is_luhn_valid(run):
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

PERSON = pii.resident_id(random.Random(20250102), region="220102")
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


RULE_CRED = ("cleartext_credentials (JL art.30): a password sent in a payload no encrypted "
             "protocol carries — HTTP Basic or a login form, FTP or POP3 USER/PASS, IMAP LOGIN, "
             "a Telnet login — breaks it; one high alert per flow, its packets the ones that "
             "carry the password (a password typed a key a packet: the packet holding the "
             "Enter, which completes it); the user name shown as its first character and ***, with a "
             "keyed hash; the password nowhere")
# the passwords of the cases: tests/detectors/test_credentials.py and tests/cases_and_corpus/test_no_leak.py look for
# them in every output of the sensor
CRED_SECRETS = {"ftp": "Zq7-upload-2025", "http_basic": "Hosp-Basic-2025",
                "pop3": "Pop3-Secret-77", "imap": "Imap-W4rd-7", "telnet": "tnpw91"}
PLATFORM_MAIL = PLATFORM_B


def cred_ev(protocol: str, method: str, user: str) -> dict:
    return ev("cleartext_password", protocol=protocol, method=method, credentials=1,
              user=user[0] + "***", user_hash=keyed("user", user),
              password="sent in clear (not recorded)")
