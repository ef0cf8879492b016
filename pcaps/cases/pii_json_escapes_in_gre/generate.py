"""This case's frames and, from the rule, its expected alerts."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import GRE_HOSP, HOSP, write_here  # noqa: E402
from casegen.normalisation import MOBILE, RULE, post, posted, shown  # noqa: E402


def build(name, line):
    body = json.dumps({"patient": {"姓名": "张三", "tel": MOBILE}}).encode()   # ASCII: \\uXXXX
    request = post("/his/patient", b"application/json", body)
    return posted(
        name, line, f"The hospital's {HOSP} posts JSON whose Chinese is written as `\\uXXXX` "
                    f"escapes (the default of most JSON writers), {line.describe}: 姓名 (name) "
                    f"with a value, and a mobile number. {RULE} Expected: one high alert: "
                    f"person_name 1, mobile 1, the label 姓名 (UTF-8 once decoded), decoded "
                    f"[json-escape], the offset of the escaped label.",
        request, kinds={"mobile": 1, "person_name": 1}, **shown(("mobile", MOBILE)),
        offset=request.index(b"\\u59d3"), labels=["姓名"], encodings=["utf-8"],
        decoded=["json-escape"])


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
