"""cleartext_credentials cases (JL art.30) beyond the ones of make_cases.py: the logins dsniff
knows — SMTP AUTH LOGIN, LDAP simple bind, Redis AUTH, PostgreSQL and MySQL cleartext,
SQL Server TDS Login7, SNMP communities, HTTP Bearer and API keys — each with a negative
(the same protocol inside TLS or STARTTLS, another authentication method, or what a server
says rather than a client), every one inside L2TP or GRE.

The messages are built here from the protocols' specifications (RFC 4511 LDAP, RFC 1157 /
1901 SNMP, [MS-TDS] Login7, PostgreSQL protocol 3, MySQL client/server protocol, RESP), not
from the sensor's code; tests/test_credentials.py builds its own inputs with them too.
"""
from __future__ import annotations

import base64
import struct

import make_cases as mc
from make_cases import HOSP, HOSP_CODE, PLATFORM, PLATFORM_B, IpIds, PiiCase, TcpConn, cred_ev, ev

# the passwords, tokens and communities of these cases: tests look for them in every output
SECRETS = {"smtp": "Smtp-Login-88", "ldap": "Ldap-Bind-2025", "redis": "Redis-Acl-31",
           "postgresql": "Pg-Clear-55", "mysql": "My-Clear-66", "tds": "Tds-Login-7",
           "snmp": "Hosp!Mon2025", "bearer": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJoaXMifQ.c2ln",
           "api_key": "k7f3a9c2e1d04b6a"}

RULE = ("cleartext_credentials (JL art.30): a secret that a client sends in a payload no "
        "encrypted protocol carries breaks it — a password (reason cleartext_password), a "
        "bearer token or API key (cleartext_token); one high alert per flow and reason, its "
        "packets the ones that carry the secret; the user shown as its first character and "
        "***, with a keyed hash; the secret nowhere. An SNMP community that is a well-known "
        "default (public, private) is its own finding (default_snmp_community, medium). What "
        "a server sends is no credential")
L2TP, GRE = mc.L2TP_HOSP, mc.GRE_HOSP


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


# --- cases -------------------------------------------------------------------------------

def one_alert(c: PiiCase, line: mc.Line, pkts: list, k: int, evidence: dict,
              severity: str = "high") -> PiiCase:
    """The case's packets sent; one alert expected, its packet pkts[k]."""
    frames = c.send(line, pkts)
    c.expect("cleartext_credentials", severity, line.key, HOSP_CODE, [frames[k]], evidence)
    return c


def token_ev(method: str) -> dict:
    return ev("cleartext_token", protocol="http", method=method, credentials=1, user="",
              token="sent in clear (not recorded)")


def cred_smtp_auth_login(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The hospital's {HOSP} sends mail through the platform's relay "
                      f"({PLATFORM_B}:587) {line.describe}: EHLO, `AUTH LOGIN`, and after each "
                      f"334 continuation the user name and the password, base64 on lines of "
                      f"their own. Rule: {RULE}. Expected: one high alert, its packet the "
                      f"password's line.")
    conn = TcpConn(IpIds(), HOSP, 51500, PLATFORM_B, 587)
    pkts = conn.handshake() + [
        conn.s2c(b"220 mail.platform ESMTP ready\r\n"), conn.c2s(b"EHLO his-ws07\r\n"),
        conn.s2c(b"250-mail.platform\r\n250 AUTH LOGIN PLAIN\r\n"), conn.c2s(b"AUTH LOGIN\r\n"),
        conn.s2c(b"334 VXNlcm5hbWU6\r\n"), conn.c2s(b64("his-mailer") + b"\r\n"),
        conn.s2c(b"334 UGFzc3dvcmQ6\r\n"), conn.c2s(b64(SECRETS["smtp"]) + b"\r\n"),
        conn.s2c(b"235 2.7.0 Authentication successful\r\n"), conn.c2s(b"QUIT\r\n"),
        conn.s2c(b"221 Bye\r\n")] + conn.close()
    return one_alert(c, line, pkts, 10, cred_ev("smtp", "auth_login", "his-mailer"))


def none_smtp_starttls(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The same relay login {line.describe}, but after `STARTTLS`: the "
                      f"AUTH LOGIN exchange travels in TLS records. Rule: {RULE}. Expected: "
                      f"no alert.")
    conn = TcpConn(IpIds(), HOSP, 51501, PLATFORM_B, 587)
    pkts = conn.handshake() + [
        conn.s2c(b"220 mail.platform ESMTP ready\r\n"), conn.c2s(b"EHLO his-ws07\r\n"),
        conn.s2c(b"250-mail.platform\r\n250 STARTTLS\r\n"), conn.c2s(b"STARTTLS\r\n"),
        conn.s2c(b"220 2.0.0 Ready to start TLS\r\n"),
        conn.c2s(mc.tls_client_hello("smtp-tls")), conn.s2c(mc.tls_server_hello("smtp-tls")),
        conn.c2s(mc.tls_app_data("smtp-auth", 64)), conn.s2c(mc.tls_app_data("smtp-334", 48)),
        conn.c2s(mc.tls_app_data("smtp-pass", 48))] + conn.close()
    c.send(line, pkts)
    return c


def cred_ldap_simple_bind(name: str, line: mc.Line) -> PiiCase:
    dn = "cn=his-app,ou=services,dc=hosp,dc=local"
    c = PiiCase(name, f"The hospital's HIS server {HOSP} binds to the directory "
                      f"({PLATFORM}:389) {line.describe} with LDAP simple authentication: its "
                      f"DN and password in the BindRequest. Rule: {RULE}. Expected: one high "
                      f"alert, its packet the BindRequest.")
    conn = TcpConn(IpIds(), HOSP, 51510, PLATFORM, 389)
    pkts = conn.handshake() + [conn.c2s(ldap_bind(dn.encode(), SECRETS["ldap"].encode())),
                               conn.s2c(ldap_bind_response())] + conn.close()
    return one_alert(c, line, pkts, 3, cred_ev("ldap", "simple_bind", dn))


def none_ldap_anonymous_and_starttls(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The hospital's {HOSP} talks to the directory ({PLATFORM}:389) "
                      f"{line.describe} twice: an anonymous bind (empty name and password), "
                      f"then on a second connection StartTLS and the simple bind inside TLS "
                      f"records. Rule: {RULE}. Expected: no alert.")
    ids = IpIds()
    anon = TcpConn(ids, HOSP, 51511, PLATFORM, 389)
    tls = TcpConn(ids, HOSP, 51512, PLATFORM, 389)
    pkts = anon.handshake() + [anon.c2s(ldap_bind(b"", b"")), anon.s2c(ldap_bind_response())] \
        + anon.close() + tls.handshake() + [
            tls.c2s(ldap_starttls(False)), tls.s2c(ldap_starttls(True)),
            tls.c2s(mc.tls_client_hello("ldap-tls")), tls.s2c(mc.tls_server_hello("ldap-tls")),
            tls.c2s(mc.tls_app_data("ldap-bind", 96)), tls.s2c(mc.tls_app_data("ldap-ok", 40))] \
        + tls.close()
    c.send(line, pkts)
    return c


def cred_redis_auth(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"A hospital application ({HOSP}) logs in to a Redis cache "
                      f"({PLATFORM}:6379) {line.describe}: `AUTH his-cache <password>` as a "
                      f"RESP array (an ACL user). Rule: {RULE}. Expected: one high alert, its "
                      f"packet the AUTH command.")
    conn = TcpConn(IpIds(), HOSP, 51520, PLATFORM, 6379)
    pkts = conn.handshake() + [conn.c2s(resp(b"AUTH", b"his-cache", SECRETS["redis"].encode())),
                               conn.s2c(b"+OK\r\n"), conn.c2s(resp(b"GET", b"queue:len")),
                               conn.s2c(b"$1\r\n0\r\n")] + conn.close()
    return one_alert(c, line, pkts, 3, cred_ev("redis", "auth", "his-cache"))


def none_redis_tls(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The same Redis login {line.describe}, with TLS on port 6379: the "
                      f"AUTH command inside TLS records. Rule: {RULE}. Expected: no alert.")
    c.send(line, mc.tls_session(TcpConn(IpIds(), HOSP, 51521, PLATFORM, 6379), "redis-tls"))
    return c


def cred_postgresql_cleartext(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"A report tool ({HOSP}) logs in to PostgreSQL ({PLATFORM}:5432) "
                      f"{line.describe}: the startup message names the user his_report; the "
                      f"server asks for a cleartext password (AuthenticationCleartextPassword) "
                      f"and the client sends it in a PasswordMessage. Rule: {RULE}. Expected: "
                      f"one high alert, its packet the PasswordMessage.")
    conn = TcpConn(IpIds(), HOSP, 51530, PLATFORM, 5432)
    pkts = conn.handshake() + [conn.c2s(pg_startup(b"his_report", b"his")),
                               conn.s2c(pg_auth_request(3)),
                               conn.c2s(pg_password(SECRETS["postgresql"].encode())),
                               conn.s2c(PG_READY)] + conn.close()
    return one_alert(c, line, pkts, 5,
                     cred_ev("postgresql", "cleartext_password", "his_report"))


def none_postgresql_md5(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The same PostgreSQL login {line.describe}, but the server asks for "
                      f"MD5 (AuthenticationMD5Password with a salt): the PasswordMessage holds "
                      f"a salted hash, no password. Rule: {RULE}. Expected: no alert.")
    conn = TcpConn(IpIds(), HOSP, 51531, PLATFORM, 5432)
    pkts = conn.handshake() + [conn.c2s(pg_startup(b"his_report", b"his")),
                               conn.s2c(pg_auth_request(5, mc.payload("pg-salt", 4))),
                               conn.c2s(pg_password(b"md5" + mc.payload("pg-md5", 16).hex().encode())),
                               conn.s2c(PG_READY)] + conn.close()
    c.send(line, pkts)
    return c


def mysql_login(conn: TcpConn) -> list:
    """A MySQL connection up to the client's HandshakeResponse (mysql_native_password)."""
    return conn.handshake() + [
        conn.s2c(mysql_greeting(MYSQL_NATIVE)),
        conn.c2s(mysql_handshake_response(b"billing", mc.payload("mysql-native", 20), MYSQL_NATIVE))]


def cred_mysql_clear_password(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"A billing client ({HOSP}) logs in to MySQL ({PLATFORM}:3306) "
                      f"{line.describe}: the handshake names mysql_native_password; the server "
                      f"switches the account to the mysql_clear_password plugin "
                      f"(AuthSwitchRequest) and the client answers with the password in clear. "
                      f"Rule: {RULE}. Expected: one high alert, its packet the answer.")
    conn = TcpConn(IpIds(), HOSP, 51540, PLATFORM, 3306)
    pkts = mysql_login(conn) + [
        conn.s2c(mysql_packet(2, b"\xfe" + MYSQL_CLEAR + b"\x00")),
        conn.c2s(mysql_packet(3, SECRETS["mysql"].encode() + b"\x00")),
        conn.s2c(mysql_packet(4, b"\x00\x00\x00\x02\x00\x00\x00"))] + conn.close()
    return one_alert(c, line, pkts, 6, cred_ev("mysql", "clear_password", "billing"))


def none_mysql_native(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The same MySQL login {line.describe} with mysql_native_password: the "
                      f"client sends a scramble of the password, not the password. Rule: "
                      f"{RULE}. Expected: no alert.")
    conn = TcpConn(IpIds(), HOSP, 51541, PLATFORM, 3306)
    pkts = mysql_login(conn) + [conn.s2c(MYSQL_OK)] + conn.close()
    c.send(line, pkts)
    return c


def cred_tds_login7(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"A HIS workstation ({HOSP}) logs in to SQL Server ({PLATFORM}:1433) "
                      f"{line.describe} with SQL authentication; PRELOGIN says the client does "
                      f"not support encryption, so the Login7 packet goes in clear, its password "
                      f"only obfuscated (nibble swap, XOR 0xA5). Rule: {RULE}. Expected: one "
                      f"high alert, its packet the Login7.")
    conn = TcpConn(IpIds(), HOSP, 51550, PLATFORM, 1433)
    pkts = conn.handshake() + [conn.c2s(tds_prelogin(2)), conn.s2c(tds_prelogin(2, True)),
                               conn.c2s(tds_login7("his_report", SECRETS["tds"])),
                               conn.s2c(tds_packet(0x04, b"\xfd\x00\x00\x00\x00\x00\x00\x00\x00"))] \
        + conn.close()
    want = cred_ev("tds", "login7", "his_report")
    want["password"] = "sent obfuscated only, readable by anyone (not recorded)"
    return one_alert(c, line, pkts, 5, want)


def none_tds_encrypted(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The same SQL Server login {line.describe} with encryption on: after "
                      f"PRELOGIN the Login7 travels in TLS records. Rule: {RULE}. Expected: "
                      f"no alert.")
    conn = TcpConn(IpIds(), HOSP, 51551, PLATFORM, 1433)
    pkts = conn.handshake() + [conn.c2s(tds_prelogin(1)), conn.s2c(tds_prelogin(1, True)),
                               conn.c2s(mc.tls_app_data("tds-login", 220)),
                               conn.s2c(mc.tls_app_data("tds-ack", 60))] + conn.close()
    c.send(line, pkts)
    return c


def cred_snmp_community(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The hospital's monitoring server {HOSP} polls a switch "
                      f"({mc.HOSP_C}:161) {line.describe} with SNMPv2c and a community of its "
                      f"own; the switch answers. Rule: {RULE}. Expected: one high alert, its "
                      f"packet the GetRequest (the response's copy is what the agent says).")
    ids = IpIds()
    community = SECRETS["snmp"].encode()
    pkts = [mc.udp_pkt(ids, HOSP, 40161, mc.HOSP_C, 161, snmp_get(community), True),
            mc.udp_pkt(ids, mc.HOSP_C, 161, HOSP, 40161, snmp_get(community, response=True), False)]
    return one_alert(c, line, pkts, 0, ev("cleartext_password", protocol="snmp",
                                          method="community", credentials=1, user="",
                                          password="sent in clear (not recorded)"))


def cred_snmp_default_community(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The monitoring server {HOSP} polls a switch ({mc.HOSP_C}:161) "
                      f"{line.describe} with SNMPv1 and the default community `public`; then a "
                      f"second switch ({mc.HOSP_D}) with SNMPv3 (users and keys, no community). "
                      f"Rule: {RULE}. Expected: one medium alert default_snmp_community, its "
                      f"packet the v1 GetRequest; nothing for SNMPv3.")
    ids = IpIds()
    pkts = [mc.udp_pkt(ids, HOSP, 40162, mc.HOSP_C, 161, snmp_get(b"public", version=0), True),
            mc.udp_pkt(ids, mc.HOSP_C, 161, HOSP, 40162, snmp_get(b"public", 0, True), False),
            mc.udp_pkt(ids, HOSP, 40163, mc.HOSP_D, 161, snmpv3_get(), True)]
    return one_alert(c, line, pkts, 0, ev("default_snmp_community", protocol="snmp",
                                          method="default_community", credentials=1,
                                          community="public"), "medium")


def cred_http_tokens(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"A hospital application ({HOSP}) calls the platform's API "
                      f"({PLATFORM}:8080) over plain HTTP {line.describe} twice: with "
                      f"`Authorization: Bearer <JWT>`, and with `?access_token=` in the query "
                      f"string. Rule: {RULE}. Expected: two high alerts cleartext_token, one a "
                      f"connection, each its request.")
    ids = IpIds()
    a = TcpConn(ids, HOSP, 51560, PLATFORM, 8080)
    b = TcpConn(ids, HOSP, 51561, PLATFORM, 8080)
    bearer = (b"GET /api/v1/claims?status=open HTTP/1.1\r\nHost: 10.200.1.20:8080\r\n"
              b"Authorization: Bearer " + SECRETS["bearer"].encode() + b"\r\n\r\n")
    query = (b"GET /api/v1/claims?status=open&access_token=" + SECRETS["api_key"].encode()
             + b" HTTP/1.1\r\nHost: 10.200.1.20:8080\r\n\r\n")
    fa = c.send(line, a.handshake() + [a.c2s(bearer), a.s2c(mc.HTTP_OK)] + a.close())
    fb = c.send(line, b.handshake() + [b.c2s(query), b.s2c(mc.HTTP_OK)] + b.close())
    c.expect("cleartext_credentials", "high", line.key, HOSP_CODE, [fa[3]], token_ev("bearer"))
    c.expect("cleartext_credentials", "high", line.key, HOSP_CODE, [fb[3]], token_ev("query_key"))
    return c


LOGIN_PAGE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
              b"<form id=f><input name=u><input type=password name=p></form><script>"
              b"function go(u,p){x.send('user='+u+'&password='+encodeURIComponent(p));}"
              b"</script>")


def none_login_page_script(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The hospital's {HOSP} opens the platform's login page "
                      f"({PLATFORM}:8080) {line.describe}; the page's script builds "
                      f"`'&password='+encodeURIComponent(p)`. The server sends it, no one logs "
                      f"in. Rule: {RULE}. Expected: no alert.")
    conn = TcpConn(IpIds(), HOSP, 51570, PLATFORM, 8080)
    c.send(line, conn.handshake() + [conn.c2s(b"GET /login HTTP/1.1\r\nHost: 10.200.1.20\r\n\r\n"),
                                     conn.s2c(LOGIN_PAGE)] + conn.close())
    return c


CASES = [
    ("cred_smtp_auth_login_in_gre", cred_smtp_auth_login, GRE),
    ("none_cred_smtp_starttls_in_l2tp", none_smtp_starttls, L2TP),
    ("cred_ldap_simple_bind_in_l2tp", cred_ldap_simple_bind, L2TP),
    ("none_cred_ldap_anonymous_starttls_in_gre", none_ldap_anonymous_and_starttls, GRE),
    ("cred_redis_auth_in_gre", cred_redis_auth, GRE),
    ("none_cred_redis_tls_in_l2tp", none_redis_tls, L2TP),
    ("cred_postgresql_cleartext_in_l2tp", cred_postgresql_cleartext, L2TP),
    ("none_cred_postgresql_md5_in_gre", none_postgresql_md5, GRE),
    ("cred_mysql_clear_password_in_gre", cred_mysql_clear_password, GRE),
    ("none_cred_mysql_native_in_l2tp", none_mysql_native, L2TP),
    ("cred_tds_login7_in_l2tp", cred_tds_login7, L2TP),
    ("none_cred_tds_encrypted_in_gre", none_tds_encrypted, GRE),
    ("cred_snmp_community_in_gre", cred_snmp_community, GRE),
    ("cred_snmp_default_community_in_l2tp", cred_snmp_default_community, L2TP),
    ("cred_http_tokens_in_gre", cred_http_tokens, GRE),
    ("none_cred_login_page_script_in_l2tp", none_login_page_script, L2TP),
]
