"""This case's frames and, from the rule, its expected alerts."""

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    HOSP_B, HOSP_CODE, HTTP_OK, L2TP_HOSP, PLATFORM, RULE_PII, Case, IpIds, Line, PiiCase, TcpConn,
    ev, identifiers_by_rule, keyed, made_up_mobile, masked_id, masked_mobile, pii, write_here)


def build(name: str, line: Line) -> Case:
    rng = random.Random(936)                               # 936: the GBK code page
    person = pii.resident_id(rng)
    mobile = made_up_mobile(rng)
    form = f"姓名=张三&性别=男&身份证号={person}&手机号={mobile}&科室=内科".encode("gbk")
    request = (b"POST /his/register.do HTTP/1.1\r\nHost: 10.200.1.20:8080\r\n"
               b"Content-Type: application/x-www-form-urlencoded; charset=GBK\r\n"
               b"Content-Length: " + str(len(form)).encode() + b"\r\n\r\n" + form)
    assert identifiers_by_rule(request) == [person, mobile]
    c = PiiCase(name, f"A hospital registration terminal ({HOSP_B}) posts a patient's "
                      f"registration to the platform as form data in GBK, as older hospital "
                      f"software does, {line.describe}: 姓名 (name), 性别, 身份证号 (ID number), "
                      f"手机号 (mobile), 科室, the labels raw GBK bytes. Rule: {RULE_PII}. "
                      f"Expected: one high alert (no insurance interface envelope): "
                      f"person_name 1 (姓名 with a value), resident_id 1, mobile 1, the three "
                      f"labels in GBK, the offset where 姓名 starts.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP_B, 51350, PLATFORM, 8080)
    pkts = conn.handshake() + [conn.c2s(request), conn.s2c(HTTP_OK)] + conn.close()
    frames = c.send(line, pkts)
    c.expect("plaintext_pii", "high", line.key, HOSP_CODE, [frames[3]],
             ev("personal_data_in_plaintext",
                kinds={"mobile": 1, "person_name": 1, "resident_id": 1},
                masked=[masked_id(person), masked_mobile(mobile)],
                hashes=[keyed("resident_id", person), keyed("mobile", mobile)],
                offset=request.index("姓名".encode("gbk")),
                labels=["姓名", "身份证号", "手机号"], encodings=["gbk"]))
    return c


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
