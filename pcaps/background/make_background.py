#!/usr/bin/env python3
"""A working hour of benign edge background, pcaps/background/background.pcap: what every
span port of the private network carries all day besides the institutions' work, and what
must raise nothing (tests/cases_and_corpus/test_background.py replays it through pcaps/example.toml with
every detector on).

On the example configuration's lines (pcaps/example.toml and pcaps/allocations.csv):
- the hospital's LAN on VLAN 100 (10.1.2.0/24, no IPv6 allocation: IPv6 link-local only)
  and the clinic's on QinQ 10.200 (10.1.3.0/24): ARP, DHCP (discover to 255.255.255.255
  from 0.0.0.0 and the answers), DHCPv6, IPv6 ND (RS, NS with DAD, NA, RA), MLDv2, IGMPv3,
  mDNS (224.0.0.251, ff02::fb), SSDP (M-SEARCH, NOTIFY, unicast answers), LLMNR
  (224.0.0.252, ff02::1:3), NetBIOS name queries and browser announcements to the directed
  broadcast, a label printer without a lease on 169.254/16 (RFC 3927), HSRP (hospital) and
  VRRPv3 (clinic) hellos, and the access switch's STP, LLDP
  and CDP (untagged, the trunk's native VLAN);
- the township's MPLS label 1000 (10.1.4.0/24 and fd00:1:4::/48), the hospital's L2TP
  tunnel 7 and the pharmacy's L2TP tunnel 9 (PPP: LCP echoes, L2TP Hellos) and GRE key 42;
- everywhere: DNS to the platform's resolver (10.200.0.53), names internal by rule
  (single labels such as wpad, *.local, *.arpa reverse and resolver lookups, the
  configured internal domains), NTP to the platform (10.200.0.123), ICMP echo to the
  platform, and the HTTPS sessions each institution has with the platform.

Rates are the protocols' defaults (STP hello 2 s, HSRP 3 s, VRRP 1 s, LLDP 30 s, CDP 60 s,
IGMP and MLD queries 125 s, RA about every 200 s) and a few hosts' habits (a DNS query a
minute or two, a platform session every few minutes, NTP every 1024 s). Deterministic:
a seeded generator, fixed MACs, ids and timestamps; a rerun writes the same bytes.

    python pcaps/background/make_background.py [PCAP]
"""
from __future__ import annotations

import ipaddress
import random
import struct
import sys
from pathlib import Path

from scapy.contrib.cdp import CDPMsgCapabilities, CDPMsgDeviceID, CDPMsgPortID, CDPv2_HDR
from scapy.contrib.igmpv3 import IGMPv3, IGMPv3gr, IGMPv3mq, IGMPv3mr
from scapy.contrib.lldp import (LLDPDUChassisID, LLDPDUEndOfLLDPDU, LLDPDUPortID,
                                LLDPDUSystemName, LLDPDUTimeToLive)
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dhcp6 import (DHCP6_Advertise, DHCP6_Solicit, DHCP6OptClientId,
                                DHCP6OptElapsedTime, DHCP6OptIA_NA, DHCP6OptServerId,
                                DHCP6OptStatusCode, DUID_LL)
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.hsrp import HSRP
from scapy.layers.inet import IP, UDP, IPOption_Router_Alert
from scapy.layers.inet6 import (ICMPv6MLDMultAddrRec, ICMPv6MLQuery2, ICMPv6MLReport2,
                                ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6ND_RS,
                                ICMPv6NDOptMTU, ICMPv6NDOptSrcLLAddr, IPv6, IPv6ExtHdrHopByHop,
                                RouterAlert)
from scapy.layers.l2 import ARP, LLC, SNAP, STP, Ether
from scapy.layers.vrrp import VRRPv3
from scapy.packet import Raw

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import casegen as mc  # noqa: E402  (pcaps/casegen/, the cases' frame builders)

HOUR = 3600
SEED = "ybsensor-background-1"
RESOLVER, NTP_SERVER = "10.200.0.53", "10.200.0.123"
ET_ARP, ET_LLDP = 0x0806, 0x88CC
BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"
NTP_EPOCH = 2208988800          # 1900-01-01 to 1970-01-01, in seconds

# names hosts ask their resolver all day, each internal by rule (detectors/names.py and
# example.toml's internal_domains): (name, query type)
DNS_NAMES = [("his.ybj.jl.gov.cn", "A"), ("fsi.hsip.gov.cn", "A"), ("wpad", "A"),
             ("isatap", "A"), ("_ldap._tcp.dc._msdcs.hosp.local", "SRV"),
             ("20.1.200.10.in-addr.arpa", "PTR"), ("_dns.resolver.arpa", 64),
             ("ipv4only.arpa", "AAAA"), ("printer01.local", "A")]
SSDP_SEARCH = (b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\n"
               b"MX: 1\r\nST: urn:dial-multiscreen-org:service:dial:1\r\n\r\n")


def ssdp_notify(location: str, uuid: str, nt: str) -> bytes:
    return (b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\n"
            b"LOCATION: " + location.encode() + b"\r\nNT: " + nt.encode() +
            b"\r\nNTS: ssdp:alive\r\nSERVER: Printer/1.0 UPnP/1.0\r\nUSN: uuid:" + uuid.encode() +
            b"::" + nt.encode() + b"\r\n\r\n")


def ssdp_answer(location: str, uuid: str, st: str) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\nLOCATION: " +
            location.encode() + b"\r\nSERVER: Printer/1.0 UPnP/1.0\r\nST: " + st.encode() +
            b"\r\nUSN: uuid:" + uuid.encode() + b"::" + st.encode() + b"\r\n\r\n")


def netbios_name(name: str, suffix: int) -> bytes:
    """A NetBIOS name in first-level encoding (RFC 1001 14.1), as a one-label DNS name."""
    raw = name.upper().ljust(15).encode()[:15] + bytes((suffix,))
    return b"\x20" + bytes(b for c in raw for b in (0x41 + (c >> 4), 0x41 + (c & 15))) + b"\x00"


def nbns_query(trn: int, name: str) -> bytes:
    """A broadcast NetBIOS name query (RFC 1002 4.2.12) for `name`<20>."""
    return struct.pack("!HHHHHH", trn, 0x0110, 1, 0, 0, 0) + netbios_name(name, 0x20) + \
        struct.pack("!HH", 0x20, 1)


def browser_announcement(src: str, host: str, group: str, dgm_id: int) -> bytes:
    """A NetBIOS datagram (RFC 1002 4.4.1) to `group`<1d> holding an SMB mailslot
    HostAnnouncement on \\MAILSLOT\\BROWSE, as Windows sends every 12 minutes."""
    announce = (b"\x01\x00" + struct.pack("<I", 720000) + host.upper().encode().ljust(16, b"\0")
                + b"\x0a\x00" + struct.pack("<I", 0x00011003) + b"\x0f\x01\x55\xaa" + b"\0")
    smb = (b"\xffSMB\x25" + bytes(27) + b"\x11" + struct.pack("<HHHHBBHIHHHHHBB", 0, len(announce),
           0, 0, 0, 0, 0, 0, 0, len(announce), 86, 0, 0, 3, 0) + struct.pack("<HHHH", 1, 1, 2, 32)
           + b"\\MAILSLOT\\BROWSE\0" + announce)
    names = netbios_name(host, 0x00) + netbios_name(group, 0x1D)
    return struct.pack("!BBH", 0x11, 0x02, dgm_id) + ipaddress.ip_address(src).packed + \
        struct.pack("!HHH", 138, len(names) + len(smb), 0) + names + smb


def ntp_packet(mode: int, at: float, answer_to: float | None = None) -> bytes:
    """NTPv4 (RFC 5905): a client request (mode 3) or the server's answer (mode 4,
    stratum 2, its reference the platform's GPS clock)."""
    def stamp(t: float) -> bytes:
        whole = int(t) + NTP_EPOCH
        return struct.pack("!II", whole, int((t - int(t)) * (1 << 32)))
    if mode == 3:
        return struct.pack("!BBbb", 0x23, 0, 10, -23) + bytes(12) + bytes(24) + stamp(at)
    return (struct.pack("!BBbb", 0x24, 1, 10, -23) + struct.pack("!II", 0, 0x1C) + b"GPS\0"
            + stamp(at - 30) + stamp(answer_to) + stamp(at - 0.0002) + stamp(at))


def lcp_echo(request: bool, ident: int, magic: bytes) -> bytes:
    return struct.pack("!BBH", 9 if request else 10, ident, 8) + magic


def multicast_mac(dst: str) -> str | None:
    a = ipaddress.ip_address(dst)
    if a.version == 4:
        if a.is_multicast:
            low = int(a) & 0x7FFFFF
            return "01:00:5e:%02x:%02x:%02x" % (low >> 16, (low >> 8) & 255, low & 255)
        return BROADCAST_MAC if a.packed[3] == 255 else None
    if a.is_multicast:
        return "33:33:" + ":".join("%02x" % b for b in a.packed[12:])
    return None


def link_local(mac: str) -> str:
    """The EUI-64 link-local address of a MAC."""
    b = bytearray(mc.mac(mac))
    b[0] ^= 2
    return str(ipaddress.ip_address(b"\xfe\x80" + bytes(6) + bytes(b[:3]) + b"\xff\xfe"
                                    + bytes(b[3:])))


def solicited_node(addr: str) -> str:
    return str(ipaddress.ip_address(b"\xff\x02" + bytes(9) + b"\x01\xff"
                                    + ipaddress.ip_address(addr).packed[13:]))


class Host:
    def __init__(self, name: str, ip: str, mac: str | None = None, ll6: bool = True):
        self.name, self.mac, self.ip = name, mac, ip
        self.ll = link_local(mac) if mac and ll6 else None


class Hour:
    """The frames of the hour, each at its time; `frames()` in time order."""

    def __init__(self, start_s: int, seed: str = SEED):
        self.start_ns = start_s * 10**9
        self.rows: list[tuple[int, int, bytes]] = []
        self.rng = random.Random(seed)
        self.ids = mc.IpIds()
        self.ports = iter(range(49200, 65000))   # ephemeral ports: no well-known tool's
        self.dns_id = 0x1A00

    def at(self, t: float, data: bytes) -> None:
        self.rows.append((self.start_ns + int(t * 10**9), len(self.rows), data))

    def every(self, period: float, jitter: float = 0.0, first: float | None = None):
        """Times through the hour, `period` apart, each moved by up to `jitter` seconds."""
        t = self.rng.uniform(0, period) if first is None else first
        while t < HOUR - 5:
            yield t + self.rng.uniform(-jitter, jitter) if jitter else t
            t += period

    def frames(self) -> list[mc.Frame]:
        return [mc.Frame(data, None, ts) for ts, _, data in sorted(self.rows)]

    def next_dns_id(self) -> int:
        self.dns_id += 1
        return self.dns_id


class Site:
    """Where the hour's frames of one institution travel: `send(t, ip, outbound)` for an
    IP packet between the site and the platform (or within the site)."""

    def __init__(self, hour: Hour, line: mc.Line):
        self.hour, self.line = hour, line

    def send(self, t: float, ip: bytes, outbound: bool, src_mac: str | None = None) -> None:
        p = mc.Pkt(ip, outbound, "", "", 0, None, None)
        self.hour.at(t, self.line.frame(p))

    def exchange(self, t: float, pkts: list[mc.Pkt], gap: float = 0.004) -> float:
        """Packets one after the other from `t`; the time after the last."""
        for p in pkts:
            self.send(t, p.ip, p.outbound)
            t += gap * (1 + self.hour.rng.random())
        return t


class Lan(Site):
    """An Ethernet segment seen tagged on a VLAN or QinQ line: frames carry the hosts'
    own MAC addresses, multicast and broadcast MACs for group destinations."""

    def __init__(self, hour: Hour, line: mc.Vlan | mc.QinQ, gateway_mac: str, macs: dict):
        super().__init__(hour, line)
        self.gateway_mac, self.macs = gateway_mac, macs   # macs: local IP -> MAC

    def tags(self, etype: int) -> bytes:
        if isinstance(self.line, mc.QinQ):
            outer, inner = self.line.tags
            return struct.pack("!HHHHH", mc.ET_QINQ, outer, mc.ET_VLAN, inner, etype)
        return struct.pack("!HHH", mc.ET_VLAN, self.line.vid, etype)

    def ether(self, t: float, src_mac: str, dst_mac: str, etype: int, body: bytes) -> None:
        self.hour.at(t, mc.mac(dst_mac) + mc.mac(src_mac) + self.tags(etype) + body)

    def send(self, t: float, ip: bytes, outbound: bool, src_mac: str | None = None) -> None:
        v6 = ip[0] >> 4 == 6
        src = str(ipaddress.ip_address(ip[8:24] if v6 else ip[12:16]))
        dst = str(ipaddress.ip_address(ip[24:40] if v6 else ip[16:20]))
        dst_mac = multicast_mac(dst) or self.macs.get(dst, self.gateway_mac)
        src_mac = src_mac or self.macs.get(src, self.gateway_mac)
        self.ether(t, src_mac, dst_mac, mc.ET_IPV6 if v6 else mc.ET_IPV4, ip)


# ---------------------------------------------------------------------------------------
# what hosts do

def ip4(hour: Hour, src: str, dst: str, inner, ttl: int = 64, **kw) -> bytes:
    return bytes(IP(src=src, dst=dst, id=hour.ids(), ttl=ttl, **kw) / inner)


def ip6(src: str, dst: str, inner, hlim: int = 64) -> bytes:
    return bytes(IPv6(src=src, dst=dst, hlim=hlim) / inner)


def dns_to_resolver(hour: Hour, site: Site, host: Host, t: float) -> None:
    """One question to the platform's resolver and its answer (NXDOMAIN for the names
    that have none)."""
    name, qtype = hour.rng.choice(DNS_NAMES)
    ident, port = hour.next_dns_id(), next(hour.ports)
    q = DNSQR(qname=name, qtype=qtype)
    if qtype == "A" and name.endswith(".cn"):
        answer = DNS(id=ident, qr=1, rd=1, ra=1, qd=q, an=DNSRR(rrname=name, type="A", ttl=300,
                                                                 rdata=mc.PLATFORM))
    else:
        answer = DNS(id=ident, qr=1, rd=1, ra=1, rcode=3, qd=q)
    query = UDP(sport=port, dport=53) / DNS(id=ident, rd=1, qd=q)
    site.send(t, ip4(hour, host.ip, RESOLVER, query), True)
    site.send(t + 0.0031, ip4(hour, RESOLVER, host.ip, UDP(sport=53, dport=port) / answer), False)


def ntp_to_platform(hour: Hour, site: Site, host: Host, t: float) -> None:
    abs_t = hour.start_ns / 1e9 + t
    site.send(t, ip4(hour, host.ip, NTP_SERVER, UDP(sport=123, dport=123)
                     / Raw(ntp_packet(3, abs_t))), True)
    site.send(t + 0.0024, ip4(hour, NTP_SERVER, host.ip, UDP(sport=123, dport=123)
                              / Raw(ntp_packet(4, abs_t + 0.0024, abs_t))), False)


def ping_platform(hour: Hour, site: Site, host: Host, t: float, seq: int) -> None:
    site.send(t, mc.icmp_echo(hour.ids, host.ip, mc.PLATFORM, False, seq, True).ip, True)
    site.send(t + 0.0019, mc.icmp_echo(hour.ids, mc.PLATFORM, host.ip, True, seq, False).ip, False)


def https_to_platform(hour: Hour, site: Site, host: Host, t: float, platform: str) -> None:
    conn = mc.TcpConn(hour.ids, host.ip, next(hour.ports), platform, 443)
    site.exchange(t, mc.tls_session(conn, f"bg-{host.name}-{int(t)}", 1 + int(t) % 3))


def workday(hour: Hour, site: Site, host: Host, platform: str = mc.PLATFORM,
            dns_every: float = 90, session_every: float = 300) -> None:
    """What any host does with the platform through the hour."""
    for t in hour.every(dns_every, dns_every / 3):
        dns_to_resolver(hour, site, host, t)
    for t in hour.every(1024, 5):
        ntp_to_platform(hour, site, host, t)
    for t in hour.every(session_every, session_every / 3):
        https_to_platform(hour, site, host, t, platform)


# ---------------------------------------------------------------------------------------
# a LAN's link-local chatter

def arp(lan: Lan, t: float, sender: Host | None, sender_ip: str, target_ip: str,
        reply_to: Host | None = None, sender_mac: str | None = None) -> None:
    smac = sender_mac or sender.mac
    if reply_to is None:
        body = bytes(ARP(op=1, hwsrc=smac, psrc=sender_ip, hwdst="00:00:00:00:00:00",
                         pdst=target_ip))
        lan.ether(t, smac, BROADCAST_MAC, ET_ARP, body)
    else:
        body = bytes(ARP(op=2, hwsrc=smac, psrc=sender_ip, hwdst=reply_to.mac, pdst=target_ip))
        lan.ether(t, smac, reply_to.mac, ET_ARP, body)


def boot(hour: Hour, lan: Lan, host: Host, gateway: Host, t: float, hostname: str) -> None:
    """A workstation switched on: DHCP, ARP probe and announcement, IPv6 DAD, RS, MLD and
    IGMP joins, DHCPv6 (answered: no addresses), LLMNR and mDNS start-up."""
    xid = 0x5EED0000 + int(t)
    chaddr = mc.mac(host.mac) + bytes(10)
    opts = [("client_id", b"\x01" + mc.mac(host.mac)), ("hostname", hostname.encode()),
            ("param_req_list", [1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252])]
    server_opts = [("server_id", gateway.ip), ("lease_time", 28800),
                   ("subnet_mask", "255.255.255.0"), ("router", gateway.ip),
                   ("name_server", RESOLVER), ("domain", b"hosp.local")]

    def bootp(op, kind, ciaddr="0.0.0.0", yiaddr="0.0.0.0", extra=()):
        return BOOTP(op=op, xid=xid, flags=0x8000, chaddr=chaddr, ciaddr=ciaddr, yiaddr=yiaddr) / \
            DHCP(options=[("message-type", kind), *extra, "end"])

    dhcp = [("0.0.0.0", "255.255.255.255", 68, 67, bootp(1, "discover", extra=opts), host.mac),
            (gateway.ip, "255.255.255.255", 67, 68,
             bootp(2, "offer", yiaddr=host.ip, extra=server_opts), gateway.mac),
            ("0.0.0.0", "255.255.255.255", 68, 67,
             bootp(1, "request",
                   extra=[("requested_addr", host.ip), ("server_id", gateway.ip), *opts]),
             host.mac),
            (gateway.ip, "255.255.255.255", 67, 68,
             bootp(2, "ack", yiaddr=host.ip, extra=server_opts), gateway.mac)]
    for k, (src, dst, sp, dp, msg, smac) in enumerate(dhcp):
        ttl = 128 if sp == 68 else 64
        lan.send(t + 0.4 * k, ip4(hour, src, dst, UDP(sport=sp, dport=dp) / msg, ttl=ttl), True,
                 src_mac=smac)
    t += 2
    arp(lan, t, host, "0.0.0.0", host.ip)                    # probe
    arp(lan, t + 1.1, host, host.ip, host.ip)                # announcement
    # IPv6: DAD for the link-local address, router solicitation, MLD joins
    lan.send(t + 0.2, ip6("::", solicited_node(host.ll), ICMPv6ND_NS(tgt=host.ll), 255), True)
    lan.send(t + 1.3, ip6(host.ll, "ff02::2", ICMPv6ND_RS() / ICMPv6NDOptSrcLLAddr(lladdr=host.mac),
                          255), True)
    mld_report(lan, t + 1.4, host)
    igmp_report(hour, lan, t + 1.5, host)
    duid = DUID_LL(lladdr=host.mac)
    lan.send(t + 2.0, ip6(host.ll, "ff02::1:2", UDP(sport=546, dport=547)
                          / DHCP6_Solicit(trid=0x1A2B3C)
                          / DHCP6OptElapsedTime() / DHCP6OptClientId(duid=duid)
                          / DHCP6OptIA_NA(iaid=0x0E00C29)), True)
    lan.send(t + 2.1, ip6(gateway.ll, host.ll, UDP(sport=547, dport=546)
                          / DHCP6_Advertise(trid=0x1A2B3C) / DHCP6OptClientId(duid=duid)
                          / DHCP6OptServerId(duid=DUID_LL(lladdr=gateway.mac))
                          / DHCP6OptStatusCode(statuscode=2, statusmsg="no addresses")), False)
    llmnr_query(hour, lan, t + 3.0, host, hostname)          # is my name taken?
    mdns_query(hour, lan, t + 3.5, host, "_ipp._tcp.local")


def mld_report(lan: Lan, t: float, host: Host) -> None:
    groups = ["ff02::fb", "ff02::1:3", "ff02::c", solicited_node(host.ll)]
    records = [ICMPv6MLDMultAddrRec(rtype=2, dst=g) for g in groups]
    lan.send(t, ip6(host.ll, "ff02::16", IPv6ExtHdrHopByHop(options=[RouterAlert()])
                    / ICMPv6MLReport2(records=records, records_number=len(records)), 1), True)


def igmp_report(hour: Hour, lan: Lan, t: float, host: Host) -> None:
    groups = ["224.0.0.251", "224.0.0.252", "239.255.255.250"]
    lan.send(t, ip4(hour, host.ip, "224.0.0.22", IGMPv3(type=0x22) / IGMPv3mr(
        records=[IGMPv3gr(rtype=2, maddr=g) for g in groups], numgrp=len(groups)), ttl=1,
        options=[IPOption_Router_Alert()]), True)


def mdns_query(hour: Hour, lan: Lan, t: float, host: Host, name: str) -> None:
    q = DNS(id=0, qd=DNSQR(qname=name, qtype="PTR"))
    lan.send(t, ip4(hour, host.ip, "224.0.0.251", UDP(sport=5353, dport=5353) / q, ttl=255), True)
    if host.ll:
        lan.send(t + 0.001, ip6(host.ll, "ff02::fb", UDP(sport=5353, dport=5353) / q, 255), True)


def mdns_announce(hour: Hour, lan: Lan, t: float, printer: Host) -> None:
    inst = "Ward3 Printer._ipp._tcp.local"
    answer = DNS(id=0, qr=1, aa=1, an=DNSRR(rrname="_ipp._tcp.local", type="PTR", ttl=4500,
                                            rdata=inst)
                 / DNSRR(rrname="printer01.local", type="A", ttl=120, rdata=printer.ip))
    lan.send(t, ip4(hour, printer.ip, "224.0.0.251", UDP(sport=5353, dport=5353) / answer, ttl=255),
             True)
    lan.send(t + 0.001, ip6(printer.ll, "ff02::fb", UDP(sport=5353, dport=5353) / answer, 255),
             True)


def llmnr_query(hour: Hour, lan: Lan, t: float, host: Host, name: str) -> None:
    ident, port = hour.next_dns_id(), next(hour.ports)
    q = DNS(id=ident, qd=DNSQR(qname=name, qtype="A"))
    lan.send(t, ip4(hour, host.ip, "224.0.0.252", UDP(sport=port, dport=5355) / q, ttl=1), True)
    lan.send(t + 0.001, ip6(host.ll, "ff02::1:3", UDP(sport=port, dport=5355) / q, 1), True)


def device_uuid(device: Host) -> str:
    """A UPnP device's UUID, from its MAC."""
    return f"4d696e69-444c-164e-9d41-{device.mac[-8:].replace(':', '')}cafe00"


def ssdp_search(hour: Hour, lan: Lan, t: float, host: Host, printer: Host, uuid: str) -> None:
    port = next(hour.ports)
    for k in range(3):               # M-SEARCH is repeated (UDP, no answer guaranteed)
        lan.send(t + k * 1.0, ip4(hour, host.ip, "239.255.255.250", UDP(sport=port, dport=1900)
                                  / Raw(SSDP_SEARCH), ttl=2), True)
    location = f"http://{printer.ip}:80/rootDesc.xml"
    lan.send(t + 0.35, ip4(hour, printer.ip, host.ip, UDP(sport=1900, dport=port)
                           / Raw(ssdp_answer(location, uuid, "upnp:rootdevice"))), True)


def lan_hour(hour: Hour, lan: Lan, gateways: list[Host], vip: Host, hosts: list[Host],
             printer: Host | None, group: str, redundancy: str, booting: Host | None) -> None:
    """The link-local chatter of one LAN through the hour."""
    rng = hour.rng
    active = gateways[0]
    # first-hop redundancy: HSRP hellos (3 s) from both routers, or VRRPv3 (1 s) from the master
    if redundancy == "hsrp":
        for k, (gw, state, prio) in enumerate(((gateways[0], 16, 110), (gateways[1], 8, 100))):
            hello = ip4(hour, gw.ip, "224.0.0.2", UDP(sport=1985, dport=1985) / HSRP(
                state=state, priority=prio, group=1, virtualIP=vip.ip), ttl=1)
            smac = vip.mac if state == 16 else gw.mac
            for t in hour.every(3.0, 0.2, first=0.5 + k * 1.3):
                lan.ether(t, smac, "01:00:5e:00:00:02", mc.ET_IPV4, hello)
    else:
        advert = ip4(hour, active.ip, "224.0.0.18", VRRPv3(vrid=1, priority=120, ipcount=1, adv=100,
                                                           addrlist=[vip.ip]), ttl=255)
        for t in hour.every(1.0, first=0.25):
            lan.ether(t, vip.mac, "01:00:5e:00:00:12", mc.ET_IPV4, advert)
    # the querier: IGMPv3 and MLDv2 general queries every 125 s, each host's reports
    for t in hour.every(125.0, first=rng.uniform(1, 125)):
        lan.send(t, ip4(hour, active.ip, "224.0.0.1", IGMPv3(type=0x11, mrcode=100) / IGMPv3mq(),
                        ttl=1, options=[IPOption_Router_Alert()]), True, src_mac=active.mac)
        lan.send(t + 0.01, ip6(active.ll, "ff02::1", IPv6ExtHdrHopByHop(options=[RouterAlert()])
                               / ICMPv6MLQuery2(), 1), True, src_mac=active.mac)
        for h in hosts + ([printer] if printer else []):
            if h is booting and t < 600:
                continue
            igmp_report(hour, lan, t + rng.uniform(0.1, 9.5), h)
            mld_report(lan, t + rng.uniform(0.1, 9.5), h)
    # router advertisements (no prefix: the institution has no IPv6 allocation; the
    # router offers itself for nothing and asks hosts to try DHCPv6)
    for t in hour.every(200.0, 30.0):
        lan.send(t, ip6(active.ll, "ff02::1", ICMPv6ND_RA(M=1, O=1, routerlifetime=0)
                        / ICMPv6NDOptSrcLLAddr(lladdr=active.mac) / ICMPv6NDOptMTU(mtu=1500), 255),
                 True, src_mac=active.mac)
    everyone = hosts + ([printer] if printer else [])
    for n, h in enumerate(everyone):
        up = 600.0 if h is booting else 0.0
        # ARP for the gateway, the gateway's for the host; IPv6 neighbour reachability
        for t in hour.every(120.0, 20.0):
            if t < up:
                continue
            arp(lan, t, h, h.ip, vip.ip)
            arp(lan, t + 0.0004, None, vip.ip, h.ip, reply_to=h, sender_mac=vip.mac)
        for t in hour.every(600.0, 60.0):
            if t < up:
                continue
            lan.send(t, ip6(h.ll, solicited_node(active.ll), ICMPv6ND_NS(tgt=active.ll)
                            / ICMPv6NDOptSrcLLAddr(lladdr=h.mac), 255), True)
            na = ICMPv6ND_NA(tgt=active.ll, R=1, S=1, O=0)
            lan.send(t + 0.0005, ip6(active.ll, h.ll, na, 255), False, src_mac=active.mac)
        # NetBIOS: browser announcements to the directed broadcast, name queries
        bcast = str(ipaddress.ip_network(h.ip + "/24", strict=False).broadcast_address)
        for t in hour.every(720.0, 10.0):
            if t >= up:
                lan.send(t, ip4(hour, h.ip, bcast, UDP(sport=138, dport=138) / Raw(
                    browser_announcement(h.ip, h.name, group, 0x8100 + n)), ttl=128), True)
        if h is printer:
            continue
        for t in hour.every(1200.0, 100.0):
            if t >= up:
                lan.send(t, ip4(hour, h.ip, bcast, UDP(sport=137, dport=137) / Raw(
                    nbns_query(0x8000 + n * 16 + int(t) % 16, "FILESRV01")), ttl=128), True)
                llmnr_query(hour, lan, t + 0.6, h, "filesrv01")
        for t in hour.every(600.0, 60.0):
            if t >= up:
                mdns_query(hour, lan, t, h, "_ipp._tcp.local")
        if printer:
            for t in hour.every(900.0, 60.0):
                if t >= up:
                    ssdp_search(hour, lan, t, h, printer, device_uuid(printer))
    if printer:
        uuid = device_uuid(printer)
        location = f"http://{printer.ip}:80/rootDesc.xml"
        for t in hour.every(900.0, 30.0):
            mdns_announce(hour, lan, t, printer)
            for k, nt in enumerate(("upnp:rootdevice", f"uuid:{uuid}",
                                    "urn:schemas-upnp-org:device:Printer:1")):
                notify = UDP(sport=1900, dport=1900) / Raw(ssdp_notify(location, uuid, nt))
                lan.send(t + 0.05 * (k + 1),
                         ip4(hour, printer.ip, "239.255.255.250", notify, ttl=2), True)
    if booting is not None:
        boot(hour, lan, booting, vip, 600.0, booting.name.lower())


def lost_lease(hour: Hour, lan: Lan, device: Host) -> None:
    """A device that found no DHCP server gives itself an IPv4 link-local address (RFC
    3927): ARP probes and announcement, then mDNS announcements and ARPs from 169.254/16."""
    arp(lan, 30.0, device, "0.0.0.0", device.ip)
    arp(lan, 31.5, device, device.ip, device.ip)
    for t in hour.every(900.0, 30.0, first=33.0):
        answer = DNS(id=0, qr=1, aa=1, an=DNSRR(rrname=f"{device.name.lower()}.local", type="A",
                                                ttl=120, rdata=device.ip))
        lan.send(t, ip4(hour, device.ip, "224.0.0.251", UDP(sport=5353, dport=5353) / answer,
                        ttl=255), True)
        arp(lan, t + 2.0, device, device.ip, "169.254.1.1")


def switch_hour(hour: Hour, lan: Lan, switch_mac: str, name: str) -> None:
    """The access switch's own frames on the trunk's native VLAN (untagged): RSTP BPDUs
    every 2 s, LLDP every 30 s, CDP every 60 s."""
    bpdu = bytes(LLC(dsap=0x42, ssap=0x42, ctrl=3) / STP(
        version=2, bpdutype=2, bpduflags=0x3C, rootid=24576, rootmac=switch_mac, pathcost=0,
        bridgeid=24576, bridgemac=switch_mac, portid=0x8018))
    dst, src = mc.mac("01:80:c2:00:00:00"), mc.mac(switch_mac)
    for t in hour.every(2.0, first=0.1):
        hour.at(t, dst + src + struct.pack("!H", len(bpdu)) + bpdu)
    lldp = bytes(Ether(dst="01:80:c2:00:00:0e", src=switch_mac, type=ET_LLDP)
                 / LLDPDUChassisID(subtype=4, id=switch_mac)
                 / LLDPDUPortID(subtype=5, id=b"Gi1/0/24")
                 / LLDPDUTimeToLive(ttl=120) / LLDPDUSystemName(system_name=name.encode())
                 / LLDPDUEndOfLLDPDU())
    for t in hour.every(30.0, first=7.0):
        hour.at(t, lldp)
    cdp = bytes(LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / SNAP(OUI=0x00000C, code=0x2000) / CDPv2_HDR(
        msg=[CDPMsgDeviceID(val=name.encode()), CDPMsgPortID(iface=b"GigabitEthernet1/0/24"),
             CDPMsgCapabilities(cap=0x28)]))
    for t in hour.every(60.0, first=13.0):
        hour.at(t, mc.mac("01:00:0c:cc:cc:cc") + src + struct.pack("!H", len(cdp)) + cdp)


def ppp_hour(hour: Hour, line: mc.L2tp) -> None:
    """An L2TP tunnel's keep-alives: the LNS's LCP echo every 30 s and its answer, the
    LAC's L2TP Hello every 60 s and the LNS's ZLB acknowledgement."""
    magic_lac = mc.payload(f"magic-lac-{line.t}", 4)
    magic_lns = mc.payload(f"magic-lns-{line.t}", 4)
    for k, t in enumerate(hour.every(30.0, first=11.0)):
        hour.at(t, line.data(False, mc.PPP_LCP, lcp_echo(True, k & 255, magic_lns)))
        hour.at(t + 0.021, line.data(True, mc.PPP_LCP, lcp_echo(False, k & 255, magic_lac)))
    for k, t in enumerate(hour.every(60.0, first=17.0)):
        hour.at(t, line.control(True, line.t, 0, 10 + k, 10 + k, 6))              # Hello
        hour.at(t + 0.019, line.control(False, line.t, 0, 10 + k, 11 + k, None))  # ZLB


# ---------------------------------------------------------------------------------------
# the hour

HOSPITAL_LAN = dict(
    gateways=[Host("R1", "10.1.2.2", "00:1b:21:3a:4f:02"),
              Host("R2", "10.1.2.3", "00:1b:21:3a:4f:03")],
    vip=Host("VIP", "10.1.2.1", "00:00:0c:07:ac:01", ll6=False),
    hosts=[Host("WS-OPD-01", mc.HOSP, "00:50:56:12:34:56"),
           Host("WS-OPD-02", mc.HOSP_B, "00:50:56:12:34:57"),
           Host("WS-PHARM", "10.1.2.31", "00:50:56:12:34:58"),
           Host("WS-CASHIER", "10.1.2.32", "00:50:56:12:34:59"),
           Host("WS-WARD3", "10.1.2.33", "00:50:56:12:34:5a")],
    printer=Host("PRN-WARD3", "10.1.2.40", "00:80:77:aa:01:40"))
CLINIC_LAN = dict(
    gateways=[Host("CR1", "10.1.3.2", "00:1b:21:3b:00:02"),
              Host("CR2", "10.1.3.3", "00:1b:21:3b:00:03")],
    vip=Host("CVIP", "10.1.3.1", "00:00:5e:00:01:01", ll6=False),
    hosts=[Host("CL-DESK-01", mc.CLINIC, "00:50:56:22:00:20"),
           Host("CL-DESK-02", "10.1.3.21", "00:50:56:22:00:21")],
    printer=None)


def hour_frames(start_s: int = mc.BASE_S) -> list[mc.Frame]:
    """The background's frames from `start_s` for an hour, in time order."""
    hour = Hour(start_s)
    for plan, line, group, redundancy, boots in (
            (HOSPITAL_LAN, mc.VLAN100, "HOSP", "hsrp", 4),
            (CLINIC_LAN, mc.QinQ(10, 200), "CLINIC", "vrrp", None)):
        macs = {h.ip: h.mac for h in plan["gateways"] + plan["hosts"] + [plan["vip"]]
                + ([plan["printer"]] if plan["printer"] else [])}
        lan = Lan(hour, line, plan["vip"].mac, macs)
        booting = plan["hosts"][boots] if boots is not None else None
        lan_hour(hour, lan, plan["gateways"], plan["vip"], plan["hosts"], plan["printer"], group,
                 redundancy, booting)
        for h in plan["hosts"]:
            workday(hour, lan, h)
        if plan is HOSPITAL_LAN:
            lost_lease(hour, lan, Host("LABEL-PRN", "169.254.77.12", "00:80:77:aa:01:41"))
    switch_hour(hour, Lan(hour, mc.VLAN100, "", {}), "00:1e:bd:10:20:40", "sw-hosp-opd")
    # the monitoring host pings the platform every minute
    hosp = Lan(hour, mc.VLAN100, HOSPITAL_LAN["vip"].mac, {mc.HOSP: HOSPITAL_LAN["hosts"][0].mac})
    for k, t in enumerate(hour.every(60.0, first=3.0)):
        ping_platform(hour, hosp, HOSPITAL_LAN["hosts"][0], t, k + 1)
    # routed lines: the township on MPLS (IPv4 and IPv6), the hospital's and the pharmacy's
    # VPDN in L2TP, the pharmacy's GRE
    town = Site(hour, mc.Mpls(1000))
    workday(hour, town, Host("TOWN-01", mc.TOWN, "00:50:56:33:00:30"))
    workday(hour, town, Host("TOWN-02", "10.1.4.31", "00:50:56:33:00:31"), session_every=600)
    for t in hour.every(400.0, 60.0):   # IPv6 inside the township
        conn = mc.TcpConn(hour.ids, mc.TOWN6, next(hour.ports), "fd00:1:4::80", 443)
        town.exchange(t, mc.tls_session(conn, f"bg-town6-{int(t)}", 1))
    hosp_vpdn, pharm_vpdn = mc.L2tp(7, 2), mc.L2tp(9, 1, lac=mc.LAC_PHARM)
    for line in (hosp_vpdn, pharm_vpdn):
        ppp_hour(hour, line)
    workday(hour, Site(hour, hosp_vpdn), Host("HOSP-VPDN", "10.1.2.120"),
            platform=mc.PLATFORM_B, session_every=240)
    workday(hour, Site(hour, pharm_vpdn), Host("PHARM-01", mc.PHARM), session_every=180)
    pharm_gre = Site(hour, mc.Gre(42))
    pharm_pos = Host("PHARM-POS", "100.64.17.6")
    workday(hour, pharm_gre, pharm_pos, platform=mc.PLATFORM_B, session_every=240)
    for k, t in enumerate(hour.every(300.0, first=40.0)):
        ping_platform(hour, pharm_gre, pharm_pos, t, k + 1)
    return hour.frames()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else HERE / "background.pcap"
    mc.write_pcap(out, hour_frames(), mc.BASE_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
