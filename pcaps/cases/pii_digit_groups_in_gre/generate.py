"""This case's frames and, from the rule, its expected alerts."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import GRE_HOSP, write_here  # noqa: E402
from casegen.normalisation import MOBILE, PERSON, RULE, post, posted, shown  # noqa: E402


def build(name, line):
    # as a registration page shows the numbers to be read and posts them as typed: the ID in
    # groups of 6, 8 and 4 digits, the mobile in 3, 4 and 4 with dashes
    person = f"{PERSON[:6]} {PERSON[6:14]} {PERSON[14:]}"
    mobile = f"{MOBILE[:3]}-{MOBILE[3:7]}-{MOBILE[7:]}"
    body = json.dumps({"patient": {"name": "张三", "idCard": person, "phone": mobile,
                                   "dept": "内科"}}, ensure_ascii=False).encode()
    request = post("/his/register", b"application/json; charset=utf-8", body)
    return posted(
        name, line, f"The hospital's registration page posts a patient to the platform, "
                    f"{line.describe}, as JSON whose ID and mobile number are written the way "
                    f"the page shows them (the ID's 6, 8 and 4 digits apart, the mobile's 3, 4 and "
                    f"4 between dashes): no run of 11 digits travels, but whoever reads the body reads both numbers. {RULE} "
                    f"Expected: one high alert: resident_id 1 and mobile 1, decoded "
                    f"[digit-groups], the offset where the ID starts.",
        request, kinds={"mobile": 1, "resident_id": 1},
        **shown(("resident_id", PERSON), ("mobile", MOBILE)),
        offset=request.index(person.encode()), decoded=["digit-groups"])


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
