"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    LAC_PHARM, PHARM, PHARM_CODE, PUB_PING, RULE_IB, Case, IpIds, L2tp, Line, ev, icmp_echo,
    write_here)


def build(name: str, line: Line) -> Case:
    c = Case(name, f"A pharmacy terminal ({PHARM}) on wireless VPDN pings the public address "
                   f"{PUB_PING} twice, {line.describe}. Rule: {RULE_IB}. ICMP echo request "
                   f"and reply are one flow. Expected: one high internet_bound alert, 4 "
                   f"packets, institution the pharmacy (owner of l2tp:9/*).")
    ids = IpIds()
    pkts = []
    for seq in (1, 2):
        pkts += [icmp_echo(ids, PHARM, PUB_PING, False, seq, True),
                 icmp_echo(ids, PUB_PING, PHARM, True, seq, False)]
    frames = c.send(line, pkts)
    c.expect("internet_bound", "high", line.key, PHARM_CODE, frames,
             ev("address_outside_private", outside="dst", address=PUB_PING))
    return c


LINE = L2tp(9, 5, lac=LAC_PHARM)

if __name__ == "__main__":
    write_here(__file__, build, LINE)
