"""From findings to alerts: grouped per detector and flow (or the group a detector names),
deduplicated within `alerts.dedup_seconds` on packet time, while the counters count every
occurrence (each violating packet). A group's occurrences are taken in packet time as if
they came one at a time, so the alerts do not depend on how frames fall into batches or
files; an alert's `packets` and `bytes` are the occurrences it stands for in its batch."""
from __future__ import annotations

from collections import Counter
from itertools import repeat

import numpy as np

from ybsensor.core.addresses import address_texts, strings
from ybsensor.decoders.view import line_key
from ybsensor.detectors import BatchContext, Detector, Finding
from ybsensor.detectors.base import SEVERITIES
from ybsensor.detectors.pii_mask import mask_strings

from ybsensor.core.community_id import community_ids
from ybsensor.core.flows import stable_argsort
from ybsensor.core.timestamps import rfc3339_column

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
                 max_per_second: float = 100.0, source: str = "", sensor: str = ""):
        self.detectors = detectors
        self.sensor = sensor           # this sensor's name, on every alert
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
            findings = [f for f in det.detect(ctx) if f.rows.size]
            for f in findings:
                self.occurrences[(det.name, f.severity)] += int(f.rows.size)
            if findings:
                out.extend(self.alert(det, findings, ctx))
        if len(self.last_alert) > PRUNE_AT:
            self._prune(int(ctx.t.ts_ns.max()))
        out.sort(key=lambda a: (a["first_frame"], a["detector"]))
        return out

    def alert(self, det: Detector, findings: list[Finding], ctx: BatchContext) -> list[dict]:
        """A detector's alerts of one batch (the cluster's reduce gives it findings detected
        on its workers). Each group's occurrences (over all the detector's findings) are
        taken in packet time, as if they came one at a time: one is alerted unless it
        repeats the group's last alert (`repeats`), so what is raised does not depend on
        where batches or files begin and end."""
        t = ctx.t
        rows = np.concatenate([f.rows for f in findings])
        group = np.concatenate([f.group if f.group is not None
                                else ctx.flow_keys[f.rows].view(np.int64) for f in findings])
        rank = np.concatenate([np.full(f.rows.size, SEVERITIES.index(f.severity))
                               for f in findings])
        which = np.concatenate([np.full(f.rows.size, k) for k, f in enumerate(findings)])
        ts = t.ts_ns[rows]
        # by group, then packet time (rows come in capture order: mostly in time already;
        # a finding of one group, a shared line's, often in that order whole)
        if len(findings) == 1 and (ts[1:] >= ts[:-1]).all():
            order = None if (group[1:] >= group[:-1]).all() else stable_argsort(group)
        else:
            by_time = np.lexsort((rows, ts))
            order = by_time[stable_argsort(group[by_time])]
        if order is not None:
            rows, group, rank, which, ts = (x[order] for x in (rows, group, rank, which, ts))
        starts = np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1])))
        ends = np.append(starts[1:], len(rows))
        allowance = self.limit.allowance(det.name, int(ts.max()))
        # the groups in the order of their first occurrence: should the rate cut in, the
        # earliest are alerted, and the groups past it are not looked at (an alert storm
        # costs no more than the alerts it may write)
        first = np.lexsort((rows[starts], ts[starts]))
        # most groups need one look: one severity whose occurrences in the batch span less
        # than the dedup window has at most one alert
        simple = ((np.minimum.reduceat(rank, starts) == np.maximum.reduceat(rank, starts))
                  & (ts[ends - 1] - ts[starts] < self.dedup_ns))
        alerted, looked = self._fresh(det.name, group, starts[first], ends[first],
                                      simple[first], ts, rank, allowance)
        self.suppressed += looked - len(set(np.searchsorted(starts, alerted, "right").tolist()))
        self.rate_limited += len(starts) - looked
        if not alerted:
            return []
        at = np.array(alerted, dtype=np.int64)
        if len(at) > allowance:    # a walk may find more than one alert a group
            at = at[np.lexsort((rows[at], ts[at]))]
            self.rate_limited += len(at) - allowance
            at = at[:allowance]
        self.limit.spend(det.name, len(at))
        at.sort()                                     # back in (group, time) order
        kept = group[at]
        last = at[np.concatenate((kept[1:] != kept[:-1], [True]))]   # each group's last
        self.last_alert.update(zip(zip(repeat(det.name), group[last].tolist()),
                                   zip(ts[last].tolist(), rank[last].tolist())))
        # each alert stands for its group's occurrences up to the group's next alert
        owner = np.searchsorted(at, np.arange(len(rows)), "right") - 1
        mine = (owner >= 0) & (group == group[at][np.maximum(owner, 0)])
        packets = np.bincount(owner[mine], minlength=len(at))
        octets = np.bincount(owner[mine], weights=t.wirelen[rows[mine]],
                             minlength=len(at)).astype(np.int64)
        inst = np.concatenate([f.institution if f.institution is not None
                               else np.full(f.rows.size, -1) for f in findings])
        inst = inst[at] if order is None else inst[order[at]]
        alerts = []
        for k, f in enumerate(findings):
            sel = np.flatnonzero(which[at] == k)
            if sel.size:
                alerts += self._records(det, f, ctx, rows[at[sel]], inst[sel], packets[sel],
                                        octets[sel])
        self.alerts.update((det.name, alert["institution"] or "-") for alert in alerts)
        return alerts

    def _fresh(self, detector: str, group: np.ndarray, starts: np.ndarray, ends: np.ndarray,
               simple: np.ndarray, ts: np.ndarray, rank: np.ndarray,
               allowance: int) -> tuple[list[int], int]:
        """The positions of the occurrences that are no repeat, walking each group's
        occurrences (positions starts[i]..ends[i], in packet time) from its last alert,
        group after group until `allowance` alerts are found; and how many groups were
        looked at. A `simple` group (one severity, a span shorter than the window) has at
        most one alert: its first occurrence, or the first past the last alert's window."""
        last_alert, dedup_ns = self.last_alert, self.dedup_ns
        fresh, looked = [], 0
        for g, a, b, first_ts, last_ts, r, plain in zip(
                group[starts].tolist(), starts.tolist(), ends.tolist(), ts[starts].tolist(),
                ts[ends - 1].tolist(), rank[starts].tolist(), simple.tolist()):
            if len(fresh) >= allowance:
                break
            looked += 1
            last = last_alert.get((detector, g))
            if plain:
                if not repeats(last, first_ts, r, dedup_ns):
                    fresh.append(a)
                elif last_ts - last[0] >= dedup_ns:   # the window ends inside the batch
                    fresh.append(a + int(np.searchsorted(ts[a:b], last[0] + dedup_ns)))
                continue
            fresh += self._walk(ts[a:b], rank[a:b], last, a)
        return fresh, looked

    def _walk(self, ts: np.ndarray, rank: np.ndarray, last, base: int) -> list[int]:
        """One group's alerts among its occurrences (in packet time) after `last`: from
        each occurrence, the next one that can be fresh is the first past the window or
        the first more severe."""
        dedup_ns, out, i, n = self.dedup_ns, [], 0, len(ts)
        above = {r: np.flatnonzero(rank > r) for r in range(len(SEVERITIES))}
        while i < n:
            if not repeats(last, int(ts[i]), int(rank[i]), dedup_ns):
                out.append(base + i)
                last = (int(ts[i]), int(rank[i]))
            later = int(np.searchsorted(ts, last[0] + dedup_ns))
            worse = above[last[1]]
            k = int(np.searchsorted(worse, i, "right"))
            i = max(i + 1, min(later, int(worse[k]) if k < len(worse) else n))
        return out

    def resume(self, old: "Alerter", dedup: bool) -> None:
        """A reloaded configuration: the counters go on from `old`'s (they must not go
        back), and with `dedup` (the same flows go on) its dedup state too."""
        self.occurrences, self.alerts = old.occurrences, old.alerts
        self.suppressed, self.rate_limited = old.suppressed, old.rate_limited
        if dedup:
            self.last_alert = old.last_alert

    def record(self, det, f, ctx, row: int, inst: int, packets: int, octets: int) -> dict:
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
        src_hi, src_lo, dst_hi, dst_lo = (x[rows] for x in (t.src_hi, t.src_lo, t.dst_hi, t.dst_lo))
        proto, sport, dport = t.proto[rows], t.sport[rows], t.dport[rows]
        # ICMP's "ports" are its type and code
        icmp = ((proto == ICMP) | (proto == ICMP6)) & (t.icmp_type[rows] >= 0)
        flow_sport = np.where(icmp, t.icmp_type[rows], sport)
        ids = community_ids(src_hi, src_lo, dst_hi, dst_lo, proto, np.maximum(flow_sport, 0),
                            np.maximum(np.where(icmp, t.icmp_code[rows], dport), 0),
                            ported=flow_sport >= 0).astype(str).tolist()
        proto = proto.tolist()
        sport = [p if p >= 0 else None for p in sport.tolist()]
        dport = [p if p >= 0 else None for p in dport.tolist()]
        reason, explain = f.reason, f.explain
        # whatever a detector copied from the wire (a DNS name, a Host, a user name...) goes
        # out masked: no alert holds a whole identifier, whichever detector wrote it
        memo: dict[str, str] = {}   # each distinct string masked once
        evidence = [{"reason": reason, **mask_strings(explain(row), memo)} for row in at] \
            if explain is not None else [{"reason": reason} for _ in at]
        name, severity, rule, source = det.name, f.severity, det.rule, self.source
        sensor = self.sensor
        seconds = t.ts_ns[rows] / 1e9
        stamps = np.asarray(rfc3339_column(seconds)).astype(str).tolist()
        return [{
            "event_type": "alert",
            "timestamp": stamp,
            "ts": round(ts, 6),
            "sensor": sensor,
            "detector": name,
            "severity": severity,
            "rule": rule,
            "line": line_key(kind, a, b, interfaces),
            "institution": code(i),
            "src": s, "dst": d,
            "proto": p, "sport": sp, "dport": dp,
            "community_id": cid,
            "packets": n,
            "bytes": octs,
            "first_frame": frame,
            "source": source,
            "evidence": ev,
        } for stamp, ts, kind, a, b, i, s, d, p, sp, dp, cid, n, octs, frame, ev in zip(
            stamps, seconds.tolist(), t.line_kind[rows].tolist(), t.line_a[rows].tolist(),
            t.line_b[rows].tolist(), inst.tolist(), strings(*address_texts(src_hi, src_lo)),
            strings(*address_texts(dst_hi, dst_lo)), proto, sport, dport, ids,
            packets.tolist(), octets.tolist(), t.frame[rows].tolist(), evidence)]

    def _prune(self, now: int) -> None:
        horizon = now - self.dedup_ns
        self.last_alert = {k: v for k, v in self.last_alert.items() if v[0] >= horizon}

