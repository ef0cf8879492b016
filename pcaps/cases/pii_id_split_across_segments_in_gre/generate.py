"""This case's frames and, from the rule, its expected alerts."""

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    GRE_HOSP, HOSP, HOSP_CODE, HTTP_OK, PLATFORM, RULE_PII, Case, IpIds, Line, PiiCase, TcpConn,
    ev, identifiers_by_rule, keyed, masked_id, pii, write_here)


def build(name: str, line: Line) -> Case:
    rng = random.Random(1802)
    person = pii.resident_id(rng)
    body = ('{"visit":"V2025010200042","idcard":"' + person + '","dept":"0301"}').encode()
    request = (b"POST /his/visit HTTP/1.1\r\nHost: 10.200.1.20:8080\r\n"
               b"Content-Type: application/json\r\nContent-Length: "
               + str(len(body)).encode() + b"\r\n\r\n" + body)
    assert identifiers_by_rule(request) == [person]
    at = request.index(person.encode())
    cut1 = at + 9                       # the ID's first 9 characters in A, the rest in B
    cut2 = len(request) - 6
    a, b, tail = request[:cut1], request[cut1:cut2], request[cut2:]
    c = PiiCase(name, f"The hospital's {HOSP} posts a JSON visit record holding a resident ID "
                      f"to the platform, {line.describe}, in three TCP segments: A ends with "
                      f"the ID's first nine characters, B holds the rest. The segments arrive "
                      f"A, C (the last six bytes, out of order), B, then B again (a "
                      f"retransmission). Rule: {RULE_PII}. The sensor follows sequence "
                      f"numbers: the ID is found across the boundary, once, at B, which "
                      f"completes it. Expected: one high alert for the flow, resident_id 1, "
                      f"its packet B (the retransmission adds no bytes), the offset the ID's "
                      f"start relative to B's payload: -9, its first nine characters in A.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 51340, PLATFORM, 8080)
    pkts = conn.handshake()
    pa = conn.c2s(a, flags="A")
    pb = conn.c2s(b, flags="A")
    pc = conn.c2s(tail)
    frames = c.send(line, pkts + [pa, pc, pb, pb])
    fb = frames[5]
    c.send(line, [conn.s2c(HTTP_OK)] + conn.close())
    c.expect("plaintext_pii", "high", line.key, HOSP_CODE, [fb],
             ev("personal_data_in_plaintext", kinds={"resident_id": 1},
                masked=[masked_id(person)], hashes=[keyed("resident_id", person)],
                offset=at - cut1))
    return c


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
