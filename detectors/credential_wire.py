"""Where binary and RESP protocols carry a user and a password: the layouts, read once here
for both the detector (`cleartext_credentials`: who logged in, whether a password was sent)
and the masking of outputs (`pii_mask.mask_credentials`: which bytes to blank).

Each reader takes the bytes of one client message (from its first byte) and returns
`Login(user, secret)`: the user name as sent (or None), and the span (start, end) of the
secret in those bytes (end may pass the end of a truncated message: the caller clips), or
None where the message carries none. Malformed or truncated headers give None — a failed
parse is no finding.

- LDAP (RFC 4511): LDAPMessage SEQUENCE { messageID INTEGER, BindRequest [APPLICATION 0]
  { version INTEGER, name OCTET STRING, authentication CHOICE { simple [0] OCTET STRING,
  sasl [3] ... } } }. Simple authentication with an empty password is an anonymous or
  unauthenticated bind: no secret.
- SNMPv1/v2c (RFC 1157, 1901): Message SEQUENCE { version INTEGER 0 or 1, community OCTET
  STRING, PDU [0..8] }; the community is the secret.
- SQL Server TDS Login7 ([MS-TDS] 2.2.6.4): packet type 0x10; after the 36-byte fixed part,
  (offset, length in UTF-16 characters) pairs of the host name, the user name, the password
  (each byte nibble-swapped and XORed with 0xA5: obfuscated, not encrypted), ...
- PostgreSQL (protocol 3): the startup message (length, 196608, then `key\\0value\\0` pairs:
  `user`), and the PasswordMessage `p` (int32 length, the password, NUL).
- MySQL: a packet is a 3-byte little-endian length and a sequence number; the client's
  HandshakeResponse41 carries the user, the auth response and the auth plugin's name; the
  server's AuthSwitchRequest (0xFE, plugin name, data) asks the client to answer again.
- Redis (RESP): `*N\\r\\n` then N bulk strings `$len\\r\\nbytes\\r\\n`: `AUTH [user] password`,
  `HELLO protover AUTH user password ...`; or the same words inline on one line.
- SOCKS5 (RFC 1928, 1929): the client's greeting (version 5, the number of methods, the
  methods); where the server picks username/password (method 2), the client's request:
  version 1, ULEN, the user, PLEN, the password.
"""
from __future__ import annotations

from typing import NamedTuple


class Login(NamedTuple):
    user: bytes | None
    secret: tuple[int, int] | None


def ber(data: bytes, i: int) -> tuple[int, int, int] | None:
    """The BER element at data[i]: (tag, start of its value, end of its value); None where
    the header is incomplete or its length form is not one a protocol here uses."""
    n = len(data)
    if i + 2 > n:
        return None
    tag, ln = data[i], data[i + 1]
    i += 2
    if ln & 0x80:
        k = ln & 0x7F
        if not 1 <= k <= 4 or i + k > n:
            return None
        ln = int.from_bytes(data[i:i + k], "big")
        i += k
    return tag, i, i + ln


def ldap_binds(data: bytes, limit: int | None = None) -> list[Login]:
    """The simple binds of the LDAP messages that follow one another from data[0] (those
    that start before `limit`)."""
    out, i = [], 0
    limit = len(data) if limit is None else limit
    while i < limit and data[i] == 0x30:
        msg = ber(data, i)
        if msg is None:
            break
        _, body, end = msg
        mid = ber(data, body)
        if mid is None or mid[0] != 0x02:
            break
        op = ber(data, mid[2])
        if op is not None and op[0] == 0x60:               # BindRequest
            version = ber(data, op[1])
            name = ber(data, version[2]) if version and version[0] == 0x02 else None
            auth = ber(data, name[2]) if name and name[0] == 0x04 else None
            if auth is not None and auth[0] == 0x80 and auth[2] > auth[1]:
                out.append(Login(data[name[1]:name[2]] or None, (auth[1], auth[2])))
        i = end
    return out


SNMP_RESPONSE = 0xA2


def snmp_community(data: bytes) -> tuple[int, tuple[int, int], int] | None:
    """(version, span of the community, PDU tag) of an SNMPv1 / v2c message, or None."""
    msg = ber(data, 0)
    if msg is None or msg[0] != 0x30:
        return None
    version = ber(data, msg[1])
    if version is None or version[0] != 0x02 or version[2] - version[1] != 1 \
            or version[2] > len(data) or data[version[1]] not in (0, 1):
        return None
    community = ber(data, version[2])
    if community is None or community[0] != 0x04 or community[2] > len(data):
        return None
    pdu = data[community[2]:community[2] + 1]
    if not pdu or not 0xA0 <= pdu[0] <= 0xA8:
        return None
    return data[version[1]], (community[1], community[2]), pdu[0]


TDS_LOGIN7, TDS_FIXED = 0x10, 94          # packet type; the Login7 fixed part's length


def tds_login7(data: bytes) -> Login | None:
    """User and password span of a TDS Login7 packet (its 8-byte header first)."""
    if len(data) < 8 + TDS_FIXED or data[0] != TDS_LOGIN7 or data[1] > 0x0F:
        return None
    login = data[8:]
    total = int.from_bytes(login[0:4], "little")
    if not TDS_FIXED <= total <= 1 << 20 or not 0x70 <= login[7] <= 0x7F:   # TDS 7.x
        return None

    def field(at: int) -> tuple[int, int]:
        ib, cch = int.from_bytes(login[at:at + 2], "little"), int.from_bytes(login[at + 2:at + 4], "little")
        return 8 + ib, 8 + ib + 2 * cch

    (u0, u1), (p0, p1) = field(40), field(44)
    if u1 > 8 + total or p1 > 8 + total or (u1 > u0 and u0 < 8 + TDS_FIXED) \
            or (p1 > p0 and p0 < 8 + TDS_FIXED):
        return None
    user = data[u0:u1].decode("utf-16-le", "replace").encode() if u1 > u0 else None
    return Login(user, (p0, p1) if p1 > p0 else None)


PG_PROTOCOL_3 = 196608
PG_CLEARTEXT = b"R\x00\x00\x00\x08\x00\x00\x00\x03"    # AuthenticationCleartextPassword


def pg_startup_user(data: bytes) -> bytes | None:
    """The user a PostgreSQL startup message names, or None."""
    if len(data) < 9 or int.from_bytes(data[4:8], "big") != PG_PROTOCOL_3:
        return None
    end = min(len(data), int.from_bytes(data[0:4], "big"))
    parts = data[8:end].split(b"\x00")
    for k in range(0, len(parts) - 1, 2):
        if parts[k] == b"user":
            return parts[k + 1] or None
    return None


def pg_password(data: bytes) -> tuple[int, int] | None:
    """The span of the password of a PostgreSQL PasswordMessage, or None (not one, or empty)."""
    if len(data) < 6 or data[0] != 0x70:
        return None
    ln = int.from_bytes(data[1:5], "big")
    if not 6 <= ln <= 1024 or (len(data) > ln and data[ln] != 0):
        return None
    return 5, ln


MYSQL_CLEAR = b"mysql_clear_password"
_PROTOCOL_41, _SECURE, _WITH_DB, _PLUGIN, _LENENC = 0x200, 0x8000, 0x8, 0x80000, 0x200000


def mysql_packet(data: bytes) -> tuple[int, int, int] | None:
    """(sequence number, payload start, payload end) of the MySQL packet at data[0]."""
    if len(data) < 5:
        return None
    ln = int.from_bytes(data[0:3], "little")
    return (data[3], 4, 4 + ln) if ln else None


def mysql_handshake_response(data: bytes) -> tuple[bytes | None, tuple[int, int] | None, bytes] | None:
    """(user, span of the auth response, auth plugin name) of a HandshakeResponse41."""
    pkt = mysql_packet(data)
    if pkt is None or pkt[0] == 0 or pkt[2] - pkt[1] < 33:
        return None
    p = data[:pkt[2]]
    caps = int.from_bytes(p[4:8], "little")
    if not caps & _PROTOCOL_41 or any(p[13:36]):
        return None
    end = p.find(b"\x00", 36)
    if end < 0:
        return None
    user, i = p[36:end] or None, end + 1
    if caps & _LENENC:
        if i >= len(p) or p[i] >= 0xFB:
            return None
        a0, a1 = i + 1, i + 1 + p[i]
    elif caps & _SECURE:
        if i >= len(p):
            return None
        a0, a1 = i + 1, i + 1 + p[i]
    else:
        z = p.find(b"\x00", i)
        a0, a1 = i, (z if z >= 0 else len(p))
    i = a1 + (0 if caps & (_LENENC | _SECURE) else 1)
    if caps & _WITH_DB:
        z = p.find(b"\x00", i)
        i = (z + 1) if z >= 0 else len(p)
    plugin = b""
    if caps & _PLUGIN:
        z = p.find(b"\x00", i)
        plugin = p[i:z if z >= 0 else len(p)]
    return user, (a0, a1) if a1 > a0 else None, plugin


def mysql_auth_switch(data: bytes) -> bytes | None:
    """The plugin a server's AuthSwitchRequest names, or None."""
    pkt = mysql_packet(data)
    if pkt is None or data[4:5] != b"\xfe" or pkt[2] - pkt[1] < 2:
        return None
    z = data.find(b"\x00", 5, pkt[2])
    return data[5:z if z >= 0 else pkt[2]]


def mysql_switch_answer(data: bytes) -> tuple[int, int] | None:
    """The span of the secret of the client's answer to an AuthSwitchRequest."""
    pkt = mysql_packet(data)
    if pkt is None:
        return None
    end = min(pkt[2], len(data))
    if data[end - 1:end] == b"\x00":
        end -= 1
    return (4, end) if end > 4 else None


def resp_command(data: bytes, i: int = 0) -> tuple[list[tuple[int, int]], int] | None:
    """The spans of the bulk strings of the RESP array at data[i], and where it ends."""
    if data[i:i + 1] != b"*":
        return None
    eol = data.find(b"\r\n", i)
    if eol < 0 or not data[i + 1:eol].isdigit():
        return None
    count, i, spans = int(data[i + 1:eol]), eol + 2, []
    for _ in range(min(count, 16)):
        eol = data.find(b"\r\n", i)
        if data[i:i + 1] != b"$" or eol < 0 or not data[i + 1:eol].isdigit():
            return None
        s = eol + 2
        e = s + int(data[i + 1:eol])
        spans.append((s, e))
        i = e + 2
    return spans, i


def redis_auth(words: list[bytes]) -> tuple[int | None, int] | None:
    """Of a Redis command's words: (index of the user or None, index of the password), where
    it is `AUTH [user] password` or `HELLO protover AUTH user password ...`."""
    verb = words[0].upper() if words else b""
    if verb == b"AUTH" and len(words) in (2, 3):
        return (1 if len(words) == 3 else None), len(words) - 1
    if verb == b"HELLO":
        for k in range(1, len(words) - 2):
            if words[k].upper() == b"AUTH":
                return k + 1, k + 2
    return None


def redis_logins(data: bytes, inline: bool) -> list[Login]:
    """The AUTH / HELLO ... AUTH commands of Redis client bytes: RESP arrays, and with
    `inline` lines of words."""
    out, i = [], 0
    while i < len(data):
        if data[i:i + 1] == b"*":
            got = resp_command(data, i)
            if got is None:
                break
            spans, i = got
            words = [data[a:b] for a, b in spans]
        elif inline:
            eol = data.find(b"\n", i)
            line_end = len(data) if eol < 0 else eol
            spans, k = [], i
            line = data[i:line_end].rstrip(b"\r")
            for w in line.split():
                k = data.index(w, k)
                spans.append((k, k + len(w)))
                k += len(w)
            words = [data[a:b] for a, b in spans]
            i = line_end + 1
        else:
            break
        found = redis_auth(words)
        if found is not None:
            u, p = found
            if spans[p][1] > spans[p][0]:
                out.append(Login(words[u] if u is not None else None, spans[p]))
    return out


SOCKS5 = 5
SOCKS_USER_PASS = 2        # the method number of username/password authentication
SOCKS_AUTH_VERSION = 1     # RFC 1929's sub-negotiation


def socks5_offers_password(data: bytes) -> bool:
    """Whether `data` is a SOCKS5 greeting whose methods include username/password."""
    return len(data) >= 3 and data[0] == SOCKS5 and len(data) == 2 + data[1] \
        and SOCKS_USER_PASS in data[2:]


def socks5_login(data: bytes) -> Login | None:
    """The user and the password's span of an RFC 1929 request, or None (not one, or no
    password): a client sends it whole, then waits for the answer."""
    if len(data) < 5 or data[0] != SOCKS_AUTH_VERSION or not data[1]:
        return None
    at = 2 + data[1]
    if len(data) <= at or not data[at] or len(data) != at + 1 + data[at]:
        return None
    return Login(data[2:at], (at + 1, len(data)))
