"""This case's frames and, from the rule, its expected alerts."""

import gzip
import struct
import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import GRE_HOSP, HOSP, PLATFORM, IpIds, PiiCase, TcpConn, write_here  # noqa: E402
from casegen.normalisation import PERSON, RULE, answer, port_of, raw_deflate  # noqa: E402


def build(name, line):
    # a gzip member whose header carries a comment (FCOMMENT) of ID-shaped digits; the
    # body it decodes to holds none
    comment = PERSON.encode()
    body = b'{"infcode":0,"output":{"count":2,"status":"ok"}}'
    deflated = raw_deflate(body)
    member = (b"\x1f\x8b\x08\x10" + b"\x00" * 4 + b"\x02\xff" + comment + b"\x00" + deflated
              + struct.pack("<II", zlib.crc32(body), len(body)))
    assert gzip.decompress(member) == body and mc.identifiers_by_rule(body) == []
    assert mc.identifiers_by_rule(member) == [PERSON]
    response = answer(b"gzip", member)
    c = PiiCase(name, f"The platform answers the hospital's {HOSP}, {line.describe}, with a "
                      f"gzip body whose compressed bytes hold an ID-shaped run (in the gzip "
                      f"header's comment field) while the JSON it decodes to holds no personal "
                      f"data. {RULE} What the receiver reads is the decoded body. Expected: "
                      f"no alert.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, port_of(name), PLATFORM, 8080)
    c.send(line, conn.handshake() + [conn.c2s(b"GET /count HTTP/1.1\r\nHost: x\r\n\r\n"),
                                     conn.s2c(response)] + conn.close())
    return c


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
