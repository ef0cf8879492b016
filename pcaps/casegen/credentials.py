"""The wire messages of the cleartext_credentials cases (JL art.30) for the logins dsniff knows
(pcaps/cases/*cred_*/generate.py) — SMTP AUTH LOGIN, LDAP simple bind, Redis AUTH,
PostgreSQL and MySQL cleartext, SQL Server TDS Login7, SNMP communities, HTTP Bearer and API
keys — each with a negative (the same protocol inside TLS or STARTTLS, another
authentication method, or what a server says rather than a client), every one inside L2TP or
GRE.

The messages are built here from the protocols' specifications (RFC 4511 LDAP, RFC 1157 /
1901 SNMP, [MS-TDS] Login7, PostgreSQL protocol 3, MySQL client/server protocol, RESP), not
from the sensor's code; tests/detectors/test_credentials.py builds its own inputs with them too.
"""
from __future__ import annotations

import base64
import struct

import casegen as mc
from casegen import HOSP_CODE, PiiCase, TcpConn, ev

# the passwords, tokens and communities of these cases: tests look for them in every output
SECRETS = {"smtp": "Smtp-Login-88", "ldap": "Ldap-Bind-2025", "redis": "Redis-Acl-31",
           "postgresql": "Pg-Clear-55", "mysql": "My-Clear-66", "tds": "Tds-Login-7",
           "snmp": "Hosp!Mon2025", "bearer": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJoaXMifQ.c2ln",
           "api_key": "k7f3a9c2e1d04b6a", "socks": "Sock5-Proxy-19"}

RULE = ("cleartext_credentials (JL art.30): a secret that a client sends in a payload no "
        "encrypted protocol carries breaks it — a password (reason cleartext_password), a "
        "bearer token or API key (cleartext_token); one high alert per flow and reason, its "
        "packets the ones that carry the secret; the user shown as its first character and "
        "***, with a keyed hash; the secret nowhere. An SNMP community that is a well-known "
        "default (public, private) is its own finding (default_snmp_community, medium). What "
        "a server sends is no credential")


# --- wire formats ------------------------------------------------------------------------

def tlv(tag: int, value: bytes) -> bytes:
    """A BER element (definite length, short or long form)."""
    n = len(value)
    if n < 0x80:
        return bytes((tag, n)) + value
    size = (n.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + n.to_bytes(size, "big") + value


def ldap_bind(dn: bytes, password: bytes, message_id: int = 1) -> bytes:
    """LDAPMessage { messageID, BindRequest { version 3, name, simple [0] password } }."""
    return tlv(0x30, tlv(0x02, bytes((message_id,))) + tlv(0x60, tlv(0x02, b"\x03") + tlv(0x04, dn)
                                                         + tlv(0x80, password)))


def ldap_bind_response(message_id: int = 1) -> bytes:
    return tlv(0x30, tlv(0x02, bytes((message_id,))) + tlv(0x61, tlv(0x0A, b"\x00") + tlv(0x04, b"")
                                                         + tlv(0x04, b"")))


def ldap_starttls(response: bool) -> bytes:
    """ExtendedRequest [APPLICATION 23] StartTLS (1.3.6.1.4.1.1466.20037), or its response."""
    oid = b"1.3.6.1.4.1.1466.20037"
    if response:
        op = tlv(0x78, tlv(0x0A, b"\x00") + tlv(0x04, b"") + tlv(0x04, b"") + tlv(0x8A, oid))
    else:
        op = tlv(0x77, tlv(0x80, oid))
    return tlv(0x30, tlv(0x02, b"\x01") + op)


SYS_DESCR = bytes.fromhex("2b06010201010100")       # 1.3.6.1.2.1.1.1.0


def snmp_get(community: bytes, version: int = 1, response: bool = False) -> bytes:
    """An SNMPv1 (version 0) / v2c (1) GetRequest for sysDescr.0, or its GetResponse."""
    value = tlv(0x04, b"Example switch") if response else b"\x05\x00"
    pdu = tlv(0xA2 if response else 0xA0, tlv(0x02, b"\x2a") + tlv(0x02, b"\x00") + tlv(0x02, b"\x00")
              + tlv(0x30, tlv(0x30, tlv(0x06, SYS_DESCR) + value)))
    return tlv(0x30, tlv(0x02, bytes((version,))) + tlv(0x04, community) + pdu)


def snmpv3_get() -> bytes:
    """An SNMPv3 GetRequest with USM authentication (no community: the user's keys)."""
    header = tlv(0x30, tlv(0x02, b"\x01\x23") + tlv(0x02, b"\x05\xdc") + tlv(0x04, b"\x07")
                 + tlv(0x02, b"\x03"))
    usm = tlv(0x04, tlv(0x30, tlv(0x04, mc.payload("engine", 12)) + tlv(0x02, b"\x01")
                        + tlv(0x02, b"\x01") + tlv(0x04, b"monitor") + tlv(0x04, mc.payload("mac", 12))
                        + tlv(0x04, mc.payload("salt", 8))))
    scoped = tlv(0x04, mc.payload("scoped-pdu", 48))          # encrypted (privacy)
    return tlv(0x30, tlv(0x02, b"\x03") + header + usm + scoped)


def tds_obfuscate(password: str) -> bytes:
    """[MS-TDS] 2.2.6.4: each byte of the UTF-16LE password nibble-swapped, then XOR 0xA5."""
    return bytes((((b << 4) & 0xF0) | (b >> 4)) ^ 0xA5 for b in password.encode("utf-16-le"))


def tds_packet(kind: int, body: bytes) -> bytes:
    return struct.pack("!BBHHBB", kind, 0x01, 8 + len(body), 0, 1, 0) + body


def tds_prelogin(encryption: int, response: bool = False) -> bytes:
    """PRELOGIN (0x12; the answer travels as 0x04) with VERSION and ENCRYPTION options."""
    version, enc = struct.pack("!IH", 0x10000FA0, 0), bytes((encryption,))
    start = 5 * 2 + 1
    options = struct.pack("!BHH", 0, start, len(version)) + struct.pack(
        "!BHH", 1, start + len(version), 1) + b"\xff"
    return tds_packet(0x04 if response else 0x12, options + version + enc)


def tds_login7(user: str, password: str, host: str = "HIS-WS07", app: str = "his-report",
               server: str = "10.200.1.20", database: str = "his") -> bytes:
    """A Login7 packet (TDS 7.4): the fixed part (94 bytes), then the variable fields."""
    fields = [host.encode("utf-16-le"), user.encode("utf-16-le"), tds_obfuscate(password),
              app.encode("utf-16-le"), server.encode("utf-16-le"), b"", "ODBC".encode("utf-16-le"),
              b"", database.encode("utf-16-le")]
    offsets, at, data = b"", 94, b""
    for k, f in enumerate(fields):
        offsets += struct.pack("<HH", at, len(f) // 2 if k != 5 else 0)
        data += f
        at += len(f)
    offsets += bytes(6) + struct.pack("<HH", at, 0) + struct.pack("<HHHHI", at, 0, at, 0, 0)
    fixed = struct.pack("<IIIIII", 94 + len(data), 0x74000004, 4096, 7, 4242, 0) + \
        bytes((0xE0, 0x03, 0x00, 0x00)) + struct.pack("<iI", 480, 0x0804)
    login = fixed + offsets
    assert len(login) == 94, len(login)
    return tds_packet(0x10, login + data)


def pg_startup(user: bytes, database: bytes) -> bytes:
    body = struct.pack("!I", 196608) + b"user\x00" + user + b"\x00database\x00" + database + b"\x00\x00"
    return struct.pack("!I", 4 + len(body)) + body


def pg_auth_request(code: int, extra: bytes = b"") -> bytes:
    """AuthenticationRequest: 3 cleartext, 5 MD5 (with a salt), 0 ok."""
    return b"R" + struct.pack("!II", 8 + len(extra), code) + extra


def pg_password(text: bytes) -> bytes:
    return b"p" + struct.pack("!I", 4 + len(text) + 1) + text + b"\x00"


PG_READY = (pg_auth_request(0) + b"S" + struct.pack("!I", 4 + 22) + b"server_version\x0016.1\x00"
            + b"Z" + struct.pack("!I", 5) + b"I")


def mysql_packet(seq: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes((seq,)) + payload


def mysql_greeting(plugin: bytes) -> bytes:
    """HandshakeV10 of a MySQL 8.0 server."""
    caps = 0x0001 | 0x0200 | 0x8000 | 0x80000
    scramble = mc.payload("mysql-scramble", 20)
    body = (b"\x0a" + b"8.0.36\x00" + struct.pack("<I", 11) + scramble[:8] + b"\x00"
            + struct.pack("<H", caps & 0xFFFF) + b"\x21" + struct.pack("<H", 2)
            + struct.pack("<H", caps >> 16) + bytes((21,)) + bytes(10) + scramble[8:] + b"\x00"
            + plugin + b"\x00")
    return mysql_packet(0, body)


def mysql_handshake_response(user: bytes, auth: bytes, plugin: bytes) -> bytes:
    """HandshakeResponse41: capabilities, max packet, charset, 23 zero bytes, user, the auth
    response (1-byte length), the plugin's name."""
    caps = 0x0001 | 0x0200 | 0x8000 | 0x80000
    body = (struct.pack("<IIB", caps, 1 << 24, 0x21) + bytes(23) + user + b"\x00"
            + bytes((len(auth),)) + auth + plugin + b"\x00")
    return mysql_packet(1, body)


MYSQL_NATIVE, MYSQL_CLEAR = b"mysql_native_password", b"mysql_clear_password"
MYSQL_OK = mysql_packet(2, b"\x00\x00\x00\x02\x00\x00\x00")


def resp(*words: bytes) -> bytes:
    """A Redis command as a RESP array of bulk strings."""
    return b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words)


def b64(text: str) -> bytes:
    return base64.b64encode(text.encode())


# --- what several cases send and expect ---------------------------------------------

def one_alert(c: PiiCase, line: mc.Line, pkts: list, k: int, evidence: dict,
              severity: str = "high") -> PiiCase:
    """The case's packets sent; one alert expected, its packet pkts[k]."""
    frames = c.send(line, pkts)
    c.expect("cleartext_credentials", severity, line.key, HOSP_CODE, [frames[k]], evidence)
    return c


def token_ev(method: str) -> dict:
    return ev("cleartext_token", protocol="http", method=method, credentials=1, user="",
              token="sent in clear (not recorded)")


def mysql_login(conn: TcpConn) -> list:
    """A MySQL connection up to the client's HandshakeResponse (mysql_native_password)."""
    return conn.handshake() + [
        conn.s2c(mysql_greeting(MYSQL_NATIVE)),
        conn.c2s(mysql_handshake_response(b"billing", mc.payload("mysql-native", 20), MYSQL_NATIVE))]


LOGIN_PAGE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
              b"<form id=f><input name=u><input type=password name=p></form><script>"
              b"function go(u,p){x.send('user='+u+'&password='+encodeURIComponent(p));}"
              b"</script>")
