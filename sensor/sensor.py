"""The sensor assembled from its configuration: every stage the pipeline moves a batch
through, and the outputs they feed."""
from __future__ import annotations

import sys
import weakref
from pathlib import Path

import numpy as np

from ybsensor.decoders import dispatch as dispatch_mod
from ybsensor.decoders.reassembly import Reassembly, hide
from ybsensor.decoders.table import PacketTable, join, take
from ybsensor.detectors import REGISTRY, BatchContext
from ybsensor.exporters.alerts import UNINTERRUPTED, AlertLog
from ybsensor.exporters.events import EventLogs
from ybsensor.exporters.evidence import EvidenceWriter
from ybsensor.exporters.flowlog import FlowLog
from ybsensor.exporters.prometheus import Metrics, SensorCollector
from ybsensor.exporters.syslog import Sinks

from .alerting import Alerter
from .config import Config, ConfigError
from ybsensor.core.flows import FlowTable, flow_keys
from ybsensor.core.loops import require_jit
from .l2tp_sessions import L2tpSessions
from .lines import LineActivity
from .pipeline import Pipeline
from ybsensor.core.plan import AddressPlan
from .stats import TrafficStats


def with_followers(t: PacketTable, whole: PacketTable) -> PacketTable:
    """The datagrams this batch's fragments made whole (`whole`), and the rows of `t` that
    follow one of them in its flow, taken out of `t` (hidden there: they stay its frames) and
    put after it, in capture order. Made whole at its last fragment, a datagram is analysed
    after the rest of its batch; the packets its flow sent next must come after it, or a
    stream reads a full-size segment that a tunnel's router fragmented after the short one
    behind it, and drops it as resent, and a flow's first alert would be a later packet's
    in one batch and the datagram's in another."""
    late = _after_datagrams(t, whole)
    if not late.size:
        return whole
    both = join([whole, take(t, late)])
    hide(t, late)
    return take(both, np.argsort(both.frame, kind="stable"))


def _after_datagrams(t: PacketTable, whole: PacketTable) -> np.ndarray:
    """The rows of `t` after the first datagram of their flow in `whole`."""
    ip = np.flatnonzero(whole.n_ip > 0)
    if not ip.size:
        return ip
    # each flow's first datagram (they come in frame order: reassembly's `done`)
    keys, at = np.unique(flow_keys(whole, ip), return_index=True)
    first = whole.frame[ip][at]
    # the rows that may be theirs (the same ends and ports either way: a word of each that
    # does not depend on the way), then their keys
    table = np.zeros(1 << 16, dtype=bool)        # one look-up a row, then the few it passes
    table[_ends_word(whole)[ip] & np.uint64(0xFFFF)] = True
    rows = np.flatnonzero(table[_ends_word(t) & np.uint64(0xFFFF)] & (t.n_ip > 0)
                          & (t.frame > first.min()))
    if not rows.size:
        return rows
    theirs = flow_keys(t, rows)
    pos = np.minimum(np.searchsorted(keys, theirs), len(keys) - 1)
    return rows[(keys[pos] == theirs) & (t.frame[rows] > first[pos])]


def _ends_word(t: PacketTable) -> np.ndarray:
    """A word of each row's addresses and ports, the same both ways of its flow, its low 16
    bits mixed from all of them."""
    word = (t.src_lo ^ t.dst_lo) ^ ((t.sport ^ t.dport).astype(np.uint64) << np.uint64(24))
    return word ^ (word >> np.uint64(16)) ^ (word >> np.uint64(40))


def open_alert_log(cfg: Config, path: str | None, warn: bool = True) -> AlertLog | None:
    """The alert log at `path` with the configuration's settings (None without a path); a
    path that cannot be one (a link, a device, no room to create it) is a ConfigError. A
    log found cut is said on stderr (unless `warn` is false: the caller says it)."""
    if not path:
        return None
    try:
        log = AlertLog(path, cfg.alerts_fsync_seconds, cfg.alerts_rotate_bytes, cfg.alerts_keep,
                       cfg.alerts_max_backlog)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be the alert log: {exc.strerror or exc}") from None
    if log.cut and warn:
        print(f"ybsensor: warning: {log.cut}", file=sys.stderr)
    return log


def evidence_dir_for(cfg, alerts_path: str | None) -> str:
    """Where the evidence pcaps go: the configured directory ("" for none), else beside the
    alert log `alerts_path` (none without one)."""
    if cfg.evidence_dir is not None:
        return cfg.evidence_dir
    return str(Path(alerts_path).parent / "evidence") if alerts_path else ""


class Sensor:
    """Decode -> traffic counters -> L2TP session lines -> flows -> line activity ->
    detectors -> evidence pcaps -> alert log. Without a configuration only the first two
    run (decoding and counting)."""

    _latest: weakref.ref | None = None

    @classmethod
    def latest(cls) -> "Sensor | None":
        """The sensor made last in this process, if it is still alive (the CLI's stop report)."""
        return cls._latest() if cls._latest is not None else None

    def __init__(self, cfg: Config | None, alerts_path: str | None = None,
                 flow_log: str | None = None, sinks: bool = True,
                 event_logs: dict[str, str] | None = None):
        """`alerts_path`, `flow_log`, `event_logs` ({event_type: path}): in place of the
        configuration's ("", {}: none); `sinks`: send alerts to the configuration's sinks too
        (a live worker's go through its supervisor)."""
        require_jit()
        Sensor._latest = weakref.ref(self)
        self.cfg = cfg
        self.evidence = self.flow_log = self.sinks = self.events = None
        self.stats = TrafficStats(dispatch_mod.DEFAULT.layer_names)
        stages = [self.stats]
        self.plan = self.flows = self.alerter = self.lines = self.log = self.sessions = None
        self.reassembly = None
        if cfg is not None:
            self.plan = AddressPlan(cfg)
            flow_log = flow_log if flow_log is not None else cfg.flow_log_path
            if flow_log:
                try:
                    self.flow_log = FlowLog(flow_log, self.plan, cfg.sensor_name)
                except OSError as exc:
                    raise ConfigError(f"{flow_log}: cannot be the flow log: "
                                      f"{exc.strerror or exc}") from None
            if sinks and cfg.sinks:
                self.sinks = Sinks.from_config(cfg.sinks)
            self.flows = FlowTable(cfg.max_flows, cfg.idle_seconds,
                                   per_direction=self.flow_log is not None,
                                   on_end=self.flow_log.ended if self.flow_log else None)
            self.lines = LineActivity(self.plan.lines)
            self.sessions = L2tpSessions(self.plan.lines)
            self.reassembly = Reassembly(cfg.reassembly_max_bytes, cfg.reassembly_timeout,
                                         cfg.reassembly_max_fragments, self.stats.errors)
            detectors = [cls(cfg, self.plan) for name, cls in REGISTRY.items()
                         if cfg.detector_enabled(name)]
            # the payload engine's decode reasons (evasion:tcp_overlap) count with the decoders'
            for engine in {id(d.engine): d.engine for d in detectors if hasattr(d, "engine")}.values():
                engine.count_reasons_in(self.stats.errors)
            self.alerter = Alerter(detectors, cfg.dedup_seconds, cfg.max_alerts_per_second,
                                   sensor=cfg.sensor_name)
            event_logs = event_logs if event_logs is not None else cfg.event_log_paths
            if event_logs:
                try:
                    self.events = EventLogs(event_logs, self.plan, cfg, cfg.sensor_name)
                except OSError as exc:
                    raise ConfigError(f"{exc.filename or event_logs}: cannot be an event log: "
                                      f"{exc.strerror or exc}") from None
            path = alerts_path if alerts_path is not None else cfg.alerts_path
            self.log = open_alert_log(cfg, path)
            where = evidence_dir_for(cfg, path)
            if where:
                try:
                    self.evidence = EvidenceWriter(where, cfg.evidence_packets_per_flow,
                                                   cfg.evidence_max_bytes, cfg.evidence_mask)
                except OSError as exc:
                    raise ConfigError(f"{where}: cannot write evidence there: "
                                      f"{exc.strerror or exc}") from None
            stages.append(self)
        # detectors that keep metrics of their own (payload classes, say) publish them too,
        # and so do the alert log and the evidence writer (write errors, drops, room)
        extra = [d for d in (self.alerter.detectors if self.alerter else ())
                 if hasattr(d, "metric_families")]
        extra += [x for x in (self.sessions, self.reassembly, self.log, self.evidence,
                              self.flow_log, self.events, self.sinks) if x is not None]
        self.metrics = Metrics(SensorCollector(self.stats, self.alerter, self.flows, self.lines,
                                               extra=extra))
        self.pipeline = Pipeline(stages, options=cfg.decoder_options if cfg else None,
                                 observe=self.metrics.batch_duration.observe)
        self.pipeline.payload_heads = self.alerter is not None   # the detectors read them
        self.last_alerts: list[dict] = []

    def process(self, t: PacketTable) -> None:
        """The analysis stage: flows, then every enabled detector, then the evidence pcaps
        and the alert log. A signal (the CLI's SIGTERM/SIGINT handler) waits for the end of
        it: a batch's alerts are counted and written together, or not at all."""
        with UNINTERRUPTED:
            self.sessions.process(t)  # an L2TPv2 session's two directions: one line
            # the datagrams this batch's fragments completed: analysed after the batch, as
            # a small batch of their own (the fragments' rows are no packets of their own)
            whole = self.reassembly.process(t, self.pipeline.decode)
            if whole is not None:
                self.sessions.process(whole)    # a tunnel made whole: its session's line too
                whole = with_followers(t, whole)
            alerts = self.analyse(t)
            if whole is not None:
                alerts = alerts + self.analyse(whole, frames=False)
            self.last_alerts = alerts

    def analyse(self, t: PacketTable, frames: bool = True) -> list[dict]:
        """Flows, detectors, evidence and the alert log for one table; `frames`: its rows
        are captured frames (the lines' activity counts them), not reassembled datagrams,
        whose fragments' frames were counted in their own batch."""
        if self.flow_log is not None:
            self.flow_log.interfaces = t.batch.interfaces
        flow_of_row = self.flows.update(t)
        ctx = BatchContext(t, flow_of_row, self.plan, self.cfg, self.flows.row_keys,
                           self.flows.groups, self.flows.from_client)
        if frames:
            self.lines.process(t, ctx.line_pattern, self.flows.groups)
        self.alerter.source = t.batch.source
        alerts = self.alerter.process(ctx)
        if self.events is not None:
            self.events.process(ctx)
        if self.evidence is not None:
            self.evidence.process(ctx, alerts)  # names each alert's evidence_pcap
        if self.log is not None:
            self.log.write(alerts)
        if self.sinks is not None:
            self.sinks.send(alerts)
        self.flows.groups = None  # the batch's grouping is done with: its memory goes
        return alerts

    def close(self) -> None:
        """Write and sync what is left; safe to call twice, and a signal waits for it."""
        with UNINTERRUPTED:
            try:
                if self.evidence is not None:
                    self.evidence.close()
                if self.flow_log is not None:   # the flows still open end here
                    self.flows.close()
                    self.flow_log.close()
                if self.events is not None:
                    self.events.close()
            finally:
                if self.log is not None:
                    self.log.close()
                if self.sinks is not None:
                    self.sinks.close()
