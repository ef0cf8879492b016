"""The fused chain of fastpath.py as one compiled loop over rows (numba, optional).

Imported only where numba is installed (`pip install ybsensor[fast]`); fastpath.py picks
this backend then, and the generic decoders otherwise, with the same table either way.

`run` does per row what fastpath.Pass does per level: Ethernet, up to TAGS VLAN tags,
IPv4 or IPv6, and TCP or UDP, with the same boundaries (a row leaves the chain where its
next layer is not fused, or where a header is cut or odd: it stops before that layer, in the
state the generic decoders would leave it). Nothing here knows a header's layout or a
protocol number: field offsets, widths, masks and shifts come in `spec` (built from the
`Layout` declarations), the next layer of a key from the dispatch's flat table, and layer
ids, namespaces, status codes and lengths in `k`; the indices below only name slots.
"""
from __future__ import annotations

import tempfile

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# rows of `spec` (offset, width, mask or -1, shift)
F_ETH_TYPE, F_VLAN_VID, F_VLAN_TYPE, F_V4_VERSION, F_V4_IHL, F_V4_TOTAL, F_V4_FRAG, \
    F_V4_PROTO, F_V4_SRC, F_V4_DST, F_V6_VERSION, F_V6_PLEN, F_V6_NEXT, F_V6_SRC, F_V6_DST, \
    F_SPORT, F_DPORT, F_TCP_SEQ, F_TCP_OFF, F_TCP_FLAGS, F_UDP_LEN = range(21)
N_FIELDS = 21

# slots of `k`
(K_ETH, K_VLAN, K_IP4, K_IP6, K_TCP, K_UDP,                # layer ids (-1: not fused)
 K_ETH_LEN, K_VLAN_LEN, K_IP4_LEN, K_IP6_LEN, K_TCP_LEN, K_UDP_LEN,
 K_NS_ETHERTYPE, K_NS_IPPROTO, K_NS_UDP, K_KEY_SPACE, K_LLC_KEY, K_LLC_BELOW,
 K_LINE_VLAN, K_LINE_QINQ, K_TRUNCATED, K_UNSUPPORTED, K_NONE, K_MAX_LAYERS, K_TAGS,
 K_V4_MAPPED) = range(26)
N_K = 26

# Rows ahead whose frame starts are prefetched. A batch's frames (tens of MB) are not in the
# cache, and each row reads one or two lines at an unpredictable stride: waiting for them was
# half of the loop's time. Prefetching a few rows ahead overlaps those misses.
PREFETCH_AHEAD = 8


def _jit(fn=None, **kw):
    """njit, without reference counting and with an on-disk cache: next to this file, else
    numba's user cache, else a temporary directory, else none (then a read-only install
    compiles once per process).

    `_nrt=False`: nothing here allocates, and with reference counting each call of a helper
    that takes an array counts the array up and down atomically: three times the time of a
    row."""
    if fn is None:
        return lambda fn: _jit(fn, **kw)
    kw.update(nogil=True, _nrt=False)
    try:
        return numba.njit(cache=True, **kw)(fn)
    except RuntimeError:        # no writable cache location
        pass
    if not numba.config.CACHE_DIR:
        try:
            numba.config.CACHE_DIR = tempfile.mkdtemp(prefix="ybsensor-numba-")
            return numba.njit(cache=True, **kw)(fn)
        except (RuntimeError, OSError):
            pass
    return numba.njit(**kw)(fn)


@intrinsic
def _prefetch(typingctx, arr, idx):
    """A hint to bring arr[idx]'s cache line in (llvm.prefetch: read, keep in all levels);
    it never faults, so idx need not lie inside arr."""
    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        byte_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32]),
            "llvm.prefetch.p0i8")
        builder.call(fn, [builder.bitcast(ptr, byte_ptr), ir.Constant(i32, 0),
                          ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return types.void(arr, idx), codegen


@_jit(inline="always")
def _uint(buf, p, spec, k):
    """Field k of the header at p, big-endian, shifted and masked as its Field says."""
    off = np.uint64(p + spec[k, 0])      # unsigned: no negative-index wraparound to test
    w = spec[k, 1]
    if w == 1:
        v = np.int64(buf[off])
    elif w == 2:
        v = (np.int64(buf[off]) << 8) | np.int64(buf[off + np.uint64(1)])
    else:
        v = 0
        for j in range(w):
            v = (v << 8) | np.int64(buf[off + np.uint64(j)])
    if spec[k, 3]:
        v >>= spec[k, 3]
    if spec[k, 2] >= 0:
        v &= spec[k, 2]
    return v


@_jit(inline="always")
def _u64(buf, at):
    v = np.uint64(0)
    a = np.uint64(at)
    for j in range(8):
        v = (v << np.uint64(8)) | np.uint64(buf[a + np.uint64(j)])
    return v


@_jit
def run(buf, rows, entry, left, spec, k, flat,
        pos, end, nxt, nlayers, layers, credit,
        status, status_layer, line_kind, line_a, line_b,
        n_ip, ip_ver, src_hi, src_lo, dst_hi, dst_lo, proto, fragment,
        outer_ver, outer_src_hi, outer_src_lo, outer_dst_hi, outer_dst_lo,
        sport, dport, tcp_flags, tcp_seq, icmp_type, icmp_code, refused):
    """Pass the fused layers of each row of `rows` (which reached layer `entry`); write the
    columns and the row's cursor. Returns (the most layers a row passed past its entry, the
    count of entry rows refused: their indices in `rows` are refused[:count], for the
    entry's generic decoder)."""
    eth, vlan, ip4, ip6, tcp, udp = k[K_ETH], k[K_VLAN], k[K_IP4], k[K_IP6], k[K_TCP], k[K_UDP]
    ks = k[K_KEY_SPACE]
    et_base = k[K_NS_ETHERTYPE] * ks
    ipp_base = k[K_NS_IPPROTO] * ks
    udp_base = k[K_NS_UDP] * ks
    none = k[K_NONE]
    mapped = np.uint64(k[K_V4_MAPPED])
    max_layers = k[K_MAX_LAYERS]
    at_entry_ip = entry != eth
    most = 0
    nref = 0
    nrows = rows.shape[0]
    for r in range(nrows):
        if r + PREFETCH_AHEAD < nrows:
            ahead = pos[rows[r + PREFETCH_AHEAD]]
            _prefetch(buf, ahead)
            _prefetch(buf, ahead + 64)          # headers may cross into the next line
        g = rows[r]
        p = pos[g]
        e = end[g]
        nl0 = np.int64(nlayers[g])
        nl = nl0
        room = min(max_layers, nl0 + left - credit[g])
        at = np.int64(entry)
        if not at_entry_ip:
            # Ethernet, then up to TAGS tags
            if p + k[K_ETH_LEN] > e:
                status[g] = k[K_TRUNCATED]
                status_layer[g] = eth
                nxt[g] = 0
                continue
            etype = _uint(buf, p, spec, F_ETH_TYPE)
            if etype < k[K_LLC_BELOW]:          # an 802.3 length: bytes past it pad
                e = min(e, p + k[K_ETH_LEN] + etype)
                etype = k[K_LLC_KEY]
            at = np.int64(flat[et_base + etype])
            p += k[K_ETH_LEN]
            tags = 0
            while tags < k[K_TAGS] and at == vlan:
                if p + k[K_VLAN_LEN] > e or nl >= room:
                    break                       # stops at this tag
                layers[g, nl] = vlan
                nl += 1
                vid = _uint(buf, p, spec, F_VLAN_VID)
                inner = _uint(buf, p, spec, F_VLAN_TYPE)
                if inner < k[K_LLC_BELOW]:
                    inner = k[K_LLC_KEY]
                at = np.int64(flat[et_base + inner])
                p += k[K_VLAN_LEN]
                if tags == 0:                   # a lone tag names a VLAN line
                    line_kind[g] = k[K_LINE_VLAN]
                    line_a[g] = vid
                    line_b[g] = 0
                else:                           # the second makes it a QinQ pair
                    line_kind[g] = k[K_LINE_QINQ]
                    line_b[g] = vid
                tags += 1
            if at == 0:                         # an EtherType with no decoder
                status[g] = k[K_UNSUPPORTED]
                status_layer[g] = vlan if tags else eth
        # IPv4 or IPv6
        passed_ip = False
        if at == ip4 or at == ip6:
            v4 = at == ip4
            hdr = k[K_IP4_LEN] if v4 else k[K_IP6_LEN]
            ok = p + hdr <= e
            bounded = e
            after = p + hdr
            if ok:
                if v4:
                    ihl = _uint(buf, p, spec, F_V4_IHL)
                    total = _uint(buf, p, spec, F_V4_TOTAL)
                    hl = ihl * 4
                    if total != 0:
                        bounded = min(e, p + total)
                    after = p + hl
                    ok = (_uint(buf, p, spec, F_V4_VERSION) == 4 and ihl >= 5
                          and (total >= hl or total == 0) and after <= bounded)
                else:
                    plen = _uint(buf, p, spec, F_V6_PLEN)
                    if plen != 0:
                        bounded = min(e, p + hdr + plen)
                    ok = _uint(buf, p, spec, F_V6_VERSION) == 6
            if at_entry_ip:
                if not ok:                      # the entry's generic decoder takes it
                    refused[nref] = r
                    nref += 1
                    continue
            elif ok and nl < room:
                layers[g, nl] = at
                nl += 1
            else:
                ok = False                      # stops before the header
            if ok:
                passed_ip = True
                if v4:
                    shi = np.uint64(0)
                    slo = mapped | np.uint64(_uint(buf, p, spec, F_V4_SRC))
                    dhi = np.uint64(0)
                    dlo = mapped | np.uint64(_uint(buf, p, spec, F_V4_DST))
                    pr = _uint(buf, p, spec, F_V4_PROTO)
                    frag = _uint(buf, p, spec, F_V4_FRAG) != 0
                    ver = 4
                else:
                    a = p + spec[F_V6_SRC, 0]
                    shi, slo = _u64(buf, a), _u64(buf, a + 8)
                    a = p + spec[F_V6_DST, 0]
                    dhi, dlo = _u64(buf, a), _u64(buf, a + 8)
                    pr = _uint(buf, p, spec, F_V6_NEXT)
                    frag = False
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
                fragment[g] = frag
                if n == 0:
                    outer_ver[g] = ver
                    outer_src_hi[g] = shi
                    outer_src_lo[g] = slo
                    outer_dst_hi[g] = dhi
                    outer_dst_lo[g] = dlo
                else:                           # an inner header clears the transport
                    sport[g] = none
                    dport[g] = none
                    tcp_flags[g] = none
                    tcp_seq[g] = none
                    icmp_type[g] = none
                    icmp_code[g] = none
                # a later fragment ends after its header
                at = 0 if frag else np.int64(flat[ipp_base + pr])
        # TCP ends the row at its payload; UDP goes on by port
        if passed_ip and at == tcp:
            if p + k[K_TCP_LEN] <= e and nl < room:
                payload = p + _uint(buf, p, spec, F_TCP_OFF) * 4
                if payload >= p + k[K_TCP_LEN] and payload <= e:
                    layers[g, nl] = tcp
                    nl += 1
                    sport[g] = _uint(buf, p, spec, F_SPORT)
                    dport[g] = _uint(buf, p, spec, F_DPORT)
                    tcp_flags[g] = _uint(buf, p, spec, F_TCP_FLAGS)
                    tcp_seq[g] = _uint(buf, p, spec, F_TCP_SEQ)
                    p = payload
                    at = 0
        elif passed_ip and at == udp:
            if p + k[K_UDP_LEN] <= e and nl < room:
                length = _uint(buf, p, spec, F_UDP_LEN)
                if length >= k[K_UDP_LEN] or length == 0:
                    layers[g, nl] = udp
                    nl += 1
                    sp = _uint(buf, p, spec, F_SPORT)
                    dp = _uint(buf, p, spec, F_DPORT)
                    sport[g] = sp
                    dport[g] = dp
                    if length != 0:
                        e = min(e, p + length)
                    p += k[K_UDP_LEN]
                    # as udp.decode: the lower port names the protocol when both are known
                    low, high = min(sp, dp), max(sp, dp)
                    port = low if flat[udp_base + low] != 0 else high
                    at = np.int64(flat[udp_base + port])
        pos[g] = p
        end[g] = e
        nxt[g] = at
        passed = nl - nl0
        if passed:
            nlayers[g] = nl
            credit[g] += passed
            if passed > most:
                most = passed
    return most, nref
