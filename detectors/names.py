"""Names that payloads carry: the TLS ClientHello server name, DNS query names, the HTTP
Host header. Parsed per row, only for rows a vectorized pre-filter picked."""
from __future__ import annotations

import numpy as np

TLS_HANDSHAKE, CLIENT_HELLO, SNI_EXTENSION = 0x16, 0x01, 0x0000


def looks_like_client_hello(first: np.ndarray, plen: np.ndarray) -> np.ndarray:
    """Mask over rows whose first payload bytes (at least 6 gathered) open a TLS
    handshake record holding a ClientHello."""
    return (plen >= 43) & (first[:, 0] == TLS_HANDSHAKE) & (first[:, 1] == 3) & \
        (first[:, 2] <= 4) & (first[:, 5] == CLIENT_HELLO)


def tls_server_name(payload: bytes) -> str | None:
    """The server_name of a TLS ClientHello, or None; never raises on short or odd input."""
    try:
        if len(payload) < 43 or payload[0] != TLS_HANDSHAKE or payload[5] != CLIENT_HELLO:
            return None
        pos = 5 + 4 + 2 + 32  # record header, handshake header, version, random
        pos += 1 + payload[pos]                                   # session id
        pos += 2 + int.from_bytes(payload[pos:pos + 2], "big")    # cipher suites
        pos += 1 + payload[pos]                                   # compression methods
        end = min(len(payload), pos + 2 + int.from_bytes(payload[pos:pos + 2], "big"))
        pos += 2
        while pos + 4 <= end:
            ext = int.from_bytes(payload[pos:pos + 2], "big")
            size = int.from_bytes(payload[pos + 2:pos + 4], "big")
            if ext == SNI_EXTENSION and size >= 5:
                name_len = int.from_bytes(payload[pos + 7:pos + 9], "big")
                name = payload[pos + 9: pos + 9 + name_len]
                return name.decode("ascii", "replace").lower().rstrip(".") or None
            pos += 4 + size
    except IndexError:
        return None
    return None


def under(name: str, suffixes) -> bool:
    """Whether `name` is one of `suffixes` or a subdomain of one."""
    return any(name == s or name.endswith("." + s) for s in suffixes)
