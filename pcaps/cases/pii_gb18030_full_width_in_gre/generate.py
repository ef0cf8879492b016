"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import GRE_HOSP, HOSP, write_here  # noqa: E402
from casegen.normalisation import RULE, SECOND, full_width, post, posted, shown  # noqa: E402


def build(name, line):
    body = f"姓名=张三；身份证号={full_width(SECOND)}".encode("gb18030")
    request = post("/his/card", b"text/plain; charset=GB18030", body)
    assert mc.identifiers_by_rule(request) == []
    return posted(
        name, line, f"An older hospital terminal ({HOSP}) posts text in GB18030, "
                    f"{line.describe}: 姓名 with a name and 身份证号 with a resident ID in "
                    f"full-width digits (A3 B0-B9 in GB18030). {RULE} Expected: one high "
                    f"alert: person_name 1, resident_id 1, labels 姓名 and 身份证号 in GBK (= "
                    f"GB18030 for them), decoded [full-width-gbk], the offset of 姓名.",
        request, kinds={"person_name": 1, "resident_id": 1}, **shown(("resident_id", SECOND)),
        offset=request.index("姓名".encode("gb18030")), labels=["姓名", "身份证号"],
        encodings=["gbk"], decoded=["full-width-gbk"])


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
