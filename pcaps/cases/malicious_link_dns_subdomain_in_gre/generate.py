"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import GRE_HOSP, HOSP, HOSP_CODE, Case, IpIds, ev, write_here  # noqa: E402
from casegen.malicious_link import RULE, case, listed  # noqa: E402
from casegen.remote_control import RULE_IB_NAME, dns_to_platform, expect_public_name  # noqa: E402


def build(name: str, line) -> Case:
    query = "dl.malware-cdn.example"
    c = case(name, f"The hospital's {HOSP} asks the platform's resolver for {query}, "
                   f"{line.describe}; malware-cdn.example is listed (high). Rule: {RULE}; and "
                   f"{RULE_IB_NAME}. Expected: malicious_link high for the query (a subdomain "
                   f"of the listed domain), and internet_bound public_name for it.")
    ids = IpIds()
    frame = dns_to_platform(c, line, ids, query, 40400, 0x6101)
    c.expect("malicious_link", "high", line.key, HOSP_CODE, [frame],
             ev("listed_name", matched="dns", name=query,
                **listed(indicator="malware-cdn.example")))
    expect_public_name(c, line, frame, "dns", query)
    return c


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
