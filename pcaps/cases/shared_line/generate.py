"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    CLINIC, CLINIC_CODE, HOSP, HOSP_CODE, PLATFORM, VLAN100, Case, IpIds, Line, TcpConn, ev,
    tls_session, write_here)


def build(name: str, line: Line) -> Case:
    c = Case(name, f"Two institutions' hosts talk to the platform over one line, "
                   f"{line.describe} (the hospital's): the hospital's {HOSP} and then the "
                   f"clinic's {CLINIC}. Rule: shared_line (JL art.26; CQ §1(1)): a line on "
                   f"which addresses of two or more institutions talk to the platform or "
                   f"beyond breaks it. The line is shared from the first packet of the second "
                   f"institution on it (whatever the batching): one alert per line, counting "
                   f"every packet on it with an institution end (replies too) from there on, "
                   f"institution the line's owner, evidence the institutions seen. The hospital's "
                   f"session before it is not part of the violation. The clinic's packets also "
                   f"break unauthorized_source "
                   f"(JL art.15: a source allocated to another institution than the line's).")
    ids = IpIds()
    c.send(line, tls_session(TcpConn(ids, HOSP, 50001, PLATFORM, 443), "sl-h", 1))
    pkts = tls_session(TcpConn(ids, CLINIC, 50002, PLATFORM, 443), "sl-c", 1)
    b = c.send(line, pkts)
    c.expect("shared_line", "high", line.key, HOSP_CODE, b,
             ev("two_or_more_institutions", institutions=sorted([HOSP_CODE, CLINIC_CODE])))
    c.expect("unauthorized_source", "high", line.key, HOSP_CODE,
             [f for f, p in zip(b, pkts) if p.src == CLINIC],
             ev("allocated_to_another", source="allocated to another institution",
                source_institution=CLINIC_CODE, line_institution=HOSP_CODE))
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
