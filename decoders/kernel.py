"""The decoders' compiled loop over rows (numba); fastpath.py enters it.

`run` takes each row from its entry layer (Ethernet, IPv4 or IPv6) through every layer it
fuses, one header after the other: Ethernet, VLAN tags, IPv4, IPv6, TCP, UDP, and the lines
of a private network in their common forms: an MPLS stack over IP, GRE version 0 (key,
checksum, sequence), ERSPAN type II, VXLAN, L2TPv2 data and the PPP inside it. A row leaves
the loop where its next layer is not fused or where a header is cut, odd or a rarer variant
(an MPLS pseudowire, PPTP, ERSPAN type I or III, WCCP, an L2TP control message or offset):
it stops before that layer, in the state the generic decoders would leave it, and the driver
goes on from there. The loop knows no header's layout or protocol number: field offsets,
widths, masks and shifts come in `spec`, the next layer of a key from the dispatch's flat
table, and layer ids, namespaces, status codes, lengths and flag bits in `k`. The slot
declarations below say which `Layout` field or protocol module's constant fills each slot
of `spec` and `k`; fastpath builds both tuples from them, so a field or constant the loop
needs is one line here.

How every loop is compiled, `jit`, and the intrinsics are in core/loops.py.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from ybsensor.core.loops import PREFETCH_AHEAD, jit, prefetch

from . import erspan, ethernet, gre, ipv4, ipv6, l2tp, mpls, ppp, tcp, udp, vxlan
from .dispatch import KEY_SPACE
from .erspan import ERSPAN
from .ethernet import ETH, LLC_KEY, VLAN
from .gre import GRE
from .ipv4 import IPV4
from .ipv6 import IPV6
from .keys import (ERSPAN_I, ETHERTYPE, ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO, LINKTYPE,
                   LINKTYPE_ETHERNET, OK, PPP as PPP_NS, UDP, UNSUPPORTED)
from .l2tp import L2TP, V2_PARTS
from .layout import IPV4_MAPPED, Layout
from .mpls import SHIM
from .ppp import PPP
from .table import MAX_LAYERS, MAX_TUNNELS, NONE
from .tcp import TCP
from .udp import UDP as UDP_HDR
from .vxlan import VXLAN


class Slots:
    """The slots of one of the loop's argument tuples, in declaration order: declaring one
    (`F_X = SPEC.field(layout, name)`, `K_X = K.value(v)` or `K.layer(name, decoder)`)
    gives the index the loop reads it at, and fastpath builds the tuple from the same
    declarations. The indices are constants of this file, so numba's cache of the loop,
    which this file's stamp keys, follows any change to them."""

    def __init__(self):
        self.sources: list = []

    def _add(self, source) -> int:
        self.sources.append(source)
        return len(self.sources) - 1

    def field(self, layout: Layout, name: str) -> int:
        """A row (offset, width, mask or -1, shift) of a declared field."""
        f = layout.fields[name]
        if layout.little or f.width not in (1, 2, 3, 4, 16):
            raise ValueError(f"{layout.name}.{name}: the kernel reads big-endian 1-4 or 16 bytes")
        return self._add((f.offset, f.width, -1 if f.mask is None else f.mask, f.shift))

    def value(self, v) -> int:
        """A constant: a length, key, id, flag bit or code the protocol modules declare."""
        return self._add(int(v))

    def layer(self, name: str, decoder) -> int:
        """The id of a fused layer, the generic decoder `name` it stands for: -1 where the
        dispatch has another decoder (or none) for the name, and rows leave the loop there."""
        return self._add(FusedLayer(name, decoder))

    def fused(self) -> dict:
        """name: generic decoder of each fused layer."""
        return {s.name: s.decoder for s in self.sources if isinstance(s, FusedLayer)}

    def values(self, layer_ids: dict) -> tuple:
        """The tuple, with each fused layer's id from `layer_ids`."""
        return tuple(layer_ids[s.name] if isinstance(s, FusedLayer) else s for s in self.sources)


class FusedLayer(NamedTuple):
    name: str
    decoder: Callable


# `spec` and `k` come as tuples, not arrays: a tuple is the loop's own values, where an
# array's would be loaded again after every column store (which might alias it, for all
# the compiler knows); that was a tenth of the loop's time.

SPEC = Slots()           # rows of `spec`: the header fields the loop reads
F_ETH_TYPE = SPEC.field(ETH, "type")
F_VLAN_VID = SPEC.field(VLAN, "vid")
F_VLAN_TYPE = SPEC.field(VLAN, "type")
F_V4_VERSION = SPEC.field(IPV4, "version")
F_V4_IHL = SPEC.field(IPV4, "ihl")
F_V4_TOTAL = SPEC.field(IPV4, "total_len")
F_V4_FRAG = SPEC.field(IPV4, "frag")
F_V4_PROTO = SPEC.field(IPV4, "proto")
F_V4_SRC = SPEC.field(IPV4, "src")
F_V4_DST = SPEC.field(IPV4, "dst")
F_V6_VERSION = SPEC.field(IPV6, "version")
F_V6_PLEN = SPEC.field(IPV6, "payload_len")
F_V6_NEXT = SPEC.field(IPV6, "next")
F_V6_SRC = SPEC.field(IPV6, "src")
F_V6_DST = SPEC.field(IPV6, "dst")
F_SPORT = SPEC.field(TCP, "sport")          # read once for TCP and UDP rows alike
F_DPORT = SPEC.field(TCP, "dport")
assert all(TCP.fields[f] == UDP_HDR.fields[f] for f in ("sport", "dport"))
F_TCP_SEQ = SPEC.field(TCP, "seq")
F_TCP_OFF = SPEC.field(TCP, "data_off")
F_TCP_FLAGS = SPEC.field(TCP, "flags")
F_UDP_LEN = SPEC.field(UDP_HDR, "len")
F_MPLS_LABEL = SPEC.field(SHIM, "label")
F_MPLS_BOS = SPEC.field(SHIM, "bos")
F_GRE_FLAGS = SPEC.field(GRE, "flags")
F_GRE_VERSION = SPEC.field(GRE, "version")
F_GRE_PROTO = SPEC.field(GRE, "proto")
F_ERSPAN_VERSION = SPEC.field(ERSPAN, "version")
F_ERSPAN_SESSION = SPEC.field(ERSPAN, "session")
F_VXLAN_VNI = SPEC.field(VXLAN, "vni")
F_L2TP_FLAGS = SPEC.field(L2TP, "flags")
F_L2TP_VERSION = SPEC.field(L2TP, "version")
F_PPP_ADDRESS = SPEC.field(PPP, "address")
F_PPP_CONTROL = SPEC.field(PPP, "control")
F_PPP_BYTE2 = SPEC.field(PPP, "byte2")
F_PPP_BYTE3 = SPEC.field(PPP, "byte3")

K = Slots()              # slots of `k`
# the layers the loop passes (fastpath enters it at the rows of ETH, IPV4 and IPV6)
K_ETH = K.layer("eth", ethernet.decode_eth)
K_VLAN = K.layer("vlan", ethernet.decode_vlan)
K_IP4 = K.layer("ipv4", ipv4.decode)
K_IP6 = K.layer("ipv6", ipv6.decode)
K_TCP = K.layer("tcp", tcp.decode)
K_UDP = K.layer("udp", udp.decode)
K_MPLS = K.layer("mpls", mpls.decode)
K_GRE = K.layer("gre", gre.decode)
K_ERSPAN = K.layer("erspan", erspan.decode)
K_VXLAN = K.layer("vxlan", vxlan.decode)
K_L2TP = K.layer("l2tp", l2tp.decode)
K_PPP = K.layer("ppp", ppp.decode)
# header lengths
K_ETH_LEN = K.value(ETH.min_len)
K_VLAN_LEN = K.value(VLAN.min_len)
K_IP4_LEN = K.value(IPV4.min_len)
K_IP6_LEN = K.value(IPV6.min_len)
K_TCP_LEN = K.value(TCP.min_len)
K_UDP_LEN = K.value(UDP_HDR.min_len)
K_SHIM_LEN = K.value(SHIM.min_len)
K_GRE_LEN = K.value(GRE.min_len)
K_ERSPAN_II_LEN = K.value(erspan.LEN_II)
K_VXLAN_LEN = K.value(VXLAN.min_len)
K_L2TP_LEN = K.value(L2TP.min_len)
# namespaces and keys of the dispatch's flat table
K_NS_LINKTYPE = K.value(LINKTYPE)
K_NS_ETHERTYPE = K.value(ETHERTYPE)
K_NS_PPP = K.value(PPP_NS)
K_NS_IPPROTO = K.value(IPPROTO)
K_NS_UDP = K.value(UDP)
K_KEY_SPACE = K.value(KEY_SPACE)
K_LLC_KEY = K.value(LLC_KEY)
K_LLC_BELOW = K.value(ethernet.LLC_BELOW)
K_KEY_IPV4 = K.value(ETHERTYPE_IPV4)
K_KEY_IPV6 = K.value(ETHERTYPE_IPV6)
K_KEY_ETHERNET = K.value(LINKTYPE_ETHERNET)
K_KEY_PPP = K.value(l2tp.PPP_TYPE)
# line and tunnel kinds
K_LINE_VLAN = K.value(ethernet.VLAN_LINE.id)
K_LINE_QINQ = K.value(ethernet.QINQ_LINE.id)
K_LINE_MPLS = K.value(mpls.LINE.id)
K_LINE_GRE = K.value(gre.LINE.id)
K_LINE_ERSPAN = K.value(erspan.LINE.id)
K_LINE_VXLAN = K.value(vxlan.LINE.id)
K_LINE_L2TP = K.value(l2tp.LINE.id)
K_TUN_MPLS = K.value(mpls.TUNNEL.id)
K_TUN_GRE = K.value(gre.TUNNEL.id)
K_TUN_ERSPAN = K.value(erspan.TUNNEL.id)
K_TUN_VXLAN = K.value(vxlan.TUNNEL.id)
K_TUN_L2TP = K.value(l2tp.TUNNEL.id)
# the table's codes and bounds
K_OK = K.value(OK)
K_UNSUPPORTED = K.value(UNSUPPORTED)
K_NONE = K.value(NONE)
K_MAX_LAYERS = K.value(MAX_LAYERS)
K_MAX_TUNNELS = K.value(MAX_TUNNELS)
K_V4_MAPPED = K.value(IPV4_MAPPED)
# the protocols' flag bits, codes and parts
K_MPLS_LABELS = K.value(mpls.MAX_LABELS)
K_MPLS_GAL = K.value(mpls.GAL)
K_GRE_R = K.value(gre.R)
K_GRE_S = K.value(gre.S)
K_GRE_ERSPAN_II = K.value(gre.ERSPAN_II)
K_GRE_WCCP = K.value(gre.WCCP)
K_AUX_ERSPAN_I = K.value(ERSPAN_I)
K_ERSPAN_TYPE_II = K.value(erspan.TYPE_II)
K_L2TP_T = K.value(l2tp.T)
K_L2TP_O = K.value(l2tp.O)
K_L2TP_V2 = K.value(l2tp.V2)
K_PPP_ADDRESS = K.value(ppp.ADDRESS)
K_PPP_CONTROL = K.value(ppp.CONTROL)
K_V4_OFFSET_BITS = K.value(ipv4.OFFSET_BITS)
K_GRE_KEY_PART = K.value(gre.WORDS.index["key"])
K_L2TP_LENGTH_PART = K.value(V2_PARTS.index["length"])
K_L2TP_TUNNEL_PART = K.value(V2_PARTS.index["tunnel"])
K_L2TP_SESSION_PART = K.value(V2_PARTS.index["session"])

# Rows ahead whose lines of the columns are prefetched. Each row writes some 30 columns, a
# stream each: more than the hardware prefetcher follows, so without this the loop waited on
# most of them (a third of its time on a batch that other work has pushed out of the cache).
COLUMNS_AHEAD = 64


@jit(inline="always")
def _uint(buf, p, spec, k):
    """Field k of the header at p, big-endian, shifted and masked as its Field says."""
    offset, w, mask, shift = spec[k]
    off = np.uint64(p + offset)          # unsigned: no negative-index wraparound to test
    if w == 1:
        v = np.int64(buf[off])
    elif w == 2:
        v = (np.int64(buf[off]) << 8) | np.int64(buf[off + np.uint64(1)])
    else:
        v = 0
        for j in range(w):
            v = (v << 8) | np.int64(buf[off + np.uint64(j)])
    if shift:
        v >>= shift
    if mask >= 0:
        v &= mask
    return v


@jit(inline="always")
def _part_at(flags, parts, upto):
    """Bytes before part `upto` of a header whose parts are there where `flags` has their
    bits (layout.Parts.table; upto len(parts): the header's length)."""
    off = 0
    for j in range(upto):
        mask, width = parts[j]
        if mask == 0 or (flags & mask) != 0:
            off += width
    return off


@jit(inline="always")
def _part(buf, p, flags, parts, j):
    """The value of part j (big-endian) of the header at p."""
    at = np.uint64(p + _part_at(flags, parts, j))
    v = 0
    for i in range(parts[j][1]):
        v = (v << 8) | np.int64(buf[at + np.uint64(i)])
    return v


@jit(inline="always")
def _u64(buf, at):
    v = np.uint64(0)
    a = np.uint64(at)
    for j in range(8):
        v = (v << np.uint64(8)) | np.uint64(buf[a + np.uint64(j)])
    return v


@jit(inline="always")
def _prefetch_row(cols, g):
    """Prefetch row g of each column of `cols` (all of one row width; of a 2-D column, the
    row's first byte) where row g starts a new 64-byte line of it: once a line, for
    consecutive rows."""
    width = cols[0].strides[0]
    if ((g * width) & 63) < width:
        for col in cols:
            prefetch(col, g)


@jit
def _add_tunnel(g, kind, a, b, k, ntun, tun_kind, tun_a, tun_b, ip_at_tunnel, n_ip):
    """As PacketTable.add_tunnel for one row."""
    s = np.int64(ntun[g])
    if s < k[K_MAX_TUNNELS]:
        tun_kind[g, s] = kind
        tun_a[g, s] = a
        tun_b[g, s] = b
        ntun[g] = s + 1
        ip_at_tunnel[g] = n_ip[g]


@jit
def _set_line(g, kind, a, b, line_kind, line_a, line_b):
    line_kind[g] = kind
    line_a[g] = a
    line_b[g] = b


@jit
def run(buf, rows, entry, left, spec, k, gre_parts, l2tp_parts, flat, miss,
        pos, end, nxt, aux, nlayers, layers, credit,
        status, status_layer, line_kind, line_a, line_b,
        ntun, tun_kind, tun_a, tun_b, ip_at_tunnel,
        n_ip, ip_ver, src_hi, src_lo, dst_hi, dst_lo, proto, frag_at,
        outer_ver, outer_src_hi, outer_src_lo, outer_dst_hi, outer_dst_lo,
        sport, dport, tcp_flags, tcp_seq, icmp_type, icmp_code, heads, head_known, refused):
    """Pass the fused layers of each row of `rows` (which reached layer `entry`); write the
    columns and the row's cursor. Returns (the most layers a row passed past its entry, the
    count of entry rows refused: their indices in `rows` are refused[:count], for the
    entry's generic decoder). A row whose decoding ends here gets its payload's first
    heads.shape[1] bytes copied to heads[row] (zero past the payload) and head_known[row]
    set: its frame's lines are in the cache now, later they are not."""
    eth, vlan, ip4, ip6, tcp, udp = k[K_ETH], k[K_VLAN], k[K_IP4], k[K_IP6], k[K_TCP], k[K_UDP]
    mpls, gre, erspan, vxlan, l2tp, ppp = (k[K_MPLS], k[K_GRE], k[K_ERSPAN], k[K_VXLAN],
                                           k[K_L2TP], k[K_PPP])
    ks = k[K_KEY_SPACE]
    ns_ethertype, ns_udp = k[K_NS_ETHERTYPE], k[K_NS_UDP]
    none = k[K_NONE]
    mapped = np.uint64(k[K_V4_MAPPED])
    max_layers = k[K_MAX_LAYERS]
    # the columns a row may read or write, by type
    word_columns = (pos, end, aux, credit, line_a, line_b, proto, frag_at,
                    sport, dport, tcp_flags, tcp_seq, icmp_type, icmp_code)
    address_columns = (src_hi, src_lo, dst_hi, dst_lo,
                       outer_src_hi, outer_src_lo, outer_dst_hi, outer_dst_lo)
    byte_columns = (status, status_layer, nlayers, line_kind, ntun, ip_at_tunnel, n_ip, ip_ver,
                    outer_ver)
    most = 0
    nref = 0
    nrows = rows.shape[0]
    for r in range(nrows):
        if r + PREFETCH_AHEAD < nrows:
            ahead = pos[rows[r + PREFETCH_AHEAD]]
            prefetch(buf, ahead)
            prefetch(buf, ahead + 64)          # headers may cross into the next line
        if r + COLUMNS_AHEAD < nrows:
            ahead = rows[r + COLUMNS_AHEAD]
            _prefetch_row(word_columns, ahead)
            _prefetch_row(address_columns, ahead)
            _prefetch_row(byte_columns, ahead)
            _prefetch_row((head_known,), ahead)
            _prefetch_row((nxt,), ahead)
            _prefetch_row((tun_kind,), ahead)
            _prefetch_row((layers,), ahead)
            _prefetch_row((heads,), ahead)
            _prefetch_row((tun_a, tun_b), ahead)
        g = rows[r]
        p = pos[g]
        e = end[g]
        nl0 = np.int64(nlayers[g])
        nl = nl0
        room = min(max_layers, nl0 + left - credit[g])
        at = np.int64(entry)
        first = True            # at the entry layer, which the driver has recorded already
        refuse = False
        # Each pass of the loop takes the layer `at`: where its header is cut or odd (or the
        # chain or the rounds are full) the row stops before it, for its generic decoder (at
        # the entry: refused, for the entry's generic decoder now); else its columns are
        # written, the cursor moves past it, and (ns, key) name what follows (ns -1: the row
        # ends here, ok).
        while True:
            if not first and nl >= room:
                break
            ns = -1
            key = 0
            if at == eth:
                if p + k[K_ETH_LEN] > e:
                    refuse = first
                    break
                key = _uint(buf, p, spec, F_ETH_TYPE)
                if key < k[K_LLC_BELOW]:            # an 802.3 length: bytes past it pad
                    e = min(e, p + k[K_ETH_LEN] + key)
                    key = k[K_LLC_KEY]
                ns = ns_ethertype
                p += k[K_ETH_LEN]
            elif at == vlan:
                if p + k[K_VLAN_LEN] > e:
                    break
                vid = _uint(buf, p, spec, F_VLAN_VID)
                # as PacketTable.add_vlan: a lone tag names a VLAN line, a tag right after
                # it makes a QinQ pair, later tags keep the pair
                if layers[g, nl - 1] != vlan:
                    _set_line(g, k[K_LINE_VLAN], vid, 0, line_kind, line_a, line_b)
                elif line_kind[g] == k[K_LINE_VLAN]:
                    line_kind[g] = k[K_LINE_QINQ]
                    line_b[g] = vid
                key = _uint(buf, p, spec, F_VLAN_TYPE)
                if key < k[K_LLC_BELOW]:
                    key = k[K_LLC_KEY]
                ns = ns_ethertype
                p += k[K_VLAN_LEN]
            elif at == ip4 or at == ip6:
                v4 = at == ip4
                hdr = k[K_IP4_LEN] if v4 else k[K_IP6_LEN]
                if p + hdr > e:
                    refuse = first
                    break
                bounded = e
                after = p + hdr
                if v4:
                    ihl = _uint(buf, p, spec, F_V4_IHL)
                    total = _uint(buf, p, spec, F_V4_TOTAL)
                    hl = ihl * 4
                    if total != 0:
                        bounded = min(e, p + total)
                    after = p + hl
                    if not (_uint(buf, p, spec, F_V4_VERSION) == 4 and ihl >= 5
                            and (total >= hl or total == 0) and after <= bounded):
                        refuse = first
                        break
                    shi = np.uint64(0)
                    slo = mapped | np.uint64(_uint(buf, p, spec, F_V4_SRC))
                    dhi = np.uint64(0)
                    dlo = mapped | np.uint64(_uint(buf, p, spec, F_V4_DST))
                    pr = _uint(buf, p, spec, F_V4_PROTO)
                    frag_bits = _uint(buf, p, spec, F_V4_FRAG)
                    fat = p if frag_bits != 0 else none
                    later = (frag_bits & k[K_V4_OFFSET_BITS]) != 0
                    ver = 4
                else:
                    if _uint(buf, p, spec, F_V6_VERSION) != 6:
                        refuse = first
                        break
                    plen = _uint(buf, p, spec, F_V6_PLEN)
                    if plen != 0:
                        bounded = min(e, p + hdr + plen)
                    a = p + spec[F_V6_SRC][0]
                    shi, slo = _u64(buf, a), _u64(buf, a + 8)
                    a = p + spec[F_V6_DST][0]
                    dhi, dlo = _u64(buf, a), _u64(buf, a + 8)
                    pr = _uint(buf, p, spec, F_V6_NEXT)
                    fat = none
                    later = False
                    ver = 6
                e = bounded
                p = after
                # as PacketTable.set_ip: innermost, and outermost where first
                n = n_ip[g]
                n_ip[g] = n + 1
                ip_ver[g] = ver
                src_hi[g] = shi
                src_lo[g] = slo
                dst_hi[g] = dhi
                dst_lo[g] = dlo
                proto[g] = pr
                frag_at[g] = fat
                if n == 0:
                    outer_ver[g] = ver
                    outer_src_hi[g] = shi
                    outer_src_lo[g] = slo
                    outer_dst_hi[g] = dhi
                    outer_dst_lo[g] = dlo
                else:                               # an inner header clears the transport
                    sport[g] = none
                    dport[g] = none
                    tcp_flags[g] = none
                    tcp_seq[g] = none
                    icmp_type[g] = none
                    icmp_code[g] = none
                if not later:                       # a later fragment ends after its header
                    ns = k[K_NS_IPPROTO]
                    key = pr
            elif at == tcp:                         # ends the row at its payload
                if p + k[K_TCP_LEN] > e:
                    break
                payload = p + _uint(buf, p, spec, F_TCP_OFF) * 4
                if payload < p + k[K_TCP_LEN] or payload > e:
                    break
                sport[g] = _uint(buf, p, spec, F_SPORT)
                dport[g] = _uint(buf, p, spec, F_DPORT)
                tcp_flags[g] = _uint(buf, p, spec, F_TCP_FLAGS)
                tcp_seq[g] = _uint(buf, p, spec, F_TCP_SEQ)
                p = payload
            elif at == udp:                         # goes on by port
                if p + k[K_UDP_LEN] > e:
                    break
                length = _uint(buf, p, spec, F_UDP_LEN)
                if length < k[K_UDP_LEN] and length != 0:
                    break
                sp = _uint(buf, p, spec, F_SPORT)
                dp = _uint(buf, p, spec, F_DPORT)
                sport[g] = sp
                dport[g] = dp
                if length != 0:
                    e = min(e, p + length)
                p += k[K_UDP_LEN]
                # as udp.decode: the lower port names the protocol when both are known
                low, high = min(sp, dp), max(sp, dp)
                ns = ns_udp
                key = low if flat[ns_udp * ks + low] != 0 else high
            elif at == mpls:
                # the stack down to its bottom, all captured; then IPv4 or IPv6 (the
                # pseudowire guesses, an associated channel: the generic decoder)
                q = p
                depth = 0
                bottom = False
                while depth < k[K_MPLS_LABELS] and q + k[K_SHIM_LEN] <= e:
                    if _uint(buf, q, spec, F_MPLS_BOS):
                        bottom = True
                        break
                    q += k[K_SHIM_LEN]
                    depth += 1
                if not bottom:
                    break
                label = _uint(buf, q, spec, F_MPLS_LABEL)
                q += k[K_SHIM_LEN]
                if label == k[K_MPLS_GAL] or q >= e:
                    break
                nibble = np.int64(buf[q]) >> 4
                if nibble == 4:
                    key = k[K_KEY_IPV4]
                elif nibble == 6:
                    key = k[K_KEY_IPV6]
                else:
                    break
                _set_line(g, k[K_LINE_MPLS], label, 0, line_kind, line_a, line_b)
                _add_tunnel(g, k[K_TUN_MPLS], label, 0, k, ntun, tun_kind, tun_a, tun_b,
                            ip_at_tunnel, n_ip)
                ns = ns_ethertype
                p = q
            elif at == gre:
                # version 0 (PPTP's version 1, routing, ERSPAN type I and WCCP: the generic
                # decoder)
                if p + k[K_GRE_LEN] > e:
                    break
                flags = _uint(buf, p, spec, F_GRE_FLAGS)
                key = _uint(buf, p, spec, F_GRE_PROTO)
                if _uint(buf, p, spec, F_GRE_VERSION) != 0 or flags & k[K_GRE_R]:
                    break
                hl = _part_at(flags, gre_parts, len(gre_parts))
                if (p + hl > e or key == k[K_GRE_WCCP]
                        or (key == k[K_GRE_ERSPAN_II] and not flags & k[K_GRE_S])):
                    break
                gre_key = 0
                if flags & gre_parts[k[K_GRE_KEY_PART]][0]:
                    gre_key = _part(buf, p, flags, gre_parts, k[K_GRE_KEY_PART])
                    _set_line(g, k[K_LINE_GRE], gre_key, 0, line_kind, line_a, line_b)
                _add_tunnel(g, k[K_TUN_GRE], gre_key, 0, k, ntun, tun_kind, tun_a, tun_b,
                            ip_at_tunnel, n_ip)
                aux[g] = 0                          # as gre.decode's goto: not type I
                ns = ns_ethertype
                p += hl
            elif at == erspan or at == vxlan:       # an id (ERSPAN II, VXLAN), then Ethernet
                if at == erspan:
                    hl = k[K_ERSPAN_II_LEN]
                    if (aux[g] == k[K_AUX_ERSPAN_I] or p + hl > e
                            or _uint(buf, p, spec, F_ERSPAN_VERSION) != k[K_ERSPAN_TYPE_II]):
                        break
                    ident = _uint(buf, p, spec, F_ERSPAN_SESSION)
                    tun, line = k[K_TUN_ERSPAN], k[K_LINE_ERSPAN]
                else:
                    hl = k[K_VXLAN_LEN]
                    if p + hl > e:
                        break
                    ident = _uint(buf, p, spec, F_VXLAN_VNI)
                    tun, line = k[K_TUN_VXLAN], k[K_LINE_VXLAN]
                _add_tunnel(g, tun, ident, 0, k, ntun, tun_kind, tun_a, tun_b, ip_at_tunnel, n_ip)
                _set_line(g, line, ident, 0, line_kind, line_a, line_b)
                ns = k[K_NS_LINKTYPE]
                key = k[K_KEY_ETHERNET]
                p += hl
            elif at == l2tp:
                # L2TPv2 data without an offset field, then PPP (control messages,
                # offsets, L2TPv3, malformed headers: the generic decoder)
                if p + k[K_L2TP_LEN] > e:
                    break
                flags = _uint(buf, p, spec, F_L2TP_FLAGS)
                if (_uint(buf, p, spec, F_L2TP_VERSION) != k[K_L2TP_V2]
                        or flags & (k[K_L2TP_T] | k[K_L2TP_O])):
                    break
                hl = _part_at(flags, l2tp_parts, len(l2tp_parts))
                if p + hl > e:
                    break
                bounded = e
                if flags & l2tp_parts[k[K_L2TP_LENGTH_PART]][0]:
                    length = _part(buf, p, flags, l2tp_parts, k[K_L2TP_LENGTH_PART])
                    if length < hl:
                        break
                    bounded = min(e, p + length)
                    if p + hl > bounded:
                        break
                tunnel = _part(buf, p, flags, l2tp_parts, k[K_L2TP_TUNNEL_PART])
                session = _part(buf, p, flags, l2tp_parts, k[K_L2TP_SESSION_PART])
                _add_tunnel(g, k[K_TUN_L2TP], tunnel, session, k, ntun, tun_kind, tun_a, tun_b,
                            ip_at_tunnel, n_ip)
                _set_line(g, k[K_LINE_L2TP], tunnel, session, line_kind, line_a, line_b)
                e = bounded
                ns = ns_ethertype
                key = k[K_KEY_PPP]
                p += hl
            elif at == ppp:
                # HDLC-like framing optional, protocol field of one (odd) or two bytes;
                # never the first layer here, so never Cisco HDLC. Bytes past the end
                # are read only where they decide nothing.
                if p + 1 > e:
                    break
                address = _uint(buf, p, spec, F_PPP_ADDRESS)
                control = _uint(buf, p, spec, F_PPP_CONTROL) if p + 1 < e else -1
                framed = address == k[K_PPP_ADDRESS] and (control == k[K_PPP_CONTROL]
                                                          or p + 2 > e)
                if framed:
                    if p + 3 > e:
                        break
                    high = _uint(buf, p, spec, F_PPP_BYTE2)
                    low = _uint(buf, p, spec, F_PPP_BYTE3) if p + 3 < e else -1
                else:
                    high, low = address, control
                compressed = (high & 1) == 1
                hl = 2 * np.int64(framed) + (1 if compressed else 2)
                if p + hl > e:
                    break
                ns = k[K_NS_PPP]
                key = high if compressed else (high << 8) | low
                p += hl
            else:                                   # not fused (or 0: the row ended)
                break
            # the layer is passed
            if not first:
                layers[g, nl] = at
                nl += 1
            first = False
            passed = at
            if ns < 0:
                at = 0
                break
            at = np.int64(flat[ns * ks + key])
            if at == 0 and miss[ns] != k[K_OK]:   # a carrier with no decoder
                status[g] = k[K_UNSUPPORTED]
                status_layer[g] = passed
        if refuse:                                  # the entry's generic decoder takes it
            refused[nref] = r
            nref += 1
            continue
        pos[g] = p
        end[g] = e
        nxt[g] = at
        if at == 0 and heads.shape[0]:              # done: its payload's head, as the
            take = 0                                # table will give payload_off/len
            if status[g] == k[K_OK]:
                take = min(max(e - p, 0), heads.shape[1])
            for j in range(take):
                heads[g, j] = buf[p + j]
            head_known[g] = True
        passed = nl - nl0
        if passed:
            nlayers[g] = nl
            credit[g] += passed
            if passed > most:
                most = passed
    return most, nref

