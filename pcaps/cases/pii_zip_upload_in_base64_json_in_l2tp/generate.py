"""This case's frames and, from the rule, its expected alerts."""

import base64
import io
import json
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import L2TP_HOSP, write_here  # noqa: E402
import casegen as mc  # noqa: E402
from casegen.normalisation import PERSON, RULE, post, posted, shown  # noqa: E402


def detail_zip() -> bytes:
    """A reconciliation detail file as the hospital's HIS zips it: one settlement a line,
    tab-separated (settlement id, resident ID, amount); a fixed time, the same bytes each run."""
    text = f"JS202612070001\t{PERSON}\t120.50\r\nJS202612070002\t\t36.00\r\n".encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("detail.txt", date_time=(2026, 12, 7, 9, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, text)
    data = out.getvalue()
    assert mc.identifiers_by_rule(data) == []          # nothing readable before it is opened
    return data


def build(name, line):
    # the national interface's file upload (9101): the file's bytes in base64 in
    # `fsUploadIn.in`, as Java's JSON writers put a byte[]
    body = json.dumps({"infno": "9101", "msgid": "H22010200001202612070900000001",
                       "fixmedins_code": "H22010200001",
                       "input": {"fsUploadIn": {"in": base64.b64encode(detail_zip()).decode(),
                                                "filename": "detail.zip",
                                                "fixmedins_code": "H22010200001"}}}).encode()
    request = post("/fsi/api/fileupload/upload", b"application/json;charset=utf-8", body)
    return posted(
        name, line, f"The hospital uploads its reconciliation detail file to the platform, "
                    f"{line.describe}, with the national interface's file upload (9101): a "
                    f"ZIP archive of a text file, its bytes in base64 in the JSON message's "
                    f"`fsUploadIn.in`. The platform decodes and unzips it; the text holds a "
                    f"resident ID. {RULE} The ID is in no named personal field, so the "
                    f"interface message makes it no worse. Expected: one high alert: "
                    f"resident_id 1, decoded [base64, zip], offset 0 (a decoded item).",
        request, kinds={"resident_id": 1}, **shown(("resident_id", PERSON)),
        offset=0, decoded=["base64", "zip"])


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
