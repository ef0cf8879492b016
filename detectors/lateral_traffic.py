"""CQ §2(1): the platform is the only meeting point; access units do not exchange data with
each other. A flow between the allocations of two institutions breaks it."""
from __future__ import annotations

import numpy as np

from .base import Detector, Finding


class LateralTraffic(Detector):
    name = "lateral_traffic"
    rule = "CQ §2(1)"

    def detect(self, ctx) -> list[Finding]:
        src, dst, code = ctx.src_owner, ctx.dst_owner, self.plan.code
        rows = np.flatnonzero(ctx.has_ip & (src >= 0) & (dst >= 0) & (src != dst))
        if not rows.size:
            return []
        return [Finding(rows, "high", "between_institutions",
                        lambda row: {"from_institution": code(int(src[row])),
                                     "to_institution": code(int(dst[row]))},
                        institution=src[rows])]
