"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import HOSP, VLAN100, write_here  # noqa: E402
from casegen.normalisation import RULE, SECOND, full_width, post, posted, shown  # noqa: E402


def build(name, line):
    body = f"身份证号：{full_width(SECOND)}；备注：无".encode()
    request = post("/his/note", b"text/plain; charset=utf-8", body)
    assert mc.identifiers_by_rule(request) == []
    return posted(
        name, line, f"A clerk at the hospital ({HOSP}) types a resident ID in full-width digits "
                    f"(２２０１…, as Chinese input methods give them) after 身份证号, posted as "
                    f"UTF-8 text, {line.describe}. {RULE} Expected: one high alert: "
                    f"resident_id 1, the label 身份证号 in UTF-8, decoded [full-width], the "
                    f"offset of the ID's first full-width digit.",
        request, kinds={"resident_id": 1}, **shown(("resident_id", SECOND)),
        offset=request.index(full_width(SECOND)[:1].encode()), labels=["身份证号"],
        encodings=["utf-8"], decoded=["full-width"])


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
