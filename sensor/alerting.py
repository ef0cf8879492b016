"""From findings to alerts: grouped per detector and flow (or the group a detector names),
deduplicated within `alerts.dedup_seconds`, while the counters count every occurrence (each
violating packet)."""
from __future__ import annotations

from collections import Counter

import numpy as np

from decoders.view import line_key, packed_column, texts
from detectors import BatchContext, Detector, Finding
from detectors.base import SEVERITIES
from detectors.pii_mask import mask_strings

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
        allowance = self.limit.allowance(det.name, int(t.ts_ns[f.rows].max()))
        order = np.argsort(first, kind="stable")  # earliest first, should the rate cut in
        if len(order) > allowance:
            self.rate_limited += len(order) - allowance
            order = order[:allowance]
        if not len(order):
            return []
        # one candidate per group, at most the allowance; the repeats are dropped
        fresh = self._fresh(det.name, uniq[order].tolist(),
                            t.ts_ns[f.rows[first[order]]].tolist(), SEVERITIES.index(f.severity))
        self.suppressed += len(order) - len(fresh)
        if not fresh:
            return []
        self.limit.spend(det.name, len(fresh))
        kept = order[fresh]
        at = first[kept]  # each alerted group's first position in the finding
        packets = np.bincount(inverse, minlength=len(uniq))[kept]
        octets = np.bincount(inverse, weights=t.wirelen[f.rows], minlength=len(uniq))[kept]
        inst = f.institution[at] if f.institution is not None else np.full(len(at), -1)
        alerts = self._records(det, f, ctx, f.rows[at], inst, packets, octets.astype(np.int64))
        self.alerts.update((det.name, alert["institution"] or "-") for alert in alerts)
        return alerts

    def _fresh(self, detector: str, groups: list[int], times: list[int], rank: int) -> list[int]:
        """The positions of the groups whose alert at `times` is no repeat; it is now their
        last one. A finding's groups are distinct: each check stands alone."""
        last_alert, dedup_ns = self.last_alert, self.dedup_ns
        fresh = []
        for i, (g, ts) in enumerate(zip(groups, times)):
            key = (detector, g)
            if not repeats(last_alert.get(key), ts, rank, dedup_ns):
                last_alert[key] = (ts, rank)
                fresh.append(i)
        return fresh

    def _record(self, det, f, ctx, row: int, inst: int, packets: int, octets: int) -> dict:
        """One row's alert (a worker's witness of a shared line, say)."""
        one = np.array([row], dtype=np.int64)
        return self._records(det, f, ctx, one, np.array([inst], dtype=np.int64),
                             np.array([packets], dtype=np.int64),
                             np.array([octets], dtype=np.int64))[0]

    def _records(self, det, f, ctx, rows, inst, packets, octets) -> list[dict]:
        """The alerts of a finding's alerted rows (one per group), columns gathered once."""
        t = ctx.t
        if (inst < 0).any():  # the rule does not know: the line's owner, else an end's
            for owners in (ctx.line_owner, ctx.src_owner, ctx.dst_owner):
                inst = np.where(inst < 0, owners[rows], inst)
        code, interfaces, at = ctx.plan.code, t.batch.interfaces, rows.tolist()
        src = packed_column(t.src_hi[rows], t.src_lo[rows])
        dst = packed_column(t.dst_hi[rows], t.dst_lo[rows])
        proto = t.proto[rows].tolist()
        sport = [p if p >= 0 else None for p in t.sport[rows].tolist()]
        dport = [p if p >= 0 else None for p in t.dport[rows].tolist()]
        flows = [  # ICMP's "ports" are its type and code
            (s, d, p, it, ic) if (p == ICMP or p == ICMP6) and it >= 0 else (s, d, p, sp, dp)
            for s, d, p, sp, dp, it, ic in zip(src, dst, proto, sport, dport,
                                               t.icmp_type[rows].tolist(),
                                               t.icmp_code[rows].tolist())]
        reason, explain = f.reason, f.explain
        # whatever a detector copied from the wire (a DNS name, a Host, a user name...) goes
        # out masked: no alert holds a whole identifier, whichever detector wrote it
        evidence = [mask_strings({"reason": reason, **explain(row)}) for row in at] \
            if explain is not None else [{"reason": reason} for _ in at]
        name, severity, rule, source = det.name, f.severity, det.rule, self.source
        return [{
            "ts": round(ts / 1e9, 6),
            "detector": name,
            "severity": severity,
            "rule": rule,
            "line": line_key(kind, a, b, interfaces),
            "institution": code(i),
            "src": s, "dst": d,
            "proto": p, "sport": sp, "dport": dp,
            "community_id": community_id(*flow),
            "packets": n,
            "bytes": octs,
            "first_frame": frame,
            "source": source,
            "evidence": ev,
        } for ts, kind, a, b, i, s, d, p, sp, dp, flow, n, octs, frame, ev in zip(
            t.ts_ns[rows].tolist(), t.line_kind[rows].tolist(), t.line_a[rows].tolist(),
            t.line_b[rows].tolist(), inst.tolist(), texts(src), texts(dst), proto, sport, dport,
            flows, packets.tolist(), octets.tolist(), t.frame[rows].tolist(), evidence)]

    def _prune(self, now: int) -> None:
        horizon = now - self.dedup_ns
        self.last_alert = {k: v for k, v in self.last_alert.items() if v[0] >= horizon}

