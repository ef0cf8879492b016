"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import GRE_HOSP, HOSP, PiiCase, write_here  # noqa: E402
from casegen.tcp_streams import PERSON, READ_IN_ORDER, send_in_segments, visit  # noqa: E402


def build(name: str, line) -> PiiCase:
    blanked = PERSON[:6] + "X" * 8 + PERSON[14:]
    request, forged = visit(blanked), visit(PERSON)
    assert mc.identifiers_by_rule(request) == [] and len(forged) == len(request)
    at = request.index(blanked.encode())
    a, b, c = request[:40], request[40:at], request[at:]
    story = (f"The hospital's {HOSP} posts a JSON visit record to the platform, {line.describe}, "
             f"in three TCP segments A, B, C; C carries the resident ID field with its middle "
             f"digits blanked (X). They arrive A, C, then C again with the same sequence numbers "
             f"but the real ID (a resend with other bytes: an insertion attempt), then B, which "
             f"fills the hole before C.")
    case = PiiCase(name, f"{story} Rule: {mc.RULE_PII}. {READ_IN_ORDER}. The receiver keeps "
                         f"the first C: no identifier. Expected: no alert.")
    send_in_segments(case, line, 51740, [a, b, c], [0, 2, (2, forged[at:]), 1])
    return case


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
