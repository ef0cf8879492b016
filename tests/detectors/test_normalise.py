"""Application-layer normalisation before plaintext_pii matches (detectors/normalise.py):
HTTP framing and content codings, MIME parts, text encodings; each across segments and
batches, each byte searched once, bounded. Identifiers from tests/pii.py (synthetic)."""
from __future__ import annotations

import base64
import gzip
import json
import random
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

import fuzzing as F
import pii
from ybsensor.detectors import normalise as N
from ybsensor.detectors.normalise import Readable
from test_pii_detector import make_sensor, replay, seg, stream

RNG = random.Random(1313)
PERSON = pii.resident_id(RNG)
OTHER = pii.resident_id(RNG)
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "zeek"
if not CORPUS.is_dir():
    CORPUS = Path("/work/shared/corpus/zeek")
SERVER = dict(sport=8080, dport=40000, src="10.200.1.20", dst="10.1.2.3")


def sensor_run(tmp_path, *batches):
    s = make_sensor(tmp_path)
    replay(s, *batches)
    pii_detector = next(d for d in s.alerter.detectors if d.name == "plaintext_pii")
    s.close()
    path = tmp_path / "alerts.jsonl"
    got = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    return [a for a in got if a["detector"] == "plaintext_pii"], pii_detector.normaliser


def gzip_response(body: bytes, coding: bytes = b"gzip") -> bytes:
    coded = gzip.compress(body, mtime=0)
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: " + coding
            + b"\r\nContent-Length: " + str(len(coded)).encode() + b"\r\n\r\n" + coded)


def cut(data: bytes, *at: int) -> list[bytes]:
    edges = [0, *at, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:])]


# --- text encodings --------------------------------------------------------------------

def _full_width(s: str) -> str:
    return "".join(chr(0xFF10 + int(c)) if c.isdigit() else "Ｘ" for c in s)


@pytest.mark.parametrize("make,label", [
    (lambda s: ("head:" + s + ";tail").encode("utf-16-le"), "utf-16le"),
    (lambda s: ("head:" + s + ";tail").encode("utf-16-be"), "utf-16be"),
    (lambda s: b"head:" + _full_width(s).encode() + b";tail", "full-width"),
    (lambda s: b"head:" + _full_width(s).encode("gb18030") + b";tail", "full-width-gbk"),
    (lambda s: b"head:" + "".join(f"\\u{ord(c):04x}" for c in s).encode() + b";tail",
     "json-escape"),
    (lambda s: b"head:" + "".join(f"%{ord(c):02X}" for c in s).encode() + b";tail",
     "percent-encoded"),
    (lambda s: f"head:{s[:6]} {s[6:14]} {s[14:]};tail".encode(), "digit-groups"),
    (lambda s: b"head:" + base64.b64encode(s.encode()) + b";tail", "base64-inline"),
])
def test_readable_decodes_and_maps_back(make, label):
    raw = make(PERSON)
    r = Readable(raw)
    at = r.text.index(PERSON.encode())
    assert r.labels(at, at + 18) == [label]
    wide = label.startswith("utf-16")
    assert r.origin(at) == (10 if wide else 5)          # where the ID starts on the wire
    tail = ";tail".encode("utf-16-le" if label == "utf-16le" else "utf-16-be") if wide else b";tail"
    assert r.origin(r.text.index(b";tail")) == raw.index(tail)


def test_readable_maps_each_digit_of_groups_back():
    raw = f"tel: 138-1234-5678, id {PERSON[:6]} {PERSON[6:10]} {PERSON[10:14]} {PERSON[14:]}".encode()
    r = Readable(raw)
    assert r.text == f"tel: 13812345678, id {PERSON}".encode()
    for p, ch in enumerate(r.text):
        assert raw[r.origin(p)] == ch                  # every character, to its own byte


def test_readable_leaves_plain_text_alone():
    raw = f"id={PERSON}&x=1".encode()
    r = Readable(raw)
    assert r.text is raw and r.origin(3) == 3 and r.labels(0, len(raw)) == []


# --- streams through the sensor --------------------------------------------------------

def test_gzip_body_across_segments_and_batches(tmp_path):
    body = json.dumps({"output": {"certno": PERSON}}).encode() + b" " * 300
    resp = gzip_response(body)
    frames = stream(cut(resp, 100, 120, 140), **SERVER)       # headers, then the gzip in three
    got, norm = sensor_run(tmp_path, *[[f] for f in frames])
    assert len(got) == 1
    ev = got[0]["evidence"]
    assert ev["kinds"] == {"insurance_field": 1, "resident_id": 1}
    assert ev["decoded"] == ["gzip"] and PERSON not in json.dumps(got[0])
    assert norm.decoded_bytes["gzip"] == len(body)
    assert not norm.streams                   # the message ended: back to the fast path


def test_chunk_size_line_inside_the_id_across_batches(tmp_path):
    head = b'{"idcard":"' + PERSON.encode()[:10]
    rest = PERSON.encode()[10:] + b'"}'
    body = b"%x\r\n" % len(head) + head + b"\r\n%x\r\n" % len(rest) + rest + b"\r\n0\r\n\r\n"
    req = b"POST /v HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    at = req.index(b"\r\n%x\r\n" % len(rest)) + 3           # inside the second size line
    got, _ = sensor_run(tmp_path, *[[f] for f in stream(cut(req, at))])
    assert len(got) == 1 and got[0]["evidence"]["kinds"] == {"resident_id": 1}
    assert got[0]["evidence"]["decoded"] == ["chunked"]


def test_a_byte_is_searched_once(tmp_path):
    """The ID lies whole in one chunk: raw and decoded both could see it; counted once."""
    body = f'{{"idcard":"{PERSON}"}}'.encode()
    req = (b"POST /v HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
           + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    got, _ = sensor_run(tmp_path, [seg(req)])
    assert len(got) == 1 and got[0]["evidence"]["kinds"] == {"resident_id": 1}


def test_keep_alive_messages_and_identity_fast_path(tmp_path):
    """A gzip answer then a plain one on the same connection: each ID found once, the
    plain answer's offset exact."""
    plain_body = f'{{"certno":"{OTHER}"}}'.encode()
    plain = (b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(plain_body)).encode()
             + b"\r\n\r\n" + plain_body)
    first = gzip_response(f'{{"certno":"{PERSON}"}}'.encode())
    got, norm = sensor_run(tmp_path, stream([first + plain], **SERVER))
    ev = got[0]["evidence"]
    assert ev["kinds"] == {"insurance_field": 2, "resident_id": 2}
    assert len(ev["masked"]) == 2 and not norm.streams


def test_mail_base64_split_across_batches(tmp_path):
    text = f"身份证号：{PERSON}\r\n".encode() * 3
    part = base64.encodebytes(text).replace(b"\n", b"\r\n")
    msg = (b"Subject: x\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + part + b"--q--\r\n.\r\n")
    at = msg.index(b"base64\r\n\r\n") + 10
    frames = stream(cut(msg, at + 7, at + 31, at + 50), dport=25)
    got, _ = sensor_run(tmp_path, *[[f] for f in frames])
    assert len(got) == 1
    ev = got[0]["evidence"]
    assert ev["kinds"] == {"resident_id": 3} and ev["decoded"] == ["base64"]


def test_bomb_is_bounded_and_counted(tmp_path):
    bomb = gzip.compress(b"1" * (8 << 20), mtime=0)
    resp = (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: "
            + str(len(bomb)).encode() + b"\r\n\r\n" + bomb)
    frames = stream([resp[i:i + 1400] for i in range(0, len(resp), 1400)], **SERVER)
    got, norm = sensor_run(tmp_path, frames)
    assert got == []
    assert norm.refused["ratio"] == 1
    # stopped within a step of the ratio cap, reached in the first segment
    assert norm.decoded_bytes["gzip"] <= max(N.RATIO_FROM, N.MAX_RATIO * 1400) + N.STEP


def test_output_cap(monkeypatch):
    monkeypatch.setattr(N, "MAX_RATIO", 10 ** 9)
    refused = []
    inflater = N.Inflater("gzip", refused.append)
    out = inflater.feed(gzip.compress(b"a" * (N.MAX_BODY + 5000)))
    assert len(out) == N.MAX_BODY and refused == ["size"]


def test_corrupt_coding_is_counted_and_raises_nothing(tmp_path):
    junk = f"not gzip {PERSON}".encode()
    resp = (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: "
            + str(len(junk)).encode() + b"\r\n\r\n" + junk)
    got, norm = sensor_run(tmp_path, [seg(resp, **SERVER)])
    assert got == [] and norm.refused["corrupt"] == 1


def test_stream_table_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(N, "MAX_STREAMS", 4)
    head = b"POST /v HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 999\r\n\r\nx="
    frames = [seg(head, sport=41000 + k) for k in range(10)]      # bodies never complete
    _, norm = sensor_run(tmp_path, frames)
    assert len(norm.streams) == 4 and norm.given_up["streams"] == 6


def test_normaliser_metrics_exported(tmp_path):
    s = make_sensor(tmp_path)
    replay(s, [seg(gzip_response(b"{}"), **SERVER)])
    names = {m.name for m in s.metrics.registry.collect()}
    s.close()
    assert {"ybsensor_decompression_refused", "ybsensor_normaliser_given_up",
            "ybsensor_normalised_bytes"} <= names


# --- Zeek's traces -----------------------------------------------------------------------

def decoded_text(path: Path, monkeypatch) -> tuple[bytes, N.Normaliser]:
    """Replay a capture; every decoded text the normaliser gave plaintext_pii."""
    seen = []
    run = N.Normaliser.run

    def spy(self, ctx, view):
        consumed, pieces = run(self, ctx, view)
        seen.extend(p.text[p.lo:p.hi] for p in pieces)
        return consumed, pieces
    monkeypatch.setattr(N.Normaliser, "run", spy)
    from test_cases import replay as cli_replay
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "c.toml"
        cfg.write_text('[network]\nprivate = ["10.0.0.0/8"]\n[detectors.plaintext_pii]\n'
                       'hash_key = "k"\n')
        cli_replay(path, cfg, Path(d) / "a.jsonl")
    return b"".join(seen)


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not here")
    return path


def test_zeek_get_gzip_body_is_read(monkeypatch):
    text = decoded_text(need(CORPUS / "http" / "get-gzip.pcap"), monkeypatch)
    assert b'"gzipped": true' in text and b'"method": "GET"' in text


def test_zeek_x_gzip_body_is_read(monkeypatch):
    path = need(CORPUS / "http" / "x-gzip.pcap")
    text = decoded_text(path, monkeypatch)
    # tshark shows the inflated body; its first line is text
    assert text and b"\x1f\x8b" not in text


TRACES = ["http/deeply-nested-mime.pcap", "http/multipart.pcap", "http/missing-zlib-header.pcap",
          *[f"http/261/{p.name}" for p in sorted((CORPUS / "http" / "261").glob("*.pcap"))],
          *[f"smtp/{p.name}" for p in sorted((CORPUS / "smtp").glob("*.pcap"))],
          "smtp/smtp-bdat-cmd-invalid.pcapng"]


@pytest.mark.parametrize("name", TRACES)
def test_zeek_traces_go_through(name, monkeypatch):
    decoded_text(need(CORPUS / name), monkeypatch)


def test_zeek_deflate_without_zlib_header_is_read(monkeypatch):
    text = decoded_text(need(CORPUS / "http" / "missing-zlib-header.pcap"), monkeypatch)
    assert b"function" in text


# --- fuzzing ---------------------------------------------------------------------------

def test_fuzz_helpers_decode_the_plain_message():
    body = b'{"a": 1}' * 40
    msg = F.http_message(body, chunks=[7, 100, 200], coding="gzip")
    assert body in F.normalised([msg])


def test_zeek_multipart_form_fields_are_read(monkeypatch):
    text = decoded_text(need(CORPUS / "http" / "multipart.pcap"), monkeypatch)
    assert b"example2=test2" in text and b"example3=test3" in text


def test_zeek_smtp_base64_attachment_is_read(monkeypatch):
    text = decoded_text(need(CORPUS / "smtp" / "rfc3030-bdat-multipart.pcap"), monkeypatch)
    assert b"\x89PNG\r\n" in text and b"This is Zeek's logo." in text


# --- nothing whole leaves the sensor ----------------------------------------------------

def _forms(secret: str) -> list[bytes]:
    wide = "".join(chr(0xFF10 + int(c)) if c.isdigit() else "Ｘ" for c in secret)
    return [secret.encode(), secret.encode("utf-16-le"), secret.encode("utf-16-be"),
            wide.encode(), wide.encode("gb18030"),
            "".join(f"\\u{ord(c):04x}" for c in secret).encode()]


def test_no_output_of_the_normalisation_cases_holds_an_identifier(tmp_path):
    """Not in the bytes written, nor in what tshark shows of the evidence pcaps once it
    has undone what it undoes (TCP reassembly, chunked, gzip and deflate bodies, base64
    mail parts, WebSocket masks): the sensor's outputs of every case whose items were read
    decoded."""
    import subprocess
    import sys

    import tools
    tshark = tools.require_tool("tshark")
    env = tools.tshark_env(tmp_path / "wireshark-config")
    root = Path(__file__).resolve().parents[2] / "pcaps"
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from casegen import normalisation as cases
    from test_cases import replay as cli_replay
    # the cases whose expected alerts name the decodings that revealed their items
    names = sorted(p.parent.name for p in (root / "cases").glob("*/expected.jsonl")
                   if '"decoded"' in p.read_text())
    assert names, "no case expects decoded items"
    found = 0
    for name in names:
        case = root / "cases" / name
        out = tmp_path / name
        out.mkdir()
        found += len(cli_replay(case / "input.pcap", case / "config.toml", out / "alerts.jsonl"))
        files = [p for p in out.rglob("*") if p.is_file()]
        assert any(p.suffix == ".pcap" for p in files), name          # evidence was written
        for p in files:
            shown = [p.read_bytes()]
            if p.suffix == ".pcap":
                shown.append(subprocess.run(
                    [tshark, *tools.tshark_args(), "-r", str(p), "-V", "-x"], env=env,
                    capture_output=True, timeout=120, check=True).stdout)
            for data in shown:
                for secret in (cases.PERSON, cases.SECOND, cases.MOBILE):
                    for form in _forms(secret):
                        assert form not in data, f"{name}: {p.name} holds {secret[:3]}..."
    assert found >= len(names)


@pytest.mark.parametrize("framing", ["pop3", "imap"])
def test_mail_retrieved_by_pop3_and_imap(tmp_path, framing):
    part = base64.encodebytes(f"证件 {PERSON}\r\n".encode()).replace(b"\n", b"\r\n")
    msg = (b"Subject: r\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n\r\n" + part)
    if framing == "pop3":           # RETR's answer: +OK, the message, a lone dot
        answer, port = b"+OK message follows\r\n" + msg + b".\r\n", 110
    else:                           # FETCH's answer: the message as a literal
        answer = b"* 1 FETCH (BODY[] {%d}\r\n" % len(msg) + msg + b")\r\na1 OK FETCH done\r\n"
        port = 143
    got, norm = sensor_run(tmp_path, [seg(answer, sport=port, dport=40000, src="10.200.1.20",
                                          dst="10.1.2.3")])
    assert not norm.streams             # the message's end: back to the fast path
    assert len(got) == 1
    assert got[0]["evidence"]["kinds"] == {"resident_id": 1}
    assert got[0]["evidence"]["decoded"] == ["base64"]


def test_live_decoders_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(N, "MAX_DECODERS", 3)
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9999\r\n\r\n"
    partial = gzip.compress(f'{{"certno":"{PERSON}"}}'.encode() + b" " * 2000)[:40]
    frames = [seg(head + partial, sport=8080, dport=41000 + k, src="10.200.1.20", dst="10.1.2.3")
              for k in range(5)]                                  # five bodies never finished
    _, norm = sensor_run(tmp_path, frames)
    assert len(norm.streams) == 5
    assert len(norm.live["zlib"]) == 3 and norm.refused["busy"] == 2


def test_a_run_begun_before_the_parsed_region_is_not_cut(tmp_path):
    """Region A (searched raw) ends with ten digits; region B opens a parser and begins
    with eleven more that alone would be a mobile number: the run is 21 digits, no
    identifier, for the parser too."""
    a = b"POST /a HTTP/1.1\r\nContent-Length: 23\r\n\r\n" + b"4" * 10
    b = (b"13912345678\r\nPOST /b HTTP/1.1\r\nContent-Encoding: gzip\r\n"
         b"Content-Length: 0\r\n\r\n")
    got, _ = sensor_run(tmp_path, stream([a, b]))
    assert got == []


def test_mime_decodes_the_same_however_the_message_is_cut():
    """Base64 parts (whole lines decoded a run at a time) and quoted-printable ones, with
    padding inside the body and stray lines: the decoded text is the same whole, in pieces
    and a byte at a time."""
    import random
    from email.message import EmailMessage

    from ybsensor.detectors.normalise import Mime

    def decoded(pieces: list[bytes]) -> tuple[bytes, list]:
        out = []
        mime = Mime(lambda data, labels, at=None: out.append((data, labels)), mail=True)
        for piece in pieces:
            mime.feed(piece)
        mime.finish()
        return b"".join(d for d, _ in out), sorted({labels for d, labels in out if d and labels})

    rnd = random.Random(5)
    for _ in range(60):
        msg = EmailMessage()
        msg["Subject"] = "report"
        msg.set_content("text " * rnd.randint(0, 40), cte=rnd.choice(["base64", "quoted-printable"]))
        msg.add_attachment(bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 500))),
                           maintype="application", subtype="octet-stream", filename="a.bin")
        raw = msg.as_bytes().replace(b"\n", b"\r\n")
        for _ in range(rnd.choice([0, 2])):     # padding mid-body, a stray line
            at = rnd.randrange(len(raw))
            raw = raw[:at] + rnd.choice([b"==\r\n", b"A=\r\n", b"\r\n\r\n"]) + raw[at:]
        raw += b"\r\n.\r\n"
        whole = decoded([raw])
        cuts = sorted(rnd.randrange(len(raw)) for _ in range(5))
        assert decoded([raw[a:b] for a, b in zip([0] + cuts, cuts + [len(raw)])]) == whole
        assert decoded([raw[i:i + 1] for i in range(len(raw))]) == whole


BINARY = bytes(range(0x80, 0xC0)) * 3      # bytes that begin no HTTP message


def test_bytes_after_a_message_that_are_no_http_go_back_to_the_raw_path(tmp_path):
    """A gzip answer, then bytes of another protocol in the same segment: the stream leaves
    the parser there; the identifier a later segment carries is found at that segment,
    searched raw."""
    first = gzip_response(b'{"ok":1}') + BINARY
    later = BINARY + f'certno={PERSON};'.encode() + BINARY
    got, norm = sensor_run(tmp_path, stream([first, later], **SERVER))
    assert len(got) == 1 and got[0]["first_frame"] == 2 and got[0]["packets"] == 1
    assert got[0]["evidence"]["offset"] == len(BINARY)       # where `certno` starts
    assert "decoded" not in got[0]["evidence"]
    assert not norm.streams and norm.given_up["header"] == 0


def test_an_identifier_across_the_segment_where_the_parser_is_left(tmp_path):
    """The bytes after the message end with the first half of an identifier; the next
    segment (searched raw) holds the rest: found once, at the segment completing it, its
    offset negative (it began in the segment before)."""
    half = 9
    first = gzip_response(b'{"ok":1}') + BINARY + b"id=" + PERSON.encode()[:half]
    later = PERSON.encode()[half:] + b";" + BINARY
    got, norm = sensor_run(tmp_path, stream([first, later], **SERVER))
    assert len(got) == 1 and got[0]["first_frame"] == 2 and got[0]["packets"] == 1
    ev = got[0]["evidence"]
    assert ev["kinds"] == {"resident_id": 1} and ev["offset"] == -half
    assert not norm.streams


@pytest.mark.parametrize("framing", [b"Content-Length: 5000\r\n", b"Transfer-Encoding: chunked\r\n", b""])
def test_an_answer_to_head_has_no_body(tmp_path, framing):
    """An answer to HEAD carries the headers a GET would get (the length, chunked, or
    neither) and no body (RFC 9112 6.3): the next answer on the connection, a gzip one
    holding an identifier, is read as an answer and not as that body, in its own batch
    (the client's GET came between)."""
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            + framing + b"\r\n")
    answer = gzip_response(f'{{"certno":"{PERSON}"}}'.encode())
    got, norm = sensor_run(tmp_path, *[[f] for f in stream([head, answer], **SERVER)])
    assert len(got) == 1 and got[0]["first_frame"] == 2
    assert got[0]["evidence"]["decoded"] == ["gzip"]
    assert norm.refused["corrupt"] == 0 and not norm.streams


def test_a_body_that_begins_like_text_is_still_a_body(tmp_path):
    """The test for an answer to HEAD reads a status line only: a body whose bytes begin
    with other text (here `HTTP` in a word) is the body its length says."""
    body = f'HTTP-style note; certno={PERSON};'.encode()
    coded = gzip.compress(body, mtime=0)
    answer = (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: "
              + str(len(coded)).encode() + b"\r\n\r\n")
    got, norm = sensor_run(tmp_path, *[[f] for f in stream([answer, coded], **SERVER)])
    assert len(got) == 1 and got[0]["evidence"]["decoded"] == ["gzip"]


@pytest.mark.parametrize("split", [0, 1, 2, 7])
def test_gzip_members_are_read_in_turn(tmp_path, split):
    """A gzip body is a series of members (RFC 1952 2.2), as a server that compresses
    each flush on its own sends it; the identifier in the second member is found, cut
    from the first `split` bytes into the second (1: inside the magic)."""
    first = gzip.compress(b'{"note":"' + b"x" * 60 + b'",', mtime=0)
    second = gzip.compress(f'"certno":"{PERSON}"}}'.encode(), mtime=0)
    coded = first + second
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: " + str(len(coded)).encode() + b"\r\n\r\n")
    parts = [head + coded[:len(first) + split], coded[len(first) + split:]]
    got, norm = sensor_run(tmp_path, *[[f] for f in stream(parts, **SERVER)])
    assert len(got) == 1 and got[0]["evidence"]["decoded"] == ["gzip"]
    assert norm.decoded_bytes["gzip"] == len(gzip.decompress(coded))
    assert norm.refused["corrupt"] == 0


def test_bytes_after_the_last_member_are_no_content():
    """After a member, bytes that begin no member (or after a deflate stream, any bytes)
    are not content: nothing of them comes out."""
    tail = f"certno={PERSON}".encode()
    for coding, coded in (("gzip", gzip.compress(b"ok", mtime=0)),
                          ("deflate", zlib.compress(gzip.compress(b"ok", mtime=0)))):
        refused = []
        inflater = N.Inflater(coding, refused.append)
        out = inflater.feed(coded + tail) + inflater.feed(tail)
        assert PERSON.encode() not in out and refused == []


def test_zstd_body_across_segments(tmp_path):
    """`Content-Encoding: zstd` (RFC 8878), as browsers accept it: the body cut into
    segments of 7 bytes, in batches of their own."""
    import zstandard
    body = json.dumps({"output": {"certno": PERSON}}).encode() + b" " * 300
    coded = zstandard.ZstdCompressor().compress(body)
    resp = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: zstd\r\n"
            b"Content-Length: " + str(len(coded)).encode() + b"\r\n\r\n" + coded)
    start = len(resp) - len(coded)
    frames = stream(cut(resp, *range(start, len(resp), 7)), **SERVER)
    got, norm = sensor_run(tmp_path, *[[f] for f in frames])
    assert len(got) == 1 and got[0]["evidence"]["decoded"] == ["zstd"]
    assert norm.decoded_bytes["zstd"] == len(body) and not norm.streams


def test_zstd_bomb_is_bounded_and_counted():
    """A zstd frame of 64 MiB of one byte, a few KiB compressed: decoding stops at a cap
    (the body's output, here before the ratio's), never holding more than the body's cap;
    bytes after the frame are no content."""
    import zstandard
    bomb = zstandard.ZstdCompressor(level=19).compress(b"1" * (64 << 20))
    refused = []
    inflater = N.Inflater("zstd", refused.append)
    out = inflater.feed(bomb)
    assert len(refused) == 1 and refused[0] in ("size", "ratio") and len(out) <= N.MAX_BODY
    tail = f"certno={PERSON}".encode()
    assert PERSON.encode() not in N.Inflater("zstd", refused.append).feed(
        zstandard.ZstdCompressor().compress(b"ok") + tail)


def websocket_session(client_messages: list[str], server_messages: list[str],
                      deflate: bool) -> tuple[list[bytes], list[bytes]]:
    """The bytes each end sends, as wsproto (an independent RFC 6455 implementation) makes
    them: the handshake, then each message (the client's masked; with `deflate`, both
    compressed by permessage-deflate, RFC 7692)."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request, TextMessage
    from wsproto.extensions import PerMessageDeflate

    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    ext = (lambda: [PerMessageDeflate()]) if deflate else list
    sent = [client.send(Request(host="10.200.1.20", target="/ws", extensions=ext()))]
    server.receive_data(sent[0])
    assert any(isinstance(e, Request) for e in server.events())
    answered = [server.send(AcceptConnection(extensions=ext()))]
    client.receive_data(answered[0])
    list(client.events())
    sent += [client.send(TextMessage(data=m)) for m in client_messages]
    answered += [server.send(TextMessage(data=m)) for m in server_messages]
    return sent, answered


@pytest.mark.parametrize("deflate", [False, True])
@pytest.mark.parametrize("carrier", ["client", "server"])
def test_websocket_messages_are_read_as_the_receiver_reads_them(tmp_path, deflate, carrier):
    """A web application's WebSocket: the client's frames are masked (every browser masks
    them), and with permessage-deflate (browsers offer it) each message is compressed with
    the window kept from the one before. The identifier in the second message of
    `carrier` (which refers back into the first's window) is found there, once, each frame
    in a batch of its own."""
    first = json.dumps({"op": "query", "note": "x" * 40})
    second = json.dumps({"op": "query", "certno": PERSON, "note": "x" * 40})
    plain = [first, json.dumps({"op": "noop", "note": "x" * 40})]
    talk = (([first, second], plain) if carrier == "client" else (plain, [first, second]))
    sent, answered = websocket_session(*talk, deflate)
    assert all(PERSON.encode() not in b for b in sent[1:])       # masked on the wire
    client = stream(sent, sport=40000, dport=8080, src="10.1.2.3", dst="10.200.1.20")
    server = stream(answered, **SERVER)
    frames = [client[0], server[0], client[1], server[1], client[2], server[2]]
    got, norm = sensor_run(tmp_path, *[[f] for f in frames])
    assert len(got) == 1 and got[0]["packets"] == 1
    assert got[0]["first_frame"] == (5 if carrier == "client" else 6)
    ev = got[0]["evidence"]
    assert ev["kinds"] == {"insurance_field": 1, "resident_id": 1}
    decoded = ["websocket", "deflate"] if deflate else ["websocket"]
    assert ev.get("decoded", []) == (decoded if deflate or carrier == "client" else [])
    assert norm.refused["corrupt"] == 0 and norm.given_up["gap"] == 0


def test_a_refused_websocket_goes_back_to_http(tmp_path):
    """A handshake the server refuses (a 403): the client's next bytes are a new HTTP
    request, not frames; its gzip answer is read as HTTP."""
    sent, _ = websocket_session([], [], deflate=False)
    refused = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"
    answer = gzip_response(f'{{"certno":"{PERSON}"}}'.encode())
    client = stream([sent[0], b"GET /api HTTP/1.1\r\nHost: 10.200.1.20\r\n\r\n"],
                    sport=40000, dport=8080, src="10.1.2.3", dst="10.200.1.20")
    server = stream([refused, answer], **SERVER)
    got, norm = sensor_run(tmp_path, *[[f] for f in (client[0], server[0], client[1], server[1])])
    assert len(got) == 1 and got[0]["first_frame"] == 4
    assert got[0]["evidence"]["decoded"] == ["gzip"]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_websocket_decodes_the_same_however_the_stream_is_cut(data):
    """wsproto's frames (masked or not, deflated or not, messages of many sizes, some split
    into fragments) read whole, in random pieces and with damage never raise; whole and in
    pieces they give the messages wsproto was given."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request, TextMessage
    from wsproto.extensions import PerMessageDeflate

    deflate = data.draw(st.booleans(), label="deflate")
    client_side = data.draw(st.booleans(), label="client")
    texts = data.draw(st.lists(st.text(max_size=300), min_size=1, max_size=5), label="texts")
    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    ext = (lambda: [PerMessageDeflate()]) if deflate else list
    request = client.send(Request(host="h", target="/", extensions=ext()))
    server.receive_data(request)
    list(server.events())
    answer = server.send(AcceptConnection(extensions=ext()))
    client.receive_data(answer)
    list(client.events())
    end = client if client_side else server
    raw = (request if client_side else answer) + b"".join(
        end.send(TextMessage(data=t, message_finished=not split))
        + (end.send(TextMessage(data="", message_finished=True)) if split else b"")
        for t, split in zip(texts, data.draw(st.lists(st.booleans(), min_size=len(texts),
                                                      max_size=len(texts)))))

    def decoded(pieces: list[bytes]) -> bytes:
        out = []
        http = N.Http(lambda d, labels, at=None: out.append(d), lambda r: None,
                      lambda r: None, None)
        for piece in pieces:
            http.feed(piece)
        return b"".join(out)

    whole = decoded([raw])
    assert whole.endswith("".join(texts).encode())
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=6), label="cuts"))
    assert decoded([raw[a:b] for a, b in zip([0] + cuts, cuts + [len(raw)])]) == whole
    damaged = bytearray(raw)
    for at in data.draw(st.lists(st.integers(0, len(raw) - 1), max_size=4), label="damage"):
        damaged[at] ^= 0x5A
    decoded([bytes(damaged)])


def _headers_read(raw: bytes) -> tuple[bytes, set]:
    """What a mail parser writes of `raw` (whole lines), and the decodings it names."""
    out = []
    mime = N.Mime(lambda data, labels, at=None: out.append((data, labels)), mail=True)
    mime.feed(raw)
    mime.finish()
    return b"".join(d for d, _ in out), {x for d, labels in out if d and labels for x in labels}


@pytest.mark.parametrize("charset,cte,label", [("utf-8", "b", "base64"),
                                               ("gb2312", "b", "base64"),
                                               ("utf-8", "q", "quoted-printable")])
def test_encoded_words_in_headers_are_read_joined(charset, cte, label):
    """RFC 2047: a subject that is not ASCII (every Chinese one) goes as encoded words; a
    mailer cuts a long one into several, folded over lines, anywhere. A mail reader joins
    adjacent words; so does the parser. A `=?` that is no encoded word is passed on as
    it is. (The standard `email` package writes the words.)"""
    from email.charset import BASE64, QP, Charset
    from email.header import Header

    subject = f"患者张三 身份证号{PERSON}，请核对就诊记录与结算单" * 2
    coding = Charset(charset)
    coding.header_encoding = BASE64 if cte == "b" else QP
    value = Header(subject, coding, maxlinelen=60).encode(linesep="\r\n")
    raw = (f"Subject: {value}\r\nX-Link: http://h/?a=?b\r\nContent-Transfer-Encoding: "
           f"7bit\r\n\r\nbody\r\n.\r\n").encode()
    assert raw.count(b"?=\r\n =?") >= 2        # words folded over lines, side by side
    text, labels = _headers_read(raw)
    assert subject.encode(charset) in text and label in labels
    assert b"X-Link: http://h/?a=?b\r\n" in text


def test_an_identifier_in_a_mails_encoded_subject_is_found(tmp_path):
    """A hospital clerk's mail, as the standard library's mailer writes it: the Chinese
    subject in UTF-8 encoded words, which cut the identifier between two of them."""
    from email.message import EmailMessage
    import email.policy

    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"], msg["To"] = "his@hosp.example", "desk@ybj.example"
    msg["Subject"] = f"患者身份证号：{PERSON}，请核对" + "说明" * 10
    msg.set_content("见附件，谢谢。")
    raw = msg.as_bytes()
    assert PERSON.encode() not in raw.replace(b"\r\n ", b"")
    session = [b"EHLO his\r\n", b"MAIL FROM:<his@hosp.example>\r\n",
               b"RCPT TO:<desk@ybj.example>\r\n", b"DATA\r\n", raw + b".\r\n"]
    got, norm = sensor_run(tmp_path, *[[f] for f in stream(session, dport=25)])
    assert len(got) == 1 and got[0]["first_frame"] == 5
    assert got[0]["evidence"]["kinds"]["resident_id"] == 1
    assert got[0]["evidence"]["decoded"] == ["base64"]
