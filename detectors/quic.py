"""The TLS ClientHello inside a QUIC client's Initial packets (RFC 9000, RFC 9001 section 5;
QUIC version 2, RFC 9369), so that the server name is read as it is from TLS over TCP.

Initial packets are protected with keys that anyone can derive from the connection ID the
client chose (the packet's Destination Connection ID): the protection is against
tampering, not against reading, and Zeek, Suricata and nDPI read the name the same way.
The steps, for each Initial packet of the client's first datagrams: derive the client's
key, IV and header-protection key from the DCID (HKDF with the version's salt); remove
header protection (AES-ECB of a 16-byte sample) to learn the packet number; open the
payload (AES-128-GCM); walk its frames (PADDING, PING, ACK, CRYPTO, CONNECTION_CLOSE: the
only frames an Initial may carry) and place each CRYPTO frame's bytes at its offset. Browsers
split the ClientHello into many CRYPTO frames out of order and across datagrams (a
post-quantum key share makes it larger than one datagram); the hello is the bytes from
offset 0 on, as far as they run without a gap.

A message here is the datagrams of one client stream, each as a 2-byte length and its bytes
(`frame`), so that later datagrams can be appended to the earlier ones
(first_messages). The cryptography package does the AES and HKDF work; packets that do not
open with the client's keys (a server's Initial, a corrupted or forged packet) give
nothing. Bounded by the bytes given: no state, and a malformed packet never raises.
"""
from __future__ import annotations

import functools
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hmac import HMAC

from .names import CLIENT_HELLO, HANDSHAKE_HEAD, TLS_HANDSHAKE, tls_server_name

V1, V2 = 0x00000001, 0x6B3343CF
# version: (initial salt, the Initial packet's type bits, the labels' prefix)
VERSIONS = {
    V1: (bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"), 0, b"quic "),
    V2: (bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"), 1, b"quicv2 "),
}
MIN_DATAGRAM = 1200          # a client's datagram with an Initial is padded to this (RFC 9000 14.1)
MAX_CID = 20
SAMPLE = 16                  # bytes of the protected payload header protection is drawn from
PADDING, PING, ACK, ACK_ECN, CRYPTO = 0x00, 0x01, 0x02, 0x03, 0x06


def frame(datagram: bytes) -> bytes:
    """One datagram as a message's part: its length, then its bytes."""
    return struct.pack("!H", min(len(datagram), 0xFFFF)) + bytes(datagram[:0xFFFF])


def is_client_initial(head: bytes) -> bool:
    """Whether a datagram's first bytes open a long-header Initial packet of a known version
    (the pre-filters test the same bytes in payload_kernels)."""
    if len(head) < 5 or head[0] & 0xC0 != 0xC0:
        return False
    version = int.from_bytes(head[1:5], "big")
    return version in VERSIONS and (head[0] >> 4) & 0x03 == VERSIONS[version][1]


def server_name(message: bytes) -> str | None:
    """The server name of the ClientHello that a client stream's datagrams carry, or None."""
    hello = client_hello(message)[0]
    return tls_server_name(hello) if hello else None


def whole(message: bytes) -> bool:
    """Nothing more to wait for: the ClientHello is all here, or the first datagram is not a
    client's Initial that opens."""
    _, complete, opened = client_hello(message)
    return complete or not opened


def hello_whole(message: bytes) -> bool:
    """Whether a client stream's datagrams hold a whole ClientHello (with a name or not)."""
    record, complete, _ = client_hello(message)
    return bool(record) and complete


@functools.lru_cache(maxsize=256)
def client_hello(message: bytes) -> tuple[bytes, bool, bool]:
    """(the ClientHello so far as a TLS handshake record, b"" while its start is missing;
    whether it is complete; whether the first datagram holds an Initial packet that opens
    with the client's keys)."""
    crypto: dict[int, bytes] = {}
    origin: list[bytes] = []        # the DCID of the first Initial that opened
    for k, datagram in enumerate(_datagrams(message)):
        for payload in _initial_payloads(datagram, origin):
            if not _crypto_frames(payload, crypto):
                break
        if not origin:
            return b"", False, False
        if k == 0 and not crypto:     # an acknowledgement, a probe: no hello to wait for
            return b"", True, True
    stream = _contiguous(crypto)
    if len(stream) < HANDSHAKE_HEAD:
        return b"", False, True
    if stream[0] != CLIENT_HELLO:
        return b"", True, True        # another message first: no ClientHello to wait for
    size = HANDSHAKE_HEAD + int.from_bytes(stream[1:4], "big")
    hello = stream[:size]
    record = bytes((TLS_HANDSHAKE, 3, 1)) + struct.pack("!H", min(size, 0xFFFF)) + hello
    return record, len(hello) == size, True


def _datagrams(message: bytes):
    pos = 0
    while pos + 2 <= len(message):
        size = int.from_bytes(message[pos:pos + 2], "big")
        yield message[pos + 2: pos + 2 + size]
        pos += 2 + size


def _varint(b: bytes, pos: int) -> tuple[int, int]:
    """A QUIC variable-length integer at b[pos] (RFC 9000 16): (value, position after)."""
    size = 1 << (b[pos] >> 6)
    if pos + size > len(b):
        raise IndexError("varint past the end")
    value = b[pos] & 0x3F
    for k in range(1, size):
        value = (value << 8) | b[pos + k]
    return value, pos + size


def _initial_payloads(datagram: bytes, origin: list[bytes]):
    """The opened payload of each client Initial packet at the start of a datagram (packets
    coalesced after it of other types end the walk). The keys are those of `origin`, the
    DCID of the client's first Initial (RFC 9001 5.2: they stay when the client takes up
    the server's connection ID), else of the packet's own DCID (the first packet, or one
    after a Retry), which then becomes `origin`."""
    pos = 0
    try:
        while pos < len(datagram) and is_client_initial(datagram[pos:pos + 5]):
            version = int.from_bytes(datagram[pos + 1:pos + 5], "big")
            at = pos + 5
            dcid_len = datagram[at]
            if dcid_len > MAX_CID:
                return
            dcid = datagram[at + 1: at + 1 + dcid_len]
            at += 1 + dcid_len
            scid_len = datagram[at]
            if scid_len > MAX_CID:
                return
            at += 1 + scid_len
            token_len, at = _varint(datagram, at)
            at += token_len
            length, at = _varint(datagram, at)
            end = at + length
            if end > len(datagram) or length < 4 + SAMPLE:
                return
            payload = None
            for cid in dict.fromkeys([*origin, bytes(dcid)]):
                payload = _open(datagram[pos:end], at - pos, cid, version)
                if payload is not None:
                    origin[:] = [cid]
                    break
            if payload is None:
                return
            yield payload
            pos = end
    except IndexError:
        return


@functools.lru_cache(maxsize=64)
def _keys(dcid: bytes, version: int) -> tuple[AESGCM, Cipher, bytes]:
    salt, _, prefix = VERSIONS[version]
    initial = _hmac(salt, dcid)                                   # HKDF-Extract
    secret = _expand(initial, b"client in", 32)
    key, iv = _expand(secret, prefix + b"key", 16), _expand(secret, prefix + b"iv", 12)
    hp = Cipher(algorithms.AES(_expand(secret, prefix + b"hp", 16)), modes.ECB())
    return AESGCM(key), hp, iv


def _hmac(key: bytes, data: bytes) -> bytes:
    h = HMAC(key, hashes.SHA256())
    h.update(data)
    return h.finalize()


def _expand(secret: bytes, label: bytes, length: int) -> bytes:
    """HKDF-Expand-Label (RFC 8446 7.1) with an empty context; one block is enough here."""
    full = b"tls13 " + label
    info = struct.pack("!HB", length, len(full)) + full + b"\x00"
    return _hmac(secret, info + b"\x01")[:length]


def _open(packet: bytes, pn_at: int, dcid: bytes, version: int) -> bytes | None:
    """The payload of one Initial packet (its header ends with the packet number at
    `pn_at`), opened with the client's keys; None if it does not open."""
    aead, hp, iv = _keys(bytes(dcid), version)
    sample = packet[pn_at + 4: pn_at + 4 + SAMPLE]
    enc = hp.encryptor()
    mask = enc.update(sample) + enc.finalize()
    first = packet[0] ^ (mask[0] & 0x0F)
    pn_len = (first & 0x03) + 1
    pn = bytes(b ^ m for b, m in zip(packet[pn_at: pn_at + pn_len], mask[1:1 + pn_len]))
    header = bytes((first,)) + packet[1:pn_at] + pn
    nonce = (int.from_bytes(iv, "big") ^ int.from_bytes(pn, "big")).to_bytes(12, "big")
    try:
        return aead.decrypt(nonce, packet[pn_at + pn_len:], header)
    except (InvalidTag, ValueError):
        return None


def _crypto_frames(payload: bytes, crypto: dict[int, bytes]) -> bool:
    """Each CRYPTO frame's bytes into `crypto` by offset; False at a frame an Initial may
    not carry (the rest of the packet is not read)."""
    pos, n = 0, len(payload)
    try:
        while pos < n:
            kind = payload[pos]
            pos += 1
            if kind == PADDING or kind == PING:
                continue
            if kind in (ACK, ACK_ECN):
                _, pos = _varint(payload, pos)              # largest acknowledged
                _, pos = _varint(payload, pos)              # delay
                count, pos = _varint(payload, pos)
                _, pos = _varint(payload, pos)              # first range
                for _ in range(2 * count + (3 if kind == ACK_ECN else 0)):
                    _, pos = _varint(payload, pos)
            elif kind == CRYPTO:
                offset, pos = _varint(payload, pos)
                size, pos = _varint(payload, pos)
                if pos + size > n:
                    return False
                if offset not in crypto or len(crypto[offset]) < size:
                    crypto[offset] = payload[pos:pos + size]
                pos += size
            else:             # CONNECTION_CLOSE, or a frame an Initial may not carry
                return False
    except IndexError:
        return False
    return True


def _contiguous(crypto: dict[int, bytes]) -> bytes:
    """The CRYPTO stream from offset 0 as far as it runs without a gap."""
    out = bytearray()
    for offset in sorted(crypto):
        if offset > len(out):
            break
        out += crypto[offset][len(out) - offset:]
    return bytes(out)
