"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import GRE_HOSP, HOSP, HOSP_CODE, Case, IpIds, TcpConn, ev, write_here  # noqa: E402
from casegen.malicious_link import RULE, case, listed  # noqa: E402


def build(name: str, line) -> Case:
    server = "203.0.113.77"
    c = case(name, f"The hospital's {HOSP} opens TLS to {server}:443, {line.describe}; "
                   f"203.0.113.64/26 is listed (medium). Rule: {RULE}. The address is also "
                   f"outside the private network: internet_bound raises address_outside_private "
                   f"for the flow. Expected: both, each for every packet of the flow.")
    ids = IpIds()
    frames = c.send(line, mc.tls_session(TcpConn(ids, HOSP, 51400, server, 443), "listed", 1))
    c.expect("malicious_link", "medium", line.key, HOSP_CODE, frames,
             ev("listed_address", matched="dst", address=server,
                **listed(indicator="203.0.113.64/26")))
    c.expect("internet_bound", "high", line.key, HOSP_CODE, frames,
             ev("address_outside_private", outside="dst", address=server))
    return c


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
