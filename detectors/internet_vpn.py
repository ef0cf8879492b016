"""JL art.14: lines are dedicated lines, VPNs over the private network, or wireless VPDN;
never a VPN over the internet. Tunnel or VPN traffic with a public endpoint (outside
`network.private`, and not link-scope) breaks it: the tunnels whose protocol declares them a
VPN (`Tunnel(..., vpn=NAME)`: L2TP, GRE, PPTP, IP-in-IP, Teredo) by their outer header;
IPsec (ESP, IKE), OpenVPN and WireGuard by protocol, port and first payload bytes; OpenVPN
on any other port (TCP 443, to pass a firewall) by its opening exchange."""
from __future__ import annotations

from collections import OrderedDict

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
# Off its port, OpenVPN is known by its opening exchange, as nDPI knows it: a client's hard
# reset (v2, or v3 with tls-crypt-v2; key id 0) carries the 8-byte session id the client
# picked, and the server's hard reset (v2) acknowledges it: its ack array names the client's
# session, found anywhere in the reply's first bytes (after the HMAC of tls-auth, say): 64
# random bits do not repeat by chance. With tls-crypt the array is encrypted; both resets
# then open with their packet id 1 and a time (seconds) in the clear, the two times seconds
# apart, which random bytes match once in 2^57.
OPENVPN_CLIENT_RESETS = np.array([7 << 3, 10 << 3], dtype=np.uint8)
OPENVPN_SERVER_RESET = 8 << 3
SESSION_ID = 8
FIRST_PACKET = b"\x00\x00\x00\x01"   # a tls-crypt reset's packet id, before its time
CLOCKS_APART = 60               # seconds between a client's reset's time and its server's
REPLY_HEAD = 128               # bytes of a server's hard reset searched for the session id
MAX_OPENINGS = 4096            # flows whose client reset waits for the server's


class InternetVpn(Detector):
    name = "internet_vpn"
    rule = "JL art.14"

    def __init__(self, config, plan):
        super().__init__(config, plan)
        # flow key -> (the session id a client's hard reset opened, the client's port, the
        # packet id and time after the id), oldest first, waiting for the server's hard
        # reset (in this batch or a later one)
        self.openings: OrderedDict[int, tuple[bytes, int, bytes]] = OrderedDict()
        self.openings_dropped = 0

    def metric_families(self):
        from prometheus_client.core import CounterMetricFamily
        yield CounterMetricFamily("ybsensor_vpn_openings_dropped", "OpenVPN openings off its "
                                  "port (a client's hard reset) forgotten unanswered to stay "
                                  "within their bound (internet_vpn)",
                                  value=self.openings_dropped)

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
        at = np.where(udp, 0, 2)
        op = first[np.arange(len(cand)), at]
        openvpn = port_in(t, cand, (OPENVPN_PORT,)) & np.isin(op >> 3, OPENVPN_OPCODES)
        openvpn |= self._openvpn_opened(ctx, cand, udp, at, op)
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

    def _openvpn_opened(self, ctx, cand: np.ndarray, udp: np.ndarray, at: np.ndarray,
                        op: np.ndarray) -> np.ndarray:
        """Which of `cand` (rows to or from a public address, in row order) are a server's
        OpenVPN hard reset acknowledging the session a client's hard reset opened on the
        same flow, on any port. `at`: where each row's opcode byte `op` is (over TCP each
        message has a 2-byte length first)."""
        t = ctx.t
        after = at + 1 + SESSION_ID                   # where the session id ends
        first = head(t, cand, 2 + 1 + SESSION_ID + 8)
        plen = t.payload_len[cand]
        framed = udp | ((first[:, 0].astype(np.int64) << 8 | first[:, 1]) == plen - 2)
        # a reset's least: the id, then a packet id (and an ack array's length)
        client = np.isin(op, OPENVPN_CLIENT_RESETS) & framed & (plen >= after + 5)
        server = (op == OPENVPN_SERVER_RESET) & framed & (plen >= after + 5)
        opened = np.zeros(len(cand), dtype=bool)
        if not client.any() and not (server.any() and self.openings):
            return opened
        keys, openings = ctx.flow_keys, self.openings
        for i in np.flatnonzero(client | server).tolist():
            row, key = int(cand[i]), int(keys[cand[i]])
            if client[i]:
                openings[key] = (bytes(first[i, at[i] + 1: after[i]]), int(t.sport[row]),
                                 bytes(first[i, after[i]: after[i] + 8]))
                openings.move_to_end(key)
                if len(openings) > MAX_OPENINGS:
                    openings.popitem(last=False)
                    self.openings_dropped += 1
                continue
            opening = openings.get(key)
            if opening is None or int(t.dport[row]) != opening[1]:
                continue
            session, _, stamp = opening
            reply = ctx.payload(row, REPLY_HEAD)[after[i]:]
            if session in reply or _same_clock(stamp, reply[:8]):
                opened[i] = True
                del openings[key]
        return opened


def _same_clock(client: bytes, server: bytes) -> bool:
    """Whether two resets' (packet id, time) fields are tls-crypt's first packets, sent
    seconds apart."""
    if client[:4] != FIRST_PACKET or server[:4] != FIRST_PACKET or len(server) < 8:
        return False
    return abs(int.from_bytes(client[4:8], "big") - int.from_bytes(server[4:8], "big")) \
        <= CLOCKS_APART
