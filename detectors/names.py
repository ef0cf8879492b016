"""Names that payloads carry: the TLS ClientHello server name, DNS query names, the HTTP
Host header — and whether a name is internal to the private network; and what else the
event logs read from the same first messages (a ClientHello's version and JA4, an HTTP
request's line and headers, a response's status).

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

import hashlib
import ipaddress
import re
from typing import Callable, Iterable

import numpy as np

# --- TLS ----------------------------------------------------------------------------------

TLS_HANDSHAKE, CLIENT_HELLO, SNI_EXTENSION, SUPPORTED_VERSIONS = 0x16, 0x01, 0x0000, 0x002B
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
MAX_PIPELINED = 16   # requests read after the first in one message

# --- SOCKS ---------------------------------------------------------------------------------

SOCKS5, SOCKS4, SOCKS_CONNECT = 5, 4, 1
SOCKS5_ADDRESS = {1: 4, 4: 16}      # address type -> address bytes (3: a name, its length first)
SOCKS4_MAX = 512                    # a SOCKS4 request's most bytes (user id and name)

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


def _hello_layout(b: bytes) -> tuple[int, int, int, int] | None:
    """Where a TLS (or TLCP) ClientHello's parts lie in `b`: (cipher suites start, their
    end, extensions start, end of the extensions block), or None for what is not a
    ClientHello. Every length is checked against the end of what encloses it (record,
    handshake message); IndexError on bytes cut short is the caller's to catch."""
    if len(b) < HELLO_MIN or b[0] != TLS_HANDSHAKE or b[1] not in (1, 3) \
            or b[5] != CLIENT_HELLO:
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
    suites_at = pos + 2
    pos += 2 + suites
    if pos + 1 > end:
        return None
    compressions = b[pos]
    if compressions < 1:
        return None
    pos += 1 + compressions
    if pos + 2 > end:
        return suites_at, min(suites_at + suites, end), pos, pos   # no extensions
    return suites_at, suites_at + suites, pos + 2, min(end, pos + 2 + u16(b, pos))


def _hello_extensions(b: bytes):
    """Each extension of a TLS (or TLCP) ClientHello in `b`: (type, body start, body end,
    end of the extensions block); nothing for what is not a ClientHello. An extension
    whose body runs past the block is yielded as it is (the caller checks `body end <=
    block end`), and the walk ends there."""
    layout = _hello_layout(b)
    if layout is None:
        return
    _, _, pos, ext_end = layout
    while pos + 4 <= ext_end:
        ext, size = u16(b, pos), u16(b, pos + 2)
        body, pos = pos + 4, pos + 4 + size
        yield ext, body, pos, ext_end
        if pos > ext_end:
            return


def tls_server_name(payload: bytes) -> str | None:
    """The host_name of a TLS (or TLCP) ClientHello's server_name extension, or None.

    Every length is checked against the end of what encloses it (record, handshake message,
    extensions block, extension, server-name list): a field that runs past its container or
    past the bytes captured gives None, never a name cut short. A ClientHello whose tail is
    in a later segment still gives its name if the extension lies in this one."""
    try:
        b = bytes(payload)
        for ext, body, body_end, ext_end in _hello_extensions(b):
            if ext != SNI_EXTENSION:
                continue
            if body_end > ext_end or body_end - body < 2:
                return None  # the extension is cut off or empty
            list_end = body + 2 + u16(b, body)
            if list_end > body_end:
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


def tls_offered_version(payload: bytes) -> int | None:
    """The highest protocol version a TLS (or TLCP) ClientHello offers: the largest in its
    supported_versions extension (RFC 8446 4.2.1; GREASE values 0x?A?A left out), else its
    client_version; None for what is not a ClientHello."""
    try:
        b = bytes(payload)
        if len(b) < HELLO_MIN or b[0] != TLS_HANDSHAKE or b[1] not in (1, 3) \
                or b[5] != CLIENT_HELLO:
            return None
        for ext, body, body_end, ext_end in _hello_extensions(b):
            if ext != SUPPORTED_VERSIONS or body_end > ext_end or body_end - body < 3:
                continue
            listed = range(body + 1, min(body + 1 + b[body], body_end) - 1, 2)
            versions = [v for v in (u16(b, at) for at in listed) if v & 0x0F0F != 0x0A0A]
            if versions:
                return max(versions)
        return u16(b, TLS_RECORD + HANDSHAKE_HEAD)
    except (IndexError, ValueError):
        return None


# JA4's two characters for a version (FoxIO's JA4 specification, BSD-licensed)
JA4_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3",
                0x0002: "s2", 0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3"}
ALPN, SIGNATURE_ALGORITHMS = 0x0010, 0x000D


def _grease(v: int) -> bool:
    return v & 0x0F0F == 0x0A0A and v >> 8 == v & 0xFF


def _ja4_hash(text: str) -> str:
    """JA4's hash of a part: the first 12 hex digits of its SHA-256; zeros for nothing."""
    return hashlib.sha256(text.encode()).hexdigest()[:12] if text else "0" * 12


def tls_ja4(payload: bytes, transport: str = "t") -> str | None:
    """The JA4 fingerprint of a ClientHello over TCP (`transport` "t"; "q" for one a QUIC
    Initial carried) (FoxIO's JA4: protocol, highest
    version offered, SNI or not, counts of cipher suites and extensions, the first ALPN
    value's first and last characters; the sorted suites hashed; the sorted extensions but
    SNI and ALPN, then the signature algorithms in order, hashed; GREASE left out), or None
    for what is not a whole-enough ClientHello."""
    try:
        b = bytes(payload)
        layout = _hello_layout(b)
        if layout is None:
            return None
        suites_at, suites_end, _, _ = layout
        suites = [f"{v:04x}" for v in (u16(b, at) for at in range(suites_at, suites_end - 1, 2))
                  if not _grease(v)]
        extensions, sigalgs, alpn, sni = [], [], "00", "i"
        for ext, body, body_end, ext_end in _hello_extensions(b):
            if body_end > ext_end:
                return None              # cut off: the fingerprint would be another's
            if _grease(ext):
                continue
            extensions.append(ext)
            if ext == SNI_EXTENSION:
                sni = "d"
            elif ext == ALPN and body_end - body >= 4 and b[body + 2]:
                first = b[body + 3: min(body + 3 + b[body + 2], body_end)]
                a, z = chr(first[0]), chr(first[-1])
                alpn = a + z if (a + z).isascii() and (a + z).isalnum() else \
                    first[:1].hex()[0] + first[-1:].hex()[-1]
            elif ext == SIGNATURE_ALGORITHMS and body_end - body >= 2:
                listed = range(body + 2, min(body + 2 + u16(b, body), body_end) - 1, 2)
                sigalgs = [f"{u16(b, at):04x}" for at in listed]
        version = JA4_VERSIONS.get(tls_offered_version(b), "00")
        head = f"{transport}{version}{sni}{min(len(suites), 99):02d}{min(len(extensions), 99):02d}{alpn}"
        rest = sorted(f"{e:04x}" for e in extensions if e not in (SNI_EXTENSION, ALPN))
        tail = ",".join(rest) + ("_" + ",".join(sigalgs) if sigalgs else "")
        return f"{head}_{_ja4_hash(','.join(sorted(suites)))}_{_ja4_hash(tail)}"
    except (IndexError, ValueError):
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


DNS_ANSWERS_READ = 64     # answer records read of one response
DNS_POINTERS = 16         # compression pointers followed in one name (a loop ends there)
DNS_NAMED = {2, 5, 12}    # NS, CNAME, PTR: the record's data is a name


def dns_skip_name(b: bytes, pos: int) -> int:
    """Where the DNS name at pos ends (labels, then a root byte or a pointer)."""
    while True:
        n = b[pos]
        if n == 0:
            return pos + 1
        if n & 0xC0 == 0xC0:
            return pos + 2
        if n > MAX_LABEL:
            raise ValueError("reserved label type")
        pos += 1 + n


def dns_name_at(b: bytes, pos: int) -> str:
    """The DNS name at pos, compression pointers followed (at most DNS_POINTERS); raises
    ValueError or IndexError for a name that is not one."""
    labels, size = [], 0
    for _ in range(DNS_POINTERS + 1):
        while True:
            n = b[pos]
            if n == 0:
                return ".".join(labels)
            if n & 0xC0 == 0xC0:
                pos = ((n & 0x3F) << 8) | b[pos + 1]
                break
            if n > MAX_LABEL:
                raise ValueError("reserved label type")
            label = b[pos + 1:pos + 1 + n]
            size += n + 1
            if len(label) < n or size > MAX_NAME + 1:
                raise ValueError("cut or too long")
            labels.append(label.decode("ascii", "replace"))
            pos += 1 + n
    raise ValueError("pointer loop")


def dns_response(payload: bytes) -> tuple[int, int, list[tuple[int, int, str | None]]] | None:
    """A DNS response's (transaction id, rcode, answers), each answer (type, TTL, data):
    data is the address of an A or AAAA record, the name of an NS, CNAME or PTR one, None
    for other types. At most DNS_ANSWERS_READ records are read; a record cut short ends
    the list; None for a message that is no response or is cut before its answers."""
    b = bytes(payload)
    if len(b) < DNS_HEADER or not b[2] & 0x80:
        return None
    try:
        pos = DNS_HEADER
        for _ in range(u16(b, 4)):        # the questions
            pos = dns_skip_name(b, pos) + 4
    except (IndexError, ValueError):
        return None
    answers: list[tuple[int, int, str | None]] = []
    try:
        for _ in range(min(u16(b, 6), DNS_ANSWERS_READ)):
            pos = dns_skip_name(b, pos)
            kind, ttl, size = u16(b, pos), int.from_bytes(b[pos + 4:pos + 8], "big"), \
                u16(b, pos + 8)
            at, pos = pos + 10, pos + 10 + size
            if pos > len(b):
                break
            if (kind, size) in ((1, 4), (28, 16)):
                data = str(ipaddress.ip_address(b[at:pos]))
            elif kind in DNS_NAMED:
                data = dns_name_at(b, at)
            else:
                data = None
            answers.append((kind, ttl, data))
    except (IndexError, ValueError):
        pass
    return u16(b, 0), b[3] & 0x0F, answers


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


def http_request_head(payload: bytes, fields: tuple[bytes, ...] = (b"host",)
                      ) -> tuple[bytes, str, dict[bytes, str]] | None:
    """An HTTP/1.x request's method, target and the first value of each header named in
    `fields` (lowercase names; values stripped), or None if the request line is not one.
    Only whole lines count: a header cut off by the end of the segment is not there."""
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
        found: dict[bytes, str] = {}
        pos = eol + 1
        while len(found) < len(fields):
            eol = b.find(b"\n", pos)
            line = b[pos:eol].rstrip(b"\r")
            if eol < 0 or not line:
                break  # cut off, or the end of the headers
            key, colon, value = line.partition(b":")
            key = key.strip().lower()
            if colon and key in fields and key not in found:
                found[key] = value.strip().decode("latin-1")
            pos = eol + 1
        return method, target.decode("ascii"), found
    except (IndexError, UnicodeDecodeError, ValueError):
        return None


def h2_request_head(block: bytes) -> bytes | None:
    """The HTTP/1.1 request head an HTTP/2 request's header block means (RFC 9113 8.3.1:
    `:method` and `:path` the request line, `:authority` the Host; CONNECT's target its
    `:authority`), from the block as normalise.Http2 writes it decoded (`name: value`
    lines): the readers of HTTP/1 requests read HTTP/2 ones through it. None for a block
    that is no request (a response's, trailers)."""
    pseudo: dict[bytes, bytes] = {}
    fields = []
    for line in block.split(b"\r\n"):
        name, sep, value = line.partition(b": ")
        if sep and name.startswith(b":"):
            pseudo.setdefault(name, value)
        elif sep:
            fields.append((name, line))
    method, authority = pseudo.get(b":method"), pseudo.get(b":authority")
    target = authority if method == b"CONNECT" else pseudo.get(b":path")
    if not method or not target:
        return None
    if authority is not None:       # it stands for Host (a Host field may only repeat it)
        fields = [(b"host", b"host: " + authority)] + [f for f in fields if f[0] != b"host"]
    return b"\r\n".join([method + b" " + target + b" HTTP/1.1"] + [line for _, line in fields]) \
        + b"\r\n\r\n"


def http_host(payload: bytes) -> str | None:
    """The host an HTTP/1.x request names, or None: for CONNECT the authority it asks for;
    for a proxy's absolute-form target (`GET http://host/ ...`) that URL's host; otherwise
    the Host header (its name case-insensitive). The port and any userinfo are dropped.
    Only whole lines count: a header cut off by the end of the segment names nothing."""
    head = http_request_head(payload)
    if head is None:
        return None
    method, target, found = head
    try:
        if method == b"CONNECT":
            return _authority_host(target)
        scheme, sep, rest = target.partition("://")
        if sep and scheme.lower() in ("http", "https", "ws", "wss", "ftp"):
            return _authority_host(re.split(r"[/?#]", rest, maxsplit=1)[0])
        host = found.get(b"host")
        if host is None or not host.isascii():
            return None
        return _authority_host(host)
    except (IndexError, UnicodeDecodeError, ValueError):
        return None


_HEAD_END = re.compile(rb"\r?\n\r?\n")
_CONTENT_LENGTH = re.compile(rb"(?im)^content-length[ \t]*:[ \t]*([0-9]{1,12})[ \t]*\r?$")
_CHUNKED = re.compile(rb"(?im)^transfer-encoding[ \t]*:[^\r\n]*chunked")


def pipelined_requests(payload: bytes) -> list[bytes]:
    """The requests that follow the first in `payload`, each its head (request line and
    header fields, up to the blank line): a client that sends several without waiting for
    the answers (pipelining, RFC 9112 9.3.2), or a proxy's connection carrying them one
    after another. Each begins where the one before ends: after its blank line and the body
    its Content-Length announces. A chunked body (its end is the normaliser's to find),
    bytes that open no request, or a head the payload cuts off end the walk; at most
    MAX_PIPELINED are read."""
    def body(head: bytes) -> int | None:
        if _CHUNKED.search(head):
            return None
        length = _CONTENT_LENGTH.search(head)
        return int(length.group(1)) if length else 0
    return _heads(bytes(payload), lambda head: http_request_head(head) is not None, body)[1:]


def pipelined_statuses(payload: bytes, methods: list[bytes]) -> list[int]:
    """The status of each response `payload` holds, one after another, as a server answers
    pipelined requests; `methods`: those of the requests the final (not 1xx) responses
    answer, in order, as far as known. A response to HEAD, a 1xx, 204 or 304 has no body
    (RFC 9112 6.3); another's is its Content-Length; a chunked or close-delimited body ends
    the walk after its response, as `pipelined_requests` ends it. A first response whose
    head the payload cuts off has its status line's status."""
    statuses: list[int] = []

    def is_response(head: bytes) -> bool:
        status = http_status(head)
        if status is not None:
            statuses.append(status)
        return status is not None

    def body(head: bytes) -> int | None:
        status = statuses[-1]
        final = sum(1 for s in statuses if s >= 200)
        if status < 200 or status in (204, 304) or \
                (final <= len(methods) and methods[final - 1] == b"HEAD"):
            return 0
        length = _CONTENT_LENGTH.search(head)
        return None if _CHUNKED.search(head) or not length else int(length.group(1))
    b = bytes(payload)
    _heads(b, is_response, body)
    first = http_status(b) if not statuses else None
    return statuses if first is None else [first]     # a head that goes on in the next segment


def _heads(b: bytes, opens: Callable[[bytes], bool], body: Callable[[bytes], int | None]
           ) -> list[bytes]:
    """The heads of the HTTP/1 messages `b` holds one after another (`opens(head)`: the head
    is one of them; `body(head)`: the length of its body, None where it cannot be known from
    its head), less the empty lines a sender may put between them (RFC 9112 2.2); at most
    MAX_PIPELINED + 1."""
    out: list[bytes] = []
    pos = 0
    while len(out) <= MAX_PIPELINED:
        end = _HEAD_END.search(b, pos, pos + HTTP_LIMIT)
        if end is None:
            break
        head = b[pos:end.end()]
        if not opens(head):
            break
        out.append(head)
        size = body(head)
        if size is None:
            break
        pos = end.end() + size
        while b.startswith(b"\r\n", pos) or b.startswith(b"\n", pos):
            pos += 1 if b[pos] == 10 else 2
        if pos >= len(b):
            break
    return out


def socks_target(payload: bytes) -> str | None:
    """The host a client asks a SOCKS proxy to connect to, or None: a SOCKS5 CONNECT request
    (RFC 1928: version 5, command 1, a reserved 0, then an IPv4 address, a name after its
    length byte or an IPv6 address, then the port) or a SOCKS4 one (version 4, command 1,
    the port, an IPv4 address, a user id ending in NUL; SOCKS4a: the address 0.0.0.x, x not
    0, and the name after the user id, ending in NUL). Only a whole request: its bytes are
    exactly what its fields say."""
    b = bytes(payload[:SOCKS4_MAX])
    try:
        if len(b) >= 10 and b[:3] == bytes((SOCKS5, SOCKS_CONNECT, 0)):
            kind, size = b[3], SOCKS5_ADDRESS.get(b[3], b[4])
            if kind == 3 and size and len(b) == 7 + size:
                return clean_name(b[5:5 + size].decode("ascii"))
            if kind in SOCKS5_ADDRESS and len(b) == 6 + size:
                return str(ipaddress.ip_address(b[4:4 + size]))
            return None
        if len(b) >= 9 and b[:2] == bytes((SOCKS4, SOCKS_CONNECT)):
            user_end = b.find(b"\0", 8)
            if b[4:7] == b"\0\0\0" and b[7]:                 # SOCKS4a: the name follows
                name_end = b.find(b"\0", user_end + 1) if user_end > 0 else -1
                if name_end != len(b) - 1:
                    return None
                return clean_name(b[user_end + 1:name_end].decode("ascii"))
            return str(ipaddress.ip_address(b[4:8])) if user_end == len(b) - 1 else None
    except (UnicodeDecodeError, ValueError):
        return None
    return None


def http_status(payload: bytes) -> int | None:
    """The status code of an HTTP/1.x response's status line, or None."""
    b = bytes(payload[:12])
    if b[:7] != b"HTTP/1." or not b[9:12].isdigit():
        return None
    return int(b[9:12])


def h2_status(block: bytes) -> int | None:
    """The `:status` of an HTTP/2 response's header block, decoded as normalise.Http2 writes
    it (`name: value` lines; pseudo-fields come first, RFC 9113 8.3), or None."""
    for line in block.split(b"\r\n"):
        if not line.startswith(b":"):
            return None
        name, _, value = line.partition(b": ")
        if name == b":status":
            return int(value) if len(value) == 3 and value.isdigit() else None
    return None
