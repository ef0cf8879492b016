"""JL art.14: lines are dedicated lines, VPNs over the private network, or wireless VPDN;
never a VPN over the internet. Tunnel or VPN traffic with a public endpoint (outside
`network.private`, and not link-scope) breaks it: the tunnels whose protocol declares them a
VPN (`Tunnel(..., vpn=NAME)`: L2TP, GRE, PPTP, IP-in-IP, Teredo) by their outer header;
IPsec (ESP, IKE), OpenVPN and WireGuard by protocol, port and first payload bytes."""
from __future__ import annotations

import numpy as np

from ybsensor.decoders.protocol import TUNNELS
from ybsensor.core.addresses import address
from ybsensor.core.plan import PUBLIC

from .base import Detector, Finding
from .content import head, port_in

VPN_TUNNELS = {t.id: t.vpn for t in TUNNELS if t is not None and t.vpn}
ESP, UDP, TCP = 50, 17, 6
IKE_PORTS = (500, 4500)
OPENVPN_PORT = 1194
IS_VPN_TUNNEL = np.zeros(256, dtype=bool)        # by tunnel kind
IS_VPN_TUNNEL[list(VPN_TUNNELS)] = True
VPN_PROTOCOLS = ["", "ipsec-esp", "ipsec-ike", "wireguard", "openvpn"]
# WireGuard message types and their fixed lengths (handshake init, response, cookie)
WIREGUARD_SIZE_OF = np.zeros(256, dtype=np.int64)
WIREGUARD_SIZE_OF[[1, 2, 3]] = [148, 92, 64]
# OpenVPN opcodes (high 5 bits): hard resets that open sessions, control, ack, data
OPENVPN_OPCODES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)


class InternetVpn(Detector):
    name = "internet_vpn"
    rule = "JL art.14"

    def detect(self, ctx) -> list[Finding]:
        t = ctx.t
        out = []
        # tunnels: the IP header that carries the outermost tunnel is the outer one (its
        # zones are looked up for the VPN tunnels' rows only: other rows need none)
        tunnel = np.flatnonzero(IS_VPN_TUNNEL[t.tun_kind[:, 0]] & (t.ntun > 0) & (t.n_ip > 0))
        zone = self.plan.zone
        src_out = (zone(t.outer_src_hi[tunnel], t.outer_src_lo[tunnel]) & PUBLIC) != 0
        dst_out = (zone(t.outer_dst_hi[tunnel], t.outer_dst_lo[tunnel]) & PUBLIC) != 0
        public = src_out | dst_out
        rows, dst_public = tunnel[public], dst_out[public]
        if rows.size:
            # the names bound now: `rows` is taken again below (the late binding of a
            # closure would read that one)
            def explain_tunnel(row: int, rows=rows, dst_public=dst_public) -> dict:
                public = dst_public[np.searchsorted(rows, row)]
                hi, lo = ((t.outer_dst_hi, t.outer_dst_lo) if public else (t.outer_src_hi, t.outer_src_lo))
                return {"vpn": VPN_TUNNELS[int(t.tun_kind[row, 0])],
                        "public_endpoint": address(int(hi[row]), int(lo[row]))}
            out.append(Finding(rows, "high", "tunnel_over_internet", explain_tunnel))
        # VPN protocols seen as the innermost traffic
        inner_public = ctx.has_ip & (((ctx.src_zone | ctx.dst_zone) & PUBLIC) != 0)
        cand = np.flatnonzero(inner_public & ((t.proto == ESP) | (t.proto == UDP) | (t.proto == TCP)))
        if not cand.size:
            return out
        kind = np.zeros(len(cand), dtype=np.int64)  # index into VPN_PROTOCOLS; 0 = none
        proto = t.proto[cand]
        udp = proto == UDP
        first = head(t, cand, 4)
        plen = t.payload_len[cand]
        msg_type = first[:, 0]
        zeros = (first[:, 1:4] == 0).all(axis=1)
        wg_size = WIREGUARD_SIZE_OF[msg_type]
        wireguard = udp & zeros & (((wg_size == plen) & (wg_size > 0)) |
                                   ((msg_type == 4) & (plen >= 32) & (plen % 16 == 0)))
        # OpenVPN on its port: UDP opcode byte, or TCP 2-byte length then opcode byte
        opcode = np.where(udp, first[:, 0], first[:, 2]) >> 3
        openvpn = port_in(t, cand, (OPENVPN_PORT,)) & np.isin(opcode, OPENVPN_OPCODES)
        # strongest evidence last, so it wins
        kind[openvpn] = 4
        kind[wireguard] = 3
        kind[udp & port_in(t, cand, IKE_PORTS)] = 2
        kind[proto == ESP] = 1
        hit = kind > 0
        rows, kind = cand[hit], kind[hit]
        if rows.size:
            def explain_vpn(row: int) -> dict:
                public_dst = (ctx.dst_zone[row] & PUBLIC) != 0
                hi, lo = (t.dst_hi, t.dst_lo) if public_dst else (t.src_hi, t.src_lo)
                return {"vpn": VPN_PROTOCOLS[int(kind[np.searchsorted(rows, row)])],
                        "public_endpoint": address(int(hi[row]), int(lo[row]))}
            out.append(Finding(rows, "high", "vpn_over_internet", explain_vpn))
        return out
