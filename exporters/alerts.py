"""Alerts as JSON lines: appended, hash-chained, flushed once per batch, fsynced on an
interval, rotated by size; a full disk costs a retry, not the sensor (JL art.34-36).

The chain. Every record carries `seq` (1, 2, 3 ... across rotated files) and `prev_hash`:
the SHA-256, in hex, of the previous record's line exactly as written (its UTF-8 bytes, no
line end). The writer makes each line canonical — compact separators, keys in the alert's
order, then `seq` and `prev_hash` last — so the line's bytes are the record. The first
record of a log chains to GENESIS; a rotated file's successor continues the chain (its first
record's `prev_hash` is the hash of the rotated file's last line). Changing, removing or
reordering a record breaks a link that `ybsensor verify-log` points at.

Beside each log file a small `FILE.chain` (JSON) says which records the file held when it
was last synced: its first record (`first_seq`, `first_prev_hash`) and its last
(`last_seq`, `last_hash`). It is what shows records cut from either end of a file, which
no link inside the file can. It moves with the file on rotation.

Beside the log (not its rotated files) `FILE.head` (JSON) holds the head of the whole chain
at the last sync: `seq` and `hash` of the last record written. A sensor that starts on a log
whose files end before that head (the newest file, or its tail, deleted or cut) warns,
counts it (`ybsensor_alert_log_cuts_total`) and goes on from the head, not from what is
left: the removed sequence numbers are never reused and `verify-log` names the gap. The
head is published too (`ybsensor_alert_log_head_seq`, and the first 16 hex digits of its
hash as a label of `ybsensor_alert_log_head_info`), for an operator to keep elsewhere and
check with `verify-log --head`.

One writer. `FILE.lock` beside the log is held with an exclusive flock(2) while a process
writes the log (a live sensor, a replay): a second process that opens it is refused
(LogBusy, with the holder's pid) instead of interleaving records and forking the chain. In
one process the lock is counted, so a reload's new AlertLog on the same path shares it.

Files are opened without following symbolic links (O_NOFOLLOW), the log must be a regular
file, and the small state files are written to a fresh temporary (O_EXCL) renamed over.

Faults. The log writes through a raw descriptor opened O_APPEND, one os.write per batch. A
write that fails (ENOSPC, EIO, EDQUOT...) is counted, whatever part of the batch reached the
file is cut off again (ftruncate to the size before, so no torn line stays), and the records
wait in a bounded backlog for the next batch. A record is chained when it is queued, so the
backlog goes out in the same order with the same hashes; alerts that find the backlog full
are dropped and counted, and the next record written says how many (`dropped_before`).
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import stat
import time
from collections import deque
from pathlib import Path

GENESIS = hashlib.sha256(b"ybsensor alert log v1").hexdigest()
CHAIN_SUFFIX = ".chain"
HEAD_SUFFIX = ".head"
LOCK_SUFFIX = ".lock"
STATE_SUFFIXES = (CHAIN_SUFFIX, HEAD_SUFFIX, LOCK_SUFFIX, ".tmp")  # beside the log, none a log file
TAIL_SCAN = 1 << 20   # bytes read back from an existing log's end to pick up its chain
CHAIN_KEYS = ("seq", "prev_hash", "dropped_before")  # the log's keys, whatever an alert says


def line_hash(line: bytes) -> str:
    """The hash a record's successor holds: SHA-256 of the line's bytes, no line end."""
    return hashlib.sha256(line).hexdigest()


def _encoder(ensure_ascii: bool):
    """json.dumps(record, ensure_ascii=..., separators=(",", ":")) as one C encoder made
    once, as JSONEncoder.iterencode makes it per call (a record is a tree: no markers for
    circular references, which a reused encoder could not share). Python's own where the
    C one is missing."""
    spec = json.JSONEncoder(ensure_ascii=ensure_ascii, separators=(",", ":"))
    c_make = getattr(json.encoder, "c_make_encoder", None)
    if c_make is None:
        return spec.encode
    chunks = c_make(None, spec.default, json.encoder.encode_basestring_ascii if ensure_ascii
                    else json.encoder.encode_basestring, spec.indent, spec.key_separator,
                    spec.item_separator, spec.sort_keys, spec.skipkeys, spec.allow_nan)
    return lambda record: "".join(chunks(record, 0))


_UTF8_JSON, _ASCII_JSON = _encoder(False), _encoder(True)


def encode(record: dict) -> bytes:
    """The canonical line of a record (no line end)."""
    try:
        return _UTF8_JSON(record).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from some decoded name: escape it all
        return _ASCII_JSON(record).encode("ascii")


def chain_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + CHAIN_SUFFIX)


def head_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + HEAD_SUFFIX)


def _read_state(path: Path) -> dict | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = json.loads(os.read(fd, 1 << 16).decode("utf-8"))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    return data if isinstance(data, dict) else None


def read_chain(path: str | Path) -> dict | None:
    """The `.chain` companion of a log file, or None if there is none (or it is unreadable)."""
    return _read_state(chain_path(path))


def read_head(path: str | Path) -> tuple[int, str] | None:
    """The head `FILE.head` recorded: (seq, hash), or None if there is none (or it is bad)."""
    data = _read_state(head_path(path))
    if data is None:
        return None
    seq, digest = data.get("seq"), data.get("hash")
    if type(seq) is not int or seq < 0 or not isinstance(digest, str) \
            or not re.fullmatch(r"[0-9a-f]{64}", digest):
        return None
    return seq, digest


class NotRegular(OSError):
    """An output path that is a link, a device, a FIFO or a directory: refused."""


def open_regular(path: str | Path, flags: int, mode: int = 0o640) -> int:
    """os.open that refuses what is not a regular file: a symbolic link (O_NOFOLLOW), a
    device, a FIFO (opened without blocking, then refused)."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegular(errno.ELOOP, "a symbolic link: refused (links are not followed)",
                             str(path)) from None
        if exc.errno == errno.ENXIO:  # a FIFO nobody reads
            raise NotRegular(errno.ENXIO, "not a regular file", str(path)) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotRegular(errno.EINVAL, "not a regular file", str(path))
    os.set_blocking(fd, True)
    return fd


def replace_file(target: Path, data: bytes) -> None:
    """Write `data` to `target` whole: a fresh temporary beside it (O_EXCL: never an
    existing file or a link planted there), fsynced, renamed over."""
    tmp = target.with_name(target.name + ".tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o640)
    except FileExistsError:  # left by a crash, or planted: removed (unlink follows no link)
        os.unlink(tmp)
        fd = os.open(tmp, flags, 0o640)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)


class Uninterrupted:
    """A critical section that a signal handler respects: `interrupt(exc)` raises `exc` at
    once outside one, and at the section's end inside one. The CLI's SIGTERM/SIGINT handler
    goes through it, so a batch's alerts are counted and written, or neither, and a torn
    line never comes from a signal. Re-entrant; main thread only (where Python runs signal
    handlers)."""

    def __init__(self):
        self.depth = 0
        self.pending: BaseException | None = None

    def __enter__(self):
        self.depth += 1
        return self

    def __exit__(self, *exc_info):
        self.depth -= 1
        if self.depth == 0 and self.pending is not None:
            pending, self.pending = self.pending, None
            raise pending
        return False

    def interrupt(self, exc: BaseException) -> None:
        if self.depth > 0:
            if self.pending is None:
                self.pending = exc
            return
        raise exc


UNINTERRUPTED = Uninterrupted()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:  # a regular file does not do this, but never loop on it
            raise OSError(errno.EIO, "write made no progress")
        view = view[n:]


def _tail_lines(path: Path, limit: int = TAIL_SCAN) -> tuple[list[bytes], bool]:
    """The last lines of a file (within its last `limit` bytes; the first may be partial if
    the file is longer) and whether the file ends with a line end."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        start = max(0, size - limit)
        fh.seek(start)
        data = fh.read()
    ends = data.endswith(b"\n")
    lines = data.split(b"\n")
    if ends:
        lines.pop()
    if start > 0 and lines:
        lines.pop(0)  # cut in the middle
    return lines, ends or size == 0


def _record(line: bytes) -> dict | None:
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


class LogBusy(OSError):
    """Another process writes this alert log."""


_HELD: dict[str, list[int]] = {}  # lock file -> [descriptor, AlertLogs of this process using it]


def _lock(path: Path) -> str:
    """Hold FILE.lock (exclusively among processes); the key to give back to `_unlock`."""
    key = os.path.realpath(path.with_name(path.name + LOCK_SUFFIX))
    held = _HELD.get(key)
    if held is not None:
        held[1] += 1
        return key
    fd = open_regular(key, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise LogBusy(errno.EAGAIN, f"another ybsensor process (pid {holder}) writes it "
                      f"(it holds {Path(key).name}); give this one a log of its own",
                      str(path)) from None
    except OSError:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _HELD[key] = [fd, 1]
    return key


def _unlock(key: str | None) -> None:
    held = _HELD.get(key) if key else None
    if held is None:
        return
    held[1] -= 1
    if held[1] <= 0:
        del _HELD[key]
        os.close(held[0])  # the flock goes with the last descriptor


class AlertLog:
    """The alert file. `write` once per batch (an empty list still retries the backlog and
    syncs when due); `close` at the end. Counters are read by the metrics collector."""

    def __init__(self, path: str | Path, fsync_seconds: float = 1.0, rotate_bytes: int = 0,
                 keep: int = 10, max_backlog: int = 10_000, clock=time.monotonic):
        self.path = Path(path)
        self.fsync_seconds = float(fsync_seconds)
        self.rotate_bytes = int(rotate_bytes)   # 0: never rotate
        self.keep = max(int(keep), 1)           # rotated files kept: FILE.1 ... FILE.keep
        self.max_backlog = max(int(max_backlog), 1)
        self.clock = clock
        self.written = 0         # records this log has written (in every file)
        self.write_errors = 0    # writes (or syncs, rotations) that failed
        self.dropped = 0         # alerts lost: the backlog was full, or still held at close
        self.rotations = 0
        self.syncs = 0
        self.cuts = 0            # starts on a log that ended before the head it had reached
        self.cut: str | None = None  # what the last one found, for the operator
        self.last_error: OSError | None = None
        self.backlog: deque[tuple[int, str, bytes]] = deque()  # (seq, hash, line), chained
        self._dropped_since = 0  # drops not yet told by a record
        self._fd: int | None = None
        self._closed = False
        self._torn = False       # the file ends in a torn line not yet ended
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _lock(self.path)
        try:
            self._open()
            # the chain as written (seq, head) and as queued (the backlog's last record)
            self._last_record: tuple[int, str] | None = None  # (seq, hash) of its last record
            self.seq, self.head = self._existing_chain()
            self._check_head()
        except BaseException:
            _unlock(self._lock)
            raise
        self.queued_seq, self.queued_head = self.seq, self.head
        self.last_sync = self.clock()

    # --- the file and its chain -----------------------------------------------------

    def _open(self) -> None:
        """Open (or create) the file for appending; note its size and first record. A last
        line cut short (a crash mid-write) is ended with a line end, so that it stays a
        line of its own: verify-log points at it, and nothing after it is lost."""
        self._fd = open_regular(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        self.size = os.fstat(self._fd).st_size
        self._dirty = False
        self.file_first: tuple[int, str] | None = None  # this file's first (seq, prev_hash)
        if self.size:
            with open(self.path, "rb") as fh:
                rec = _record(fh.readline(TAIL_SCAN).rstrip(b"\n"))
                fh.seek(-1, os.SEEK_END)
                torn = fh.read(1) != b"\n"
            if rec is not None and isinstance(rec.get("seq"), int) \
                    and isinstance(rec.get("prev_hash"), str):
                self.file_first = (rec["seq"], rec["prev_hash"])
            if torn:
                self._end_line()

    def _end_line(self) -> None:
        """End a torn last line; if even that cannot be written, the next write starts
        with the line end."""
        try:
            _write_all(self._fd, b"\n")
            self.size += 1
            self._torn = False
        except OSError as exc:
            self._failed(exc)
            self._torn = True

    def _existing_chain(self) -> tuple[int, str]:
        """Where the chain goes on from: this file's last line, or (a fresh file after a
        rotation) the last line of FILE.1; GENESIS for a new log."""
        for path in (self.path, self.path.with_name(f"{self.path.name}.1")):
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_size:  # no link, no FIFO to block on
                lines, _ = _tail_lines(path)
                if not lines:
                    continue
                head = line_hash(lines[-1])
                for line in reversed(lines):
                    rec = _record(line)
                    if rec is not None and isinstance(rec.get("seq"), int):
                        self._last_record = (rec["seq"], line_hash(line))
                        return rec["seq"], head
                return 0, head
        return 0, GENESIS

    def _check_head(self) -> None:
        """Go on from FILE.head when the files end before it, or at it with another last
        record: records were cut (or changed) while the sensor was not looking."""
        anchor = self._anchored = read_head(self.path)
        if anchor is None or anchor[0] < self.seq or anchor == self._last_record:
            return
        self.cuts += 1
        if anchor[0] > self.seq:
            self.cut = (f"{self.path}: the log ends at seq {self.seq}, but the sensor had "
                        f"written up to seq {anchor[0]} ({self.path.name}{HEAD_SUFFIX}): "
                        f"records were removed; the chain goes on from seq {anchor[0] + 1}")
        else:
            self.cut = (f"{self.path}: the last record (seq {self.seq}) is not the one the "
                        f"sensor wrote ({self.path.name}{HEAD_SUFFIX}): it was changed")
        self.seq, self.head = anchor

    COUNTERS = ("written", "write_errors", "dropped", "rotations", "syncs", "cuts")
    FILE_STATE = ("size", "file_first", "_torn", "_dirty", "_anchored", "last_sync")
    CHAIN_STATE = ("seq", "head", "queued_seq", "queued_head", "backlog", "_dropped_since")

    def take_over(self, old: "AlertLog") -> None:
        """Go on where `old` stops (a reload). Its counters go on here. The same log (the
        path, reopened after a logrotate or not) goes on with the chain and the held
        backlog as `old` had them; the same file, with its state too. Another log gets what
        `old` can still write on closing, and the rest is counted as dropped."""
        if old.path == self.path and not old.closed:
            self._close_fd()  # opened again: `old` may have rotated the file since
            try:
                self._open()
            except OSError as exc:
                self._failed(exc)  # opened again before the next write
            same_file = old._fd is not None and self._fd is not None and \
                _same_inode(os.fstat(old._fd), os.fstat(self._fd))
            for name in self.CHAIN_STATE + (self.FILE_STATE if same_file else ()):
                setattr(self, name, getattr(old, name))
            self.cuts, self.cut = 0, None  # `old` knew the head: nothing was cut
            old.backlog, old._dropped_since = deque(), 0
            old.release()
        else:
            old.close()
            self._dropped_since += old._dropped_since
        for name in self.COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(old, name))

    def release(self) -> None:
        """Let go of the file without writing anything more (another AlertLog has it
        now, or a reload that opened this one was refused): synced, not closed out."""
        if self._fd is not None and self._dirty:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                self._failed(exc)
        self._close_fd()
        self._closed = True
        _unlock(self._lock)
        self._lock = None

    # --- writing ---------------------------------------------------------------------

    def write(self, alerts: list[dict]) -> None:
        """Queue a batch's alerts (chained in order), write everything queued, sync if due."""
        with UNINTERRUPTED:
            if self.backlog and len(self.backlog) + len(alerts) > self.max_backlog:
                self._flush()  # make room first, if the disk lets us
            for alert in alerts:
                self._queue(alert)
            if self.backlog:
                self._flush()
            if self._dirty and self.clock() - self.last_sync >= self.fsync_seconds:
                self.sync()

    def _queue(self, alert: dict) -> None:
        if len(self.backlog) >= self.max_backlog:
            self.dropped += 1
            self._dropped_since += 1
            return
        if type(alert) is dict and alert and alert.keys().isdisjoint(CHAIN_KEYS):
            # the chain's keys go last: appended to the alert's line, not to a copy of it
            tail = f',"seq":{self.queued_seq + 1},"prev_hash":"{self.queued_head}"}}'
            if self._dropped_since:
                tail = f',"dropped_before":{self._dropped_since}' + tail
                self._dropped_since = 0
            line = encode(alert)[:-1] + tail.encode("ascii")
        else:
            record = {k: v for k, v in alert.items() if k not in CHAIN_KEYS}
            if self._dropped_since:
                record["dropped_before"] = self._dropped_since
                self._dropped_since = 0
            record["seq"] = self.queued_seq + 1
            record["prev_hash"] = self.queued_head
            line = encode(record)
        self.queued_seq += 1
        self.queued_head = line_hash(line)
        self.backlog.append((self.queued_seq, self.queued_head, line))

    def _flush(self) -> None:
        blob = b"".join(line + b"\n" for _, _, line in self.backlog)
        if self.rotate_bytes and self.size and self.size + len(blob) > self.rotate_bytes:
            self.rotate()
        try:
            if self._fd is None:
                self._open()
            actual = os.fstat(self._fd).st_size
            if actual > self.size:  # a failed write left bytes a truncate could not remove
                os.ftruncate(self._fd, self.size)
            elif actual < self.size:  # cut by someone else: verify-log will tell
                self.size = actual
            if self._torn:
                self._end_line()
                if self._torn:
                    return
            _write_all(self._fd, blob)
        except OSError as exc:
            self._failed(exc)
            if self._fd is not None:
                try:
                    os.ftruncate(self._fd, self.size)  # no torn line stays behind
                except OSError:
                    pass  # tried again before the next write
            return
        if self.file_first is None:
            self.file_first = (self.backlog[0][0], self.head)
        self.size += len(blob)
        self.written += len(self.backlog)
        self.seq, self.head = self.backlog[-1][0], self.backlog[-1][1]
        self.backlog.clear()
        self._dirty = True

    def _failed(self, exc: OSError) -> None:
        self.write_errors += 1
        self.last_error = exc

    def sync(self) -> None:
        """fsync the file, then record its chain ends in FILE.chain and the head in
        FILE.head."""
        self.last_sync = self.clock()
        if self._fd is None:
            return
        try:
            os.fsync(self._fd)
            self._dirty = False
            self.syncs += 1
            self._write_chain()
        except OSError as exc:
            self._failed(exc)

    def _write_chain(self) -> None:
        if self.file_first is None:
            return
        state = {"version": 1, "log": self.path.name,
                 "first_seq": self.file_first[0], "first_prev_hash": self.file_first[1],
                 "last_seq": self.seq, "last_hash": self.head}
        replace_file(chain_path(self.path), json.dumps(state, separators=(",", ":")).encode() + b"\n")
        if self.seq and self._anchored != (self.seq, self.head):
            head = {"version": 1, "log": self.path.name, "seq": self.seq, "hash": self.head}
            replace_file(head_path(self.path), json.dumps(head, separators=(",", ":")).encode() + b"\n")
            self._anchored = (self.seq, self.head)

    def _close_fd(self) -> None:
        """Close the log file; a failure is counted, and the file is let go of either way."""
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError as exc:
                self._failed(exc)
        self._fd = None

    def rotate(self) -> None:
        """FILE -> FILE.1 -> ... -> FILE.keep (the oldest removed); a new FILE continues
        the chain. A rotation that fails is counted and writing goes on where it was."""
        self.sync()
        self._close_fd()
        name = self.path.name
        try:
            for i in range(self.keep, 0, -1):
                src = self.path if i == 1 else self.path.with_name(f"{name}.{i - 1}")
                dst = self.path.with_name(f"{name}.{i}")
                for a, b in ((src, dst), (chain_path(src), chain_path(dst))):
                    if a.exists():
                        os.replace(a, b)  # replaces (removes) the oldest at i == keep
                    elif i == self.keep and b.exists():
                        os.unlink(b)
            self.rotations += 1
            _fsync_dir(self.path.parent)
        except OSError as exc:
            self._failed(exc)
        try:  # the chain goes on from what was written, in memory: the files need not say
            self._open()
        except OSError as exc:
            self._failed(exc)
            self._fd = None  # opened again before the next write

    def close(self) -> None:
        """Write what is queued (a last try), sync, close. Records that still cannot be
        written are counted as dropped."""
        with UNINTERRUPTED:
            if self._closed:
                return
            self._closed = True
            if self.backlog:
                self._flush()
            if self.backlog:
                self.dropped += len(self.backlog)
                self.backlog.clear()
            self.sync()
            self._close_fd()
            _unlock(self._lock)
            self._lock = None

    @property
    def closed(self) -> bool:
        return self._closed

    # --- metrics ---------------------------------------------------------------------

    def metric_families(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        yield CounterMetricFamily("ybsensor_alerts_written", "Alert records written to the alert "
                                  "log", value=self.written)
        yield CounterMetricFamily("ybsensor_alert_write_errors", "Alert log writes, syncs or "
                                  "rotations that failed (disk full, I/O error); the records "
                                  "are retried with the next batch", value=self.write_errors)
        yield GaugeMetricFamily("ybsensor_alert_backlog", "Alert records waiting to be written "
                                "after a failed write", value=len(self.backlog))
        yield CounterMetricFamily("ybsensor_alerts_dropped", "Alerts lost because the backlog "
                                  "of unwritten records was full", value=self.dropped)
        yield CounterMetricFamily("ybsensor_alert_log_rotations", "Alert log rotations",
                                  value=self.rotations)
        yield CounterMetricFamily("ybsensor_alert_log_cuts", "Starts on an alert log that ended "
                                  "before the head the sensor had written (records removed "
                                  "or changed)", value=self.cuts)
        yield GaugeMetricFamily("ybsensor_alert_log_head_seq", "Sequence number of the last "
                                "record written to the alert log", value=self.seq)
        info = GaugeMetricFamily("ybsensor_alert_log_head_info", "The alert log's head: the "
                                 "first 16 hex digits of the last record's hash (check a "
                                 "kept value with verify-log --head)", labels=["seq", "hash"])
        info.add_metric([str(self.seq), self.head[:16]], 1.0)
        yield info


def _same_inode(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems do not sync directories
    finally:
        os.close(fd)
