"""Names in a client's first message when the message spans TCP segments: a TLS ClientHello
of 1.8 KB (a post-quantum key share) whose server_name lies in its second segment, an HTTP
request whose Host header does, a DNS query over TCP cut by its segment; and a QUIC
client's ClientHello, spread over the Initial packets of its first datagrams (quic).

The detectors that read names (`internet_bound`, `remote_control`) select the rows whose
payload opens such a message (the pre-filters of payload_kernels) and parse each row's payload. Where the
parser finds no name and the message is not whole yet, this module keeps the
message's bytes so far, keyed by the stream (flow key and sending end), with the next
sequence number it expects. In later rows of the same stream (this batch or later ones; the
batch's flow grouping finds them: one look-up per flow, not per row) the segments that
continue it in sequence order are appended (a QUIC stream's datagrams: in capture order,
each whole), and the message parsed again: the name, once
read, is reported on the row that completed it. A stream is kept until its name is read,
its message is whole, it exceeds `MAX_MESSAGE` bytes, or `TIMEOUT_NS` of packet time pass;
at most `max_streams` are kept (the oldest go). What is given up unread is counted
(`ybsensor_name_prefixes_given_up_total{reason}`). A QUIC client sends Initial datagrams
after its ClientHello too (acknowledgements, the flight's later datagrams), each one
looking like a first message: the QUIC streams whose hello was read or was whole are
remembered (at most `max_streams`, the oldest forgotten first) and not kept again.

One instance per sensor (`shared`), read by every detector that asks: each gets the names
of the rows it asked about, and of the streams it asked about when they complete.
"""
from __future__ import annotations

import weakref
from collections import Counter, OrderedDict
from typing import Callable

import numpy as np

from . import names, quic
from .content import data_seq, toward_server
from .base import per_sensor
from .streams import Engine

TCP, UDP = 6, 17
MAX_MESSAGE = 16384 + 5          # a TLS record's largest plaintext and its header
TIMEOUT_NS = 30 * 10**9
MOD = 1 << 32
DNS, DNS_TCP, TLS_SNI, HTTP_HOST, QUIC_SNI = "dns", "dns_tcp", "tls_sni", "http_host", "quic_sni"
SOCKS = "socks"
REASONS = ("whole", "too_long", "timeout", "streams")


def tls_whole(b: bytes) -> bool:
    """The ClientHello's record is all here."""
    return len(b) >= 5 and len(b) >= 5 + names.u16(b, 3)


def http_whole(b: bytes) -> bool:
    """The request's headers are all here (or more than the parser reads)."""
    return b"\r\n\r\n" in b or b"\n\n" in b or len(b) >= names.HTTP_LIMIT


def dns_tcp_whole(b: bytes) -> bool:
    """The query its 2-byte length prefix announces is all here."""
    return len(b) >= 2 and len(b) >= 2 + names.u16(b, 0)


def dns_tcp_query_name(payload: bytes) -> str | None:
    """names.dns_query_name of a DNS message over TCP (RFC 1035 4.2.2: a 2-byte length first)."""
    b = bytes(payload)
    if len(b) < 2:
        return None
    return names.dns_query_name(b[2: 2 + names.u16(b, 0)])


# how each kind of first message is parsed (the parser looked up when called), and when it
# is whole
PARSERS: dict[str, tuple[Callable[[bytes], str | None], Callable[[bytes], bool]]] = {
    DNS: (lambda b: names.dns_query_name(b), lambda b: True),     # a datagram is whole
    TLS_SNI: (lambda b: names.tls_server_name(b), tls_whole),
    HTTP_HOST: (lambda b: names.http_host(b), http_whole),
    DNS_TCP: (dns_tcp_query_name, dns_tcp_whole),
    QUIC_SNI: (lambda b: quic.server_name(b), quic.whole),        # datagrams quic.frame made
    SOCKS: (lambda b: names.socks_target(b), lambda b: True),     # a request is a few bytes
}


def parse(kind: str, payload: bytes) -> str | None:
    return PARSERS[kind][0](payload)


def opening(kind: str, payload: bytes) -> bytes:
    """The message that an opening row's payload begins (a QUIC datagram as quic.frame makes
    it)."""
    return quic.frame(payload) if kind == QUIC_SNI else payload


class _Pending:
    __slots__ = ("kind", "data", "next_seq", "first_ns", "askers")

    def __init__(self, kind: str, data: bytes, next_seq: int, first_ns: int, asker: str):
        self.kind, self.data, self.next_seq, self.first_ns = kind, data, next_seq, first_ns
        self.askers = {asker}


class FirstMessages:
    """Bounded per-stream prefixes of first client messages, until their name is read."""

    _shared: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

    def __init__(self, max_streams: int = 4096):
        self.max_streams = max_streams
        self.pending: OrderedDict[tuple, _Pending] = OrderedDict()   # oldest first
        self.given_up: Counter[str] = Counter({r: 0 for r in REASONS})
        self.finished: OrderedDict[tuple, None] = OrderedDict()   # QUIC streams read
        self.publisher = None
        # the batch being read, weakly: holding it would keep its whole table (tens of MB)
        # alive until the next batch's is made
        self._ctx = lambda: None
        self._parsed: dict[int, str | None] = {}
        self._completed: dict[tuple, tuple[int, str, str, set]] = {}   # stream -> row, kind, name
        self._messages: dict[int, bytes] = {}    # row -> the message its name was read from
        # row -> the requests its message holds after the first (pipelined): (head, host)
        self._later: dict[int, list[tuple[bytes, str | None]]] = {}
        self._decoded = False         # whether this batch's HTTP/2 header blocks were read
        # HTTP/2 requests (row, stream, head, host) and answers (row, stream, status)
        self._requests: list[tuple[int, int | None, bytes, str]] = []
        self._answers: list[tuple[int, int, int]] = []

    @classmethod
    def shared(cls, detector) -> "FirstMessages":
        """The sensor's instance; the first detector to ask publishes its metrics."""
        return per_sensor(cls, cls._shared, detector)

    def families_for(self, detector):
        """The metrics, from the detector that publishes them (once a sensor)."""
        if self.publisher is detector:
            yield from self.metric_families()

    # --- per batch ---------------------------------------------------------------------

    def read(self, ctx, asker: str, rows: np.ndarray, kinds: list[str]) -> dict[int, tuple[str, str]]:
        """The names of `rows` (each opening a message of its kind), and of the streams
        `asker` asked about that rows of this batch completed: {row: (kind, name)}."""
        if self._ctx() is not ctx:
            self._start(ctx)
        t = ctx.t
        found: dict[int, tuple[str, str]] = {}
        new, asked = [], set()
        for row, kind in zip(rows.tolist(), kinds):
            stream = self._stream(ctx, row) if t.proto[row] == TCP or kind == QUIC_SNI else None
            asked.add(stream)
            if row not in self._parsed:
                payload = opening(kind, ctx.payload(row, MAX_MESSAGE))
                name = parse(kind, payload)
                self._parsed[row] = name
                if kind == HTTP_HOST:
                    self._note_later(row, payload)
                if name is not None:
                    self._messages[row] = payload
                if kind == QUIC_SNI and (name is not None or PARSERS[kind][1](payload)):
                    self._finish(stream)
                if name is None and stream is not None and not PARSERS[kind][1](payload) \
                        and stream not in self.pending and stream not in self.finished:
                    seq = row if kind == QUIC_SNI else \
                        (int(data_seq(t, row)) + int(t.payload_len[row])) % MOD
                    self._keep(stream, _Pending(kind, payload, seq, int(t.ts_ns[row]), asker))
                    new.append(stream)
            name = self._parsed[row]
            if name is not None:
                found[row] = (kind, name)
            elif stream is not None and stream in self.pending:
                self.pending[stream].askers.add(asker)
        if new:
            self._continue(ctx, set(new))
        for stream, (row, kind, name, askers) in self._completed.items():
            if asker in askers or stream in asked:
                found[row] = (kind, name)
        return found

    def exchanges(self, ctx, detector) -> tuple[list[tuple[int, int | None, bytes, str]],
                                                list[tuple[int, int, int]]]:
        """Cleartext HTTP/2 this batch completes, read in the header blocks the payload
        engine's normaliser decodes (HPACK keeps them from the raw readers): every request,
        several a row as clients send them (row completing the header block, its stream,
        the HTTP/1.1 head it means, its host), and every answer (row, stream, :status;
        interim ones too). Only where a payload detector of the sensor runs the engine (it
        is on by default): without one the blocks are not decoded, and nothing is read."""
        if self._ctx() is not ctx:
            self._start(ctx)
        if not self._decoded:
            self._decoded = True
            engine = Engine.made_for(detector)
            if engine is not None:
                for piece in engine.normalised(ctx, engine.view(ctx))[1]:
                    self._read_blocks(ctx, piece)
        return list(self._requests), list(self._answers)

    def _read_blocks(self, ctx, piece) -> None:
        t = ctx.t
        for end, row, _offset, start, labels, _exact in piece.marks:
            if "hpack" not in labels or not piece.lo <= start < piece.hi:
                continue
            block = piece.text[start:end]
            head = names.h2_request_head(block)
            name = names.http_host(head) if head is not None else None
            row = piece.completing(start, end)[0]
            stream = next((getattr(label, "stream", None) for label in labels
                           if label == "hpack"), None)
            if row < 0:
                continue
            # a client's request, not a server's PUSH_PROMISE of one
            if name is not None and toward_server(t, np.array([row]), (), ctx.from_client)[0]:
                self._requests.append((row, stream, head, name))
            elif head is None and stream is not None:
                status = names.h2_status(block)
                if status is not None:
                    self._answers.append((row, stream, status))

    def later(self, row: int) -> list[tuple[bytes, str | None]]:
        """The HTTP requests that the message `read` parsed for `row` holds after its first
        (names.pipelined_requests), each (head, host; None where it names none)."""
        return self._later.get(row, [])

    def later_named(self, rows: np.ndarray, named: dict) -> list[tuple[int, bytes, str]]:
        """(row, head, host) of each request after the first that names a host, in the
        messages of `rows` (those an asker asked `read` about) and of the rows `read` gave
        it names for (completing a message begun earlier), in row order."""
        return [(row, head, host) for row in sorted(named.keys() | set(rows.tolist()))
                for head, host in self.later(row) if host is not None]

    def _note_later(self, row: int, message: bytes) -> None:
        heads = names.pipelined_requests(message)
        if heads:
            self._later[row] = [(head, names.http_host(head)) for head in heads]

    def message(self, row: int) -> bytes:
        """The first message (so far) that `read` found the name of `row` in: the row's
        payload, or the message its segments made that the row completed."""
        return self._messages.get(row, b"")

    def _start(self, ctx) -> None:
        """A new batch: streams too old go, and the kept ones take this batch's segments."""
        self._ctx, self._parsed, self._completed, self._messages = weakref.ref(ctx), {}, {}, {}
        self._later = {}
        self._decoded, self._requests, self._answers = False, [], []
        t = ctx.t
        if not self.pending or not t.n:
            return
        for p in self.pending.values():
            if p.kind == QUIC_SNI:
                p.next_seq = -1           # rows are this batch's: none appended yet
        limit = int(t.ts_ns.max()) - TIMEOUT_NS
        while self.pending:
            stream, p = next(iter(self.pending.items()))
            if p.first_ns >= limit:
                break
            del self.pending[stream]
            self.given_up["timeout"] += 1
        if self.pending:
            self._continue(ctx, set(self.pending))

    def _continue(self, ctx, streams: set) -> None:
        """Append this batch's segments of `streams` in sequence order; parse again."""
        t, g = ctx.t, ctx.groups
        keys = np.fromiter({s[0] for s in streams}, dtype=np.uint64)
        hit = np.isin(g.key, keys)                       # the batch's flows that are kept
        if not hit.any():
            return
        rows = g.rows[hit[g.inverse]]
        rows = rows[((t.proto[rows] == TCP) | (t.proto[rows] == UDP)) & (t.payload_len[rows] > 0)]
        by_stream: dict[tuple, list[int]] = {}
        for row in rows.tolist():
            stream = self._stream(ctx, row)
            if stream in streams and stream in self.pending:
                by_stream.setdefault(stream, []).append(row)
        for stream, seg_rows in by_stream.items():
            p = self.pending[stream]
            full = False
            if p.kind == QUIC_SNI:
                last, full = self._datagrams(ctx, p, seg_rows)
                seg_rows = ()
            else:
                # ahead of the expected sequence number, nearest first (a hole waits)
                seg_rows.sort(key=lambda r: (int(data_seq(t, r)) - p.next_seq) % MOD)
                last = -1
            for row in seg_rows:
                ahead = (int(data_seq(t, row)) - p.next_seq + (MOD >> 1)) % MOD - (MOD >> 1)
                size = int(t.payload_len[row])
                if ahead > 0 or ahead + size <= 0:
                    continue                    # beyond a hole, or nothing new
                data = ctx.payload(row, MAX_MESSAGE)[-ahead:]
                p.data += data[:MAX_MESSAGE - len(p.data)]
                p.next_seq = (p.next_seq + len(data)) % MOD
                last = row
            if last < 0 and not full:
                continue
            name = parse(p.kind, p.data) if last >= 0 else None
            if p.kind == QUIC_SNI and (name is not None or PARSERS[p.kind][1](p.data)):
                self._finish(stream)
            if name is not None:
                del self.pending[stream]
                self._completed[stream] = (last, p.kind, name, p.askers)
                self._messages[last] = p.data
            elif PARSERS[p.kind][1](p.data):
                del self.pending[stream]
                self.given_up["whole"] += 1
            elif len(p.data) >= MAX_MESSAGE or full:
                del self.pending[stream]
                self.given_up["too_long"] += 1
            if p.kind == HTTP_HOST and last >= 0:     # (none while the first head is cut)
                self._note_later(last, p.data)

    @staticmethod
    def _datagrams(ctx, p: _Pending, rows: list[int]) -> tuple[int, bool]:
        """A QUIC stream's later datagrams appended whole, in capture order (`next_seq`:
        the last row of this batch appended, -1 for none yet); (the last row appended, -1
        for none; whether one did not fit)."""
        last = -1
        for row in sorted(rows):
            if row <= p.next_seq:     # the row that began it, or one appended already
                continue
            part = quic.frame(ctx.payload(row, MAX_MESSAGE))
            if len(p.data) + len(part) > MAX_MESSAGE:
                return last, True
            p.data += part
            p.next_seq = last = row
        return last, False

    def _finish(self, stream: tuple) -> None:
        self.finished[stream] = None
        self.finished.move_to_end(stream)
        while len(self.finished) > self.max_streams:
            self.finished.popitem(last=False)

    def _keep(self, stream: tuple, p: _Pending) -> None:
        while len(self.pending) >= self.max_streams:
            self.pending.popitem(last=False)
            self.given_up["streams"] += 1
        self.pending[stream] = p

    @staticmethod
    def _stream(ctx, row: int) -> tuple:
        """A stream: its flow's key and the sending end."""
        t = ctx.t
        return (int(ctx.flow_keys[row]), int(t.src_hi[row]), int(t.src_lo[row]), int(t.sport[row]))

    def metric_families(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        given = CounterMetricFamily("ybsensor_name_prefixes_given_up", "First client messages "
                                    "kept to read a name across segments and given up unread",
                                    labels=["reason"])
        for reason in REASONS:
            given.add_metric([reason], self.given_up[reason])
        yield given
        yield GaugeMetricFamily("ybsensor_name_prefixes_kept", "First client messages kept to "
                                "read a name across segments", value=len(self.pending))
