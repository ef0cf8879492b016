"""Evidence pcaps: the first packets of each alerted flow, for the analyst (JL art.34-36).

When an alert is raised, its flow gets a file in the evidence directory and the alert names
it (`evidence_pcap`). The flow's packets of that batch go in (from the flow's first one in the
batch: earlier batches are gone), then its packets of later batches, until the file holds
`packets_per_flow`. Whole captured frames are written, with their own timestamps, into a
classic pcap (nanosecond timestamps) of the frame's link type.

Personal data is masked in what is written (JL art.33): every frame through
`detectors.pii_mask.mask_payload`, and the innermost payload once more with `edges=True`, so
that digits an identifier left at a segment's edge never join the next packet's into a whole
one. Lengths stay as they were; checksums no longer match the masked bytes. `mask = false`
writes the frames as captured.

Bounds: `packets_per_flow` per file; flows collecting at once at most `max_open` (the least
recently alerted is closed first); the directory's evidence files together at most
`max_bytes` (the oldest files are removed to make room — as rotation removes old alert logs —
and a packet that still does not fit is refused and counted).
"""
from __future__ import annotations

import datetime
import errno
import os
import re
import struct
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detectors.pii_mask import mask_credentials, mask_payload

PCAP_NS_MAGIC = 0xA1B23C4D
SNAPLEN = 262_144
HEADER = struct.Struct("<IHHiIII")
RECORD = struct.Struct("<IIII")
_LONG_RUN = re.compile(rb"[0-9]{11}")
_EDGE = frozenset(bytes([c]) for c in b"0123456789Xx")  # what a cut identifier can end in
NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z_[a-z_]+_(?:[0-9a-f]{16}|frame\d+)(?:-\d+)?\.pcap$")


def _pcap_time(ts_ns: int) -> tuple[int, int]:
    """(seconds, nanoseconds) as a classic pcap holds them: unsigned 32-bit seconds, so a
    time before 1970 or after 2106 (a damaged capture's) is clamped to the nearest end."""
    sec, nsec = divmod(ts_ns, 1_000_000_000)
    if sec < 0:
        return 0, 0
    if sec > 0xFFFFFFFF:
        return 0xFFFFFFFF, 999_999_999
    return sec, nsec


@dataclass
class _Open:
    """A flow still collecting packets into its file."""
    path: Path
    linktype: int
    remaining: int
    blank: bool = False  # payloads replaced whole: a flow that carried credentials


class EvidenceWriter:
    def __init__(self, directory: str | Path, packets_per_flow: int = 10,
                 max_bytes: int = 1 << 30, mask: bool = True, max_open: int = 4096):
        self.dir = Path(directory)
        self.packets_per_flow = max(int(packets_per_flow), 1)
        self.max_bytes = int(max_bytes)
        self.mask = bool(mask)
        self.max_open = max(int(max_open), 1)
        self.open: OrderedDict[int, _Open] = OrderedDict()  # flow key -> state
        self._keys = np.zeros(0, dtype=np.uint64)            # sorted keys of `open`
        self.files = 0           # evidence files made
        self.packets = 0         # packets written
        self.removed = 0         # old files removed to make room
        self.refused = 0         # packets not written: no room even after removing
        self.write_errors = 0    # files or packets that could not be written (disk full...)
        self.abandoned = 0       # flows closed before their packets were all in (max_open)
        self.dir.mkdir(parents=True, exist_ok=True)
        # what is in the directory already counts against max_bytes: oldest first
        self.sizes: OrderedDict[Path, int] = OrderedDict()
        existing = [p for p in self.dir.iterdir() if p.is_file() and NAME.match(p.name)]
        for p in sorted(existing, key=lambda p: (p.stat().st_mtime_ns, p.name)):
            self.sizes[p] = p.stat().st_size
        self.total = sum(self.sizes.values())

    # --- per batch --------------------------------------------------------------------

    def process(self, ctx, alerts: list[dict]) -> None:
        """Name each alert's evidence file (a new one for a flow not collecting yet), then
        write this batch's packets of every flow still collecting."""
        t = ctx.t
        single: list[tuple[int, Path]] = []  # frames without a flow: their own file each
        changed = False
        for alert in alerts:
            row = self._row(t, alert.get("first_frame"))
            if row is None:
                alert["evidence_pcap"] = None
                continue
            key = int(ctx.flow_keys[row])
            state = self.open.get(key) if key else None
            if state is not None:
                self.open.move_to_end(key)
            else:
                path = self._create(t, row, alert, key)
                if path is None:
                    alert["evidence_pcap"] = None
                    continue
                # a password typed one keystroke a packet (Telnet) cannot be told from the
                # packets alone: a credentials flow's payloads are left out whole
                state = _Open(path, int(t.batch.linktype[row]), self.packets_per_flow,
                              blank=alert.get("detector") == "cleartext_credentials")
                if key:
                    self.open[key] = state
                    changed = True
                else:
                    single.append((row, path))
            alert["evidence_pcap"] = str(state.path)
        for row, path in single:
            self._append(path, t, np.array([row]), int(t.batch.linktype[row]))  # no flow: no
            # credentials detector alerts it (they follow TCP flows)
        if changed:
            self._keys = np.sort(np.fromiter(self.open.keys(), dtype=np.uint64, count=len(self.open)))
        if self.open:
            self._collect(ctx)
        # past the bound, the least recently alerted flows stop collecting (after this
        # batch's packets went in: a file an alert names is never left empty)
        if len(self.open) > self.max_open:
            while len(self.open) > self.max_open:
                self.open.popitem(last=False)
                self.abandoned += 1
            self._keys = np.sort(np.fromiter(self.open.keys(), dtype=np.uint64, count=len(self.open)))

    @staticmethod
    def _row(t, frame) -> int | None:
        if frame is None or t.n == 0:
            return None
        row = int(np.searchsorted(t.frame, frame))
        if row < t.n and t.frame[row] == frame:
            return row
        rows = np.flatnonzero(t.frame == frame)
        return int(rows[0]) if rows.size else None

    def _collect(self, ctx) -> None:
        """This batch's packets of the flows collecting: one vectorized membership test,
        then per flow its first `remaining` rows (a few, by construction)."""
        keys = ctx.flow_keys
        pos = np.searchsorted(self._keys, keys)
        pos[pos == len(self._keys)] = 0
        rows = np.flatnonzero((self._keys[pos] == keys) & (keys != 0))
        if not rows.size:
            return
        # rows grouped by flow (a stable sort keeps each flow's rows in capture order)
        idx = np.argsort(keys[rows], kind="stable")
        rows = rows[idx]
        flows, starts, counts = np.unique(keys[rows], return_index=True, return_counts=True)
        done = []
        for k in np.argsort(rows[starts], kind="stable").tolist():  # in order of appearance
            key = int(flows[k])
            state = self.open.get(key)
            if state is None:  # its file was removed to make room a moment ago
                continue
            mine = rows[starts[k]: starts[k] + counts[k]][: state.remaining]
            mine = mine[ctx.t.batch.linktype[mine] == state.linktype]  # one link type a file
            written = self._append(state.path, ctx.t, mine, state.linktype, state.blank)
            state.remaining -= written
            if state.remaining <= 0 or written < len(mine):
                done.append(key)
        for key in done:
            self.open.pop(key, None)
        if done:
            self._keys = np.sort(np.fromiter(self.open.keys(), dtype=np.uint64, count=len(self.open)))

    # --- files ------------------------------------------------------------------------

    def _name(self, t, row: int, alert: dict, key: int) -> str:
        sec, nsec = _pcap_time(int(t.ts_ns[row]))
        try:
            when = datetime.datetime.fromtimestamp(sec, datetime.timezone.utc)
        except (OverflowError, OSError, ValueError):  # past year 9999
            when = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc)
        detector = re.sub(r"[^a-z_]", "_", str(alert.get("detector", "alert")).lower()) or "alert"
        ident = f"{key:016x}" if key else f"frame{int(t.frame[row])}"
        return f"{when:%Y%m%dT%H%M%S}.{nsec // 1000:06d}Z_{detector}_{ident}"

    def _create(self, t, row: int, alert: dict, key: int) -> Path | None:
        header = HEADER.pack(PCAP_NS_MAGIC, 2, 4, 0, 0, SNAPLEN, int(t.batch.linktype[row]))
        if not self._room(len(header) + RECORD.size + int(t.caplen[row])):
            return None
        base = self._name(t, row, alert, key)
        for n in range(1, 1000):
            path = self.dir / (f"{base}.pcap" if n == 1 else f"{base}-{n}.pcap")
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
            except FileExistsError:
                continue
            except OSError:
                self.write_errors += 1
                return None
            try:
                os.write(fd, header)
            except OSError:
                self.write_errors += 1
                os.close(fd)
                self._unlink(path)
                return None
            os.close(fd)
            self.files += 1
            self.sizes[path] = len(header)
            self.total += len(header)
            return path
        self.write_errors += 1
        return None

    def _append(self, path: Path, t, rows: np.ndarray, linktype: int, blank: bool = False) -> int:
        """Write the frames of `rows` to `path`; how many went in. `blank`: payload bytes
        are replaced by `*` whatever the mask setting (credentials never leave the sensor)."""
        if not rows.size or path not in self.sizes:
            return 0
        batch = t.batch
        records = []
        for row in rows.tolist():
            off, caplen = int(batch.offset[row]), int(batch.caplen[row])
            frame = batch.data[off: off + caplen].tobytes()
            p0, plen = int(t.payload_off[row]) - off, int(t.payload_len[row])
            if blank and plen > 0 and 0 <= p0 < len(frame):
                frame = frame[:p0] + b"*" * min(plen, len(frame) - p0) + frame[p0 + plen:]
            elif self.mask:
                frame = self._masked(frame, p0, plen)
            sec, nsec = _pcap_time(int(batch.ts_ns[row]))
            rec = RECORD.pack(sec, nsec, len(frame),
                              min(max(int(batch.wirelen[row]), len(frame)), 0xFFFFFFFF)) + frame
            if not self._room(len(rec), keep=path):
                self.refused += len(rows) - len(records)
                break
            records.append(rec)
            self.total += len(rec)  # reserved now; given back if the write fails
        if not records:
            return 0
        blob = b"".join(records)
        before = self.sizes[path]
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        except OSError:
            self.write_errors += 1
            self.total -= len(blob)
            return 0
        try:
            view = memoryview(blob)
            while view:
                n = os.write(fd, view)
                if n <= 0:
                    raise OSError(errno.EIO, "write made no progress")
                view = view[n:]
        except OSError:
            self.write_errors += 1
            self.total -= len(blob)
            try:
                os.ftruncate(fd, before)  # no half record stays behind
            except OSError:
                pass
            return 0
        finally:
            os.close(fd)
        self.sizes[path] = before + len(blob)
        self.packets += len(records)
        return len(records)

    def _masked(self, frame: bytes, p0: int, plen: int) -> bytes:
        # every identifier holds a run of 11 digits: a frame without one is left alone
        # (one scan in C, where mask_payload would visit every short digit run in Python)
        masked = mask_payload(frame) if _LONG_RUN.search(frame) else frame
        if plen > 0 and 0 <= p0 < len(frame):
            p1 = min(p0 + plen, len(frame))
            seg = masked[p0:p1]
            if _LONG_RUN.search(seg) or seg[:1] in _EDGE or seg[-1:] in _EDGE:
                masked = masked[:p0] + mask_payload(seg, edges=True) + masked[p1:]
            else:  # no identifier; a password in clear is masked all the same
                masked = masked[:p0] + mask_credentials(seg) + masked[p1:]
        return masked

    def _room(self, need: int, keep: Path | None = None) -> bool:
        """Whether `need` more bytes fit under max_bytes, removing the oldest files (never
        `keep`, the one being written) until they do."""
        while self.total + need > self.max_bytes:
            victim = next((p for p in self.sizes if p != keep), None)
            if victim is None:
                self.refused += 1 if keep is None else 0
                return False
            self._unlink(victim)
            self.removed += 1
        return True

    def _unlink(self, path: Path) -> None:
        self.total -= self.sizes.pop(path, 0)
        for key, state in list(self.open.items()):
            if state.path == path:
                del self.open[key]
                self._keys = np.sort(np.fromiter(self.open.keys(), dtype=np.uint64,
                                                 count=len(self.open)))
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            self.write_errors += 1

    def close(self) -> None:
        self.open.clear()
        self._keys = np.zeros(0, dtype=np.uint64)

    # --- metrics ----------------------------------------------------------------------

    def metric_families(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        yield CounterMetricFamily("ybsensor_evidence_files", "Evidence pcaps made (one per "
                                  "alerted flow)", value=self.files)
        yield CounterMetricFamily("ybsensor_evidence_packets", "Packets written to evidence "
                                  "pcaps", value=self.packets)
        yield GaugeMetricFamily("ybsensor_evidence_bytes", "Bytes of evidence pcaps in the "
                                "evidence directory", value=self.total)
        yield CounterMetricFamily("ybsensor_evidence_files_removed", "Old evidence pcaps removed "
                                  "to stay under evidence.max_bytes", value=self.removed)
        yield CounterMetricFamily("ybsensor_evidence_refused", "Evidence packets (or files) not "
                                  "written for lack of room under evidence.max_bytes",
                                  value=self.refused)
        yield CounterMetricFamily("ybsensor_evidence_write_errors", "Evidence files or packets "
                                  "that could not be written (disk full, I/O error)",
                                  value=self.write_errors)
