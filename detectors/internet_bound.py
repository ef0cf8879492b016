"""JL art.6, art.7, art.28; CQ §2(1), §2(2), annex 1: the private network is isolated from
the internet. A flow whose inner endpoint lies outside `network.private` breaks it."""
from __future__ import annotations

import numpy as np

from decoders.view import address
from sensor.plan import PRIVATE

from .base import Detector, Finding


class InternetBound(Detector):
    name = "internet_bound"
    rule = "JL art.6, art.7, art.28; CQ §2(1), §2(2), annex 1"

    def detect(self, ctx) -> list[Finding]:
        t = ctx.t
        dst_out = (ctx.dst_zone & PRIVATE) == 0
        outside = ctx.has_ip & (((ctx.src_zone & PRIVATE) == 0) | dst_out)
        rows = np.flatnonzero(outside)
        if not rows.size:
            return []

        def explain(row: int) -> dict:
            # the outside end is named: an internet address is not personal data
            if dst_out[row]:
                return {"outside": "dst", "address": address(int(t.dst_hi[row]), int(t.dst_lo[row]))}
            return {"outside": "src", "address": address(int(t.src_hi[row]), int(t.src_lo[row]))}

        return [Finding(rows, "high", "address_outside_private", explain)]
