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
  and the line typed after it.

The password never leaves the sensor: not in alerts, logs or metrics, not even hashed or as
a length. The user name is shown as its first character and `***` (`a***`), with a keyed
hash (HMAC-SHA256 with the key of `plaintext_pii`, first 128 bits) so that an analyst can
tell that two alerts concern the same account. Severity high; one alert per flow per dedup
window; the violating packets are the ones that carry the password.
"""
from __future__ import annotations

import base64
import binascii
import re
from collections import OrderedDict

import numpy as np

from .base import Detector, Finding
from .content import opens_with
from .pii_mask import mask_text
from .plaintext_pii import hash_key, keyed_hash
from .streams import Engine

TCP = 6
TELNET = 23
REMEMBER = 65536                  # flows whose user name / telnet state / greeting is kept
AFTER = 512                       # stream bytes read past a region (a long header line)
ANONYMOUS = (b"anonymous", b"ftp")
PORT_PROTOCOL = {21: "ftp", 2121: "ftp", 110: "pop3", 143: "imap", 25: "smtp", 587: "smtp",
                 80: "http", 8080: "http"}

LITERALS = [b": basic ", b" login ", b"password", b"passwd", b"pwd=", b'pwd"', b"<pwd>",
            b"\npass ", b"\nuser ", b"auth plain "]

USER_PASS_RX = re.compile(rb"(?im)^(USER|PASS)[ \t]+([^\r\n]*)")
IMAP_LOGIN_RX = re.compile(
    rb'(?im)^[^\s"]+[ \t]+LOGIN[ \t]+("(?:[^"\\\r\n]|\\.)*"|\{\d+\+?\}|[^\s"]+)'
    rb'(?:[ \t]+("(?:[^"\\\r\n]|\\.)*"|\{\d+\+?\}|[^\s"]+))?')
BASIC_RX = re.compile(rb"(?im)^(?:proxy-)?authorization:[ \t]*basic[ \t]+([A-Za-z0-9+/=_-]+)")
AUTH_PLAIN_RX = re.compile(rb"(?im)^(?:[^\s]+[ \t]+)?(?:AUTH|AUTHENTICATE)[ \t]+PLAIN[ \t]+([A-Za-z0-9+/=]+)")
_PASS_NAMES = rb"(?:password|passwd|passwrd|pass_word|pwd|user_?pwd|login_?pwd|userpassword)"
_USER_NAMES = (rb"(?:username|user_?name|user|account|login_?name|login_?id|user_?id|usercode|"
               rb"user_code)")


def _field_rx(names: bytes) -> re.Pattern:
    """A field and its value, as a login sends it: `name=value` in a form or query string,
    `"name": "value"` in JSON, `<name>value</name>` in XML (not `name = expr` in a script)."""
    return re.compile(rb'(?:(?:^|(?<=[?&]))' + names + rb'=([^&\s"<>]+)'
                      rb'|"' + names + rb'"\s*:\s*"((?:[^"\\\r\n]|\\.)+)"'
                      rb'|<' + names + rb'>([^<]+)</)', re.IGNORECASE | re.MULTILINE)


FORM_PASS_RX = _field_rx(_PASS_NAMES)
FORM_USER_RX = _field_rx(_USER_NAMES)


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
    __slots__ = ("phase", "user", "typed", "rows")

    def __init__(self):
        self.phase, self.user, self.typed, self.rows = "", b"", 0, []


class CleartextCredentials(Detector):
    name = "cleartext_credentials"
    rule = "JL art.30"

    def __init__(self, config, plan):
        super().__init__(config, plan)
        self.engine = Engine.shared(self)
        if self.engine.publisher is None:
            self.engine.publisher = self
        self.lit_ids = self.engine.register(LITERALS)
        self._key: bytes | None = None
        self.users: OrderedDict[int, bytes] = OrderedDict()        # flow -> last USER
        self.greeting: OrderedDict[int, str] = OrderedDict()       # flow -> ftp / pop3
        self.telnet: OrderedDict[int, _Telnet] = OrderedDict()

    @property
    def key(self) -> bytes:
        if self._key is None:
            pii = self.config.detectors.get("plaintext_pii", {}) if self.config else {}
            self._key = hash_key(self.config, {**pii, **self.settings})
        return self._key

    def metric_families(self):
        if self.engine.publisher is self:
            yield from self.engine.metric_families()

    @staticmethod
    def _remember(table: OrderedDict, key, value) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > REMEMBER:
            table.popitem(last=False)

    def detect(self, ctx) -> list[Finding]:
        view = self.engine.view(ctx)
        reg = view.regions
        if not len(reg):
            return []
        t = ctx.t
        rows = reg.row
        tcp = reg.sid >= 0
        word = reg.first_words()
        space_after_4 = ((word >> np.uint64(32)) & np.uint64(0xFF)) == 0x20
        starts_cmd = (reg.length >= 5) & space_after_4 & (
            opens_with(word, b"USER", fold=True) | opens_with(word, b"PASS", fold=True))
        # servers' greetings tell FTP (220) from POP3 (+OK) on ports that do not
        greet_ftp = (reg.length >= 4) & opens_with(word, b"220 ")
        greet_pop = (reg.length >= 3) & opens_with(word, b"+OK")
        greet_imap = (reg.length >= 4) & opens_with(word, b"* OK")
        keys = ctx.flow_keys
        for i in np.flatnonzero(tcp & (greet_ftp | greet_pop | greet_imap)).tolist():
            hint = "ftp" if greet_ftp[i] else "pop3" if greet_pop[i] else "imap"
            self._remember(self.greeting, int(keys[int(rows[i])]), hint)
        telnet = tcp & ((t.sport[rows] == TELNET) | (t.dport[rows] == TELNET))
        mine = np.isin(view.lit_id, self.lit_ids)
        edge = np.isin(view.edge_lit_id, self.lit_ids)
        cand = np.unique(np.concatenate([np.flatnonzero(starts_cmd & ~telnet), view.lit_entry[mine],
                                         view.edge_lit_owner[edge]]))
        cand = cand[~telnet[cand]]
        found: dict[int, list] = {}          # flow -> [(protocol, method, user, rows)]
        for i in cand.tolist():
            self._parse(ctx, reg, i, found)
        # telnet: both directions in the order they came
        tel = np.flatnonzero(telnet)
        if tel.size:
            for i in tel[np.argsort(rows[tel], kind="stable")].tolist():
                self._telnet(ctx, reg, i, found)
        if not found:
            return []
        return self._finding(found)

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

        def add(protocol: str, method: str, user: bytes | None) -> None:
            found.setdefault(fk, []).append((protocol, method, user, [row]))

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
        for m in BASIC_RX.finditer(text):
            if b0 <= m.start() < b1:
                raw = _b64(m.group(1)) or b""
                user, sep, _password = raw.partition(b":")
                add("http", "basic", user if sep else None)
        for m in AUTH_PLAIN_RX.finditer(text):
            if b0 <= m.start() < b1:
                parts = (_b64(m.group(1)) or b"").split(b"\x00")
                user = parts[1] if len(parts) >= 3 else None
                add(self._protocol(ctx, row, "smtp"), "auth_plain", user)
        for m in FORM_PASS_RX.finditer(text):
            if b0 <= m.start() < b1 and _value(m):
                um = FORM_USER_RX.search(text)
                add("http", "form", _value(um) if um else None)
                break

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
                st.phase, st.typed, st.rows = "password", 0, []
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
            if data:
                st.rows.append(row)
            for c in data:
                if c in (13, 10):
                    if st.typed:
                        found.setdefault(fk, []).append(("telnet", "login", st.user or None,
                                                         list(st.rows)))
                    st.phase, st.typed, st.rows = "", 0, []
                    break
                if c >= 32:
                    st.typed += 1

    def _finding(self, found: dict[int, list]) -> list[Finding]:
        by_row: dict[int, tuple] = {}
        for events in found.values():
            for event in events:
                for r in event[3]:
                    by_row.setdefault(r, (event, events))

        def explain(row: int) -> dict:
            (protocol, method, user, _rows), events = by_row[row]
            users = list(dict.fromkeys(e[2] for e in events if e[2]))
            ev = {"protocol": protocol, "method": method, "credentials": len(events),
                  "user": mask_user(user), "password": "sent in clear (not recorded)"}
            if user:
                ev["user_hash"] = keyed_hash(self.key, "user", user.decode("utf-8", "replace"))
            if len(users) > 1:
                ev["users"] = [mask_user(u) for u in users[:10]]
            return ev

        return [Finding(rows=np.array(sorted(by_row), dtype=np.int64), severity="high",
                        reason="cleartext_password", explain=explain)]
