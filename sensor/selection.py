"""What a replay or a decode keeps of its captures: frames a BPF expression passes and
inside a time window (decided on the batch, before decoding), and frames on given lines or
of given institutions (decided on the decoded table; the batch's kept frames are then
decoded again, so every later stage sees only them). Frames keep their capture's numbers."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from types import SimpleNamespace

import numpy as np

from ybsensor.core.plan import AddressPlan, LineOwners
from ybsensor.decoders.batch import Batch
from ybsensor.decoders.table import PacketTable

from .config import Config, ConfigError, line_error
from .sources.bpf import FrameFilter


def parse_time(text: str) -> int:
    """RFC 3339 (with its offset: `Z`, `+08:00`) or seconds since the epoch, as
    nanoseconds since the epoch; ConfigError otherwise."""
    try:
        seconds = Decimal(text)  # exact: a frame's own time given back selects it
        if seconds.is_finite():
            return int(seconds * 1_000_000_000)
    except InvalidOperation:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{text!r}: not a time (RFC 3339 like 2026-12-07T08:00:00+08:00, "
                          f"or seconds since the epoch)") from None
    if when.tzinfo is None:
        raise ConfigError(f"{text!r}: say which time zone (Z, +08:00...)")
    since = when - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (since.days * 86400 + since.seconds) * 1_000_000_000 + since.microseconds * 1000


class Selection:
    def __init__(self, bpf: str = "", start: str | None = None, end: str | None = None,
                 lines: tuple[str, ...] = (), institutions: tuple[str, ...] = (),
                 cfg: Config | None = None):
        self.bpf = FrameFilter(bpf) if bpf.strip() else None
        self.start = parse_time(start) if start else None
        self.end = parse_time(end) if end else None
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ConfigError(f"the time window ends ({end}) before it starts ({start})")
        for line in lines:
            if line_error(line):
                raise ConfigError(f"--line {line_error(line)}")
        # the lines asked for, matched as the configuration's are (`kind:a/*` wildcards)
        self.lines = LineOwners(SimpleNamespace(institutions=[SimpleNamespace(
            code="-", access="", lines=list(lines))])) if lines else None
        self.plan = self.wanted = None
        if institutions:
            if cfg is None:
                raise ConfigError("--institution needs --config (it names the institutions)")
            codes = [i.code for i in cfg.institutions]
            unknown = [c for c in institutions if c not in codes]
            if unknown:
                raise ConfigError(f"--institution {', '.join(unknown)}: not in the configuration "
                                  f"(it has {', '.join(codes) or 'none'})")
            self.plan = AddressPlan(cfg)
            self.wanted = np.array([codes.index(c) for c in institutions], dtype=np.int64)

    @property
    def by_row(self) -> bool:
        return self.lines is not None or self.plan is not None

    def frames(self, batch: Batch) -> Batch:
        """The batch's frames inside the window that the BPF expression passes."""
        keep = None
        if self.start is not None:
            keep = batch.ts_ns >= self.start
        if self.end is not None:
            keep = batch.ts_ns < self.end if keep is None else keep & (batch.ts_ns < self.end)
        if self.bpf is not None:
            if keep is not None:  # only the frames inside the window are filtered
                sub = batch.take(keep)
                passed = np.zeros(len(batch), dtype=np.bool_)
                passed[np.flatnonzero(keep)] = self.bpf(sub)
                keep = passed
            else:
                keep = self.bpf(batch)
        return batch if keep is None or keep.all() else batch.take(keep)

    def rows(self, t: PacketTable) -> np.ndarray:
        """Whether each row is on one of the lines asked for and (with --institution) on a
        line of one of the institutions or from or to one of their addresses."""
        keep = np.ones(t.n, dtype=np.bool_)
        interfaces = t.batch.interfaces
        if self.lines is not None:
            keep &= self.lines.match(t.line_kind, t.line_a, t.line_b, interfaces) >= 0
        if self.plan is not None:
            ours = np.isin(self.plan.lines.owner(t.line_kind, t.line_a, t.line_b, interfaces),
                           self.wanted)
            ip = t.n_ip > 0
            for hi, lo in ((t.src_hi, t.src_lo), (t.dst_hi, t.dst_lo)):
                ours[ip] |= np.isin(self.plan.owner(hi[ip], lo[ip]), self.wanted)
            keep &= ours
        return keep
