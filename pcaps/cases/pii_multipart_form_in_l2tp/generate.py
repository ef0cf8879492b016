"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import HOSP, L2TP_HOSP, write_here  # noqa: E402
from casegen.normalisation import PERSON, RULE, post, posted, shown  # noqa: E402


def build(name, line):
    parts = (b"--fb7\r\nContent-Disposition: form-data; name=\"psn_name\"\r\n\r\n"
             + "张三".encode() + b"\r\n--fb7\r\nContent-Disposition: form-data; name=\"certno\"\r\n\r\n"
             + PERSON.encode() + b"\r\n--fb7--\r\n")
    return posted(
        name, line, f"The hospital's {HOSP} uploads a form as multipart/form-data, "
                    f"{line.describe}: a part named psn_name holding a name and one named certno "
                    f"holding a resident ID (each value on its own line after the part's "
                    f"headers). {RULE} Each part is read as the field it is (`name=value`). "
                    f"Expected: one high alert, its packet the request: person_name 1, "
                    f"insurance_field 1, resident_id 1, fields psn_name and certno, decoded "
                    f"[multipart], offset 0.",
        post("/his/upload", b"multipart/form-data; boundary=fb7", parts),
        kinds={"insurance_field": 1, "person_name": 1, "resident_id": 1},
        **shown(("resident_id", PERSON)), offset=0, fields=["psn_name", "certno"],
        decoded=["multipart"])


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
