"""The audit trail from the command line (JL art.34-36): `ybsensor verify-log` checks the
alert log's hash chain, `ybsensor inspect` decodes an evidence pcap for the analyst through
tshark, and `stoppable` makes `ybsensor replay` stop cleanly on SIGTERM or SIGINT.

The chain's format is exporters/alerts.py's: `seq` and `prev_hash` in every record, GENESIS
before the first, FILE.chain beside each file.
"""
from __future__ import annotations

import datetime
import functools
import json
import os
import re
import shutil
import signal
import stat
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import click

from ybsensor.exporters.alerts import (CHAIN_SUFFIX, GENESIS, HEAD_SUFFIX, STATE_SUFFIXES, TAIL_SCAN,
                              UNINTERRUPTED, line_hash, read_chain, read_head)

EXIT_BROKEN, EXIT_UNREADABLE = 1, 2
MAX_LINE = TAIL_SCAN  # the log picks its chain up from its last TAIL_SCAN bytes: no record is longer
LOOKAHEAD = 1 << 16  # records read ahead to tell a record moved later from one removed


# ---------------------------------------------------------------------------------------
# verify-log

class Unreadable(Exception):
    """A file that cannot be read at all (missing, a directory, no permission)."""


@dataclass
class Problem:
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass
class FileSummary:
    path: str
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None


@dataclass
class Report:
    files: list[FileSummary] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # every break, in log order
    notes: list[str] = field(default_factory=list)
    records: int = 0
    head: str | None = None  # hash of the last line: what to keep elsewhere, as an anchor
    head_seq: int | None = None

    @property
    def problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Entry:
    path: str
    line: int
    hash: str
    seq: int | None = None
    prev: str | None = None
    error: str | None = None   # why this line is no chained record


class _End:
    """Marks the end of one file in the stream of entries."""

    def __init__(self, path: str):
        self.path = path


def _open_log(path: Path):
    """A log file to read: a regular file (a FIFO would hang, /dev/zero never end)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO: no wait for a writer
    except OSError as exc:
        raise Unreadable(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Unreadable(f"{path}: not a regular file (an alert log is one)")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _entries(path: Path) -> Iterator[_Entry]:
    with _open_log(path) as fh:
        number = 0
        for raw in iter(lambda: fh.readline(MAX_LINE + 1), b""):
            number += 1
            if len(raw) > MAX_LINE:
                entry = _Entry(str(path), number, line_hash(raw))
                entry.error = f"longer than {MAX_LINE:,} bytes: not a record, damaged"
                yield entry
                return
            ended = raw.endswith(b"\n")
            line = raw[:-1] if ended else raw
            entry = _Entry(str(path), number, line_hash(line))
            try:
                rec = json.loads(line)
            except ValueError:
                rec = None
            if not isinstance(rec, dict):
                entry.error = ("cut short, no line end: a torn write" if not ended else
                               "not a JSON record: damaged")
            elif not isinstance(rec.get("seq"), int) or isinstance(rec.get("seq"), bool) \
                    or not isinstance(rec.get("prev_hash"), str):
                entry.error = "no seq or prev_hash: not a record of a chained alert log"
            else:
                entry.seq, entry.prev = rec["seq"], rec["prev_hash"]
                if not ended:
                    entry.error = "no line end after the last record: cut short, or edited"
            yield entry


def _first_seq(path: Path) -> int | None:
    for entry in _entries(path):
        return entry.seq if entry.error is None else -1
    chain = read_chain(path)  # an empty file: where its records were
    return chain.get("first_seq") if chain and isinstance(chain.get("first_seq"), int) else None


class _Stream:
    """Every entry of every file, in chain order, with a look ahead."""

    def __init__(self, paths: list[Path]):
        self._it = self._all(paths)
        self._buf: list = []

    @staticmethod
    def _all(paths):
        for path in paths:
            yield from _entries(path)
            yield _End(str(path))

    def __iter__(self):
        return self

    def __next__(self):
        return self._buf.pop(0) if self._buf else next(self._it)

    def next_entry(self) -> _Entry | None:
        """The next record line, across file ends, without consuming it."""
        i = 0
        while True:
            while len(self._buf) <= i:
                try:
                    self._buf.append(next(self._it))
                except StopIteration:
                    return None
            if isinstance(self._buf[i], _Entry):
                return self._buf[i]
            i += 1

    def find_seq(self, seq: int, limit: int = LOOKAHEAD) -> _Entry | None:
        """The first of the next `limit` entries holding `seq`, without consuming them."""
        for i in range(limit):
            while len(self._buf) <= i:
                try:
                    self._buf.append(next(self._it))
                except StopIteration:
                    return None
            item = self._buf[i]
            if isinstance(item, _Entry) and item.seq == seq:
                return item
        return None


def order(paths: list[str | Path]) -> list[Path]:
    """The log files in chain order (by the seq of their first record): `alerts.jsonl*`
    may be given in any order. Files whose first line is no record come first, so that
    their problem is the one reported."""
    keyed = []
    for i, p in enumerate(paths):
        path = Path(p)
        if path.is_dir():
            raise Unreadable(f"{path}: is a directory")
        first = _first_seq(path)
        keyed.append((first if first is not None else float("inf"), i, path))
    return [path for _, _, path in sorted(keyed)]


def verify(paths: list[str | Path], head: str | None = None,
           head_seq: int | None = None) -> Report:
    """Check the chain through `paths` (one log and its rotated files, in any order) and
    report every record changed, removed or reordered, going on past each break. The log
    must reach the head its FILE.head recorded, and `head` (a hash, or its first 16 hex
    digits or more; at `head_seq` if given) when one is kept elsewhere."""
    report = Report()
    logs = [Path(p) for p in paths if not str(p).endswith(STATE_SUFFIXES)]
    files = order(logs)
    stream = _Stream(files)
    prev: _Entry | None = None
    summary: FileSummary | None = None
    chain: dict | None = None
    watched: _Entry | None = None  # the record whose hash FILE.chain recorded
    torn: _Entry | None = None     # a line that is no record, which the next may chain to
    changed: _Entry | None = None  # a record named as changed: its successor's link is known
    bases = dict.fromkeys(p.with_name(re.sub(r"\.\d+$", "", p.name)) for p in logs)  # FILE.N -> FILE
    anchors = [(p, a) for p in bases if (a := read_head(p)) is not None]
    # heads the log must reach: (name, seq or None, hash or its first hex digits)
    kept = [(f"{p.name}{HEAD_SUFFIX}", seq, digest) for p, (seq, digest) in anchors[:1]]
    if head is not None:
        kept.append(("--head", head_seq, head.lower()))
    first: _Entry | None = None
    reached: dict[int, _Entry] = {}  # kept head index -> the record at it
    seen: OrderedDict[str, int] = OrderedDict()  # hash -> seq of the last records (bounded)

    def fail(entry_or_path, message: str) -> None:
        if isinstance(entry_or_path, _Entry):
            report.problems.append(Problem(entry_or_path.path, entry_or_path.line, message))
        else:
            report.problems.append(Problem(str(entry_or_path), None, message))

    for item in stream:
        if isinstance(item, _End):
            if summary is None:  # an empty file
                summary = FileSummary(item.path)
                report.files.append(summary)
                chain = _valid_chain(Path(item.path))
                if chain:
                    fail(item.path, f"empty, but {Path(item.path).name}{CHAIN_SUFFIX} "
                         f"records seq {chain['first_seq']}..{chain['last_seq']}: "
                         f"its records were removed")
            elif chain:
                if summary.last_seq is not None and summary.last_seq < chain["last_seq"]:
                    fail(item.path, f"ends at seq {summary.last_seq} (line "
                         f"{summary.records}), but {Path(item.path).name}{CHAIN_SUFFIX} "
                         f"records seq up to {chain['last_seq']}: records were removed "
                         f"from the end (truncated)")
                elif watched is not None and watched.hash != chain["last_hash"]:
                    fail(watched, f"changed: the hash of this record (seq {watched.seq}) "
                         f"differs from the one {Path(item.path).name}{CHAIN_SUFFIX} "
                         f"recorded")
            else:
                report.notes.append(f"{item.path}: no {CHAIN_SUFFIX} file beside it: records "
                                    f"cut from its end would not show")
            summary, chain, watched = None, None, None
            continue
        entry = item
        if summary is None or summary.path != entry.path:  # the first line of a file
            summary = FileSummary(entry.path)
            report.files.append(summary)
            chain = _valid_chain(Path(entry.path))
            watched = None
            if entry.error is None and chain:
                if entry.seq > chain["first_seq"]:
                    fail(entry, f"the file begins at seq {entry.seq}, but "
                         f"{Path(entry.path).name}{CHAIN_SUFFIX} says it began at seq "
                         f"{chain['first_seq']}: records seq {chain['first_seq']}.."
                         f"{entry.seq - 1} were removed from its start")
                elif entry.seq == chain["first_seq"] and entry.prev != chain["first_prev_hash"]:
                    fail(entry, "changed: its prev_hash differs from the one "
                         f"{Path(entry.path).name}{CHAIN_SUFFIX} recorded")
        if entry.error is not None:
            fail(entry, entry.error)
            if entry.seq is None:  # no record: the next one may chain to its bytes
                torn = entry
                continue
        if prev is None:
            if entry.seq == 1 and entry.prev != GENESIS:
                fail(entry, "changed: the first record (seq 1) does not chain to the "
                     "genesis hash")
            elif entry.seq != 1 and torn is None:
                report.notes.append(f"{entry.path}: the chain starts at seq {entry.seq}: the "
                                    f"records before it are in files not given (rotated away?)")
        elif not (torn is not None and (entry.seq == prev.seq + 2  # the damaged line's
                                        or (entry.seq == prev.seq + 1 and entry.prev == torn.hash))):
            problem = _link(prev, entry, stream)
            if problem and not _told(prev, entry, changed, seen):
                fail(*problem)
                changed = problem[0] if problem[1].startswith("changed:") else None
        torn = None
        summary.records += 1
        summary.first_seq = entry.seq if summary.first_seq is None else summary.first_seq
        summary.last_seq = entry.seq
        if chain and entry.seq == chain["last_seq"]:
            watched = entry
        for i, (_, seq, digest) in enumerate(kept):
            if (seq is None or entry.seq == seq) and entry.hash.startswith(digest):
                reached[i] = entry
            elif seq is not None and entry.seq == seq and i not in reached:
                reached[i] = None  # the head's seq, another record: changed
                fail(entry, f"changed: seq {seq} is not the record {kept[i][0]} names "
                     f"(hash {digest[:16]}…)")
        prev, first = entry, first or entry
        seen[entry.hash] = entry.seq
        if len(seen) > LOOKAHEAD:
            seen.popitem(last=False)
        report.records += 1
    for i, (name, seq, digest) in enumerate(kept):
        if i not in reached and i == 0 and anchors and _head_not_given(first, seq, anchors[0][0],
                                                                      logs):
            report.notes.append(f"{name}: its head (seq {seq}) is in files not given")
        elif i not in reached:
            at = f"seq {seq}" if seq is not None else f"hash {digest[:16]}…"
            last = f"seq {prev.seq}" if prev is not None else "no record"
            fail(files[-1] if files else name, f"the log does not reach the head {name} "
                 f"names ({at}; it ends at {last}): records were removed from its end")
    report.head = prev.hash if prev else None
    report.head_seq = prev.seq if prev else None
    return report


def _head_not_given(first: _Entry | None, seq: int, log: Path, given: list[Path]) -> bool:
    """Whether FILE.head's record lies in files not given: before the first record given,
    or (none given, the file just rotated) in a rotated file left out."""
    if first is not None:
        return first.seq > seq
    rotated = log.with_name(f"{log.name}.1")
    return rotated.exists() and all(p.resolve() != rotated.resolve() for p in given)


def _told(prev: _Entry, entry: _Entry, changed: _Entry | None, seen: dict) -> bool:
    """Whether a broken link is one already reported: the record after one named as changed
    (its own link breaks too), or a record going on from the one seen before it, after
    records out of order (which were named)."""
    if changed is not None and prev is changed and entry.seq == prev.seq + 1:
        return True
    return entry.seq > prev.seq and seen.get(entry.prev) == entry.seq - 1


def _valid_chain(path: Path) -> dict | None:
    chain = read_chain(path)
    if chain is None:
        return None
    if all(isinstance(chain.get(k), int) for k in ("first_seq", "last_seq")) and \
            all(isinstance(chain.get(k), str) for k in ("first_prev_hash", "last_hash")):
        return chain
    return None


def _where(entry: _Entry, other: _Entry) -> str:
    return f"line {entry.line}" if entry.path == other.path else f"{entry.path}:{entry.line}"


def _link(prev: _Entry, entry: _Entry, stream: _Stream) -> tuple[_Entry, str] | None:
    """What is wrong between two consecutive records, or None."""
    expected = prev.seq + 1
    linked = entry.prev == prev.hash
    if entry.seq == expected and linked:
        return None
    if entry.seq == expected:
        # line k-1 changed (k+1 still links to k), or line k itself (k+1 does not)
        after = stream.next_entry()
        if after is not None and after.error is None and after.prev != entry.hash:
            return entry, "changed: this record's prev_hash does not match the record before it"
        return prev, (f"changed: its hash no longer matches the prev_hash that the next record "
                      f"({_where(entry, prev)}) holds")
    if linked:
        return entry, f"changed: its seq is {entry.seq} where {expected} follows seq {prev.seq}"
    if entry.seq < expected:
        return entry, (f"out of order: seq {entry.seq} after seq {prev.seq} "
                       f"({_where(prev, entry)}): records reordered or duplicated")
    later = stream.find_seq(expected)
    if later is not None:
        return entry, (f"out of order: seq {entry.seq} where {expected} was expected; seq "
                       f"{expected} comes later ({_where(later, entry)}): records reordered")
    missing = f"seq {expected}" if entry.seq == expected + 1 else f"seq {expected}..{entry.seq - 1}"
    where = "before it" if entry.path == prev.path else f"between {prev.path} and {entry.path}"
    return entry, (f"removed: {missing} missing {where} "
                   f"({entry.seq - expected} record{'s' if entry.seq - expected > 1 else ''})")


def _head_hash(ctx, param, value):
    if value is not None and not re.fullmatch(r"[0-9A-Fa-f]{16,64}", value):
        raise click.BadParameter(f"{value!r} is not a record hash (16 to 64 hex digits)")
    return value


@click.command("verify-log")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option("--head", "head", metavar="HASH", callback=_head_hash,
              help="a head kept elsewhere (verify-log's last hash, or the hash label of "
                   "ybsensor_alert_log_head_info: 16 hex digits or more): the log must "
                   "reach that record")
@click.option("--head-seq", type=click.IntRange(min=1), metavar="N",
              help="with --head: the seq of that record")
def verify_log(files, head, head_seq):
    """Check the hash chain of alert log FILES (a log and its rotated files, in any order).

    Every break is named with its line (changed, removed, reordered, torn); the log must
    reach the head its FILE.head recorded, and --head when given.

    Exit status: 0 intact, 1 broken, 2 a file cannot be read."""
    if head_seq is not None and head is None:
        raise click.BadParameter("needs --head", param_hint="--head-seq")
    try:
        report = verify(list(files), head, head_seq)
    except Unreadable as exc:
        click.echo(f"ybsensor: error: {exc}", err=True)
        sys.exit(EXIT_UNREADABLE)
    for s in report.files:
        span = f", seq {s.first_seq}..{s.last_seq}" if s.records else ""
        click.echo(f"{s.path}: {s.records:,} record{'s' if s.records != 1 else ''}{span}")
    for note in report.notes:
        click.echo(f"note: {note}")
    if not report.ok:
        for problem in report.problems:
            click.echo(f"BROKEN: {problem}")
        if len(report.problems) > 1:
            click.echo(f"{len(report.problems)} breaks")
        sys.exit(EXIT_BROKEN)
    click.echo(f"ok: {report.records:,} records in {len(report.files)} file"
               f"{'s' if len(report.files) != 1 else ''}, chain intact"
               + (f"; last record's hash {report.head} (seq {report.head_seq})"
                  if report.head else ""))


# ---------------------------------------------------------------------------------------
# inspect

_BITS = re.compile(r"^[01. ]+ = ")
FIELDS_PER_LAYER = 24
PREVIEW = 160


def _field_lines(layer) -> list[str]:
    """A layer's main fields: shown by tshark (not hidden), not raw duplicates, and bit
    fields only where they are the layer's own (no '_' in the name: ip.version, not
    tcp.flags_syn)."""
    out, seen = [], set()
    for name in layer.field_names:
        f = layer.get_field(name)
        showname = getattr(f, "showname", None) or ""
        if not name or getattr(f, "hide", False) is True or name.endswith("_raw") or not showname \
                or name.startswith("_ws_expert_"):
            continue
        if _BITS.match(showname):
            if "_" in name:
                continue
            showname = _BITS.sub("", showname)
        if showname in seen:
            continue
        seen.add(showname)
        out.append(showname)
    return out


def _payloads(pcap: str) -> dict[int, bytes]:
    """frame number -> its innermost payload, as ybsensor's decoders find it (the object
    view built from the table): what tshark leaves undissected is shown too."""
    from .pipeline import Pipeline

    out = {}
    for _, t in Pipeline().run_files([pcap], lambda msg: None, lambda exc: None):
        for row in range(t.n):
            n = int(t.payload_len[row])
            if n > 0:
                start = int(t.payload_off[row])
                out[int(t.frame[row])] = t.batch.data[start: start + n].tobytes()
    return out


def _preview(raw: bytes) -> str:
    text = "".join(chr(b) if 32 <= b < 127 else "." for b in raw[:PREVIEW])
    return f"{len(raw)} bytes: {text}{'…' if len(raw) > PREVIEW else ''}"


def _drop_safe_child_watcher() -> None:
    """pyshark leaves asyncio's SafeChildWatcher behind (its SIGCHLD handler disturbs other
    child processes of this process): put the default watcher back."""
    import asyncio
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            watcher = asyncio.get_child_watcher()
        except Exception:  # noqa: BLE001 - newer Pythons have no watchers
            return
        if isinstance(watcher, asyncio.SafeChildWatcher):
            watcher.close()
            asyncio.set_child_watcher(asyncio.ThreadedChildWatcher())


@click.command()
@click.argument("pcaps", metavar="EVIDENCE...", nargs=-1, required=True,
                type=click.Path(dir_okay=False))
@click.option("--all-fields", is_flag=True, help="every field tshark shows, hidden ones too")
def inspect(pcaps, all_fields):
    """Decode EVIDENCE pcaps deeply through tshark (pyshark): one block per frame with its
    layers and their main fields. Exit 2 if tshark is missing or a file is no capture."""
    from .sources import CaptureError, read_capture

    for pcap in pcaps:
        try:
            next(iter(read_capture(pcap)), None)  # is it a capture at all?
        except CaptureError as exc:
            click.echo(f"ybsensor: error: {exc}", err=True)
            sys.exit(EXIT_UNREADABLE)
    if shutil.which("tshark") is None:
        click.echo("ybsensor: error: inspect needs tshark (Wireshark's command line), which "
                   "is not installed or not on PATH", err=True)
        sys.exit(EXIT_UNREADABLE)
    try:
        import pyshark
    except ImportError:
        click.echo("ybsensor: error: inspect needs the Python module pyshark "
                   "(pip install pyshark)", err=True)
        sys.exit(EXIT_UNREADABLE)
    try:
        for pcap in pcaps:
            if len(pcaps) > 1:
                click.echo(f"== {pcap}")
            _inspect_one(pyshark, pcap, all_fields)
    finally:
        _drop_safe_child_watcher()


def _inspect_one(pyshark, pcap: str, all_fields: bool) -> None:
    payloads = _payloads(pcap)
    cap = pyshark.FileCapture(str(pcap), keep_packets=False)
    frames = 0
    try:
        for pkt in cap:
            frames += 1
            layers = [layer.layer_name for layer in pkt.layers]
            when = datetime.datetime.fromtimestamp(float(pkt.sniff_timestamp), datetime.timezone.utc)
            click.echo(f"frame {pkt.number}  {when:%Y-%m-%dT%H:%M:%S.%fZ}  {pkt.length} bytes  "
                       f"{'/'.join(layers)}")
            for layer in pkt.layers:
                click.echo(f"  {layer.layer_name.upper()}")
                lines = ([f"{n}: {layer.get_field(n)}" for n in layer.field_names]
                         if all_fields else _field_lines(layer))
                for text in lines[:None if all_fields else FIELDS_PER_LAYER]:
                    click.echo(f"    {text}")
                if not all_fields and len(lines) > FIELDS_PER_LAYER:
                    click.echo(f"    … {len(lines) - FIELDS_PER_LAYER} more (--all-fields)")
            payload = payloads.get(int(pkt.number))
            if payload:
                click.echo(f"  PAYLOAD\n    {_preview(payload)}")
            click.echo("")
    except Exception as exc:  # noqa: BLE001 - pyshark's own errors: tshark failed on it
        if type(exc).__name__ in ("TSharkCrashException", "TSharkNotFoundException"):
            click.echo(f"ybsensor: error: {pcap}: tshark could not read it: {exc}", err=True)
            sys.exit(EXIT_UNREADABLE)
        raise
    finally:
        cap.close()
    click.echo(f"{frames} frame{'s' if frames != 1 else ''} in {pcap}")


# ---------------------------------------------------------------------------------------
# a clean stop on SIGTERM and SIGINT

SIGNAL_NAMES = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"}


class Stopped(KeyboardInterrupt):
    """Raised by the signal handler: the command unwinds through its `finally` blocks."""

    def __init__(self, signum: int):
        super().__init__(SIGNAL_NAMES.get(signum, str(signum)))
        self.signum = signum


class StopOnSignals:
    """While active, SIGTERM and SIGINT raise Stopped — at once, or at the end of an
    exporter's critical section (exporters.alerts.UNINTERRUPTED), so that a batch's alerts
    are written and counted together. Signals after the first are ignored while the
    command shuts down. Main thread only; elsewhere it does nothing."""

    def __init__(self, signals=(signal.SIGTERM, signal.SIGINT)):
        self.signals = signals
        self.previous: dict[int, object] = {}
        self.received: int | None = None

    def handler(self, signum, frame) -> None:
        if self.received is not None:
            return  # already stopping
        self.received = signum
        UNINTERRUPTED.interrupt(Stopped(signum))

    def __enter__(self):
        try:
            for sig in self.signals:
                self.previous[sig] = signal.signal(sig, self.handler)
        except ValueError:  # not the main thread
            pass
        return self

    def __exit__(self, *exc_info):
        for sig, old in self.previous.items():
            signal.signal(sig, old)
        return False


def stoppable(command: click.Command) -> click.Command:
    """`ybsensor replay` with SIGTERM/SIGINT turned into a clean stop: the command's own
    `finally` closes the sensor (the alert log written and synced), then one line on stderr
    says what stopped it and how far it got, and the exit status is 128 + the signal
    (143 SIGTERM, 130 SIGINT). Registered with `cli.add_command(stoppable(replay))`."""
    run = command.callback

    @functools.wraps(run)
    def callback(*args, **kwargs):
        from .sensor import Sensor

        with StopOnSignals():
            try:
                return run(*args, **kwargs)
            except Stopped as stop:
                with UNINTERRUPTED:
                    sensor = Sensor.latest()
                    if sensor is not None:
                        sensor.close()  # a no-op when the command's finally closed it
                        if kwargs.get("metrics_file"):  # again: the stop may have cut it
                            sensor.metrics.write(kwargs["metrics_file"])
                    click.echo(f"ybsensor: stopped early by {SIGNAL_NAMES.get(stop.signum)}: "
                               f"{progress(sensor)}", err=True)
                sys.exit(128 + stop.signum)

    command.callback = callback
    return command


def progress(sensor) -> str:
    """How far a sensor got: frames read, alerts written and where."""
    if sensor is None:
        return "before the first frame"
    parts = [f"{sensor.stats.frames:,} frames read"]
    source = getattr(sensor.alerter, "source", "") if sensor.alerter else ""
    if source:
        parts[0] += f" (last from {source})"
    log = sensor.log
    if log is not None:
        raised = sum(sensor.alerter.alerts.values()) if sensor.alerter else log.written
        parts.append(f"{raised:,} alerts raised, {log.written:,} written to {log.path}")
        if log.dropped:
            parts.append(f"{log.dropped:,} alerts lost (the alert log could not be written)")
    elif sensor.alerter is not None:
        parts.append(f"{sum(sensor.alerter.alerts.values()):,} alerts (no alert log)")
    return "; ".join(parts)
