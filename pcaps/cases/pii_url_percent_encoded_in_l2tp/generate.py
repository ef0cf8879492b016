"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import L2TP_HOSP, write_here  # noqa: E402
from casegen.normalisation import PERSON, RULE, posted, shown  # noqa: E402


def build(name, line):
    # every character of the value percent-encoded (as a client that encodes all it sends
    # does, or one hiding the number), the first two digits plain: the server reads one ID
    encoded = PERSON[:2] + "".join(f"%{ord(ch):02X}" for ch in PERSON[2:])
    request = (f"GET /his/patient/query?sfzh={encoded}&dept=ICU HTTP/1.1\r\n"
               f"Host: 10.200.1.20:8080\r\n\r\n").encode()
    return posted(
        name, line, f"The hospital queries the platform for a patient, {line.describe}, with "
                    f"the resident ID in the URL's query, percent-encoded but for its first "
                    f"two digits (`sfzh=22%30%31...`): no digit run of the ID travels, but the "
                    f"server decodes the query into it. {RULE} Expected: one high alert: "
                    f"resident_id 1, decoded [percent-encoded], the offset where the ID "
                    f"starts.",
        request, kinds={"resident_id": 1}, **shown(("resident_id", PERSON)),
        offset=request.index(encoded.encode()), decoded=["percent-encoded"])


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
