"""`ybsensor run`: live capture on an interface, for as long as the service runs.

One supervising process and N capture workers. The supervisor checks the interface
(netlink), compiles the capture filter, opens one TPACKET_V3 ring per worker (joined in a
PACKET_FANOUT group that hashes by flow when N > 1), binds the metrics port and then forks
the workers; each worker owns one ring and a whole Sensor (decoders, flows, detectors) and
sends its alerts and, every second, its metric families back over a pipe. The supervisor
writes the one alert log, serves the merged metrics on `/metrics`, watches the link state
and handles the signals:

- SIGTERM / SIGINT: every worker finishes the batch in hand and the blocks the kernel has
  already filled, sends its last alerts and metrics; the supervisor writes them, fsyncs the
  alert log (and writes `--metrics-file`), prints a summary and exits 0.
- SIGHUP: the configuration file is read again. A bad one is refused with the reason and
  the running configuration is kept. A good one is taken up in two steps, so that a
  failure at any step keeps the running configuration everywhere: the supervisor opens
  the alert log it names, and every worker builds its analysis stages from it beside the
  running ones (`prepare`); only when every worker has one ready does the supervisor tell
  them to switch (`commit`: counters, flows and the dedup state carry over) and switch its
  alert log (reopened after a log rotation; its counters, chain and held backlog carry
  over). One refusal, or no answer within RELOAD_SECONDS, and all of them drop theirs
  (`abort`).
"""
from __future__ import annotations

import ctypes
import dataclasses
from collections import Counter, OrderedDict
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import click
from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

import numpy as np

from ybsensor.core.loops import require_jit
from ybsensor.decoders import fastpath
from ybsensor.detectors.base import SEVERITIES, Finding
from ybsensor.detectors.shared_line import FORGET_EVERY, REASON, SharedLine, least_recent
from ybsensor.exporters.alerts import AlertLog
from ybsensor.exporters.http import ListenError, MetricsServer, Snapshots
from ybsensor.exporters.prometheus import BATCH_BUCKETS, BuildCollector, SensorCollector
from ybsensor.exporters.syslog import Sinks

from . import config as config_mod
from . import netif, sdnotify
from .heap import settle
from .alerting import repeats
from .sensor import Sensor, open_alert_log
from .sources import bpf
from .sources.afpacket import FanoutError, Ring, RingOptions

SNAPSHOT_SECONDS = 1.0      # how often a worker sends its metrics
LINK_CHECK_SECONDS = 2.0    # how often the supervisor reads the link state
STOP_SECONDS = 30.0         # how long workers get to drain before they are killed
WITNESS_HOLD_SECONDS = 1.0  # how long a shared line's witness waits for a worker's alert
RELOAD_SECONDS = 30.0       # how long workers get to prepare a new configuration
PR_SET_PDEATHSIG = 1


def _say(message: str) -> None:
    click.echo(f"ybsensor: {message}", err=True)


def _size(text: str) -> int:
    """Bytes from `1048576`, `1024K`, `1M`, `1MiB`."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:], 1)
    try:
        return int(t[:-1] if scale > 1 else t) * scale
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a size in bytes (e.g. 1M, 4MiB)") from None


@click.command("run")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="the sensor's TOML configuration (without one: decode and count only)")
@click.option("--interface", "-i", required=True, help="capture on this network interface")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="capture processes, fed by PACKET_FANOUT hashing by flow")
@click.option("--bpf", "bpf_expr", default="", metavar="EXPR",
              help="a tcpdump filter expression applied in the kernel")
@click.option("--alerts", "alerts_path", type=click.Path(dir_okay=False),
              help="append alerts here as JSON lines (default: the config's alerts.path)")
@click.option("--listen", help="serve /metrics on HOST:PORT (default: the config's "
                               "metrics.listen, else 127.0.0.1:9108)")
@click.option("--metrics-file", type=click.Path(dir_okay=False),
              help="write the final metrics here in the Prometheus text format on exit")
@click.option("--block-size", default="1MiB", show_default=True,
              help="bytes per ring block (a power of two)")
@click.option("--blocks", type=click.IntRange(2, 65536), default=64, show_default=True,
              help="blocks per ring (one ring per worker)")
@click.option("--block-timeout", type=click.IntRange(1, 59999), default=50, show_default=True,
              help="milliseconds before a block that is not full is handed over")
@click.option("--batch-frames", type=click.IntRange(1, 1 << 20), default=65536,
              show_default=True, help="most frames taken through the pipeline at once")
@click.option("--promisc/--no-promisc", default=True, show_default=True,
              help="put the interface in promiscuous mode while capturing")
@click.option("--metrics-interval", type=click.FloatRange(0.01, 60), default=SNAPSHOT_SECONDS,
              show_default=True, help="seconds between the workers' updates of /metrics")
@click.option("--wait-for-link", is_flag=True,
              help="an interface that is missing or down is waited for (retried with backoff, "
                   "ybsensor_interface_up 0 on /metrics), not an error: for a service")
def run(config_path, interface, workers, bpf_expr, alerts_path, listen, metrics_file,
        block_size, blocks, block_timeout, batch_frames, promisc, metrics_interval,
        wait_for_link):
    """Capture on INTERFACE through an AF_PACKET TPACKET_V3 ring and run the whole pipeline
    until stopped (SIGTERM/SIGINT: drain and exit; SIGHUP: reload the configuration)."""
    if alerts_path and not config_path:
        raise click.UsageError("--alerts needs --config (without one no detector runs)")
    cfg = config_mod.load(config_path) if config_path else None
    listen = listen or (cfg.metrics_listen if cfg else "127.0.0.1:9108")
    link = await_link(interface, listen) if wait_for_link else netif.check(interface)
    if link is None:
        sys.exit(0)       # stopped while waiting
    program = bpf.compile_filter(bpf_expr, link.linktype) if bpf_expr.strip() else None
    require_jit()                # before any worker: W^X stops the service here, exit 2
    fastpath.load_kernel_now()   # a service: the compiled loops from the first batch (workers fork)
    options = RingOptions(block_size=_size(block_size), blocks=blocks,
                          block_timeout_ms=block_timeout, promisc=promisc)
    sup = Supervisor(cfg, config_path, link, workers, program, options, alerts_path, listen,
                     metrics_file, batch_frames, bpf_expr.strip(), metrics_interval)
    sys.exit(sup.run())


LINK_RETRY_FIRST, LINK_RETRY_MOST = 1.0, 30.0      # seconds between looks at a missing link


class _WaitingCollector:
    def __init__(self, interface: str):
        self.interface = interface

    def collect(self):
        up = GaugeMetricFamily("ybsensor_interface_up", "Whether the capture interface is "
                               "up with a link (1) or not (0)", labels=["interface"])
        up.add_metric([self.interface], 0.0)
        yield up


def await_link(interface: str, listen: str) -> netif.Link | None:
    """The capture interface once it exists and is up, looked at again with backoff (1 s,
    doubling to 30 s) while /metrics says `ybsensor_interface_up 0`; None if SIGTERM or
    SIGINT came first. An interface of a kind we cannot capture is no reason to wait."""
    stop = []
    previous = {sig: signal.signal(sig, lambda *_: stop.append(1))
                for sig in (signal.SIGTERM, signal.SIGINT)}
    server = None
    delay, said = LINK_RETRY_FIRST, None
    try:
        while not stop:
            try:
                return netif.check(interface)
            except netif.InterfaceError as exc:
                if not exc.transient:
                    raise
                if str(exc) != said:
                    said = str(exc)
                    _say(f"waiting: {exc}")
                    sdnotify.notify(f"STATUS=waiting for {interface}: {exc}")
            if server is None:
                registry = CollectorRegistry()
                registry.register(_WaitingCollector(interface))
                registry.register(BuildCollector())
                try:
                    server = MetricsServer(listen, registry).start()
                except ListenError as exc:
                    raise click.BadParameter(str(exc), param_hint="--listen") from None
            deadline = time.monotonic() + delay
            while not stop and time.monotonic() < deadline:
                ping = sdnotify.watchdog_interval()
                if ping:
                    sdnotify.notify("WATCHDOG=1")
                time.sleep(min(0.2, ping or 0.2))
            delay = min(delay * 2, LINK_RETRY_MOST)
        return None
    finally:
        if server is not None:
            server.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve_metrics(listen: str, registry) -> MetricsServer:
    """`replay --listen`: serve a registry while the replay runs (a bad or busy address is
    a usage error, exit 2)."""
    try:
        server = MetricsServer(listen, registry).start()
    except ListenError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    _say(f"metrics on {server.url}")
    return server


def linger(server: MetricsServer, seconds: float) -> None:
    """`replay --linger`: go on serving for `seconds` after the replay (a signal ends it)."""
    if seconds > 0:
        _say(f"serving the final metrics on {server.url} for {seconds:g} s")
        time.sleep(seconds)
    server.close()


# ---------------------------------------------------------------------------------------
# The worker: one ring, one Sensor.

class _Forward:
    """Stands in for the Sensor's alert log: alerts go to the supervisor."""

    def __init__(self, worker: "Worker"):
        self.worker = worker

    def write(self, alerts: list[dict]) -> None:
        if alerts:
            self.worker.send(("alerts", alerts))

    def close(self) -> None:
        pass


class _CaptureCollector:
    """The ring's own counters, from PACKET_STATISTICS (read by the worker that owns it)."""

    def __init__(self, ring: Ring):
        self.ring = ring

    def collect(self):
        name = self.ring.ifname
        yield _family_with(CounterMetricFamily, "ybsensor_capture_packets",
                           "Frames the kernel passed to the capture socket (after the filter, "
                           "drops included)", name, self.ring.kernel_packets)
        yield _family_with(CounterMetricFamily, "ybsensor_capture_ring_freezes",
                           "Times the capture ring was full and the kernel froze it", name,
                           self.ring.freezes)


def _family_with(cls, name, doc, iface, value):
    fam = cls(name, doc, labels=["interface"])
    fam.add_metric([iface], value)
    return fam


class _Current:
    """The SensorCollector of whichever Sensor the worker runs now (it changes on reload)."""

    def __init__(self, worker: "Worker"):
        self.worker = worker

    def collect(self):
        s = self.worker.sensor
        ring = self.worker.ring
        extra = [d for d in (s.alerter.detectors if s.alerter else ())
                 if hasattr(d, "metric_families")]
        extra += [x for x in (getattr(s, "evidence", None),) if hasattr(x, "metric_families")]
        for fam in SensorCollector(s.stats, s.alerter, s.flows, s.lines, extra=extra,
                                   drops=lambda: {ring.ifname: ring.kernel_drops}).collect():
            if self.worker.share and fam.name == "ybsensor_alert_records":
                # the supervisor counts the shared_line alerts it writes (MergedLines)
                fam.samples = [x for x in fam.samples if x.labels.get("detector") != "shared_line"]
            yield fam


def worker_path(path: str, k: int) -> str:
    """Worker `k`'s own file of a log: `flows.jsonl` -> `flows.w0.jsonl`."""
    p = Path(path)
    return str(p.with_name(f"{p.stem}.w{k}{p.suffix}"))


def carry_over(old: Sensor, new: Sensor) -> None:
    """State that outlives a configuration reload: traffic and alert counters, the flow
    table (same size and idle time), the dedup state, and when each still-configured line
    was last seen. Counters must not go back (Prometheus would read a restart)."""
    new.stats.resume(old.stats)
    same_flows = old.flows is not None and new.flows is not None and new.flows.resume(old.flows)
    if old.flows is not None and new.flows is not None and not same_flows:
        new.flows.evicted_total = old.flows.evicted_total + old.flows.active  # the old flows
    if old.alerter is not None and new.alerter is not None:
        new.alerter.resume(old.alerter, dedup=same_flows)
    for name in ("flow_log", "events"):   # the same files go on; others close
        old_log, new_log = getattr(old, name, None), getattr(new, name, None)
        if old_log is not None and new_log is not None:
            new_log.continue_from(old_log)
        elif old_log is not None:
            old_log.close()
    old_ev, new_ev = getattr(old, "evidence", None), getattr(new, "evidence", None)
    if old_ev is not None and new_ev is not None:
        settings = ("dir", "packets_per_flow", "max_bytes", "mask")
        if all(getattr(old_ev, k, None) == getattr(new_ev, k, None) for k in settings):
            new.evidence = old_ev  # the same files go on collecting
        else:
            for name in ("files", "packets", "removed", "refused", "write_errors", "abandoned"):
                if hasattr(old_ev, name):
                    setattr(new_ev, name, getattr(old_ev, name))
            old_ev.close()
    if old.lines is not None and new.lines is not None:
        before = dict(zip(old.lines.lines.patterns, old.lines.seen_ns.tolist()))
        for i, line in enumerate(new.lines.lines.patterns):
            if line in before:
                new.lines.seen_ns[i] = before[line]


# ---------------------------------------------------------------------------------------
# shared_line across workers. The fanout hashes by flow, so one line's flows (and its
# institutions) are spread over the workers, and each worker's SharedLine sees only its
# share. Each worker reports the (line, institution) pairs it had not seen before (few:
# SharedLine remembers them, bounded); the supervisor merges them into one bounded
# line -> institutions map (MergedLines) and, when a line gains a second institution, tells
# every worker, which merges it (SharedLine.merge) between batches: its next packets on the
# line raise the alert through the normal path. The supervisor writes one shared_line alert
# per line within alerts.dedup_seconds; should no worker raise one soon (the line fell
# silent), it writes the one the pair that made the line shared would have raised (its
# witness, made by the worker that saw it; no evidence pcap). Messages:
#   worker -> supervisor  ("lines", generation, [(line code, institution code, witness)])
#   supervisor -> worker  ("shared", generation, [(line code, (institution codes))])
#                         ("forget", generation, [line codes])
# The generation goes up at each reload (detector state starts anew, as in one process).
# Counters with N workers: ybsensor_alert_records_total{detector="shared_line"} counts the
# shared_line alerts the supervisor wrote (the workers' own counts of it are left out of
# their snapshots), so it equals the alert log; ybsensor_alerts_total{detector="shared_line"}
# sums the violating packets each worker saw once it knew the line was shared, which leaves
# out those of the batch or so before the news reached it (one process counts them).

def shared_line_of(sensor: Sensor) -> SharedLine | None:
    for det in (sensor.alerter.detectors if sensor.alerter is not None else ()):
        if isinstance(det, SharedLine):
            return det
    return None


def share_lines(sensor: Sensor) -> SharedLine | None:
    """Make the sensor's shared_line detector report its new pairs (one of several workers)."""
    det = shared_line_of(sensor)
    if det is None:
        return None
    alerter = sensor.alerter

    def witness(ctx, row: int, inst: int) -> dict:
        f = Finding(np.array([row]), "high", REASON)
        alert = alerter.record(det, f, ctx, row, inst, 1, int(ctx.t.wirelen[row]))
        if sensor.evidence is not None:
            alert["evidence_pcap"] = None  # the packet is gone by the time it is written
        return alert

    det.collect(witness)
    return det


def reported(sensor: Sensor, generation: int):
    """The ("lines", ...) message of what the detector reported since the last one, or None."""
    det = shared_line_of(sensor)
    news = det.take_reported() if det is not None else None
    if not news:
        return None
    code = sensor.plan.code
    return ("lines", generation, [(line, code(inst), w) for line, inst, w in news])


def take_lines(sensor: Sensor, msg) -> None:
    """A ("shared", ...) or ("forget", ...) message from the supervisor, into the detector."""
    det = shared_line_of(sensor)
    if det is None:
        return
    if msg[0] == "forget":
        det.drop(msg[2])
        return
    index = {c: i for i, c in enumerate(sensor.plan.codes)}
    for line, codes in msg[2]:
        det.merge(line, [index[c] for c in codes if c in index])


class MergedLines:
    """The supervisor's merge of the workers' (line, institution) reports, and the one
    place shared_line alerts are deduplicated when there are several workers. Bounded as
    SharedLine is: past MAX_LINES (+ FORGET_EVERY) the least recently reported lines are
    forgotten, lines of one institution first, and the workers told to forget them too (so
    that a line still in use is reported again)."""

    def __init__(self, dedup_seconds: float, hold: float = WITNESS_HOLD_SECONDS):
        self.dedup_ns = int(dedup_seconds * 1e9)
        self.hold = hold
        self.generation = 0
        self.lines: OrderedDict[int, frozenset[str]] = OrderedDict()
        self.forgotten = 0
        self.last: dict[str, tuple[int, int]] = {}   # line text -> (ts ns, severity rank)
        self.pending: dict[str, tuple[float, dict]] = {}  # line text -> (due, witness)
        self.records: Counter[str] = Counter()       # shared_line alerts written, by institution
        self.repeats = 0                             # workers' shared_line alerts dropped

    def restart(self, dedup_seconds: float) -> None:
        """A reload: the workers' detectors start anew, and so does the map (the dedup state
        carries over, as the workers' does)."""
        self.generation += 1
        self.dedup_ns = int(dedup_seconds * 1e9)
        self.lines.clear()

    def report(self, generation: int, pairs, now: float) -> tuple[list, list]:
        """Merge a worker's pairs: (lines that gained an institution and are shared, with
        all their institutions; lines forgotten to stay within bounds)."""
        if generation != self.generation:
            return [], []  # made under the configuration before a reload
        grown: dict[int, frozenset[str]] = {}
        for line, code, witness in pairs:
            if code is None:
                continue
            owners = self.lines.get(line)
            if owners is None:
                self.lines[line] = frozenset((code,))
                continue
            self.lines.move_to_end(line)
            if code in owners:
                continue
            owners = self.lines[line] = owners | {code}
            grown[line] = owners
            if witness is not None:
                key = witness["line"]
                due = self.pending[key][0] if key in self.pending else now + self.hold
                witness["evidence"] = {**witness.get("evidence", {}),
                                       "institutions": sorted(owners)}
                self.pending[key] = (due, witness)
        forgotten = []
        if len(self.lines) > SharedLine.MAX_LINES + FORGET_EVERY:
            forgotten = self._forget(grown.keys() | {line for line, _, _ in pairs})
        return [(line, tuple(sorted(o))) for line, o in grown.items()], forgotten

    def _forget(self, keep) -> list[int]:
        victims = least_recent(self.lines, len(self.lines) - SharedLine.MAX_LINES, keep,
                               lambda owners: len(owners) == 1)
        for line in victims:
            del self.lines[line]
        self.forgotten += len(victims)
        return victims

    def alerts(self, alerts: list[dict]) -> list[dict]:
        """The workers' alerts to write: a shared_line alert whose line was written within
        the dedup window is a repeat (another worker's) and is dropped."""
        out = []
        for alert in alerts:
            if alert.get("detector") != "shared_line":
                out.append(alert)
                continue
            self.pending.pop(alert["line"], None)  # a worker's own alert: no witness needed
            if self._admit(alert):
                out.append(alert)
            else:
                self.repeats += 1
        return out

    def due(self, now: float, everything: bool = False) -> list[dict]:
        """Witnesses no worker's alert stood in for in time (all of them at the end)."""
        out = []
        for key, (when, witness) in list(self.pending.items()):
            if everything or now >= when:
                del self.pending[key]
                if self._admit(witness):
                    out.append(witness)
        return out

    def _admit(self, alert: dict) -> bool:
        key, ts = alert["line"], round(alert["ts"] * 1e9)
        rank = SEVERITIES.index(alert["severity"])
        if repeats(self.last.get(key), ts, rank, self.dedup_ns):
            return False
        self.last[key] = (ts, rank)
        if len(self.last) > 4 * SharedLine.MAX_LINES:
            horizon = max(v[0] for v in self.last.values()) - self.dedup_ns
            self.last = {k: v for k, v in self.last.items() if v[0] >= horizon}
        self.records[alert.get("institution") or "-"] += 1
        return True

    def metric_families(self):
        fam = CounterMetricFamily("ybsensor_alert_records", "Alerts raised (after "
                                  "deduplication and the rate limit), by detector and "
                                  "institution code", labels=["detector", "institution"])
        for inst, count in sorted(self.records.items()):
            fam.add_metric(["shared_line", inst], count)
        yield fam


class Worker:
    def __init__(self, ring: Ring, cfg, conn, batch_frames: int,
                 interval: float = SNAPSHOT_SECONDS, share: bool = False):
        self.ring, self.conn, self.batch_frames = ring, conn, batch_frames
        self.interval = interval
        self.share = share          # one of several workers: shared_line goes through the supervisor
        self.generation = 0
        self.stopping = False
        self.prepared: Sensor | None = None  # a new configuration's stages, not yet running
        self.unsettled = True    # stages built since the heap was last settled (sensor/heap.py)
        self.registry = CollectorRegistry()
        self.duration = Histogram("ybsensor_batch_duration_seconds",
                                  "Time to take one batch through the pipeline",
                                  buckets=BATCH_BUCKETS, registry=self.registry)
        self.sensor = self._sensor(cfg)
        self.registry.register(_Current(self))
        self.registry.register(_CaptureCollector(ring))

    def _sensor(self, cfg) -> Sensor:
        sensor = Sensor(cfg, alerts_path="", sinks=False)   # alerts go to the supervisor
        sensor.log = _Forward(self) if cfg is not None else None
        sensor.pipeline.observe = self.duration.observe
        if self.share:
            share_lines(sensor)
        return sensor

    def prepare(self, cfg) -> None:
        """Build the stages of a new configuration beside the running ones."""
        self.prepared = None
        self.prepared = self._sensor(cfg)

    def commit(self, generation: int | None = None) -> None:
        """Switch to the prepared stages; the state that outlives a reload carries over."""
        new, self.prepared = self.prepared, None
        if new is None:
            raise RuntimeError("no new configuration prepared")
        if generation is not None:
            # the supervisor's line map starts anew: so does what this worker reported
            self.generation = generation
            det = shared_line_of(self.sensor)
            if det is not None:
                det.reset()
                if det.report is not None:
                    det.report.clear()
        carry_over(self.sensor, new)
        self.sensor = new
        self.unsettled = True   # the old stages are garbage now, the new ones live on

    def send(self, msg) -> None:
        try:
            self.conn.send(msg)
        except OSError:  # the supervisor is gone (BrokenPipeError): stop
            self.stopping = True

    def snapshot(self) -> None:
        self.ring.stats()
        self.send(("metrics", list(self.registry.collect())))

    def messages(self) -> None:
        try:
            while self.conn.poll():
                msg = self.conn.recv()
                if msg[0] == "stop":
                    self.stopping = True
                elif msg[0] in ("shared", "forget"):
                    if msg[1] == self.generation:
                        take_lines(self.sensor, msg)
                elif msg[0] in ("prepare", "commit"):
                    try:
                        getattr(self, msg[0])(*msg[1:])
                    except Exception as exc:  # noqa: BLE001 - keep capturing on the old one
                        self.prepared = None
                        self.send(("reload-failed", f"{type(exc).__name__}: {exc}"))
                    else:
                        self.send(("prepared",) if msg[0] == "prepare" else ("reloaded",))
                elif msg[0] == "abort":
                    self.prepared = None
        except (EOFError, OSError):  # the supervisor is gone
            self.stopping = True

    def process(self, batch) -> None:
        self.sensor.pipeline.process(batch, self.ring.source)
        if self.share and (msg := reported(self.sensor, self.generation)) is not None:
            self.send(msg)

    def loop(self) -> None:
        conn_fd = self.conn.fileno()
        last = 0.0
        while not self.stopping:
            if self.unsettled:
                settle()
                self.unsettled = False
            batch = self.ring.take(self.batch_frames)
            if batch is None:
                if conn_fd in self.ring.wait(min(0.25, self.interval), extra=[conn_fd]):
                    self.messages()
            else:
                self.process(batch)
                self.messages()
            now = time.monotonic()
            if now - last >= self.interval:
                last = now
                self.snapshot()
        # drain: the blocks the kernel has already handed over
        while (batch := self.ring.take(self.batch_frames)) is not None:
            self.process(batch)
        self.sensor.close()
        self.snapshot()
        self.send(("done", self.ring.frames))


def _worker_main(k: int, rings: list[Ring], cfg, conn, others, batch_frames: int,
                 listen_fd: int | None, interval: float = SNAPSHOT_SECONDS,
                 share: bool = False) -> None:
    try:  # die with the supervisor, whatever kills it
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    worker = None
    early = []  # a SIGTERM before the worker is built

    def stop(signum, frame):
        early.append(signum)
        if worker is not None:
            worker.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the supervisor handles ^C
    signal.signal(signal.SIGHUP, signal.SIG_IGN)   # ... and reloads
    if listen_fd is not None:
        os.close(listen_fd)
    for j, ring in enumerate(rings):
        if j != k:
            ring.close()
    for c in others:
        c.close()
    worker = Worker(rings[k], cfg, conn, batch_frames, interval, share)
    worker.stopping = bool(early)
    worker.loop()


# ---------------------------------------------------------------------------------------
# The supervisor.

class _LinkCollector:
    def __init__(self, sup: "Supervisor"):
        self.sup = sup

    def collect(self):
        up = GaugeMetricFamily("ybsensor_interface_up", "Whether the capture interface is "
                               "up with a link (1) or not (0)", labels=["interface"])
        up.add_metric([self.sup.link.name], 1.0 if self.sup.link_up else 0.0)
        yield up
        yield GaugeMetricFamily("ybsensor_capture_workers", "Capture processes running",
                                value=self.sup.running())


class _ReloadCollector:
    """Whether the last configuration reload (SIGHUP) was taken up, and when one last was
    (the start counts as one), as Prometheus reports its own."""

    def __init__(self, sup: "Supervisor"):
        self.sup = sup

    def collect(self):
        yield GaugeMetricFamily("ybsensor_config_last_reload_successful", "Whether the last "
                                "configuration reload was taken up (1) or refused (0)",
                                value=1.0 if self.sup.reload_ok else 0.0)
        yield GaugeMetricFamily("ybsensor_config_last_reload_success_timestamp_seconds",
                                "When the running configuration was taken up",
                                value=self.sup.reload_success_ts)


class _LogCollector:
    """The alert log's own counters (written, write errors, backlog...): it lives here."""

    def __init__(self, sup: "Supervisor"):
        self.sup = sup

    def collect(self):
        log = self.sup.log
        if log is not None and hasattr(log, "metric_families"):
            yield from log.metric_families()


@dataclass
class _Done:
    frames: int = 0
    workers: set = field(default_factory=set)


@dataclass
class _Reload:
    """A reload under way: the new configuration and alert log, and the workers that have
    not said yet whether they could prepare it."""
    cfg: object
    log: AlertLog | None
    waiting: set
    deadline: float
    refusals: list = field(default_factory=list)


class Supervisor:
    def __init__(self, cfg, config_path, link: netif.Link, workers: int, program, options,
                 alerts_path, listen, metrics_file, batch_frames, bpf_expr="",
                 metrics_interval: float = SNAPSHOT_SECONDS):
        self.cfg, self.config_path, self.link = cfg, config_path, link
        self.n, self.program, self.options = workers, program, options
        self.alerts_override, self.listen, self.metrics_file = alerts_path, listen, metrics_file
        self.batch_frames, self.bpf_expr = batch_frames, bpf_expr
        self.metrics_interval = metrics_interval
        self.link_up = link.up
        self.procs: list[multiprocessing.Process] = []
        self.conns = []
        self.snapshots = Snapshots(local=[_LinkCollector(self), _LogCollector(self),
                                          _ReloadCollector(self), BuildCollector()])
        self.reload_ok, self.reload_success_ts = True, time.time()
        self.sinks = Sinks.from_config(cfg.sinks) if cfg is not None and cfg.sinks else None
        self.snapshots.local.append(self)     # the sinks' counters
        self.registry = CollectorRegistry()
        self.registry.register(self.snapshots)
        ProcessCollector(registry=self.registry)    # the supervisor's own process_* metrics
        self.log: AlertLog | None = None
        self.alerts_written = 0
        self.done = _Done()
        self.flags = {"stop": False, "reload": False}
        self.vanished = False
        self.reload_acks = 0
        self.pending: _Reload | None = None
        # several workers: shared_line merged and deduplicated here (MergedLines)
        self.owners = MergedLines(cfg.dedup_seconds) if cfg is not None and workers > 1 else None
        if self.owners is not None:
            self.snapshots.update("shared_line", [])

    def running(self) -> int:
        return len(self.procs) - len(self.done.workers)

    # -- setting up ------------------------------------------------------------------

    def _alerts_path(self, cfg) -> str | None:
        return self.alerts_override or (cfg.alerts_path if cfg else None)

    def _open_log(self, cfg, warn: bool = True) -> AlertLog | None:
        return open_alert_log(cfg, self._alerts_path(cfg), warn) if cfg is not None else None

    def _worker_config(self, cfg, k: int = 0):
        """The configuration as worker `k` runs it: workers have no alert log of their own
        (alerts come here), so the evidence directory is resolved here, beside the alert
        log as Sensor does, and its room shared out between the workers. Each of several
        workers writes flow and event logs of its own (`worker_path`): the fanout gives each
        a share of the flows, so no record is in two files."""
        if cfg is None:
            return None
        where = cfg.evidence_dir
        if where is None:
            path = self._alerts_path(cfg)
            where = str(Path(path).parent / "evidence") if path else ""
        flows = cfg.flow_log_path
        events = cfg.event_log_paths
        if self.n > 1:
            flows = worker_path(flows, k) if flows else flows
            events = {kind: worker_path(path, k) for kind, path in events.items()}
        return dataclasses.replace(cfg, evidence_dir=where, flow_log_path=flows,
                                   event_log_paths=events,
                                   evidence_max_bytes=max(cfg.evidence_max_bytes // self.n, 1))

    def _open_rings(self) -> list[Ring]:
        rings: list[Ring] = []
        group = None
        if self.n > 1:
            group = os.getpid() & 0xFFFF
        try:
            for k in range(self.n):
                source = self.link.name if self.n == 1 else f"{self.link.name}#{k}"
                for attempt in range(16):  # a fanout id another program holds: try the next
                    try:
                        rings.append(Ring(self.link.name, self.link.linktype, self.options,
                                          self.program, group, source))
                        break
                    except FanoutError:
                        if k > 0 or attempt == 15:
                            raise
                        group = (group + 7919) & 0xFFFF
        except BaseException:
            for ring in rings:
                ring.close()
            raise
        return rings

    def run(self) -> int:
        try:
            server = MetricsServer(self.listen, self.registry)
        except ListenError as exc:
            _say(f"error: {exc}")
            return 2
        try:
            self.log = self._open_log(self.cfg)
            rings = self._open_rings()
        except BaseException:
            server.close()
            if self.log is not None:
                self.log.close()
            raise
        ctx = multiprocessing.get_context("fork")
        pairs = [ctx.Pipe() for _ in range(self.n)]
        for k in range(self.n):
            others = [p for j, pair in enumerate(pairs) for p in pair if j != k] + [pairs[k][0]]
            proc = ctx.Process(target=_worker_main, name=f"ybsensor-capture-{k}",
                               args=(k, rings, self._worker_config(self.cfg, k), pairs[k][1],
                                     others, self.batch_frames, server.httpd.fileno(),
                                     self.metrics_interval, self.owners is not None))
            proc.start()
            self.procs.append(proc)
        for pair in pairs:
            pair[1].close()
        self.conns = [pair[0] for pair in pairs]
        for ring in rings:  # each worker owns its ring now
            ring.close()
        server.start()
        previous = {sig: signal.signal(sig, self._signal)
                    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        ring_mib = self.options.block_size * self.options.blocks / (1 << 20)
        _say(f"capturing on {self.link.name} ({self.n} worker{'s' * (self.n > 1)}, "
             f"{ring_mib:g} MiB ring each"
             f"{', filter: ' + self.bpf_expr if self.bpf_expr else ''}); "
             f"metrics on {server.url}")
        if self.log is None and self.cfg is not None:
            _say("warning: alerts are not written anywhere (set alerts.path or --alerts)")
        if self.cfg is not None and self.n > 1 and \
                (self.cfg.flow_log_path or self.cfg.event_log_paths):
            _say(f"flow and event logs: a file each worker ({worker_path('NAME.jsonl', 0)}, ...)")
        sdnotify.notify("READY=1", f"STATUS=capturing on {self.link.name}")
        started = time.monotonic()
        status = 0
        try:
            status = self._loop()
            if self.vanished:
                status = 1
        finally:
            if self.owners is not None:  # witnesses still waiting: the workers are done
                self._write(self.owners.due(time.monotonic(), everything=True))
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for proc in self.procs:
                if proc.is_alive():
                    proc.kill()
                proc.join(timeout=5)
            if self.pending is not None and self.pending.log is not None:
                self.pending.log.release()
            if self.log is not None:
                self.log.close()
            if self.sinks is not None:
                self.sinks.close()
            if self.metrics_file:
                write_to_textfile(self.metrics_file, self.registry)
            server.close()
        self._summary(time.monotonic() - started)
        return status

    # -- running ---------------------------------------------------------------------

    def _signal(self, signum, frame) -> None:
        if signum == signal.SIGHUP:
            self.flags["reload"] = True
        else:
            self.flags["stop"] = True

    def _loop(self) -> int:
        next_link = time.monotonic() + LINK_CHECK_SECONDS
        ping_every = sdnotify.watchdog_interval()     # systemd's watchdog, if the unit has one
        next_ping = time.monotonic()
        stop_sent = None
        status = 0
        while len(self.done.workers) < self.n:
            if ping_every and time.monotonic() >= next_ping:
                next_ping = time.monotonic() + ping_every
                sdnotify.notify("WATCHDOG=1")
            if self.flags["stop"] and stop_sent is None:
                sdnotify.notify("STOPPING=1")
                stop_sent = time.monotonic()
                for conn in self.conns:
                    self._send(conn, ("stop",))
            if stop_sent is not None and time.monotonic() - stop_sent > STOP_SECONDS:
                _say(f"error: workers did not stop within {STOP_SECONDS:g} s; killed")
                return 1
            if self.flags["reload"] and self.pending is None:
                self.flags["reload"] = False
                self.reload()
            if self.pending is not None and time.monotonic() > self.pending.deadline:
                for k in sorted(self.pending.waiting):
                    self.pending.refusals.append((k, f"no answer within {RELOAD_SECONDS:g} s"))
                self.pending.waiting.clear()
                self._settle()
            live = [c for k, c in enumerate(self.conns) if k not in self.done.workers]
            for conn in multiprocessing.connection.wait(live, timeout=0.25):
                k = self.conns.index(conn)
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    self.done.workers.add(k)
                    if self.pending is not None and k in self.pending.waiting:
                        self.pending.waiting.discard(k)
                        self._settle()
                    code = self.procs[k].exitcode
                    self.procs[k].join(timeout=5)
                    _say(f"error: capture worker {k} ended unexpectedly "
                         f"(exit status {self.procs[k].exitcode if code is None else code})")
                    status = 1
                    self.flags["stop"] = True
                    continue
                self._message(k, msg)
            if self.owners is not None and self.owners.pending:
                self._write(self.owners.due(time.monotonic()))
            if self.log is not None:
                self.log.write([])  # retries a backlog, syncs when due
            if time.monotonic() >= next_link:
                next_link = time.monotonic() + LINK_CHECK_SECONDS
                self._check_link()
        return status

    def _send(self, conn, msg) -> None:
        try:
            conn.send(msg)
        except (BrokenPipeError, OSError):
            pass

    def _write(self, alerts: list[dict]) -> None:
        if not alerts:
            return
        if self.log is not None:
            self.log.write(alerts)
        if self.sinks is not None:
            self.sinks.send(alerts)
        self.alerts_written += len(alerts)
        if self.owners is not None:
            self.snapshots.update("shared_line", list(self.owners.metric_families()))

    def _message(self, k: int, msg) -> None:
        kind = msg[0]
        if kind == "alerts":
            self._write(self.owners.alerts(msg[1]) if self.owners is not None else msg[1])
        elif kind == "lines":
            if self.owners is not None:
                self._lines(msg)
        elif kind == "metrics":
            self.snapshots.update(k, msg[1])
        elif kind == "prepared":
            if self.pending is not None and k in self.pending.waiting:
                self.pending.waiting.discard(k)
                self._settle()
        elif kind == "reloaded":
            self.reload_acks += 1
            if self.reload_acks == self.running():
                _say(f"reloaded {self.config_path}")
        elif kind == "reload-failed":
            if self.pending is not None and k in self.pending.waiting:
                self.pending.waiting.discard(k)
                self.pending.refusals.append((k, msg[1]))
                self._settle()
            else:  # the switch itself failed there: that worker goes on with the old one
                _say(f"error: worker {k} could not switch to the new configuration and keeps "
                     f"the old one: {msg[1]}")
        elif kind == "done":
            self.done.workers.add(k)
            self.done.frames += msg[1]

    def _lines(self, msg) -> None:
        shared, forgotten = self.owners.report(msg[1], msg[2], time.monotonic())
        for kind, items in (("shared", shared), ("forget", forgotten)):
            if items:
                for j, conn in enumerate(self.conns):
                    if j not in self.done.workers:
                        self._send(conn, (kind, self.owners.generation, items))

    def _check_link(self) -> None:
        try:
            link = netif.lookup(self.link.name)
        except OSError:
            return  # netlink busy: next time
        if link is None or link.index != self.link.index:
            # the capture sockets are bound to an interface that is gone: stop (a service
            # manager restarts us, and the start checks the interface again)
            if not self.flags["stop"]:
                _say(f"error: interface {self.link.name} is gone; stopping")
                self.flags["stop"] = True
                self.vanished = True
            self.link_up = False
            return
        if link.up != self.link_up:
            _say(f"interface {self.link.name} is {'up again' if link.up else 'DOWN'} "
                 f"(state {link.operstate})")
        self.link_up = link.up

    def reload(self) -> None:
        """SIGHUP, step one: read the configuration, open its alert log, and have every
        worker prepare it. Nothing changes until all of them have (`_settle`)."""
        if not self.config_path:
            _say("SIGHUP: no configuration file to reload")
            return
        try:
            cfg = config_mod.load(self.config_path)
            log = self._open_log(cfg, warn=False)
        except config_mod.ConfigError as exc:
            _say(f"error: reload refused, the running configuration is kept: {exc}")
            self.reload_ok = False
            return
        waiting = {k for k in range(len(self.conns)) if k not in self.done.workers}
        self.pending = _Reload(cfg, log, waiting, time.monotonic() + RELOAD_SECONDS)
        for k in sorted(waiting):
            self._send(self.conns[k], ("prepare", self._worker_config(cfg, k)))
        self._settle()

    def _settle(self) -> None:
        """SIGHUP, step two, once every worker has answered: all switch, or none does."""
        p = self.pending
        if p is None or p.waiting:
            return
        self.pending = None
        live = [c for k, c in enumerate(self.conns) if k not in self.done.workers]
        if p.refusals:
            for conn in live:
                self._send(conn, ("abort",))
            if p.log is not None:
                p.log.release()
            why = "; ".join(f"worker {k}: {reason}" for k, reason in p.refusals)
            _say(f"error: reload refused, the running configuration is kept: {why}")
            self.reload_ok = False
            return
        self.reload_ok, self.reload_success_ts = True, time.time()
        generation = None
        if self.owners is not None:
            self._write(self.owners.due(time.monotonic(), everything=True))
            self.owners.restart(p.cfg.dedup_seconds)
            generation = self.owners.generation
        self.reload_acks = 0  # "reloaded" is said when every worker runs the new one
        for conn in live:
            self._send(conn, ("commit", generation))
        if p.cfg.metrics_listen != (self.cfg.metrics_listen if self.cfg else None) \
                and self.listen != p.cfg.metrics_listen:
            _say("warning: a new metrics.listen takes effect at the next start")
        if p.cfg.sinks != (self.cfg.sinks if self.cfg is not None else []):
            if self.sinks is not None:
                self.sinks.close()
            self.sinks = Sinks.from_config(p.cfg.sinks) if p.cfg.sinks else None
        self.cfg = p.cfg
        if p.log is not None and self.log is not None:
            p.log.take_over(self.log)
        elif self.log is not None:
            self.log.close()
        self.log = p.log
        if self.log is not None and self.log.cut:
            _say(f"warning: {self.log.cut}")
        if not live:
            _say(f"reloaded {self.config_path}")

    def collect(self):
        """The alert sinks' counters (the supervisor sends the alerts to them)."""
        if self.sinks is not None:
            yield from self.sinks.metric_families()

    def _summary(self, elapsed: float) -> None:
        values: dict[str, float] = {}
        for fam in self.snapshots.collect():
            for s in fam.samples:
                values[s.name] = values.get(s.name, 0.0) + s.value
        frames = int(values.get("ybsensor_packets_total", 0))
        drops = int(values.get("ybsensor_capture_drops_total", 0))
        click.echo(f"{frames:,} frames captured on {self.link.name} in {elapsed:.1f} s, "
                   f"{drops:,} dropped by the kernel")
        where = f" to {self.log.path}" if self.log is not None else ""
        click.echo(f"{self.alerts_written:,} alerts{where}")
        if self.log is not None and self.log.seq:
            click.echo(f"alert log head: seq {self.log.seq}, hash {self.log.head} "
                       f"(keep it elsewhere: verify-log --head)")
