"""From findings to alerts: grouped per detector and flow (or the group a detector names),
deduplicated within `alerts.dedup_seconds`, while the counters count every occurrence (each
violating packet)."""
from __future__ import annotations

from collections import Counter

import numpy as np

from decoders.table import PacketTable
from decoders.view import line_key, packed, text
from detectors import BatchContext, Detector, Finding
from detectors.base import SEVERITIES

from .community_id import community_id
from .flows import group_by

ICMP, ICMP6 = 1, 58
PRUNE_AT = 1 << 20  # dedup entries kept before old ones are dropped


class RateLimit:
    """A token bucket per detector on packet time: at most `rate` alerts a second, with
    bursts of up to `burst`, so an alert storm cannot flood the log (or the CPU)."""

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst = rate, burst
        self.tokens: dict[str, float] = {}
        self.last_ns: dict[str, int] = {}

    def allowance(self, detector: str, now_ns: int) -> int:
        last = self.last_ns.get(detector, now_ns)
        tokens = self.tokens.get(detector, self.burst) + max(now_ns - last, 0) / 1e9 * self.rate
        self.tokens[detector] = min(tokens, self.burst)
        self.last_ns[detector] = max(now_ns, last)
        return int(self.tokens[detector])

    def spend(self, detector: str, count: int) -> None:
        self.tokens[detector] -= count


def repeats(last: tuple[int, int] | None, ts: int, rank: int, dedup_ns: int) -> bool:
    """Whether an alert at `ts` (ns) of severity `rank` repeats the last one of its key,
    `last` = (ts, rank): within the dedup window and no more severe."""
    return last is not None and ts - last[0] < dedup_ns and rank <= last[1]


class Alerter:
    def __init__(self, detectors: list[Detector], dedup_seconds: float,
                 max_per_second: float = 100.0, source: str = ""):
        self.detectors = detectors
        self.dedup_ns = int(dedup_seconds * 1e9)
        self.limit = RateLimit(max_per_second, max(10 * max_per_second, 1.0))
        self.last_alert: dict[tuple[str, int], tuple[int, int]] = {}  # -> (ts, severity rank)
        self.occurrences: Counter[tuple[str, str]] = Counter()   # (detector, severity)
        self.alerts: Counter[tuple[str, str]] = Counter()        # (detector, institution)
        self.suppressed = 0      # repeats within the dedup window
        self.rate_limited = 0    # alerts over the per-detector rate
        self.source = source

    def process(self, ctx: BatchContext) -> list[dict]:
        out = []
        for det in self.detectors:
            for finding in det.detect(ctx):
                if finding.rows.size:
                    self.occurrences[(det.name, finding.severity)] += int(finding.rows.size)
                    out.extend(self._alerts(det, finding, ctx))
        if len(self.last_alert) > PRUNE_AT:
            self._prune(int(ctx.t.ts_ns.max()))
        out.sort(key=lambda a: (a["first_frame"], a["detector"]))
        return out

    def _alerts(self, det: Detector, f: Finding, ctx: BatchContext) -> list[dict]:
        t = ctx.t
        group = f.group if f.group is not None else ctx.flow_keys[f.rows].view(np.int64)
        uniq, first, inverse = group_by(group)
        packets = np.bincount(inverse, minlength=len(uniq))
        octets = np.bincount(inverse, weights=t.wirelen[f.rows], minlength=len(uniq))
        alerts = []
        allowance = self.limit.allowance(det.name, int(t.ts_ns[f.rows].max()))
        order = np.argsort(first, kind="stable")  # earliest first, should the rate cut in
        if len(order) > allowance:
            self.rate_limited += len(order) - allowance
            order = order[:allowance]
        for k in order.tolist():  # one per group, at most the allowance
            g = int(uniq[k])
            row = int(f.rows[first[k]])
            key = (det.name, g)
            ts = int(t.ts_ns[row])
            rank = SEVERITIES.index(f.severity)
            if repeats(self.last_alert.get(key), ts, rank, self.dedup_ns):
                self.suppressed += 1
                continue
            self.last_alert[key] = (ts, rank)
            self.limit.spend(det.name, 1)
            inst = int(f.institution[first[k]]) if f.institution is not None else -1
            alert = self._record(det, f, ctx, row, inst, int(packets[k]), int(octets[k]))
            self.alerts[(det.name, alert["institution"] or "-")] += 1
            alerts.append(alert)
        return alerts

    def _record(self, det, f, ctx, row, inst, packets, octets) -> dict:
        t = ctx.t
        if inst < 0:
            for owners in (ctx.line_owner, ctx.src_owner, ctx.dst_owner):
                if owners[row] >= 0:
                    inst = int(owners[row])
                    break
        src_packed = packed(int(t.src_hi[row]), int(t.src_lo[row]))
        dst_packed = packed(int(t.dst_hi[row]), int(t.dst_lo[row]))
        proto = int(t.proto[row])
        sport = int(t.sport[row]) if t.sport[row] >= 0 else None
        dport = int(t.dport[row]) if t.dport[row] >= 0 else None
        evidence = {"reason": f.reason}
        if f.explain is not None:
            evidence.update(f.explain(row))
        return {
            "ts": round(int(t.ts_ns[row]) / 1e9, 6),
            "detector": det.name,
            "severity": f.severity,
            "rule": det.rule,
            "line": line_key(int(t.line_kind[row]), int(t.line_a[row]), int(t.line_b[row]),
                             t.batch.interfaces),
            "institution": ctx.plan.code(inst),
            "src": text(src_packed), "dst": text(dst_packed),
            "proto": proto, "sport": sport, "dport": dport,
            "community_id": _community_id(t, row, src_packed, dst_packed, proto, sport, dport),
            "packets": packets,
            "bytes": octets,
            "first_frame": int(t.frame[row]),
            "source": self.source,
            "evidence": evidence,
        }

    def _prune(self, now: int) -> None:
        horizon = now - self.dedup_ns
        self.last_alert = {k: v for k, v in self.last_alert.items() if v[0] >= horizon}


def _community_id(t: PacketTable, row: int, src: bytes, dst: bytes, proto, sport, dport) -> str:
    if proto in (ICMP, ICMP6) and t.icmp_type[row] >= 0:
        sport, dport = int(t.icmp_type[row]), int(t.icmp_code[row])
    return community_id(src, dst, proto, sport, dport)
