"""This case's frames and, from the rule, its expected alerts."""

import gzip
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import HOSP, L2TP_HOSP, PLATFORM, IpIds, PiiCase, TcpConn, write_here  # noqa: E402
from casegen.normalisation import RULE, answer, port_of  # noqa: E402


def build(name, line):
    bomb = gzip.compress(b"0" * (16 << 20), compresslevel=9, mtime=0)
    response = answer(b"gzip", bomb)
    c = PiiCase(name, f"The platform ({PLATFORM}) answers the hospital's {HOSP}, "
                      f"{line.describe}, with a gzip body of {len(bomb)} bytes that inflates "
                      f"to 16 MiB of the digit 0: a decompression bomb. {RULE} Decoding stops "
                      f"at the output and ratio caps (counted in "
                      f"ybsensor_decompression_refused_total); a run of one digit is no "
                      f"identifier. Expected: no alert.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, port_of(name), PLATFORM, 8080)
    step = 1400
    segs = [response[i:i + step] for i in range(0, len(response), step)]
    c.send(line, conn.handshake() + [conn.c2s(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")]
           + [conn.s2c(s, flags="A") for s in segs] + conn.close())
    return c


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
