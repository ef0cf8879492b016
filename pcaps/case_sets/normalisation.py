"""plaintext_pii on payloads as the receiving application reads them (issue #13 item 3):
HTTP bodies in chunked framing or gzip / deflate / br coding, forms, multipart parts, JSON
escapes; mail parts in base64 and quoted-printable; UTF-16LE (SQL Server TDS), full-width
digits in UTF-8 and GB18030. Negatives: a decompression bomb, compressed bytes that look
like an ID but decode to none, the same bodies inside TLS and TLCP records.

Expectations come from the rule (make_cases.RULE_PII) and from how the frames are built
here. What the rule adds for decoded bytes: an item is what the receiver reads after the
decoding the message itself declares (framing, content coding, transfer encoding, text
encoding); the evidence names the decodings that revealed the items (`decoded`), and for an
item that no byte on the wire spells (a compressed or encoded body) the offset is where the
packet's part of the stream begins (0 here: each message travels in whole segments)."""
from __future__ import annotations

import base64
import gzip
import json
import random
import struct
import zlib

import brotli

import make_cases as mc
from make_cases import (GRE_HOSP, HOSP, HOSP_B, HOSP_CODE, L2TP_HOSP, PLATFORM, VLAN100,
                        IpIds, PiiCase, TcpConn, ev, keyed, masked_id, masked_mobile)

pii = mc._pii
TLS_LINE = mc.Gre(41)
BASE_PORT = 52100

PERSON = pii.resident_id(random.Random(1301), region="220104")
SECOND = pii.resident_id(random.Random(1302), region="220105")
MOBILE = mc.made_up_mobile(random.Random(1303))

RULE = (f"Rule: {mc.RULE_PII}. Items are searched in what the receiver reads: after the "
        f"message's own framing, content coding, transfer encoding and text encoding are "
        f"undone; the evidence names the decodings that revealed them (`decoded`).")


def _port(name: str) -> int:
    return BASE_PORT + sum(name.encode()) % 800


def answer(coding: bytes, body: bytes, ctype: bytes = b"application/json") -> bytes:
    """An HTTP answer with a body in `Content-Encoding: coding` (already coded)."""
    return (b"HTTP/1.1 200 OK\r\nContent-Type: " + ctype + b"\r\nContent-Encoding: " + coding
            + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def _ok(status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n"


def json_answer() -> bytes:
    """A person-information answer as an insurance JSON API sends it (no envelope)."""
    body = {"infcode": 0, "output": {"baseinfo": {"psn_cert_type": "01", "certno": PERSON,
                                                  "psn_name": "张三", "gend": "1", "age": 41}}}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _answer_case(name, line, coding: str, encode, what: str):
    body = json_answer()
    assert mc.identifiers_by_rule(body) == [PERSON]
    coded = encode(body)
    response = answer(coding.encode(), coded, b"application/json;charset=utf-8")
    c = PiiCase(name, f"The hospital's {HOSP} asks the platform ({PLATFORM}:8080) for a "
                      f"person's record, {line.describe}; the answer is JSON in "
                      f"`Content-Encoding: {coding}` ({what}), as JSON APIs send it. {RULE} "
                      f"The decoded answer holds psn_cert_type, certno (a resident ID) and "
                      f"psn_name. Expected: one high alert (no interface envelope), its packet "
                      f"the answer: insurance_field 2, person_name 1, resident_id 1, decoded "
                      f"[{coding}], offset 0.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, _port(name), PLATFORM, 8080)
    request = (b"GET /api/psn/1 HTTP/1.1\r\nHost: 10.200.1.20:8080\r\n"
               b"Accept-Encoding: gzip, deflate, br\r\n\r\n")
    frames = c.send(line, conn.handshake() + [conn.c2s(request), conn.s2c(response),
                                              conn.c2s(b"", flags="A")] + conn.close())
    c.expect("plaintext_pii", "high", line.key, HOSP_CODE, [frames[4]],
             ev("personal_data_in_plaintext",
                kinds={"insurance_field": 2, "person_name": 1, "resident_id": 1},
                masked=[masked_id(PERSON)], hashes=[keyed("resident_id", PERSON)], offset=0,
                fields=["psn_cert_type", "certno", "psn_name"], decoded=[coding]))
    return c


def http_gzip(name, line):
    return _answer_case(name, line, "gzip", lambda b: gzip.compress(b, mtime=0), "RFC 1952")


def http_deflate(name, line):
    return _answer_case(name, line, "deflate", zlib.compress, "RFC 1950 zlib stream")


def _raw_deflate(data: bytes) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    return z.compress(data) + z.flush()


def http_raw_deflate(name, line):
    return _answer_case(name, line, "deflate", _raw_deflate,
                        "a raw RFC 1951 stream without the zlib wrapper, as some servers send")


def http_brotli(name, line):
    return _answer_case(name, line, "br", brotli.compress, "RFC 7932 Brotli")


def http_chunked(name, line):
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
    conn = TcpConn(ids, HOSP, _port(name), PLATFORM, 8080)
    frames = c.send(line, conn.handshake() + [conn.c2s(request), conn.s2c(_ok())] + conn.close())
    c.expect("plaintext_pii", "high", line.key, HOSP_CODE, [frames[3]],
             ev("personal_data_in_plaintext", kinds={"resident_id": 1},
                masked=[masked_id(PERSON)], hashes=[keyed("resident_id", PERSON)], offset=0,
                decoded=["chunked"]))
    return c


def _smtp(c, line, name, message: bytes) -> int:
    """An SMTP session from the hospital's mail client to the platform's relay; the frame
    number of the DATA segment that carries `message`."""
    ids = IpIds()
    conn = TcpConn(ids, HOSP_B, _port(name), mc.PLATFORM_MAIL, 25)
    pkts = conn.handshake() + [
        conn.s2c(b"220 mail.platform ESMTP\r\n"), conn.c2s(b"EHLO his.hospital\r\n"),
        conn.s2c(b"250 mail.platform\r\n"), conn.c2s(b"MAIL FROM:<his@hospital>\r\n"),
        conn.s2c(b"250 OK\r\n"), conn.c2s(b"RCPT TO:<claims@platform>\r\n"),
        conn.s2c(b"250 OK\r\n"), conn.c2s(b"DATA\r\n"), conn.s2c(b"354 go ahead\r\n"),
        conn.c2s(message), conn.s2c(b"250 queued\r\n"), conn.c2s(b"QUIT\r\n"),
        conn.s2c(b"221 bye\r\n")] + conn.close()
    frames = c.send(line, pkts)
    return frames[3 + 9]


def mail(encoding: bytes, part: bytes) -> bytes:
    """A referral mail (SMTP DATA, ending with the lone `.`) with one text part."""
    assert mc.identifiers_by_rule(part) == []
    return (b"From: his@hospital\r\nTo: claims@platform\r\nSubject: referral\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
            + encoding + b"\r\n\r\n" + part + b"--b1--\r\n.\r\n")


def qp(text: str) -> bytes:
    return b"".join(b"=%02X" % c if c > 126 or c == 61 else bytes((c,)) for c in text.encode())


# (part in the transfer encoding, what it holds, kinds, identifiers, labels)
MAIL_PARTS = {
    "base64": (base64.encodebytes(f"转诊单\r\n身份证号：{PERSON}\r\n手机号：{MOBILE}\r\n".encode())
               .replace(b"\n", b"\r\n"),
               "身份证号 (ID number) with a resident ID and 手机号 (mobile) with a mobile number",
               {"mobile": 1, "resident_id": 1}, [("resident_id", PERSON), ("mobile", MOBILE)],
               ["身份证号", "手机号"]),
    # soft line breaks (`=` at a line's end) after the name and inside the ID
    "quoted-printable": (qp("姓名：张三") + b"=\r\n" + qp(f" 身份证号 {PERSON[:9]}") + b"=\r\n"
                         + qp(f"{PERSON[9:]} 请核对") + b"\r\n",
                         "姓名 with a name and 身份证号 with a resident ID, the labels' UTF-8 as =XX "
                         "escapes, a soft line break (`=` at a line's end) inside the ID",
                         {"person_name": 1, "resident_id": 1}, [("resident_id", PERSON)],
                         ["姓名", "身份证号"]),
}


def smtp_part(encoding: str):
    part, holds, kinds, found, labels = MAIL_PARTS[encoding]

    def build(name, line):
        c = PiiCase(name, f"The hospital's mail client ({HOSP_B}) sends a referral to the "
                          f"platform's relay ({mc.PLATFORM_MAIL}:25) by SMTP, {line.describe}; "
                          f"the MIME part is {encoding} and holds {holds}. {RULE} Expected: one "
                          f"high alert, its packet the DATA segment: kinds {kinds}, the labels in "
                          f"UTF-8, decoded [{encoding}], offset 0.")
        frame = _smtp(c, line, name, mail(encoding.encode(), part))
        c.expect("plaintext_pii", "high", line.key, HOSP_CODE, [frame],
                 ev("personal_data_in_plaintext", kinds=kinds, **shown(*found), offset=0,
                    labels=labels, encodings=["utf-8"], decoded=[encoding]))
        return c

    return build


def _tds(kind: int, body: bytes) -> bytes:
    return struct.pack("!BBHHBB", kind, 1, 8 + len(body), 0, 1, 0) + body


def tds_utf16(name, line):
    query = f"SELECT psn_name, tel FROM psn WHERE certno='{PERSON}'".encode("utf-16-le")
    all_headers = struct.pack("<IIHQI", 22, 18, 2, 0, 1)
    batch = _tds(0x01, all_headers + query)

    def col(n: str) -> bytes:
        return struct.pack("<IHB", 0, 0, 0xE7) + struct.pack("<HIB", 100, 0x0804D000, 0) \
            + bytes([len(n)]) + n.encode("utf-16-le")

    def nvarchar(v: str) -> bytes:
        data = v.encode("utf-16-le")
        return struct.pack("<H", len(data)) + data

    row = (b"\x81" + struct.pack("<H", 2) + col("idno") + col("mobile")
           + b"\xd1" + nvarchar(PERSON) + nvarchar(MOBILE)
           + b"\xfd" + struct.pack("<HHQ", 0x10, 0xC1, 1))
    result = _tds(0x04, row)
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
    conn = TcpConn(ids, HOSP, _port(name), PLATFORM, 1433)
    frames = c.send(line, conn.handshake() + [conn.c2s(batch), conn.s2c(result)] + conn.close())
    c.expect("plaintext_pii", "high", line.key, HOSP_CODE, [frames[3], frames[4]],
             ev("personal_data_in_plaintext",
                kinds={"insurance_field": 1, "resident_id": 1},
                masked=[masked_id(PERSON)], hashes=[keyed("resident_id", PERSON)],
                offset=batch.index("certno".encode("utf-16-le")), fields=["certno"],
                decoded=["utf-16le"]))
    return c


def post(path: str, ctype: bytes, body: bytes) -> bytes:
    """An HTTP request to the platform with a Content-Length body."""
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 10.200.1.20:8080\r\nContent-Type: "
            + ctype + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def shown(*found: tuple[str, str]) -> dict:
    """The evidence's masked forms and keyed hashes of (kind, value) pairs, by the rule."""
    return {"masked": [masked_id(v) if k == "resident_id" else masked_mobile(v) for k, v in found],
            "hashes": [keyed(k, v) for k, v in found]}


def posted(name, line, story: str, request: bytes, **evidence) -> PiiCase:
    """The hospital's request to the platform and its answer; `story` the README; one high
    alert expected, its packet the request, with `evidence`."""
    c = PiiCase(name, story)
    ids = IpIds()
    conn = TcpConn(ids, HOSP, _port(name), PLATFORM, 8080)
    frames = c.send(line, conn.handshake() + [conn.c2s(request), conn.s2c(_ok())] + conn.close())
    c.expect("plaintext_pii", "high", line.key, HOSP_CODE, [frames[3]],
             ev("personal_data_in_plaintext", **evidence))
    return c


def multipart_form(name, line):
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


def json_escapes(name, line):
    body = json.dumps({"patient": {"姓名": "张三", "tel": MOBILE}}).encode()   # ASCII: \\uXXXX
    request = post("/his/patient", b"application/json", body)
    return posted(
        name, line, f"The hospital's {HOSP} posts JSON whose Chinese is written as `\\uXXXX` "
                    f"escapes (the default of most JSON writers), {line.describe}: 姓名 (name) "
                    f"with a value, and a mobile number. {RULE} Expected: one high alert: "
                    f"person_name 1, mobile 1, the label 姓名 (UTF-8 once decoded), decoded "
                    f"[json-escape], the offset of the escaped label.",
        request, kinds={"mobile": 1, "person_name": 1}, **shown(("mobile", MOBILE)),
        offset=request.index(b"\\u59d3"), labels=["姓名"], encodings=["utf-8"],
        decoded=["json-escape"])


def _full_width(s: str) -> str:
    return "".join(chr(0xFF10 + int(ch)) if ch.isdigit() else "Ｘ" for ch in s)


def full_width_digits(name, line):
    body = f"身份证号：{_full_width(SECOND)}；备注：无".encode()
    request = post("/his/note", b"text/plain; charset=utf-8", body)
    assert mc.identifiers_by_rule(request) == []
    return posted(
        name, line, f"A clerk at the hospital ({HOSP}) types a resident ID in full-width digits "
                    f"(２２０１…, as Chinese input methods give them) after 身份证号, posted as "
                    f"UTF-8 text, {line.describe}. {RULE} Expected: one high alert: "
                    f"resident_id 1, the label 身份证号 in UTF-8, decoded [full-width], the "
                    f"offset of the ID's first full-width digit.",
        request, kinds={"resident_id": 1}, **shown(("resident_id", SECOND)),
        offset=request.index(_full_width(SECOND)[:1].encode()), labels=["身份证号"],
        encodings=["utf-8"], decoded=["full-width"])


def gb18030_full_width(name, line):
    body = f"姓名=张三；身份证号={_full_width(SECOND)}".encode("gb18030")
    request = post("/his/card", b"text/plain; charset=GB18030", body)
    assert mc.identifiers_by_rule(request) == []
    return posted(
        name, line, f"An older hospital terminal ({HOSP}) posts text in GB18030, "
                    f"{line.describe}: 姓名 with a name and 身份证号 with a resident ID in "
                    f"full-width digits (A3 B0-B9 in GB18030). {RULE} Expected: one high "
                    f"alert: person_name 1, resident_id 1, labels 姓名 and 身份证号 in GBK (= "
                    f"GB18030 for them), decoded [full-width-gbk], the offset of 姓名.",
        request, kinds={"person_name": 1, "resident_id": 1}, **shown(("resident_id", SECOND)),
        offset=request.index("姓名".encode("gb18030")), labels=["姓名", "身份证号"],
        encodings=["gbk"], decoded=["full-width-gbk"])


# --- negatives --------------------------------------------------------------------------

def gzip_bomb(name, line):
    bomb = gzip.compress(b"0" * (16 << 20), compresslevel=9, mtime=0)
    response = answer(b"gzip", bomb)
    c = PiiCase(name, f"The platform ({PLATFORM}) answers the hospital's {HOSP}, "
                      f"{line.describe}, with a gzip body of {len(bomb)} bytes that inflates "
                      f"to 16 MiB of the digit 0: a decompression bomb. {RULE} Decoding stops "
                      f"at the output and ratio caps (counted in "
                      f"ybsensor_decompression_refused_total); a run of one digit is no "
                      f"identifier. Expected: no alert.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, _port(name), PLATFORM, 8080)
    step = 1400
    segs = [response[i:i + step] for i in range(0, len(response), step)]
    c.send(line, conn.handshake() + [conn.c2s(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")]
           + [conn.s2c(s, flags="A") for s in segs] + conn.close())
    return c


def gzip_id_shaped(name, line):
    # a gzip member whose header carries a comment (FCOMMENT) of ID-shaped digits; the
    # body it decodes to holds none
    comment = PERSON.encode()
    body = b'{"infcode":0,"output":{"count":2,"status":"ok"}}'
    deflated = _raw_deflate(body)
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
    conn = TcpConn(ids, HOSP, _port(name), PLATFORM, 8080)
    c.send(line, conn.handshake() + [conn.c2s(b"GET /count HTTP/1.1\r\nHost: x\r\n\r\n"),
                                     conn.s2c(response)] + conn.close())
    return c


def in_records(version: int):
    """The gzip answer, the chunked request and a base64 mail part, inside TLS (0x0303) or
    TLCP (0x0101) application-data records."""
    label = "TLS 1.2" if version == 0x0303 else "TLCP (GB/T 38636, record version 0x0101)"

    def build(name, line):
        c = PiiCase(name, f"The hospital's {HOSP} and the platform exchange, {line.describe}, "
                          f"inside {label}, the bodies of the positive cases: a chunked JSON "
                          f"request holding a resident ID, a gzip JSON answer holding certno "
                          f"and psn_name, and the plaintext form of both. To make the point the "
                          f"records carry those very bytes (a real session carries "
                          f"ciphertext). {RULE} Encrypted payloads are not searched. Expected: "
                          f"no alert.")
        ids = IpIds()
        conn = TcpConn(ids, HOSP, _port(name), PLATFORM, 443)
        tag = f"norm-{version:04x}"
        if version == 0x0303:
            hello = [conn.c2s(mc.tls_client_hello(tag)), conn.s2c(mc.tls_server_hello(tag))]
        else:
            hello = [conn.c2s(mc.tlcp_client_hello(tag)), conn.s2c(mc.tlcp_server_hello(tag))]
        body = json_answer()
        gz = gzip.compress(body, mtime=0)
        coded = answer(b"gzip", gz)
        chunked = (b"POST /his/visit HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                   + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")

        def record(data: bytes) -> bytes:
            return bytes((0x17, version >> 8, version & 0xFF)) + struct.pack("!H", len(data)) + data

        c.send(line, conn.handshake() + hello + [conn.c2s(record(chunked)),
                                                conn.s2c(record(coded))] + conn.close())
        return c

    return build


CASES = [
    ("pii_http_gzip", http_gzip, VLAN100),
    ("pii_http_gzip_in_l2tp", http_gzip, L2TP_HOSP),
    ("pii_http_gzip_in_gre", http_gzip, GRE_HOSP),
    ("pii_http_deflate_in_gre", http_deflate, GRE_HOSP),
    ("pii_http_raw_deflate_in_l2tp", http_raw_deflate, L2TP_HOSP),
    ("pii_http_brotli", http_brotli, VLAN100),
    ("pii_http_brotli_in_gre", http_brotli, GRE_HOSP),
    ("pii_http_chunked", http_chunked, VLAN100),
    ("pii_http_chunked_in_l2tp", http_chunked, L2TP_HOSP),
    ("pii_http_chunked_in_gre", http_chunked, GRE_HOSP),
    ("pii_smtp_base64", smtp_part("base64"), VLAN100),
    ("pii_smtp_base64_in_l2tp", smtp_part("base64"), L2TP_HOSP),
    ("pii_smtp_base64_in_gre", smtp_part("base64"), GRE_HOSP),
    ("pii_smtp_quoted_printable_in_gre", smtp_part("quoted-printable"), GRE_HOSP),
    ("pii_tds_utf16", tds_utf16, VLAN100),
    ("pii_tds_utf16_in_l2tp", tds_utf16, L2TP_HOSP),
    ("pii_tds_utf16_in_gre", tds_utf16, GRE_HOSP),
    ("pii_multipart_form_in_l2tp", multipart_form, L2TP_HOSP),
    ("pii_json_escapes_in_gre", json_escapes, GRE_HOSP),
    ("pii_full_width_digits", full_width_digits, VLAN100),
    ("pii_full_width_digits_in_l2tp", full_width_digits, L2TP_HOSP),
    ("pii_gb18030_full_width_in_gre", gb18030_full_width, GRE_HOSP),
    ("none_pii_gzip_bomb_in_l2tp", gzip_bomb, L2TP_HOSP),
    ("none_pii_gzip_id_shaped_in_gre", gzip_id_shaped, GRE_HOSP),
    ("none_pii_decoded_bodies_tls_in_gre", in_records(0x0303), TLS_LINE),
    ("none_pii_decoded_bodies_tlcp_in_l2tp", in_records(0x0101), L2TP_HOSP),
]
