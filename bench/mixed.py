"""The reference mixed pcap: the encapsulations of a medical-insurance private network edge.

A few dozen template frames are built with scapy (one per encapsulation, inner transport and
payload size); numpy then replicates them into a few hundred thousand frames of flows (about
20 frames a flow, heavy-tailed, both directions), writing per-frame values (addresses, ports, IP ids, TCP sequence numbers, VLAN ids, MPLS labels, GRE
keys, L2TP tunnel/session ids, ERSPAN sessions, VXLAN VNIs) into the byte arrays at offsets
found once per template, and writes the pcap with numpy record headers. Length fields come
from scapy, since each payload size is its own template; checksums are left as scapy computed
them for the template (decoders do not check them). Deterministic for a given seed.

Payloads are random bytes, except that TCP flows to the services that run over TLS (HTTPS
on 443 and 8443, RDP on 3389) carry TLS records: each segment one application-data record
(a record header, then random bytes), as they do on the network. The payload detectors
search the rest, all of it, as plaintext (databases, HTTP, SMB, DNS, syslog ... and SSH,
whose banners the mix does not carry). One frame in a hundred is an IPv4 fragment: UDP
datagrams over the MTU in two fragments, adjacent (`FRAGMENTED`), which the sensor
reassembles. Of the plaintext HTTP flows (TCP 80, 8080), 10 % start an answer with a gzip
JSON body and 5 % with a chunked one, one whole message in one of their first two segments
(`HTTP_CODED`): what the payload normaliser decodes. `plaintext=True` builds the same mix
without the
record headers: every payload plaintext, the payload detectors' worst case.

    from bench.mixed import mixed_pcap
    path = mixed_pcap()            # ~300 k frames, cached under bench/out/
    path = mixed_pcap(SMALL)       # 30 k frames, for tests
    path = mixed_pcap(plaintext=True)

`python bench/mixed.py [--frames N]` builds it and prints the mix.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import struct
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out"
FRAMES = 300_000
SMALL = 30_000
SEED = 20240611
VERSION = 5  # bump when the mix changes, so that cached files are rebuilt

# encapsulation -> share of frames. VPDN (L2TP) and dedicated lines (VLAN, QinQ, MPLS)
# dominate; GRE, ERSPAN (mirrored traffic) and VXLAN are less common.
ENCAP_SHARE = {
    "eth": 0.30,       # Ethernet / IPv4
    "eth6": 0.08,      # Ethernet / IPv6
    "vlan": 0.12,      # 802.1Q / IPv4
    "vlan6": 0.02,     # 802.1Q / IPv6
    "qinq": 0.06,      # 802.1ad + 802.1Q / IPv4
    "mpls": 0.10,      # two MPLS labels / IPv4
    "gre": 0.08,       # IPv4 / GRE with key / IPv4
    "l2tp": 0.12,      # IPv4 / UDP 1701 / L2TPv2 / PPP / IPv4
    "erspan": 0.06,    # IPv4 / GRE / ERSPAN type II / Ethernet / IPv4
    "vxlan": 0.06,     # IPv4 / UDP 4789 / VXLAN / Ethernet / IPv4
}
TRANSPORT_SHARE = {"tcp": 0.8, "udp": 0.2}
# application payload bytes -> share; "max" fills the 1500-byte IP MTU of the outer packet
SIZE_SHARE = {
    "tcp": {0: 0.35, 64: 0.08, 256: 0.10, 576: 0.10, 1024: 0.07, "max": 0.30},
    "udp": {64: 0.30, 256: 0.30, 576: 0.15, 1024: 0.10, "max": 0.15},
}
MTU = 1500
# IPv4 fragments: UDP datagrams over the MTU (syslog bursts, large DNS answers, NFS-style
# reads) sent as a first fragment (with the UDP header) and a last one, adjacent frames of
# one datagram; this share of frames, half first fragments and half last ones
FRAGMENTED = 0.01
FRAGMENTED_DATAGRAM = 1800   # UDP data bytes of such a datagram
TCP_SERVICES = ([443] * 8 + [80] * 3 + [8443, 3306, 1433, 1521, 5432, 22, 3389, 445, 8080])
UDP_SERVICES = [53] * 4 + [123, 514, 161, 1812, 443, 5060]
TLS_SERVICES = [443, 8443, 3389]   # TCP services whose segments carry TLS records
TLS_APPLICATION_DATA = 23
INSTITUTIONS = 200   # distinct access lines / client subnets
PACKETS_PER_FLOW = 20  # mean frames of a flow


@dataclass
class Patch:
    """Write `key`'s per-frame value into `width` big-endian bytes at `offset`, keeping the
    bits outside `mask` (mask/shift place a bit field inside the word)."""
    offset: int
    width: int
    key: str
    mask: int | None = None
    shift: int = 0


@dataclass
class Template:
    encap: str
    transport: str
    payload: int
    frame: np.ndarray
    weight: float
    patches: list[Patch] = field(default_factory=list)
    payload_at: int = -1   # where the payload starts in the frame


def _scapy():
    import logging
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    from scapy.layers.inet import GRE, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
    from scapy.layers.l2tp import L2TP
    from scapy.layers.ppp import HDLC, PPP
    from scapy.layers.vxlan import VXLAN
    from scapy.contrib.mpls import MPLS
    from scapy.contrib.erspan import ERSPAN_II
    return dict(GRE=GRE, IP=IP, TCP=TCP, UDP=UDP, IPv6=IPv6, Dot1AD=Dot1AD, Dot1Q=Dot1Q,
                Ether=Ether, L2TP=L2TP, HDLC=HDLC, PPP=PPP, VXLAN=VXLAN, MPLS=MPLS,
                ERSPAN_II=ERSPAN_II)


MAC_A, MAC_B = "00:1b:21:0a:00:01", "00:1b:21:0b:00:02"
MAC_C, MAC_D = "02:42:ac:11:00:03", "02:42:ac:11:00:04"


def _build(s, encap: str, transport: str, payload: bytes):
    """One scapy packet of the given shape (placeholder ids, patched per frame later)."""
    E, IP, IPv6 = s["Ether"], s["IP"], s["IPv6"]
    v6 = encap.endswith("6")
    inner_ip = (IPv6(src="fd00:1::1", dst="fd00:200::1", hlim=64) if v6
                else IP(src="10.1.0.1", dst="10.200.0.1", ttl=63, flags="DF"))
    l4 = (s["TCP"](sport=40000, dport=443, flags="A" if not payload else "PA", window=501)
          if transport == "tcp" else s["UDP"](sport=40000, dport=53))
    inner = inner_ip / l4 / payload
    outer_ip = IP(src="100.64.0.1", dst="10.255.0.1", ttl=254)
    if encap in ("eth", "eth6"):
        return E(src=MAC_A, dst=MAC_B) / inner
    if encap in ("vlan", "vlan6"):
        return E(src=MAC_A, dst=MAC_B) / s["Dot1Q"](vlan=100) / inner
    if encap == "qinq":
        return E(src=MAC_A, dst=MAC_B) / s["Dot1AD"](vlan=10) / s["Dot1Q"](vlan=100) / inner
    if encap == "mpls":
        return (E(src=MAC_A, dst=MAC_B) / s["MPLS"](label=16, s=0, ttl=254)
                / s["MPLS"](label=1000, s=1, ttl=254) / inner)
    if encap == "gre":
        return (E(src=MAC_A, dst=MAC_B) / outer_ip / s["GRE"](key_present=1, key=1, proto=0x0800)
                / inner)
    if encap == "l2tp":
        return (E(src=MAC_A, dst=MAC_B) / outer_ip / s["UDP"](sport=1701, dport=1701)
                / s["L2TP"](tunnel_id=1, session_id=1) / s["HDLC"]() / s["PPP"](proto=0x0021)
                / inner)
    if encap == "erspan":
        return (E(src=MAC_A, dst=MAC_B) / outer_ip
                / s["GRE"](seqnum_present=1, seqence_number=1, proto=0x88BE)
                / s["ERSPAN_II"](session_id=1, index=1) / E(src=MAC_C, dst=MAC_D) / inner)
    if encap == "vxlan":
        return (E(src=MAC_A, dst=MAC_B) / outer_ip / s["UDP"](sport=50000, dport=4789)
                / s["VXLAN"](vni=5000, flags=0x08) / E(src=MAC_C, dst=MAC_D) / inner)
    raise ValueError(encap)


def _layers(s, raw: bytes) -> list[tuple[str, int]]:
    """(layer class name, offset) of every header in the frame, outermost first."""
    from scapy.packet import NoPayload, Padding, Raw
    layer, off, out = s["Ether"](raw), 0, []
    while not isinstance(layer, (NoPayload, Raw, Padding)):
        out.append((type(layer).__name__, off))
        off += len(layer) - len(layer.payload)
        layer = layer.payload
    return out


def _patches(layers: list[tuple[str, int]], transport: str) -> list[Patch]:
    names = [n for n, _ in layers]
    ips = [(n, o) for n, o in layers if n in ("IP", "IPv6")]
    patches: list[Patch] = []
    (iname, ioff) = ips[-1]
    if iname == "IP":
        patches += [Patch(ioff + 4, 2, "ipid"), Patch(ioff + 12, 4, "src4"),
                    Patch(ioff + 16, 4, "dst4")]
    else:
        patches += [Patch(ioff + 8, 8, "src6_hi"), Patch(ioff + 16, 8, "src6_lo"),
                    Patch(ioff + 24, 8, "dst6_hi"), Patch(ioff + 32, 8, "dst6_lo")]
    toff = [o for n, o in layers if n in ("TCP", "UDP")][-1]
    patches += [Patch(toff, 2, "sport"), Patch(toff + 2, 2, "dport")]
    if transport == "tcp":
        patches += [Patch(toff + 4, 4, "seq"), Patch(toff + 8, 4, "ack")]
    if len(ips) > 1:  # a tunnel: its outer IPv4 header
        ooff = ips[0][1]
        patches += [Patch(ooff + 4, 2, "outer_ipid"), Patch(ooff + 12, 4, "outer_src"),
                    Patch(ooff + 16, 4, "outer_dst")]
    for name, off in layers:
        if name == "Dot1Q":
            patches.append(Patch(off, 2, "cvid", mask=0x0FFF))
        elif name == "Dot1AD":
            patches.append(Patch(off, 2, "svid", mask=0x0FFF))
        elif name == "MPLS":
            first = off == layers[names.index("MPLS")][1]
            key = "mpls_top" if first and names.count("MPLS") > 1 else "mpls_vpn"
            patches.append(Patch(off, 4, key, mask=0xFFFFF000, shift=12))
        elif name == "GRE" and "ERSPAN_II" not in names:
            patches.append(Patch(off + 4, 4, "gre_key"))
        elif name == "GRE":
            patches.append(Patch(off + 4, 4, "gre_seq"))
        elif name == "L2TP":
            patches += [Patch(off + 2, 2, "l2tp_tunnel"), Patch(off + 4, 2, "l2tp_session")]
        elif name == "ERSPAN_II":
            patches += [Patch(off + 2, 2, "erspan_session", mask=0x03FF),
                        Patch(off + 4, 4, "erspan_index", mask=0x000FFFFF)]
        elif name == "VXLAN":
            patches.append(Patch(off + 4, 4, "vni", mask=0xFFFFFF00, shift=8))
    if "VXLAN" in names:
        udp_off = [o for n, o in layers if n == "UDP"][0]
        patches.append(Patch(udp_off, 2, "vxlan_sport"))
    return patches


def templates(encaps=None, seed: int = SEED) -> list[Template]:
    """The template frames of the mix (or of some encapsulations of it)."""
    s = _scapy()
    rng = np.random.default_rng(seed)
    out = []
    whole_mix = encaps is None
    encaps = list(ENCAP_SHARE) if encaps is None else list(encaps)
    for encap in encaps:
        for transport, tshare in TRANSPORT_SHARE.items():
            bare = bytes(_build(s, encap, transport, b""))
            l3 = _layers(s, bare)
            first_ip = [o for n, o in l3 if n in ("IP", "IPv6")][0]
            room = MTU - (len(bare) - first_ip)
            for size, sshare in SIZE_SHARE[transport].items():
                n = room if size == "max" else min(int(size), room)
                payload = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
                raw = bytes(_build(s, encap, transport, payload))
                layers = _layers(s, raw)
                out.append(Template(encap, transport, n, np.frombuffer(raw, dtype=np.uint8),
                                    ENCAP_SHARE[encap] * tshare * sshare,
                                    _patches(layers, transport), len(raw) - n))
    if whole_mix:
        out += _fragment_templates(s, rng)
    total = sum(t.weight for t in out)
    for t in out:
        t.weight /= total
    return out


def _fragment_templates(s, rng) -> list[Template]:
    """A fragmented UDP datagram's two frames: "frag" (the first fragment, UDP header and
    ports) is drawn like any template; "frag2" (the last fragment) follows each (`build`)."""
    from scapy.packet import Raw
    E, IP, UDP = s["Ether"], s["IP"], s["UDP"]
    data = rng.integers(0, 256, FRAGMENTED_DATAGRAM, dtype=np.uint8).tobytes()
    dgram = bytes(IP(src="10.1.0.1", dst="10.200.0.1") / UDP(sport=40000, dport=514) / data)[20:]
    cut = (MTU - 20) // 8 * 8
    first = bytes(E(src=MAC_A, dst=MAC_B) / IP(src="10.1.0.1", dst="10.200.0.1", id=1, proto=17,
                                               flags="MF", ttl=63) / Raw(dgram[:cut]))
    last = bytes(E(src=MAC_A, dst=MAC_B) / IP(src="10.1.0.1", dst="10.200.0.1", id=1, proto=17,
                                              frag=cut // 8, ttl=63) / Raw(dgram[cut:]))
    ip = [Patch(14 + 4, 2, "ipid"), Patch(14 + 12, 4, "src4"), Patch(14 + 16, 4, "dst4")]
    share = FRAGMENTED / 2 / (1 - FRAGMENTED / 2)     # of the other templates' total (1)
    return [Template("frag", "udp", cut - 8, np.frombuffer(first, np.uint8), share,
                     ip + [Patch(34, 2, "sport"), Patch(36, 2, "dport")], 14 + 20 + 8),
            Template("frag2", "udp", len(dgram) - cut, np.frombuffer(last, np.uint8), 0.0, ip,
                     14 + 20)]


def _flows(rng, which: np.ndarray, tpls: list[Template]) -> tuple[np.ndarray, np.ndarray]:
    """A flow for every frame, and the frame's index within its flow. Frames of one
    (encapsulation, transport) share flows of that kind, PACKETS_PER_FLOW frames a flow on
    average, flow sizes heavy-tailed (a Zipf-like law: a few elephants, many mice)."""
    kinds = {}
    kind_of = np.array([kinds.setdefault((t.encap, t.transport), len(kinds)) for t in tpls])
    frame_kind = kind_of[which]
    flow = np.empty(len(which), dtype=np.int64)
    first = 0
    for k in range(len(kinds)):
        rows = np.flatnonzero(frame_kind == k)
        if not rows.size:
            continue
        nflows = max(1, len(rows) // PACKETS_PER_FLOW)
        weight = 1.0 / np.arange(1, nflows + 1) ** 0.8
        flow[rows] = first + rng.choice(nflows, size=len(rows), p=weight / weight.sum())
        first += nflows
    order = np.argsort(flow, kind="stable")
    sorted_flow = flow[order]
    starts = np.flatnonzero(np.r_[True, sorted_flow[1:] != sorted_flow[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    index = np.empty(len(which), dtype=np.int64)
    index[order] = np.arange(len(order)) - run_start
    return flow, index


def _sent_before(flow: np.ndarray, index: np.ndarray, sent: np.ndarray) -> np.ndarray:
    """Per frame: what the frames of its flow before it (in `index` order) sent in all."""
    order = np.lexsort((index, flow))
    run = np.cumsum(sent[order]) - sent[order]
    f = flow[order]
    starts = np.flatnonzero(np.r_[True, f[1:] != f[:-1]])
    out = np.empty(len(flow), dtype=np.int64)
    out[order] = run - np.repeat(run[starts], np.diff(np.r_[starts, len(f)]))
    return out


def _values(rng, flow: np.ndarray, index: np.ndarray,
            payload: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame values of every patch key (some unused by a template): what a flow keeps
    (institution, hosts, ports, line ids) is drawn once per flow, the rest per frame. A TCP
    direction's sequence number advances by what it sent, its acknowledgement by what the
    other side sent, so every stream is whole and in order, as a capture without loss is."""
    nflows = int(flow.max()) + 1 if len(flow) else 0
    n = len(flow)
    inst = rng.integers(0, INSTITUTIONS, nflows)[flow]
    host = rng.integers(1, 255, nflows)[flow]
    internet = (rng.random(nflows) < 0.03)[flow]  # the odd flow that leaves for the internet
    server = np.where(internet,
                      (203 << 24) | (0 << 16) | (113 << 8) | rng.integers(1, 255, nflows)[flow],
                      (10 << 24) | (200 << 16) | rng.integers(0, 4, nflows)[flow] << 8
                      | rng.integers(1, 32, nflows)[flow])
    client = (10 << 24) | (1 << 16) | (inst << 8) | host
    eph = rng.integers(32768, 61000, nflows)[flow]
    tcp_svc = np.array(TCP_SERVICES)[rng.integers(0, len(TCP_SERVICES), nflows)][flow]
    udp_svc = np.array(UDP_SERVICES)[rng.integers(0, len(UDP_SERVICES), nflows)][flow]
    c6_hi = np.uint64(0xFD00_0001_0000_0000) | inst.astype(np.uint64)
    c6_lo = host.astype(np.uint64)
    s6_hi = np.full(n, 0xFD00_0200_0000_0000, dtype=np.uint64)
    s6_lo = rng.integers(1, 32, nflows).astype(np.uint64)[flow]
    lac = (100 << 24) | (64 << 16) | (inst << 8) | 1
    lns = (10 << 24) | (255 << 16) | rng.integers(1, 9, nflows)[flow]
    swap = rng.random(n) < 0.45  # a reply: server -> client
    seq0 = rng.integers(0, 1 << 32, nflows)[flow]
    ack0 = rng.integers(0, 1 << 32, nflows)[flow]
    w = np.where
    by_client = _sent_before(flow, index, np.where(swap, 0, payload))
    by_server = _sent_before(flow, index, np.where(swap, payload, 0))
    return {
        "ipid": rng.integers(0, 1 << 16, n),
        "src4": w(swap, server, client), "dst4": w(swap, client, server),
        "src6_hi": w(swap, s6_hi, c6_hi), "src6_lo": w(swap, s6_lo, c6_lo),
        "dst6_hi": w(swap, c6_hi, s6_hi), "dst6_lo": w(swap, c6_lo, s6_lo),
        "sport_tcp": w(swap, tcp_svc, eph), "dport_tcp": w(swap, eph, tcp_svc),
        "sport_udp": w(swap, udp_svc, eph), "dport_udp": w(swap, eph, udp_svc),
        "seq": w(swap, ack0 + by_server, seq0 + by_client) % (1 << 32),
        "ack": w(swap, seq0 + by_client, ack0 + by_server) % (1 << 32),
        "outer_ipid": rng.integers(0, 1 << 16, n),
        "outer_src": w(swap, lns, lac), "outer_dst": w(swap, lac, lns),
        "cvid": 100 + inst, "svid": 10 + inst // 50,
        "mpls_top": 16 + rng.integers(0, 4, nflows)[flow], "mpls_vpn": 1000 + inst,
        "gre_key": 1 + inst, "gre_seq": (rng.integers(0, 1 << 31, nflows)[flow] + index) % (1 << 32),
        "l2tp_tunnel": 1 + inst // 16, "l2tp_session": 1 + inst,
        "erspan_session": 1 + inst, "erspan_index": rng.integers(0, 1 << 20, n),
        "vni": 5000 + inst, "vxlan_sport": rng.integers(49152, 65536, nflows)[flow],
        "tls": np.isin(tcp_svc, TLS_SERVICES),   # (drawn from nothing new: the rest stays)
    }


def _apply(block: np.ndarray, t: Template, vals: dict[str, np.ndarray], rows: np.ndarray):
    for p in t.patches:
        key = p.key
        if key in ("sport", "dport"):
            key = f"{key}_{t.transport}"
        v = vals[key][rows].astype(np.uint64)
        if p.mask is not None:
            old = int.from_bytes(t.frame[p.offset: p.offset + p.width].tobytes(), "big")
            v = np.uint64(old & ~p.mask & ((1 << 8 * p.width) - 1)) | \
                ((v << np.uint64(p.shift)) & np.uint64(p.mask))
        block[:, p.offset: p.offset + p.width] = \
            v.astype(f">u{p.width}").view(np.uint8).reshape(-1, p.width)


def _tls_records(block: np.ndarray, t: Template, tls: np.ndarray) -> None:
    """The frames of `block` whose flow runs over TLS (`tls`): the payload one TLS 1.2
    application-data record, its header over the first five random bytes."""
    if t.transport != "tcp" or t.payload < 5 or not tls.any():
        return
    body = t.payload - 5
    block[tls, t.payload_at: t.payload_at + 5] = np.array(
        [TLS_APPLICATION_DATA, 3, 3, body >> 8, body & 0xFF], dtype=np.uint8)


# plaintext HTTP (TCP 80, 8080): a share of its flows answer with a coded body, each with one
# whole message in one of its first two segments (a JSON API answer), the rest random bytes
HTTP_PORTS = (80, 8080)
HTTP_CODED = {"gzip": 0.10, "chunked": 0.05}      # share of HTTP flows


def _json_answer() -> bytes:
    rows = [{"id": i, "code": f"A{i:05d}", "name": "item", "qty": i % 7, "price": 12.5 * i}
            for i in range(8)]
    return json.dumps({"infcode": 0, "output": rows}, separators=(",", ":")).encode()


def http_message(kind: str) -> bytes:
    """A whole HTTP answer with a gzip or a chunked body."""
    body = _json_answer()
    if kind == "gzip":
        coded = gzip.compress(body, mtime=0)
        return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip"
                b"\r\nContent-Length: %d\r\n\r\n" % len(coded) + coded)
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: "
            b"chunked\r\n\r\n%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")


def _http_messages(flow: np.ndarray, index: np.ndarray, vals: dict, seed: int) -> np.ndarray:
    """Per frame: 0, or 1 + the HTTP_CODED kind whose message its payload starts with (a
    generator of its own, so that the rest of the mix is drawn as before)."""
    rng = np.random.default_rng(seed + 13)
    nflows = int(flow.max()) + 1 if len(flow) else 0
    draw = rng.random(nflows)[flow]
    kind = np.zeros(len(flow), dtype=np.int8)
    edge = 0.0
    for k, share in enumerate(HTTP_CODED.values(), 1):
        kind[(draw >= edge) & (draw < edge + share)] = k
        edge += share
    http = np.isin(vals["sport_tcp"], HTTP_PORTS) | np.isin(vals["dport_tcp"], HTTP_PORTS)
    return np.where(http & (index < 2), kind, 0).astype(np.int8)


def _http_bodies(block: np.ndarray, t: Template, kinds: np.ndarray) -> None:
    if t.transport != "tcp" or not kinds.any():
        return
    for k, name in enumerate(HTTP_CODED, 1):
        msg = np.frombuffer(http_message(name), dtype=np.uint8)
        if len(msg) <= t.payload:
            block[kinds == k, t.payload_at: t.payload_at + len(msg)] = msg


def build(path: Path, frames: int, encaps=None, seed: int = SEED,
          plaintext: bool = False) -> Path:
    """Write the mix (n frames) to `path` as a classic microsecond pcap, Ethernet; with
    `plaintext`, no TLS records (every payload random bytes)."""
    out, _ = _mix(frames, encaps, seed, plaintext)
    _write(path, out)
    return path


def _mix(frames: int, encaps, seed: int, plaintext: bool) -> tuple[np.ndarray, np.ndarray]:
    """The mix's pcap bytes, and where each record starts in them."""
    tpls = templates(encaps, seed)
    rng = np.random.default_rng(seed + 1)
    which = rng.choice(len(tpls), size=frames, p=[t.weight for t in tpls])
    kinds = [t.encap for t in tpls]
    if "frag" in kinds:         # each first fragment is followed by its datagram's last
        first_at, last_tpl = np.flatnonzero(which == kinds.index("frag")), kinds.index("frag2")
        which[first_at[first_at + 1 < frames] + 1] = last_tpl
    lens = np.array([len(t.frame) for t in tpls], dtype=np.int64)[which]
    rec = 16 + lens
    rec_off = 24 + np.concatenate(([0], np.cumsum(rec)[:-1]))
    out = np.empty(24 + int(rec.sum()), dtype=np.uint8)
    out[:24] = np.frombuffer(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1), np.uint8)
    # record headers: time from exponential gaps (mean 10 us), caplen = wirelen
    ts_us = 1_750_000_000_000_000 + np.cumsum(rng.exponential(10.0, frames).astype(np.int64) + 1)
    hdr = np.empty((frames, 4), dtype="<u4")
    hdr[:, 0], hdr[:, 1] = ts_us // 1_000_000, ts_us % 1_000_000
    hdr[:, 2] = hdr[:, 3] = lens
    out[rec_off[:, None] + np.arange(16)] = hdr.view(np.uint8).reshape(frames, 16)
    flow, index = _flows(rng, which, tpls)
    vals = _values(rng, flow, index, np.array([t.payload for t in tpls], dtype=np.int64)[which])
    if "frag" in kinds:         # a last fragment: its first's datagram id and addresses
        pair = np.flatnonzero((which[:-1] == kinds.index("frag")) & (which[1:] == last_tpl))
        for key in ("ipid", "src4", "dst4"):
            vals[key][pair + 1] = vals[key][pair]
    http = _http_messages(flow, index, vals, seed)
    for i, t in enumerate(tpls):
        rows = np.flatnonzero(which == i)
        width = len(t.frame)
        step = max(1, (4 << 20) // width)  # bound the index arrays to a few MB
        for a in range(0, len(rows), step):
            part = rows[a: a + step]
            block = np.tile(t.frame, (len(part), 1))
            _apply(block, t, vals, part)
            if not plaintext:
                _tls_records(block, t, vals["tls"][part])
            _http_bodies(block, t, http[part])
            out[(rec_off[part] + 16)[:, None] + np.arange(width)] = block
    return out, rec_off


def _write(path: Path, *pieces: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        for piece in pieces:
            piece.tofile(fh)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)  # atomic: concurrent builders write the same bytes


def mixed_pcap(frames: int = FRAMES, encaps=None, seed: int = SEED,
               plaintext: bool = False) -> Path:
    """Path of the cached mixed pcap of `frames` frames, built on first use; `plaintext`:
    the mix without TLS records."""
    tag = ("all" if encaps is None else "+".join(encaps)) + ("-plaintext" if plaintext else "")
    path = OUT / f"mixed-{tag}-{frames}-s{seed}-v{VERSION}.pcap"
    if not path.exists():
        build(path, frames, encaps, seed, plaintext)
    return path


def rotating_pcaps(frames: int, files: int, seed: int = SEED) -> list[Path]:
    """The mix of `frames` frames as a rotating capture writes it: `files` pcaps of about
    as many frames each, in order, cut wherever the flows are (cached under bench/out/)."""
    paths = [OUT / f"rotating-{frames}-{k + 1:02d}of{files:02d}-s{seed}-v{VERSION}.pcap"
             for k in range(files)]
    if not all(p.exists() for p in paths):
        out, rec_off = _mix(frames, None, seed, False)
        cuts = [*rec_off[np.arange(1, files) * frames // files].tolist(), len(out)]
        for path, start, end in zip(paths, [24, *cuts[:-1]], cuts):
            _write(path, out[:24], out[start:end])
    return paths


def mix_table(encaps=None) -> list[tuple[str, float]]:
    """(encapsulation, share of frames) of the mix."""
    share: dict[str, float] = {}
    for t in templates(encaps):
        share[t.encap] = share.get(t.encap, 0.0) + t.weight
    return list(share.items())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=FRAMES)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    path = mixed_pcap(args.frames, seed=args.seed)
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    for encap, share in mix_table():
        print(f"  {encap:8s} {share:6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
