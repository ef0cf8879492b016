"""Names that payloads carry: the TLS ClientHello server name, DNS query names, the HTTP
Host header — and whether a name is internal to the private network.

Two halves, as everywhere in the detectors:
- pre-filters over the first payload bytes of every row (payload_kernels: remote_marks,
  name_askers, from the constants here), cheap enough to run on every candidate row;
- per-row parsers (`tls_server_name`, `dns_query_name`, `http_host`), run only for the few
  rows a pre-filter selected. They are pure, bounded by the bytes they are given, and return
  None for anything malformed, truncated or odd: they never raise.

Every name a parser returns is normalised the same way: lowercase ASCII, no trailing dot,
at most 253 characters of labels of 1-63 letters, digits, `-` or `_` — or an IP literal in
its canonical text form. Anything else (binary labels, spaces, non-ASCII) is not a name.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Callable, Iterable

import numpy as np

# --- TLS ----------------------------------------------------------------------------------

TLS_HANDSHAKE, CLIENT_HELLO, SNI_EXTENSION = 0x16, 0x01, 0x0000
SNI_HOST_NAME = 0
TLS_RECORD, HANDSHAKE_HEAD, RANDOM = 5, 4, 32
# record header, handshake header, client version, random, session id length byte
HELLO_MIN = TLS_RECORD + HANDSHAKE_HEAD + 2 + RANDOM + 1 + 2  # 46: + cipher suites length

# --- DNS ----------------------------------------------------------------------------------

DNS_PORT = 53
DNS_HEADER = 12
DNS_MIN = DNS_HEADER + 2 + 1 + 4  # header, a one-letter label and the root, type and class
DNS_TCP_MIN = DNS_HEADER + 1      # over TCP the query may go on in the next segment
QR_OPCODE = 0xF8                  # byte 2: QR bit and the 4-bit opcode; 0 for a QUERY
MAX_LABEL, MAX_NAME = 63, 253

# --- HTTP ---------------------------------------------------------------------------------

HTTP_METHODS = (b"GET", b"POST", b"PUT", b"HEAD", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT")
HTTP_MIN = 16        # "GET / HTTP/1.1\r\n"
HTTP_LIMIT = 4096    # request line and headers looked at

# payload bytes the pre-filters read
HEAD_BYTES = 16

# --- which names are internal -------------------------------------------------------------

# always internal: names that never leave a site (RFC 6762 .local, RFC 6761 localhost and
# invalid, the customary .lan / .internal) and the infrastructure domain .arpa (RFC 3172:
# reverse lookups, home.arpa, resolver.arpa and ipv4only.arpa that hosts ask of their own
# resolver)
SPECIAL_SUFFIXES = frozenset({"local", "lan", "internal", "localhost", "invalid", "arpa"})

_NAME = re.compile(r"(?:[a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}")


def clean_name(text: str) -> str | None:
    """`text` as a normalised host name or IP literal, or None if it is neither."""
    name = text.lower()
    if name.endswith("."):
        name = name[:-1]
    if not name or len(name) > MAX_NAME or not name.isascii():
        return None
    if ":" in name:  # only an IPv6 literal holds a colon
        ip = ip_literal(name)
        return str(ip) if ip is not None else None
    return name if _NAME.fullmatch(name) else None


def ip_literal(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a name spells, if it is an IPv4 dotted quad or an IPv6 literal."""
    if not name or not (name[0].isdigit() or ":" in name):
        return None
    try:
        return ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return None


def under(name: str, suffixes: Iterable[str]) -> bool:
    """Whether `name` is one of `suffixes` or a subdomain of one (one set lookup per label)."""
    if not isinstance(suffixes, (set, frozenset)):
        suffixes = set(suffixes)
    while name:
        if name in suffixes:
            return True
        dot = name.find(".")
        if dot < 0:
            return False
        name = name[dot + 1:]
    return False


def is_internal(name: str, internal_domains: Iterable[str],
                private_ip: Callable[[object], bool] | None = None) -> bool:
    """Whether a (normalised) name stays inside the private network: an IP literal that is
    not public (`private_ip` decides; without it every IP literal is public), a
    single-label name, a special-use name, or a name equal to or under a configured internal
    domain. Every other name names a public internet service."""
    ip = ip_literal(name)
    if ip is not None:
        return bool(private_ip is not None and private_ip(ip))
    if "." not in name:
        return True
    return under(name, SPECIAL_SUFFIXES) or under(name, internal_domains)


def normalise_domains(domains: Iterable[str]) -> frozenset[str]:
    """Configured domains as `under` compares them: lowercase, no leading or trailing dot."""
    out = set()
    for d in domains:
        d = str(d).strip().lower().strip(".")
        if d:
            out.add(d)
    return frozenset(out)


# --- the pre-filters' tables (payload_kernels' compiled pre-filters read them) -----------

# the HTTP methods and a space, as rows of one array (zero-padded), with each token's length
METHOD_TOKENS = np.zeros((len(HTTP_METHODS), HEAD_BYTES), dtype=np.uint8)
METHOD_TOKEN_LEN = np.array([len(m) + 1 for m in HTTP_METHODS], dtype=np.int64)
for _k, _method in enumerate(HTTP_METHODS):
    METHOD_TOKENS[_k, :len(_method) + 1] = np.frombuffer(_method + b" ", dtype=np.uint8)


# --- per-row parsers ----------------------------------------------------------------------


def u16(b: bytes, pos: int) -> int:
    """The big-endian 16-bit number at b[pos]."""
    return (b[pos] << 8) | b[pos + 1]


def tls_server_name(payload: bytes) -> str | None:
    """The host_name of a TLS ClientHello's server_name extension, or None.

    Every length is checked against the end of what encloses it (record, handshake message,
    extensions block, extension, server-name list): a field that runs past its container or
    past the bytes captured gives None, never a name cut short. A ClientHello whose tail is
    in a later segment still gives its name if the extension lies in this one."""
    try:
        b = bytes(payload)
        if len(b) < HELLO_MIN or b[0] != TLS_HANDSHAKE or b[1] != 3 or b[5] != CLIENT_HELLO:
            return None
        record_end = TLS_RECORD + u16(b, 3)
        hello_end = TLS_RECORD + HANDSHAKE_HEAD + int.from_bytes(b[6:9], "big")
        end = min(len(b), record_end, hello_end)
        pos = TLS_RECORD + HANDSHAKE_HEAD + 2 + RANDOM
        sid = b[pos]
        if sid > 32:
            return None
        pos += 1 + sid
        if pos + 2 > end:
            return None
        suites = u16(b, pos)
        if suites < 2 or suites % 2:
            return None
        pos += 2 + suites
        if pos + 1 > end:
            return None
        compressions = b[pos]
        if compressions < 1:
            return None
        pos += 1 + compressions
        if pos + 2 > end:
            return None
        ext_end = min(end, pos + 2 + u16(b, pos))
        pos += 2
        while pos + 4 <= ext_end:
            ext, size = u16(b, pos), u16(b, pos + 2)
            body, pos = pos + 4, pos + 4 + size
            if ext != SNI_EXTENSION:
                continue
            if pos > ext_end or size < 2:
                return None  # the extension is cut off or empty
            list_end = body + 2 + u16(b, body)
            if list_end > pos:
                return None
            item = body + 2
            while item + 3 <= list_end:
                kind, length = b[item], u16(b, item + 1)
                name_end = item + 3 + length
                if name_end > list_end:
                    return None
                if kind == SNI_HOST_NAME:
                    raw = b[item + 3:name_end]
                    if b"\x00" in raw or b":" in raw:
                        return None  # RFC 6066: a DNS host name, no IP literal, no NUL
                    return clean_name(raw.decode("ascii"))
                item = name_end
            return None
    except (IndexError, UnicodeDecodeError, ValueError):
        return None
    return None


def dns_query_name(payload: bytes) -> str | None:
    """The first question's name of a DNS query (QR=0, opcode QUERY, QDCOUNT >= 1), or None.

    Labels are read by their length bytes; a compression pointer (nothing precedes the first
    question to point at, so it can only be a loop or garbage), a reserved label type, a
    label over 63 bytes, a name over 253 characters, a name without its root label, type and
    class, or a label that is not a host-name label all give None."""
    try:
        b = bytes(payload)
        if len(b) < DNS_MIN or (b[2] & QR_OPCODE) or u16(b, 4) == 0:
            return None
        pos, labels, size = DNS_HEADER, [], 0
        while True:
            n = b[pos]
            if n == 0:
                pos += 1
                break
            if n > MAX_LABEL:  # 0xC0 pointer, 0x40/0x80 reserved types, or too long
                return None
            label = b[pos + 1:pos + 1 + n]
            if len(label) < n or b"." in label:
                return None
            size += n + 1
            if size > MAX_NAME + 1:
                return None
            labels.append(label)
            pos += 1 + n
        if not labels or pos + 4 > len(b):
            return None
        return clean_name(b".".join(labels).decode("ascii"))
    except (IndexError, UnicodeDecodeError, ValueError):
        return None


def _authority_host(authority: str) -> str | None:
    """The host of `[userinfo@]host[:port]`."""
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        close = host.find("]")
        if close < 0:
            return None
        rest = host[close + 1:]
        if rest and not (rest[0] == ":" and rest[1:].isdigit()):
            return None
        ip = ip_literal(host[1:close])
        return str(ip) if ip is not None and ip.version == 6 else None
    host, colon, port = host.partition(":")
    if colon and port and not port.isdigit():
        return None
    return clean_name(host) if ":" not in host else None


def http_host(payload: bytes) -> str | None:
    """The host an HTTP/1.x request names, or None: for CONNECT the authority it asks for;
    for a proxy's absolute-form target (`GET http://host/ ...`) that URL's host; otherwise
    the Host header (its name case-insensitive). The port and any userinfo are dropped.
    Only whole lines count: a header cut off by the end of the segment names nothing."""
    try:
        b = bytes(payload[:HTTP_LIMIT])
        eol = b.find(b"\n")
        if eol < 0:
            return None
        parts = b[:eol].rstrip(b"\r").split(b" ")
        if len(parts) != 3:
            return None
        method, target, version = parts
        if method not in HTTP_METHODS or not version.startswith(b"HTTP/1."):
            return None
        target_text = target.decode("ascii")
        if method == b"CONNECT":
            return _authority_host(target_text)
        scheme, sep, rest = target_text.partition("://")
        if sep and scheme.lower() in ("http", "https", "ws", "wss", "ftp"):
            return _authority_host(re.split(r"[/?#]", rest, maxsplit=1)[0])
        pos = eol + 1
        while True:
            eol = b.find(b"\n", pos)
            if eol < 0:
                return None
            line = b[pos:eol].rstrip(b"\r")
            if not line:
                return None  # end of the headers, and no Host
            key, colon, value = line.partition(b":")
            if colon and key.strip().lower() == b"host":
                return _authority_host(value.strip().decode("ascii"))
            pos = eol + 1
    except (IndexError, UnicodeDecodeError, ValueError):
        return None
