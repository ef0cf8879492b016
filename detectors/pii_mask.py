"""Personal identifiers in bytes: the rules that recognise them, and their masked forms.

One module holds the rules, so that the detector (`plaintext_pii`), the masking of every
output (alerts, evidence files) and the tests agree on what an identifier is (JL art.32, 33):

- **resident ID** (GB 11643-1999): 17 digits and a check character (a digit or `X`/`x`), not
  inside a longer digit run; the first two digits a province code that exists, digits 7-14 a
  real birth date between 1900-01-01 and today, and the ISO 7064 MOD 11-2 check character
  right. Digits that fail any of these are not an ID.
- **bank card**: a run of exactly 16-19 digits passing the Luhn check (not all one digit, so
  that padding such as `0000000000000000` is not a card). An 18-digit run that is a valid
  resident ID is an ID, not a card. For detection (`strict=True`) the first digit must also
  be one that ISO/IEC 7812 gives to card issuers — 3 (JCB, Amex), 4, 5, 6 (UnionPay 62) or
  9 (older domestic cards) — since one 16-19 digit number in ten passes Luhn by chance and
  JSON APIs are full of 18-19 digit record ids (snowflake ids start with 1). Masking
  (`mask_payload`, `mask_text`) does not ask this: it masks every Luhn-valid run, so what
  is masked is a superset of what is detected.
- **mobile**: a run of exactly 11 digits starting `13`-`19`; or `+86` followed by such a run
  (`+8613812345678`: a 13-digit run, but the `+86` says what it is).

"Not inside a longer digit run" means the byte before and the byte after are not ASCII digits.
Digits are ASCII in UTF-8, GBK and GB18030 alike, so the rules read raw bytes. Identifiers
written in UTF-16, full-width digits, JSON escapes, percent-encoded digits, digit groups
or base64 inside text (`normalise.Readable`) are masked in place too, the characters the
masked form hides each replaced by `*` byte for byte (a group's separators kept:
`138 **** 8000`).

Masked forms keep the characters that identify no one: an ID keeps its region code and its
last four (`220102********123X`), a card its issuer number and last four
(`622848*********1234`), a mobile its network prefix and last four (`138****5678`).
`mask_payload` returns bytes of the same length with every identifier masked in place.

Passwords (JL art.30) are masked too, whole (`mask_credentials`, which `mask_payload` also
applies): the argument of FTP/POP3 `PASS`, the password of IMAP `LOGIN`, the base64 of HTTP
`Authorization: Basic` and of `AUTH PLAIN`, the value of a password field in a form,
query string, JSON or XML, HTTP `Authorization: Bearer` and `X-API-Key` values, API keys and
tokens in query strings, Redis `AUTH` / `HELLO ... AUTH` passwords; and in a payload that
begins with the message: an LDAP simple bind's password, an SNMP community, a TDS Login7's
(obfuscated) password, a PostgreSQL PasswordMessage, a MySQL HandshakeResponse's auth data
for `mysql_clear_password` (layouts in `credential_wire`). A password typed a key a packet
(Telnet), or sent on a line of its own (`AUTH LOGIN`, a MySQL AuthSwitch answer), cannot
be told from one packet: whoever writes packets of a `cleartext_credentials` flow must
leave them out.
"""
from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from . import credential_wire as wire
from .normalise import (BASE64_RUN, DIGIT_CLASSES, DIGIT_GROUPS, DIGIT_QUAD, GROUP_SEPARATORS,
                        GROUPS_HINT, PERCENT_DIGIT, Readable, base64_digits)

RESIDENT_ID, BANK_CARD, MOBILE = "resident_id", "bank_card", "mobile"
KINDS = (RESIDENT_ID, BANK_CARD, MOBILE)

# ISO 7064 MOD 11-2 weights, 2^(17-i) mod 11, and the check character per sum mod 11
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = b"10X98765432"
# GB/T 2260 province-level codes (the first two digits of every region code)
PROVINCES = frozenset((11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37,
                       41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65,
                       71, 81, 82))
# how many leading / trailing characters each kind keeps visible when masked
KEEP = {RESIDENT_ID: (6, 4), BANK_CARD: (6, 4), MOBILE: (3, 4)}
# `mask_payload(edges=True)`: how many characters a digit run cut by a segment's edge keeps
# visible — at the start its last EDGE_HEAD, at the end its first EDGE_TAIL
EDGE_HEAD, EDGE_TAIL = 4, 6

# maximal runs of ASCII digits, each with an optional check character `X` after it
_RUN = re.compile(rb"[0-9]+[Xx]?")
_STAR = 0x2A


class Identifier(NamedTuple):
    kind: str
    start: int      # offset of the identifier's first character in the searched bytes
    end: int        # one past its last character
    value: bytes    # the identifier itself (never to be written anywhere)

    @property
    def masked(self) -> str:
        return mask_value(self.kind, self.value.decode("ascii"))


def resident_id_valid(s: bytes) -> bool:
    """Whether 18 bytes are a resident ID number by the rule above."""
    if len(s) != 18 or not s[:17].isdigit():
        return False
    check = s[17:18].upper()
    if not (check.isdigit() or check == b"X"):
        return False
    if int(s[:2]) not in PROVINCES:
        return False
    try:
        born = datetime.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    if born.year < 1900 or born > datetime.date.today():
        return False
    total = sum((c - 48) * w for c, w in zip(s[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == check[0]


def luhn_valid(s: bytes) -> bool:
    total = 0
    for i, c in enumerate(reversed(s)):
        d = c - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


CARD_ISSUER_DIGITS = b"34569"


def bank_card_valid(s: bytes, strict: bool = True) -> bool:
    return 16 <= len(s) <= 19 and s.isdigit() and s.count(s[:1]) != len(s) and \
        (not strict or s[0] in CARD_ISSUER_DIGITS) and luhn_valid(s)


def mobile_valid(s: bytes) -> bool:
    return len(s) == 11 and s[:1] == b"1" and 0x33 <= s[1] <= 0x39 and s.isdigit()


def classify_run(data: bytes, start: int, end: int, strict: bool = True) -> Identifier | None:
    """The identifier that the maximal digit run data[start:end] is (which may end with a
    check character `X`), or None."""
    run = data[start:end]
    n = len(run)
    if n == 18 and resident_id_valid(run):
        return Identifier(RESIDENT_ID, start, end, run)
    if run[-1:] in (b"X", b"x"):         # digits then an X that makes no ID: the digits alone
        run, end, n = run[:-1], end - 1, n - 1
    if 16 <= n <= 19:
        if bank_card_valid(run, strict):
            return Identifier(BANK_CARD, start, end, run)
    elif n == 11:
        if mobile_valid(run):
            return Identifier(MOBILE, start, end, run)
    elif n == 13 and run[:2] == b"86" and start > 0 and data[start - 1] == 0x2B \
            and mobile_valid(run[2:]):      # +86 13812345678
        return Identifier(MOBILE, start + 2, end, run[2:])
    return None


def find_identifiers(data: bytes, lo: int = 0, hi: int | None = None,
                     strict: bool = True) -> Iterator[Identifier]:
    """Every identifier whose digit run starts in data[lo:hi] (runs are maximal over all of
    `data`: a run that starts before `lo` is not seen from inside it). `strict=False`
    takes every Luhn-valid 16-19 digit run for a card (masking)."""
    hi = len(data) if hi is None else hi
    if lo > 0 and data[lo - 1:lo].isdigit():     # begin at the next run boundary
        while lo < hi and data[lo:lo + 1].isdigit():
            lo += 1
    for m in _RUN.finditer(data, lo, len(data)):
        start = m.start()
        if start >= hi:
            break
        end = m.end()
        if end - start >= 11:
            found = classify_run(data, start, end, strict)
            if found is not None:
                yield found


# 11 digits in a row in a wide form (UTF-16LE/BE, full-width in UTF-8 and GBK, JSON escapes):
# bytes as classes (normalise.DIGIT_CLASSES) for UTF-16, an expression with a literal start
# for the others (alternatives without one make Python's `re` try every byte)
_WIDE_RUNS = ((b"\xef\xbc", re.compile(rb"\xef\xbc[\x90-\x99](?:\xef\xbc[\x90-\x99]){10}")),
              (b"\xa3", re.compile(rb"\xa3[\xb0-\xb9](?:\xa3[\xb0-\xb9]){10}")),
              (b"\\u003", re.compile(rb"\\u003[0-9](?:\\u003[0-9]){10}")))


def long_digit_run(data: bytes) -> bool:
    """Whether `data` holds a run of 11 ASCII digits (what an identifier needs): the bytes as
    classes and one substring search, some twenty times as fast as the expression
    `[0-9]{11}`, which Python's `re` tries at every digit."""
    return b"d" * 11 in data.translate(DIGIT_CLASSES)


_WIDE_RUN = re.compile(b"|".join(rx.pattern for _, rx in _WIDE_RUNS))   # any of them
# bytes up to which one search for any of several patterns beats a test for each (whose
# literal start a substring test finds fast in a long payload)
SHORT = 256


def wide_digit_run(data: bytes) -> bool:
    """Whether `data` holds a run of 11 digits in a wide form (what an identifier there
    needs): the quick test before `normalise.Readable`. Percent-encoded digits count with
    plain ones beside them (`22%30%31...`: a server decodes the mix whole); digits in the
    groups of a card, an ID or a mobile number (`138 0013 8000`) count as one run; so do
    digits in base64 inside text (three quads of them, whatever the rest decodes to)."""
    if b"%3" in data and PERCENT_DIGIT.search(data) \
            and long_digit_run(PERCENT_DIGIT.sub(rb"\1", data)):
        return True
    classes = data.translate(DIGIT_CLASSES)
    if GROUPS_HINT in classes and DIGIT_GROUPS.search(data) or base64_digits(data):
        return True
    if b"0d" * 11 in classes or b"d0" * 11 in classes:
        return True
    if len(data) <= SHORT:
        return _WIDE_RUN.search(data) is not None
    return any(lead in data and rx.search(data) for lead, rx in _WIDE_RUNS)


def _run_from(data: bytes, i: int, step: int) -> int:
    """Length of the run of digits (and check characters X) at data[i], read towards `step`,
    a separator that digit groups hold (`138 0013 8000`) counted in it where a digit follows."""
    n, k = len(data), 0
    while 0 <= i < n and (48 <= data[i] <= 57 or data[i] in (0x58, 0x78)
                          or (data[i] in GROUP_SEPARATORS and 0 <= i + step < n
                              and 48 <= data[i + step] <= 57)):
        i += step
        k += 1
    return k


def _base64_digits_at_edges(data: bytes) -> list[tuple[int, int]]:
    """Where base64 of digits touches either end of `data`: a chain of quads of three digits
    beginning in its first four characters, or ending in its last four, with only base64
    between it and that end (the quad it is cut from began or ends in the segment next to
    it, which may hold the rest of an encoded identifier). Each span runs from the end to
    the chain's far side and the partial quad beyond it: `mask_payload(edges=True)` masks
    it whole."""
    n, spans = len(data), []
    for k in range(min(4, n - 3)):                 # from the start
        if DIGIT_QUAD.match(data, k) and BASE64_RUN.match(data, 0, k).end() == k:
            e = k
            while DIGIT_QUAD.match(data, e):
                e += 4
            spans.append((0, BASE64_RUN.match(data, e, e + 3).end()))
            break
    for k in range(min(4, n - 3)):                 # to the end
        s = n - 4 - k
        if DIGIT_QUAD.match(data, s) and BASE64_RUN.match(data, s + 4).end() == n:
            while s >= 4 and DIGIT_QUAD.match(data, s - 4):
                s -= 4
            p = s
            while p > max(s - 3, 0) and BASE64_RUN.match(data, p - 1, p).end() == p:
                p -= 1
            spans.append((p, n))
            break
    return spans


def base64_digits_at_edges(data: bytes) -> bool:
    """Whether `data` begins or ends with base64 of digits (`_base64_digits_at_edges`)."""
    return bool(_base64_digits_at_edges(data))


def mask_value(kind: str, value: str) -> str:
    """The masked form of one identifier: `220102********123X`, `138****5678`."""
    first, last = KEEP[kind]
    return value[:first] + "*" * (len(value) - first - last) + value[-last:]


def mask_payload(data: bytes, edges: bool = False, credentials: bool = True) -> bytes:
    """`data` with every resident ID, bank card and mobile number masked in place: the same
    length, only the masked form's visible characters kept, the rest `*`.

    With `edges=True`, digit runs that touch either end of `data` — possibly pieces of an
    identifier that a TCP segment boundary cut — are masked too: a run at the end keeps at
    most its first 6 characters, one at the start its last 4, one touching both nothing.
    Written packet by packet (an evidence pcap), consecutive segments then never join into
    a whole identifier. Passwords are masked too (`mask_credentials`) unless
    `credentials=False`."""
    data = mask_credentials(data) if credentials else bytes(data)
    out = None
    for found in find_identifiers(data, strict=False):
        if out is None:
            out = bytearray(data)
        first, last = KEEP[found.kind]
        out[found.start + first: found.end - last] = bytes([_STAR]) * (
            found.end - found.start - first - last)
    wide = Readable(data) if wide_digit_run(data) else None
    for found in find_identifiers(wide.text, strict=False) if wide and wide.spans else ():
        labels = wide.labels(found.start, found.end)
        if not labels:
            continue                 # ASCII as it travelled: masked above
        out = bytearray(data) if out is None else out
        first, last = KEEP[found.kind]
        # UTF-16's NULs stay, and digit groups' separators: the text stays readable
        keep = b"\x00" + (GROUP_SEPARATORS if "digit-groups" in labels else b"")
        for p in range(wide.origin(found.start + first), wide.origin(found.end - last)):
            if out[p] not in keep:
                out[p] = _STAR
    if edges and data:
        for a, b in _base64_digits_at_edges(data):
            out = bytearray(data) if out is None else out
            out[a:b] = b"*" * (b - a)
        n = len(data)
        head = _run_from(data, 0, 1)
        tail = _run_from(data, n - 1, -1)
        if head == n:                                   # all digits: keep nothing
            return b"*" * n
        if head > EDGE_HEAD or tail > EDGE_TAIL:
            out = bytearray(data) if out is None else out
            if head > EDGE_HEAD:
                out[:head - EDGE_HEAD] = b"*" * (head - EDGE_HEAD)
            if tail > EDGE_TAIL:
                out[n - tail + EDGE_TAIL:] = b"*" * (tail - EDGE_TAIL)
    return data if out is None else bytes(out)


# A login form's field names as frameworks write them: the word alone or after a word of
# its own (`userPwd`, `txtPassword`, Java EE's `j_password`), and after the names of what
# holds it, up to a separator (ASP.NET's `ctl00$Main$txtPassword`, `%24` encoded,
# `user[password]`, `login.password`); `mima` is 密码 in pinyin. A word merely holding one
# (`passport`, `bypass`, `compass`) is none.
_HOLDER = rb"(?:[\w.$\[\]%-]*?(?:[_.$\[-]|%24|%5b))?"
PASSWORD_NAMES = (_HOLDER + rb"(?:j_|txt|tb|user_?|login_?|admin_?|old_?|new_?|confirm_?|re_?)?"
                  rb"(?:password|passwd|passwrd|pass_word|pwd|pass|passcode|mima)\]?\d?")
USER_NAMES = (_HOLDER + rb"(?:j_|txt|tb)?(?:username|user_?name|user|account|login_?name|"
              rb"login_?id|login|user_?id|uid|usercode|user_code|e-?mail|yhm)\]?")


def field_patterns(names: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """A field named as `names` says and its value (the one group), in each form a login
    sends it: `name=value` in a form or query string, `"name": "value"` in JSON,
    `<name>value</name>` in XML (not `name = expr` in a script), and a multipart/form-data
    part (`Content-Disposition: form-data; name="name"`, its headers, a blank line, the
    value: what a page's FormData posts)."""
    return (rb"(?:^|(?<=[?&]))" + names + rb"=([^&\s\"<>]+)",
            rb'"' + names + rb'"\s*:\s*"((?:[^"\\\r\n]|\\.)+)"',
            rb"<" + names + rb">([^<]+)</",
            rb'form-data;[^\r\n]*?[ \t;]name="' + names + rb'"[^\r\n]*\r?\n'
            rb"(?:[^\r\n]+\r?\n)*?\r?\n([^\r\n]+)")


_CREDENTIALS = [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in (
    rb"^PASS[ \t]+([^\r\n]+)",
    rb'^[^\s"]+[ \t]+LOGIN[ \t]+(?:"(?:[^"\\\r\n]|\\.)*"|[^\s"]+)[ \t]+("(?:[^"\\\r\n]|\\.)*"|[^\s"]+)',
    rb"^(?:proxy-)?authorization:[ \t]*basic[ \t]+([A-Za-z0-9+/=_-]+)",
    rb"^(?:[^\s]+[ \t]+)?(?:AUTH|AUTHENTICATE)[ \t]+PLAIN[ \t]+([A-Za-z0-9+/=]+)",
    *field_patterns(PASSWORD_NAMES),
    rb"^(?:proxy-)?authorization:[ \t]*bearer[ \t]+([A-Za-z0-9._~+/=-]+)",
    rb"^x-api-key:[ \t]*([^\s]+)",
    (rb"(?:^|(?<=[?&]))(?:api_key|apikey|api-key|access_token|accesstoken|auth_token|token|"
     rb"app_?secret|client_secret|secret)=([^&\s\"<>#]+)"),
    (rb"^(?:AUTH|HELLO[ \t]+\S+[ \t]+AUTH)[ \t]+(?!(?:LOGIN|PLAIN|CRAM-MD5|DIGEST-MD5|NTLM|GSSAPI|"
     rb"XOAUTH2|OAUTHBEARER|EXTERNAL)\b)(?:\S+[ \t]+)?(\S+)[ \t]*\r?$"),
)]


# every pattern above holds one of these words: when none is there, none can match
# (a lowercased copy searched for them: ten times a case-blind regex's speed);
# lowercase ASCII letters, at least three (the evidence writer's pre-filter relies on it)
CREDENTIAL_WORDS = (b"pass", b"login", b"basic", b"plain", b"pwd", b"bearer", b"key", b"token",
                    b"secret", b"auth", b"mima")
_CREDENTIAL_WORD = re.compile(b"|".join(CREDENTIAL_WORDS))


def _credential_word(low: bytes) -> bool:
    """Whether `low` (lowercased) holds one of CREDENTIAL_WORDS."""
    if len(low) <= SHORT:
        return _CREDENTIAL_WORD.search(low) is not None
    return any(word in low for word in CREDENTIAL_WORDS)


def binary_credential_heads(first: np.ndarray) -> np.ndarray:
    """Mask of the payloads, given their first two bytes ((n, 2) uint8), that may begin with
    a binary message `mask_credentials` masks: a BER SEQUENCE; a TDS packet's type 0x10 and
    status (at most 0x0F); `p` and a PostgreSQL length's high byte (0); a SOCKS5 login's
    version 1 and a user's length."""
    b0, b1 = first[:, 0], first[:, 1]
    return (b0 == 0x30) | ((b0 == 0x10) & (b1 <= 0x0F)) | ((b0 == 0x70) & (b1 == 0)) \
        | ((b0 == wire.SOCKS_AUTH_VERSION) & (b1 >= 1))


def _binary_secrets(data: bytes) -> list[tuple[int, int]]:
    """The spans of the secrets of the binary message `data` begins with."""
    first = data[:1]
    if first == b"\x30":
        spans = [login.secret for login in wire.ldap_binds(data)]
        snmp = wire.snmp_community(data)
        return spans + ([snmp[1]] if snmp is not None else [])
    if first == b"\x10":
        login = wire.tds_login7(data)
        return [login.secret] if login is not None and login.secret else []
    if first == b"p":
        span = wire.pg_password(data)
        return [span] if span else []
    if first == b"\x01":
        login = wire.socks5_login(data)
        return [login.secret] if login is not None else []
    if wire.MYSQL_CLEAR in data:
        got = wire.mysql_handshake_response(data)
        return [got[1]] if got is not None and got[1] and got[2] == wire.MYSQL_CLEAR else []
    return []


# `binary_credential_heads` of every first two bytes (the second 0xFF where there is none),
# looked up by first | second << 8: the rule without numpy's cost for one payload
_BINARY_HEAD = binary_credential_heads(
    np.stack([np.arange(1 << 16) & 0xFF, np.arange(1 << 16) >> 8], axis=1)).tolist()


def mask_credentials(data: bytes) -> bytes:
    """`data` with every password it plainly carries replaced by `*` (same length)."""
    data = bytes(data)
    head = data[0] | (data[1] if len(data) > 1 else 0xFF) << 8 if data else 0
    spans = _binary_secrets(data) if data and (_BINARY_HEAD[head]
                                               or wire.MYSQL_CLEAR in data) else []
    if _credential_word(data.lower()):
        for rx in _CREDENTIALS:
            spans += [m.span(1) for m in rx.finditer(data)]
        if data[:1] == b"*":                     # Redis commands as RESP arrays
            spans += [login.secret for login in wire.redis_logins(data, False)]
    if not spans:
        return data
    out = bytearray(data)
    for a, b in spans:
        b = min(b, len(out))
        if b > a:
            out[a:b] = b"*" * (b - a)
    return bytes(out)


# what mask_text looks for before it masks: a string with neither is returned as it is
_LONG_RUN_TEXT = re.compile("[0-9]{11}")
_CREDENTIAL_WORD_TEXT = re.compile("|".join(w.decode() for w in CREDENTIAL_WORDS))


def mask_text(s: str) -> str:
    """`s` with every identifier and password masked (the characters around them
    unchanged)."""
    data = s.encode("utf-8", "surrogatepass")
    if not (_LONG_RUN_TEXT.search(s) or _CREDENTIAL_WORD_TEXT.search(s.lower())
            or wide_digit_run(data)):
        return s     # nothing an identifier (11 digits, plain or wide) or a password needs
    masked = mask_payload(data)
    return s if masked == data else masked.decode("utf-8", "surrogatepass")


# evidence keys whose values the sensor computed, never copied from the wire: keyed hex
# digests, which now and then hold an 11-digit run that would read as a mobile number
SENSOR_MADE = frozenset(("hashes",))


def mask_strings(value, memo: dict[str, str] | None = None):
    """`value` (a JSON-like tree: dicts, lists, strings, numbers) with `mask_text` applied to
    every string in it, keys included, but for the values under SENSOR_MADE keys: what an
    alert's evidence holds on its way out. `memo`: the masked form of each string met
    before, shared by the trees of one batch (their keys and most values repeat), so that
    each distinct string is masked once; it holds wire strings: drop it with the batch."""
    return _masked_tree(value, {} if memo is None else memo)


def _masked_tree(value, memo: dict[str, str]):
    if isinstance(value, str):
        masked = memo.get(value)
        if masked is None:
            masked = memo[value] = mask_text(value)
        return masked
    if isinstance(value, dict):
        out, known = {}, memo.get
        for k, v in value.items():   # the strings of a flat dict without a call each
            mk = known(k) if type(k) is str else None
            if mk is None:
                mk = _masked_tree(k, memo)
            if k in SENSOR_MADE:
                out[mk] = v
                continue
            mv = known(v) if type(v) is str else None
            out[mk] = _masked_tree(v, memo) if mv is None else mv
        return out
    if isinstance(value, (list, tuple)):
        return [_masked_tree(v, memo) for v in value]
    return value
