"""Community ID v1 (corelight/community-id-spec): a flow's shared name across Zeek,
Suricata and this sensor.

One compiled computation (`_write_one`: the endpoints' order, the hash input, SHA-1 and
base64) serves both the flow log and the alerts, which name many flows at once
(`community_ids`), and an event record, which names one flow (`community_id`). The hash
input is at most 38 bytes, so SHA-1 is one block: compiled, a flow costs well under a
microsecond, where hashlib plus the ordering in Python cost several.
"""
from __future__ import annotations

import struct
import threading

import numpy as np

from ybsensor.core.loops import jit
from ybsensor.core.addresses import V4_MAPPED_HI

ICMP, TCP, UDP, ICMP6, SCTP = 1, 6, 17, 58, 132
# ICMP types that have a counterpart: the pair is one bidirectional "flow"
ICMP4_PAIRS = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
ICMP6_PAIRS = {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135,
               130: 131, 131: 130, 139: 140, 140: 139, 144: 145, 145: 144}
WIDTH = 30              # "1:" and the base64 of a 20-byte SHA-1


def _pair_table(pairs: dict[int, int]) -> np.ndarray:
    table = np.full(256, -1, dtype=np.int64)
    for kind, counterpart in pairs.items():
        table[kind] = counterpart
    return table


PAIRS4, PAIRS6 = _pair_table(ICMP4_PAIRS), _pair_table(ICMP6_PAIRS)
BASE64 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                       dtype=np.uint8).copy()
# SHA-1 words are held in int64: 32-bit values, their sums and shifts stay below 2**63
SHA1_START = np.array([0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0],
                      dtype=np.int64)
MASK32 = 0xFFFFFFFF


@jit
def _rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & MASK32


@jit
def _put_word(digest, at, v):
    for k in range(4):
        digest[at + k] = (v >> (24 - 8 * k)) & 0xFF


@jit
def _sha1_block(block, w, digest):
    """SHA-1 of the one padded 64-byte block `block` into digest (20 bytes); w: 80 words of
    scratch."""
    for t in range(16):
        w[t] = (np.int64(block[4 * t]) << 24) | (np.int64(block[4 * t + 1]) << 16) \
            | (np.int64(block[4 * t + 2]) << 8) | np.int64(block[4 * t + 3])
    for t in range(16, 80):
        w[t] = _rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1)
    a, b, c, d, e = SHA1_START[0], SHA1_START[1], SHA1_START[2], SHA1_START[3], SHA1_START[4]
    for t in range(20):
        a, b, c, d, e = (_rotl(a, 5) + ((b & c) | ((b ^ MASK32) & d)) + e + 0x5A827999
                         + w[t]) & MASK32, a, _rotl(b, 30), c, d
    for t in range(20, 40):
        a, b, c, d, e = (_rotl(a, 5) + (b ^ c ^ d) + e + 0x6ED9EBA1 + w[t]) & MASK32, \
            a, _rotl(b, 30), c, d
    for t in range(40, 60):
        a, b, c, d, e = (_rotl(a, 5) + ((b & c) | (b & d) | (c & d)) + e + 0x8F1BBCDC
                         + w[t]) & MASK32, a, _rotl(b, 30), c, d
    for t in range(60, 80):
        a, b, c, d, e = (_rotl(a, 5) + (b ^ c ^ d) + e + 0xCA62C1D6 + w[t]) & MASK32, \
            a, _rotl(b, 30), c, d
    _put_word(digest, 0, (a + SHA1_START[0]) & MASK32)
    _put_word(digest, 4, (b + SHA1_START[1]) & MASK32)
    _put_word(digest, 8, (c + SHA1_START[2]) & MASK32)
    _put_word(digest, 12, (d + SHA1_START[3]) & MASK32)
    _put_word(digest, 16, (e + SHA1_START[4]) & MASK32)


@jit
def _put_address(block, at, hi, lo, v4):
    if v4:
        for k in range(4):
            block[at + k] = (lo >> (24 - 8 * k)) & 0xFF
        return at + 4
    for k in range(8):
        block[at + k] = (hi >> (56 - 8 * k)) & 0xFF
        block[at + 8 + k] = (lo >> (56 - 8 * k)) & 0xFF
    return at + 16


@jit
def _write_one(seed, src_hi, src_lo, dst_hi, dst_lo, v4, proto, sport, dport, ported,
               block, w, digest, out, row):
    """The Community ID of one flow into out[row] (WIDTH bytes). `ported`: the flow has
    ports (or ICMP type and code); without them sport and dport are 0."""
    one_way = False
    if ported and (proto == ICMP or proto == ICMP6):
        pairs = PAIRS4 if proto == ICMP else PAIRS6
        counterpart = pairs[sport] if 0 <= sport < 256 else -1
        if counterpart >= 0:
            dport = counterpart
        else:
            one_way = True
    has_ports = ported and (proto == ICMP or proto == TCP or proto == UDP or proto == ICMP6
                            or proto == SCTP)
    if not one_way and (src_hi > dst_hi or (src_hi == dst_hi and (
            src_lo > dst_lo or (src_lo == dst_lo and sport > dport)))):
        src_hi, src_lo, dst_hi, dst_lo = dst_hi, dst_lo, src_hi, src_lo
        sport, dport = dport, sport
    block[0], block[1] = (seed >> 8) & 0xFF, seed & 0xFF
    n = _put_address(block, 2, src_hi, src_lo, v4)
    n = _put_address(block, n, dst_hi, dst_lo, v4)
    block[n], block[n + 1] = proto & 0xFF, 0
    n += 2
    if has_ports:
        block[n], block[n + 1] = (sport >> 8) & 0xFF, sport & 0xFF
        block[n + 2], block[n + 3] = (dport >> 8) & 0xFF, dport & 0xFF
        n += 4
    block[n] = 0x80
    for k in range(n + 1, 62):
        block[k] = 0
    block[62], block[63] = ((8 * n) >> 8) & 0xFF, (8 * n) & 0xFF
    _sha1_block(block, w, digest)
    out[row, 0], out[row, 1] = 49, 58          # "1:"
    for g in range(7):                          # 20 bytes: 6 groups of 3, then 2 and "="
        b0 = np.int64(digest[3 * g])
        b1 = np.int64(digest[3 * g + 1])
        b2 = np.int64(digest[3 * g + 2]) if g < 6 else np.int64(0)
        v = (b0 << 16) | (b1 << 8) | b2
        at = 2 + 4 * g
        out[row, at] = BASE64[(v >> 18) & 63]
        out[row, at + 1] = BASE64[(v >> 12) & 63]
        out[row, at + 2] = BASE64[(v >> 6) & 63]
        out[row, at + 3] = BASE64[v & 63] if g < 6 else 61


@jit
def _write_all(seed, src_hi, src_lo, dst_hi, dst_lo, proto, sport, dport, ported, block, w,
               digest, out):
    for i in range(src_hi.shape[0]):
        v4 = src_hi[i] == V4_MAPPED_HI and (src_lo[i] >> 32) == 0xFFFF
        _write_one(seed, src_hi[i], src_lo[i], dst_hi[i], dst_lo[i], v4, np.int64(proto[i]),
                   np.int64(sport[i]), np.int64(dport[i]), ported[i], block, w, digest, out, i)


# one flow as `community_id` hands it to the compiled code: seed, IPv4 or not, ported or
# not, protocol, sport, dport (big-endian), then the two packed addresses
KEY = struct.Struct("!HBBBHH")
KEY_SIZE = KEY.size


@jit
def _halves_at(key, at, v4):
    if v4:
        lo = np.uint64(0xFFFF)
        for k in range(4):
            lo = (lo << np.uint64(8)) | np.uint64(key[at + k])
        return np.uint64(V4_MAPPED_HI), lo
    hi, lo = np.uint64(0), np.uint64(0)
    for k in range(8):
        hi = (hi << np.uint64(8)) | np.uint64(key[at + k])
        lo = (lo << np.uint64(8)) | np.uint64(key[at + 8 + k])
    return hi, lo


@jit
def _write_key(key, block, w, digest, out):
    """`_write_one` of one flow given as a KEY and its addresses."""
    v4 = key[2] != 0
    size = 4 if v4 else 16
    src_hi, src_lo = _halves_at(key, KEY_SIZE, v4)
    dst_hi, dst_lo = _halves_at(key, KEY_SIZE + size, v4)
    _write_one((np.int64(key[0]) << 8) | key[1], src_hi, src_lo, dst_hi, dst_lo, v4,
               np.int64(key[4]), (np.int64(key[5]) << 8) | key[6],
               (np.int64(key[7]) << 8) | key[8], key[3] != 0, block, w, digest, out, 0)


_SCRATCH = threading.local()    # `community_id`'s arrays, one set per thread


def _scratch():
    return np.empty(64, np.uint8), np.empty(80, np.int64), np.empty(20, np.uint8)


def community_ids(src_hi: np.ndarray, src_lo: np.ndarray, dst_hi: np.ndarray,
                  dst_lo: np.ndarray, proto: np.ndarray, sport: np.ndarray,
                  dport: np.ndarray, seed: int = 0,
                  ported: np.ndarray | None = None) -> np.ndarray:
    """The Community IDs of flows given as the flow table's columns (addresses as uint64
    halves, IPv4 mapped into IPv6; ICMP's sport/dport its type and code), as an array of
    ASCII strings (numpy `S30`). `ported`: which flows have ports (or ICMP type and code),
    by default all; the others are named as `community_id` names a flow given none."""
    n = len(src_hi)
    out = np.empty((n, WIDTH), dtype=np.uint8)
    if n:
        if ported is None:
            ported = np.ones(n, dtype=np.bool_)
        else:   # a flow without ports orders its ends as with ports 0
            ported = np.asarray(ported, np.bool_)
            sport, dport = np.where(ported, sport, 0), np.where(ported, dport, 0)
        _write_all(seed, np.asarray(src_hi, np.uint64), np.asarray(src_lo, np.uint64),
                   np.asarray(dst_hi, np.uint64), np.asarray(dst_lo, np.uint64),
                   proto, sport, dport, ported, *_scratch(), out)
    return out.view(f"S{WIDTH}").reshape(n)


def community_id(src: bytes, dst: bytes, proto: int, sport: int | None = None,
                 dport: int | None = None, seed: int = 0) -> str:
    """src/dst: packed addresses (4 or 16 bytes); sport/dport: ports, or ICMP type/code."""
    scratch = getattr(_SCRATCH, "arrays", None)
    if scratch is None:
        scratch = _SCRATCH.arrays = (*_scratch(), np.empty((1, WIDTH), dtype=np.uint8))
    key = KEY.pack(seed, len(src) == 4, sport is not None, proto, sport or 0, dport or 0)
    _write_key(np.frombuffer(key + src + dst, dtype=np.uint8), *scratch)
    return scratch[3].tobytes().decode("ascii")
