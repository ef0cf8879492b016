"""The protocol event logs: `dns` (each query), `tls` (each ClientHello), `http` (each
request, with its response's status), the context an analyst reads around an alert
(Zeek's dns/ssl/http logs, Suricata's eve `dns`/`tls`/`http`).

Rows are chosen by the detectors' own pre-filter (internet_bound's `askers`: one
compiled pass over the batch) and their names read by `first_messages`, which the
detectors share: a name is parsed once a row whoever asks, and a message that spans
segments gives its name on the row that completes it. Only the selected rows take Python.
The fields besides the name are read from the message the name was read in: the row's own
payload, or the whole message its segments (a QUIC client's datagrams) made. Cleartext
HTTP/2 requests come from the header blocks the payload engine's normaliser decodes
(first_messages.exchanges), read as the HTTP/1.1 request each means; each takes the
`:status` of the answer on its stream (the same call gives the answers), in whatever
order the streams are answered.

Bounds: text copied from the wire is at most `MAX_TEXT` characters and passes the one
masking function (detectors/pii_mask.py); HTTP requests wait for their response's status
in at most `MAX_WAITING` flows (HTTP/2: streams) for `WAIT_NS` of packet time, and are
written without one past either (`ybsensor_event_records_unanswered_total`).
"""
from __future__ import annotations

from collections import Counter, OrderedDict

import numpy as np
from prometheus_client.core import CounterMetricFamily

from ybsensor.core.community_id import community_ids
from ybsensor.core.timestamps import rfc3339
from ybsensor.core.addresses import packed_column, texts
from ybsensor.decoders.view import line_key
from ybsensor.detectors import first_messages as fm
from ybsensor.detectors import names, quic
from ybsensor.detectors.content import head
from ybsensor.detectors.internet_bound import ASK_KINDS, InternetBound
from ybsensor.detectors.pii_mask import mask_text

from .flowlog import EVENT_FIELDS
from .tables import RecordFile

TCP = 6
MAX_TEXT = 512
MAX_WAITING = 4096
WAIT_NS = 60 * 10**9
ASKER = "events"
HTTP_RESPONSE = np.frombuffer(b"HTTP/1.", dtype=np.uint8)

FIELDS = {
    "dns": EVENT_FIELDS | {"transport": "str", "trans_id": "int", "query": "str",
                           "qtype": "int", "qtype_name": "str", "rcode": "int",
                           "rcode_name": "str", "answers": "strs", "TTLs": "floats"},
    "tls": EVENT_FIELDS | {"server_name": "str", "version": "str", "protocol": "str",
                           "ja4": "str"},
    "http": EVENT_FIELDS | {"method": "str", "host": "str", "path": "str",
                            "user_agent": "str", "status": "int"},
}
# messages logged when they are whole even if they name no host, and how that is told
NAMELESS = {fm.TLS_SNI: fm.tls_whole, fm.HTTP_HOST: fm.http_whole, fm.QUIC_SNI: quic.hello_whole}
EVENT_TYPE = {fm.DNS: "dns", fm.DNS_TCP: "dns", fm.TLS_SNI: "tls", fm.QUIC_SNI: "tls",
              fm.HTTP_HOST: "http"}
QTYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
          33: "SRV", 35: "NAPTR", 64: "SVCB", 65: "HTTPS", 255: "ANY"}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
          5: "REFUSED", 6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH",
          10: "NOTZONE"}
UDP = 17
# the highest version a ClientHello offers: TLCP (GB/T 38636, the national TLS) is 1.1
VERSIONS = {0x0101: ("TLCP 1.1", "tlcp"), 0x0300: ("SSL 3.0", "tls"),
            0x0301: ("TLS 1.0", "tls"), 0x0302: ("TLS 1.1", "tls"), 0x0303: ("TLS 1.2", "tls"),
            0x0304: ("TLS 1.3", "tls")}


def _text(value: str | None) -> str | None:
    return None if value is None else mask_text(value[:MAX_TEXT])


def dns_fields(kind: str, name: str, payload: bytes) -> dict:
    """A query's fields; `payload`: the message's first segment (b"": not seen)."""
    at = 2 if kind == fm.DNS_TCP else 0
    qtype_at = at + names.DNS_HEADER + len(name) + 2   # the name's labels, lengths and root
    qtype = names.u16(payload, qtype_at) if len(payload) >= qtype_at + 2 else None
    return {"transport": "tcp" if at else "udp",
            "trans_id": names.u16(payload, at) if len(payload) >= at + 2 else None,
            "query": _text(name), "qtype": qtype,
            "qtype_name": None if qtype is None else QTYPES.get(qtype, f"TYPE{qtype}"),
            "rcode": None, "rcode_name": None, "answers": None, "TTLs": None}


def dns_answer_fields(rcode: int, answers: list[tuple[int, int, str | None]]) -> dict:
    """A response's fields, as Zeek's dns.log has them: each answer's data (an address or
    a name; `<TYPE>` for a record type read no further) and TTL."""
    texts_ = [_text(data) if data is not None else f"<{QTYPES.get(kind, f'TYPE{kind}')}>"
              for kind, _, data in answers]
    return {"rcode": rcode, "rcode_name": RCODES.get(rcode, f"RCODE{rcode}"),
            "answers": texts_ or None, "TTLs": [float(ttl) for _, ttl, _ in answers] or None}


def tls_fields(name: str, payload: bytes, over_quic: bool = False) -> dict:
    """A ClientHello's fields; `over_quic`: `payload` is a QUIC client's datagrams as
    first_messages keeps them (its hello read from their Initial packets; `protocol` quic,
    JA4's transport q)."""
    if over_quic:
        payload = quic.client_hello(payload)[0] if payload else b""
    version = names.tls_offered_version(payload)
    if version is None:
        return {"server_name": _text(name), "version": None, "protocol": None, "ja4": None}
    text, protocol = VERSIONS.get(version, (f"0x{version:04x}", "tls"))
    return {"server_name": _text(name), "version": text,
            "protocol": "quic" if over_quic else protocol,
            "ja4": names.tls_ja4(payload, "q" if over_quic else "t")}


def http_fields(name: str, payload: bytes) -> dict:
    request = names.http_request_head(payload, (b"host", b"user-agent"))
    method, target, found = request if request is not None else (None, None, {})
    return {"method": method.decode("ascii") if method else None, "host": _text(name),
            "path": _text(target), "user_agent": _text(found.get(b"user-agent")),
            "status": None}


class EventLogs:
    """Writes the `dns`, `tls`, `http` records of each batch to the logs `paths` names
    (`{event_type: path}`; a type left out is not logged)."""

    def __init__(self, paths: dict[str, str], plan, config, sensor: str = ""):
        self.plan, self.config, self.sensor = plan, config, sensor
        self.files: dict[str, RecordFile] = {}
        try:
            for kind, path in paths.items():
                self.files[kind] = RecordFile(path, FIELDS[kind])
        except BaseException:
            self.close()
            raise
        self.first_messages = fm.FirstMessages.shared(self)
        # flow key -> HTTP requests of the flow waiting for their responses, oldest first
        self.waiting: OrderedDict[int, list[dict]] = OrderedDict()
        self.waiting_since: dict[int, int] = {}
        # (flow key, transaction id) -> a UDP query waiting for its response, oldest first
        self.queries: OrderedDict[tuple[int, int], dict] = OrderedDict()
        # (flow key, stream) -> an HTTP/2 request waiting for its answer, oldest first
        self.streams_waiting: OrderedDict[tuple[int, int | None], dict] = OrderedDict()
        self.written: Counter[str] = Counter({kind: 0 for kind in FIELDS})
        self.unanswered: Counter[str] = Counter({"dns": 0, "http": 0})

    # --- per batch ---------------------------------------------------------------------

    def process(self, ctx) -> None:
        out: dict[str, list[dict]] = {kind: [] for kind in self.files}
        rows, ask = InternetBound.askers(ctx, 0)
        kinds = [ASK_KINDS[k] for k in ask.tolist()]
        found = self.first_messages.read(ctx, ASKER, rows, kinds)
        # a whole ClientHello or request that names nothing is an event still
        for row, kind in zip(rows.tolist(), kinds):
            if row not in found and kind in NAMELESS and EVENT_TYPE.get(kind) in self.files and \
                    NAMELESS[kind](fm.opening(kind, ctx.payload(row, fm.MAX_MESSAGE))):
                found[row] = (kind, None)
        # (a SOCKS request is no event of these logs)
        found = {row: kn for row, kn in found.items() if EVENT_TYPE.get(kn[0]) in self.files}
        if found:
            opening = set(rows.tolist())    # else the row that completed a message
            at = np.array(sorted(found), dtype=np.int64)
            for row, base in zip(at.tolist(), self.identity(ctx, at)):
                kind, name = found[row]
                event_type = EVENT_TYPE[kind]
                # the message its name was read in (whole where it spanned segments or
                # datagrams); a whole one that names nothing is its row's
                payload = self.first_messages.message(row)
                if not payload and row in opening:
                    payload = fm.opening(kind, ctx.payload(row, fm.MAX_MESSAGE))
                record = {"event_type": event_type} | base
                if event_type == "dns":
                    record |= dns_fields(kind, name, payload)
                    if record["transport"] == "udp" and record["trans_id"] is not None:
                        self._ask(int(ctx.flow_keys[row]), record, out["dns"])
                    else:
                        out["dns"].append(record)
                elif event_type == "tls":
                    out["tls"].append(record | tls_fields(name, payload, kind == fm.QUIC_SNI))
                else:
                    flow = int(ctx.flow_keys[row])
                    self._wait(flow, record | http_fields(name, payload), out["http"])
                    # the requests sent after it before its answer (pipelined), in order
                    for request, host in self.first_messages.later(row):
                        self._wait(flow, {"event_type": event_type} | base |
                                   http_fields(host, request), out["http"])
        if self.waiting:
            out["http"] += self._answers(ctx)
        if "http" in self.files:
            out["http"] += self._http2(ctx)
        if self.queries:
            out["dns"] += self._responses(ctx)
        if ctx.t.n and (self.waiting or self.queries or self.streams_waiting):
            before = int(ctx.t.ts_ns.max()) - WAIT_NS
            self._expire(before, out.setdefault("http", []))
            self._give_up_before(self.streams_waiting, before, out["http"])
            self._give_up_before(self.queries, before, out.setdefault("dns", []))
        for kind, records in out.items():
            if kind not in self.files:      # a reload stopped this log: waiting ones go
                continue
            self.files[kind].write(records)
            self.written[kind] += len(records)

    def identity(self, ctx, rows: np.ndarray) -> list[dict]:
        """The fields every record opens with, for `rows` (TCP or UDP rows of a client)."""
        t, plan = ctx.t, ctx.plan
        inst = ctx.line_owner[rows]
        for owners in (ctx.src_owner, ctx.dst_owner):
            inst = np.where(inst < 0, owners[rows], inst)
        src = packed_column(t.src_hi[rows], t.src_lo[rows])
        dst = packed_column(t.dst_hi[rows], t.dst_lo[rows])
        proto, sport, dport = t.proto[rows], t.sport[rows], t.dport[rows]
        ids = community_ids(t.src_hi[rows], t.src_lo[rows], t.dst_hi[rows], t.dst_lo[rows],
                            proto, sport, dport).astype(str).tolist()
        interfaces = t.batch.interfaces
        return [{
            "timestamp": rfc3339(ts / 1e9), "ts": round(ts / 1e9, 6), "sensor": self.sensor,
            "line": line_key(kind, a, b, interfaces), "institution": plan.code(i),
            "community_id": cid,
            "src": s, "sport": sp, "dst": d, "dport": dp, "proto": p,
        } for ts, kind, a, b, i, cid, s, d, p, sp, dp in zip(
            t.ts_ns[rows].tolist(), t.line_kind[rows].tolist(), t.line_a[rows].tolist(),
            t.line_b[rows].tolist(), inst.tolist(), ids, texts(src), texts(dst),
            proto.tolist(), sport.tolist(), dport.tolist())]

    # --- DNS queries over UDP waiting for their response ----------------------------------

    def _ask(self, flow: int, record: dict, out: list[dict]) -> None:
        self._hold(self.queries, (flow, record["trans_id"]), record, out)

    def _hold(self, waiting: OrderedDict, key, record: dict, out: list[dict]) -> None:
        """`record` waits in `waiting` (one record a key, oldest first, MAX_WAITING at most)
        for its answer; one asked again before an answer, or the oldest past the bound, goes
        to `out` without."""
        if key in waiting:
            self._give_up([waiting.pop(key)], out)
        while len(waiting) >= MAX_WAITING:
            self._give_up([waiting.popitem(last=False)[1]], out)
        waiting[key] = record

    def _give_up_before(self, waiting: OrderedDict, before_ns: int, out: list[dict]) -> None:
        """The records of `waiting` (one a key, oldest first) asked before `before_ns` go
        to `out` without their answer."""
        while waiting and next(iter(waiting.values()))["ts"] * 1e9 < before_ns:
            self._give_up([waiting.popitem(last=False)[1]], out)

    def _responses(self, ctx) -> list[dict]:
        """The waiting queries this batch's responses (UDP from port 53, QR set) answer,
        by flow and transaction id."""
        t = ctx.t
        rows = np.flatnonzero((t.proto == UDP) & (t.sport == names.DNS_PORT) &
                              (t.payload_len >= names.DNS_HEADER))
        rows = rows[(head(t, rows, 3)[:, 2] & 0x80) != 0]
        flows = np.fromiter((flow for flow, _ in self.queries), dtype=np.uint64)
        rows = rows[np.isin(ctx.flow_keys[rows], flows)]
        done = []
        for row in rows[np.argsort(t.frame[rows], kind="stable")].tolist():
            response = names.dns_response(ctx.payload(row))
            if response is None:
                continue
            key = (int(ctx.flow_keys[row]), response[0])
            record = self.queries.get(key)
            if record is None or record["ts"] > t.ts_ns[row] / 1e9:
                continue
            del self.queries[key]
            done.append(record | dns_answer_fields(response[1], response[2]))
        return done

    # --- HTTP requests waiting for their status ------------------------------------------

    def _wait(self, flow: int, record: dict, out: list[dict]) -> None:
        if flow not in self.waiting:
            while len(self.waiting) >= MAX_WAITING:
                oldest, gone = self.waiting.popitem(last=False)
                del self.waiting_since[oldest]
                self._give_up(gone, out)
            self.waiting[flow] = []
            self.waiting_since[flow] = int(record["ts"] * 1e9)
        self.waiting[flow].append(record)

    def _answers(self, ctx) -> list[dict]:
        """The requests this batch's responses answer (in order, one response each; several
        responses in one segment answer as many pipelined requests)."""
        t, g = ctx.t, ctx.groups
        keys = np.fromiter(self.waiting, dtype=np.uint64)
        hit = np.isin(g.key, keys)
        if not hit.any():
            return []
        rows = g.rows[hit[g.inverse]]
        rows = rows[(t.proto[rows] == TCP) & (t.payload_len[rows] >= 12)]
        rows = rows[(head(t, rows, len(HTTP_RESPONSE)) == HTTP_RESPONSE).all(axis=1)]
        done = []
        for row in rows[np.argsort(t.frame[rows], kind="stable")].tolist():
            flow = int(ctx.flow_keys[row])
            waiting = self.waiting.get(flow)
            if not waiting or waiting[0]["ts"] > t.ts_ns[row] / 1e9:
                continue
            methods = [(r["method"] or "").encode() for r in waiting]
            for status in names.pipelined_statuses(ctx.payload(row, fm.MAX_MESSAGE), methods):
                # a response answers the oldest request before it; an interim one (1xx) none
                if not waiting or waiting[0]["ts"] > t.ts_ns[row] / 1e9:
                    break
                if 100 <= status < 200:
                    continue
                record = waiting.pop(0)
                record["status"] = status
                done.append(record)
            if not waiting:
                del self.waiting[flow], self.waiting_since[flow]
        return done

    def _http2(self, ctx) -> list[dict]:
        """Cleartext HTTP/2: the requests this batch completes wait for the answer on their
        stream; those this batch's answers are for, matched by flow and stream (an interim
        answer, 1xx, is none), are done."""
        requests, answers = self.first_messages.exchanges(ctx, self)
        done, ts_ns, keys = [], ctx.t.ts_ns, ctx.flow_keys
        if requests:
            at = np.array([row for row, *_ in requests], dtype=np.int64)
            for (row, stream, request, name), base in zip(requests, self.identity(ctx, at)):
                record = {"event_type": "http"} | base | http_fields(name, request)
                self._hold(self.streams_waiting, (int(keys[row]), stream), record, done)
        for row, stream, status in answers:
            key = (int(keys[row]), stream)
            record = self.streams_waiting.get(key)
            if record is None or record["ts"] > ts_ns[row] / 1e9 or 100 <= status < 200:
                continue
            del self.streams_waiting[key]
            record["status"] = status
            done.append(record)
        return done

    def _expire(self, before_ns: int, out: list[dict]) -> None:
        while self.waiting:
            flow = next(iter(self.waiting))
            if self.waiting_since[flow] >= before_ns:
                break
            self._give_up(self.waiting.pop(flow), out)
            del self.waiting_since[flow]

    def _give_up(self, records: list[dict], out: list[dict]) -> None:
        for record in records:
            self.unanswered[record["event_type"]] += 1
        out.extend(records)

    def close(self) -> None:
        """Write the requests and queries still waiting (no answer) and close the logs;
        safe twice."""
        if "dns" in self.files and self.queries:
            left = []
            self._give_up(list(self.queries.values()), left)
            self.queries.clear()
            self.files["dns"].write(left)
            self.written["dns"] += len(left)
        if "http" in self.files and (self.waiting or self.streams_waiting):
            left: list[dict] = []
            for records in self.waiting.values():
                self._give_up(records, left)
            self._give_up(list(self.streams_waiting.values()), left)
            self.waiting.clear()
            self.waiting_since.clear()
            self.streams_waiting.clear()
            self.files["http"].write(left)
            self.written["http"] += len(left)
        for file in self.files.values():
            file.close()

    def continue_from(self, old: "EventLogs") -> None:
        """A reloaded configuration's logs: each type's file goes on where its path is the
        same (the one this made is dropped unwritten); the old others close. Requests
        waiting for their status wait on."""
        for kind, file in old.files.items():
            mine = self.files.get(kind)
            if mine is not None and mine.path == file.path:
                mine.discard()
                self.files[kind] = file
            else:
                file.close()
        self.waiting, self.waiting_since = old.waiting, old.waiting_since
        self.streams_waiting = old.streams_waiting
        self.queries = old.queries
        self.written.update(old.written)
        self.unanswered.update(old.unanswered)

    def flush(self) -> None:
        for file in self.files.values():
            file.flush()

    def metric_families(self):
        records = CounterMetricFamily("ybsensor_event_records", "Records written to the event "
                                      "logs", labels=["event_type"])
        for kind in self.files:
            records.add_metric([kind], self.written[kind])
        yield records
        unanswered = CounterMetricFamily(
            "ybsensor_event_records_unanswered", "HTTP requests and DNS queries written "
            "without their response (none in time or room)", labels=["event_type"])
        for kind in ("dns", "http"):
            if kind in self.files:
                unanswered.add_metric([kind], self.unanswered[kind])
        yield unanswered
        yield from self.first_messages.families_for(self)
