"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import HOSP, HOSP_CODE, VLAN100, Case, IpIds, ev, write_here  # noqa: E402
from casegen.remote_control import (  # noqa: E402
    RULE, RULE_IB_NAME, dns_to_platform, expect_public_name)


def build(name: str, line) -> Case:
    server = "client-api-v2.oray.com"
    c = Case(name, f"Sunlogin (向日葵) starting on the hospital's {HOSP} asks the platform's "
                   f"resolver for {server}, {line.describe}. Rule: {RULE}; and {RULE_IB_NAME}. "
                   f"Expected: remote_control high by dns, tool sunlogin, and internet_bound "
                   f"public_name, both for the query.")
    ids = IpIds()
    query = dns_to_platform(c, line, ids, server, 40200, 0x5201)
    c.expect("remote_control", "high", line.key, HOSP_CODE, [query],
             ev("dns", tool="sunlogin", evidence="dns", name=server))
    expect_public_name(c, line, query, "dns", server)
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
