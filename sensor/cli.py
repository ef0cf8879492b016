"""The ybsensor command line."""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

import click

from ybsensor.core.loops import NoJit
from ybsensor.decoders import view
from ybsensor.exporters import tables as _tables

from . import config as config_mod
from .heap import Settling
from .pipeline import Pipeline
from .sensor import Sensor
from . import sources
from .selection import Selection
from .sources import CaptureError

EXIT_BAD_INPUT = 2
DEFAULT_ALERT_LOG = "alerts.jsonl"  # replay -l DIR with a config that names none


def _warn(message: str) -> None:
    click.echo(f"ybsensor: warning: {message}", err=True)


class _Refusals:
    """Files that were not captures we read: each reported at once; exit 2 at the end."""

    def __init__(self):
        self.count = 0

    def __call__(self, exc: CaptureError) -> None:
        self.count += 1
        click.echo(f"ybsensor: error: {exc}", err=True)

    def exit_status(self) -> None:
        if self.count:
            sys.exit(EXIT_BAD_INPUT)


class _Progress:
    """Bytes read of the captures, with a percentage and an ETA where their sizes are known
    (not for a pipe), on stderr through tqdm; off unless stderr is a terminal or asked for."""

    def __init__(self, enabled: bool | None, paths: list[str]):
        from tqdm import tqdm  # only where a replay or decode runs

        sizes = [sources.size(p) for p in paths]
        self.bar = tqdm(total=None if None in sizes else sum(sizes), unit="B", unit_scale=True,
                        unit_divisor=1024, file=sys.stderr, mininterval=0.5, dynamic_ncols=True,
                        disable=not (sys.stderr.isatty() if enabled is None else enabled))
        self.base = self.seen = 0  # bytes of the files done; of the current file

    def files(self, paths):
        """`paths`, moving the bar past each file when the next is taken."""
        for path in paths:
            self.bar.set_postfix_str(os.path.basename(path) or path, refresh=False)
            yield path
            self.base += sources.size(path) or self.seen
            self.seen = 0
            self.bar.update(self.base - self.bar.n)

    def read(self, seen: int) -> None:
        self.seen = seen
        self.bar.update(self.base + seen - self.bar.n)

    def at(self, read: int) -> None:
        """Bytes of all the files read so far (a spread replay's workers say it)."""
        self.bar.update(read - self.bar.n)

    def done(self) -> None:
        self.bar.close()


def _selection_options(command):
    """What of the captures a replay or decode keeps (sensor/selection.py)."""
    for option in reversed((
        click.option("--bpf", "bpf_expr", default="", metavar="EXPR",
                     help="keep the frames this tcpdump expression passes (libpcap's offline "
                          "filter; it sees a tunnelled frame's outer headers, as tcpdump does)"),
        click.option("--start", metavar="TIME", help="keep frames from TIME on (RFC 3339 with "
                     "its offset, or seconds since the epoch)"),
        click.option("--end", metavar="TIME", help="keep frames before TIME"),
        click.option("--line", "lines", multiple=True, metavar="KEY",
                     help="keep frames on this line (vlan:100, l2tp:7/*...; repeatable)"),
        click.option("--institution", "institutions", multiple=True, metavar="CODE",
                     help="keep frames on this institution's lines or from or to its "
                          "addresses (needs --config; repeatable)"),
        click.option("--progress/--no-progress", default=None,
                     help="show progress on stderr (default: when stderr is a terminal)"),
    )):
        command = option(command)
    return command


def _inputs(pcaps, refused: _Refusals) -> list[str]:
    """The files to read: directories walked in capture order (sensor/sources)."""
    if list(pcaps).count(sources.STDIN) > 1:
        raise click.UsageError("standard input (-) can be read once")
    return sources.expand(pcaps, _warn, refused)


@click.group()
@click.version_option(package_name="ybsensor")
def cli() -> None:
    """Packet-level sensor for medical-insurance private networks (医保专网)."""


@cli.command()
@click.argument("pcaps", nargs=-1, required=True, type=click.Path())  # each checked when read
@click.option("--format", "fmt", type=click.Choice(["jsonl", "table", "csv", "parquet"]),
              default="table", show_default=True,
              help="one JSON object per frame, an aligned table, CSV, or Parquet (to a file or "
                   "a pipe, not a terminal)")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="the configuration that names the institutions (for --institution)")
@_selection_options
def decode(pcaps, fmt, config_path=None, bpf_expr="", start=None, end=None, lines=(),
           institutions=(), progress=None):
    """Decode every frame of PCAPS (files, directories, - for standard input; gzip, xz or
    zstd compressed or not) and print one row per frame."""
    pipeline = Pipeline()
    pipeline.selection = Selection(bpf_expr, start, end, lines, institutions,
                                   config_mod.load(config_path) if config_path else None)
    names = pipeline.dispatch.layer_names
    out = sys.stdout
    if fmt == "parquet" and out.isatty():
        raise click.UsageError("--format parquet writes binary: redirect it to a file")
    tables = _tables.TableStream(out.buffer, fmt, _tables.DECODE_FIELDS) \
        if fmt in ("csv", "parquet") else None
    refused = _Refusals()
    inputs = _inputs(pcaps, refused)
    meter = _Progress(progress, inputs)
    if fmt == "table":
        out.write(_TABLE_HEADER)
    try:
        for path, table in pipeline.run_files(meter.files(inputs), _warn, refused,
                                              progress=meter.read):
            if tables is not None:   # a batch at a time: a row group, or CSV lines
                tables.write(_tables.decode_table(view.rows(table, names)))
                continue
            for row in view.rows(table, names):
                out.write(json.dumps(row, separators=(",", ":")) + "\n" if fmt == "jsonl"
                          else _table_row(row))
        if tables is not None:
            tables.close()
        out.flush()
    except BrokenPipeError:
        # the reader went away (decode | head): what it wanted it has; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    meter.done()
    refused.exit_status()


_TABLE_FMT = "{:>7} {:>17} {:>5} {:<34} {:<14} {:>39} {:>5} {:>39} {:>5} {:>5} {}\n"
_TABLE_HEADER = _TABLE_FMT.format("frame", "ts", "len", "encap", "line", "src", "sport",
                                  "dst", "dport", "proto", "status")


def _table_row(r: dict) -> str:
    dash = lambda v: "-" if v is None else v  # noqa: E731
    return _TABLE_FMT.format(r["frame"], f"{r['ts']:.6f}", r["len"], r["encap"], r["line"],
                             dash(r["src"]), dash(r["sport"]), dash(r["dst"]), dash(r["dport"]),
                             dash(r["proto"]), r["status"])


@cli.command()
@click.argument("pcaps", nargs=-1, required=True, type=click.Path())  # each checked when read
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
              help="the sensor's TOML configuration (without one: decode and count only)")
@click.option("--alerts", "alerts_path", type=click.Path(dir_okay=False),
              help="append alerts here as JSON lines (default: the config's alerts.path)")
@click.option("--metrics-file", type=click.Path(dir_okay=False),
              help="write the final metrics here in the Prometheus text format")
@click.option("-l", "--log-dir", "log_dir", type=click.Path(file_okay=False),
              help="write the alert log, flow log and evidence under this directory (the "
                   "config's file names); default: beside --alerts, else a new "
                   "./ybsensor-replay-TIME/, never the production logs")
@_selection_options
@click.option("--listen", metavar="HOST:PORT",
              help="serve /metrics here during the replay (to watch it in Prometheus/Grafana)")
@click.option("--linger", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="with --listen: seconds to go on serving /metrics after the replay")
# spread over a Dask cluster (sensor/cluster.py)
@click.option("--jobs", type=click.IntRange(1, 4096), default=None,
              help="spread the replay over N worker processes (a local Dask cluster); "
                   "with --scheduler: over N shares (default: one per worker thread)")
@click.option("--scheduler", metavar="ADDRESS",
              help="spread the replay over the workers of this Dask scheduler "
                   "(tcp://HOST:PORT); the files and --config must be at the same path there")
def replay(pcaps, config_path, alerts_path, metrics_file, progress=None, listen=None, linger=0.0,
           log_dir=None, bpf_expr="", start=None, end=None, lines=(), institutions=(),
           jobs=None, scheduler=None):
    """Run the whole pipeline over PCAPS (files, directories, - for standard input; gzip,
    xz or zstd compressed or not) and print a summary."""
    if alerts_path and not config_path:
        raise click.UsageError("--alerts needs --config (without one no detector runs)")
    cfg = config_mod.load(config_path) if config_path else None
    selection = Selection(bpf_expr, start, end, lines, institutions, cfg)
    refused = _Refusals()
    inputs = _inputs(pcaps, refused)
    if cfg is not None:
        _outputs_under(cfg, log_dir, alerts_path)
    if jobs or scheduler:
        _replay_spread(inputs, cfg, config_path, metrics_file, progress, jobs, scheduler,
                       (bpf_expr, start, end, lines, institutions)
                       if bpf_expr or start or end or lines or institutions else (), refused)
        return
    sensor = Sensor(cfg)
    sensor.pipeline.selection = selection
    server = _live.serve_metrics(listen, sensor.metrics.registry) if listen else None
    meter = _Progress(progress, inputs)
    started = time.perf_counter()
    try:
        with Settling() as heap:
            for _ in sensor.pipeline.run_files(meter.files(inputs), _warn, refused,
                                               progress=meter.read):
                heap.seen(sensor.stats.frames)
    finally:
        # whatever stopped the replay, what was found is kept
        sensor.close()
        if metrics_file:
            sensor.metrics.write(metrics_file)
    meter.done()
    _print_summary(sensor, time.perf_counter() - started)
    if server is not None:
        _live.linger(server, linger)
    refused.exit_status()


def _outputs_under(cfg, log_dir: str | None, alerts_path: str | None) -> None:
    """A replay's files under a directory of its own, never the production ones: `-l DIR`,
    else the directory of --alerts, else a new ./ybsensor-replay-TIME/ (said on stderr).
    The config's alert log, flow and event logs and evidence directory keep their names there;
    with `-l DIR` and a config that names no alert log, the alerts go to DIR/alerts.jsonl, as
    Suricata's -l always gets its eve.json."""
    named = [cfg.alerts_path, cfg.flow_log_path, cfg.evidence_dir, *cfg.event_log_paths.values()]
    if log_dir is not None and not (alerts_path or cfg.alerts_path):
        cfg.alerts_path = DEFAULT_ALERT_LOG
    if log_dir is None:
        if alerts_path:
            log_dir = os.path.dirname(alerts_path) or "."
        elif any(named):
            log_dir = time.strftime("ybsensor-replay-%Y%m%dT%H%M%SZ", time.gmtime())
            _warn(f"writing this replay's alerts, logs and evidence under {log_dir}/ "
                  f"(-l DIR to choose)")
        else:
            return
    try:
        os.makedirs(log_dir, exist_ok=True)
    except OSError as exc:
        raise config_mod.ConfigError(f"{log_dir}: cannot write the replay's files there: "
                                     f"{exc.strerror or exc}") from None
    under = lambda path: os.path.join(log_dir, os.path.basename(path.rstrip("/")))  # noqa: E731
    cfg.alerts_path = alerts_path or (under(cfg.alerts_path) if cfg.alerts_path else None)
    if cfg.flow_log_path:
        cfg.flow_log_path = under(cfg.flow_log_path)
    if cfg.evidence_dir:
        cfg.evidence_dir = under(cfg.evidence_dir)
    cfg.event_log_paths = {kind: under(path) for kind, path in cfg.event_log_paths.items()}


def _replay_spread(inputs, cfg, config_path, metrics_file, progress, jobs, scheduler,
                   selection, refused):
    """`replay --jobs/--scheduler`: the shares replayed on the cluster's workers, their
    results reduced here into one alert log, metrics and summary (sensor/cluster.py).
    Every worker reads every file: standard input cannot be spread."""
    from . import cluster
    from prometheus_client import CollectorRegistry, write_to_textfile
    if sources.STDIN in inputs:
        raise click.UsageError("--jobs/--scheduler: every worker reads every file, so "
                               "standard input (-) cannot be spread")
    sensor = Sensor(dataclasses.replace(cfg, evidence_dir="", flow_log_path=None,
                                        event_log_paths={}) if cfg is not None else None)
    if cfg is not None:
        sensor.cfg = cfg
    meter = _Progress(progress, inputs)
    started = time.perf_counter()
    try:
        client = cluster.connect(jobs, scheduler)
    except cluster.ClusterError as exc:
        sensor.close()
        click.echo(f"ybsensor: error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    reduce = cluster.Reduce(sensor, list(inputs))
    try:
        with client:
            parts = cluster.parts_of(client, jobs)
            results = cluster.run(client, cfg, config_path, list(inputs), parts,
                                  progress=meter.at, selection=selection)
            if not scheduler and client.cluster is not None:
                client.cluster.close()
        first = min(results, key=lambda r: r["index"])
        for message in dict.fromkeys(first["warnings"]):
            _warn(message)
        for message in first["refused"]:
            refused(CaptureError(message))
        reduce.take(results)
    except cluster.ClusterError as exc:
        click.echo(f"ybsensor: error: {exc}", err=True)
        sys.exit(1)
    finally:
        sensor.close()
        if metrics_file:
            registry = CollectorRegistry()
            registry.register(reduce)
            write_to_textfile(metrics_file, registry)
    meter.done()
    _print_summary(sensor, time.perf_counter() - started)
    refused.exit_status()


@cli.command("check-config")
@click.argument("config_path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
def check_config(config_path):
    """Validate a configuration FILE and summarise it."""
    cfg = config_mod.load(config_path)
    ranges = sum(len(i.ranges) for i in cfg.institutions)
    lines = sum(len(i.lines) for i in cfg.institutions)
    click.echo(f"{config_path}: ok")
    click.echo(f"  private networks : {', '.join(map(str, cfg.private)) or '-'}")
    click.echo(f"  platform         : {', '.join(map(str, cfg.platform)) or '-'}")
    click.echo(f"  institutions     : {len(cfg.institutions)} ({ranges} ranges, {lines} lines)")
    enabled = [d for d in config_mod.DETECTORS if cfg.detector_enabled(d)]
    click.echo(f"  detectors on     : {', '.join(enabled)}")
    click.echo(f"  alerts           : {cfg.alerts_path or '-'} (dedup {cfg.dedup_seconds:g} s)")
    click.echo(f"  metrics          : {cfg.metrics_listen}")


def _print_summary(sensor: Sensor, elapsed: float) -> None:
    stats = sensor.stats
    rate = stats.frames / elapsed if elapsed > 0 else 0.0
    click.echo(f"{stats.frames:,} frames in {elapsed:.2f} s ({rate:,.0f} frames/s)")
    if sensor.flows is not None:
        flows = sensor.flows
        click.echo(f"{flows.active + flows.evicted_total:,} flows ({flows.active:,} active at the end)")
    if sensor.alerter is not None:
        alerter = sensor.alerter
        raised = sum(alerter.alerts.values())
        click.echo(f"{raised:,} alerts ({alerter.suppressed:,} repeats within the dedup window, "
                   f"{alerter.rate_limited:,} over the rate limit)")
        if sensor.log is not None:
            lost = f", {sensor.log.dropped:,} lost (disk full)" if sensor.log.dropped else ""
            click.echo(f"{sensor.log.written:,} written to {sensor.log.path}{lost}")
            if sensor.log.seq:
                click.echo(f"alert log head: seq {sensor.log.seq}, hash {sensor.log.head} "
                           f"(keep it elsewhere: verify-log --head)")
        if alerter.alerts:
            click.echo(f"\n{'detector':<22} {'institution':<25} {'alerts':>8}")
            for (detector, inst), count in sorted(alerter.alerts.items()):
                click.echo(f"{detector:<22} {inst:<25} {count:>8,}")
    click.echo(f"\n{'encapsulation':<48} {'frames':>10} {'bytes':>14}")
    for name, count in _most_common(stats.packets):
        click.echo(f"{name:<48} {count:>10,} {stats.bytes[name]:>14,}")
    for title, counter in (("decode errors", stats.errors), ("non-IP frames", stats.non_ip)):
        if counter:
            click.echo(f"\n{title:<48} {'frames':>10}")
            for reason, count in _most_common(counter):
                click.echo(f"{reason:<48} {count:>10,}")


def _most_common(counter) -> list:
    """Most frequent first, ties by name: the same whichever order the counts were added
    in (a replay spread over workers adds theirs in turn)."""
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


from . import live as _live  # noqa: E402  (live capture and serving metrics: sensor/live.py)
cli.add_command(_live.run)
from .warmup import warm_up  # noqa: E402
cli.add_command(warm_up)

from . import audit  # noqa: E402  (the audit trail's commands: sensor/audit.py)
cli.add_command(audit.verify_log)
cli.add_command(audit.inspect)
cli.add_command(audit.stoppable(replay))  # SIGTERM/SIGINT: a clean stop, exit 143/130


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except config_mod.ConfigError as exc:
        click.echo(f"ybsensor: error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except (CaptureError, NoJit) as exc:
        click.echo(f"ybsensor: error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except BrokenPipeError:
        # the reader went away (decode | head): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)


if __name__ == "__main__":
    main()
