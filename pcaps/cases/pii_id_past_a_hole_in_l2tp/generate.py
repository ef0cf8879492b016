"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import (  # noqa: E402
    HOSP, HOSP_CODE, L2TP_HOSP, PiiCase, ev, keyed, masked_id, write_here)
from casegen.tcp_streams import PERSON, READ_IN_ORDER, send_in_segments, visit  # noqa: E402


def build(name: str, line) -> PiiCase:
    request = visit(PERSON)
    assert mc.identifiers_by_rule(request) == [PERSON]
    at = request.index(PERSON.encode())
    a, b, c = request[:40], request[40:at + 9], request[at + 9:]
    case = PiiCase(name, f"The hospital's {HOSP} posts a JSON visit record holding a resident "
                         f"ID to the platform, {line.describe}, in three TCP segments: A (the "
                         f"request's first 40 bytes), B (up to the ID's first nine characters), "
                         f"C (the ID's rest and the end). They arrive A, C, B: C waits past the "
                         f"hole that B fills. Rule: {mc.RULE_PII}. {READ_IN_ORDER}. Expected: "
                         f"one high alert for the flow, resident_id 1, its packet B (the ID "
                         f"starts in B; C's bytes became readable with B), the offset the ID's "
                         f"start in B's payload ({at - 40}).")
    frames = send_in_segments(case, line, 51730, [a, b, c], [0, 2, 1])
    case.expect("plaintext_pii", "high", line.key, HOSP_CODE, [frames[2]],
                ev("personal_data_in_plaintext", kinds={"resident_id": 1},
                   masked=[masked_id(PERSON)], hashes=[keyed("resident_id", PERSON)],
                   offset=at - 40))
    return case


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
