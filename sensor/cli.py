"""The ybsensor command line."""
from __future__ import annotations

import json
import os
import sys
import time

import click

from ybsensor.core.loops import NoJit
from ybsensor.decoders import view

from . import config as config_mod
from .pipeline import Pipeline
from .sensor import Sensor
from .sources import CaptureError

EXIT_BAD_INPUT = 2


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
    """A line on stderr every second while a long replay runs (only on a terminal)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.start = self.last = time.monotonic()

    def update(self, path, frames: int) -> None:
        now = time.monotonic()
        if self.enabled and now - self.last >= 1.0:
            self.last = now
            rate = frames / max(now - self.start, 1e-9)
            click.echo(f"\r{path.name}: {frames:,} frames, {rate:,.0f} frames/s", err=True, nl=False)

    def done(self) -> None:
        if self.enabled and self.last != self.start:
            click.echo("", err=True)


@click.group()
@click.version_option(package_name="ybsensor")
def cli() -> None:
    """Packet-level sensor for medical-insurance private networks (医保专网)."""


@cli.command()
@click.argument("pcaps", nargs=-1, required=True, type=click.Path())  # each checked when read
@click.option("--format", "fmt", type=click.Choice(["jsonl", "table"]), default="table",
              show_default=True, help="one JSON object per frame, or an aligned table")
def decode(pcaps, fmt):
    """Decode every frame of PCAPS and print one row per frame."""
    pipeline = Pipeline()
    names = pipeline.dispatch.layer_names
    out = sys.stdout
    if fmt == "table":
        out.write(_TABLE_HEADER)
    refused = _Refusals()
    try:
        for path, table in pipeline.run_files(pcaps, _warn, refused):
            for row in view.rows(table, names):
                out.write(json.dumps(row, separators=(",", ":")) + "\n" if fmt == "jsonl"
                          else _table_row(row))
        out.flush()
    except BrokenPipeError:
        # the reader went away (decode | head): what it wanted it has; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
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
@click.option("--progress/--no-progress", default=None,
              help="show progress on stderr (default: when stderr is a terminal)")
@click.option("--listen", metavar="HOST:PORT",
              help="serve /metrics here during the replay (to watch it in Prometheus/Grafana)")
@click.option("--linger", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="with --listen: seconds to go on serving /metrics after the replay")
def replay(pcaps, config_path, alerts_path, metrics_file, progress, listen=None, linger=0.0):
    """Run the whole pipeline over PCAPS and print a summary."""
    cfg = config_mod.load(config_path) if config_path else None
    sensor = Sensor(cfg, alerts_path)
    server = _live.serve_metrics(listen, sensor.metrics.registry) if listen else None
    meter = _Progress(sys.stderr.isatty() if progress is None else progress)
    refused = _Refusals()
    started = time.perf_counter()
    try:
        for path, _ in sensor.pipeline.run_files(pcaps, _warn, refused):
            meter.update(path, sensor.stats.frames)
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
    for name, count in stats.packets.most_common():
        click.echo(f"{name:<48} {count:>10,} {stats.bytes[name]:>14,}")
    for title, counter in (("decode errors", stats.errors), ("non-IP frames", stats.non_ip)):
        if counter:
            click.echo(f"\n{title:<48} {'frames':>10}")
            for reason, count in counter.most_common():
                click.echo(f"{reason:<48} {count:>10,}")


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
