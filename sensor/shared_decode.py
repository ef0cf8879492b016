"""Each batch decoded once between the local workers of a spread replay (sensor/cluster.py).

Every share of `replay --jobs N` reads every batch, a few batches ahead of the one it
analyses; batch `seq` (counted over the replay's files in order) is decoded by share
`seq % N` alone as soon as it has read it, which writes the table's columns to a file in
the run's directory under /dev/shm; the other shares map that file (private copy-on-write
pages: the few rows a share changes are its own) instead of decoding the batch again. A
table mapped is the table decoding gives: the same columns, byte for byte.

The run's directory holds a control file, a row of int64 per share, each written by its
share alone: its process id, the last batch it has decided on (published, or not), the
last batch it has analysed. Bounds and faults:
- a share removes its files once every live share has analysed them (a mapping outlives
  its file), and past MAX_FILES files not yet taken it publishes no more (its readers
  decode those batches themselves): at most MAX_FILES files a share.
- a share decodes a batch itself (and counts it) where the owner's file cannot come: the
  owner is not running (not started yet, killed), has ended (done, or failed), has
  decided against publishing it, or has removed it (a share run again from the start,
  behind the others). No share waits on one that is gone.
- the client makes the directory (named with its process id) and removes it when the
  run ends, however the run ends; a worker killed mid-run leaves nothing behind, and a
  directory whose client was killed is removed by the next spread replay.
A remote cluster (--scheduler) shares no memory: there each share decodes every batch.
"""
from __future__ import annotations

import dataclasses
import glob
import json
import mmap
import os
import shutil
import tempfile
import time
from collections import deque

import numpy as np

from ybsensor.decoders.table import PacketTable, PayloadHeads

from .sources import CaptureError

SHM = "/dev/shm"
PREFIX = "ybsensor-decoded-"   # then the client's process id: a killed replay's is found
MAX_FILES = 8         # a share's files in /dev/shm not yet taken by every live reader
ALIGN = 64            # each column starts on a cache line
PID, PUBLISHED, TAKEN = range(3)
ALL = 1 << 62         # PUBLISHED of a share that has ended
FIRST_PAUSE, LAST_PAUSE = 1e-4, 2e-3   # seconds between looks for a file not there yet
# the table's columns that are its batch's own arrays (the reader has the batch)
BATCH_OWN = ("ts_ns", "caplen", "wirelen", "linktype", "iface")
BATCH_COLUMNS = ("offset", "caplen", "wirelen", "ts_ns", "linktype", "iface", "frame")


def create(parts: int) -> str | None:
    """A run's directory in /dev/shm with its control file (the client's, before the
    shares start); None where there is no /dev/shm (then every share decodes all)."""
    if not os.path.isdir(SHM) or not os.access(SHM, os.W_OK):
        return None
    for old in glob.glob(os.path.join(SHM, PREFIX + "*")):
        pid = os.path.basename(old)[len(PREFIX):].split("-")[0]
        if pid.isdigit() and not _running(int(pid)):   # a killed replay's
            remove(old)
    where = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=SHM)
    np.zeros((parts, 3), dtype=np.int64).tofile(os.path.join(where, "control"))
    return where


def remove(where: str | None) -> None:
    """The run's directory and whatever a share left in it."""
    if where:
        shutil.rmtree(where, ignore_errors=True)


class Exchange:
    """Share `index` of `parts`'s side of the run's directory `where`. The share reads
    ahead of what it analyses: `ahead` is given each batch as it is read (the share's own
    are decoded and published then), `table` each batch as its turn comes."""

    def __init__(self, where: str, index: int, parts: int):
        self.where, self.index, self.parts = where, index, parts
        self.control = np.memmap(os.path.join(where, "control"), dtype=np.int64, mode="r+",
                                 shape=(parts, 3))
        self.control[index] = (-1, -1, -1)       # a share run again starts over
        self.control[index, PID] = os.getpid()
        self.mine: deque[int] = deque()          # batches published, their files not removed
        self.own: dict[int, tuple] = {}          # seq -> (table | CaptureError, warnings)
        self.taken = 0       # batches mapped from another share's file
        self.again = 0       # batches of another share decoded here (its file could not come)

    def ahead(self, seq: int, batch, pipeline, source: str) -> None:
        """Batch `seq`, just read: decoded and published if this share owns it."""
        if seq % self.parts != self.index:
            return
        warned: list[str] = []
        warn, pipeline.warn = pipeline.warn, warned.append
        try:
            t = pipeline.decode_chosen(batch, source)
        except CaptureError as exc:
            t = exc
        finally:
            pipeline.warn = warn
        self.own[seq] = (t, warned)
        self._remove_taken()
        if len(self.mine) < MAX_FILES:
            if isinstance(t, CaptureError):
                self._write(seq, {"error": str(t), "warnings": warned}, [])
            else:
                meta, arrays = _columns(t, batch)
                self._write(seq, {**meta, "warnings": warned}, arrays)
        self.control[self.index, PUBLISHED] = seq   # decided: published, or never will be

    def table(self, seq: int, batch, pipeline, source: str) -> PacketTable:
        """Batch `seq`'s table (Pipeline.decode_chosen's, its warnings told to
        `pipeline.warn` as decoding it tells them): this share's own, else mapped from its
        owner's file, else decoded here."""
        try:
            if seq in self.own:
                t, warned = self.own.pop(seq)
                for message in warned:
                    pipeline.warn(message)
                if isinstance(t, CaptureError):
                    raise t
                return t
            got = self._take(seq, seq % self.parts, batch, pipeline.warn)
            if got is None:
                self.again += 1
                return pipeline.decode_chosen(batch, source)
            self.taken += 1
            return got
        finally:
            self.control[self.index, TAKEN] = seq
            self._remove_taken()

    def close(self) -> None:
        """The share ends (done or failed): it decides on no batch more, so that no reader
        waits for one; the files it published stay for them until the run's end."""
        self.control[self.index, PUBLISHED] = ALL

    def skip(self, seq: int) -> None:
        """Batch `seq` read ahead is not analysed (its file was refused before it)."""
        self.own.pop(seq, None)

    # the owner's side

    def _write(self, seq: int, meta: dict, arrays: list[np.ndarray]) -> None:
        head = json.dumps(meta).encode()
        chunks, at = [len(head).to_bytes(8, "little"), head], 8 + len(head)
        for a in arrays:
            chunks.append(bytes(_aligned(at) - at))
            chunks.append(memoryview(a).cast("B"))
            at = _aligned(at) + a.nbytes
        tmp = os.path.join(self.where, f".{seq}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, chunks)
        finally:
            os.close(fd)
        os.replace(tmp, self._path(seq))        # whole or absent to a reader
        self.mine.append(seq)

    def _remove_taken(self) -> None:
        readers = self._live_readers()
        upto = min((int(self.control[k, TAKEN]) for k in readers), default=None)
        while self.mine and (upto is None or self.mine[0] <= upto):
            try:
                os.unlink(self._path(self.mine.popleft()))
            except FileNotFoundError:
                pass

    def _live_readers(self) -> list[int]:
        return [k for k in range(self.parts) if k != self.index and self._alive(k)]

    def _alive(self, k: int) -> bool:
        pid = int(self.control[k, PID])
        return pid > 0 and _running(pid)

    # a reader's side

    def _take(self, seq: int, owner: int, batch, warn) -> PacketTable | None:
        """The owner's table of batch `seq`, or None where its file cannot come."""
        path = self._path(seq)
        pause, last_look = FIRST_PAUSE, False
        while True:
            try:
                fd = os.open(path, os.O_RDONLY)
                break
            except FileNotFoundError:
                if last_look:
                    return None
            # published and gone, or an owner not running: one more look, then decode
            last_look = self.control[owner, PUBLISHED] >= seq or not self._alive(owner)
            if not last_look:
                time.sleep(pause)
                pause = min(2 * pause, LAST_PAUSE)
        try:
            size = os.fstat(fd).st_size
            # private: the few rows a share changes (reassembly hides fragments) are
            # copied for it alone, the rest stays the one copy in memory
            m = mmap.mmap(fd, size, flags=mmap.MAP_PRIVATE,
                          prot=mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        n = int.from_bytes(m[:8], "little")
        meta = json.loads(m[8:8 + n])
        for message in meta["warnings"]:
            warn(message)
        if "error" in meta:
            raise CaptureError(meta["error"])
        return _table(meta, m, batch)

    def _path(self, seq: int) -> str:
        return os.path.join(self.where, str(seq))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _aligned(at: int) -> int:
    return -(-at // ALIGN) * ALIGN


def _write_all(fd: int, chunks: list) -> None:
    views = [memoryview(c).cast("B") for c in chunks if len(c)]
    while views:
        done = os.writev(fd, views[:1024])
        while done:
            if done >= views[0].nbytes:
                done -= views.pop(0).nbytes
            else:
                views[0], done = views[0][done:], 0


def _columns(t: PacketTable, batch) -> tuple[dict, list[np.ndarray]]:
    """The table's columns to write (those that are the batch's own arrays left out: the
    reader has the batch), and how to find them again."""
    own = t.batch is batch
    names, arrays = [], []
    for name, value in vars(t).items():
        if not isinstance(value, np.ndarray) or (own and name in BATCH_OWN
                                                 and value is getattr(batch, name)):
            continue
        names.append(("t", name))
        arrays.append(value)
    if not own:          # the selection kept some of the batch's frames: its columns
        for name in BATCH_COLUMNS:
            if getattr(t.batch, name) is not None:
                names.append(("b", name))
                arrays.append(getattr(t.batch, name))
    if t.payload_heads is not None:
        names += [("h", "values"), ("h", "known")]
        arrays += [t.payload_heads.values, t.payload_heads.known]
    arrays = [np.ascontiguousarray(a) for a in arrays]
    meta = {"n": t.n, "own": own,
            "columns": [[where, name, a.dtype.str, a.shape] for (where, name), a in
                        zip(names, arrays)]}
    return meta, arrays


def _table(meta: dict, m: mmap.mmap, batch) -> PacketTable:
    """The table of a file `_columns` wrote, its columns views of the mapping `m`."""
    t = PacketTable.__new__(PacketTable)
    t.n = meta["n"]
    picked: dict[str, dict] = {"t": {}, "b": {}, "h": {}}
    at = 8 + int.from_bytes(m[:8], "little")
    for where, name, dtype, shape in meta["columns"]:
        at = _aligned(at)
        dtype = np.dtype(dtype)
        count = int(np.prod(shape))
        picked[where][name] = np.frombuffer(m, dtype, count, at).reshape(shape)
        at += count * dtype.itemsize
    if meta["own"]:
        t.batch = batch
        for name in BATCH_OWN:
            setattr(t, name, getattr(batch, name))
    else:
        t.batch = dataclasses.replace(batch, **{"frame": None, **picked["b"]})
    for name, value in picked["t"].items():
        setattr(t, name, value)
    t.payload_heads = PayloadHeads(**picked["h"]) if picked["h"] else None
    return t
