"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    CLINIC, CLINIC_CODE, HOSP_CODE, PLATFORM, RULE_US, VLAN100, Case, IpIds, Line, TcpConn, ev,
    tls_session, write_here)


def build(name: str, line: Line) -> Case:
    c = Case(name, f"The clinic's host {CLINIC} (allocated to {CLINIC_CODE}, whose line is "
                   f"qinq:10.200) talks to the platform {line.describe}, which belongs to the "
                   f"hospital {HOSP_CODE}: the carrier extended the hospital's line to another "
                   f"institution. Rule: {RULE_US}. Expected: one high alert for the clinic's "
                   f"packets; only one institution appears on the line, so no shared_line.")
    ids = IpIds()
    conn = TcpConn(ids, CLINIC, 40002, PLATFORM, 443)
    pkts = tls_session(conn, "us2", exchanges=1)
    frames = c.send(line, pkts)
    sent = [f for f, p in zip(frames, pkts) if p.src == CLINIC]
    c.expect("unauthorized_source", "high", line.key, HOSP_CODE, sent,
             ev("allocated_to_another", source="allocated to another institution",
                source_institution=CLINIC_CODE, line_institution=HOSP_CODE))
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
