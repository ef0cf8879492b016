"""The one loop: a batch goes through every stage, source to exporters.

Decoding is the first stage; the stages after it take the batch's PacketTable.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

import numpy as np

from ybsensor.decoders import dispatch as dispatch_mod
from ybsensor.decoders import driver
from ybsensor.decoders.keys import LINKTYPE
from ybsensor.decoders.table import PacketTable

from .sources import Batch, CaptureError, read_capture


MAX_WARNED = 32  # interfaces of unsupported link types named in warnings, per source


class Stage(Protocol):
    def process(self, table: PacketTable) -> None: ...


class Pipeline:
    def __init__(self, stages: Iterable[Stage] = (), options: dict | None = None,
                 dispatch=dispatch_mod.DEFAULT, observe: Callable[[float], None] | None = None):
        self.stages = list(stages)
        self.options = options or {}
        self.dispatch = dispatch
        self.observe = observe  # told each batch's duration in seconds
        # keep the payload heads the decode kernel copies (the detectors read them)
        self.payload_heads = False
        self.warn: Callable[[str], None] = lambda message: None
        # (source, interface) of link types not supported, named once each, up to MAX_WARNED
        self.warned: set[tuple[str, str]] = set()
        self.selection = None  # what of the captures to keep (sensor/selection.py), else all

    def decode(self, batch: Batch, source: str = "") -> PacketTable:
        """The batch's table. A capture of one interface whose link type we do not read is
        refused; among several interfaces, such an interface's frames end `unsupported:link`
        (counted), the others decode, and a warning names it once."""
        linktypes = np.unique(batch.linktype)
        unknown = linktypes[~self.dispatch.known(LINKTYPE, linktypes)]
        if unknown.size:
            if len(batch.interfaces) == 1:
                raise CaptureError(f"{source}: link type {int(unknown[0])} is not supported "
                                   f"(ybsensor reads {supported_linktypes(self.dispatch)})")
            self._warn_unsupported(batch, unknown, source)
        return driver.run(batch, self.dispatch, self.options, heads=self.payload_heads)

    def _warn_unsupported(self, batch: Batch, unknown: np.ndarray, source: str) -> None:
        rows = np.flatnonzero(np.isin(batch.linktype, unknown))
        ifaces, first = np.unique(batch.iface[rows], return_index=True)
        for iface, row in zip(ifaces.tolist(), rows[first].tolist()):
            name = batch.interfaces[iface]
            if (source, name) in self.warned or len(self.warned) > MAX_WARNED:
                continue
            self.warned.add((source, name))
            if len(self.warned) > MAX_WARNED:
                self.warn(f"{source}: more interfaces of link types not supported; their "
                          f"frames too are counted as unsupported:link")
            else:
                self.warn(f"{source}: interface {name} has link type {int(batch.linktype[row])}, "
                          f"which is not supported: its frames are counted as "
                          f"unsupported:link (ybsensor reads "
                          f"{supported_linktypes(self.dispatch)})")

    def decode_chosen(self, batch: Batch, source: str = "") -> PacketTable:
        """The table of the batch's frames that the selection keeps (all, without one)."""
        chosen = self.selection
        if chosen is not None:
            batch = chosen.frames(batch)
        table = self.decode(batch, source)
        if chosen is not None and chosen.by_row:
            keep = chosen.rows(table)
            if not keep.all():
                table = self.decode(batch.take(keep), source)
        return table

    def process(self, batch: Batch, source: str = "") -> PacketTable:
        start = time.perf_counter()
        table = self.decode_chosen(batch, source)
        for stage in self.stages:
            stage.process(table)
        if self.observe is not None:
            self.observe(time.perf_counter() - start)
        return table

    def run_files(self, paths: Iterable[str | Path], warn: Callable[[str], None],
                  refuse: Callable[[CaptureError], None],
                  batch_frames: int | None = None,
                  progress: Callable[[int], None] | None = None) -> Iterator[tuple[Path, PacketTable]]:
        """Tables of every file in turn; a file that is no capture we read is refused
        (reported through `refuse`) and the others still go through. `progress` is told
        the bytes of the current file read so far, after each batch."""
        kw = {"batch_frames": batch_frames} if batch_frames else {}
        self.warn = warn
        for path in paths:
            self.warned.clear()
            try:
                for batch in read_capture(path, warn=warn, progress=progress, **kw):
                    yield Path(path), self.process(batch, str(path))
            except CaptureError as exc:
                refuse(exc)


LINKTYPE_NAMES = {0: "NULL", 1: "EN10MB", 9: "PPP", 50: "PPP_HDLC", 101: "RAW", 108: "LOOP",
                  113: "LINUX_SLL", 228: "IPV4", 229: "IPV6", 276: "LINUX_SLL2"}


def supported_linktypes(dispatch) -> str:
    values = [v for v in LINKTYPE_NAMES if dispatch.known(LINKTYPE, np.array([v]))[0]]
    return ", ".join(f"{LINKTYPE_NAMES[v]} ({v})" for v in values)
