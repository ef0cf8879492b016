"""Payload bytes as the receiving application reads them: HTTP bodies de-chunked and
inflated, mail parts decoded, wide and full-width text made plain, before the payload rules
search them (libhtp and Zeek do the same before they match).

Two layers:

- **Text encodings** (`readable`, stateless, applied to any text searched): JSON `\\uXXXX`
  escapes, UTF-16LE/BE runs of printable ASCII (TDS and other Windows clients send IDs as
  digits interleaved with NULs), full-width digits and `Ｘ`/`ｘ` in UTF-8 (`EF BC 90`-`99`)
  and in GBK/GB18030 (`A3 B0`-`B9`), as Chinese input methods type them, and digits
  percent-encoded (`%32%32...`: a URL's query or a cookie, which the server decodes; no
  browser encodes a digit, so these are rare but for evasion), digit groups in the
  shapes of a card, an ID or a mobile number (`138 0013 8000`: how pages show them, and
  users type them), and base64 inside text where it encodes digits (a message wrapped
  whole in a JSON value, a token's claims). The result keeps a
  map back to the original positions (`Readable.origin`), so offsets and ownership are told
  in the bytes that travelled. UTF-8 and GBK text needs no decoding: the rules read their
  bytes.
- **Streams** (`Normaliser`): one parser per (flow, direction), fed its stream's regions in
  sequence order (`streams.Regions`) and kept across batches, for the streams a cheap
  pre-filter picked: an HTTP/1.x message whose headers name a `Content-Encoding`,
  `Transfer-Encoding`, a form (`application/x-www-form-urlencoded`) or `multipart/form-data`
  body, or a WebSocket upgrade; a mail message (SMTP DATA or BDAT, POP3 RETR or TOP, IMAP FETCH or APPEND) with a
  `Content-Transfer-Encoding`. The HTTP parser follows the framing (Content-Length, chunked,
  to the end of the connection; none in a 1xx, 204 or 304 answer, nor in an answer to HEAD,
  told by the status line where its body would begin), then the content codings (gzip,
  deflate as zlib or raw, br, zstd), then the media type (percent-decoding of forms;
  multipart parts as `name=value`); after a WebSocket handshake (`Upgrade: websocket`, its
  101 answer) each direction's frames are unmasked and permessage-deflate messages inflated
  (`WebSocket`); cleartext HTTP/2 (a client preface, or an h2c upgrade's 101) has its
  header blocks HPACK-decoded and each stream's DATA read through a body of its own
  (`Http2`, `Body`, gRPC's messages in `Grpc`); the MIME parser decodes base64 and
  quoted-printable parts line by line, so a part spread over many segments streams
  through, and a header's encoded words (RFC 2047). A body or part that begins with a ZIP
  member header, or a stream where one appears outside any message (a file sent as it
  is), is read as an archive (`Zip`): its members inflated in turn; so is a gzip file
  (`Gunzip`, a `.gz` sent as it is, not a content coding); a ZIP archive or a
  gzip file in base64 inside a body's JSON or XML text, or in a stream outside any message
  seen, is decoded and opened so too (`Embedded`). Every byte of a
  stream the parser was fed is searched in its decoded form and not raw (so nothing is
  counted twice, and ID-shaped bytes inside compressed data raise nothing). When a message ends and no other
  has begun, the stream goes back to the raw fast path; so it does at once when the bytes
  after a message cannot begin one (another protocol, a binary stream) or the framing is
  lost, the rest of the segment passed on as it is.

Bounds (each counted): decoded output per body `MAX_BODY` bytes, and once past
`RATIO_FROM` bytes at most `MAX_RATIO` times the compressed input — past either the rest of
the body is dropped (`ybsensor_decompression_refused_total{reason="size"|"ratio"}`; a
stream that is not what its coding says is `reason="corrupt"`; a body coded while
`MAX_DECODERS` zlib or `MAX_BROTLI` brotli and zstd decoders are alive, whose windows hold
memory, is `reason="busy"`); at most `MAX_STREAMS` streams hold parser state (the least
recently fed is given up: `ybsensor_normaliser_given_up_total{reason="streams"}`), header
blocks and lines are at most `MAX_HEAD` / `MAX_LINE` bytes (`reason="header"`), and a
stream with a hole or whose message start was not seen is given up too (`reason="gap"`,
`"unsynced"`). Decoded bytes by stage: `ybsensor_normalised_bytes_total{decoding}`.
"""
from __future__ import annotations

import binascii
import bisect
import email.errors
import email.header
import json
import re
import struct
import weakref
import zlib
from collections import Counter, OrderedDict

import numpy as np
import hpack
import zstandard

from .matcher import B64_DIGIT_QUAD, BASE64_CHARS, GROUP_SEPARATORS
from .names import http_status

try:  # brotli: `Content-Encoding: br`
    import brotli
except ImportError:  # pragma: no cover - a declared dependency
    brotli = None

MAX_STREAMS = 4096        # streams with parser state
MAX_HEAD = 32 << 10       # bytes of one HTTP header block
MAX_LINE = 16 << 10       # bytes of one MIME line (a longer one is passed on as it is)
MAX_BODY = 1 << 20        # decoded bytes of one body
MAX_RATIO = 100           # decoded / compressed bytes of one body, once past RATIO_FROM
RATIO_FROM = 64 << 10
STEP = 64 << 10           # decoded bytes produced at a time
HOLD = 128                # trailing decoded bytes whose matches wait for more (max match length)
EDGE_READ = 20            # bytes read past a region for a marker across its end
KEEP = 160                # decoded bytes kept before the undecided ones (run boundaries)
MAX_DECODERS = 512        # zlib decoders alive at once (a 32 KiB window each)
MAX_BROTLI = 32           # brotli and zstd decoders alive at once (a window of up to 16 MiB
                          # each; zstd's as HTTP's content coding allows, RFC 9659: 8 MiB)
ZSTD_WINDOW = 8 << 20
ZSTD_STEP = 128           # compressed bytes given to zstd at a time: its output per call is not
                          # capped, and 128 bytes make at most 32 blocks (4 MiB) before a check
REFUSALS = ("size", "ratio", "corrupt", "unsupported", "busy")
GIVE_UPS = ("streams", "header", "gap", "unsynced")

# --- text encodings ---------------------------------------------------------------------

# digit groups as people write a number to be read (`138 0013 8000`, `6222 0212 3456 7890`,
# `220104 19530714 405X`): the shapes of a card, an ID and a mobile, one separator throughout
_SEP = b"[" + re.escape(GROUP_SEPARATORS) + b"]"      # matcher.GROUP_SEPARATORS
DIGIT_GROUPS = re.compile(
    rb"(?<![0-9])(?:(?<![0-9]" + _SEP + rb")|(?<=86" + _SEP + rb"))(?:"   # not a group of a
    # longer number (+86 is); then a card, an ID, a mobile
    rb"[0-9]{4}(" + _SEP + rb")[0-9]{4}\1[0-9]{4}\1[0-9]{4}(?:\1[0-9]{1,3})?(?![0-9]|\1[0-9])"
    rb"|[0-9]{6}(" + _SEP + rb")(?:[0-9]{8}|[0-9]{4}\2[0-9]{4})\2[0-9]{3}[0-9Xx](?![0-9]|\2[0-9])"
    rb"|1[3-9][0-9](" + _SEP + rb")[0-9]{4}\3[0-9]{4}(?![0-9]|\3[0-9]))")
# bytes as classes (a digit "d", NUL "0", a group separator "s", the rest "x"), for quick
# tests by one substring search: Python's `re` tries an expression such as DIGIT_GROUPS at
# every byte; GROUPS_HINT, three digits, a separator and four, is in every group shape
DIGIT_CLASSES = bytes(100 if 48 <= c <= 57 else 48 if c == 0 else
                      115 if c in GROUP_SEPARATORS else 120 for c in range(256))
GROUPS_HINT = b"dddsdddd"

# bytes as classes: NUL "0", printable ASCII "a", the rest "x" (a quick test for UTF-16)
_CLASSES = bytes(48 if c == 0 else 97 if 0x20 <= c <= 0x7E else 120 for c in range(256))

# base64 inside text (a JSON value, a token's claims, a message wrapped whole) that encodes a
# run of digits: quads each of three ASCII digits (0b0011xxxx in six-bit pieces takes these
# characters), three at least (matcher.B64_DIGIT_QUADS), decoded with the base64 (or
# base64url) characters around them up to B64_REACH either side, aligned on their quads
_QUAD = b"".join(b"[" + chars + b"]" for chars in B64_DIGIT_QUAD)
DIGIT_QUAD = re.compile(_QUAD)
B64_DIGITS = re.compile(_QUAD * 3)     # a set of first bytes: Python's `re` skips to them
# a quad's first two characters as classes ("a" then "b"): in every chain (the quick test)
_QUAD_LEAD = bytes(97 if c in B64_DIGIT_QUAD[0] else 98 if c in B64_DIGIT_QUAD[1] else 120
                   for c in range(256))
BASE64_RUN = re.compile(b"[" + re.escape(BASE64_CHARS) + b"]*")     # matcher.BASE64_CHARS
_B64URL = bytes.maketrans(b"-_", b"+/")
B64_REACH = 256


def _base64_spans(data: bytes):
    """(start, end) of each stretch of base64 to decode: the run of base64 characters around
    digits' quads, cut to B64_REACH either side and to whole quads."""
    runs = None
    end = 0
    for m in B64_DIGITS.finditer(data):
        q, q_end = m.span()
        if q < end:
            continue                          # inside the stretch before
        if runs is None:
            runs = [r.span() for r in BASE64_RUN.finditer(data) if r.end() > r.start()]
        lo, hi = runs[bisect.bisect_right(runs, (q, len(data))) - 1]
        lo, hi = max(lo, q - B64_REACH), min(hi, q_end + B64_REACH)
        a, end = q - (q - lo) // 4 * 4, q_end + (hi - q_end) // 4 * 4
        yield a, end


def base64_digits(data: bytes) -> bool:
    """Whether `data` holds a chain of three quads of base64 of digits (B64_DIGITS)."""
    return b"ab" in data.translate(_QUAD_LEAD) and B64_DIGITS.search(data) is not None


def _lead(byte: bytes):
    return lambda data: byte in data


def _matches(rx: re.Pattern):
    return lambda data: ((m.start(), m.end()) for m in rx.finditer(data))


# each text decoding: a quick test whether `data` may hold one (a literal byte where its
# expression starts with one: Python's `re` tries an expression without at every byte), and
# where; UTF-16 runs are found from their NULs (four characters in a row: a NUL alone is
# everywhere in binary data) and told LE or BE by the byte before
_WIDE = (
    ("json", _lead(b"\\u"), _matches(re.compile(rb"\\u[0-9A-Fa-f]{4}(?:\\u[0-9A-Fa-f]{4})*"))),
    ("wide", lambda data: b"\x00" in data and b"0a0a0a0" in data.translate(_CLASSES),
     _matches(re.compile(rb"\x00(?:[\x20-\x7e]\x00){3,}[\x20-\x7e]?"))),
    ("fw", _lead(b"\xef"), _matches(re.compile(rb"\xef(?:\xbc[\x90-\x99\xb8]|\xbd\x98)"
                                             rb"(?:\xef(?:\xbc[\x90-\x99\xb8]|\xbd\x98))*"))),
    ("gbk", _lead(b"\xa3"),
     _matches(re.compile(rb"\xa3[\xb0-\xb9\xd8\xf8](?:\xa3[\xb0-\xb9\xd8\xf8])+"))),
    ("pct", _lead(b"%3"), _matches(re.compile(rb"(?:%3[0-9])+(?:%[57]8)?"))),   # digits, an X
    ("grp", lambda data: GROUPS_HINT in data.translate(DIGIT_CLASSES), _matches(DIGIT_GROUPS)),
    ("b64", base64_digits, _base64_spans),
)
PERCENT_DIGIT = re.compile(rb"%3([0-9])")
_FULL_WIDTH = {bytes((0xEF, 0xBC, 0x90 + d)): bytes((48 + d,)) for d in range(10)}
_FULL_WIDTH.update({b"\xef\xbc\xb8": b"X", b"\xef\xbd\x98": b"x"})
_GBK_WIDTH = {bytes((0xA3, 0xB0 + d)): bytes((48 + d,)) for d in range(10)}
_GBK_WIDTH.update({b"\xa3\xd8": b"X", b"\xa3\xf8": b"x"})


def _json_escapes(s: bytes) -> bytes:
    return json.loads(b'"' + s + b'"').encode("utf-8", "replace")


_DECODE = {
    "json": (_json_escapes, "json-escape"),
    "le": (lambda s: s[::2], "utf-16le"),
    "be": (lambda s: s[1::2], "utf-16be"),
    "fw": (lambda s: b"".join(_FULL_WIDTH[s[i:i + 3]] for i in range(0, len(s), 3)), "full-width"),
    "gbk": (lambda s: b"".join(_GBK_WIDTH[s[i:i + 2]] for i in range(0, len(s), 2)),
            "full-width-gbk"),
    "pct": (lambda s: percent_decode(s), "percent-encoded"),     # the forms' decoder
    "grp": (lambda s: s.translate(None, GROUP_SEPARATORS), "digit-groups"),
    "b64": (lambda s: binascii.a2b_base64(s.translate(_B64URL)), "base64-inline"),
}
# the decodings of text in place, which the maskers (pii_mask) see through as well; the
# others (content and transfer codings, framing, WebSocket) leave bytes that any reader
# of the capture undoes
TEXT_DECODINGS = frozenset(label for _, label in _DECODE.values())

# what the payload engine's literal pass looks for to send a raw region here (3 bytes at
# least, rare in random bytes): JSON escapes of digits, of full-width forms and of the
# labels' first characters (姓 身 手); a digit between NULs (UTF-16LE or BE); a full-width
# digit in UTF-8; one in GBK followed by another full-width form; a percent-encoded digit
TEXT_MARKERS = ([b"\\u003", b"\\uff1", b"\\u59d3", b"\\u8eab", b"\\u624b"]
                + [bytes((0, 48 + d, 0)) for d in range(10)]
                + [bytes((0xEF, 0xBC, 0x90 + d)) for d in range(10)]
                + [bytes((0xA3, 0xB0 + d, 0xA3)) for d in range(10)]
                + [b"%3" + bytes((48 + d,)) for d in range(10)])
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"   # a client's first bytes
H2_PREFACE_LINE = b"PRI * HTTP/2.0\r\n"
H2_PREFACE_MARKER = H2_PREFACE_LINE.lower().rstrip()      # as the literal pass holds it
ZIP_LOCAL = b"PK\x03\x04"           # a ZIP member's local file header

# a file sent inside a JSON or XML message in base64 (the national interface's upload, 9101
# `fsUploadIn.in`; a FHIR attachment's `data`): a ZIP archive's begins `UEsDB`, a gzip
# file's `H4sI`, after the value's opening quote or its element's `>`
EMBEDDED = re.compile(rb'[">](?:UEsDB|H4sI)')
EMBEDDED_MARKERS = [b'"uesdb', b">uesdb", b'"h4si', b">h4si"]       # as the literal pass holds them
# a gzip file sent as it is, as Python's and Java's writers make it (no flags) and the gzip
# tool (its name stored)
GZIP_FILE_MARKERS = [b"\x1f\x8b\x08\x00", b"\x1f\x8b\x08\x08"]
# what makes a stream worth parsing (HTTP headers; the MIME header `Content-Transfer-Encoding`
# ends in the second; a WebSocket or h2c Upgrade, with or without its space; HTTP/2's
# client preface; a ZIP member, as an .xlsx or .docx begins; a gzip file; a file in base64
# in text)
STREAM_MARKERS = [b"content-encoding:", b"transfer-encoding:", b"form-urlencoded",
                  b"multipart/form-data", b"upgrade: websocket", b"upgrade:websocket",
                  b"upgrade: h2c", b"upgrade:h2c", H2_PREFACE_MARKER, ZIP_LOCAL.lower(),
                  *EMBEDDED_MARKERS, *GZIP_FILE_MARKERS]


def short_of_a_member(data: bytes) -> bool:
    """Whether `data`, a body's or part's first bytes, is too short to tell whether it
    begins a file `file_reader` opens (a prefix of a ZIP member's or a gzip file's
    header): they are held until more come."""
    if len(data) < len(ZIP_LOCAL) and ZIP_LOCAL.startswith(data):
        return True
    return len(data) < GZIP_HEAD and GZIP_FILE.startswith(data[:len(GZIP_FILE)])


class Readable:
    """`data` with the text encodings above decoded (`text`), and the way back."""

    __slots__ = ("text", "spans", "_starts", "_kept")

    def __init__(self, data: bytes):
        self.spans: list[tuple[int, int, int, int, str]] = []   # new a, b; old a, b; label
        self._kept: dict[int, list[int]] = {}   # a digit-group span's kept bytes (old offsets)
        found = sorted((a, b, kind) for kind, quick, spans in _WIDE if quick(data)
                       for a, b in spans(data))
        if not found:
            self.text, self._starts = data, []
            return
        pieces, pos, new = [], 0, 0
        for a, b, kind in found:
            if a < pos:
                continue                # inside the one before
            if kind == "wide":
                if a > pos and 0x20 <= data[a - 1] <= 0x7E:   # "x\0y\0...": LE from x
                    kind, a = "le", a - 1
                    b -= data[b - 1] != 0
                elif data[b - 1] == 0:                        # "\0x\0y\0": LE from x
                    kind, a = "le", a + 1
                else:                                         # "\0x\0y": BE
                    kind = "be"
            decode, label = _DECODE[kind]
            try:
                out = decode(data[a:b])
            except ValueError:
                continue
            pieces.append(data[pos:a])
            new += a - pos
            pieces.append(out)
            if kind == "grp":      # not a fixed width: where each digit was
                self._kept[len(self.spans)] = [a + i for i in range(b - a)
                                               if data[a + i] not in GROUP_SEPARATORS]
            self.spans.append((new, new + len(out), a, b, label))
            new += len(out)
            pos = b
        pieces.append(data[pos:])
        self.text = b"".join(pieces) if self.spans else data
        self._starts = [s[0] for s in self.spans]

    def origin(self, p: int) -> int:
        """The position in the original bytes of position p of `text`."""
        k = bisect.bisect_right(self._starts, p) - 1
        if k < 0:
            return p
        na, nb, oa, ob, _ = self.spans[k]
        if p < nb:
            kept = self._kept.get(k)
            return kept[p - na] if kept else oa + (p - na) * (ob - oa) // max(nb - na, 1)
        return ob + (p - nb)

    def labels(self, a: int, b: int) -> list[str]:
        """The decodings that made text[a:b]."""
        k = bisect.bisect_right(self._starts, a) - 1
        out = []
        for na, nb, _, _, label in self.spans[max(k, 0):]:
            if na >= b:
                break
            if nb > a and label not in out:
                out.append(label)
        return out


# --- content codings --------------------------------------------------------------------

GZIP_MAGIC = b"\x1f\x8b"
GZIP_FILE = GZIP_MAGIC + b"\x08"      # and deflate, the one method (RFC 1952 2.3.1)
GZIP_HEAD = 10                        # a gzip member's fixed header


class Inflater:
    """One content coding of one body, decoded a bounded step at a time. `live`: the
    decoders alive now, by kind (a weak set each), to bound their windows' memory."""

    def __init__(self, coding: str, refuse, live: dict | None = None):
        self.coding, self.refuse = coding, refuse
        self.seen = self.made = 0
        self.dead = False
        self.z = self.br = self.zs = None
        self.head = b""
        self.member_start = b""
        if live is not None:
            kind = "br" if coding in ("br", "zstd") else "zlib"
            if len(live[kind]) >= (MAX_BROTLI if kind == "br" else MAX_DECODERS):
                self._refuse("busy")
                return
            live[kind].add(self)
        if coding in ("gzip", "x-gzip"):
            self.z = zlib.decompressobj(31)
        elif coding == "br":
            self.br = brotli.Decompressor() if brotli is not None else None
            if self.br is None:
                self._refuse("unsupported")
        elif coding == "deflate-raw":      # a WebSocket's permessage-deflate (RFC 7692)
            self.z = zlib.decompressobj(-15)
        elif coding == "zstd":       # RFC 8878; Chrome and Firefox ask for it
            self.zs = zstandard.ZstdDecompressor(max_window_size=ZSTD_WINDOW).decompressobj()

    def _refuse(self, reason: str) -> None:
        if not self.dead:
            self.dead = True
            self.refuse(reason)

    def _budget(self) -> int:
        return min(STEP, MAX_BODY - self.made)

    def _took(self, piece: bytes) -> bool:
        self.made += len(piece)
        if self.made > RATIO_FROM and self.made > MAX_RATIO * self.seen:
            self._refuse("ratio")
            return False
        return True

    def feed(self, data: bytes) -> bytes:
        if self.dead or not data:
            return b""
        self.seen += len(data)
        if self.z is None and self.br is None and self.zs is None:   # deflate: zlib or raw
            data = self.head = self.head + data
            if len(data) < 2:
                return b""
            zlib_wrapped = data[0] & 0x0F == 8 and ((data[0] << 8) | data[1]) % 31 == 0
            self.z = zlib.decompressobj(15 if zlib_wrapped else -15)
        out = []
        try:
            if self.br is not None:
                self._brotli(data, out)
            elif self.zs is not None:
                self._zstd(data, out)
            else:
                self._zlib(data, out)
        except (zlib.error, zstandard.ZstdError, brotli.error if brotli else zlib.error):
            self._refuse("corrupt")
        return b"".join(out)

    def _zlib(self, data: bytes, out: list) -> None:
        buf = data
        while buf:
            if self.z.eof:
                # a gzip body is a series of members (RFC 1952 2.2), each read in turn as
                # gzip -d and browsers do; after a zlib stream, or a member followed by
                # other bytes, the rest is no content
                buf, self.member_start = self.member_start + buf, b""
                if self.coding not in ("gzip", "x-gzip") or not GZIP_MAGIC.startswith(buf[:2]):
                    return
                if len(buf) < 2:
                    self.member_start = buf    # the next member's first byte, so far
                    return
                self.z = zlib.decompressobj(31)
            budget = self._budget()
            if budget <= 0:
                self._refuse("size")
                return
            piece = self.z.decompress(buf, budget)
            out.append(piece)
            if not self._took(piece):
                return
            buf = self.z.unused_data if self.z.eof else self.z.unconsumed_tail

    def _zstd(self, data: bytes, out: list) -> None:
        for at in range(0, len(data), ZSTD_STEP):
            if self.zs.eof:           # after the frame: no content
                return
            piece = self.zs.decompress(data[at:at + ZSTD_STEP])
            room = MAX_BODY - self.made
            if len(piece) > room:
                out.append(piece[:room])
                self.made += room
                self._refuse("size")
                return
            out.append(piece)
            if not self._took(piece):
                return

    def _brotli(self, data: bytes, out: list) -> None:
        piece = self.br.process(data, output_buffer_limit=max(self._budget(), 1))
        while True:
            out.append(piece)
            if not self._took(piece):
                return
            if self.br.can_accept_more_data() or self.br.is_finished():
                return
            if self._budget() <= 0:
                self._refuse("size")
                return
            piece = self.br.process(b"", output_buffer_limit=self._budget())


# --- ZIP archives (APPNOTE.TXT 4.3) ------------------------------------------------------

ZIP_DESCRIPTOR = b"PK\x07\x08"      # the optional signature of a data descriptor
# the local file header (APPNOTE 4.3.7): signature, version needed, flags, method, time,
# date, CRC-32, compressed size, uncompressed size, name length, extra field length
ZIP_HEAD = struct.Struct("<4sHHHHHIIIHH")
ZIP_ENCRYPTED, ZIP_SIZES_AFTER = 0x1, 0x8       # flag bits
ZIP_STORED, ZIP_DEFLATED = 0, 8
# a data descriptor: CRC and two sizes of 4 bytes, or of 8 (ZIP64), with or without its
# signature; told by the member header (or central directory) that must follow it
ZIP_DESCRIPTORS = ((ZIP_DESCRIPTOR, 16), (ZIP_DESCRIPTOR, 24), (b"", 12), (b"", 20))
ZIP_NEXT = b"PK"
ZIP_DESCRIPTOR_READ = max(size for _, size in ZIP_DESCRIPTORS) + len(ZIP_NEXT)


def zip_member(data: bytes, at: int = 0) -> tuple[int, int, int, bool] | None:
    """The local file header at `at` in `data`, where it begins a member Zip reads: (method,
    compressed size, name and extra field bytes, sizes after the data); None for anything
    else (another signature, such as the central directory's; an encrypted member; another
    method; a stored member whose size follows its data: its end cannot be found)."""
    if at < 0 or len(data) - at < ZIP_HEAD.size:
        return None
    sig, _, flags, method, _, _, _, size, _, name, extra = ZIP_HEAD.unpack_from(data, at)
    if sig != ZIP_LOCAL or flags & ZIP_ENCRYPTED or method not in (ZIP_STORED, ZIP_DEFLATED) \
            or (method == ZIP_STORED and flags & ZIP_SIZES_AFTER):
        return None
    return method, size, name + extra, bool(flags & ZIP_SIZES_AFTER)


class Zip:
    """A ZIP archive as the one who receives it opens it (an .xlsx or .docx is one: a
    spreadsheet's cells and a document's text are XML members): its members read front to
    back as the archive streams by, each stored one given out as it is and each deflated
    one inflated, so that a list of patients sent as a spreadsheet is searched as its
    reader sees it. The central directory at the end is not waited for; a member whose
    sizes follow its data (flag bit 3, as streaming writers make them) is inflated to the
    end of its deflate stream. An encrypted member, another method, or bytes that are no
    member header end the reading (the rest is not searched). What is inflated is bounded
    as a body's output: MAX_BODY over all members (`size`), each member's ratio by its
    Inflater; a stored member's bytes are what travelled, searched whatever their size,
    as the raw path would search them."""

    def __init__(self, out, labels: tuple, refuse, live):
        self.out, self.labels = out, labels + ("zip",)
        self.refuse, self.live = refuse, live
        self.held = b""              # bytes of a header or descriptor not whole yet
        self.state = "head"
        self.skip = 0                # name and extra field bytes still to pass
        self.left = 0                # stored bytes of the member still to give out
        self.method = ZIP_STORED
        self.sizes_after = False
        self.inflater: Inflater | None = None
        self.made = 0

    def feed(self, data: bytes) -> None:
        buf = self.held + data if self.held else data
        self.held = b""
        while buf and self.state != "done":
            buf = getattr(self, "_" + self.state)(buf)

    def _head(self, buf: bytes) -> bytes:
        if len(buf) < ZIP_HEAD.size:
            return self._hold(buf)
        member = zip_member(buf)
        if member is None:
            self.state = "done"      # the central directory, or nothing to read further
            return b""
        self.method, self.left, self.skip, self.sizes_after = member
        self.state = "name"
        return buf[ZIP_HEAD.size:]

    def _name(self, buf: bytes) -> bytes:
        n = min(self.skip, len(buf))
        self.skip -= n
        if not self.skip:
            if self.method == ZIP_DEFLATED:
                self.inflater = Inflater("deflate-raw", self.refuse, self.live)
                self.state = "deflated"
            else:
                self.state = "stored" if self.left else "head"
        return buf[n:]

    def _stored(self, buf: bytes) -> bytes:
        piece = buf[:self.left]
        self.left -= len(piece)
        if piece:
            self.out(piece, self.labels)
        if not self.left:
            self.state = "head"
        return buf[len(piece):]

    def _deflated(self, buf: bytes) -> bytes:
        inflater = self.inflater
        if not self._give(inflater.feed(buf)) or inflater.dead:
            self.state = "done"
            return b""
        if inflater.z is None or not inflater.z.eof:
            return b""               # all taken: the member goes on in the next bytes
        self.inflater = None
        self.state = "descriptor" if self.sizes_after else "head"
        return inflater.z.unused_data

    def _descriptor(self, buf: bytes) -> bytes:
        if len(buf) < ZIP_DESCRIPTOR_READ:
            return self._hold(buf)
        for sig, size in ZIP_DESCRIPTORS:
            if buf.startswith(sig) and buf.startswith(ZIP_NEXT, size):
                self.state = "head"
                return buf[size:]
        self.state = "done"
        return b""

    def _hold(self, buf: bytes) -> bytes:
        """Keep `buf` (too short to read a header from) for the next feed."""
        self.held = buf
        return b""

    def _give(self, piece: bytes) -> bool:
        """Give out inflated bytes, within the archive's bound; False past it."""
        room = MAX_BODY - self.made
        if len(piece) > room:
            piece = piece[:room]
            self.refuse("size")
            self.state = "done"
        self.made += len(piece)
        if piece:
            self.out(piece, self.labels)
        return self.state != "done"


class Gunzip:
    """A gzip file sent as it is (a .gz, a .csv.gz export) inflated as whoever opens it
    does: its members in turn, within an Inflater's bounds."""

    def __init__(self, out, labels: tuple, refuse, live):
        self.out, self.labels = out, labels + ("gzip",)
        self.inflater = Inflater("gzip", refuse, live)

    def feed(self, data: bytes) -> None:
        plain = self.inflater.feed(data)
        if plain:
            self.out(plain, self.labels)

    @property
    def state(self) -> str:
        """"done" once its last member ended or its reading stopped (as Zip's)."""
        z = self.inflater.z
        return "done" if self.inflater.dead or z is None or z.eof else "read"


def gzip_file(data: bytes) -> int:
    """Where in `data` a gzip file's header begins (RFC 1952 2.3: deflate, no reserved flag,
    an extra flag of 0, 2 or 4), or -1: the magic alone is three bytes that binary data
    holds now and then."""
    at = data.find(GZIP_FILE)
    while 0 <= at <= len(data) - GZIP_HEAD:
        if not data[at + 3] & 0xE0 and data[at + 8] in (0, 2, 4):
            return at
        at = data.find(GZIP_FILE, at + 1)
    return -1


def file_reader(head: bytes, out, labels: tuple, refuse, live) -> Zip | Gunzip | None:
    """The reader of a file whose first bytes are `head`, as its receiver opens it: a ZIP
    archive's (an .xlsx, a zipped export) or a gzip file's; None for any other."""
    if head.startswith(ZIP_LOCAL):
        return Zip(out, labels, refuse, live)
    if gzip_file(head[:GZIP_HEAD]) == 0:
        return Gunzip(out, labels, refuse, live)
    return None


# --- files in base64 inside text ----------------------------------------------------------

_B64_TEXT = re.compile(rb"(?:[A-Za-z0-9+/=\r\n]|\\[/rn])*")   # base64, JSON's \/ \r \n
_B64_NOISE = re.compile(rb"\\[rn]|[\r\n]")
EMBEDDED_HEAD = GZIP_HEAD      # decoded bytes that tell a ZIP member or a gzip file


class Embedded:
    """Text (a body, a raw stream) in which a file may travel in base64 (EMBEDDED): the
    text passed on as it is, and each such file decoded as its receiver does — its base64
    up to the first other byte (the closing quote, the element's end), JSON's escaped `/`
    and line breaks skipped — and opened: a ZIP archive's members read (Zip), a gzip file
    inflated, labelled `base64` and `zip` or `gzip`. The base64 itself is not passed on
    (no one reads it as text). Nothing is held but a marker's first bytes, fewer than four
    base64 characters and a file's first EMBEDDED_HEAD decoded bytes."""

    def __init__(self, out, refuse, live):
        self.out, self.refuse, self.live = out, refuse, live
        self.carry = b""             # the last bytes passed on: a marker may begin there
        self.b64 = b""               # base64 characters not decoded yet (fewer than four)
        self.escape = False          # a backslash ended the last bytes of a file's base64
        self.head = b""              # a file's first decoded bytes, until they tell what it is
        self.reader = None           # a file's (file_reader); False: some other file
        self.labels: tuple = ()
        self.reading = False         # inside a file's base64

    @property
    def idle(self) -> bool:
        return not self.reading

    def feed(self, data: bytes, labels: tuple, at: int | None = None) -> None:
        while data:
            if self.reading:
                data = self._file(data)
                at = None
                continue
            window = self.carry + data
            m = EMBEDDED.search(window)
            if m is None:
                self.out(data, labels, at)
                self.carry = window[-6:]
                return
            start = m.start() + 1 - len(self.carry)   # where its base64 begins in `data`
            if start > 0:
                self.out(data[:start], labels, at)
            self._begin(labels + ("base64",))
            if start < 0:            # it began in bytes passed on already
                self._file(self.carry[start:])
            data, at, self.carry = data[max(start, 0):], None, b""

    def _begin(self, labels: tuple) -> None:
        self.reading, self.labels = True, labels
        self.b64, self.head, self.reader, self.escape = b"", b"", None, False

    def _file(self, data: bytes) -> bytes:
        """A file's base64 in `data`: decoded and read; the bytes after its end."""
        held = self.escape                  # a backslash from the last bytes goes first
        if held:
            data, self.escape = b"\\" + data, False
        n = _B64_TEXT.match(data).end()
        if n == len(data) - 1 and data[n] == 0x5C:     # an escape cut by the end of `data`
            self.escape, rest, chars = True, b"", data[:n]
        else:
            rest, chars = data[n:], data[:n]
            if held and not n:
                rest = rest[1:]             # the backslash was taken with the bytes before
        b64 = self.b64 + _B64_NOISE.sub(b"", chars.replace(b"\\/", b"/"))
        if rest:                            # its end: what is left, padded
            b64 += b"=" * (-len(b64) % 4)
        whole = len(b64) - len(b64) % 4
        self.b64 = b64[whole:]
        try:
            self._open(binascii.a2b_base64(b64[:whole]))
        except binascii.Error:
            self.reader = False
        self.reading = not rest
        return rest

    def _open(self, data: bytes) -> None:
        if self.reader is None:
            self.head += data
            if len(self.head) < EMBEDDED_HEAD:
                return
            data, self.head = self.head, b""
            # some other file (an image): its bytes are skipped
            self.reader = file_reader(data, self.out, self.labels, self.refuse, self.live) \
                or False
        if data and self.reader:
            self.reader.feed(data)


# --- WebSocket (RFC 6455, RFC 7692) -------------------------------------------------------

WS_CONTROL = 0x8                   # opcodes from here on: close, ping, pong
WS_OPCODES = frozenset((0x0, 0x1, 0x2, 0x8, 0x9, 0xA))
WS_SYNC = b"\x00\x00\xff\xff"     # the tail a sender removed from each deflated message


class Frames:
    """One direction of a framed protocol, read frame by frame as its receiver reads it: a
    header (`_header`: the bytes it took, 0 while it continues in the next region, -1 where
    the bytes are no frame header, which sets `lost`), `remaining` payload bytes
    (`_payload`), then `_end_frame`. `lost`: the caller takes the bytes from there."""

    remaining = 0
    lost = False

    def feed(self, data: bytes, base: int) -> int:
        """Reads `data` (at `base` in the region); how many bytes were frames."""
        i, n = 0, len(data)
        while i < n and not self.lost:
            if not self.remaining:
                size = self._header(data, i)
                if size < 0:
                    return i
                if size == 0:                 # the header is not all here yet
                    self.head += data[i:]
                    return n
                i += size
                if not self.remaining:
                    self._end_frame()
                continue
            take = min(self.remaining, n - i)
            self._payload(data[i:i + take], base + i)
            self.remaining -= take
            i += take
            if not self.remaining:
                self._end_frame()
        return i if self.lost else n


class WebSocket(Frames):
    """The frames of one direction of a WebSocket connection, as the receiver reads them:
    a client's payloads unmasked (browsers mask every frame with a key of their own), a
    message the permessage-deflate extension compressed (RSV1 on its first frame) inflated
    with the direction's window kept from message to message (context takeover, the
    default; without it a sender's messages simply do not refer back). Caps per message as
    for a body. `lost`: bytes where a frame header should be that are none (the
    connection was refused and a new request follows, or another protocol): the caller
    takes them from there."""

    def __init__(self, out, client: bool, refuse, live):
        self.out, self.client, self.refuse, self.live = out, client, refuse, live
        self.head = b""
        self.remaining = 0
        self.key = b""
        self.at = 0                     # position in the payload: the mask's phase
        self.control = False
        self.compressed = False         # the message being read is deflated
        self.fin = False
        self.inflater: Inflater | None = None
        self.lost = False

    def _header(self, data: bytes, i: int) -> int:
        """Parses a frame header at data[i] (after the part kept in `head`): the bytes of
        `data` it took, 0 if it continues in the next region, -1 if it is no frame."""
        kept = len(self.head)
        b = self.head + data[i:i + 14]
        if len(b) < 2:
            return 0
        fin, rsv, opcode = b[0] >> 7, (b[0] >> 4) & 0x7, b[0] & 0xF
        masked, size = b[1] >> 7, b[1] & 0x7F
        if opcode not in WS_OPCODES or rsv & 0x3 or masked != self.client \
                or (opcode >= WS_CONTROL and (size > 125 or not fin)):
            self.head, self.lost = b"", True
            return -1
        need = 2 + (2 if size == 126 else 8 if size == 127 else 0) + 4 * masked
        if len(b) < need:
            return 0
        if size >= 126:
            size = int.from_bytes(b[2:need - 4 * masked], "big")
        self.key = b[need - 4:need] if masked else b""
        self.head, self.remaining, self.at, self.fin = b"", size, 0, bool(fin)
        self.control = opcode >= WS_CONTROL
        if not self.control and opcode != 0:      # a message's first frame
            self.compressed = bool(rsv & 0x4)
            if self.compressed:
                if self.inflater is None:
                    self.inflater = Inflater("deflate-raw", self.refuse, self.live)
                self.inflater.seen = self.inflater.made = 0     # the caps are per message
        return need - kept

    def _payload(self, data: bytes, at: int) -> None:
        if self.key:
            a = np.frombuffer(data, np.uint8)
            phase = np.frombuffer(self.key, np.uint8)[(np.arange(len(a)) + self.at) % 4]
            data = (a ^ phase).tobytes()
        self.at += len(data)
        if self.compressed and not self.control:
            self.out(self.inflater.feed(data), ("websocket", "deflate"))
        else:
            self.out(data, ("websocket",) if self.key else (), None if self.key else at)

    def _end_frame(self) -> None:
        if self.fin and not self.control:
            if self.compressed:
                self.out(self.inflater.feed(WS_SYNC), ("websocket", "deflate"))
            self.out(b"", None)          # a message ended: decide what is pending


_HEX_VALUE = np.full(256, -1, dtype=np.int16)     # a hex digit's value, -1 for other bytes
for _digits, _base in ((b"0123456789", 0), (b"abcdef", 10), (b"ABCDEF", 10)):
    _HEX_VALUE[np.frombuffer(_digits, np.uint8)] = np.arange(len(_digits)) + _base


def percent_decode(data: bytes) -> bytes:
    """A form's bytes with `+` and `%HH` decoded (a malformed escape is left as it is): every
    escape at once, as columns (a form holds hundreds)."""
    if b"%" not in data and b"+" not in data:
        return data
    data = data.replace(b"+", b" ")
    if b"%" not in data:
        return data
    a = np.frombuffer(data, dtype=np.uint8)
    at = np.flatnonzero(a[:-2] == 0x25)      # an escape's two digits are never `%`: none overlap
    hi, lo = _HEX_VALUE[a[at + 1]], _HEX_VALUE[a[at + 2]]
    ok = (hi >= 0) & (lo >= 0)
    if not ok.any():
        return data
    at = at[ok]
    out = a.copy()
    out[at] = hi[ok] * 16 + lo[ok]
    keep = np.ones(len(a), dtype=bool)
    keep[at + 1] = keep[at + 2] = False
    return out[keep].tobytes()


# --- MIME -------------------------------------------------------------------------------

_B64_LINE = re.compile(rb"[A-Za-z0-9+/]+=*")
# an encoded word (RFC 2047) in a header: how mailers write a subject or a name that is not
# ASCII (every Chinese one), =?charset?B|Q?text?=
_ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?([BbQq])\?[^?\s]*\?=")
_B64_RUN = re.compile(rb"(?:[A-Za-z0-9+/]+\r*\n)+")      # lines of base64, no padding
_IMAP_DONE = re.compile(rb"[A-Za-z0-9.]+ (?:OK|NO|BAD) ")     # a tagged IMAP completion
_FORM_NAME = re.compile(rb'(?i)\bname="?([^";\r\n]+)"?')


class Mime:
    """MIME parts line by line: headers, then a body in base64, quoted-printable or as it
    is, until a boundary line (`--...`); `form`: multipart/form-data, each part shown as
    `name=value&`; `mail`: SMTP/POP3 dot-stuffing, and the lone `.` (SMTP, POP3) or the
    tagged completion (IMAP) that ends a message."""

    def __init__(self, out, form: bool = False, mail: bool = False, refuse=None, live=None):
        self.out, self.form, self.mail = out, form, mail
        self.refuse, self.live = refuse, live
        self.part_begins = False        # the next body bytes are a part's first
        self.lead = b""                 # ... and those held until they tell an archive
        self.lead_labels: tuple = ()
        self.archive: Zip | Gunzip | None = None    # the part is a file (told by its start)
        self.partial = b""
        self.in_body = False
        self.cte = b""
        self.name = b""
        self.b64 = b""
        self.ended = False              # a mail message ended with `.`
        self.folded = b""               # a header with encoded words, its lines so far

    def feed(self, data: bytes) -> None:
        data = self.partial + data
        start = 0
        while True:
            if self.in_body and self.cte == b"base64" and b"=" not in self.b64:
                # whole base64 lines without padding, decoded at once: what `_line` would
                # make of them one at a time (a line with `=` goes through `_line`)
                run = _B64_RUN.match(data, start)
                if run is not None:
                    self.b64 += run.group().translate(None, b"\r\n")
                    self._emit_b64()
                    start = run.end()
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            self._line(data[start: nl + 1])
            start = nl + 1
        self.partial = data[start:]
        if len(self.partial) > MAX_LINE:
            self._line(self.partial)
            self.partial = b""

    def finish(self) -> None:
        if self.partial:
            self._line(self.partial)
            self.partial = b""
        self._header()
        self._end_part()

    def _header(self) -> None:
        """The header held in `folded`, its encoded words decoded (the standard `email`
        package: adjacent words joined, as a mail reader shows them, so an identifier that
        a mailer cut between two words is whole), written as one line."""
        header, self.folded = self.folded, b""
        if not header:
            return
        kinds = {m.group(1).lower() for m in _ENCODED_WORD.finditer(header)}
        try:
            parts = email.header.decode_header(header.decode("latin-1"))
        except (ValueError, email.errors.HeaderParseError):
            kinds = set()
        if not kinds:
            self.out(header, ())
            return
        text = b"".join(p if isinstance(p, bytes) else p.encode("latin-1") for p, _ in parts)
        labels = tuple(label for kind, label in ((b"b", "base64"), (b"q", "quoted-printable"))
                       if kind in kinds)
        self.out(text.rstrip(b"\r\n") + b"\r\n", labels)

    def _end_part(self) -> None:
        if self.b64:
            self._emit_b64(final=True)
        if self.lead:                   # a part shorter than a member header
            lead, self.lead = self.lead, b""
            self.out(lead, self.lead_labels)
        self.archive, self.part_begins = None, False
        if self.form and self.name:
            self.out(b"&", ("multipart",))
            self.name = b""

    def _emit_b64(self, final: bool = False) -> None:
        n = len(self.b64) if final else len(self.b64) // 4 * 4
        chunk, self.b64 = self.b64[:n], self.b64[n:]
        if final and len(chunk) % 4:
            chunk += b"=" * (-len(chunk) % 4)
        if chunk:
            try:
                data = binascii.a2b_base64(chunk)
            except binascii.Error:
                return
            self._part(data, ("base64",))

    def _part(self, data: bytes, labels: tuple) -> None:
        """A part's body bytes, decoded: an archive's (an attached spreadsheet) through
        its reader."""
        if self.part_begins:
            # its first bytes, held until they can tell an archive (a segment may end a
            # base64 part's first line after 4 characters: 3 bytes)
            data, self.lead = self.lead + data, b""
            if short_of_a_member(data):
                self.lead, self.lead_labels = data, labels
                return
            self.part_begins = False
            if self.refuse is not None:
                self.archive = file_reader(data, self.out, labels, self.refuse, self.live)
        if self.archive is not None:
            self.archive.feed(data)
        else:
            self.out(data, labels)

    def _line(self, line: bytes) -> None:
        if self.folded:
            if line[:1] in (b" ", b"\t") and len(self.folded) < MAX_LINE:
                self.folded += line     # a folded header goes on
                return
            self._header()
        body = line.rstrip(b"\r\n")
        if self.mail and (body == b"." or _IMAP_DONE.match(body)):
            self._end_part()
            self.in_body, self.cte, self.ended = False, b"", True
            self.out(line, ())
            return
        if self.mail and body.startswith(b".."):
            body, line = body[1:], line[1:]
        if body.startswith(b"--") and len(body) > 2 and b" " not in body:     # a boundary
            self._end_part()
            self.in_body, self.cte = False, b""
            self.out(line, ())
            return
        low = body.lower()
        if not self.in_body or (not self.cte and low.startswith(b"content-transfer-encoding:")):
            if self.in_body:            # a nested message's headers
                self.in_body = False
            if not body:
                self.in_body, self.part_begins = True, True
                self.out(line, ())
                if self.form and self.name:
                    self.out(self.name + b"=", ("multipart",))
                return
            if low.startswith(b"content-transfer-encoding:"):
                self.cte = low.split(b":", 1)[1].strip()
            elif self.form and low.startswith(b"content-disposition:"):
                m = _FORM_NAME.search(body)
                self.name = m.group(1) if m else b""
            if b"=?" in line:
                self.folded = line      # decoded once its folded lines are in
                return
            self.out(line, ())
            return
        if self.cte == b"base64":
            if _B64_LINE.fullmatch(body):
                self.b64 += body
                self._emit_b64()
                return
            self._end_part()
            self.cte = b""
        elif self.cte == b"quoted-printable":
            soft = body.endswith(b"=")
            try:
                text = binascii.a2b_qp(body[:-1] if soft else body)
            except binascii.Error:
                text = body
            self.out(text if soft else text + b"\n", ("quoted-printable",))
            return
        self._part(line, ())


# --- HTTP -------------------------------------------------------------------------------

_START = re.compile(rb"(?m)^(?:HTTP/1\.[01] [0-9]{3}|[A-Z]{3,10} [^ \r\n]+ HTTP/1\.[01]\r?$)")
_FIELDS = re.compile(rb"(?im)^(transfer-encoding|content-encoding|content-type|content-length"
                     rb"|upgrade)"
                     rb"[ \t]*:([^\r\n]*)")
# what may begin the next message, as far as it has come (empty lines, then a method and a
# space, or `HTTP/`): other bytes between messages are no HTTP (a protocol switched to, a
# binary stream), and the stream goes back to the raw path
_MAY_BEGIN = re.compile(rb"[A-Z]{1,10}[ /]|[A-Z]{0,10}\Z")


def _may_begin(buf: bytes) -> bool:
    return _MAY_BEGIN.match(buf.lstrip(b"\r\n")[:11]) is not None


# a status line where a response's body would begin: the response was to a HEAD request,
# which the sender answers with the headers a GET would get and no body (RFC 9112 6.3);
# the request is in the other direction, so the answer's own next bytes tell it
_NEXT_RESPONSE = re.compile(rb"HTTP/1\.[01] [1-5][0-9][0-9][ \r]")


def _tokens(value: bytes) -> list[bytes]:
    """A header's comma-separated tokens, lower case."""
    return [c.strip().lower() for c in value.split(b",") if c.strip()]


HEAD, LENGTH, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILERS, CLOSE, PASS, WS, H2 = range(10)


class Http:
    """HTTP/1.x messages of one direction: framing, content codings, media type."""

    def __init__(self, out, refuse, give_up, live: dict | None = None):
        self.out, self.refuse, self.give_up, self.live = out, refuse, give_up, live
        self.state = HEAD
        self.buf = b""
        self.remaining = 0
        self.body: Body | None = None
        self.chunked = False
        self.body_unseen = False        # a response whose body has not begun yet
        self.ws: WebSocket | None = None
        self.h2: Http2 | None = None
        self.left = False               # what followed was no HTTP: passed on, then idle

    @property
    def idle(self) -> bool:
        """Between messages, nothing pending."""
        return self.state == HEAD and not self.buf

    def feed(self, data: bytes) -> None:
        i, n = 0, len(data)
        while i < n:
            st = self.state
            if self.body_unseen and not self.buf:
                self.body_unseen = False
                if _NEXT_RESPONSE.match(data, i):   # no body: the next response begins
                    self._end()
                    continue
            if st == HEAD:
                fresh = not self.buf
                self.buf += data[i:]
                if not _may_begin(self.buf):
                    self.out(self.buf, (), i if fresh else None)
                    self.buf, self.left = b"", True
                    break
                i = n
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buf) > MAX_HEAD:
                        self.give_up("header")
                        self.out(self.buf, ())
                        self.buf, self.state = b"", PASS
                    continue
                block, rest = self.buf[:end + 4], self.buf[end + 4:]
                self.buf = b""
                at = n - len(rest) - len(block)
                self.out(block, (), at if at >= 0 else None)
                self._start(block)
                i = n - len(rest)
            elif st in (LENGTH, CHUNK_DATA):
                take = min(self.remaining, n - i)
                self._body(data[i:i + take], i if st == LENGTH else None)
                self.remaining -= take
                i += take
                if self.remaining:
                    continue
                if st == LENGTH:
                    self._end()
                else:
                    self.state, self.remaining = CHUNK_END, 2
            elif st in (CHUNK_SIZE, TRAILERS):
                nl = data.find(b"\n", i)
                if nl < 0:
                    self.buf += data[i:]
                    i = n
                    if len(self.buf) > MAX_LINE:
                        self.give_up("header")
                        self.buf, self.state = b"", PASS
                    continue
                line, self.buf = (self.buf + data[i:nl]).strip(), b""
                i = nl + 1
                if st == TRAILERS:
                    if not line:
                        self._end()
                    continue
                try:
                    size = int(line.split(b";", 1)[0], 16)
                except ValueError:
                    self.refuse("corrupt")
                    self.state = PASS
                    continue
                if size:
                    self.state, self.remaining = CHUNK_DATA, size
                else:
                    self.state = TRAILERS
            elif st == CHUNK_END:       # the CRLF after a chunk's data
                while i < n and self.remaining and data[i] in b"\r\n":
                    i += 1
                    self.remaining -= 1
                if i < n or not self.remaining:
                    self.state = CHUNK_SIZE
            elif st == CLOSE:
                self._body(data[i:], i)
                i = n
            elif st == WS:
                i += self.ws.feed(data[i:], i)
                if self.ws.lost:            # no frame: HTTP again, or another protocol
                    self.state, self.ws = HEAD, None
            elif st == H2:
                i += self.h2.feed(data[i:], i)
                if self.h2.lost:            # no frame: the rest as it is
                    self.state, self.h2 = PASS, None
            else:                       # PASS: lost the framing; as it is
                self.out(data[i:], (), i)
                i = n
        if self.state == PASS:          # then back to the raw path
            self.state, self.left = HEAD, True

    def _start(self, block: bytes) -> None:
        if H2_PREFACE.startswith(block):  # HTTP/2 with prior knowledge, or after h2c
            self.state = H2
            self.h2 = Http2(self.out, self.refuse, self.give_up, self.live,
                            expect=H2_PREFACE[len(block):])
            return
        response = block.startswith(b"HTTP/")
        first = block[:12]
        fields: dict[bytes, bytes] = {}
        for m in _FIELDS.finditer(block):      # the fields that decide the body
            key, value = m.group(1).lower(), m.group(2).strip()
            fields[key] = fields[key] + b"," + value if key in fields else value
        te = _tokens(fields.get(b"transfer-encoding", b""))
        self.chunked = bool(te) and te[-1] == b"chunked"
        length = fields.get(b"content-length", b"").split(b",")[0].strip()
        status = http_status(first) or 0
        self.body = Body(self.out, fields, ("chunked",) if self.chunked else (), self.refuse,
                         self.live)
        # a WebSocket: the client's frames follow its handshake request, the server's its
        # 101 answer (a refused client sends none, or a new request: `lost` tells); after
        # an h2c upgrade's 101 the server speaks HTTP/2 (the client, its preface)
        upgrade = _tokens(fields.get(b"upgrade", b""))
        if b"websocket" in upgrade and (status == 101 or not response):
            self.state = WS
            self.ws = WebSocket(self.out, not response, self.refuse, self.live)
        elif b"h2c" in upgrade and status == 101:
            self.state = H2
            self.h2 = Http2(self.out, self.refuse, self.give_up, self.live)
        elif response and (100 <= status < 200 or status in (204, 304)):
            self.state = HEAD
        elif self.chunked:
            self.state = CHUNK_SIZE
        elif length.isdigit():
            self.remaining = int(length)
            self.state = LENGTH if self.remaining else HEAD
        else:
            self.state = CLOSE if response else HEAD
        self.body_unseen = response and self.state not in (HEAD, WS, H2)

    def _body(self, data: bytes, at: int | None) -> None:
        self.body.feed(data, at)

    def _end(self) -> None:
        if self.body is not None:
            self.body.end()
        self.out(b"", None)             # a message ended: decide all that is pending
        self.state, self.body = HEAD, None


class Body:
    """One message's body after its framing (`framing`: the labels of what undid that):
    its content codings undone in turn, then its media type read — a form percent-decoded,
    multipart parts as `name=value`, gRPC messages one by one (each compressed one inflated
    with its `grpc-encoding`). `fields`: the message's header fields, names in lower case."""

    def __init__(self, out, fields: dict[bytes, bytes], framing: tuple, refuse, live):
        self.out, self.refuse, self.live = out, refuse, live
        ce = [c.decode("latin-1") for c in _tokens(fields.get(b"content-encoding", b""))
              if c != b"identity"]
        ctype = fields.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        self.codings = [Inflater(c, refuse, live) for c in reversed(ce)]
        self.form = ctype == b"application/x-www-form-urlencoded"
        self.mime = Mime(out, form=True, refuse=refuse, live=live) \
            if ctype.startswith(b"multipart/") else None
        self.labels = framing + tuple(ce)
        self.fed = False
        self.began = False                  # its first decoded bytes came
        self.lead = b""                     # ... and those held until they tell an archive
        self.archive: Zip | Gunzip | None = None    # the body is a file (told by its start)
        self.embedded = Embedded(out, refuse, live)     # files in base64 in its text
        self.grpc: Grpc | None = None
        if ctype.startswith(b"application/grpc"):
            coding = fields.get(b"grpc-encoding", b"identity").strip().lower()
            self.grpc = Grpc(out, self.labels + ("grpc",), coding.decode("latin-1"), refuse,
                             live)

    def feed(self, data: bytes, at: int | None) -> None:
        self.fed = True
        if self.codings:
            at = None
        for dec in self.codings:
            data = dec.feed(data)
        if not data:
            return
        if not self.began:
            # its first bytes, held until they can tell an archive (a chunk may be 1 byte)
            if self.lead:
                data, self.lead, at = self.lead + data, b"", None
            if short_of_a_member(data):
                self.lead = data
                return
            self.began = True
            self.archive = file_reader(data, self.out, self.labels, self.refuse, self.live)
        self._read(data, at)

    def _read(self, data: bytes, at: int | None) -> None:
        """The body's bytes with its codings undone, read as its media type says."""
        if self.archive is not None:
            self.archive.feed(data)
            return
        if self.grpc is not None:
            self.grpc.feed(data)
            return
        if self.mime is not None:
            self.mime.feed(data)        # its parts carry their own labels
            return
        labels = self.labels
        if self.form:
            plain = percent_decode(data)
            if plain != data:
                labels, data = labels + ("form-urlencoded",), plain
        self.embedded.feed(data, labels, at)

    def end(self) -> None:
        if self.lead:                   # a body shorter than a member header
            self.began, lead, self.lead = True, self.lead, b""
            self._read(lead, None)
        if self.mime is not None:
            self.mime.finish()


class Grpc:
    """gRPC's length-prefixed messages (a compressed flag, a 32-bit length, the message):
    each compressed one inflated on its own, with the stream's `grpc-encoding`."""

    def __init__(self, out, labels: tuple, coding: str, refuse, live):
        self.out, self.labels, self.coding = out, labels, coding
        self.refuse, self.live = refuse, live
        self.prefix = b""
        self.remaining = 0
        self.inflater: Inflater | None = None

    def feed(self, data: bytes) -> None:
        i, n = 0, len(data)
        while i < n:
            if not self.remaining:
                need = GRPC_PREFIX - len(self.prefix)
                self.prefix += data[i:i + need]
                i += need
                if len(self.prefix) < GRPC_PREFIX:
                    return
                compressed, self.remaining = GRPC_HEAD.unpack(self.prefix)
                self.prefix = b""
                self.inflater = Inflater(self.coding, self.refuse, self.live) \
                    if compressed and self.coding != "identity" else None
                continue
            take = min(self.remaining, n - i)
            chunk = data[i:i + take]
            i += take
            self.remaining -= take
            if self.inflater is not None:
                self.out(self.inflater.feed(chunk), self.labels + (self.coding,))
            else:
                self.out(chunk, self.labels)
            if not self.remaining:
                self.out(b"", None)     # a message ended


# --- HTTP/2 (RFC 9113) and HPACK (RFC 7541) -----------------------------------------------

# a frame's header (RFC 9113 4.1): length (24 bits: its high byte, then 16), type, flags,
# reserved bit and stream id (31 bits)
H2_HEAD = struct.Struct(">BHBBI")
H2_FRAME = H2_HEAD.size
(H2_DATA, H2_HEADERS, H2_PRIORITY, H2_RST, H2_SETTINGS, H2_PUSH, H2_PING, H2_GOAWAY,
 H2_WINDOW, H2_CONTINUATION) = range(10)
H2_LAST_TYPE = 0x10   # types past CONTINUATION up to here are extensions' (ALTSVC, ORIGIN,
                      # PRIORITY_UPDATE): skipped; a higher type is no frame of a known peer
END_STREAM, END_HEADERS, PADDED, PRIORITY = 0x1, 0x4, 0x8, 0x20
H2_ON_STREAM = frozenset((H2_DATA, H2_HEADERS, H2_PRIORITY, H2_RST, H2_PUSH, H2_CONTINUATION))
H2_ON_CONNECTION = frozenset((H2_SETTINGS, H2_PING, H2_GOAWAY))
H2_SIZE = {H2_PRIORITY: 5, H2_RST: 4, H2_PING: 8, H2_WINDOW: 4}   # payload sizes it fixes
MAX_H2_BODIES = 256   # an HTTP/2 connection's streams whose body is being read
MAX_HPACK = 512       # HTTP/2 directions whose header table is kept (HPACK_TABLE bytes at most)
HPACK_TABLE = 64 << 10
GRPC_HEAD = struct.Struct(">BI")     # a gRPC message's prefix: compressed flag, length
GRPC_PREFIX = GRPC_HEAD.size


class HeaderBlock(str):
    """The label of a decoded header block, "hpack", which also tells the block's stream:
    an answer belongs to the request on its stream (RFC 9113 8.1), whatever their order."""

    def __new__(cls, stream: int):
        label = super().__new__(cls, "hpack")
        label.stream = stream
        return label

    def __getnewargs__(self):
        return (self.stream,)


class Http2(Frames):
    """The frames of one direction of a cleartext HTTP/2 connection (prior knowledge, as
    gRPC and curl's `--http2-prior-knowledge` speak it, or after an `Upgrade: h2c`), as the
    receiver reads them: every header block (HEADERS, PUSH_PROMISE, their CONTINUATIONs)
    HPACK-decoded with the direction's dynamic table kept from block to block, written as
    `name: value` lines; each stream's DATA, padding left out, through a body of its own
    (`Body`: content codings, forms, multipart, gRPC messages). `expect`: the rest of the
    client preface still to come. `lost`: bytes where a frame header should be that are
    none, or a header block that does not decode (the table is then unknown): the caller
    passes the rest on as it is."""

    def __init__(self, out, refuse, give_up, live, expect: bytes = b""):
        self.out, self.refuse, self.give_up, self.live = out, refuse, give_up, live
        self.expect = expect
        self.head = b""
        self.remaining = 0
        self.type = self.flags = self.stream = 0
        self.data_left = -1             # DATA bytes before the padding (-1: pad length unread)
        self.frame = b""                # a header block frame's payload so far
        self.block = b""                # a header block across its frames
        self.block_stream = 0           # the stream whose header block goes on (0: none)
        self.block_kind = H2_HEADERS    # HEADERS (a stream's own) or PUSH_PROMISE (a promise)
        self.block_ends_stream = False
        self.bodies: OrderedDict[int, Body] = OrderedDict()
        self.last = 0                   # the stream whose DATA came out last
        self.lost = False
        self.table = None
        if live is not None:
            if len(live["hpack"]) >= MAX_HPACK:
                refuse("busy")
                self.lost = True
                return
            live["hpack"].add(self)
        self.table = hpack.Decoder(max_header_list_size=MAX_HEAD)
        self.table.max_allowed_table_size = HPACK_TABLE

    def feed(self, data: bytes, base: int) -> int:
        """Reads `data` (at `base` in the region); how many bytes were frames."""
        if not self.expect or self.lost:
            return super().feed(data, base)
        take = min(len(self.expect), len(data))
        if data[:take] != self.expect[:take]:
            self.lost = True
            return 0
        self.out(data[:take], (), base)
        self.expect = self.expect[take:]
        return take + super().feed(data[take:], base + take)

    def _header(self, data: bytes, i: int) -> int:
        kept = len(self.head)
        b = self.head + data[i:i + H2_FRAME - kept]
        if len(b) < H2_FRAME:
            return 0
        self.head = b""
        if not self._begin(b):
            self.lost = True
            return -1
        return H2_FRAME - kept

    def _begin(self, b: bytes) -> bool:
        """A frame header: whether it is one a peer may send here."""
        high, low, kind, flags, stream = H2_HEAD.unpack(b)
        size, stream = high << 16 | low, stream & 0x7FFFFFFF
        if kind > H2_LAST_TYPE or (kind == H2_CONTINUATION) != bool(self.block_stream) \
                or (self.block_stream and stream != self.block_stream) \
                or (kind in H2_ON_STREAM and not stream) or (kind in H2_ON_CONNECTION and stream) \
                or H2_SIZE.get(kind, size) != size or (kind == H2_SETTINGS and size % 6):
            return False
        self.type, self.flags, self.stream, self.remaining = kind, flags, stream, size
        self.frame = b""
        self.data_left = -1 if kind == H2_DATA and flags & PADDED else size
        return True

    def _payload(self, data: bytes, at: int) -> None:
        kind = self.type
        if kind in (H2_HEADERS, H2_PUSH, H2_CONTINUATION):
            if len(self.block) + len(self.frame) + len(data) > MAX_HEAD:
                self.give_up("header")
                self.lost = True
                return
            self.frame += data
        elif kind == H2_DATA:
            if self.data_left < 0:      # the pad length comes first
                self.data_left = self.remaining - 1 - data[0]
                data, at = data[1:], at + 1
            data = data[:max(self.data_left, 0)]
            self.data_left -= len(data)
            if data:
                self._data(data, at)

    def _data(self, data: bytes, at: int) -> None:
        sid = self.stream
        body = self.bodies.get(sid)
        if body is None:                # a stream whose headers were not read: as it is
            body = self._body(sid, {})
        if self.last and self.last != sid:      # no match joins two streams' bytes
            self.out(b"\n", ("http2",))
        self.last = sid
        body.feed(data, at)

    def _body(self, sid: int, fields: dict) -> Body:
        body = self.bodies[sid] = Body(self.out, fields, ("http2",), self.refuse, self.live)
        self.bodies.move_to_end(sid)
        while len(self.bodies) > MAX_H2_BODIES:
            self.bodies.popitem(last=False)
            self.give_up("streams")
        return body

    def _end_frame(self) -> None:
        kind, flags, frame = self.type, self.flags, self.frame
        self.frame = b""
        if kind in (H2_HEADERS, H2_PUSH):
            pad = frame[0] if flags & PADDED and frame else 0
            skip = bool(flags & PADDED) + (5 if kind == H2_HEADERS and flags & PRIORITY else 0) \
                + (4 if kind == H2_PUSH else 0)
            if skip + pad > len(frame):
                self.lost = True
                return
            self.block, frame = b"", frame[skip:len(frame) - pad]
            self.block_kind, self.block_stream = kind, self.stream
            self.block_ends_stream = kind == H2_HEADERS and bool(flags & END_STREAM)
        if kind in (H2_HEADERS, H2_PUSH, H2_CONTINUATION):
            self.block += frame
            if flags & END_HEADERS:
                self.block_stream = 0
                self._headers(self.block_kind == H2_HEADERS)
        elif kind == H2_DATA and flags & END_STREAM:
            self._end_stream(self.stream)
        elif kind == H2_RST:
            self.bodies.pop(self.stream, None)

    def _headers(self, on_stream: bool) -> None:
        """A whole header block: decoded, written; a stream's (not a promise's) headers
        give the body that follows, and its end where END_STREAM said so."""
        try:
            fields = self.table.decode(self.block, raw=True)
        except (hpack.HPACKError, ValueError, IndexError):
            self.refuse("corrupt")
            self.lost = True
            return
        self.block = b""
        self.out(b"".join(b"%s: %s\r\n" % f for f in fields) + b"\r\n", (HeaderBlock(self.stream),))
        sid = self.stream
        body = self.bodies.get(sid)
        if on_stream and (body is None or not body.fed):   # not trailers: a body may follow
            named = {}
            for name, value in fields:
                named[name] = named[name] + b"," + value if name in named else value
            self._body(sid, named)
        if on_stream and self.block_ends_stream:
            self._end_stream(sid)
        else:
            self.out(b"", None)

    def _end_stream(self, sid: int) -> None:
        body = self.bodies.pop(sid, None)
        if body is not None:
            body.end()
        self.out(b"", None)             # a message ended: decide all that is pending


# --- streams ----------------------------------------------------------------------------

CONTEXT_ROW, EARLIER_ROW = -1, -2     # marks' rows: bytes searched raw already; an earlier batch


class Piece:
    """Decoded text of one stream to search now: matches starting (in `text`) in
    [lo, hi) are this piece's; `locate(pos)` is (row, payload offset, decodings) of a
    position (row CONTEXT_ROW: bytes already searched raw, not this piece's)."""

    __slots__ = ("flow", "text", "lo", "hi", "marks", "ends", "row")

    def __init__(self, flow, text, lo, hi, marks, row):
        self.flow, self.text, self.lo, self.hi, self.row = flow, text, lo, hi, row
        self.marks = marks
        self.ends = [m[0] for m in marks]

    def locate(self, pos: int, begin: int | None = None) -> tuple[int, int, tuple]:
        """`begin`: the payload offset is that of this position instead (before `pos`'s
        part: negative), where the part's bytes are the payload's as they are."""
        k = min(bisect.bisect_right(self.ends, pos), len(self.marks) - 1)
        if k < 0:
            return self.row, 0, ()
        end, row, offset, start, labels, exact = self.marks[k]
        if row == EARLIER_ROW:          # bytes of an earlier batch: this batch's region
            return self.row, 0, labels
        if exact:
            offset += max(pos - start, 0) if begin is None else begin - start
        return row, offset, labels

    def completing(self, start: int, end: int) -> tuple[int, int, tuple]:
        """Where a match [start, end) of `text` is placed: the row holding its last byte;
        the offset of its start there (where that packet's part begins if the match
        began in an earlier packet's part); the decodings of both ends."""
        row, offset, labels = self.locate(start)
        last, last_offset, last_labels = self.locate(max(end - 1, start), begin=start)
        if last == row:
            return row, offset, labels + tuple(x for x in last_labels if x not in labels)
        return last, last_offset, last_labels + tuple(x for x in labels if x not in last_labels)


class Stream:
    """One direction of one flow under normalisation."""

    def __init__(self, key: int, mail: bool, owner: "Normaliser", file_head: bytes = b"",
                 embedded: bool = False):
        """`file_head`: a file sent as it is begins the stream with these bytes (FTP data, a
        body whose headers were not read); `embedded`: text holding a file in base64 whose
        message's start was not seen."""
        self.key = key
        self.text = b""
        self.done = 0                   # matches starting before this are decided
        self.flush_at = 0               # decided to here without waiting (a message ended)
        self.marks: list = []           # (text end, row, payload offset, text start, labels, exact)
        self.row, self.skip = EARLIER_ROW, 0
        self.context_left = 0           # bytes still to come out that were searched raw
        self.owner = owner
        self.http = self.mime = self.embedded = None
        self.zip: Zip | Gunzip | None = None
        if file_head:
            self.zip = file_reader(file_head, self._out, (), owner._refuse, owner.live)
        elif embedded:
            self.embedded = Embedded(self._out, owner._refuse, owner.live)
        elif mail:
            self.mime = Mime(self._out, mail=True, refuse=owner._refuse, live=owner.live)
        else:
            self.http = Http(self._out, owner._refuse, owner._give_up, owner.live)

    def _out(self, data: bytes, labels, at: int | None = None) -> None:
        if labels is None:
            self.flush_at = len(self.text)
            return
        if not data:
            return
        if self.context_left:
            n = min(self.context_left, len(data))
            self.context_left -= n
            self._mark(data[:n], CONTEXT_ROW, 0, labels, False)
            data, at = data[n:], None
            if not data:
                return
        for label in labels:
            self.owner.decoded_bytes[label] += len(data)
        exact = at is not None and not labels
        self._mark(data, self.row, self.skip + max(at or 0, 0), tuple(labels), exact)

    def _mark(self, data, row, offset, labels, exact) -> None:
        start = len(self.text)
        self.text += data
        self.marks.append((len(self.text), row, offset, start, labels, exact))

    @property
    def idle(self) -> bool:
        if self.http is not None:
            return self.http.idle
        if self.zip is not None:
            return self.zip.state == "done"
        if self.embedded is not None:
            return self.embedded.idle
        return self.mime.ended and not self.mime.partial

    def feed(self, data: bytes, row: int, skip: int, lead: int = 0) -> None:
        """One region's bytes; `lead` of them come before the first message (as they are)."""
        self.row, self.skip = row, skip
        if lead:
            self._out(data[:lead], (), 0)
            self.skip += lead
            data = data[lead:]
        if self.http is not None:
            self.http.feed(data)
        elif self.zip is not None:
            self.zip.feed(data)
        elif self.embedded is not None:
            self.embedded.feed(data, ())
        else:
            self.mime.feed(data)

    def prime(self, context: bytes) -> None:
        """Stream bytes before the first region fed, already searched raw: parsed only."""
        self.context_left = len(context)
        if context:
            self.row = CONTEXT_ROW
            self.feed(context, CONTEXT_ROW, 0)
        self.done = len(self.text)

    def context(self, before: bytes) -> None:
        """Stream bytes before the first region fed, searched raw already and not to be
        parsed: only the context of what follows (where a digit run begins)."""
        if before:
            self._mark(before, CONTEXT_ROW, 0, (), False)
        self.done = len(self.text)

    @property
    def left(self) -> bool:
        """Its bytes stopped being HTTP: the rest of the stream is raw."""
        return self.http is not None and self.http.left

    def take(self, flow: int, final: bool, follow=()) -> Piece | None:
        """The piece of text decided now; the stream keeps KEEP bytes of context.
        `follow`: (bytes, row, payload offset) of the raw stream bytes after the text (the
        stream goes back to the raw path), read as the context of a match that crosses
        into them, as the raw path reads a region's next bytes."""
        n = len(self.text)
        hi = n if final else max(self.flush_at, n - _hold(self.text))
        for data, row, offset in follow:
            self._mark(data, row, offset, (), True)
        piece = None
        if hi > self.done:
            piece = Piece(flow, self.text, self.done, hi, list(self.marks), self.row)
            self.done = hi
        cut = max(self.done - KEEP, 0)
        if cut:
            self.text = self.text[cut:]
            self.done -= cut
            self.flush_at = max(self.flush_at - cut, 0)
            self.marks = [(e - cut, r, o, s - cut, lab, x) for e, r, o, s, lab, x in self.marks
                          if e - cut > 0]
        return piece

    def forget_rows(self) -> None:
        """At a batch's end: its rows are gone."""
        self.marks = [(e, r if r == CONTEXT_ROW else EARLIER_ROW, o, s, lab, x)
                      for e, r, o, s, lab, x in self.marks]


_DELIMS = (b"\n", b",", b";", b"}", b"]", b">", b"&")


def _hold(text: bytes) -> int:
    """Trailing bytes that may be the start of a match still arriving: since the last
    delimiter, at most HOLD."""
    tail = text[-HOLD:]
    return len(tail) - 1 - max(tail.rfind(d) for d in _DELIMS)


class Normaliser:
    """The streams under normalisation (at most MAX_STREAMS), fed once per batch."""

    def __init__(self, engine=None):
        none = np.zeros(0, np.int64)
        self.stream_ids = engine.register(STREAM_MARKERS) if engine is not None else none
        self.preface_id = self.stream_ids[STREAM_MARKERS.index(H2_PREFACE_MARKER)] \
            if len(self.stream_ids) else -1
        self.h2_flows: OrderedDict[int, int] = OrderedDict()   # flow -> its client's stream
        self.text_ids = engine.register(TEXT_MARKERS) if engine is not None else none
        self.streams: OrderedDict[int, Stream] = OrderedDict()
        self.live = {"zlib": weakref.WeakSet(), "br": weakref.WeakSet(),   # decoders alive
                     "hpack": weakref.WeakSet()}
        self.refused: Counter[str] = Counter()
        self.given_up: Counter[str] = Counter()
        self.decoded_bytes: Counter[str] = Counter()

    def _refuse(self, reason: str) -> None:
        self.refused[reason] += 1

    def _give_up(self, reason: str) -> None:
        self.given_up[reason] += 1

    def run(self, ctx, view) -> tuple[np.ndarray, list[Piece]]:
        """(regions fed to a stream parser this batch — not to be searched raw, the
        decoded pieces to search)."""
        reg = view.regions
        consumed = np.zeros(len(reg), dtype=bool)
        marked = np.isin(view.lit_id, self.stream_ids)
        edge = np.isin(view.edge_lit_id, self.stream_ids)     # a marker across a boundary
        trig_entry = np.concatenate([view.lit_entry[marked], view.edge_lit_owner[edge]])
        trig_entry = trig_entry[reg.sid[trig_entry] >= 0]
        if self.streams:
            active = np.fromiter(self.streams.keys(), dtype=np.int64, count=len(self.streams))
            entries = np.flatnonzero(np.isin(reg.sid, active) & (reg.sid >= 0))
        else:
            entries = np.zeros(0, np.int64)
        keys = ctx.flow_keys
        servers = self._h2_servers(reg, keys, view, trig_entry)
        if not trig_entry.size and not entries.size and not servers:
            return consumed, []
        triggered = set(trig_entry.tolist())
        todo = np.union1d(np.union1d(entries, trig_entry), list(servers)).astype(np.int64).tolist()
        pieces: list[Piece] = []
        fed: set[int] = set()
        k = 0
        while k < len(todo):
            i = todo[k]
            k += 1
            sid, row = int(reg.sid[i]), int(reg.row[i])
            fk = int(keys[row])
            s = self.streams.get(sid)
            if s is not None and (s.key != fk or not reg.joined[i]):
                if s.key == fk:
                    self._give_up("gap")
                del self.streams[sid]
                s = None
            if s is None and i not in triggered and i not in servers:
                continue
            data = reg.bytes(i)
            lead = 0
            if s is None:
                # an HTTP/2 server's side is read as HTTP/2 whatever markers its bytes hold
                # (a gzip body's header is one)
                opened = self._open_h2_server(data, fk) if i in servers else None
                if opened is None and i in triggered:
                    opened = self._open(reg, i, data, fk)
                if opened is None:
                    continue
                s, lead = opened
                self.streams[sid] = s
                while len(self.streams) > MAX_STREAMS:
                    self.streams.popitem(last=False)
                    self._give_up("streams")
            else:
                self.streams.move_to_end(sid)
            consumed[i] = True
            fed.add(sid)
            s.feed(data, row, int(reg.skip[i]), lead)
            idle = s.idle
            follow = ()
            if idle and s.left:
                follow = [(reg.bytes(e)[:take], int(reg.row[e]), int(reg.skip[e]))
                          for e, take in reg.after(i)[1]]
            piece = s.take(fk, final=idle, follow=follow)
            if piece is not None:
                pieces.append(piece)
            if idle:
                del self.streams[sid]
            elif i + 1 < len(reg) and reg.sid[i + 1] == sid \
                    and (k == len(todo) or todo[k] != i + 1):
                todo.insert(k, i + 1)       # a stream opened in this batch: its next region
        # rows of this batch are gone after it: marks that point to them point to no row now
        for sid in fed:
            s = self.streams.get(sid)
            if s is not None:
                s.forget_rows()
        return consumed, pieces

    def _h2_client(self, fk: int, sid: int) -> None:
        """A flow whose client spoke HTTP/2's preface on stream `sid`: its other direction
        is read as HTTP/2 from its first frame on (a server sends no marker of its own)."""
        self.h2_flows[fk] = sid
        self.h2_flows.move_to_end(fk)
        while len(self.h2_flows) > MAX_STREAMS:
            self.h2_flows.popitem(last=False)
            self._give_up("streams")

    def _h2_servers(self, reg, keys, view, trig_entry) -> set[int]:
        """The regions of this batch that may begin the server's side of an HTTP/2 flow: of
        a flow whose client preface was seen (in an earlier batch, or in a region of this
        one with the preface's marker), the other direction, not under a parser yet."""
        preface = trig_entry[np.isin(trig_entry, view.lit_entry[view.lit_id == self.preface_id])]
        for e in preface.tolist():
            data = reg.bytes(e)
            if H2_PREFACE_LINE in data:
                self._h2_client(int(keys[reg.row[e]]), int(reg.sid[e]))
        if not self.h2_flows:
            return set()
        flows = np.fromiter(self.h2_flows.keys(), dtype=keys.dtype, count=len(self.h2_flows))
        found = np.flatnonzero(np.isin(keys[reg.row], flows) & (reg.sid >= 0))
        return {e for e, sid, fk in zip(found.tolist(), reg.sid[found].tolist(),
                                        keys[reg.row[found]].tolist())
                if sid != self.h2_flows[fk] and sid not in self.streams}

    def _open_h2_server(self, data: bytes, fk: int) -> tuple[Stream, int] | None:
        """The server's side of an HTTP/2 flow, where its region begins with the SETTINGS
        frame a server sends first (RFC 9113 3.4); elsewhere its start was not seen."""
        if len(data) < H2_FRAME or data[3:9] != bytes((H2_SETTINGS, 0, 0, 0, 0, 0)):
            return None
        self.h2_flows.pop(fk, None)
        s = Stream(fk, mail=False, owner=self)
        s.http.state = H2
        s.http.h2 = Http2(s._out, self._refuse, self._give_up, self.live)
        return s, 0

    def _open(self, reg, i: int, data: bytes, fk: int) -> tuple[Stream, int] | None:
        """A stream parser for region i, which holds a marker, and the region's bytes
        before the first message: HTTP from the last message start before the marker (in
        the region, or in the stream bytes just before it), else MIME."""
        low = data.lower()
        marker = min((p for p in (low.find(m) for m in STREAM_MARKERS) if p >= 0), default=-1)
        if marker >= 0:         # the usual case: the marker and its message start in the region
            if data.startswith(H2_PREFACE_LINE, marker):    # HTTP/2: the preface begins it
                http_at = marker
                self._h2_client(fk, int(reg.sid[i]))
            else:
                http_at = max((m.start() for m in _START.finditer(data, 0, marker)), default=-1)
            if http_at >= 0:
                s = Stream(fk, mail=False, owner=self)
                s.context(reg.before(i))
                return s, http_at
        before = reg.before(i)
        window = before + data
        low = (window + reg.after(i, EDGE_READ)[0]).lower()
        marker = min((p for p in (low.find(m, len(before)) for m in STREAM_MARKERS)
                      if 0 <= p < len(window)), default=len(window))
        http_at = max((m.start() for m in _START.finditer(window, 0, marker)), default=-1)
        if http_at >= 0:
            s = Stream(fk, mail=False, owner=self)
            if http_at < len(before):
                s.prime(before[http_at:])
            else:
                s.context(before)
            return s, max(http_at - len(before), 0)
        if b"content-transfer-encoding:" in low or b"multipart/" in low:
            s = Stream(fk, mail=True, owner=self)
            s.context(before)
            return s, 0
        # a file sent as it is, a ZIP archive or a gzip file, read from its header on (a
        # marker alone is four bytes that binary data holds now and then: the header must
        # be one its reader reads)
        at = data.find(ZIP_LOCAL)
        if zip_member(data, at) is None:
            at = gzip_file(data)
        if at >= 0:
            s = Stream(fk, mail=False, owner=self, file_head=data[at:])
            s.context(before)
            return s, at
        embedded = EMBEDDED.search(data)     # a file in base64 in a message begun earlier
        if embedded is not None:
            s = Stream(fk, mail=False, owner=self, embedded=True)
            s.context(before)
            return s, embedded.start()
        self._give_up("unsynced")
        return None

    def metric_families(self):
        from prometheus_client.core import CounterMetricFamily
        refused = CounterMetricFamily(
            "ybsensor_decompression_refused", "HTTP bodies whose decoding was stopped: "
            "output past the cap, a decompression ratio past the cap, corrupt or unsupported "
            "coding", labels=["reason"])
        for r in REFUSALS:
            refused.add_metric([r], self.refused[r])
        given = CounterMetricFamily(
            "ybsensor_normaliser_given_up", "Streams whose application-layer parser state "
            "was given up: table full, header too long, a hole, start not seen",
            labels=["reason"])
        for r in GIVE_UPS:
            given.add_metric([r], self.given_up[r])
        made = CounterMetricFamily(
            "ybsensor_normalised_bytes", "Decoded bytes the payload rules searched, by "
            "decoding stage", labels=["decoding"])
        for label, n in sorted(self.decoded_bytes.items()):
            made.add_metric([label], n)
        yield refused
        yield given
        yield made
