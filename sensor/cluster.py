"""`replay --jobs N` and `replay --scheduler ADDRESS`: one replay spread over the workers of
a Dask distributed cluster (`--jobs N`: a local cluster of N processes), with the results
of one process.

Map: N tasks, one a share. Every task reads every file, in order, in the same batches as
one process (a few batches ahead of the one it analyses), has each batch's table whole
(workers of one machine decode each batch once between them and map the others' tables
from /dev/shm: sensor/shared_decode.py; a remote cluster's each decode every batch), and
keeps the rows of its share (share_rows): a hash of the line and the two addresses
(core/flows.py share_of) picks a bucket, so that a flow, and every fragment of a datagram,
lives on one worker, as PACKET_FANOUT does live; each share owns buckets, share 0
fewer, as it also runs shared_line. What a flow alone decides (the flow table and log,
every detector's findings, the dedup of alerts grouped by flow) is then decided where the
flow is, as one process decides it. What looks across flows is made whole so:

- state every worker keeps of the whole batch: L2TPv2 session lines and fragment
  reassembly (cheap: control messages and fragments are rare); their counters come from
  share 0 only.
- `shared_line` (a line's flows land on every worker) runs on share 0 over every row of
  every batch, and alerts there: the same packets, dedup and alerts as one process. The
  other shares leave it out.
- findings whose dedup group is wider than a flow (a client and a name: `internet_bound`,
  `malicious_link`; few rows) are not alerted on the worker: their rows travel to the
  reduce (columns, without the frames' bytes) with their evidence, and the reduce alerts
  them batch by batch with one process's dedup state.
- the rate limit (`alerts.max_per_second`) is global: each share applies it to its own
  alerts (which bounds what it keeps in memory, and holds back none that the whole
  replay's limit lets through), and the reduce applies it to all of them, a batch and a
  detector at a time, on the clock of the batch's latest finding as one process does.

Reduce (the client): alerts sorted by packet time and a stable key and written as one
hash chain; metrics summed (exporters/http.py merge); the flow log and the dns, tls and
http logs joined (each record is its flow's, so written by the share that holds the flow:
their lines sorted, written as the configured file says, JSON lines or Parquet). Evidence
pcaps: each share writes those of the alerts it makes, where one process writes them (a
shared path for a remote cluster, as the captures are), under its part of the directory's
bound; the reduce removes those of alerts its rate limit drops. Alerts made by the reduce
(shipped findings) and shared_line's over every row name none.

A worker that dies takes its task with it: the scheduler runs it again elsewhere from the
start (its results are whole or absent), and past `allowed-failures` the run fails with
the worker's error.
"""
from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import tempfile
import time
import uuid
from collections import Counter, defaultdict, deque
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ybsensor.core.flows import share_of
from ybsensor.decoders import fastpath
from ybsensor.decoders.table import concat, take
from ybsensor.detectors import REGISTRY, BatchContext, Finding
from ybsensor.detectors.payload_detector import hash_key
from ybsensor.detectors.shared_line import SharedLine
from ybsensor.exporters.events import FIELDS as EVENT_LOG_FIELDS
from ybsensor.exporters.flowlog import FIELDS as FLOW_FIELDS
from ybsensor.exporters.http import merge
from ybsensor.exporters.prometheus import BuildCollector, SensorCollector
from ybsensor.exporters.tables import RecordFile

from . import config as config_mod
from . import shared_decode
from .alerting import Alerter, RateLimit
from .heap import Settling
from .sensor import Sensor, evidence_dir_for, with_followers
from .selection import Selection
from .sources import CaptureError, read_capture, size

UNLIMITED = 1e15             # the reduce alerts shipped findings unlimited, then _limit
# what a share returns is bounded (DESIGN: every buffer has a bound and a counter)
MAX_SHIPPED_ROWS = 1 << 20   # finding rows of wider groups shipped to the reduce
MAX_LOG_BYTES = 1 << 30   # text of each log (flow, dns, tls, http) a share returns
PROGRESS_SECONDS = 1.0
BUCKETS_PER_SHARE = 16       # rows hash to parts x this buckets; each share owns buckets
# what shared_line over every row costs share 0, against the work the shares split
# (bench/cluster.py: 0.25 against 1.3 µs a frame): share 0 owns fewer buckets by as much
SHARED_LINE_COST = 0.2
# batches a share reads ahead of the one it analyses: those it decodes for the others are
# ready before they need them (sensor/shared_decode.py)
READ_AHEAD = 2
NO_WORKERS_SECONDS = 60.0    # a cluster without workers this long: the replay fails
# metric families of what every worker holds whole (the indicator lists it loaded, the
# configured lines): sent by share 0 alone (the reduce need not merge N copies)
WHOLE_ON_EVERY_WORKER = ("ybsensor_indicators", "ybsensor_indicator_reloads",
                         "ybsensor_indicator_reload_failures", "ybsensor_line_info")


class ClusterError(Exception):
    """The cluster could not be reached or a share could not be completed."""


# ---------------------------------------------------------------------------------------
# Map: one share, on a worker.

class _Collect:
    """Stands in for a worker's alert log: its alerts, each with the batch it came from."""

    def __init__(self, part: "_Part"):
        self.part = part

    def write(self, alerts: list[dict]) -> None:
        if alerts:
            self.part.alerts.append((self.part.key, alerts))

    def close(self) -> None:
        pass


class _ShareAlerter(Alerter):
    """A worker's alerter: findings grouped by flow are alerted here; those of a wider
    group are sent to the reduce. The rate limit applies here too, to the share's alerts
    alone (it never holds back one the whole replay's limit lets through: a share spends
    fewer tokens), so that what a share keeps in memory is bounded by it; the reduce
    applies it to all of them."""

    def __init__(self, part: "_Part", base: Alerter, detectors: list, ship: bool = True):
        super().__init__(detectors, base.dedup_ns / 1e9, base.limit.rate, sensor=base.sensor)
        self.part = part
        self.wide = ship     # send findings of wider groups to the reduce (else alert here)

    def alert(self, det, findings, ctx) -> list[dict]:
        # the rate limit's clock: the batch's latest finding of the detector, on any share
        rows = np.concatenate([f.rows for f in findings])
        key = (self.part.key, det.name)
        self.part.clock[key] = max(self.part.clock.get(key, 0), int(ctx.t.ts_ns[rows].max()))
        wide = [f for f in findings if f.group is not None and self.wide]
        shipped = bool(wide) and self.part.ship(det, wide, ctx.t)
        mine = [f for f in findings if f.group is None or not shipped]
        return super().alert(det, mine, ctx) if mine else []


def share_rows(t, parts: int, lines_on_share_0: bool) -> np.ndarray:
    """Which share each row of `t` falls in: its bucket (core/flows.py share_of: a flow,
    and every fragment of a datagram, in one) and the bucket's owner. Where share 0 also
    runs shared_line over every row, it owns fewer buckets, so that the shares end
    together."""
    if parts <= 1:
        return np.zeros(t.n, dtype=np.int64)
    return bucket_owners(parts, lines_on_share_0)[share_of(t, parts * BUCKETS_PER_SHARE)]


def bucket_owners(parts: int, lines_on_share_0: bool) -> np.ndarray:
    """The share owning each bucket: share 0 the first ones (a fraction f0 of them, with
    shared_line's cost L: L + f0 = (1 - f0) / (parts - 1)), the others the rest in turn."""
    buckets = parts * BUCKETS_PER_SHARE
    f0 = max(0.0, 1 - (parts - 1) * SHARED_LINE_COST) / parts if lines_on_share_0 else 1 / parts
    first = round(f0 * buckets)
    return np.concatenate([np.zeros(first, dtype=np.int64),
                           np.arange(buckets - first, dtype=np.int64) % (parts - 1) + 1])


class _GivenUp:
    """What a share gives up past the bounds of what it returns, as metrics."""

    def __init__(self):
        self.exchange: shared_decode.Exchange | None = None   # batches decoded once
        self.shipped = 0        # finding rows shipped to the reduce
        self.unshipped = 0      # finding rows of wider groups alerted on the worker instead
        self.flow_records = 0   # flow records past MAX_LOG_BYTES, not returned
        self.event_records = 0  # dns, tls and http records past it, not returned

    def metric_families(self):
        from prometheus_client.core import CounterMetricFamily
        yield CounterMetricFamily(
            "ybsensor_cluster_findings_unshipped", "Findings (rows) of groups wider than a "
            "flow alerted on their worker, past the rows a share ships to the reduce: their "
            "dedup is that worker's alone", value=self.unshipped)
        yield CounterMetricFamily(
            "ybsensor_cluster_flow_records_dropped", "Flow records past the bytes of flow log "
            "a share returns to the reduce: not written", value=self.flow_records)
        yield CounterMetricFamily(
            "ybsensor_cluster_event_records_dropped", "dns, tls and http records past the "
            "bytes of each log a share returns to the reduce: not written",
            value=self.event_records)
        x = self.exchange
        yield CounterMetricFamily(
            "ybsensor_cluster_batches_mapped", "Batches a local worker took decoded from "
            "the share that owns them (shared memory) instead of decoding them",
            value=x.taken if x else 0)
        yield CounterMetricFamily(
            "ybsensor_cluster_batches_decoded_again", "Batches a local worker decoded "
            "though another share owns them, as that share's could not come (not running, "
            "or run again from the start behind the others)", value=x.again if x else 0)


def _bounded_text(path: str, bound: int) -> tuple[str, int]:
    """The whole lines within the first `bound` bytes of a text file, and how many lines
    past them are left out; a file never written (no record) is empty."""
    if not Path(path).exists():
        return "", 0
    with open(path, "rb") as fh:
        head = fh.read(bound + 1)
        if len(head) <= bound:
            return head.decode("utf-8"), 0
        cut = head.rfind(b"\n", 0, bound) + 1
        left = head[cut:].count(b"\n")
        while chunk := fh.read(1 << 20):
            left += chunk.count(b"\n")
    return head[:cut].decode("utf-8"), left


class _Part:
    """One share of a replay: a Sensor fed the rows of the share."""

    def __init__(self, cfg, index: int, parts: int, flow_log: str,
                 decoded: str | None = None, event_logs: dict[str, str] | None = None):
        self.index, self.parts = index, parts
        # the run's directory of batches decoded once between local workers (else None:
        # each decodes every batch)
        self.exchange = shared_decode.Exchange(decoded, index, parts) if decoded else None
        self.sensor = s = Sensor(cfg, alerts_path="", flow_log=flow_log, sinks=False,
                                 event_logs=event_logs or {})
        self.key = (0, 0, 0)            # (file, batch, 0 | 1 for its reassembled datagrams)
        self.alerts: list[tuple[tuple, list[dict]]] = []
        self.shipped: list[dict] = []
        self.latest = -1
        self.lines: Alerter | None = None   # shared_line over every row (share 0)
        self.clock: dict[tuple, int] = {}   # (key, detector) -> latest finding's ns
        self.given_up = _GivenUp()
        self.given_up.exchange = self.exchange
        self.lines_on_share_0 = False
        if s.alerter is not None:
            s.log = _Collect(self)
            lines = [d for d in s.alerter.detectors if isinstance(d, SharedLine)]
            self.lines_on_share_0 = bool(lines)
            rest = [d for d in s.alerter.detectors if not isinstance(d, SharedLine)]
            if lines and index == 0:
                self.lines = _ShareAlerter(self, s.alerter, lines, ship=False)
            s.alerter = _ShareAlerter(self, s.alerter, rest)
            if index:   # every worker reassembles every fragment: errors counted by share 0
                s.reassembly.errors = Counter()

    def batch(self, key: tuple[int, int], batch, source: str, seq: int = 0) -> None:
        """Take batch `seq` of the replay (`key`: its file and place in it)."""
        s = self.sensor
        if self.exchange is None:
            t = s.pipeline.decode_chosen(batch, source)
        else:
            t = self.exchange.table(seq, batch, s.pipeline, source)
        if s.alerter is None:
            s.stats.process(take(t, share_rows(t, self.parts, False) == self.index))
            return
        s.sessions.process(t)
        whole = s.reassembly.process(t, s.pipeline.decode)
        if whole is not None:
            s.sessions.process(whole)
            whole = with_followers(t, whole)
        for part, table in enumerate((t, whole)):
            if table is None or not table.n:
                continue
            self.key = (*key, part)
            if (table.n_ip > 0).any():
                self.latest = max(self.latest, int(table.ts_ns[table.n_ip > 0].max()))
            mine = share_rows(table, self.parts, self.lines_on_share_0) == self.index
            if self.lines is not None:   # a line's flows on every worker: all its rows here
                self.lines.source = table.batch.source
                s.log.write(self.lines.process(BatchContext(table, None, s.plan, s.cfg)))
            sub = table if self.parts == 1 else take(table, mine)
            if part == 0:
                s.stats.process(sub)
            s.analyse(sub, frames=part == 0)   # a datagram's fragments were counted as frames

    def ship(self, det, findings: list[Finding], t) -> bool:
        """Findings of a group wider than a flow (a client and a name: few rows), for the
        reduce: their rows as columns, and each row's evidence. False past the bound of
        rows a share ships (MAX_SHIPPED_ROWS): then they are alerted here, and counted."""
        rows = sum(f.rows.size for f in findings)
        if self.given_up.shipped + rows > MAX_SHIPPED_ROWS:
            self.given_up.unshipped += rows
            return False
        self.given_up.shipped += rows
        pieces = [{"rows": f.rows, "severity": f.severity, "reason": f.reason,
                   "group": f.group, "institution": f.institution,
                   "evidence": None if f.explain is None else
                   [f.explain(row) for row in f.rows.tolist()]} for f in findings]
        rows = np.unique(np.concatenate([f.rows for f in findings]))
        for p in pieces:
            p["rows"] = np.searchsorted(rows, p["rows"])
        self.shipped.append({"key": self.key, "detector": det.name, "rule": det.rule,
                             "table": take(t, rows, frames=False), "findings": pieces})
        return True

    def result(self, flow_log: str = "", event_logs: dict[str, str] | None = None) -> dict:
        """What the share gives the reduce; `flow_log` the file its flow log was written to,
        `event_logs` its dns, tls and http logs ({event_type: file})."""
        s = self.sensor
        if s.flows is not None and self.latest >= 0:   # what "idle at the end" is measured on
            s.flows.latest_ns = max(s.flows.latest_ns, self.latest)
        s.close()
        flow_text = ""
        if flow_log:
            flow_text, self.given_up.flow_records = _bounded_text(flow_log, MAX_LOG_BYTES)
        event_texts = {}
        for kind, path in (event_logs or {}).items():
            event_texts[kind], left = _bounded_text(path, MAX_LOG_BYTES)
            self.given_up.event_records += left
        extra = [d for d in (s.alerter.detectors if s.alerter else ())
                 if hasattr(d, "metric_families")]
        if self.lines is not None:
            extra += [d for d in self.lines.detectors if hasattr(d, "metric_families")]
            for name in ("occurrences", "suppressed", "rate_limited"):
                setattr(s.alerter, name, getattr(s.alerter, name) + getattr(self.lines, name))
        # sessions and reassembly see every row on every worker: counted by share 0
        whole = (s.sessions, s.reassembly) if self.index == 0 else ()
        extra += [x for x in (*whole, s.flow_log, s.events, self.given_up) if x is not None]
        families = list(SensorCollector(s.stats, s.alerter, s.flows, s.lines,
                                        extra=extra).collect())
        if self.index:
            families = [f for f in families if f.name not in WHOLE_ON_EVERY_WORKER]
        alerter = s.alerter
        return {
            "index": self.index,
            "families": families,
            "stats": {k: v for k, v in vars(s.stats).items() if isinstance(v, (int, Counter))},
            "alerter": None if alerter is None else
            {k: getattr(alerter, k) for k in ("occurrences", "suppressed", "rate_limited")},
            "flows": None if s.flows is None else (s.flows.active, s.flows.evicted_total),
            "alerts": self.alerts,
            "shipped": self.shipped,
            "clock": self.clock,
            "flow_log": flow_text,
            "event_logs": event_texts,
        }


def replay_share(config_path: str | None, paths: list[tuple[str, str]], index: int, parts: int,
                 batch_frames: int | None = None, progress: tuple[str, str] | None = None,
                 alerts_path: str | None = None, selection: tuple = (),
                 decoded: str | None = None, evidence_dir: str = "") -> dict:
    """Replay the share `index` of `parts` of `paths`, (path, path as given) pairs (every
    file read, in order); runs on a worker. Files that are no capture are refused (their
    messages returned) and the others go through, as in one process. `selection` is the
    replay's --bpf, --start, --end, --line and --institution (sensor/selection.py).
    `decoded`: the run's directory in /dev/shm where the shares of one machine share each
    batch decoded once (sensor/shared_decode.py); None: this share decodes every batch.
    `progress`: where the share says how far it has read (`_Reporter`), None: nowhere.
    `evidence_dir`: where the share writes its alerts' evidence pcaps ("": none), with its
    part of the directory's bound."""
    fastpath.load_kernel_now()     # a worker lives on: the compiled loops from the start
    cfg = config_mod.load(config_path) if config_path else None
    wanted = list(cfg.event_log_paths) if cfg is not None else []
    if cfg is not None:
        # the logs are written here and returned, for the reduce to join; the evidence
        # pcaps of the share's alerts go where one process writes them
        cfg = dataclasses.replace(cfg, evidence_dir=evidence_dir, alerts_path=alerts_path,
                                  event_log_paths={},
                                  evidence_max_bytes=max(cfg.evidence_max_bytes // parts, 1))
    with tempfile.TemporaryDirectory(prefix="ybsensor-share-") as tmp:
        flow_log = str(Path(tmp) / "flows.jsonl") if cfg is not None and cfg.flow_log_path else ""
        event_logs = {kind: str(Path(tmp) / f"{kind}.jsonl") for kind in wanted}
        part = _Part(cfg, index, parts, flow_log, decoded, event_logs)
        if selection:
            part.sensor.pipeline.selection = Selection(*selection, cfg)
        refused, warned, frames = [], [], 0
        part.sensor.pipeline.warn = warned.append
        report = _Reporter(progress, index)
        kw = {"batch_frames": batch_frames} if batch_frames else {}
        refused_files: set[int] = set()
        ahead: deque[tuple] = deque()   # batches read, not yet analysed (READ_AHEAD)
        with Settling() as heap:   # a long share's stages: out of the collector's full passes
            try:
                for item in _batches(paths, warned.append, report, kw, refused_files):
                    seq, _, _, shown, batch = item
                    if part.exchange is not None and not isinstance(batch, CaptureError):
                        part.exchange.ahead(seq, batch, part.sensor.pipeline, shown)
                    ahead.append(item)
                    if len(ahead) > READ_AHEAD:
                        frames += _analyse(part, ahead.popleft(), refused, refused_files)
                        heap.seen(frames)
                while ahead:
                    frames += _analyse(part, ahead.popleft(), refused, refused_files)
            finally:
                if part.exchange is not None:   # done or failed: the others wait for it no more
                    part.exchange.close()
        out = part.result(flow_log, event_logs)
        for what, left in (("flow", part.given_up.flow_records),
                           ("dns, tls and http", part.given_up.event_records)):
            if left:
                warned.append(f"share {index}: {left:,} {what} records past the "
                              f"{MAX_LOG_BYTES >> 20} MiB of a log a share returns were "
                              f"not logged")
    out.update(refused=refused, warnings=warned, frames=frames)
    return out


def _batches(paths: list[tuple[str, str]], warn, report, kw: dict, refused: set[int]):
    """(seq, file, batch in file, path as given, batch) of every file in turn, seq counting
    them; a file whose reading fails gives its CaptureError in place of a batch, and its
    reading stops. So does that of a file in `refused` (by what decoding found in a batch
    read before: the same batch on every share, as each reads as far ahead)."""
    done, seq = 0, 0
    for i, (path, shown) in enumerate(paths):
        seen = 0

        def read(n: int) -> None:
            nonlocal seen
            seen = n
            report(done + n)
        try:
            for j, batch in enumerate(read_capture(path, warn=warn, progress=read, **kw)):
                batch.source = shown     # the path as it was given, as one process says it
                seq += 1
                yield seq, i, j, shown, batch
                if i in refused:
                    break
        except CaptureError as exc:
            seq += 1
            yield seq, i, -1, shown, exc
        done += size(path) or seen


def _analyse(part: _Part, item: tuple, refused: list[str], refused_files: set[int]) -> int:
    """A batch read ahead analysed (none of a file refused before it); its frames."""
    seq, i, j, shown, batch = item
    if i in refused_files:
        if part.exchange is not None:
            part.exchange.skip(seq)
        return 0
    if isinstance(batch, CaptureError):
        refused.append(str(batch))
        refused_files.add(i)
        return 0
    try:
        part.batch((i, j), batch, shown, seq)
    except CaptureError as exc:
        refused.append(str(exc))
        refused_files.add(i)
    return len(batch)


class _Reporter:
    """A share's progress, to the client once a second: through a Dask queue (`channel` a
    queue's name), or on this machine through the file of the client's counters (a path
    under /dev/shm or the temporary directory: a row per share). A local worker makes no
    Dask call of its own: one the nanny forked again after a worker died inherits the
    client's Dask client, whose event loop's thread is not in it, and a call through it
    waits for ever."""

    def __init__(self, channel: tuple[str, str] | None, index: int):
        self.queue = self.counters = None
        self.index = index
        self.last = 0.0
        kind, where = channel or (None, None)
        if kind == "file":
            self.counters = np.memmap(where, dtype=np.int64, mode="r+")
        elif kind == "queue":
            from distributed import Queue
            self.queue = Queue(where)

    def __call__(self, read: int) -> None:
        """`read`: bytes of the replay's files this share has read so far."""
        now = time.monotonic()
        if now - self.last < PROGRESS_SECONDS:
            return
        self.last = now
        if self.counters is not None:
            self.counters[self.index] = read
        elif self.queue is not None:
            self.queue.put((self.index, read))


# ---------------------------------------------------------------------------------------
# Reduce: on the client.

class Reduce:
    """The shares' results made one replay's: `sensor` (the client's: its alert log, and
    counters to print the summary from) gets every share's counters; alerts of groups
    wider than a flow are alerted here; the rate limit applied; the alerts written in
    packet-time order; the flow log written."""

    def __init__(self, sensor: Sensor, paths: list[str]):
        self.sensor = sensor
        self.paths = paths
        self.families: list = []

    def take(self, results: list[dict]) -> None:
        s = self.sensor
        results = sorted(results, key=lambda r: r["index"])
        for r in results:
            for name, value in r["stats"].items():
                current = getattr(s.stats, name)
                setattr(s.stats, name, current + value)
        active = sum(r["flows"][0] for r in results if r["flows"])
        evicted = sum(r["flows"][1] for r in results if r["flows"])
        s.flows = SimpleNamespace(active=active, evicted_total=evicted) \
            if s.flows is not None else None
        alerts: list[tuple[tuple, dict]] = []
        if s.alerter is not None:
            a = s.alerter
            for r in results:
                a.occurrences.update(r["alerter"]["occurrences"])
                a.suppressed += r["alerter"]["suppressed"]
                a.rate_limited += r["alerter"]["rate_limited"]
            alerts = self._alerts(results)
            if evidence_dir_of(s.cfg):
                _evidence_kept(results, [x for _, x in alerts])
            a.alerts = Counter((x["detector"], x["institution"] or "-") for _, x in alerts)
            alerts.sort(key=lambda ka: (ka[1]["ts"], ka[0][0], ka[1]["first_frame"],
                                        ka[1]["detector"], ka[1]["severity"],
                                        ka[1]["community_id"], ka[1]["line"]))
            if s.log is not None:
                s.log.write([x for _, x in alerts])
        self.families = self._families(results)
        if s.cfg is not None and s.cfg.flow_log_path:
            _join_logs(s.cfg.flow_log_path, FLOW_FIELDS, [r["flow_log"] for r in results])
        for kind, path in (s.cfg.event_log_paths if s.cfg is not None else {}).items():
            _join_logs(path, EVENT_LOG_FIELDS[kind],
                       [r["event_logs"].get(kind, "") for r in results])

    def _alerts(self, results: list[dict]) -> list[tuple[tuple, dict]]:
        """The workers' alerts and those of the shipped findings, batch by batch, with the
        rate limit of each detector applied as one process applies it."""
        a = self.sensor.alerter
        by_key: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        clock: dict[tuple, int] = {}
        for r in results:
            for (key, name), ns in r["clock"].items():
                clock[key, name] = max(clock.get((key, name), 0), ns)
                # a batch with findings and no alert still moves the limit's clock
                by_key[key].setdefault(name, [])
            for key, alerts in r["alerts"]:
                for alert in alerts:
                    by_key[key][alert["detector"]].append(alert)
            for piece in r["shipped"]:
                by_key[piece["key"]][piece["detector"]].append(piece)
        order = {name: k for k, name in enumerate(REGISTRY)}
        out = []
        for key in sorted(by_key):
            a.source = str(self.paths[key[0]])
            for name in sorted(by_key[key], key=lambda n: order.get(n, len(order))):
                items = by_key[key][name]
                pieces = [x for x in items if "findings" in x]
                local = [x for x in items if "findings" not in x]
                if pieces:
                    local += self._alert_pieces(pieces)
                out += [(key, x) for x in self._limit(name, local, clock[key, name])]
        return out

    def _limit(self, detector: str, alerts: list[dict], now_ns: int) -> list[dict]:
        """The rate limit over one detector's alerts of one batch (its findings' latest
        packet at `now_ns`): the earliest kept."""
        a = self.sensor.alerter
        limit: RateLimit = a.limit
        allowance = limit.allowance(detector, now_ns)
        if len(alerts) > allowance:
            alerts = sorted(alerts, key=lambda x: (x["ts"], x["first_frame"]))
            a.rate_limited += len(alerts) - allowance
            alerts = alerts[:allowance]
        limit.spend(detector, len(alerts))
        return alerts

    def _alert_pieces(self, pieces: list[dict]) -> list[dict]:
        """One batch's findings of one detector from every share, alerted as one process
        alerts them (the same rows in capture order, the same dedup state), without the
        rate limit (applied with the others in _limit)."""
        a, s = self.sensor.alerter, self.sensor
        t = concat([p["table"] for p in pieces])
        starts = np.cumsum([0] + [p["table"].n for p in pieces])
        order = np.argsort(t.frame, kind="stable")
        t = take(t, order, frames=False)
        where = np.empty(len(order), dtype=np.int64)
        where[order] = np.arange(len(order))
        merged: dict[tuple, dict] = {}
        for p, base in zip(pieces, starts.tolist()):
            for f in p["findings"]:
                m = merged.setdefault((f["severity"], f["reason"]),
                                      {"rows": [], "group": [], "inst": [], "ev": {}})
                rows = where[f["rows"] + base]
                m["rows"].append(rows)
                m["group"].append(f["group"])
                m["inst"].append(f["institution"] if f["institution"] is not None
                                 else np.full(len(rows), -1, dtype=np.int64))
                if f["evidence"] is not None:
                    m["ev"].update(zip(rows.tolist(), f["evidence"]))
        findings = []
        for (severity, reason), m in merged.items():
            findings.append(Finding(np.concatenate(m["rows"]), severity, reason,
                                    m["ev"].__getitem__ if m["ev"] else None,
                                    group=np.concatenate(m["group"]),
                                    institution=np.concatenate(m["inst"])))
        ctx = BatchContext(t, None, s.plan, s.cfg)
        det = SimpleNamespace(name=pieces[0]["detector"], rule=pieces[0]["rule"])
        limit, a.limit = a.limit, RateLimit(UNLIMITED, UNLIMITED)
        try:
            return a.alert(det, findings, ctx)
        finally:
            a.limit = limit

    def _families(self, results: list[dict]) -> list:
        """Every share's metric families summed; the alert records counted from the alerts
        written here."""
        families = [f for f in merge([r["families"] for r in results])
                    if f.name != "ybsensor_alert_records"]
        s = self.sensor
        if s.alerter is not None:
            records = next(f for f in SensorCollector(s.stats, s.alerter).collect()
                           if f.name == "ybsensor_alert_records")
            families.append(records)
        if s.log is not None:
            families += list(s.log.metric_families())
        return families

    def collect(self):
        yield from self.families
        yield from BuildCollector().collect()


def _join_logs(path: str, fields: dict[str, str], texts: list[str]) -> None:
    """One log of the shares' JSON lines (each record is one flow's, on one share), in a
    deterministic order: the lines sorted (each opens with its type and time)."""
    lines = sorted(line for text in texts for line in text.splitlines() if line)
    try:
        log = RecordFile(path, fields)
    except OSError as exc:
        raise ClusterError(f"{path}: cannot write the log there: {exc.strerror or exc}") \
            from None
    try:
        log.write_lines(lines)
    finally:
        log.close()


# ---------------------------------------------------------------------------------------
# The cluster: local (--jobs) or a scheduler's (--scheduler).

def connect(jobs: int | None, scheduler: str | None):
    """A Dask client: of the scheduler at `scheduler`, else of a local cluster of `jobs`
    single-threaded worker processes on 127.0.0.1. ClusterError if none can be had."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterError("--jobs and --scheduler need the packages dask and distributed "
                           "(pip install 'ybsensor[cluster]')") from None
    if scheduler:
        try:
            return Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    # the scheduler's own reports (a worker lost, tasks recomputed) are not the replay's
    logging.getLogger("distributed").setLevel(logging.ERROR)
    if "fork" in multiprocessing.get_all_start_methods():
        # workers forked from this process start with its modules and compiled loops
        # loaded: spawned ones import dask, numba and ybsensor and load the loops afresh,
        # seconds each (dask's own option; the nanny forks from its event loop's thread)
        import dask
        fastpath.load_kernel_now()
        dask.config.set({"distributed.worker.multiprocessing-method": "fork"})
    cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None,
                           scheduler_kwargs={"dashboard": False},
                           silence_logs=logging.ERROR)
    return Client(cluster)


def run(client, cfg, config_path: str | None, paths: list[str], parts: int,
        batch_frames: int | None = None, progress=None, selection: tuple = ()) -> list[dict]:
    """Every share's result; a share whose worker died is run again by the scheduler; one
    that cannot be completed is a ClusterError naming why. `progress` is told the bytes
    read, on average over the shares (each reads every file)."""
    from distributed import Queue
    name = f"ybsensor-progress-{uuid.uuid4().hex}"
    local = _local(client)
    queue = counters = channel = None
    if progress is not None and local:
        fd, path = tempfile.mkstemp(prefix=name, dir=shared_decode.SHM
                                    if os.access(shared_decode.SHM, os.W_OK) else None)
        os.close(fd)
        np.zeros(parts, dtype=np.int64).tofile(path)
        counters, channel = np.memmap(path, dtype=np.int64, mode="r"), ("file", path)
    elif progress is not None:
        queue, channel = Queue(name, client=client), ("queue", name)
    config_path = os.path.abspath(config_path) if config_path else None
    paths = [(os.path.abspath(p), str(p)) for p in paths]
    # the alert log's place (relative to where the replay was started): identifiers are
    # hashed with the key kept beside it, made here before any worker needs it
    alerts_path = None
    if cfg is not None and cfg.alerts_path:
        alerts_path = os.path.abspath(cfg.alerts_path)
        hash_key(cfg, cfg.detectors.get("plaintext_pii", {}))
    # the evidence pcaps' directory one process would write to (a shared path for a remote
    # cluster, as the captures are)
    evidence_dir = evidence_dir_of(cfg)
    # workers forked here share this machine's memory: each batch decoded once
    decoded = shared_decode.create(parts) if local and parts > 1 else None
    try:
        futures = [client.submit(replay_share, config_path, paths, k, parts, batch_frames,
                                 channel, alerts_path,
                                 selection, decoded, evidence_dir, pure=False,
                                 key=f"ybsensor-share-{k}-of-{parts}-{name[-8:]}")
                   for k in range(parts)]
        return _gather(client, futures, queue, counters, progress, parts)
    finally:
        shared_decode.remove(decoded)
        if counters is not None:
            os.unlink(channel[1])


def _evidence_kept(results: list[dict], alerts: list[dict]) -> None:
    """The shares wrote the evidence pcaps of their alerts: those the reduce's rate limit
    dropped are removed (unless a kept alert names the same file), and an alert made here
    (a shipped finding's, shared_line's over every row) names none, as one process's
    alert whose packets were not written."""
    kept = {x.get("evidence_pcap") for x in alerts}
    for r in results:
        for _, made in r["alerts"]:
            for x in made:
                path = x.get("evidence_pcap")
                if path and path not in kept:
                    try:
                        os.unlink(path)
                    except OSError:
                        pass
    for x in alerts:
        x.setdefault("evidence_pcap", None)


def evidence_dir_of(cfg) -> str:
    """The directory, absolute, where one process replaying with `cfg` writes its evidence
    pcaps ("" for none)."""
    where = evidence_dir_for(cfg, cfg.alerts_path) if cfg is not None else ""
    return os.path.abspath(where) if where else ""


def _local(client) -> bool:
    from distributed import LocalCluster
    return isinstance(getattr(client, "cluster", None), LocalCluster)


def _gather(client, futures: list, queue, counters, progress, parts: int) -> list[dict]:
    """The shares' results, waited for with their progress (from `queue` or `counters`)."""
    from distributed import wait
    read: dict[int, int] = {}
    staffed = time.monotonic()
    while True:
        try:
            wait(futures, timeout=PROGRESS_SECONDS)
        except TimeoutError:
            pass
        if client.nthreads():
            staffed = time.monotonic()
        elif time.monotonic() - staffed > NO_WORKERS_SECONDS:
            raise ClusterError(f"no worker left to run the replay on (for "
                               f"{NO_WORKERS_SECONDS:g} s); its shares are not done")
        if queue is not None:
            while queue.qsize():
                k, n = queue.get()
                read[k] = n
                progress(sum(read.values()) // parts)
        elif counters is not None:
            progress(int(counters.sum()) // parts)
        if all(f.done() for f in futures):
            break
    try:
        return client.gather(futures)
    except Exception as exc:  # noqa: BLE001 - a share's failure, whatever it was
        raise ClusterError(f"a share of the replay could not be completed: "
                           f"{type(exc).__name__}: {exc}") from None


def parts_of(client, jobs: int | None) -> int:
    """Shares to cut the replay into: --jobs, else one per worker thread of the cluster
    (waited for, a while, if it has none yet)."""
    if jobs:
        return jobs
    try:
        client.wait_for_workers(1, timeout=NO_WORKERS_SECONDS)
    except TimeoutError:
        raise ClusterError(f"the Dask scheduler has no workers (waited "
                           f"{NO_WORKERS_SECONDS:g} s)") from None
    return max(sum(client.nthreads().values()), 1)
