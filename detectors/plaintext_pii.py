"""JL art.32: insurance business data and personal data are encrypted in transit. Plaintext
payloads that carry personal data break it.

What is personal data here (the rules are in `pii_mask`, shared with the masking of every
output):
- resident ID numbers (GB 11643, with a valid MOD 11-2 check character), bank card numbers
  (Luhn), mobile numbers (11 digits, 13-19);
- the national insurance interface's personal fields (`psn_name`, `certno`, `psn_cert_type`,
  `mdtrt_cert_no`, `psn_no`, `card_sn`) with a value, in JSON, XML or form encoding; a value
  that is empty, `null` or already masked (holds `*`) does not count;
- the labels 姓名 (name), 身份证号 (ID number), 手机号 (mobile) in UTF-8 and GBK/GB18030: 姓名
  followed by a value is a person's name; the other two name the identifier that follows.

Only payloads that `payload_class` finds unencrypted are searched, TCP ones as streams
(`streams`): a match split across segments is found, retransmitted and overlapping bytes
are searched once. They are searched as the receiver reads them (`normalise`): the streams
holding an HTTP message with a content coding, chunked framing, a form or multipart body,
or a mail part in base64 or quoted-printable, or a ZIP archive (a spreadsheet), decoded
(and not raw); any text with its
UTF-16, full-width digits, JSON escapes, percent-encoded digits, digit groups
(`138 0013 8000`) and base64 of digits inside text decoded. Per batch: one literal pass (Hyperscan where installed) and one sampled
digit-run pass over the regions' bytes pick the few regions worth parsing; only those are
parsed in Python.

Each item is placed at the packet that made it readable: the one completing it in stream
order (the segment holding its end, or filling the hole before it), so the same packets
read in any batching raise the same alert. Severity: high; critical when the packet carries
personal fields of an insurance interface message (its envelope `infno`, `msgid` or
`fixmedins_code` seen in the flow). One alert per flow per dedup window. Its evidence is what
its own packet completes: the kinds and their counts, the interface fields and labels seen,
the flow's transaction number (`infno`) and institution code (`fixmedins_code`) — not
personal —, the offset where the first item starts in the packet's payload (negative: it
began in an earlier segment; for an item of a decoded body, which no wire byte spells,
where that packet's part of the stream begins), the decodings that revealed the
items (`decoded`: `chunked`, `gzip`, `deflate`, `br`, `form-urlencoded`, `multipart`,
`base64`, `quoted-printable`, `zip`, `utf-16le`, `utf-16be`, `full-width`, `full-width-gbk`,
`json-escape`, `percent-encoded`, `digit-groups`, `base64-inline`), and for each identifier (at most MAX_SHOWN) its masked
form (`220102********123X`, `138****5678`) and a keyed hash: HMAC-SHA256 of `kind:value`,
the first 128 bits in hex, so two alerts about the same person show the same hash and no
one without the key can tell who. Names are never shown, not even masked or hashed. A flow
whose every region is a candidate (a bulk transfer of numbers) is parsed MAX_PARSED regions
deep per batch; its alert's `packets` is then a lower bound (`counts_at_least`).

The hash key: detectors/payload_detector.py.
"""
from __future__ import annotations

import re
from collections import Counter, OrderedDict

import numpy as np

from ybsensor.decoders.tcp import FIN, RST

from .base import Finding
from .normalise import CONTEXT_ROW, Readable
from .pii_mask import (MOBILE, RESIDENT_ID, find_identifiers, long_digit_run, mask_text,
                       mask_value)
from .payload_detector import PayloadDetector, keyed_hash
from .streams import CONTEXT, EDGE

MAX_SHOWN = 10            # identifiers shown (masked, hashed) per alert
MAX_PARSED = 256          # candidate regions of one flow parsed per batch (packets: at least)
REMEMBER = 65536          # flows whose envelope (infno, fixmedins_code) is remembered

PERSONAL_FIELDS = ("psn_name", "certno", "psn_cert_type", "mdtrt_cert_no", "psn_no", "card_sn")
ENVELOPE_FIELDS = ("infno", "msgid", "fixmedins_code")
LABELS = {"姓名": "person_name", "身份证号": RESIDENT_ID, "手机号": MOBILE}
ENCODINGS = ("utf-8", "gbk")

_FIELDS = b"|".join(f.encode() for f in PERSONAL_FIELDS + ENVELOPE_FIELDS)
# a field name, then its value: "name": "value" / "name": 123 (JSON), <name>value (XML),
# name=value (form)
FIELD_RX = re.compile(rb'(?<![A-Za-z0-9_])(' + _FIELDS + rb')(?:"?\s*:\s*"?|>|=)'
                      rb'([^"<&\r\n,}\]]*)', re.IGNORECASE)
_COLONS = ("：".encode("utf-8"), "：".encode("gbk"))
_SEP = rb'(?:[\s:="\'>]|' + b"|".join(re.escape(c) for c in _COLONS) + rb')*'


def _percent(data: bytes) -> bytes:
    return "".join(f"%{b:02X}" for b in data).encode()


# each label as it may travel: raw UTF-8 or GBK (= GB18030 for these characters), or
# percent-encoded in a form (%E5%A7%93... / %D0%D5...)
LABEL_OF: dict[bytes, tuple[str, str]] = {}
for _label in LABELS:
    for _enc in ENCODINGS:
        LABEL_OF[_label.encode(_enc)] = (_label, _enc)
        LABEL_OF[_percent(_label.encode(_enc))] = (_label, _enc + " (percent-encoded)")
LABEL_RX = re.compile(b"(" + b"|".join(re.escape(k) for k in LABEL_OF) + b")" + _SEP +
                      rb'([^\s<&"\',;}\]\x00]?)', re.IGNORECASE)
_LABEL_KEY = {k.lower(): k for k in LABEL_OF}
# quick tests before the regular expressions: an identifier is a run of 11 digits at least
# (pii_mask.long_digit_run), a field or a label is there by name
_FIELD_NAMES = [f.encode() for f in PERSONAL_FIELDS + ENVELOPE_FIELDS]
INFNO_RX = re.compile(rb"^[0-9]{4}$")
CODE_RX = re.compile(rb"^[A-Za-z0-9]{1,32}$")

class _Items:
    """What one packet completes of one flow's personal data (an alert's evidence)."""

    def __init__(self):
        self.kinds: Counter[str] = Counter()
        self.identifiers: dict[tuple[str, str], None] = {}   # (kind, value), in order
        self.fields: dict[str, None] = {}
        self.labels: dict[str, None] = {}
        self.encodings: dict[str, None] = {}
        self.decoded: dict[str, None] = {}                    # decodings that revealed items
        self.offset: int | None = None                        # where its first item starts
        self.personal = False                                 # it completes personal data


class _Group:
    """What one flow showed in one batch, by the packet that completed each item: an
    alert names what its own packet completes, so its evidence is the same whichever
    batch holds the packets before or after it."""

    def __init__(self):
        self.rows: dict[int, _Items] = {}
        self.envelope: dict[str, str] = {}
        self.truncated = False                                # MAX_PARSED was reached

    def at(self, row: int, offset: int, personal: bool = True) -> _Items:
        items = self.rows.get(row)
        if items is None:
            items = self.rows[row] = _Items()
        if personal and (items.offset is None or offset < items.offset):
            items.offset = offset
        items.personal = items.personal or personal
        return items


class PlaintextPii(PayloadDetector):
    name = "plaintext_pii"
    rule = "JL art.32"

    def __init__(self, config, plan):
        super().__init__(config, plan)
        self.field_ids = self.engine.register([f.encode() for f in PERSONAL_FIELDS])
        self.label_ids = self.engine.register([k for k in LABEL_OF if len(k) <= EDGE])
        self.envelope_ids = self.engine.register([f.encode() for f in ENVELOPE_FIELDS])
        self.normaliser = self.engine.normaliser
        self.end_counted = np.zeros(0, dtype=bool)    # per stream: an identifier ended it
        self.envelopes: OrderedDict[int, dict] = OrderedDict()

    # --- detection ---------------------------------------------------------------------

    def detect(self, ctx) -> list[Finding]:
        view = self.engine.view(ctx)
        reg = view.regions
        if not len(reg):
            return []
        personal = np.isin(view.lit_id, np.concatenate([self.field_ids, self.label_ids]))
        envelope = np.isin(view.lit_id, self.envelope_ids)
        edge_mine = np.isin(view.edge_lit_id, np.concatenate(
            [self.field_ids, self.label_ids, self.envelope_ids]))
        wide = np.isin(view.lit_id, self.normaliser.text_ids)
        cand = np.unique(np.concatenate([view.digit_entries, view.lit_entry[personal | wide],
                                         view.edge_digit_owner, view.edge_lit_owner[edge_mine]]))
        env_entries = np.unique(view.lit_entry[envelope])
        # the streams whose messages are decoded first: their regions are searched decoded,
        # not raw (each byte searched once)
        consumed, pieces = self.engine.normalised(ctx, view)
        if pieces or consumed.any():
            cand, env_entries = cand[~consumed[cand]], env_entries[~consumed[env_entries]]
        top = int(reg.sid.max()) if len(reg.sid) else -1
        if top >= len(self.end_counted):
            self.end_counted = np.concatenate(
                [self.end_counted, np.zeros(max(top + 1, 2 * len(self.end_counted), 2048)
                                            - len(self.end_counted), bool)])
        carried = self.end_counted.copy()
        # every stream that moved on forgets; the ones whose end an identifier took, mark
        moved = reg.sid[reg.last & (reg.sid >= 0)]
        self.end_counted[moved] = False
        keys = ctx.flow_keys
        if not cand.size and not pieces:
            self._remember_envelopes(reg, env_entries, keys, {}, set())
            return []
        groups: dict[int, _Group] = {}
        envelopes: dict[int, dict] = {}       # flow -> infno, fixmedins_code seen in this batch
        # in the order the packets came, so that evidence lists things as they appeared; a
        # flow that is all candidates (a bulk transfer of numbers) is parsed MAX_PARSED deep
        parsed_per_flow: Counter[int] = Counter()
        for i in cand[np.argsort(reg.row[cand], kind="stable")].tolist():
            fk = int(keys[int(reg.row[i])])
            parsed_per_flow[fk] += 1
            if parsed_per_flow[fk] > MAX_PARSED:
                if fk in groups:
                    groups[fk].truncated = True
                continue
            self._parse(ctx, reg, i, groups, envelopes, keys, carried)
        for piece in pieces:
            parsed_per_flow[piece.flow] += 1
            if parsed_per_flow[piece.flow] > MAX_PARSED:
                if piece.flow in groups:
                    groups[piece.flow].truncated = True
                continue
            self._parse_piece(piece, groups, envelopes)
        self._remember_envelopes(reg, env_entries, keys, envelopes, set(cand.tolist()))
        if not groups:
            return []
        # the envelope of the flows that showed personal data: in this batch, or remembered
        for fk, g in groups.items():
            env = envelopes.get(fk) or self.envelopes.get(fk)
            if env:
                g.envelope = dict(env)
        return self._findings(ctx, groups)

    def _remember_envelopes(self, reg, entries: np.ndarray, keys, envelopes: dict,
                            parsed: set) -> None:
        """The envelopes (infno, fixmedins_code) this batch shows, of every flow, read where
        the regions `entries` hold one and were not `parsed` already, remembered (at most
        REMEMBER flows): personal data in a later packet of the flow, in a later batch too,
        is judged with the envelope its request carried."""
        for i in entries.tolist():
            if i not in parsed:
                self._envelope(reg, i, envelopes.setdefault(int(keys[int(reg.row[i])]), {}))
        for fk, env in envelopes.items():
            if env:
                self.envelopes[fk] = dict(env)
                self.envelopes.move_to_end(fk)
        while len(self.envelopes) > REMEMBER:
            self.envelopes.popitem(last=False)

    def _parse(self, ctx, reg, i: int, groups: dict, envelopes: dict, keys, carried) -> None:
        row = int(reg.row[i])
        before = reg.before(i)
        region = reg.bytes(i)
        after, spans = reg.after(i)
        window = before + region + after
        b0, b1 = len(before), len(before) + len(region)
        from_state = bool(reg.from_state[i])
        sid = int(reg.sid[i])
        ended_before = from_state and sid >= 0 and bool(carried[sid])
        skip = int(reg.skip[i])
        fk = int(keys[row])
        g = groups.get(fk)
        fresh = g is None
        if fresh:
            g = _Group()

        # the stream may go on past this region in a later batch (no later region here, no
        # FIN or RST): a field whose value runs to its end is not done yet
        open_end = sid >= 0 and bool(reg.last[i]) and not (
            int(ctx.t.tcp_flags[row]) & (FIN | RST)) and not after

        def owned(start: int, end: int, digits: bool, field: bool = False) -> bool:
            if b0 <= start < b1:
                # a field whose value the stream's end so far cuts is the later batch's
                # (its start lies in the tail the stream keeps): placed, as in one batch,
                # at the packet that ends its value
                return not (field and open_end and end == len(window)
                            and start >= len(window) - CONTEXT)
            # a match that began in the tail the previous batch stored, and crosses into
            # this region (a run of digits only if the previous batch did not count it)
            return from_state and start < b0 < end and not (digits and ended_before)

        def place(start: int, end: int, personal: bool = True) -> _Items:
            """The packet that completes a match (holds its last byte), and where the
            match starts in that packet's payload (negative: in an earlier segment)."""
            if end <= b1:
                return g.at(row, skip + start - b0, personal)
            pos, first = b1, {}                 # row -> where its first segment begins
            for entry, n in spans:
                first.setdefault(int(reg.row[entry]), (entry, pos))
                if end <= pos + n:
                    break
                pos += n
            done = int(reg.row[entry])
            if done == row:
                return g.at(row, skip + start - b0, personal)
            entry, pos = first[done]
            return g.at(done, int(reg.skip[entry]) + start - pos, personal)

        found = self._search(window, owned, place, envelopes.setdefault(fk, {}))
        if found is None and reg.last[i] and sid >= 0:
            self.end_counted[sid] = True
        if found is not False and fresh:
            groups[fk] = g

    def _parse_piece(self, piece, groups: dict, envelopes: dict) -> None:
        """A stream's decoded text (normalise.Piece): matches that start in its [lo, hi)."""
        fk = piece.flow
        g = groups.get(fk)
        fresh = g is None
        if fresh:
            g = _Group()

        def owned(start: int, end: int, digits: bool, field: bool = False) -> bool:
            return piece.lo <= start < piece.hi and piece.locate(start)[0] != CONTEXT_ROW

        def place(start: int, end: int, personal: bool = True) -> _Items:
            row, offset, labels = piece.completing(start, end)
            items = g.at(row, offset, personal)
            for label in labels:
                items.decoded.setdefault(label, None)
            return items

        if self._search(piece.text, owned, place, envelopes.setdefault(fk, {})) is not False \
                and fresh:
            groups[fk] = g

    def _search(self, data: bytes, owned, place, env: dict):
        """Identifiers, personal fields and labels in `data`, its text encodings decoded
        (normalise.Readable); `owned(start, end, digits)` says which matches are this
        caller's, `place(start, end, personal)` gives the _Items of the packet completing
        one (positions in `data`). True if personal data was found; None if so and an
        identifier ended `data` (the caller's stream remembers it)."""
        text = Readable(data)
        t = text.text
        origin = text.origin
        found, at_end = False, False

        def took(a: int, b: int, personal: bool = True) -> _Items:
            items = place(origin(a), origin(b), personal)
            for label in text.labels(a, b):
                items.decoded.setdefault(label, None)
            return items

        for ident in find_identifiers(t) if long_digit_run(t) else ():
            start, end = origin(ident.start), origin(ident.end)
            if not owned(start, end, True):
                continue
            found = True
            items = took(ident.start, ident.end)
            items.kinds[ident.kind] += 1
            items.identifiers.setdefault((ident.kind, ident.value.decode("ascii").upper()), None)
            at_end = at_end or end == len(data)
        low = t.lower()
        for m in FIELD_RX.finditer(t) if any(f in low for f in _FIELD_NAMES) else ():
            name = m.group(1).lower().decode()
            if name in ENVELOPE_FIELDS:
                self._envelope_match(m, env)
                continue
            if not owned(origin(m.start()), origin(m.end()), False, True):
                continue
            value = m.group(2).strip()
            if not value or value.lower() == b"null" or b"*" in value:
                continue
            found = True
            items = took(m.start(), m.end())
            items.kinds["person_name" if name == "psn_name" else "insurance_field"] += 1
            items.fields.setdefault(name, None)
        for m in LABEL_RX.finditer(t) if any(k in low for k in _LABEL_KEY) else ():
            if not owned(origin(m.start()), origin(m.end(1)), False):
                continue
            label, enc = LABEL_OF[_LABEL_KEY[m.group(1).lower()]]
            name = LABELS[label] == "person_name" and bool(m.group(2))
            items = took(m.start(), m.end(), name)
            items.labels.setdefault(label, None)
            items.encodings.setdefault(enc, None)
            if name:
                found = True
                items.kinds["person_name"] += 1
        return None if found and at_end else found

    def _envelope(self, reg, i: int, env: dict) -> None:
        window = reg.before(i) + reg.bytes(i) + reg.after(i)[0]
        for m in FIELD_RX.finditer(window):
            if m.group(1).lower().decode() in ENVELOPE_FIELDS:
                self._envelope_match(m, env)

    @staticmethod
    def _envelope_match(m, env: dict) -> None:
        name = m.group(1).lower().decode()
        value = m.group(2).strip()
        if name == "infno" and INFNO_RX.match(value):
            env.setdefault("infno", value.decode())
        elif name == "fixmedins_code" and CODE_RX.match(value):
            env.setdefault("fixmedins_code", value.decode())
        elif name == "msgid" and value:
            env.setdefault("msgid", "")       # seen; its value is not shown

    def _findings(self, ctx, groups: dict[int, _Group]) -> list[Finding]:
        by_row: dict[int, tuple[_Group, _Items]] = {}
        severe, plain = [], []
        for g in groups.values():
            for r, items in g.rows.items():
                if not items.personal:
                    continue
                by_row[r] = (g, items)
                (severe if g.envelope and items.fields else plain).append(r)

        def explain(row: int) -> dict:
            return self._evidence(*by_row[row])

        out = []
        for rows, severity, reason in ((severe, "critical", "insurance_message_with_personal_data"),
                                       (plain, "high", "personal_data_in_plaintext")):
            if rows:
                out.append(Finding(rows=np.array(sorted(rows), dtype=np.int64),
                                   severity=severity, reason=reason, explain=explain))
        return out

    def _evidence(self, g: _Group, items: _Items) -> dict:
        shown = list(items.identifiers)[:MAX_SHOWN]
        key = self.key
        ev = {
            "kinds": dict(sorted(items.kinds.items())),
            "masked": [mask_text(mask_value(kind, value)) for kind, value in shown],
            "hashes": [keyed_hash(key, kind, value) for kind, value in shown],
            "offset": items.offset or 0,
        }
        if items.fields:
            ev["fields"] = list(items.fields)
        if items.labels:
            ev["labels"] = list(items.labels)
            ev["encodings"] = list(items.encodings)
        if items.decoded:
            ev["decoded"] = list(items.decoded)
        for name in ("infno", "fixmedins_code"):
            if g.envelope.get(name):
                ev[name] = mask_text(g.envelope[name])
        if g.envelope:
            ev["message"] = "insurance_interface"
        if g.truncated:
            ev["counts_at_least"] = True
        return ev
