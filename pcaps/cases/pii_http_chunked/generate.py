"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import (  # noqa: E402
    HOSP, HOSP_CODE, PLATFORM, VLAN100, IpIds, PiiCase, TcpConn, ev, keyed, masked_id, write_here)
from casegen.normalisation import PERSON, RULE, empty_answer, port_of  # noqa: E402


def build(name, line):
    person = PERSON.encode()
    head = b'{"visit":"V2025010200042","idcard":"'
    first = head + person[:10]                  # a chunk ends inside the ID
    # the second chunk's size line is decimal digits too: 0x31 = 49 bytes (JSON, then blanks)
    rest = (person[10:] + b'","dept":"0301"}').ljust(0x31)
    body = b"%x\r\n" % len(first) + first + b"\r\n31\r\n" + rest + b"\r\n0\r\n\r\n"
    request = (b"POST /his/visit HTTP/1.1\r\nHost: 10.200.1.20:8080\r\n"
               b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    assert mc.identifiers_by_rule(request) == []       # on the wire no ID is whole
    c = PiiCase(name, f"The hospital's {HOSP} posts a JSON visit record holding a resident "
                      f"ID, {line.describe}, in `Transfer-Encoding: chunked`: the first chunk "
                      f"ends after the ID's first ten digits, so on the wire the ID reads "
                      f"`…{PERSON[8:10]}\\r\\n31\\r\\n{PERSON[10:14]}…` (the chunk-size line "
                      f"is digits too). {RULE} Expected: one high alert, its packet the "
                      f"request: resident_id 1, decoded [chunked], offset 0.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, port_of(name), PLATFORM, 8080)
    frames = c.send(line, conn.handshake() + [conn.c2s(request), conn.s2c(empty_answer())] + conn.close())
    c.expect("plaintext_pii", "high", line.key, HOSP_CODE, [frames[3]],
             ev("personal_data_in_plaintext", kinds={"resident_id": 1},
                masked=[masked_id(PERSON)], hashes=[keyed("resident_id", PERSON)], offset=0,
                decoded=["chunked"]))
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
