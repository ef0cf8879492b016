"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    LAC_PHARM, PERSON, PHARM, PHARM_CODE, PLATFORM, RULE_PII, Case, IpIds, L2tp, Line, PiiCase,
    TcpConn, ev, keyed, masked_id, query_1101, write_here)


def build(name: str, line: Line) -> Case:
    c = PiiCase(name, f"A pharmacy terminal ({PHARM}) on wireless VPDN, {line.describe}, asks "
                      f"the platform ({PLATFORM}:8080) for a person's insurance information: "
                      f"interface transaction 1101 in plaintext HTTP (JSON), and gets the answer "
                      f"the same way. Rule: {RULE_PII}. The request holds mdtrt_cert_no and "
                      f"certno (each the person's resident ID), psn_cert_type and psn_name "
                      f"(card_sn is empty: no value); the answer psn_no, psn_cert_type, certno "
                      f"(the ID) and psn_name. Expected: one critical alert for the flow, its "
                      f"two packets the request and the answer, at the request; its evidence "
                      f"the request's: resident_id 2, insurance_field 3 (mdtrt_cert_no, "
                      f"psn_cert_type and certno), person_name 1; one identifier (the same ID "
                      f"twice) shown masked and hashed; infno 1101 and fixmedins_code "
                      f"{PHARM_CODE}.")
    ids = IpIds()
    conn = TcpConn(ids, PHARM, 51300, PLATFORM, 8080)
    request, response = query_1101()
    pkts = conn.handshake() + [conn.c2s(request), conn.s2c(b"", flags="A"),
                               conn.s2c(response), conn.c2s(b"", flags="A")] + conn.close()
    frames = c.send(line, pkts)
    req_frame, resp_frame = frames[3], frames[5]
    c.expect("plaintext_pii", "critical", line.key, PHARM_CODE, [req_frame, resp_frame],
             ev("insurance_message_with_personal_data",
                kinds={"insurance_field": 3, "person_name": 1, "resident_id": 2},
                masked=[masked_id(PERSON)], hashes=[keyed("resident_id", PERSON)],
                offset=request.index(b"mdtrt_cert_no"),
                fields=["mdtrt_cert_no", "psn_cert_type", "certno", "psn_name"],
                infno="1101", fixmedins_code=PHARM_CODE, message="insurance_interface"))
    return c


LINE = L2tp(9, 5, lac=LAC_PHARM)

if __name__ == "__main__":
    write_here(__file__, build, LINE)
