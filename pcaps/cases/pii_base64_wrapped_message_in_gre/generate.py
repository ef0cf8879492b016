"""This case's frames and, from the rule, its expected alerts."""

import base64
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import GRE_HOSP, write_here  # noqa: E402
from casegen.normalisation import PERSON, RULE, post, posted, shown  # noqa: E402


def build(name, line):
    # the business message wrapped whole in base64 inside the JSON the platform takes, as
    # some gateways "protect" theirs: an encoding anyone undoes, not encryption
    message = json.dumps({"patient": {"idCard": PERSON, "dept": "ICU"}}).encode()
    wrapped = base64.b64encode(message).decode()
    body = json.dumps({"appId": "HIS-H22010200001", "timestamp": "20250102080000",
                       "data": wrapped, "sign": "9f" * 16}).encode()
    request = post("/gateway/submit", b"application/json", body)
    return posted(
        name, line, f"The hospital's gateway posts a patient to the platform, "
                    f"{line.describe}, the business message wrapped whole in base64 in the "
                    f"JSON's `data` value: no digit of the ID travels, but the platform "
                    f"decodes the value and reads it. {RULE} Expected: one high alert: "
                    f"resident_id 1, decoded [base64-inline], the offset where the base64 "
                    f"characters that encode the ID begin (four for every three bytes of "
                    f"the message before it).",
        request, kinds={"resident_id": 1}, **shown(("resident_id", PERSON)),
        offset=request.index(wrapped.encode()) + message.index(PERSON.encode()) * 4 // 3,
        decoded=["base64-inline"])


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
