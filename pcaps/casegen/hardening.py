"""Builders of the hardening cases (pcaps/cases/tunnel_*): tunnels nested inside an
institution's line (JL art.14). The decoder records at most MAX_LAYERS = 16 layers a frame;
a frame whose chain runs past that hides the flow it carries, and is a finding of its own
(`tunnel_evasion`). Nesting within the limit is seen through: the inner flow raises what it
deserves, nothing more."""
from __future__ import annotations

import struct

from scapy.layers.inet import IP
from scapy.packet import Raw

import casegen as mc

DEPTH_LIMIT = 16     # layers the decoder records per frame (decoders/table.py MAX_LAYERS)
# the layers of each carrier line, as the decoder names them
LINE_LAYERS = {"gre": ["eth", "ipv4", "gre"], "l2tp": ["eth", "ipv4", "udp", "l2tp", "ppp"]}
TUNNEL_A, TUNNEL_B = mc.HOSP, mc.HOSP_C     # the hospital's own hosts at both tunnel ends
RULE_TE = ("tunnel_evasion (JL art.14): a line is one the sensor can see through; a frame "
           f"whose layers run past the decoder's depth limit ({DEPTH_LIMIT} layers) hides "
           "the flow it carries and is a high finding, one alert per flow the sensor can "
           "see (the deepest IP header it decoded), the institution being the line's owner")


def nest(p: mc.Pkt, n: int) -> tuple[bytes, mc.Pkt]:
    """p's packet inside n keyless GRE tunnels between the hospital's two hosts, and the
    innermost of those tunnels' headers as a packet of its own."""
    ip, src, dst = p.ip, *((TUNNEL_A, TUNNEL_B) if p.outbound else (TUNNEL_B, TUNNEL_A))
    for k in range(n):
        gre = struct.pack("!HH", 0, mc.ip_etype(ip))
        ip = bytes(IP(src=src, dst=dst, id=mc.outer_id(ip), ttl=64, proto=47) / Raw(gre + ip))
        if k == 0:
            tunnel = mc.Pkt(ip, p.outbound, src, dst, 47, None, None)
    return ip, tunnel


def layers_seen(line: mc.Line, n: int, inner: list[str]) -> list[str]:
    return LINE_LAYERS[line.key.split(":")[0]] + ["ipv4", "gre"] * n + inner


def nested_case(n: int):
    def build(name: str, line: mc.Line) -> mc.Case:
        layers = layers_seen(line, n, ["ipv4", "tcp"])
        past = len(layers) > DEPTH_LIMIT
        c = mc.Case(name, f"A hospital workstation ({mc.HOSP}) wraps HTTPS to the public "
                          f"{mc.PUB_WEB} in {n} GRE tunnels nested one in another between "
                          f"its own hosts {TUNNEL_A} and {TUNNEL_B}, {line.describe}: "
                          f"{len(layers)} layers a frame ({'/'.join(layers)}). ")
        ids = mc.IpIds()
        pkts = mc.tls_session(mc.TcpConn(ids, mc.HOSP, 53000 + n, mc.PUB_WEB, 443), f"nest{n}")
        numbers = []
        for p in pkts:
            ip, tunnel = nest(p, n)
            wrapped = mc.Pkt(ip, p.outbound, p.src, p.dst, p.proto, p.sport, p.dport)
            # what the sensor can see of the frame: the inner flow within the limit, else
            # the deepest tunnel header it decoded (the flow stays hidden)
            c.frames.append(mc.Frame(line.frame(wrapped), tunnel if past else p))
            numbers.append(len(c.frames))
        if past:
            seen = layers[:DEPTH_LIMIT]
            c.readme += (f"Rule: {RULE_TE}. The limit cuts the chain after {'/'.join(seen)}: "
                         f"the innermost tunnel header seen is {TUNNEL_A} <-> {TUNNEL_B}, GRE, "
                         f"both the hospital's, so no other rule applies to it. Expected: one "
                         f"high tunnel_evasion alert for every frame of the hidden flow.")
            c.expect("tunnel_evasion", "high", line.key, mc.HOSP_CODE, numbers,
                     mc.ev("nested_past_depth_limit", layers_seen="/".join(seen),
                           depth_limit=DEPTH_LIMIT))
        else:
            c.readme += (f"Within the depth limit ({DEPTH_LIMIT} layers) the sensor sees "
                         f"through every tunnel. Rule: {mc.RULE_IB}. Expected: the inner "
                         f"flow's one high internet_bound alert naming {mc.PUB_WEB}, and no "
                         f"tunnel_evasion.")
            c.expect("internet_bound", "high", line.key, mc.HOSP_CODE, numbers,
                     mc.ev("address_outside_private", outside="dst", address=mc.PUB_WEB))
        return c
    return build
