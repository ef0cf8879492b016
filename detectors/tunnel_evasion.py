"""JL art.14: a line is a dedicated line, a VPN inside the private network, or a wireless
VPDN — one the sensor can see through. Tunnels nested past the decoder's depth limit
(`decoders.table.MAX_LAYERS` layers) hide the flow they carry: whatever it is, it is not on
a line the sensor can verify, and nesting one level deeper than the limit must not be a
way to pass unseen. Every frame whose decoding stopped at the depth limit is a finding;
the evidence names the layers that were seen."""
from __future__ import annotations

import numpy as np

from ybsensor.decoders import dispatch
from ybsensor.decoders.keys import DEPTH
from ybsensor.decoders.table import MAX_LAYERS
from ybsensor.decoders.view import encap_names

from .base import Detector, Finding


class TunnelEvasion(Detector):
    name = "tunnel_evasion"
    rule = "JL art.14"

    def detect(self, ctx) -> list[Finding]:
        t = ctx.t
        rows = np.flatnonzero(t.status == DEPTH)
        if not rows.size:
            return []
        names = dispatch.DEFAULT.layer_names

        def explain(row: int) -> dict:
            return {"layers_seen": encap_names(names, t.layers[row], int(t.nlayers[row])),
                    "depth_limit": MAX_LAYERS}

        return [Finding(rows, "high", "nested_past_depth_limit", explain)]
