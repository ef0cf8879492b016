"""Builders of the cases of plaintext_pii on payloads as the receiving application reads them
(issue #13 item 3): HTTP bodies in chunked framing or gzip / deflate / br coding, forms,
multipart parts, JSON escapes; mail parts in base64 and quoted-printable; UTF-16LE (SQL
Server TDS), full-width digits in UTF-8 and GB18030; a spreadsheet (an .xlsx: a ZIP archive
of deflated XML). Negatives: a decompression bomb,
compressed bytes that look like an ID but decode to none, the same bodies inside TLS and
TLCP records.

Expectations come from the rule (casegen.RULE_PII) and from how the frames are built
here. What the rule adds for decoded bytes: an item is what the receiver reads after the
decoding the message itself declares (framing, content coding, transfer encoding, text
encoding); the evidence names the decodings that revealed the items (`decoded`), and for an
item that no byte on the wire spells (a compressed or encoded body) the offset is where the
packet's part of the stream begins (0 here: each message travels in whole segments)."""
from __future__ import annotations

import base64
import gzip
import io
import json
import random
import struct
import zipfile
import zlib


import casegen as mc
from casegen import (HOSP, HOSP_B, HOSP_CODE, PLATFORM, IpIds, PiiCase, TcpConn, ev, keyed,
                     masked_id, masked_mobile)

pii = mc.pii
BASE_PORT = 52100

PERSON = pii.resident_id(random.Random(1301), region="220104")
SECOND = pii.resident_id(random.Random(1302), region="220105")
MOBILE = mc.made_up_mobile(random.Random(1303))

RULE = (f"Rule: {mc.RULE_PII}. Items are searched in what the receiver reads: after the "
        f"message's own framing, content coding, transfer encoding and text encoding are "
        f"undone; the evidence names the decodings that revealed them (`decoded`).")


def port_of(name: str) -> int:
    return BASE_PORT + sum(name.encode()) % 800


def answer(coding: bytes, body: bytes, ctype: bytes = b"application/json") -> bytes:
    """An HTTP answer with a body in `Content-Encoding: coding` (already coded)."""
    return (b"HTTP/1.1 200 OK\r\nContent-Type: " + ctype + b"\r\nContent-Encoding: " + coding
            + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def empty_answer(status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n"


def json_answer() -> bytes:
    """A person-information answer as an insurance JSON API sends it (no envelope)."""
    body = {"infcode": 0, "output": {"baseinfo": {"psn_cert_type": "01", "certno": PERSON,
                                                  "psn_name": "张三", "gend": "1", "age": 41}}}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


# what the rule finds in json_answer() read whole: psn_cert_type and certno are insurance
# fields, psn_name a person's name, and certno's value a resident ID
JSON_ANSWER_KINDS = {"insurance_field": 2, "person_name": 1, "resident_id": 1}
JSON_ANSWER_FIELDS = ["psn_cert_type", "certno", "psn_name"]


def answer_case(name, line, coding: str, encode, what: str, head_first: bool = False):
    """`head_first`: the client asks with HEAD first, on the same connection, and is told
    the answer's headers with no body (RFC 9112 6.3), then asks with GET."""
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
    if head_first:
        c.readme = c.readme.replace(
            "as JSON APIs send it.", "as JSON APIs send it. First, on the same connection, "
            "the client asks with HEAD and gets the same headers (its Content-Length) and no "
            "body, as RFC 9112 6.3 says; then it asks with GET.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, port_of(name), PLATFORM, 8080)
    request = (b"GET /api/psn/1 HTTP/1.1\r\nHost: 10.200.1.20:8080\r\n"
               b"Accept-Encoding: gzip, deflate, br\r\n\r\n")
    pkts = conn.handshake()
    if head_first:
        headers = response[:response.index(b"\r\n\r\n") + 4]
        pkts += [conn.c2s(b"HEAD" + request[3:]), conn.s2c(headers)]
    pkts += [conn.c2s(request), conn.s2c(response)]
    expect_json_answer(c, line, pkts, [conn.c2s(b"", flags="A")] + conn.close(), "high",
                       "personal_data_in_plaintext", [coding])
    return c


def expect_json_answer(c: PiiCase, line, pkts, after, severity: str, reason: str,
                       decoded: list[str], **more) -> None:
    """Send `pkts`, then `after`, on `line`; expect plaintext_pii's alert at the last of
    `pkts`, which completes json_answer() read through `decoded`: what the rule finds in it
    (its kinds and fields, the identifier masked and keyed, at offset 0), and `more`."""
    numbers = c.send(line, pkts + after)
    c.expect("plaintext_pii", severity, line.key, HOSP_CODE, [numbers[len(pkts) - 1]],
             ev(reason, kinds=JSON_ANSWER_KINDS, **shown(("resident_id", PERSON)), offset=0,
                fields=JSON_ANSWER_FIELDS, decoded=decoded, **more))


def raw_deflate(data: bytes) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    return z.compress(data) + z.flush()


def _smtp(c, line, name, message: bytes) -> int:
    """An SMTP session from the hospital's mail client to the platform's relay; the frame
    number of the DATA segment that carries `message`."""
    ids = IpIds()
    conn = TcpConn(ids, HOSP_B, port_of(name), mc.PLATFORM_MAIL, 25)
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


def tds(kind: int, body: bytes) -> bytes:
    return struct.pack("!BBHHBB", kind, 1, 8 + len(body), 0, 1, 0) + body


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
    conn = TcpConn(ids, HOSP, port_of(name), PLATFORM, 8080)
    frames = c.send(line, conn.handshake() + [conn.c2s(request), conn.s2c(empty_answer())] + conn.close())
    c.expect("plaintext_pii", "high", line.key, HOSP_CODE, [frames[3]],
             ev("personal_data_in_plaintext", **evidence))
    return c


def full_width(s: str) -> str:
    return "".join(chr(0xFF10 + int(ch)) if ch.isdigit() else "Ｘ" for ch in s)


# --- negatives --------------------------------------------------------------------------

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
        conn = TcpConn(ids, HOSP, port_of(name), PLATFORM, 443)
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


# --- a spreadsheet: a ZIP archive of XML -----------------------------------------------

XLSX_TYPE = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MSS = 1460
_NS = "http://schemas.openxmlformats.org"


def spreadsheet(ident: str) -> tuple[bytes, str]:
    """A minimal .xlsx (ECMA-376: the parts Excel needs to open it) of one patient: a header
    row (姓名, 身份证号) and a row (张三, the ID), the cells' text in the shared strings; the
    archive as Python's zipfile deflates it, with a fixed time (the same bytes each run). And
    the name of the member that holds the ID."""
    rel = f"{_NS}/officeDocument/2006/relationships"
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    cells = "".join(f'<row r="{r}"><c r="A{r}" t="s"><v>{2 * r - 2}</v></c>'
                    f'<c r="B{r}" t="s"><v>{2 * r - 1}</v></c></row>' for r in (1, 2))
    strings = "".join(f"<si><t>{s}</t></si>" for s in ("姓名", "身份证号", "张三", ident))
    parts = {
        "[Content_Types].xml": f'<Types xmlns="{_NS}/package/2006/content-types">'
        f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        f'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{XLSX_TYPE.decode()}.main+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
        f'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName='
        f'"/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        f'spreadsheetml.sharedStrings+xml"/></Types>',
        "_rels/.rels": f'<Relationships xmlns="{_NS}/package/2006/relationships"><Relationship '
        f'Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook xmlns="{_NS}/spreadsheetml/2006/main" xmlns:r="{rel}">'
        f'<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{_NS}/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/>'
        f'</Relationships>',
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{_NS}/spreadsheetml/2006/main">'
        f'<sheetData>{cells}</sheetData></worksheet>',
        "xl/sharedStrings.xml": f'<sst xmlns="{_NS}/spreadsheetml/2006/main" count="4" '
        f'uniqueCount="4">{strings}</sst>',
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, xml in parts.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 12, 1, 9, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (head + xml).encode())
    return out.getvalue(), "xl/sharedStrings.xml"


def spreadsheet_case(name, line):
    """The platform's answer to a download: an .xlsx of patients, framed by Content-Length
    and sent in segments of MSS bytes, the headers in the first."""
    data, member = spreadsheet(PERSON)
    response = (b"HTTP/1.1 200 OK\r\nContent-Type: " + XLSX_TYPE + b"\r\nContent-Disposition: "
                b"attachment; filename=\"patients.xlsx\"\r\nContent-Length: "
                + str(len(data)).encode() + b"\r\n\r\n" + data)
    segments = [response[k:k + MSS] for k in range(0, len(response), MSS)]
    # the segment that makes the ID readable: the one holding the end of the deflated
    # member it is in (an ID's end is known with the byte after it, in the same member)
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(member)
    assert PERSON.encode() in zipfile.ZipFile(io.BytesIO(data)).read(member)
    local = 30 + len(info.filename.encode()) + len(info.extra)
    end = len(response) - len(data) + info.header_offset + local + info.compress_size
    completing = (end - 1) // MSS
    assert len(segments) >= 2 and completing == len(segments) - 1
    assert (end - info.compress_size) // MSS == completing    # the member is in it whole
    c = PiiCase(name, f"The hospital's {HOSP} downloads a list of patients from the platform "
                      f"({PLATFORM}:8080), {line.describe}: an .xlsx (ECMA-376), a ZIP archive "
                      f"whose members are deflated XML, framed by Content-Length, the answer "
                      f"in {len(segments)} segments. {RULE} A spreadsheet's reader inflates "
                      f"its members: the shared strings hold 姓名, 身份证号, 张三 and a "
                      f"resident ID, each a cell (a label in a cell of its own has no value). "
                      f"Expected: one high alert, its packet the last segment, which completes "
                      f"the member holding the ID: resident_id 1, decoded [zip], offset 0.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, port_of(name), PLATFORM, 8080)
    request = b"GET /export/patients.xlsx HTTP/1.1\r\nHost: 10.200.1.20:8080\r\n\r\n"
    pkts = conn.handshake() + [conn.c2s(request)] + [conn.s2c(s) for s in segments]
    numbers = c.send(line, pkts + [conn.c2s(b"", flags="A")] + conn.close())
    c.expect("plaintext_pii", "high", line.key, HOSP_CODE, [numbers[len(pkts) - 1]],
             ev("personal_data_in_plaintext", kinds={"resident_id": 1},
                **shown(("resident_id", PERSON)), offset=0, decoded=["zip"]))
    return c
