"""JL art.26; CQ §1(1): one line serves one institution at one site; no terminals of other
institutions behind it. A line on which the addresses of two or more institutions talk to
the platform or beyond breaks it. Traffic between two institutions is lateral traffic, not
evidence of sharing, and is left out."""
from __future__ import annotations

import operator
from collections import OrderedDict, deque
from itertools import compress

import numpy as np

from ybsensor.core.flows import group_by

from .base import Detector, Finding


FORGET_EVERY = 1024  # new lines a batch may add past MAX_LINES before old ones are dropped
REASON = "two_or_more_institutions"
WITNESSES_PER_BATCH = 64  # alert records made per batch for newly reported pairs (see report)


def line_code(t, rows) -> np.ndarray:
    """One int64 per row naming its line (kind, first id, second id)."""
    return (t.line_kind[rows].astype(np.int64) << 56) ^ (t.line_a[rows] << 16) ^ t.line_b[rows]


class SharedLine(Detector):
    name = "shared_line"
    rule = "JL art.26; CQ §1(1)"

    MAX_LINES = 16384  # lines remembered; a flood of distinct lines must not grow memory

    def __init__(self, config, plan):
        super().__init__(config, plan)
        # line code -> the institution seen on it (an int), or the institutions once there
        # are several (a frozenset): least recently seen first; small, since most lines
        # only ever carry one
        self.seen: OrderedDict[int, int | frozenset[int]] = OrderedDict()
        self.forgotten = 0  # lines dropped to stay within MAX_LINES
        self.shared: set[int] = set()  # the lines of `seen` with two or more institutions
        # With several capture workers (sensor/live.py), each sees only its share of the
        # flows: `report` then collects the (line, institution, witness) pairs this detector
        # had not seen before, for the supervisor to merge, and `witness(ctx, row, inst)`
        # makes the alert record a pair's first row would give, should the pair turn out
        # to share the line with another worker's (`collect`). None (one process): nothing
        # is collected.
        self.report: list[tuple[int, int, dict | None]] | None = None
        self.witness = None

    def detect(self, ctx) -> list[Finding]:
        t, g = ctx.t, ctx.groups
        if not len(g):
            return []
        # line, ends and institution are part of the flow key: everything this rule asks of
        # a row is its flow's, and is worked out once a flow (at the flow's first row)
        lead = g.first
        src, dst = ctx.src_owner[lead], ctx.dst_owner[lead]
        # the institution end of each flow: the one allocated end when the other is not (the
        # same whichever way a row goes)
        side = np.where(dst < 0, src, np.where(src < 0, dst, -1))
        has_ip = ctx.has_ip
        if np.count_nonzero(has_ip) == len(g.rows):    # every IP row is user traffic
            first_user = lead
        else:   # each flow's first row of user traffic (n: none)
            n = len(g.order)
            at = np.minimum.reduceat(np.where(has_ip[g.order], np.arange(n), n), g.start)
            first_user = np.append(g.order, t.n)[at]
        counts = (side >= 0) & (first_user < t.n)      # flows whose rows count
        # the (line, institution) pairs of a batch are those of each counting flow's first
        # row that counts, in capture order
        reps = np.sort(first_user[counts])
        if not reps.size:
            return []
        lines = line_code(t, reps)
        inst = side[g.of_row[reps]]
        # distinct (line, institution) pairs in the order they first appear: number the
        # lines, then one exact integer per pair
        _, _, line_index = group_by(lines)
        _, first, _ = group_by(line_index * (int(inst.max()) + 1) + inst)
        shared_from: dict[int, int] = {}  # line -> first table row it is shared at
        report, witnesses = self.report, WITNESSES_PER_BATCH
        first = np.sort(first)
        seen = self.seen    # the same dict throughout: _forget only drops from it
        pair_lines, pair_insts = lines[first].tolist(), inst[first].tolist()
        # most pairs are known already (a line's institution again, or one of a shared
        # line's): they only make their line the most recent, all at once
        known = list(map(_holds, map(seen.get, pair_lines), pair_insts))
        deque(map(seen.move_to_end, compress(pair_lines, known)), maxlen=0)
        for k, line, inst_k in zip(*(compress(col, map(operator.not_, known))
                                     for col in (first.tolist(), pair_lines, pair_insts))):
            owners = seen.get(line)
            if owners is None:
                seen[line] = owners = inst_k
                before = 1
                new = True
                if len(seen) > self.MAX_LINES + FORGET_EVERY:  # as we go, not after
                    self._forget(shared_from.keys() | {line})
            else:
                seen.move_to_end(line)
                before = _count(owners)
                grown = _with(owners, inst_k)
                new = grown is not owners
                owners = seen[line] = grown
                if before == 1 and _count(owners) > 1:
                    self.shared.add(line)
            if report is not None and new:
                w = None
                if self.witness is not None and witnesses > 0:
                    witnesses -= 1
                    row = int(reps[k])
                    lo = int(ctx.line_owner[row])
                    w = self.witness(ctx, row, lo if lo >= 0 else inst_k)
                report.append((line, inst_k, w))
            if _count(owners) > 1 and line not in shared_from:
                # shared since an earlier batch, or from this pair's first packet on
                shared_from[line] = -1 if before > 1 else int(reps[k])
        for line in self.shared:
            if line not in shared_from:
                shared_from[line] = -1
        self._forget(shared_from.keys())
        if not shared_from:
            return []
        # a counting flow on a shared line: its rows of user traffic from the line's start
        # (NEVER: no row) raise the alert; expanded to rows through each row's flow
        line_of = line_code(t, lead)
        lines_shared = np.array(list(shared_from), dtype=np.int64)
        starts = np.array(list(shared_from.values()), dtype=np.int64)
        order = np.argsort(lines_shared)
        lines_shared, starts = lines_shared[order], starts[order]
        idx = np.minimum(np.searchsorted(lines_shared, line_of), len(lines_shared) - 1)
        NEVER = t.n
        start_of = np.full(len(g) + 1, NEVER, dtype=np.int64)   # [-1]: rows without IP
        start_of[:-1] = np.where((lines_shared[idx] == line_of) & counts, starts[idx], NEVER)
        hit = np.flatnonzero((start_of[g.of_row] <= np.arange(t.n)) & has_ip)
        if not hit.size:
            return []
        hit_flow = g.of_row[hit]
        hit_lines = line_of[hit_flow]
        line_owner = ctx.line_owner[lead]
        owner = np.where(line_owner >= 0, line_owner, side)[hit_flow]
        code = self.plan.code

        owners_of = {line: sorted(code(i) for i in self.seen[line]) for line in shared_from}  # shared: sets

        def explain(row: int) -> dict:
            return {"institutions": owners_of[int(line_code(t, np.array([row]))[0])]}

        # one alert per line: the dedup group is the line, not the flow (its institutions
        # are read now: the line may be forgotten before a later batch explains it)
        return [Finding(hit, "high", REASON, explain,
                        group=hit_lines, institution=owner)]

    def collect(self, witness) -> None:
        """One of several workers: from now on, collect the (line, institution, witness)
        pairs not seen before; `witness(ctx, row, inst)` makes a pair's alert record."""
        self.report, self.witness = [], witness

    def take_reported(self) -> list[tuple[int, int, dict | None]]:
        """The pairs collected since the last call (none unless `collect` was called)."""
        news = self.report or []
        if self.report:
            self.report = []
        return news

    def merge(self, line: int, institutions) -> None:
        """What another worker saw: `institutions` (indices) are on `line` too. Once the
        line has two or more, this detector's next packets on it raise the alert."""
        owners = self.seen.get(line)
        for inst in institutions:
            owners = inst if owners is None else _with(owners, inst)
        if owners is None:
            return
        self.seen[line] = owners
        self.seen.move_to_end(line)
        if _count(owners) > 1:
            self.shared.add(line)
        if len(self.seen) > self.MAX_LINES + FORGET_EVERY:
            self._forget({line})

    def drop(self, lines) -> None:
        """Forget `lines` (the supervisor forgot them: seen again, they are reported again)."""
        for line in lines:
            if self.seen.pop(line, None) is not None:
                self.shared.discard(line)

    def reset(self) -> None:
        self.seen.clear()
        self.shared.clear()

    def _forget(self, keep) -> None:
        """Past MAX_LINES, drop the least recently seen lines; `keep` (lines shared in this
        batch) stay, and single-institution lines go first (they hold no finding yet)."""
        excess = len(self.seen) - self.MAX_LINES
        if excess <= 0:
            return
        victims = least_recent(self.seen, excess, keep, lambda owners: isinstance(owners, int))
        for line in victims:
            del self.seen[line]
            self.shared.discard(line)
        self.forgotten += len(victims)


def least_recent(lines: OrderedDict, excess: int, keep, single) -> list:
    """The `excess` least recently seen of `lines` (an OrderedDict, oldest first) that are
    not in `keep`, those whose owners `single(owners)` calls one institution first: what a
    bounded line -> institutions map forgets (here and in the supervisor of several
    capture workers, sensor/live.py)."""
    victims: list = []
    taken: set = set()
    for single_only in (True, False):
        for line, owners in lines.items():
            if len(victims) >= excess:
                return victims
            if line not in keep and line not in taken and (not single_only or single(owners)):
                victims.append(line)
                taken.add(line)
    return victims


def _holds(owners, inst: int) -> bool:
    """Whether a line's `owners` (None: a line not seen) hold institution `inst`."""
    return owners == inst if type(owners) is int else owners is not None and inst in owners


def _count(owners) -> int:
    return 1 if isinstance(owners, int) else len(owners)


def _with(owners, inst: int):
    if isinstance(owners, int):
        return owners if owners == inst else frozenset((owners, inst))
    return owners if inst in owners else owners | {inst}
