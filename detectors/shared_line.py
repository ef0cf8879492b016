"""JL art.26; CQ §1(1): one line serves one institution at one site; no terminals of other
institutions behind it. A line on which the addresses of two or more institutions talk to
the platform or beyond breaks it. Traffic between two institutions is lateral traffic, not
evidence of sharing, and is left out."""
from __future__ import annotations

import numpy as np

from .base import Detector, Finding


def line_code(t, rows) -> np.ndarray:
    """One int64 per row naming its line (kind, first id, second id)."""
    return (t.line_kind[rows].astype(np.int64) << 56) ^ (t.line_a[rows] << 16) ^ t.line_b[rows]


class SharedLine(Detector):
    name = "shared_line"
    rule = "JL art.26; CQ §1(1)"

    def __init__(self, config, plan):
        super().__init__(config, plan)
        self.seen: dict[int, set[int]] = {}  # line code -> institutions seen on it

    def detect(self, ctx) -> list[Finding]:
        src, dst = ctx.src_owner, ctx.dst_owner
        # the institution end of each row: the one allocated end when the other is not
        side = np.where(dst < 0, src, np.where(src < 0, dst, -1))
        rows = np.flatnonzero(ctx.has_ip & (side >= 0))
        if not rows.size:
            return []
        lines = line_code(ctx.t, rows)
        # distinct (line, institution) pairs in the batch, in the order they first appear:
        # number the lines, then one exact integer per pair
        _, line_index = np.unique(lines, return_inverse=True)
        inst = side[rows]
        pair_key = line_index * (int(inst.max()) + 1) + inst
        _, first = np.unique(pair_key, return_index=True)
        shared_from: dict[int, int] = {}  # line -> first row (index into rows) it is shared at
        for k in np.sort(first).tolist():
            line, inst_k = int(lines[k]), int(inst[k])
            owners = self.seen.setdefault(line, set())
            before = len(owners)
            owners.add(inst_k)
            if len(owners) > 1 and line not in shared_from:
                # shared since an earlier batch, or from this pair's first packet on
                shared_from[line] = 0 if before > 1 else k
        for line, owners in self.seen.items():
            if len(owners) > 1 and line not in shared_from:
                shared_from[line] = 0
        if not shared_from:
            return []
        lines_shared = np.array(list(shared_from), dtype=np.int64)
        starts = np.array(list(shared_from.values()), dtype=np.int64)
        order = np.argsort(lines_shared)
        lines_shared, starts = lines_shared[order], starts[order]
        idx = np.minimum(np.searchsorted(lines_shared, lines), len(lines_shared) - 1)
        on_shared = (lines_shared[idx] == lines) & (np.arange(len(rows)) >= starts[idx])
        hit, hit_lines = rows[on_shared], lines[on_shared]
        if not hit.size:
            return []
        code, t = self.plan.code, ctx.t
        owner = np.where(ctx.line_owner[hit] >= 0, ctx.line_owner[hit], side[hit])

        def explain(row: int) -> dict:
            owners = self.seen[int(line_code(t, np.array([row]))[0])]
            return {"institutions": sorted(code(i) for i in owners)}

        # one alert per line: the dedup group is the line, not the flow
        return [Finding(hit, "high", "two_or_more_institutions", explain,
                        group=hit_lines, institution=owner)]
