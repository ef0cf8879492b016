"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import (  # noqa: E402
    HOSP, HOSP_CODE, L2TP_HOSP, PLATFORM_B, Case, IpIds, ev, write_here)
from casegen.malicious_link import RULE, case, listed  # noqa: E402
from casegen.remote_control import RULE_IB_NAME, expect_public_name, opening  # noqa: E402


def build(name: str, line) -> Case:
    c = case(name, f"The hospital's {HOSP} asks the platform's proxy {PLATFORM_B}:3128 for "
                   f"http://phish.example/login.php?id=8812, {line.describe}; the URL "
                   f"http://phish.example/login.php is listed (critical). Rule: {RULE}; and "
                   f"{RULE_IB_NAME}. Expected: malicious_link critical for the request (the "
                   f"listed URL without the query), and internet_bound public_name http_host.")
    request = (b"GET http://phish.example/login.php?id=8812 HTTP/1.1\r\nHost: phish.example\r\n"
               b"User-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n")
    frames = opening(c, line, IpIds(), 51300, PLATFORM_B, 3128, request, mc.HTTP_OK)
    c.expect("malicious_link", "critical", line.key, HOSP_CODE, [frames[3]],
             ev("listed_name", matched="http_url", name="phish.example",
                **listed(indicator="phish.example/login.php")))
    expect_public_name(c, line, frames[3], "http_host", "phish.example")
    return c


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
