"""Hostile input for the decoders: frame builders, hypothesis strategies, the invariants every
decoded row must keep, and a time bound on each decode. Shared by tests/decoders/test_fuzz_decoders.py
(a bounded run in `make test`) and scripts/fuzz.py (the long run of `make fuzz`).

Frames come in five kinds:

- random bytes under every link type the decoders know (and a few they do not);
- valid frames of every encapsulation, built once with scapy (`templates()`), then one
  field mutated (by scapy field, or 1-4 header bytes set to an edge value);
- a valid frame cut at a header boundary and continued with random bytes (`spliced`), which
  puts random bytes in front of every decoder;
- valid frames cut at every offset (tests do that exhaustively, not by sampling);
- tunnels nested in random order to the depth limit and beyond (`nested`), built with struct
  so that every length field is right, with the decode that the driver's rules predict
  (`Nested.expected`): a nest deeper than the limit must end with status depth, never an
  exception, never a loop.

The application-layer stream parsers of `detectors/normalise.py` (HTTP framing with
chunks, gzip / deflate / br bodies, MIME parts in base64 and quoted-printable) get their
own builders (`http_message`, `mime_mail`) and `normalised`, which feeds one parser a
message cut anywhere, under the time bound, checking what it keeps between pieces.

Hypothesis profiles: "ci" (the default; bounded and derandomized, so `make test` is stable)
and "long" (`HYPOTHESIS_PROFILE=long`, used by `make fuzz`), "soak" for overnight runs.
"""
from __future__ import annotations

import os
import signal
import struct
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, settings, strategies as st

from ybsensor.decoders import Batch, decode
from ybsensor.decoders.dispatch import DEFAULT
from ybsensor.decoders.driver import MAX_ROUNDS
from ybsensor.decoders.keys import OK, STATUS_NAMES
from ybsensor.decoders.protocol import TUNNELS
from ybsensor.decoders.table import MAX_LAYERS, MAX_TUNNELS, PacketTable

# the headers with struct (every length field right); fuzzing's callers use them as F.eth...
from frames import (MAC_A, MAC_B, PPP_IP, eth, gre, ip_version, ipv4, ipv6,  # noqa: F401
                    ipv6_ext, mpls, tcp, udp)

REPO = Path(__file__).resolve().parents[1]
NAMES = DEFAULT.layer_names
ID = DEFAULT.layer_ids

# --- profiles --------------------------------------------------------------------------

_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.large_base_example, HealthCheck.filter_too_much])
settings.register_profile("ci", max_examples=200, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=int(os.environ.get("FUZZ_EXAMPLES", 20_000)),
                          **_COMMON)
settings.register_profile("soak", max_examples=int(os.environ.get("FUZZ_EXAMPLES", 500_000)),
                          **_COMMON)
PROFILE_NAME = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if PROFILE_NAME not in ("ci", "long", "soak"):
    PROFILE_NAME = "ci"
PROFILE = settings.get_profile(PROFILE_NAME)


def profile(scale: float = 1.0) -> settings:
    """The selected profile, with `scale` times its examples (some properties cost more)."""
    return settings(PROFILE, max_examples=max(10, int(PROFILE.max_examples * scale)))


# --- decoding under a time bound ------------------------------------------------------

# One example's decode is a few milliseconds; a second means a loop the driver's round
# limit (MAX_ROUNDS) should have stopped.
DECODE_SECONDS = float(os.environ.get("FUZZ_DECODE_SECONDS", 5.0))

SUPPORTED_LINKTYPES = (0, 1, 9, 50, 51, 101, 104, 108, 113, 228, 229, 276)
UNSUPPORTED_LINKTYPES = (2, 147, 65535)


class Hang(Exception):
    pass


@contextmanager
def time_bound(seconds: float = DECODE_SECONDS, what: str = "decode"):
    """Raise Hang in this thread if the block runs longer than `seconds`."""
    def ring(signum, frame):
        raise Hang(f"{what} still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass(frozen=True)
class Frame:
    linktype: int
    data: bytes
    label: str = ""

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        return f"Frame({self.linktype}, bytes.fromhex({self.data.hex()!r}), {self.label!r})"


def make_batch(frames: list[Frame]) -> Batch:
    batch = Batch.from_frames([f.data for f in frames])
    batch.linktype = np.array([f.linktype for f in frames], dtype=np.uint16)
    return batch


# frames decoded and checked in this process, by the kind of test (FUZZ_REPORT=1 prints them)
DECODED: dict[str, int] = {}


def count(kind: str, frames: int) -> None:
    DECODED[kind] = DECODED.get(kind, 0) + frames


if os.environ.get("FUZZ_REPORT"):
    import atexit
    atexit.register(lambda: print(f"\nfuzzing: frames decoded and checked: {DECODED} "
                                  f"(total {sum(DECODED.values()):,})"))


def decode_frames(frames: list[Frame], options: dict | None = None,
                  kind: str = "examples") -> tuple[Batch, PacketTable]:
    batch = make_batch(frames)
    with time_bound():
        t = decode(batch, options)
    check_invariants(batch, t)
    count(kind, len(frames))
    return batch, t


# --- the invariants of every row --------------------------------------------------------

def check_invariants(batch: Batch, t: PacketTable) -> None:
    """What must hold for every row of every batch, however hostile its bytes."""
    n = len(batch)
    assert t.n == n
    for name in ("status", "status_layer", "nlayers", "payload_off", "payload_len", "sport",
                 "dport", "proto", "ntun", "n_ip", "line_kind", "line_a", "line_b"):
        assert len(getattr(t, name)) == n, name
    assert np.isin(t.status, np.arange(len(STATUS_NAMES))).all(), "unknown status"
    _must(batch, t, t.status_layer < len(NAMES), "unknown status layer")
    _must(batch, t, t.nlayers <= MAX_LAYERS, "more layers than MAX_LAYERS")
    used = np.arange(MAX_LAYERS)[None, :] < t.nlayers[:, None]
    assert ((t.layers[used] > 0) & (t.layers[used] < len(NAMES))).all(), "bad layer id"
    assert (t.layers[~used] == 0).all(), "layer ids past nlayers"
    _must(batch, t, t.ntun <= MAX_TUNNELS, "more tunnels than MAX_TUNNELS")
    tun_used = np.arange(MAX_TUNNELS)[None, :] < t.ntun[:, None]
    assert np.isin(t.tun_kind[tun_used], np.arange(1, len(TUNNELS))).all(), "bad tunnel kind"
    start, end = batch.offset, batch.offset + batch.caplen
    _must(batch, t, t.payload_len >= 0, "negative payload length")
    _must(batch, t, t.payload_off >= start, "payload before the frame")
    _must(batch, t, t.payload_off + t.payload_len <= end, "payload past the captured bytes")
    _must(batch, t, (t.payload_len == 0) | (t.status == OK), "payload on a failed row")
    for col in (t.sport, t.dport):
        _must(batch, t, ((col >= 0) & (col <= 0xFFFF)) | (col == -1), "port out of range")
    _must(batch, t, ((t.proto >= 0) & (t.proto <= 255)) | (t.proto == -1), "proto out of range")
    for col in (t.icmp_type, t.icmp_code):
        _must(batch, t, ((col >= 0) & (col <= 255)) | (col == -1), "ICMP type/code out of range")
    _must(batch, t, ((t.tcp_flags >= 0) & (t.tcp_flags <= 0x1FF)) | (t.tcp_flags == -1),
          "TCP flags out of range")
    assert np.isin(t.ip_ver[t.n_ip > 0], (4, 6)).all(), "IP version"
    assert (t.ip_ver[t.n_ip == 0] == 0).all()
    _must(batch, t, t.n_ip <= MAX_ROUNDS, "more IP headers than rounds")
    _must(batch, t, (t.line_a >= 0) & (t.line_b >= 0), "negative line id")


def _must(batch: Batch, t: PacketTable, ok: np.ndarray, what: str) -> None:
    """Assert a per-row condition; name the first row that breaks it, with its bytes."""
    ok = np.asarray(ok)
    if ok.all():
        return
    i = int(np.flatnonzero(~ok)[0])
    frame = frames_of(batch, [i])[0]
    raise AssertionError(f"{what}: row {i} of {len(ok)} ({int((~ok).sum())} rows), "
                         f"status {status(t, i)}, chain {'/'.join(chain(t, i))}, "
                         f"payload_off-offset {int(t.payload_off[i] - batch.offset[i])}, "
                         f"payload_len {int(t.payload_len[i])}, caplen {int(batch.caplen[i])}: "
                         f"{frame!r}")


def row_view(batch: Batch, t: PacketTable, i: int) -> tuple:
    """Everything decoding says about row i, independent of where the row sits in its batch."""
    off = int(batch.offset[i])
    return (
        int(t.status[i]), int(t.status_layer[i]), t.layers[i].tobytes(), int(t.nlayers[i]),
        int(t.line_kind[i]), int(t.line_a[i]), int(t.line_b[i]),
        t.tun_kind[i].tobytes(), t.tun_a[i].tobytes(), t.tun_b[i].tobytes(), int(t.ntun[i]),
        int(t.ip_at_tunnel[i]), int(t.n_ip[i]), int(t.outer_ver[i]),
        int(t.outer_src_hi[i]), int(t.outer_src_lo[i]), int(t.outer_dst_hi[i]),
        int(t.outer_dst_lo[i]), int(t.ip_ver[i]), int(t.src_hi[i]), int(t.src_lo[i]),
        int(t.dst_hi[i]), int(t.dst_lo[i]), int(t.proto[i]), int(t.frag_at[i]) - off if t.frag_at[i] >= 0 else -1,
        int(t.sport[i]), int(t.dport[i]), int(t.tcp_flags[i]), int(t.icmp_type[i]),
        int(t.icmp_code[i]), int(t.payload_off[i]) - off,
        int(t.payload_len[i]),
    )


def chain(t: PacketTable, i: int) -> list[str]:
    return [NAMES[x] for x in t.layers[i, : t.nlayers[i]]]


def status(t: PacketTable, i: int) -> str:
    s = int(t.status[i])
    return "ok" if s == OK else f"{STATUS_NAMES[s]}:{NAMES[t.status_layer[i]]}"


# --- nested tunnels and what decoding them must give ----------------------------------

@dataclass
class Nested:
    """A packet under construction (innermost first) and the decode it must get.

    `steps` is what the driver will do to it, outermost first: (layer name, visible); each
    step takes one of the driver's MAX_ROUNDS rounds, each visible one a place among
    MAX_LAYERS. `tunnels` the tunnel kinds it records, outermost first."""
    kind: str                     # "ip" or "eth": what the bytes start with
    data: bytes
    steps: list[tuple[str, bool]]
    tunnels: list[str]
    inner: dict                   # the innermost IP header and transport
    outer_src: bytes | None = None
    wrappers: list[str] = field(default_factory=list)

    def expected(self) -> dict:
        """Status and chain that the driver's limits imply."""
        layers, status = [], "ok"
        for rnd, (name, visible) in enumerate(self.steps):
            if rnd >= MAX_ROUNDS:
                status = "depth"
                break
            if visible:
                if len(layers) >= MAX_LAYERS:
                    status = "depth"
                    break
                layers.append(name)
        return {"status": status, "layers": layers}


def terminal(which: int) -> Nested:
    """The innermost packet: IPv4/TCP, IPv6/UDP or IPv4/ICMP, with a payload."""
    if which == 0:
        data = ipv4(6, tcp(40000, 443, b"A" * 9), src=0x0A010203, dst=0x0AC80005)
        inner = dict(ver=4, src=0x0A010203, dst=0x0AC80005, proto=6, sport=40000, dport=443,
                     payload_len=9)
        steps = [("ipv4", True), ("tcp", True)]
    elif which == 1:
        s6, d6 = bytes.fromhex("fd00" + "00" * 13 + "01"), bytes.fromhex("fd00" + "00" * 13 + "02")
        data = ipv6(17, udp(53000, 5353, b"q" * 12), src=s6, dst=d6)
        inner = dict(ver=6, src=int.from_bytes(s6, "big"), dst=int.from_bytes(d6, "big"),
                     proto=17, sport=53000, dport=5353, payload_len=12)
        steps = [("ipv6", True), ("udp", True)]
    else:
        data = ipv4(1, struct.pack("!BBHHH", 8, 0, 0, 7, 1) + b"p" * 16, src=0x0A010204,
                    dst=0x0AC80006)
        inner = dict(ver=4, src=0x0A010204, dst=0x0AC80006, proto=1, sport=-1, dport=-1,
                     payload_len=16)
        steps = [("ipv4", True), ("icmp", True)]
    n = Nested("ip", data, steps, [], inner)
    n.outer_src = data[12:16] if which != 1 else data[8:24]
    return n


def _ip_header(n: Nested, proto: int, payload: bytes, v6: bool = False, ext: int = 0):
    """Wrap payload in an outer IPv4 (or IPv6 with `ext` extension headers) header."""
    if v6:
        # hop-by-hop may only come first: outermost first, 0 then routing, dest options...
        kinds = [(0, 43, 60)[k] if k < 3 else 60 for k in range(ext)]
        nh = proto
        for kind in reversed(kinds):
            payload, nh = ipv6_ext(nh, payload, kind), kind
        data = ipv6(nh, payload)
        n.outer_src = data[8:24]
        return data, [("ipv6", True)] + [("ipv6-ext", False)] * ext
    data = ipv4(proto, payload)
    n.outer_src = data[12:16]
    return data, [("ipv4", True)]


def _need(n: Nested, kind: str) -> None:
    """Convert what we have into `kind`: IP gets an Ethernet header, Ethernet a GRE bridge."""
    if n.kind == kind:
        return
    if kind == "eth":
        n.data = eth(0x0800 if ip_version(n.data) == 4 else 0x86DD, n.data)
        n.steps = [("eth", True)] + n.steps
        n.kind = "eth"
        n.wrappers.append("+eth")
    else:
        WRAPPERS["gre_teb"](n)


def _ip_etype(packet: bytes) -> int:
    return 0x0800 if ip_version(packet) == 4 else 0x86DD


def w_vlan(n):
    _need(n, "eth")
    n.data = n.data[:12] + struct.pack("!HH", 0x8100, 100 + len(n.steps)) + n.data[12:]
    n.steps = [("eth", True), ("vlan", True)] + n.steps[1:]


def w_cmd(n):
    _need(n, "eth")
    # version, length, option, SGT; the CMD header ends with the EtherType of what follows,
    # which is the old frame's (bytes 12-13)
    n.data = n.data[:12] + struct.pack("!HBBHH", 0x8909, 1, 1, 1, 17) + n.data[12:]
    n.steps = [("eth", True), ("cmd", True)] + n.steps[1:]


def w_mpls(n):
    _need(n, "ip")
    n.data = eth(0x8847, mpls([16, 1000], n.data))
    n.steps = [("eth", True), ("mpls", True)] + n.steps
    n.tunnels = ["mpls"] + n.tunnels
    n.kind = "eth"


def w_mpls_pw(n):
    _need(n, "eth")
    n.data = eth(0x8847, mpls([17, 2000], b"\x00\x00\x00\x00" + n.data))
    n.steps = [("eth", True), ("mpls", True), ("pw-cw", False)] + n.steps
    n.tunnels = ["mpls"] + n.tunnels


def w_pppoe(n):
    _need(n, "ip")
    ppp = PPP_IP[ip_version(n.data)][2:] + n.data
    n.data = eth(0x8864, struct.pack("!BBHH", 0x11, 0, 7, len(ppp)) + ppp)
    n.steps = [("eth", True), ("pppoe", True), ("ppp", True)] + n.steps
    n.tunnels = ["pppoe"] + n.tunnels
    n.kind = "eth"


def w_gre(n, v6=False):
    _need(n, "ip")
    data, steps = _ip_header(n, 47, gre(_ip_etype(n.data), n.data, key=42), v6=v6)
    n.data, n.steps = data, steps + [("gre", True)] + n.steps
    n.tunnels = ["gre"] + n.tunnels


def w_gre_teb(n):
    _need(n, "eth")
    data, steps = _ip_header(n, 47, gre(0x6558, n.data, key=43))
    n.data, n.steps, n.kind = data, steps + [("gre", True)] + n.steps, "ip"
    n.tunnels = ["gre"] + n.tunnels
    n.wrappers.append("+gre_teb")


def w_pptp(n):
    _need(n, "ip")
    ppp = PPP_IP[ip_version(n.data)] + n.data
    hdr = struct.pack("!HHHHI", 0x3001, 0x880B, len(ppp), 5, 1)  # K, S, version 1
    data, steps = _ip_header(n, 47, hdr + ppp)
    n.data, n.steps = data, steps + [("gre", True), ("ppp", True)] + n.steps
    n.tunnels = ["pptp"] + n.tunnels


def w_l2tp(n):
    _need(n, "ip")
    body = struct.pack("!HHH", 0x0002, 7, 3) + PPP_IP[ip_version(n.data)] + n.data
    data, steps = _ip_header(n, 17, udp(1701, 1701, body))
    n.data, n.steps = data, steps + [("udp", True), ("l2tp", True), ("ppp", True)] + n.steps
    n.tunnels = ["l2tp"] + n.tunnels


def w_l2tpv3(n):
    _need(n, "eth")
    data, steps = _ip_header(n, 115, struct.pack("!I", 0x1234) + n.data)
    n.data, n.steps, n.kind = data, steps + [("l2tpv3", True)] + n.steps, "ip"
    n.tunnels = ["l2tpv3"] + n.tunnels


def w_vxlan(n):
    _need(n, "eth")
    data, steps = _ip_header(n, 17, udp(50000, 4789, struct.pack("!B3xI", 8, 5000 << 8) + n.data))
    n.data, n.steps, n.kind = data, steps + [("udp", True), ("vxlan", True)] + n.steps, "ip"
    n.tunnels = ["vxlan"] + n.tunnels


def w_erspan(n):
    _need(n, "eth")
    body = gre(0x88BE, struct.pack("!HHI", (1 << 12) | 10, 5, 0) + n.data, seq=1)
    data, steps = _ip_header(n, 47, body)
    n.data, n.steps, n.kind = data, steps + [("gre", True), ("erspan", True)] + n.steps, "ip"
    n.tunnels = ["gre", "erspan"] + n.tunnels


def w_erspan3_ip(n):
    _need(n, "ip")
    hdr = struct.pack("!HHIHH", (2 << 12) | 10, 6, 0, 0, 2 << 10)  # frame type 2: IP
    data, steps = _ip_header(n, 47, gre(0x22EB, hdr + n.data, seq=1))
    n.data = data
    n.steps = steps + [("gre", True), ("erspan", True), ("ip", False)] + n.steps
    n.tunnels = ["gre", "erspan"] + n.tunnels


def w_ipip(n, v6=False, ext=0):
    _need(n, "ip")
    data, steps = _ip_header(n, 4 if ip_version(n.data) == 4 else 41, n.data, v6=v6, ext=ext)
    n.data, n.steps = data, steps + [("ipip", False)] + n.steps
    n.tunnels = ["ipip"] + n.tunnels


def w_gre_udp(n):
    _need(n, "ip")
    data, steps = _ip_header(n, 17, udp(50000, 4754, gre(_ip_etype(n.data), n.data)))
    n.data, n.steps = data, steps + [("udp", True), ("gre", True)] + n.steps
    n.tunnels = ["gre"] + n.tunnels


def w_mpls_udp(n):
    _need(n, "ip")
    data, steps = _ip_header(n, 17, udp(50000, 6635, mpls([3000], n.data)))
    n.data, n.steps = data, steps + [("udp", True), ("mpls", True)] + n.steps
    n.tunnels = ["mpls"] + n.tunnels


WRAPPERS = {
    "vlan": w_vlan, "cmd": w_cmd, "mpls": w_mpls, "mpls_pw": w_mpls_pw, "pppoe": w_pppoe,
    "gre": w_gre, "gre6": lambda n: w_gre(n, v6=True), "gre_teb": w_gre_teb, "pptp": w_pptp,
    "l2tp": w_l2tp, "l2tpv3": w_l2tpv3, "vxlan": w_vxlan, "erspan": w_erspan,
    "erspan3_ip": w_erspan3_ip, "ipip": w_ipip, "ip6ip": lambda n: w_ipip(n, v6=True),
    "ip6ext_ipip": lambda n: w_ipip(n, v6=True, ext=3), "gre_udp": w_gre_udp,
    "mpls_udp": w_mpls_udp,
}
# options that fix what L2TPv3's heuristics would otherwise guess
NEST_OPTIONS = {"l2tpv3_cookie_len": 0, "l2tpv3_l2_specific": "none"}


def nest(wrappers: list[str], inner: int = 0, link: str = "eth") -> tuple[Frame, Nested]:
    """Wrap the innermost packet in `wrappers`, innermost first; `link` says how the outermost
    packet is captured: "eth", "raw" (LINKTYPE_RAW, 101) or "ipv4"/"ipv6" (228/229)."""
    n = terminal(inner)
    for name in wrappers:
        WRAPPERS[name](n)
        n.wrappers.append(name)
    if link == "eth" or n.kind == "eth":
        _need(n, "eth")
        return Frame(1, n.data, "nest:" + "/".join(n.wrappers)), n
    if link == "raw":
        n.steps = [("ip", False)] + n.steps
        return Frame(101, n.data, "nest:" + "/".join(n.wrappers)), n
    return Frame(228 if ip_version(n.data) == 4 else 229, n.data, "nest:" + "/".join(n.wrappers)), n


def check_nested(t: PacketTable, i: int, n: Nested) -> None:
    """Row i decoded as the nest's construction says it must."""
    want = n.expected()
    got_status = status(t, i)
    assert chain(t, i) == want["layers"], (chain(t, i), want)
    if want["status"] == "depth":
        assert got_status.startswith("depth:"), (got_status, want)
        return
    assert got_status == "ok", (got_status, n.wrappers)
    inner = n.inner
    mapped = lambda v: v | (0xFFFF << 32) if inner["ver"] == 4 else v  # noqa: E731
    assert int(t.ip_ver[i]) == inner["ver"]
    assert (int(t.src_hi[i]) << 64 | int(t.src_lo[i])) == mapped(inner["src"])
    assert (int(t.dst_hi[i]) << 64 | int(t.dst_lo[i])) == mapped(inner["dst"])
    assert int(t.proto[i]) == inner["proto"]
    assert (int(t.sport[i]), int(t.dport[i])) == (inner["sport"], inner["dport"])
    assert int(t.payload_len[i]) == inner["payload_len"]
    assert int(t.n_ip[i]) == sum(1 for name, _ in n.steps if name in ("ipv4", "ipv6"))
    outer = int.from_bytes(n.outer_src, "big")
    outer = outer | (0xFFFF << 32) if len(n.outer_src) == 4 else outer
    assert (int(t.outer_src_hi[i]) << 64 | int(t.outer_src_lo[i])) == outer
    kinds = [TUNNELS[int(k)].name for k in t.tun_kind[i, : t.ntun[i]]]
    assert kinds == n.tunnels[:MAX_TUNNELS], (kinds, n.tunnels)


# --- valid frames of every encapsulation, with scapy -----------------------------------

@dataclass
class Template:
    name: str
    linktype: int
    frame: bytes
    packet: object = None          # the scapy packet (None where built by hand)
    header_len: int = 0            # bytes before the innermost payload
    cuts: tuple = ()               # offsets where a header begins


def _scapy_packets():
    import logging
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
    from scapy.contrib.mpls import MPLS
    from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP, IPOption_Router_Alert
    from scapy.layers.inet6 import (ICMPv6EchoRequest, IPv6, IPv6ExtHdrDestOpt,
                                    IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting)
    from scapy.layers.l2 import ARP, GRE_PPTP, CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether
    from scapy.layers.l2tp import L2TP
    from scapy.layers.ppp import HDLC, PPP, PPPoE
    from scapy.layers.vxlan import VXLAN
    from scapy.packet import Raw

    pay = Raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    inner4 = IP(src="10.1.2.3", dst="10.200.0.5") / TCP(sport=40000, dport=443, flags="PA") / pay
    inner6 = IPv6(src="fd00::1", dst="fd00::2") / UDP(sport=53000, dport=53) / Raw(b"q" * 12)
    E = lambda: Ether(src="00:1b:21:aa:aa:02", dst="00:1b:21:aa:aa:01")  # noqa: E731
    O4 = lambda **kw: IP(src="192.0.2.1", dst="192.0.2.2", **kw)  # noqa: E731
    O6 = lambda **kw: IPv6(src="2001:db8::1", dst="2001:db8::2", **kw)  # noqa: E731
    ah = lambda nh: Raw(struct.pack("!BBHII", nh, 4, 0, 0x100, 1) + b"\0" * 12)  # noqa: E731
    out = [
        ("eth/ipv4/tcp", 1, E() / inner4),
        ("eth/ipv4-options/udp", 1, E() / IP(src="10.1.2.3", dst="10.200.0.5",
                                              options=[IPOption_Router_Alert()])
         / UDP(sport=5000, dport=53) / Raw(b"d" * 20)),
        ("eth/ipv4-fragment", 1, E() / IP(src="10.1.2.3", dst="10.200.0.5", proto=6, frag=100)
         / Raw(b"f" * 30)),
        ("eth/ipv4/icmp", 1, E() / IP(src="10.1.2.3", dst="10.200.0.5") / ICMP() / Raw(b"i" * 8)),
        ("eth/ipv6/udp", 1, E() / inner6),
        ("eth/ipv6/icmpv6", 1, E() / IPv6(src="fd00::1", dst="fd00::2") / ICMPv6EchoRequest()),
        ("eth/ipv6-ext/tcp", 1, E() / IPv6(src="fd00::1", dst="fd00::2") / IPv6ExtHdrHopByHop()
         / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt() / IPv6ExtHdrFragment(offset=0, m=1)
         / TCP(sport=1234, dport=80) / pay),
        ("eth/ipv6/ah/tcp", 1, E() / O6(nh=51) / ah(6) / TCP(sport=1, dport=2) / pay),
        ("eth/ipv4/ah/udp", 1, E() / O4(proto=51) / ah(17) / UDP(sport=1, dport=2) / pay),
        ("eth/vlan/ipv4/tcp", 1, E() / Dot1Q(vlan=100) / inner4),
        ("eth/qinq/ipv6/udp", 1, E() / Dot1AD(vlan=10) / Dot1Q(vlan=200) / inner6),
        ("eth/arp", 1, E() / ARP()),
        ("eth/mpls/ipv4", 1, E() / MPLS(label=16, s=0) / MPLS(label=1000, s=1) / inner4),
        ("eth/mpls/ipv6", 1, E() / MPLS(label=1001, s=1) / inner6),
        ("eth/mpls/pw-cw/eth", 1, E() / MPLS(label=1002, s=1) / Raw(b"\0\0\0\0") / E() / inner4),
        ("eth/mpls/pw/eth", 1, E() / MPLS(label=1003, s=1) / E() / inner4),
        ("eth/pppoe/ppp/ipv4", 1, E() / PPPoE(sessionid=17) / PPP(proto=0x0021) / inner4),
        ("ppp/ipv4", 9, PPP(proto=0x0021) / inner4),
        ("ppp-hdlc/ipv6", 50, HDLC() / PPP(proto=0x0057) / inner6),
        ("eth/ipv4/gre-key/ipv4", 1, E() / O4() / GRE(key_present=1, key=42) / inner4),
        ("eth/ipv4/gre-full/ipv6", 1, E() / O4() / GRE(chksum_present=1, key_present=1, key=7,
                                                        seqnum_present=1, sequence_number=9)
         / inner6),
        ("eth/ipv6/gre/eth", 1, E() / O6() / GRE(proto=0x6558) / E() / inner4),
        ("eth/ipv4/udp/gre", 1, E() / O4() / UDP(sport=50000, dport=4754) / GRE() / inner4),
        ("eth/ipv4/pptp/ppp/ipv4", 1, E() / O4() / GRE_PPTP(call_id=3, seqnum_present=1,
                                                            sequence_number=5)
         / PPP(proto=0x0021) / inner4),
        ("eth/ipv4/erspan1/eth", 1, E() / O4() / GRE(proto=0x88BE) / E() / inner4),
        ("eth/ipv4/erspan2/eth", 1, E() / O4() / GRE(proto=0x88BE, seqnum_present=1)
         / ERSPAN_II(session_id=5) / E() / inner4),
        ("eth/ipv4/erspan3/eth", 1, E() / O4() / GRE(proto=0x22EB, seqnum_present=1)
         / ERSPAN_III(session_id=6, o=1) / ERSPAN_PlatformSpecific() / E() / inner4),
        ("eth/ipv4/udp/l2tp/ppp/ipv4", 1, E() / O4() / UDP(sport=1701, dport=1701)
         / L2TP(tunnel_id=7, session_id=3) / HDLC() / PPP(proto=0x0021) / inner4),
        ("eth/ipv4/udp/vxlan/eth", 1, E() / O4() / UDP(sport=50000, dport=4789)
         / VXLAN(vni=5000, flags=0x08) / E() / inner4),
        ("eth/ipv4/ipip", 1, E() / O4(proto=4) / inner4),
        ("eth/ipv4/6in4", 1, E() / O4(proto=41) / inner6),
        ("eth/ipv6/4in6", 1, E() / O6(nh=4) / inner4),
        ("sll/ipv4", 113, CookedLinux(proto=0x0800) / inner4),
        ("sll2/ipv6", 276, CookedLinuxV2(proto=0x86DD) / inner6),
        ("raw/ipv4", 101, inner4), ("raw/ipv6", 101, inner6),
        ("ipv4-link", 228, inner4), ("ipv6-link", 229, inner6),
    ]
    hand = [
        ("null/ipv4", 0, struct.pack("<I", 2) + bytes(inner4)),
        ("loop/ipv6", 108, struct.pack(">I", 24) + bytes(inner6)),
        ("chdlc/ipv4", 104, b"\x0f\x00\x08\x00" + bytes(inner4)),
        ("pppoe-link/ipv4", 51, struct.pack("!BBHH", 0x11, 0, 9, 2 + len(inner4)) + b"\x00\x21"
         + bytes(inner4)),
        ("eth/ipv4/l2tpv3/eth", 1, bytes(E() / O4(proto=115) / Raw(struct.pack("!I", 0xABCD)
                                                                     + bytes(E() / inner4)))),
        ("eth/ipv4/udp/l2tpv3/eth", 1, bytes(E() / O4() / UDP(sport=1701, dport=1701)
                                             / Raw(struct.pack("!HHI", 3, 0, 0x55)
                                                   + bytes(E() / inner4)))),
        ("eth/ipv4/udp/l2tp-control", 1, bytes(E() / O4() / UDP(sport=1701, dport=1701)
                                               / Raw(struct.pack("!HHHHHH", 0xC802, 12, 7,
                                                                 0, 0, 0)))),
        ("eth/cmd/ipv4", 1, eth(0x8909, struct.pack("!BBHHH", 1, 1, 1, 17, 0x0800)
                                + bytes(inner4))),
        ("eth/llc", 1, bytes(E())[:12] + struct.pack("!H", 3) + b"\x42\x42\x03" + b"\0" * 40),
    ]
    return out, hand


@lru_cache(maxsize=1)
def templates() -> tuple[Template, ...]:
    packets, hand = _scapy_packets()
    out = []
    for name, linktype, pkt in packets:
        out.append(Template(name, linktype, bytes(pkt), pkt))
    for name, linktype, raw in hand:
        out.append(Template(name, linktype, raw))
    frames = [Frame(t.linktype, t.frame, t.name) for t in out]
    batch = make_batch(frames)
    table = decode(batch)
    for i, t in enumerate(out):
        start = int(batch.offset[i])
        end = int(table.payload_off[i]) if table.payload_len[i] else start + len(t.frame)
        t.header_len = max(1, end - start)
        t.cuts = tuple(sorted(set(_cuts(t)) | {0, t.header_len}))
    return tuple(out)


def _cuts(t: Template) -> list[int]:
    """Where each scapy layer begins (the hand-built templates: every 4th byte)."""
    if t.packet is None:
        return list(range(0, t.header_len, 4))
    from scapy.packet import NoPayload
    out, off, layer = [], 0, t.packet
    while not isinstance(layer, NoPayload):
        out.append(off)
        off += len(layer) - len(layer.payload)
        layer = layer.payload
    return [c for c in out if c <= len(t.frame)]


# --- strategies -----------------------------------------------------------------------

EDGE = {1: [0x00, 0x01, 0x0F, 0x10, 0x3F, 0x40, 0x45, 0x46, 0x4F, 0x60, 0x7F, 0x80, 0xFE, 0xFF],
        2: [0x0000, 0x0001, 0x0004, 0x0005, 0x0008, 0x0014, 0x0028, 0x05FF, 0x0600, 0x0800,
            0x86DD, 0x8100, 0x88A8, 0x8847, 0x8864, 0x880B, 0x6558, 0x88BE, 0x22EB, 0x8909,
            0x06A5, 0x12B5, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF],
        4: [0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x00000100, 0x0003E8FF]}

linktypes = st.sampled_from(SUPPORTED_LINKTYPES + UNSUPPORTED_LINKTYPES)


@st.composite
def random_frames(draw, max_size: int = 256) -> Frame:
    """Random bytes under any link type (mostly ones we read)."""
    linktype = draw(st.one_of(st.sampled_from(SUPPORTED_LINKTYPES), linktypes))
    return Frame(linktype, draw(st.binary(max_size=max_size)), "random")


@st.composite
def mutated_frames(draw) -> Frame:
    """A valid frame with one header field (1, 2 or 4 bytes) set to an edge or random value;
    sometimes a second one too."""
    t = draw(st.sampled_from(templates()))
    data = bytearray(t.frame)
    for _ in range(draw(st.sampled_from([1, 1, 1, 2]))):
        width = draw(st.sampled_from([1, 1, 2, 2, 4]))
        width = min(width, len(data))
        off = draw(st.integers(0, max(0, min(t.header_len, len(data)) - width)))
        value = draw(st.one_of(st.sampled_from(EDGE[width]), st.integers(0, (1 << 8 * width) - 1)))
        data[off: off + width] = value.to_bytes(width, "big")
    return Frame(t.linktype, bytes(data), "mutated:" + t.name)


def _int_fields(pkt):
    """(layer index, field name, bits) of every fixed-width integer field of a scapy packet."""
    from scapy.packet import NoPayload
    out, layer, i = [], pkt, 0
    while not isinstance(layer, NoPayload):
        for fld in layer.fields_desc:
            base = getattr(fld, "fld", fld)   # conditional / emph wrappers
            fmt = getattr(base, "fmt", "") or ""
            if type(base).__name__.startswith(("Bit", "XBit", "FlagsField")) and \
                    isinstance(getattr(base, "size", None), int) and base.size > 0:
                out.append((i, fld.name, base.size))
            elif fmt[-1:] in ("B", "H", "I", "Q") and isinstance(getattr(layer, fld.name, None),
                                                                  (int, type(None))):
                out.append((i, fld.name, 8 * struct.calcsize(fmt)))
        layer, i = layer.payload, i + 1
    return out


@lru_cache(maxsize=None)
def _fields_of(name: str):
    t = next(t for t in templates() if t.name == name)
    return _int_fields(t.packet.copy())


@st.composite
def field_mutated_frames(draw) -> Frame:
    """A valid scapy-built frame with one named field of one layer set to another value
    (scapy rebuilds the frame; length and checksum fields that were left to scapy stay)."""
    t = draw(st.sampled_from([t for t in templates() if t.packet is not None]))
    fields = _fields_of(t.name)
    layer, name, bits = draw(st.sampled_from(fields))
    value = draw(st.one_of(st.sampled_from([0, 1, (1 << bits) - 1, 1 << (bits - 1)]),
                           st.integers(0, (1 << bits) - 1)))
    pkt = t.packet.copy()
    target = pkt
    for _ in range(layer):
        target = target.payload
    try:
        setattr(target, name, value)
        raw = bytes(pkt)
    except Exception:   # scapy cannot build it: not the decoder's problem
        raw = t.frame
    return Frame(t.linktype, raw, f"field:{t.name}:{layer}.{name}={value}")


@st.composite
def spliced_frames(draw) -> Frame:
    """A valid frame cut where a header begins (or anywhere in the headers), then random
    bytes: every decoder gets random input behind a valid path to it."""
    t = draw(st.sampled_from(templates()))
    cut = draw(st.one_of(st.sampled_from(t.cuts), st.integers(0, t.header_len)))
    tail = draw(st.binary(max_size=96))
    return Frame(t.linktype, t.frame[:cut] + tail, f"spliced:{t.name}@{cut}")


@st.composite
def valid_frames(draw) -> Frame:
    t = draw(st.sampled_from(templates()))
    return Frame(t.linktype, t.frame, t.name)


@st.composite
def truncated_frames(draw) -> Frame:
    t = draw(st.sampled_from(templates()))
    cut = draw(st.integers(0, len(t.frame)))
    return Frame(t.linktype, t.frame[:cut], f"truncated:{t.name}@{cut}")


wrapper_names = st.sampled_from(sorted(WRAPPERS))


@st.composite
def nested(draw, max_depth: int = 40) -> tuple[Frame, Nested]:
    """Tunnels in random order around a known packet, up to `max_depth` wrappers."""
    wrappers = draw(st.lists(wrapper_names, max_size=max_depth))
    return nest(wrappers, draw(st.integers(0, 2)), draw(st.sampled_from(["eth", "raw", "link"])))


def hostile_frames() -> st.SearchStrategy[Frame]:
    """Any frame of any kind."""
    return st.one_of(random_frames(), mutated_frames(), field_mutated_frames(),
                     spliced_frames(), truncated_frames(), valid_frames(),
                     nested().map(lambda fn: fn[0]))


# --- deep nests, deterministic ----------------------------------------------------------

def deep_frames() -> dict[str, Frame]:
    """The limits and far past them: GRE in GRE, MPLS stacks, IPv6 extension chains,
    VLAN tags, IP in IP, L2TP in L2TP, and a mix."""
    inner = terminal(0).data
    out = {}
    for depth in (7, 8, 15, 30):
        out[f"gre-in-gre-{depth}"] = nest(["gre"] * depth)[0]
    for labels in (15, 16, 17, 50):
        out[f"mpls-{labels}-labels"] = Frame(1, eth(0x8847, mpls(list(range(16, 16 + labels)),
                                                                inner)), f"mpls x{labels}")
    for count in (20, 21, 22, 40):
        payload, nh = tcp(1, 2, b"x"), 6
        for _ in range(count):
            payload, nh = ipv6_ext(nh, payload), 60
        out[f"ipv6-ext-{count}"] = Frame(1, eth(0x86DD, ipv6(nh, payload)), f"ipv6 ext x{count}")
    for tags in (13, 14, 30, 200):
        out[f"vlan-{tags}-tags"] = nest(["vlan"] * tags)[0]
    out["ipip-30"] = nest(["ipip"] * 30)[0]
    out["l2tp-in-l2tp-10"] = nest(["l2tp"] * 10)[0]
    out["vxlan-in-vxlan-10"] = nest(["vxlan"] * 10)[0]
    out["mix-40"] = nest((["gre", "l2tp", "vlan", "mpls", "vxlan", "pptp", "ipip", "pppoe"] * 5))[0]
    return out


def timed(fn, *args, **kw):
    start = time.perf_counter()
    result = fn(*args, **kw)
    return result, time.perf_counter() - start


# --- bulk hostile batches, built with numpy (hundreds of thousands of rows a second) ---

def _batch(data: np.ndarray, offset: np.ndarray, caplen: np.ndarray, linktype: np.ndarray,
           first_frame: int = 1) -> Batch:
    n = len(offset)
    return Batch(data=data, offset=offset.astype(np.int64), caplen=caplen.astype(np.int64),
                 wirelen=caplen.astype(np.int64), ts_ns=np.arange(n, dtype=np.int64) * 1000,
                 linktype=linktype.astype(np.uint16), iface=np.zeros(n, dtype=np.uint16),
                 first_frame=first_frame)


def bulk_random(rng: np.random.Generator, n: int, max_len: int = 200) -> Batch:
    """n frames of random bytes (random lengths 0..max_len) under random link types."""
    from ybsensor.decoders.batch import PAD
    caplen = rng.integers(0, max_len + 1, n)
    offset = np.concatenate(([0], np.cumsum(caplen)[:-1]))
    data = rng.integers(0, 256, int(caplen.sum()) + PAD, dtype=np.uint8)
    data[-PAD:] = 0
    linktype = np.array(SUPPORTED_LINKTYPES + UNSUPPORTED_LINKTYPES)[
        rng.integers(0, len(SUPPORTED_LINKTYPES) + len(UNSUPPORTED_LINKTYPES), n)]
    return _batch(data, offset, caplen, linktype)


def bulk_mutated(rng: np.random.Generator, n: int, mutations: int = 2,
                 splice: float = 0.25, truncate: float = 0.25) -> tuple[Batch, np.ndarray]:
    """n valid frames (templates, chosen at random) with `mutations` header bytes each set to
    an edge or random value; some cut short, some cut and continued with random bytes.
    Returns the batch and each row's template index."""
    from ybsensor.decoders.batch import PAD
    tpls = templates()
    which = rng.integers(0, len(tpls), n)
    lens = np.array([len(t.frame) for t in tpls])[which]
    hlen = np.array([t.header_len for t in tpls])[which]
    width = int(lens.max())
    block = np.zeros((n, width), dtype=np.uint8)
    for k, t in enumerate(tpls):
        rows = np.flatnonzero(which == k)
        block[rows, : len(t.frame)] = np.frombuffer(t.frame, dtype=np.uint8)
    edges = np.array(EDGE[1], dtype=np.uint8)
    for _ in range(mutations):
        at = (rng.random(n) * hlen).astype(np.int64)
        value = np.where(rng.random(n) < 0.5, edges[rng.integers(0, len(edges), n)],
                         rng.integers(0, 256, n)).astype(np.uint8)
        block[np.arange(n), at] = value
    caplen = lens.copy()
    cut = rng.random(n)
    short = cut < truncate
    caplen[short] = (rng.random(short.sum()) * (hlen[short] + 1)).astype(np.int64)
    spliced = (cut >= truncate) & (cut < truncate + splice)
    if spliced.any():
        at = (rng.random(spliced.sum()) * (hlen[spliced] + 1)).astype(np.int64)
        noise = rng.integers(0, 256, (int(spliced.sum()), width), dtype=np.uint8)
        keep = np.arange(width)[None, :] < at[:, None]
        block[spliced] = np.where(keep, block[spliced], noise)
    offset = np.concatenate(([0], np.cumsum(caplen)[:-1]))
    data = np.zeros(int(caplen.sum()) + PAD, dtype=np.uint8)
    mask = np.arange(width)[None, :] < caplen[:, None]
    data[: int(caplen.sum())] = block[mask]
    linktype = np.array([t.linktype for t in tpls])[which]
    return _batch(data, offset, caplen, linktype), which


def frames_of(batch: Batch, rows) -> list[Frame]:
    """Rows of a batch as Frames, to decode them alone (or save a failing one)."""
    out = []
    for i in np.asarray(rows).tolist():
        a, b = int(batch.offset[i]), int(batch.offset[i] + batch.caplen[i])
        out.append(Frame(int(batch.linktype[i]), batch.data[a:b].tobytes(), f"row {i}"))
    return out


def check_rows_alone(batch: Batch, t: PacketTable, rows, options: dict | None = None) -> None:
    """Each of `rows` decodes alone exactly as it did inside its batch: a hostile neighbour
    costs its own row, never another's."""
    rows = np.asarray(rows)
    alone_batch, alone = decode_frames(frames_of(batch, rows), options, kind="alone")
    for k, i in enumerate(rows.tolist()):
        got, want = row_view(batch, t, i), row_view(alone_batch, alone, k)
        assert got == want, (f"row {i} decodes differently in its batch",
                             frames_of(batch, [i])[0], got, want)


def save_pcap(path, frames: list[Frame]) -> None:
    """Frames of one link type each as a pcap (a pcapng would be needed for mixed link
    types; the link type of the first frame is used)."""
    linktype = frames[0].linktype if frames else 1
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for f in frames:
            fh.write(struct.pack("<IIII", 0, 0, len(f.data), len(f.data)) + f.data)


# --- application-layer streams (detectors/normalise.py) --------------------------------
# HTTP messages (chunked framing, gzip / deflate / br bodies) and MIME mail, valid, cut at
# random places, with bytes mutated: fed to one stream parser piece by piece they must
# never raise, never hang, keep the output bounded, and decode a valid message the same
# however it is cut.

def http_message(body: bytes, chunks: list[int] | None = None, coding: str | None = None,
                 response: bool = True) -> bytes:
    """An HTTP/1.1 message carrying `body`, coded (`gzip`, `deflate`, `br`) and framed in
    chunks of the given sizes (None: Content-Length)."""
    import gzip
    import zlib
    coded = body
    if coding == "gzip":
        coded = gzip.compress(body, mtime=0)
    elif coding == "deflate":
        coded = zlib.compress(body)
    elif coding == "br":
        import brotli
        coded = brotli.compress(body)
    head = b"HTTP/1.1 200 OK\r\n" if response else b"POST /x HTTP/1.1\r\n"
    if coding:
        head += b"Content-Encoding: " + coding.encode() + b"\r\n"
    if chunks is None:
        return head + b"Content-Length: %d\r\n\r\n" % len(coded) + coded
    framed, at = [], 0
    for size in chunks:
        piece = coded[at: at + max(size, 1)]
        if not piece:
            break
        framed.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
        at += len(piece)
    if at < len(coded):
        framed.append(b"%x\r\n" % (len(coded) - at) + coded[at:] + b"\r\n")
    return head + b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(framed) + b"0\r\n\r\n"


def mime_mail(text: bytes, encoding: str = "base64") -> bytes:
    """A mail message (SMTP DATA) with one part of `text` in base64 or quoted-printable."""
    import base64
    import binascii
    if encoding == "base64":
        part = base64.encodebytes(text).replace(b"\n", b"\r\n")
    else:
        part = binascii.b2a_qp(text).replace(b"\n", b"\r\n") + b"\r\n"
    return (b"From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=zz\r\n"
            b"\r\n--zz\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: "
            + encoding.encode() + b"\r\n\r\n" + part + b"--zz--\r\n.\r\n")


def zip_archive(members: dict[str, bytes], method: int = 8, streamed: bool = False) -> bytes:
    """A ZIP archive of `members` as the standard `zipfile` writes it (8: deflated, 0:
    stored); `streamed`: written to a pipe, no seeking back, so that each member's sizes
    follow its data in a descriptor, as streaming writers send them."""
    import io
    import zipfile

    class Pipe(io.RawIOBase):
        def __init__(self):
            self.parts = []

        def writable(self):
            return True

        def write(self, b):
            self.parts.append(bytes(b))
            return len(b)
    out = Pipe() if streamed else io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for name, data in members.items():
            if streamed:
                with archive.open(name, "w") as fh:
                    fh.write(data)
            else:
                archive.writestr(name, data)
    return b"".join(out.parts) if streamed else out.getvalue()


def normalised(pieces: list[bytes], mail: bool = False) -> bytes:
    """Everything one stream parser decodes from `pieces` fed in order (under a time bound),
    checking the bounds it keeps."""
    from ybsensor.detectors import normalise as N
    owner = N.Normaliser()
    stream = N.Stream(1, mail, owner)
    out = []
    with time_bound(DECODE_SECONDS, "normalise"):
        for piece in pieces:
            stream.feed(piece, 0, 0)
            taken = stream.take(1, final=stream.idle)
            if taken is not None:
                out.append(taken.text[taken.lo:taken.hi])
            # what the stream keeps between pieces: context, undecided bytes, a header
            assert len(stream.text) <= N.KEEP + N.HOLD + 4 * N.MAX_BODY
            if stream.http is not None:
                assert len(stream.http.buf) <= max(N.MAX_HEAD, N.MAX_LINE) + len(piece)
        taken = stream.take(1, final=True)
        if taken is not None:
            out.append(taken.text[taken.lo:taken.hi])
    return b"".join(out)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    edges = sorted({min(max(c, 0), len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(edges, edges[1:])]


body_text = st.binary(min_size=0, max_size=600) | st.text(max_size=300).map(str.encode)
cuts = st.lists(st.integers(0, 4000), max_size=8)
codings = st.sampled_from([None, "gzip", "deflate", "br"])
chunk_sizes = st.none() | st.lists(st.integers(1, 300), min_size=1, max_size=6)
