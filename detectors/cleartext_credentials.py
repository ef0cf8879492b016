"""JL art.30: keys, accounts and passwords are kept safe and never shared. A password sent
in clear, where anyone on the path can read it, breaks it.

Recognised in unencrypted payloads (`payload_class`), TCP as streams (`streams`: each byte
once, retransmissions ignored, a command split across segments still read):
- HTTP: `Authorization: Basic` / `Proxy-Authorization: Basic` (base64 of user:password), and
  login forms, query strings, JSON or XML bodies with a password field (`password`, `passwd`,
  `pwd`, ...) that has a value (`pwd=...`, `"password": "..."`, `<pwd>...</pwd>`, not
  `password = ...` in a script) — logins without Digest or TLS;
- FTP and POP3: `USER name` then `PASS secret`, where the flow is FTP or POP3 by its port
  (21, 2121 / 110) or by the server's greeting (`220 ` / `+OK`); anonymous FTP (`anonymous`,
  `ftp`) is no account and is not reported;
- IMAP: `tag LOGIN user password`, where the flow is IMAP (port 143, or the greeting `* OK`);
- SMTP, POP3, IMAP `AUTH PLAIN <base64>` (the password is in it);
- Telnet (port 23): the server's `login:` prompt, the user name typed, the `Password:` prompt
  and the line typed after it, placed at the packet holding its Enter (which completes the
  password, typed a key a packet or not);
- SMTP, POP3, IMAP `AUTH LOGIN` (or `AUTHENTICATE LOGIN`, and `AUTH PLAIN` without an
  initial response): after the server's continuation (`334 ` / `+ `), the base64 user name
  and password lines the client sends;
- LDAP simple bind (a BindRequest with simple authentication and a password: an anonymous
  bind, with none, is no credential), on any port;
- Redis `AUTH [user] password` and `HELLO protover AUTH user password`, as RESP arrays
  anywhere or as inline commands on the Redis port (6379);
- PostgreSQL: the PasswordMessage that answers the server's AuthenticationCleartextPassword
  (not MD5 or SCRAM), the user from the startup message; MySQL: a HandshakeResponse or an
  AuthSwitch answer for the `mysql_clear_password` plugin;
- SQL Server TDS Login7 with a password (obfuscated only: nibble swap and XOR 0xA5);
- SOCKS5 (RFC 1929): the username/password request that follows a greeting offering it
  and the proxy's choice of it, on any port;
- SNMPv1/v2c: the community string of a request or trap (not of a response). A community of the
  well-known defaults (`public`, `private`) is no secret to leak: it is a finding of its own
  (`default_snmp_community`, medium): the device is guarded by a key that everyone knows,
  which JL art.30's "keys kept safe" does not allow either;
- HTTP `Authorization: Bearer`, `X-API-Key:`, and API keys and tokens in a request's query
  string (`api_key=`, `apikey=`, `access_token=`, `token=`, `..._secret=`): reason
  `cleartext_token`.
- the same HTTP fields and queries over cleartext HTTP/2 (gRPC's metadata among them), read
  in the header blocks the payload normaliser HPACK-decodes (their values are Huffman-coded
  on the wire), each placed at the packet that completes its block.

Only what a client sends is read as a credential: a message that only clients send (an LDAP
BindRequest, a TDS Login7, a PostgreSQL startup message, an SNMP request), else the
client's direction: the flow's, where its TCP handshake was seen (the flow table learns it),
else toward the service's port (`SERVER_PORTS`, else the lower port). A login page's own
script in an HTTP response is no login. The servers' messages are read only to follow a login's state (greetings, the
continuation of `AUTH LOGIN`, PostgreSQL's request for a cleartext password, MySQL's
AuthSwitch).

Binary protocols are picked by the shape of a region's first bytes (a BER SEQUENCE whose
first element is an INTEGER; a TDS Login7 header; a PostgreSQL startup or authentication
request), text ones by the payload engine's literals; only those regions are parsed
(`credential_wire` holds the layouts). Logins that take several messages (`AUTH LOGIN`,
PostgreSQL, MySQL) are followed per flow in a bounded table (`REMEMBER` flows; the
flows it forgets are counted in `ybsensor_credential_states_evicted_total`); so is the user
of each MySQL HandshakeResponse (port 3306, picked by its first 8 bytes), which a later
switch to `mysql_clear_password`, in this batch or a later one, logs in.

The password never leaves the sensor: not in alerts, logs or metrics, not even hashed or as
a length (an SNMP default community is named: that it is the default is the finding).
The user name is shown as its first character and `***` (`a***`), with a keyed
hash (HMAC-SHA256 with the key of `plaintext_pii`, first 128 bits) so that an analyst can
tell that two alerts concern the same account. Severity high (medium for a default SNMP
community); one alert per flow per dedup window (the alerter's rule); the violating packets
are the ones that carry the secret.
"""
from __future__ import annotations

import base64
import binascii
import re
from collections import OrderedDict

import numpy as np

from . import credential_wire as wire
from .base import Finding
from .content import opens_with, port_in, toward_server
from .pii_mask import PASSWORD_NAMES, USER_NAMES, field_patterns, mask_text
from .payload_detector import PayloadDetector, keyed_hash

TCP = 6
TELNET = 23
MYSQL_PORT = 3306
REMEMBER = 65536                  # flows whose user name / telnet state / greeting is kept
AFTER = 512                       # stream bytes read past a region (a long header line)
ANONYMOUS = (b"anonymous", b"ftp")
UDP = 17
PORT_PROTOCOL = {21: "ftp", 2121: "ftp", 110: "pop3", 143: "imap", 25: "smtp", 587: "smtp",
                 80: "http", 8080: "http", 23: "telnet", 389: "ldap", 3268: "ldap",
                 1433: "tds", 3306: "mysql", 5432: "postgresql", 6379: "redis", 161: "snmp",
                 162: "snmp", 1080: "socks"}
SERVER_PORTS = tuple(PORT_PROTOCOL)
REDIS_PORTS = (6379,)
DEFAULT_COMMUNITIES = (b"public", b"private")
# the first bytes of the binary messages read: BER SEQUENCE (LDAP, SNMP), TDS Login7, a
# PostgreSQL startup message (its length's high byte) or authentication request
BINARY_FIRST = np.array([0x30, wire.TDS_LOGIN7, 0x00, ord("R"), wire.SOCKS5], dtype=np.uint64)

LITERALS = [b": basic ", b" login ", b"password", b"passwd", b"pwd=", b'pwd"', b"<pwd>",
            b"pass=", b'pass"', b"<pass>", b"mima=", b'mima"', b"pwd]=", b"pass]=",
            b"\npass ", b"\nuser ", b"auth plain ", b"auth login", b"ticate login",
            b"authenticate plain", b"auth plain\r", b"\nauth\r\n", b"\nhello\r\n", b": bearer ", b"x-api-key:",
            b"api_key=", b"apikey=", b"api-key=", b"token=", b"secret=", wire.MYSQL_CLEAR]

USER_PASS_RX = re.compile(rb"(?im)^(USER|PASS)[ \t]+([^\r\n]*)")
IMAP_LOGIN_RX = re.compile(
    rb'(?im)^[^\s"]+[ \t]+LOGIN[ \t]+("(?:[^"\\\r\n]|\\.)*"|\{\d+\+?\}|[^\s"]+)'
    rb'(?:[ \t]+("(?:[^"\\\r\n]|\\.)*"|\{\d+\+?\}|[^\s"]+))?')
BASIC_RX = re.compile(rb"(?im)^(?:proxy-)?authorization:[ \t]*basic[ \t]+([A-Za-z0-9+/=_-]+)")
AUTH_PLAIN_RX = re.compile(rb"(?im)^(?:[^\s]+[ \t]+)?(?:AUTH|AUTHENTICATE)[ \t]+PLAIN[ \t]+([A-Za-z0-9+/=]+)")
SASL_START_RX = re.compile(
    rb"(?im)^(?:[^\s]+[ \t]+)?(?:AUTH|AUTHENTICATE)[ \t]+(LOGIN|PLAIN)(?:[ \t]+([A-Za-z0-9+/=]+))?[ \t]*\r?$")
BEARER_RX = re.compile(rb"(?im)^(?:proxy-)?authorization:[ \t]*bearer[ \t]+([A-Za-z0-9._~+/=-]+)")
API_KEY_HEADER_RX = re.compile(rb"(?im)^x-api-key:[ \t]*([^\s]+)")
# a request line's query, or an HTTP/2 request's (its `:path`, HPACK-decoded)
REQUEST_QUERY_RX = re.compile(rb"(?m)^(?:[A-Z]{3,7} (?=\S* HTTP/)|:path: )[^\s?]*\?([^\s#]+)")
API_KEY_NAMES = frozenset((b"api_key", b"apikey", b"api-key", b"access_token", b"accesstoken",
                           b"auth_token", b"token", b"app_secret", b"appsecret",
                           b"client_secret", b"secret"))


def _field_rx(names: bytes) -> re.Pattern:
    """A field and its value in any of the forms a login sends it (pii_mask.field_patterns)."""
    return re.compile(b"|".join(field_patterns(names)), re.IGNORECASE | re.MULTILINE)


FORM_PASS_RX = _field_rx(PASSWORD_NAMES)
FORM_USER_RX = _field_rx(USER_NAMES)


def _value(m: re.Match) -> bytes:
    return next((g for g in m.groups() if g), b"")


TELNET_LOGIN_RX = re.compile(rb"(?i)(login|user ?name)[ \t]*:[ \t]*$")
TELNET_PASS_RX = re.compile(rb"(?i)password[ \t]*:[ \t]*$")
IAC = 255


def mask_user(user: bytes | str | None) -> str:
    """A user name as its first character and `***` (nothing of its length)."""
    if not user:
        return ""
    text = user.decode("utf-8", "replace") if isinstance(user, bytes) else user
    return mask_text(text[:1]) + "***"


def strip_telnet(data: bytes) -> bytes:
    """Telnet data without its IAC command and option sequences (RFC 854, 855)."""
    if IAC not in data:
        return data
    out, i, n = bytearray(), 0, len(data)
    while i < n:
        c = data[i]
        if c != IAC:
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            break
        cmd = data[i + 1]
        if cmd == IAC:                     # an escaped 255
            out.append(IAC)
            i += 2
        elif cmd == 250:                   # SB ... IAC SE
            end = data.find(bytes((IAC, 240)), i + 2)
            i = n if end < 0 else end + 2
        elif 251 <= cmd <= 254:            # WILL WONT DO DONT option
            i += 3
        else:
            i += 2
    return bytes(out)


def _unquote(value: bytes) -> bytes:
    if len(value) >= 2 and value[:1] == b'"' and value[-1:] == b'"':
        return re.sub(rb"\\(.)", rb"\1", value[1:-1])
    return value


def _b64(text: bytes) -> bytes | None:
    try:
        return base64.b64decode(text + b"=" * (-len(text) % 4), validate=False)
    except (binascii.Error, ValueError):
        return None


class _Telnet:
    __slots__ = ("phase", "user", "typed")

    def __init__(self):
        self.phase, self.user, self.typed = "", b"", 0


class _Session:
    """A login that takes several messages, followed in one flow: `kind` sasl (AUTH LOGIN,
    bare AUTH PLAIN), postgresql, mysql or socks5; `phase` what the next message may be."""
    __slots__ = ("kind", "phase", "user")

    def __init__(self, kind: str, user: bytes | None = None):
        self.kind, self.phase, self.user = kind, "", user


CONTINUATION = (b"334 ", b"334\r", b"+ ", b"+\r")
# reason, severity and what the evidence says of the secret, by the kind of credential
KINDS = {"password": ("cleartext_password", "high", "password", "sent in clear (not recorded)"),
         "obfuscated": ("cleartext_password", "high", "password",
                        "sent obfuscated only, readable by anyone (not recorded)"),
         "token": ("cleartext_token", "high", "token", "sent in clear (not recorded)"),
         "default": ("default_snmp_community", "medium", "community", None)}


def _byte(word: np.ndarray, k: int) -> np.ndarray:
    return ((word >> np.uint64(8 * k)) & np.uint64(0xFF)).astype(np.int64)


def _ber_int_at(word: np.ndarray) -> np.ndarray:
    """Where a BER SEQUENCE's first element would start, given its length form: 2, 3, 4 or
    6 (0: no SEQUENCE)."""
    b1 = _byte(word, 1)
    return np.where(b1 < 0x80, 2, np.where(b1 == 0x81, 3, np.where(b1 == 0x82, 4,
                                                                   np.where(b1 == 0x84, 6, 0))))


def _shapes(word: np.ndarray, length: np.ndarray):
    """Which regions open like an LDAP message (SEQUENCE, INTEGER), an SNMPv1/v2c message
    (SEQUENCE, INTEGER 0 or 1, OCTET STRING), a TDS Login7 packet, a PostgreSQL startup
    message or AuthenticationCleartextPassword: vectorized over the first 8 bytes."""
    b = [_byte(word, k) for k in range(8)]
    at = _ber_int_at(word)
    seq = (b[0] == 0x30) & (at > 0)
    int_tag = np.zeros(len(word), dtype=bool)
    for k in (2, 3, 4, 6):
        int_tag |= (at == k) & (b[k] == 0x02)
    # the operation's tag, where it lies in the first 8 bytes, is a BindRequest's
    id_len = np.where(at == 2, b[3], np.where(at == 3, b[4], np.where(at == 4, b[5], 8)))
    op_at = at + 2 + id_len
    op = np.zeros(len(word), dtype=np.int64)
    for k in range(4, 8):
        op = np.where(op_at == k, b[k], op)
    ldap = seq & int_tag & (length >= 12) & ((op_at > 7) | (op == 0x60))
    snmp = np.zeros(len(word), dtype=bool)
    for k in (2, 3, 4):        # 02 01 0v 04 right after the SEQUENCE header
        snmp |= (at == k) & (b[k] == 0x02) & (b[k + 1] == 1) & (b[k + 2] <= 1) & (b[k + 3] == 0x04)
    snmp &= seq
    tds = (b[0] == wire.TDS_LOGIN7) & (b[1] <= 0x0F) & (length >= 8 + wire.TDS_FIXED) & \
        (((b[2] << 8) | b[3]) >= 8 + wire.TDS_FIXED)
    pg_startup = (b[0] == 0) & (b[4] == 0) & (b[5] == 3) & (b[6] == 0) & (b[7] == 0)
    pg_request = (word == np.uint64(int.from_bytes(wire.PG_CLEARTEXT[:8], "little"))) & (length >= 9)
    socks = (b[0] == wire.SOCKS5) & (b[1] >= 1) & (length == 2 + b[1])
    return ldap, snmp, tds, pg_startup, pg_request, socks


class CleartextCredentials(PayloadDetector):
    name = "cleartext_credentials"
    rule = "JL art.30"

    def __init__(self, config, plan):
        super().__init__(config, plan)
        self.lit_ids = self.engine.register(LITERALS)
        self.engine.normaliser       # noqa: B018 - its literals join the pass from the start
        self.users: OrderedDict[int, bytes] = OrderedDict()        # flow -> last USER
        # flow -> the user of its MySQL HandshakeResponse, for a later switch to clear text
        self.mysql_users: OrderedDict[int, bytes] = OrderedDict()
        self.greeting: OrderedDict[int, str] = OrderedDict()       # flow -> ftp / pop3
        self.telnet: OrderedDict[int, _Telnet] = OrderedDict()
        self.sessions: OrderedDict[int, _Session] = OrderedDict()  # logins in several messages
        self.evicted = 0

    def metric_families(self):
        from prometheus_client.core import CounterMetricFamily
        yield from super().metric_families()
        yield CounterMetricFamily("ybsensor_credential_states_evicted", "Flows whose login state "
                                  "(user name, greeting, Telnet or multi-message login) the "
                                  "credentials detector forgot to stay within its bound",
                                  value=self.evicted)

    def _remember(self, table: OrderedDict, key, value) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > REMEMBER:
            table.popitem(last=False)
            self.evicted += 1

    def detect(self, ctx) -> list[Finding]:
        view = self.engine.view(ctx)
        reg = view.regions
        n = len(reg)
        if not n:
            return []
        t = ctx.t
        rows = reg.row
        word = reg.first_words()
        space_after_4 = ((word >> np.uint64(32)) & np.uint64(0xFF)) == 0x20
        starts_cmd = (reg.length >= 5) & space_after_4 & (
            opens_with(word, b"USER", fold=True) | opens_with(word, b"PASS", fold=True))
        redis_inline = opens_with(word, b"AUTH ", fold=True) | opens_with(word, b"HELLO ", fold=True)
        # servers' greetings tell FTP (220) from POP3 (+OK) on ports that do not
        greet_ftp = (reg.length >= 4) & opens_with(word, b"220 ")
        greet_pop = (reg.length >= 3) & opens_with(word, b"+OK")
        greet_imap = (reg.length >= 4) & opens_with(word, b"* OK")
        mine = np.isin(view.lit_id, self.lit_ids)
        edge = np.isin(view.edge_lit_id, self.lit_ids)
        lit = np.zeros(n, dtype=bool)
        lit[view.lit_entry[mine]] = True
        lit[view.edge_lit_owner[edge]] = True
        # binary logins by their first byte, then the shape of their first 8 bytes
        binary = np.flatnonzero(np.isin(word & np.uint64(0xFF), BINARY_FIRST))
        # the few regions any of these picked: their transport and direction
        picked = np.union1d(np.flatnonzero(starts_cmd | redis_inline | lit | greet_ftp | greet_pop
                                           | greet_imap), binary)
        tcp, udp, client = (np.zeros(n, dtype=bool) for _ in range(3))
        proto = t.proto[rows[picked]]
        tcp[picked], udp[picked] = proto == TCP, proto == UDP
        client[picked] = toward_server(t, rows[picked], SERVER_PORTS, ctx.from_client)
        redis_inline[picked] &= port_in(t, rows[picked], REDIS_PORTS)
        keys = ctx.flow_keys
        # a MySQL HandshakeResponse41 (sequence 1, CLIENT_PROTOCOL_41) names the user a later
        # AuthSwitch to clear text logs in, perhaps in a later batch
        handshake = ((reg.length >= 36) & (_byte(word, 3) == 1) & (_byte(word, 5) & 2 != 0)
                     & (t.dport[rows] == MYSQL_PORT) & (t.proto[rows] == TCP))
        for i in np.flatnonzero(handshake).tolist():
            got = wire.mysql_handshake_response(reg.bytes(i) + reg.after(i, AFTER)[0])
            if got is not None and got[0]:
                self._remember(self.mysql_users, int(keys[int(rows[i])]), got[0])
        for i in np.flatnonzero(tcp & ~client & (greet_ftp | greet_pop | greet_imap)).tolist():
            hint = "ftp" if greet_ftp[i] else "pop3" if greet_pop[i] else "imap"
            self._remember(self.greeting, int(keys[int(rows[i])]), hint)
        telnet = (t.proto[rows] == TCP) & ((t.sport[rows] == TELNET) | (t.dport[rows] == TELNET))
        cand = np.flatnonzero(((starts_cmd | redis_inline & tcp | lit) & client | lit & ~client)
                              & ~telnet)
        found: dict[int, list] = {}          # flow -> [(protocol, method, user, rows, kind)]
        for i in cand.tolist():
            if client[i]:
                self._parse(ctx, reg, i, found)
            elif lit[i] and wire.MYSQL_CLEAR in reg.bytes(i):      # an AuthSwitch to it
                fk = int(keys[int(rows[i])])
                self._remember(self.sessions, fk, _Session("mysql", self.mysql_users.get(fk)))
        # a BindRequest, a Login7, a startup message or an SNMP request says itself that a
        # client sent it (an LDAP server may listen on any port)
        if binary.size:
            ldap, snmp, tds, pg_startup, pg_request, socks = _shapes(word[binary],
                                                                     reg.length[binary])
            btcp, budp = tcp[binary], udp[binary]
            # a SOCKS5 greeting offering a password: the proxy's choice and the client's
            # request follow (`_follow`)
            for k in np.flatnonzero(btcp & socks & client[binary]).tolist():
                fk = int(keys[int(rows[binary[k]])])
                if fk not in self.sessions and wire.socks5_offers_password(reg.bytes(int(binary[k]))):
                    self._remember(self.sessions, fk, _Session("socks5"))
            for k in np.flatnonzero((ldap | tds) & btcp | snmp & budp).tolist():
                self._binary(ctx, reg, int(binary[k]), bool(snmp[k]), bool(tds[k]), found)
            for k in np.flatnonzero(btcp & (pg_startup | pg_request & ~client[binary])).tolist():
                fk = int(keys[int(rows[binary[k]])])
                if fk not in self.sessions:
                    self._remember(self.sessions, fk, _Session("postgresql"))
        if self.sessions:
            self._follow(ctx, reg, found)
        _consumed, pieces = self.engine.normalised(ctx, view)
        if pieces:
            self._decoded_headers(ctx, pieces, found)
        # telnet: both directions in the order they came
        tel = np.flatnonzero(telnet)
        if tel.size:
            for i in tel[np.argsort(rows[tel], kind="stable")].tolist():
                self._telnet(ctx, reg, i, found)
        if not found:
            return []
        return self._findings(found)

    def _protocol(self, ctx, row: int, default: str) -> str:
        t = ctx.t
        for port in (int(t.dport[row]), int(t.sport[row])):
            if port in PORT_PROTOCOL and PORT_PROTOCOL[port] != "http":
                return PORT_PROTOCOL[port]
        return self.greeting.get(int(ctx.flow_keys[row]), default)

    def _parse(self, ctx, reg, i: int, found: dict) -> None:
        row = int(reg.row[i])
        fk = int(ctx.flow_keys[row])
        before = reg.before(i, 64)
        region = reg.bytes(i)
        after = reg.after(i, AFTER)[0]
        text = before + region + after
        b0, b1 = len(before), len(before) + len(region)

        def add(protocol: str, method: str, user: bytes | None, kind: str = "password") -> None:
            found.setdefault(fk, []).append((protocol, method, user, [row], kind))

        protocol = self._protocol(ctx, row, "")
        for m in USER_PASS_RX.finditer(text):
            if not b0 <= m.start() < b1 or protocol not in ("ftp", "pop3"):
                continue
            verb, value = m.group(1).upper(), m.group(2).strip()
            if verb == b"USER":
                self._remember(self.users, fk, value)
            elif value:
                user = self.users.get(fk)
                if user is not None and user.lower() in ANONYMOUS:
                    continue
                add(protocol, "user_pass", user)
        for m in IMAP_LOGIN_RX.finditer(text):
            if b0 <= m.start() < b1 and m.group(2) and protocol == "imap":
                add("imap", "login", _unquote(m.group(1)))
        self._http_fields(text, b0, b1, lambda method, user, kind, start, end:
                          add("http", method, user, kind))
        for m in AUTH_PLAIN_RX.finditer(text):
            if b0 <= m.start() < b1:
                parts = (_b64(m.group(1)) or b"").split(b"\x00")
                user = parts[1] if len(parts) >= 3 else None
                add(self._protocol(ctx, row, "smtp"), "auth_plain", user)
        for m in SASL_START_RX.finditer(text):
            if b0 <= m.start() < b1 and fk not in self.sessions:
                self._remember(self.sessions, fk, _Session("sasl"))
        for m in FORM_PASS_RX.finditer(text):
            if b0 <= m.start() < b1 and _value(m):
                um = FORM_USER_RX.search(text)
                add("http", "form", _value(um) if um else None)
                break
        redis = protocol == "redis"
        if redis or b"*" in region[:1] or b"\r\n$" in region:
            for login in wire.redis_logins(region, inline=redis):
                add("redis", "auth", login.user)
        if wire.MYSQL_CLEAR in text:
            self._mysql(ctx, row, region, found)

    @staticmethod
    def _http_fields(text: bytes, b0: int, b1: int, add) -> None:
        """HTTP's header fields that carry a secret (Basic, Bearer, an API key header) and
        API keys in a request's query, starting in text[b0:b1]: add(method, user, kind,
        start, end) for each."""
        for m in BASIC_RX.finditer(text):
            if b0 <= m.start() < b1:
                raw = _b64(m.group(1)) or b""
                user, sep, _password = raw.partition(b":")
                add("basic", user if sep else None, "password", m.start(), m.end())
        for rx, method in ((BEARER_RX, "bearer"), (API_KEY_HEADER_RX, "api_key_header")):
            for m in rx.finditer(text):
                if b0 <= m.start() < b1:
                    add(method, None, "token", m.start(), m.end())
        for m in REQUEST_QUERY_RX.finditer(text):
            if b0 <= m.end() and m.start() < b1 and any(
                    n.lower() in API_KEY_NAMES and v for n, _, v in
                    (p.partition(b"=") for p in m.group(1).split(b"&"))):
                add("query_key", None, "token", m.start(), m.end())

    def _decoded_headers(self, ctx, pieces, found: dict) -> None:
        """The header fields of cleartext HTTP/2 (normalise: HPACK-decoded, so a Huffman-
        coded `authorization` is read), a client's only; each placed at the packet that
        completes it."""
        t = ctx.t
        for piece in pieces:
            if not any("hpack" in mark[4] for mark in piece.marks):
                continue                # no decoded header block: HTTP/1's were read raw

            def add(method, user, kind, start, end):
                row, _offset, labels = piece.completing(start, end)
                if row >= 0 and "hpack" in labels and toward_server(
                        t, np.array([row]), SERVER_PORTS, ctx.from_client)[0]:
                    found.setdefault(piece.flow, []).append(("http", method, user, [row], kind))

            self._http_fields(piece.text, piece.lo, piece.hi, add)

    def _binary(self, ctx, reg, i: int, snmp: bool, tds: bool, found: dict) -> None:
        """The LDAP binds, the SNMP community or the TDS Login7 of a region that has their
        shape."""
        row = int(reg.row[i])
        fk = int(ctx.flow_keys[row])
        region = reg.bytes(i)
        data = region + reg.after(i, 4096)[0]       # a message's rest in later segments
        events = found.setdefault(fk, [])
        if snmp:
            got = wire.snmp_community(data)
            if got is not None and got[2] != wire.SNMP_RESPONSE:
                community = data[got[1][0]:got[1][1]]
                if community in DEFAULT_COMMUNITIES:
                    events.append(("snmp", "default_community", community, [row], "default"))
                elif community:
                    events.append(("snmp", "community", None, [row], "password"))
        elif tds:
            login = wire.tds_login7(data)
            if login is not None and login.secret is not None:
                events.append(("tds", "login7", login.user, [row], "obfuscated"))
        else:
            for login in wire.ldap_binds(data, len(region)):
                events.append(("ldap", "simple_bind", login.user, [row], "password"))
        if not events:
            del found[fk]

    def _mysql(self, ctx, row: int, data: bytes, found: dict) -> None:
        fk = int(ctx.flow_keys[row])
        got = wire.mysql_handshake_response(data)
        if got is None:
            return
        user, secret, plugin = got
        if plugin == wire.MYSQL_CLEAR and secret is not None and data[secret[0]:secret[1]].strip(b"\x00"):
            found.setdefault(fk, []).append(("mysql", "clear_password", user, [row], "password"))

    def _follow(self, ctx, reg, found: dict) -> None:
        """Logins that take several messages: the regions of the flows followed, both
        directions in the order they came."""
        rows = reg.row
        keys = ctx.flow_keys[rows]
        followed = np.fromiter(self.sessions.keys(), dtype=np.uint64, count=len(self.sessions))
        sel = np.flatnonzero(np.isin(keys, followed) & (ctx.t.proto[rows] == TCP))
        sel = sel[np.argsort(rows[sel], kind="stable")]
        client = np.zeros(len(rows), dtype=bool)
        client[sel] = toward_server(ctx.t, rows[sel], SERVER_PORTS, ctx.from_client)
        for i in sel.tolist():
            fk = int(keys[i])
            session = self.sessions.get(fk)
            if session is None:
                continue
            row = int(rows[i])
            data = reg.bytes(i)
            step = {"sasl": self._sasl, "postgresql": self._postgresql, "mysql": self._mysql_step,
                    "socks5": self._socks5}
            event = step[session.kind](session, data, bool(client[i]))
            if event is not None:
                protocol, method, user = event
                if protocol is None:
                    protocol = self._protocol(ctx, row, "smtp")
                found.setdefault(fk, []).append((protocol, method, user, [row], "password"))
            if session.phase == "done":
                self.sessions.pop(fk, None)

    @staticmethod
    def _sasl(s: _Session, data: bytes, client: bool):
        if not client:
            if s.phase.startswith("await_"):
                s.phase = s.phase[6:] if data.startswith(CONTINUATION) else ""
            return None
        if s.phase in ("user", "pass", "plain"):
            line = data.split(b"\n", 1)[0].strip()
            phase, s.phase = s.phase, ""
            if not line or line == b"*" or _b64(line) is None:
                return None
            if phase == "user":
                s.user, s.phase = _b64(line), "await_pass"
                return None
            s.phase = "done"
            if phase == "pass":
                return None, "auth_login", s.user
            parts = _b64(line).split(b"\x00")
            return None, "auth_plain", parts[1] if len(parts) >= 3 else None
        m = SASL_START_RX.search(data)
        if m is not None:
            mech, initial = m.group(1).upper(), m.group(2)
            if mech == b"LOGIN":
                s.user = _b64(initial) if initial else None
                s.phase = "await_pass" if initial else "await_user"
            elif not initial:
                s.phase = "await_plain"
        return None

    @staticmethod
    def _socks5(s: _Session, data: bytes, client: bool):
        """The server's choice of method (`05 02`: username/password), then the client's
        RFC 1929 request."""
        if not client:
            if len(data) == 2 and data[0] == wire.SOCKS5:
                s.phase = "pass" if data[1] == wire.SOCKS_USER_PASS else "done"
            return None
        if s.phase != "pass":
            return None
        s.phase = "done"
        login = wire.socks5_login(data)
        return None if login is None else ("socks", "user_pass", login.user)

    @staticmethod
    def _postgresql(s: _Session, data: bytes, client: bool):
        if not client:
            if data.startswith(wire.PG_CLEARTEXT):
                s.phase = "pass"
            elif data[:1] == b"R" and s.phase == "pass":
                s.phase = "done"
            elif data[:1] in (b"R", b"E"):         # another method, or an error
                s.phase = "done"
            return None
        user = wire.pg_startup_user(data)
        if user is not None:
            s.user = user
        elif s.phase == "pass" and wire.pg_password(data) is not None:
            s.phase = "done"
            return "postgresql", "cleartext_password", s.user
        return None

    @staticmethod
    def _mysql_step(s: _Session, data: bytes, client: bool):
        if not client:
            plugin = wire.mysql_auth_switch(data)
            if plugin is not None:
                s.phase = "pass" if plugin == wire.MYSQL_CLEAR else "done"
            return None
        if s.phase == "pass":
            s.phase = "done"
            if wire.mysql_switch_answer(data) is not None:
                return "mysql", "clear_password", s.user
            return None
        response = wire.mysql_handshake_response(data)
        if response is not None:
            s.user = response[0]
        return None

    def _telnet(self, ctx, reg, i: int, found: dict) -> None:
        t = ctx.t
        row = int(reg.row[i])
        fk = int(ctx.flow_keys[row])
        st = self.telnet.get(fk)
        if st is None:
            st = _Telnet()
            self._remember(self.telnet, fk, st)
        data = strip_telnet(reg.bytes(i))
        if int(t.sport[row]) == TELNET:                      # the server speaks
            text = data.rstrip(b"\x00")
            if TELNET_PASS_RX.search(text):
                st.phase, st.typed = "password", 0
            elif TELNET_LOGIN_RX.search(text):
                st.phase, st.user = "user", b""
            return
        if st.phase == "user":
            for c in data:
                if c in (13, 10):
                    st.phase = "sent_user" if st.user else "user"
                    break
                if c >= 32:
                    st.user += bytes((c,))
        elif st.phase == "password":
            for c in data:
                if c in (13, 10):
                    if st.typed:
                        found.setdefault(fk, []).append(("telnet", "login", st.user or None,
                                                         [row], "password"))
                    st.phase, st.typed = "", 0
                    break
                if c >= 32:
                    st.typed += 1

    def _findings(self, found: dict[int, list]) -> list[Finding]:
        """One finding per reason: its rows those that carry the secrets."""
        out = []
        for reason in dict.fromkeys(v[0] for v in KINDS.values()):
            by_row: dict[int, tuple] = {}
            for events in found.values():
                mine = [e for e in events if KINDS[e[4]][0] == reason]
                for event in mine:
                    for r in event[3]:
                        by_row.setdefault(r, (event, mine))
            if by_row:
                severity = next(v[1] for v in KINDS.values() if v[0] == reason)
                out.append(Finding(rows=np.array(sorted(by_row), dtype=np.int64), severity=severity,
                                   reason=reason, explain=self._explainer(by_row)))
        return out

    def _explainer(self, by_row: dict):
        def explain(row: int) -> dict:
            (protocol, method, user, _rows, kind), events = by_row[row]
            _reason, _severity, field, said = KINDS[kind]
            if kind == "default":
                return {"protocol": protocol, "method": method, "credentials": len(events),
                        field: user.decode("ascii")}
            users = list(dict.fromkeys(e[2] for e in events if e[2]))
            ev = {"protocol": protocol, "method": method, "credentials": len(events),
                  "user": mask_user(user), field: said}
            if user:
                ev["user_hash"] = keyed_hash(self.key, "user", user.decode("utf-8", "replace"))
            if len(users) > 1:
                ev["users"] = [mask_user(u) for u in users[:10]]
            return ev
        return explain
