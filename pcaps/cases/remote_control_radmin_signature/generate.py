"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import HOSP, HOSP_C, HOSP_CODE, VLAN100, Case, IpIds, ev, write_here  # noqa: E402
from casegen.remote_control import RADMIN_HELLO, RULE, opening  # noqa: E402


def build(name: str, line) -> Case:
    c = Case(name, f"A Radmin viewer on {HOSP} reaches a Radmin server on {HOSP_C} at the "
                   f"non-standard port 14899, {line.describe}: the client's 10-byte opening "
                   f"message, then the server's reply. Rule: {RULE}. Expected: one high "
                   f"alert, evidence signature, whose only violating packet is the opening "
                   f"message (no port of the flow is a tool's).")
    frames = opening(c, line, IpIds(), 50900, HOSP_C, 14899, RADMIN_HELLO, mc.payload("radmin-s", 46))
    c.expect("remote_control", "high", line.key, HOSP_CODE, [frames[3]],
             ev("signature", tool="radmin", evidence="signature"))
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
