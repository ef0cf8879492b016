"""Wiring: which decoder handles which next-protocol key. Data, not code.

Decoders say what comes next as (namespace, value); this table maps each key to a layer.
A key missing from the table ends the row: ok where the namespace names payloads (an IP
protocol or UDP port we do not decode further), unsupported where it names a carrier.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import (cmd, erspan, ethernet, gre, icmp, ipip, ipv4, ipv6, l2tp, link, mpls, nonip, ppp,
               pppoe, tcp, udp, vxlan)
from .keys import (ERSPAN_I, ETH_NO_CW, ETHERTYPE, INTERNAL, IPPROTO, L2TP_CONTROL,
                   LINKTYPE, NAMESPACES, OK, PPP, PW_ETH_CW, UDP, UNSUPPORTED, IP_BY_VERSION)

# layer name -> (decode function, shown in the encapsulation chain)
LAYERS: dict[str, tuple[Callable, bool]] = {
    "eth": (ethernet.decode_eth, True),
    "vlan": (ethernet.decode_vlan, True),
    "sll": (link.decode_sll, True),
    "sll2": (link.decode_sll2, True),
    "null": (link.decode_null, True),
    "loop": (link.decode_loop, True),
    "ip": (link.decode_ip_by_version, False),
    "ipv4": (ipv4.decode, True),
    "ipv6": (ipv6.decode, True),
    "ipv6-ext": (ipv6.decode_extension, False),
    "ipv6-frag": (ipv6.decode_fragment, False),
    "tcp": (tcp.decode, True),
    "udp": (udp.decode, True),
    "icmp": (icmp.decode, True),
    "icmpv6": (icmp.decode, True),
    "ah": (ipv6.decode_ah, True),
    "arp": (nonip.decode, True),
    "llc": (nonip.decode, True),
    "lldp": (nonip.decode, True),
    "slow": (nonip.decode, True),
    "eapol": (nonip.decode, True),
    "ipx": (nonip.decode, True),
    "aoe": (nonip.decode, True),
    "cfm": (nonip.decode, True),
    "ptp": (nonip.decode, True),
    "loopback": (nonip.decode, True),
    "macsec": (nonip.decode, True),
    "pppoe-discovery": (nonip.decode, True),
    # tunnels and the access encapsulations
    "ppp": (ppp.decode, True),
    "ppp-control": (nonip.decode, True),   # LCP, IPCP, authentication...: no IP
    "chdlc": (ppp.decode_chdlc, True),
    "pppoe": (pppoe.decode, True),
    "mpls": (mpls.decode, True),
    "pw-cw": (mpls.decode_pw_cw, False),
    "gre": (gre.decode, True),
    "erspan": (erspan.decode, True),
    "l2tp": (l2tp.decode, True),
    "l2tpv3": (l2tp.decode_ip, True),
    "l2tp-control": (l2tp.decode_control, False),
    "vxlan": (vxlan.decode, True),
    "ipip": (ipip.decode, False),
    "cmd": (cmd.decode, True),
    "nhrp": (nonip.decode, True),          # NHRP (RFC 2332) in GRE: DMVPN's control protocol
}

# PPP protocols that carry no IP: link, network and compression control, authentication
PPP_CONTROL = (
    0xC021,  # LCP
    0xC023,  # PAP
    0xC025,  # link quality report
    0xC223,  # CHAP
    0xC227,  # EAP
    0x8021,  # IPCP
    0x8057,  # IPV6CP
    0x8281,  # MPLSCP
    0x80FD,  # CCP
    0x80FB,  # single-link CCP
    0x8053,  # ECP
    0x8031,  # BCP
    0x803D,  # multilink control
    0x8207,  # CDPCP
    0x0207,  # Cisco discovery protocol
)

# (namespace, value, layer name)
ROUTES: list[tuple[int, int, str]] = [
    (LINKTYPE, 0, "null"),          # BSD loopback, host byte order
    (LINKTYPE, 1, "eth"),
    (LINKTYPE, 101, "ip"),          # raw IP
    (LINKTYPE, 108, "loop"),        # OpenBSD loopback, network byte order
    (LINKTYPE, 113, "sll"),
    (LINKTYPE, 228, "ipv4"),
    (LINKTYPE, 229, "ipv6"),
    (LINKTYPE, 276, "sll2"),
    (INTERNAL, IP_BY_VERSION, "ip"),
    (ETHERTYPE, 0x0800, "ipv4"),
    (ETHERTYPE, 0x86DD, "ipv6"),
    (ETHERTYPE, 0x8100, "vlan"),
    (ETHERTYPE, 0x88A8, "vlan"),
    (ETHERTYPE, 0x9100, "vlan"),
    (ETHERTYPE, 0x9200, "vlan"),
    (ETHERTYPE, 0x0806, "arp"),
    (ETHERTYPE, 0x8035, "arp"),     # RARP
    (ETHERTYPE, 0x88CC, "lldp"),
    (ETHERTYPE, 0x8809, "slow"),    # LACP, marker, OAM
    (ETHERTYPE, 0x888E, "eapol"),
    (ETHERTYPE, 0x8137, "ipx"),
    (ETHERTYPE, 0x88A2, "aoe"),
    (ETHERTYPE, 0x8902, "cfm"),
    (ETHERTYPE, 0x88F7, "ptp"),
    (ETHERTYPE, 0x9000, "loopback"),
    (ETHERTYPE, 0x88E5, "macsec"),
    (ETHERTYPE, 0x8863, "pppoe-discovery"),
    (ETHERTYPE, ethernet.LLC_KEY, "llc"),
    (IPPROTO, 0, "ipv6-ext"),       # hop-by-hop options
    (IPPROTO, 43, "ipv6-ext"),      # routing
    (IPPROTO, 44, "ipv6-frag"),
    (IPPROTO, 60, "ipv6-ext"),      # destination options
    (IPPROTO, 1, "icmp"),
    (IPPROTO, 6, "tcp"),
    (IPPROTO, 17, "udp"),
    (IPPROTO, 58, "icmpv6"),
    (IPPROTO, 51, "ah"),
    # PPP and PPPoE
    (LINKTYPE, 9, "ppp"),
    (LINKTYPE, 50, "ppp"),          # PPP in HDLC-like framing (or Cisco HDLC)
    (LINKTYPE, 51, "pppoe"),        # PPPoE session header, no Ethernet
    (LINKTYPE, 104, "chdlc"),       # Cisco HDLC
    (ETHERTYPE, 0x8864, "pppoe"),
    (ETHERTYPE, 0x880B, "ppp"),     # GRE (PPTP) and L2TPv2 data
    (PPP, 0x0021, "ipv4"),
    (PPP, 0x0057, "ipv6"),
    (PPP, 0x0281, "mpls"),
    (PPP, 0x0283, "mpls"),
    *((PPP, proto, "ppp-control") for proto in PPP_CONTROL),
    # MPLS
    (ETHERTYPE, 0x8847, "mpls"),
    (ETHERTYPE, 0x8848, "mpls"),    # multicast
    (UDP, 6635, "mpls"),            # RFC 7510
    (IPPROTO, 137, "mpls"),         # MPLS in IP (RFC 4023)
    (INTERNAL, PW_ETH_CW, "pw-cw"),
    (INTERNAL, ETH_NO_CW, "eth"),
    # GRE and what it carries
    (IPPROTO, 47, "gre"),
    (UDP, 4754, "gre"),             # GRE in UDP (RFC 8086)
    (ETHERTYPE, 0x6558, "eth"),     # transparent Ethernet bridging
    (ETHERTYPE, 0x88BE, "erspan"),  # type II
    (ETHERTYPE, 0x22EB, "erspan"),  # type III
    (INTERNAL, ERSPAN_I, "erspan"),
    (ETHERTYPE, 0x2001, "nhrp"),
    (ETHERTYPE, 0x8909, "cmd"),     # Cisco MetaData (TrustSec SGT), on Ethernet or in GRE
    # L2TP
    (UDP, 1701, "l2tp"),
    (IPPROTO, 115, "l2tpv3"),
    (INTERNAL, L2TP_CONTROL, "l2tp-control"),
    # VXLAN, IP in IP
    (UDP, 4789, "vxlan"),
    (IPPROTO, 4, "ipip"),
    (IPPROTO, 41, "ipip"),
]

# how a row ends when its next key is not in the table
MISS_STATUS = {LINKTYPE: UNSUPPORTED, ETHERTYPE: UNSUPPORTED, PPP: UNSUPPORTED,
               INTERNAL: UNSUPPORTED, IPPROTO: OK, UDP: OK}

KEY_SPACE = 1 << 16


@dataclass(frozen=True)
class Decoder:
    name: str
    layer_id: int
    fn: Callable
    visible: bool


class Dispatch:
    def __init__(self, layers=LAYERS, routes=ROUTES, miss=MISS_STATUS):
        # layer id 0 is "link": the capture's link type itself
        self.layer_names = ["link"] + list(layers)
        self.layer_ids = {name: i for i, name in enumerate(self.layer_names)}
        self.decoders = [None] + [Decoder(name, self.layer_ids[name], fn, visible)
                                  for name, (fn, visible) in layers.items()]
        self.flat = np.zeros(NAMESPACES * KEY_SPACE, dtype=np.int16)
        for ns, value, name in routes:
            self.flat[ns * KEY_SPACE + value] = self.layer_ids[name]
        self.miss_status = np.array([miss.get(ns, UNSUPPORTED) for ns in range(NAMESPACES)],
                                    dtype=np.uint8)

    def route(self, f, rows, ns, value) -> None:
        if np.ndim(ns) == 0 and np.ndim(value) == 1:
            # the common call: one namespace, a column of values (all in range: fields of
            # at most 16 bits); no miss work where a miss ends the row ok
            value = np.asarray(value)
            if value.size and not (value.min() < 0 or value.max() >= KEY_SPACE):
                dec = self.flat[int(ns) * KEY_SPACE + value]
                f.next[rows] = dec
                if self.miss_status[ns] != OK:
                    miss = dec == 0
                    if miss.any():
                        f.fail(rows[miss], UNSUPPORTED)
                return
        value = np.broadcast_to(np.asarray(value, dtype=np.int64), rows.shape)
        ns = np.broadcast_to(np.asarray(ns, dtype=np.int64), rows.shape)
        in_range = (value >= 0) & (value < KEY_SPACE)
        dec = np.where(in_range, self.flat[ns * KEY_SPACE + np.where(in_range, value, 0)], 0)
        f.next[rows] = dec
        miss = dec == 0
        if miss.any():
            unsupported = rows[miss & (self.miss_status[ns] != OK)]
            if unsupported.size:
                f.fail(unsupported, UNSUPPORTED)

    def known(self, ns: int, value: np.ndarray) -> np.ndarray:
        """Which values of a namespace have a decoder (UDP tries both ports)."""
        value = np.asarray(value, dtype=np.int64)
        return self.flat[ns * KEY_SPACE + (value & (KEY_SPACE - 1))] != 0

    def id(self, name: str) -> int:
        return self.layer_ids[name]


DEFAULT = Dispatch()
