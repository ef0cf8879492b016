"""JL art.15: addresses are assigned or authorized by the agency, and carriers do not extend
the network to others. A private source address in no allocation, or in the allocation of
an institution other than the line's owner (when the traffic is not addressed to the line's
owner: that is lateral traffic, reported by its own detector), breaks it. Platform addresses
are legitimate sources; public ones are the internet_bound detector's; link-scope ones
(unspecified, link-local, multicast, broadcast: neither inside nor outside the plan) are
no one's."""
from __future__ import annotations

import numpy as np

from ybsensor.core.plan import PLATFORM, PRIVATE

from .base import Detector, Finding


class UnauthorizedSource(Detector):
    name = "unauthorized_source"
    rule = "JL art.15"

    def detect(self, ctx) -> list[Finding]:
        candidate = ctx.has_ip & ((ctx.src_zone & PRIVATE) != 0) & ((ctx.src_zone & PLATFORM) == 0)
        if not candidate.any():
            return []
        owner, line_owner, code = ctx.src_owner, ctx.line_owner, self.plan.code
        unallocated = np.flatnonzero(candidate & (owner < 0))
        foreign = np.flatnonzero(candidate & (owner >= 0) & (line_owner >= 0) & (owner != line_owner)
                                 & (ctx.dst_owner != line_owner))
        out = []
        if unallocated.size:
            out.append(Finding(unallocated, "high", "unallocated",
                               lambda row: {"source": "in no allocation"},
                               institution=line_owner[unallocated]))
        if foreign.size:
            out.append(Finding(foreign, "high", "allocated_to_another",
                               lambda row: {"source": "allocated to another institution",
                                            "source_institution": code(int(owner[row])),
                                            "line_institution": code(int(line_owner[row]))},
                               institution=line_owner[foreign]))
        return out
