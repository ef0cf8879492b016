"""Personal data in ZIP archives, as hospitals send lists of patients: an .xlsx made by
openpyxl (the library behind many HIS exports), downloaded over HTTP (its headers in the
body's first segment, or in one of their own as a server using sendfile sends them),
attached to a mail in base64, uploaded in a form, and sent as a file over an FTP data
connection by a streaming writer (sizes after the data). The rule: what the receiver reads
when it opens the file is personal data in clear, so each raises `plaintext_pii` with the
decodings that revealed it; a bomb, an encrypted member and four bytes that only look like
a member header raise nothing and the bomb is counted."""
from __future__ import annotations

import base64
import io
import json
import random
import re
import zipfile

import openpyxl
import pytest

import fuzzing as F
import pii
from ybsensor.detectors import normalise as N
from test_normalise import SERVER, sensor_run
from test_pii_detector import stream

RNG = random.Random(20261207)
PATIENTS = [pii.resident_id(RNG) for _ in range(5)]
MSS = 1400


def spreadsheet(ids: list[str]) -> bytes:
    """An .xlsx of patients: a header row, then a name and an ID (text, as Excel keeps an
    18-digit ID) a row."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["姓名", "身份证号", "就诊科室"])
    for k, ident in enumerate(ids):
        sheet.append([f"患者{k}", ident, "内科"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def segments(data: bytes) -> list[bytes]:
    return [data[i:i + MSS] for i in range(0, len(data), MSS)]


def found(got: list[dict]) -> tuple[int, list[str]]:
    """Resident IDs the alerts count, and the decodings they name."""
    ids = sum(a["evidence"]["kinds"].get("resident_id", 0) for a in got)
    return ids, sorted({d for a in got for d in a["evidence"].get("decoded", [])})


def no_whole_id(got: list[dict]) -> None:
    text = json.dumps(got, ensure_ascii=False)
    assert not any(ident in text for ident in PATIENTS)


XLSX = spreadsheet(PATIENTS)
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.openxmlformats-officedocument."
        b"spreadsheetml.sheet\r\nContent-Disposition: attachment; filename=\"patients.xlsx\""
        b"\r\nContent-Length: " + str(len(XLSX)).encode() + b"\r\n\r\n")


@pytest.mark.parametrize("headers_alone", [False, True])
def test_a_spreadsheet_downloaded_over_http(tmp_path, headers_alone):
    chunks = [HEAD] + segments(XLSX) if headers_alone else segments(HEAD + XLSX)
    got, norm = sensor_run(tmp_path, stream(chunks, **SERVER))
    assert found(got) == (len(PATIENTS), ["zip"])
    no_whole_id(got)
    assert norm.decoded_bytes["zip"] > len(XLSX)     # its XML, inflated


def test_a_spreadsheet_across_batches(tmp_path):
    frames = stream(segments(HEAD + XLSX), **SERVER)
    got, _ = sensor_run(tmp_path, *[[f] for f in frames])
    assert found(got) == (len(PATIENTS), ["zip"])


@pytest.mark.parametrize("first_line", [None, 4])
def test_a_spreadsheet_attached_to_a_mail(tmp_path, first_line):
    """`first_line`: the base64's first line that many characters long (a decoder takes any
    line length) and a segment ending after it: the part's first decoded piece, 3 bytes,
    cannot tell an archive alone."""
    attached = base64.encodebytes(XLSX).replace(b"\n", b"\r\n")
    if first_line:
        flat = base64.b64encode(XLSX)
        attached = flat[:first_line] + b"\r\n" + base64.encodebytes(
            base64.b64decode(flat[first_line:])).replace(b"\n", b"\r\n")
    msg = (b"MAIL FROM:<a@his.example>\r\nRCPT TO:<b@ybj.example>\r\nDATA\r\n"
           b"Subject: list\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\nsee the list\r\n--b1\r\n"
           b"Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
           b"\r\nContent-Transfer-Encoding: base64\r\n"
           b"Content-Disposition: attachment; filename=\"p.xlsx\"\r\n\r\n"
           + attached + b"--b1--\r\n.\r\n")
    at = msg.index(attached) + first_line + 2 if first_line else 0
    got, _ = sensor_run(tmp_path, stream(([msg[:at]] if at else []) + segments(msg[at:]),
                                         dport=25))
    assert found(got) == (len(PATIENTS), ["base64", "zip"])
    no_whole_id(got)


def test_a_spreadsheet_uploaded_in_a_form(tmp_path):
    body = (b"--x9\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.xlsx\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n" + XLSX + b"\r\n--x9--\r\n")
    req = (b"POST /upload HTTP/1.1\r\nHost: his.example\r\n"
           b"Content-Type: multipart/form-data; boundary=x9\r\n"
           b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    got, _ = sensor_run(tmp_path, stream(segments(req)))
    assert found(got)[0] == len(PATIENTS) and "zip" in found(got)[1]
    no_whole_id(got)


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_an_archive_over_an_ftp_data_connection(tmp_path, method):
    """Deflated by a streaming writer (sizes after the data), or stored: the IDs then
    travel in clear inside it, and the evidence pcap holds none of them whole."""
    text = "".join(f"{k},{ident}\r\n" for k, ident in enumerate(PATIENTS)).encode()
    members = {"readme.txt": b"export\r\n", "patients.csv": text}
    data = F.zip_archive(members, method, streamed=method == zipfile.ZIP_DEFLATED)
    if method == zipfile.ZIP_DEFLATED:
        assert zipfile.ZipFile(io.BytesIO(data)).infolist()[1].flag_bits & 0x8
    got, _ = sensor_run(tmp_path, stream(segments(data), sport=20, dport=40001,
                                         src="10.200.1.20", dst="10.1.2.3"))
    assert found(got) == (len(PATIENTS), ["zip"])
    no_whole_id(got)
    pcaps = list((tmp_path / "evidence").glob("*.pcap"))
    assert pcaps and not any(ident.encode() in p.read_bytes()
                             for p in pcaps for ident in PATIENTS)


def test_a_stored_member_is_searched_past_the_inflation_bound(tmp_path, monkeypatch):
    """Stored bytes are what travelled (no amplification): the bound on inflated output
    does not stop them, so an ID past it in a stored member is found."""
    monkeypatch.setattr(N, "MAX_BODY", 4096)
    rows = "".join(f"{k},visit\r\n" for k in range(1000)) + f"9999,{PATIENTS[0]}\r\n"
    data = F.zip_archive({"list.csv": rows.encode()}, zipfile.ZIP_STORED)
    got, norm = sensor_run(tmp_path, stream(segments(data), sport=20, dport=40001,
                                            src="10.200.1.20", dst="10.1.2.3"))
    assert found(got) == (1, ["zip"]) and norm.refused["size"] == 0


def test_a_bomb_is_bounded_and_counted(tmp_path):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("sheet.xml", b"1" * (8 << 20))
    data = out.getvalue()
    got, norm = sensor_run(tmp_path, stream(segments(HEAD.replace(
        str(len(XLSX)).encode(), str(len(data)).encode()) + data), **SERVER))
    assert got == [] and norm.refused["ratio"] == 1


def test_what_cannot_be_opened_raises_nothing(tmp_path):
    """An encrypted member (its bytes are noise to whoever lacks the key) and a marker
    followed by no member header."""
    plain = zipfile.ZipFile(io.BytesIO(XLSX))
    cells = next(plain.read(n) for n in plain.namelist() if PATIENTS[0].encode() in plain.read(n))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        info = zipfile.ZipInfo("xl/worksheets/sheet1.xml")
        info.flag_bits |= 0x1            # encrypted: its data is not the text
        z.writestr(info, bytes(b ^ 0x5A for b in cells))
    fake = b"PK\x03\x04" + bytes(RNG.randrange(256) for _ in range(3000))
    got, norm = sensor_run(tmp_path, stream(segments(out.getvalue()), **SERVER),
                           stream([fake], sport=20, dport=40002, src="10.200.1.20",
                                  dst="10.1.2.3"))
    assert got == [] and not norm.streams


# --- a file in base64 inside a JSON or XML message ------------------------------------------

def upload_9101(archive: bytes, escape_slashes: bool = False, pad: int = 0) -> bytes:
    """The national interface's file upload (9101): the file's bytes in base64 in
    `fsUploadIn.in`, as Java's JSON writers put a byte[] (PHP's and .NET's escape `/`)."""
    body = json.dumps({"infno": "9101", "msgid": "H22010200001202612070001", "pad": "x" * pad,
                       "input": {"fsUploadIn": {"in": base64.b64encode(archive).decode(),
                                                "filename": "detail.zip",
                                                "fixmedins_code": "H22010200001"}}})
    if escape_slashes:
        body = body.replace("/", "\\/")
    return (b"POST /fsi/api/fileupload/upload HTTP/1.1\r\nHost: 10.200.1.20:8080\r\n"
            b"Content-Type: application/json;charset=utf-8\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body.encode())


DETAIL = "".join(f"{k}\t{PATIENTS[k % len(PATIENTS)]}\t120.50\n" for k in range(300)).encode()
DETAIL_ZIP = F.zip_archive({"detail.txt": DETAIL}, zipfile.ZIP_DEFLATED)


@pytest.mark.parametrize("escape_slashes", [False, True])
@pytest.mark.parametrize("pad,batches", [(0, "one"), (0, "each"), (5000, "each")])
def test_a_zip_uploaded_in_base64_in_json(tmp_path, escape_slashes, pad, batches):
    """The archive's base64 read as the platform reads it, across segments and batches;
    with `pad`, its value begins in a segment whose message start is out of sight."""
    req = upload_9101(DETAIL_ZIP, escape_slashes, pad)
    assert b"UEsDB" in req and (b"\\/" in req) == escape_slashes
    frames = stream(segments(req))
    got, norm = sensor_run(tmp_path, *([frames] if batches == "one" else [[f] for f in frames]))
    assert len(got) == 1 and found(got)[0] > 0 and found(got)[1] == ["base64", "zip"]
    no_whole_id(got)
    assert norm.decoded_bytes["zip"] == len(DETAIL) and not norm.streams   # all of it read


@pytest.mark.parametrize("cut", [1, 3, 5, 78, 79])
def test_a_gzip_file_in_base64_in_xml_cut_anywhere(tmp_path, cut):
    """`<data>H4sI...</data>` in MIME-style lines of 76, the segment cut inside the marker
    or inside a line break: the file inflated whole."""
    import gzip
    b64 = base64.encodebytes(gzip.compress(DETAIL, mtime=0)).replace(b"\n", b"\r\n")
    xml = b"<soap:Envelope><soap:Body><upload><data>" + b64 + b"</data></upload></soap:Body></soap:Envelope>"
    req = (b"POST /ws HTTP/1.1\r\nContent-Type: text/xml\r\nContent-Length: "
           + str(len(xml)).encode() + b"\r\n\r\n" + xml)
    at = req.index(b"H4sI") + cut - 2
    got, norm = sensor_run(tmp_path, stream([req[:at], req[at:]]))
    assert len(got) == 1 and found(got)[1] == ["base64", "gzip"]
    assert norm.decoded_bytes["gzip"] == len(DETAIL)


def test_files_in_base64_that_hold_no_personal_data_raise_nothing(tmp_path):
    """An image, an archive of nothing personal, a marker followed by no archive, a value
    cut short: nothing raised; only the one cut short is still read (its end may come)."""
    png = b"\x89PNG\r\n\x1a\n" + bytes(RNG.randrange(256) for _ in range(4000))
    plain = F.zip_archive({"readme.txt": b"no one in here\n" * 100}, zipfile.ZIP_DEFLATED)
    bodies = [json.dumps({"img": base64.b64encode(png).decode()}).encode(),
              upload_9101(plain), b'{"in":"UEsDBAAAnotazip"}',
              upload_9101(DETAIL_ZIP)[:300]]
    flows = [stream(segments(b), sport=41000 + k) for k, b in enumerate(bodies)]
    got, norm = sensor_run(tmp_path, [f for fl in flows for f in fl])
    assert got == [] and len(norm.streams) == 1 and norm.decoded_bytes["zip"] == 1500


def test_embedded_reads_the_same_whatever_the_pieces():
    """Fed a byte at a time or whole: the same text out, the same file read."""
    text = (b'{"a":"1","in":"' + base64.b64encode(DETAIL_ZIP).replace(b"/", b"\\/")
            + b'","b":"2"}<x>H4sI</x>')

    def read(pieces):
        out = []
        e = N.Embedded(lambda data, labels, at=None: out.append((bytes(data), labels)),
                       lambda reason: None, {"zlib": set(), "br": set()})
        for p in pieces:
            e.feed(p, ())
        joined: dict[tuple, bytes] = {}
        for data, labels in out:
            joined[labels] = joined.get(labels, b"") + data
        return joined

    whole = read([text])
    assert whole[()] == b'{"a":"1","in":"","b":"2"}<x></x>'
    assert whole[("base64", "zip")] == DETAIL
    # a marker cut by a piece's end passes its first characters on as text
    bytewise = read([text[i:i + 1] for i in range(len(text))])
    assert bytewise[("base64", "zip")] == DETAIL
    assert re.sub(rb"(?<=[\">])(?:UEsD|H4s)", b"", bytewise[()]) == whole[()]


# --- a gzip file sent as it is ----------------------------------------------------------------

def gzip_tool(data: bytes, name: bytes = b"detail.csv") -> bytes:
    """What `gzip detail.csv` writes: the file's name stored (FNAME), as the tool does."""
    import gzip
    plain = gzip.compress(data, mtime=0)
    return plain[:3] + b"\x08" + plain[4:10] + name + b"\x00" + plain[10:]


CSV = "".join(f"{k},{ident},120.50\r\n" for k, ident in enumerate(PATIENTS)).encode()


@pytest.mark.parametrize("batches", ["one", "each"])
def test_a_gzip_file_downloaded_over_http(tmp_path, batches):
    """A .csv.gz export served as it is (no Content-Encoding): whoever saves and opens
    it reads the list; so is it read here."""
    import gzip
    data = gzip.compress(CSV * 40, mtime=0)
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Disposition: "
            b"attachment; filename=\"detail.csv.gz\"\r\nContent-Length: "
            + str(len(data)).encode() + b"\r\n\r\n")
    frames = stream(segments(head + data), **SERVER)
    got, norm = sensor_run(tmp_path, *([frames] if batches == "one" else [[f] for f in frames]))
    assert len(got) == 1 and found(got)[1] == ["gzip"]
    assert norm.decoded_bytes["gzip"] == len(CSV) * 40 and not norm.streams
    no_whole_id(got)


def test_a_gzip_file_over_an_ftp_data_connection_and_attached_to_a_mail(tmp_path):
    import gzip
    ftp = stream(segments(gzip_tool(CSV)), sport=20, dport=40001, src="10.200.1.20",
                 dst="10.1.2.3")
    attachment = base64.encodebytes(gzip.compress(CSV, mtime=0)).replace(b"\n", b"\r\n")
    mail = (b"DATA\r\n" + b"From: a@h.cn\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed;"
            b" boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: application/gzip; name=\"d.csv.gz\""
            b"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + attachment + b"--b1--\r\n.\r\n")
    smtp = stream(segments(mail), sport=40002, dport=25)
    got, _ = sensor_run(tmp_path, ftp + smtp)
    assert sorted(tuple(a["evidence"]["decoded"]) for a in got) == [("base64", "gzip"), ("gzip",)]
    assert all(a["evidence"]["kinds"]["resident_id"] >= 1 for a in got)


def test_gzip_magic_in_binary_data_opens_nothing(tmp_path):
    """The markers inside random bytes (an image, an encrypted blob): no file header that
    gzip reads follows, or what follows does not inflate; nothing raised."""
    noise = bytes(RNG.randrange(256) for _ in range(3000))
    blobs = [noise[:100] + b"\x1f\x8b\x08\x00" + noise[100:],
             noise[:200] + b"\x1f\x8b\x08\x08\x00\x00\x00\x00\x00\x03" + noise[200:]]
    flows = [stream([b], sport=20, dport=41000 + k, src="10.200.1.20", dst="10.1.2.3")
             for k, b in enumerate(blobs)]
    got, norm = sensor_run(tmp_path, [f for fl in flows for f in fl])
    assert got == [] and not norm.streams
