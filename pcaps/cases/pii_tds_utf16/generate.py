"""This case's frames and, from the rule, its expected alerts."""

import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import (  # noqa: E402
    HOSP, HOSP_CODE, PLATFORM, VLAN100, IpIds, PiiCase, TcpConn, ev, keyed, masked_id, write_here)
from casegen.normalisation import MOBILE, PERSON, RULE, port_of, tds  # noqa: E402


def build(name, line):
    query = f"SELECT psn_name, tel FROM psn WHERE certno='{PERSON}'".encode("utf-16-le")
    all_headers = struct.pack("<IIHQI", 22, 18, 2, 0, 1)
    batch = tds(0x01, all_headers + query)

    def col(n: str) -> bytes:
        return struct.pack("<IHB", 0, 0, 0xE7) + struct.pack("<HIB", 100, 0x0804D000, 0) \
            + bytes([len(n)]) + n.encode("utf-16-le")

    def nvarchar(v: str) -> bytes:
        data = v.encode("utf-16-le")
        return struct.pack("<H", len(data)) + data

    row = (b"\x81" + struct.pack("<H", 2) + col("idno") + col("mobile")
           + b"\xd1" + nvarchar(PERSON) + nvarchar(MOBILE)
           + b"\xfd" + struct.pack("<HHQ", 0x10, 0xC1, 1))
    result = tds(0x04, row)
    assert mc.identifiers_by_rule(batch + result) == []       # no ASCII digit run is one
    c = PiiCase(name, f"The hospital's HIS ({HOSP}) queries the platform's SQL Server "
                      f"({PLATFORM}:1433), {line.describe}: a TDS SQL batch whose text is "
                      f"UTF-16LE (`… WHERE certno='<resident ID>'`), answered by a result row "
                      f"holding the ID and a mobile number, NVARCHAR, UTF-16LE. {RULE} "
                      f"Expected: one high alert, its packets the batch and the row, at the "
                      f"batch; its evidence the batch's: insurance_field 1 (certno with a "
                      f"value), resident_id 1, decoded [utf-16le], the offset of certno in "
                      f"the batch.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, port_of(name), PLATFORM, 1433)
    frames = c.send(line, conn.handshake() + [conn.c2s(batch), conn.s2c(result)] + conn.close())
    c.expect("plaintext_pii", "high", line.key, HOSP_CODE, [frames[3], frames[4]],
             ev("personal_data_in_plaintext",
                kinds={"insurance_field": 1, "resident_id": 1},
                masked=[masked_id(PERSON)], hashes=[keyed("resident_id", PERSON)],
                offset=batch.index("certno".encode("utf-16-le")), fields=["certno"],
                decoded=["utf-16le"]))
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
