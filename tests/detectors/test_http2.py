"""Cleartext HTTP/2 (RFC 9113: prior knowledge, as gRPC speaks it, or an `Upgrade: h2c`)
read as its receiver reads it before plaintext_pii matches (detectors/normalise.py
`Http2`): header blocks HPACK-decoded (RFC 7541; values Huffman-coded on the wire), DATA
through each stream's body (content codings, gRPC messages). The frames are made by h2, an
independent HTTP/2 implementation (the one httpx uses). Identifiers from tests/pii.py."""
from __future__ import annotations

import base64
import gzip
import json
import random

import pytest
from hypothesis import given, settings, strategies as st

import pii
from ybsensor.detectors import normalise as N
from test_normalise import SERVER, sensor_run, stream

RNG = random.Random(2929)
PERSON = pii.resident_id(RNG)
CLIENT = dict(sport=40000, dport=8080, src="10.1.2.3", dst="10.200.1.20")


def h2_pair(upgrade: bool = False):
    """An HTTP/2 client and server (h2), connected: the bytes each sent to open."""
    from h2.config import H2Configuration
    from h2.connection import H2Connection

    client = H2Connection(H2Configuration(client_side=True))
    server = H2Connection(H2Configuration(client_side=False))
    if upgrade:
        settings_header = client.initiate_upgrade_connection()
        server.initiate_upgrade_connection(settings_header)
    else:
        client.initiate_connection()
        server.initiate_connection()
    sent, answered = client.data_to_send(), server.data_to_send()
    server.receive_data(sent)
    client.receive_data(answered)
    return client, server, sent, answered


def exchange(request_headers, request_body: bytes | None, response_headers,
             response_chunks: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """The bytes each end sends for one request and its answer on stream 1, the answer's
    body written in `response_chunks` (each its own DATA frame, as a server writes it)."""
    client, server, opened, answered = h2_pair()
    client.send_headers(1, request_headers, end_stream=request_body is None)
    if request_body is not None:
        client.send_data(1, request_body, end_stream=True)
    request = client.data_to_send()
    server.receive_data(request)
    server.send_headers(1, response_headers)
    for k, chunk in enumerate(response_chunks):
        server.send_data(1, chunk, end_stream=k == len(response_chunks) - 1)
    return [opened, request], [answered + server.data_to_send()]


def request_headers(path="/api/query", method="POST", **extra):
    return [(":method", method), (":path", path), (":scheme", "http"),
            (":authority", "10.200.1.20:8080"), *extra.items()]


def alternating(sent, answered) -> list[bytes]:
    """Each end's bytes as one segment each, the two ends taking turns."""
    client, server = stream(sent, **CLIENT), stream(answered, **SERVER)
    return [f for pair in zip(client, server) for f in pair] + client[len(server):] \
        + server[len(client):]


def run(tmp_path, sent, answered):
    """The plaintext_pii alerts and the normaliser of a replay of `alternating`, a batch a
    segment."""
    frames = alternating(sent, answered)
    return sensor_run(tmp_path, *[[f] for f in frames]), frames


@pytest.mark.parametrize("coding", ["identity", "gzip"])
@pytest.mark.parametrize("carrier", ["request", "response"])
def test_a_body_over_cleartext_http2_is_read(tmp_path, coding, carrier):
    """A JSON body with an identifier, in the request or in the answer, plain or gzip: the
    server side is read from its first frame on (it sends no marker of its own)."""
    record = json.dumps({"certno": PERSON, "note": "x" * 40}).encode()
    body = gzip.compress(record, mtime=0) if coding == "gzip" else record
    coded = {"content-encoding": "gzip"} if coding == "gzip" else {}
    plain = json.dumps({"op": "noop"}).encode()
    if carrier == "request":
        sent, answered = exchange(request_headers(**{"content-type": "application/json"},
                                                  **coded), body,
                                  [(":status", "200"), ("content-type", "application/json")],
                                  [plain])
    else:
        sent, answered = exchange(request_headers(method="GET"), None,
                                  [(":status", "200"), ("content-type", "application/json"),
                                   *coded.items()], [body])
    (got, norm), frames = run(tmp_path, sent, answered)
    assert len(got) == 1, got
    carrier_frame = frames.index(stream(sent, **CLIENT)[1]) if carrier == "request" \
        else frames.index(stream(answered, **SERVER)[0])
    assert got[0]["first_frame"] == carrier_frame + 1
    assert got[0]["evidence"]["kinds"]["resident_id"] == 1
    assert got[0]["evidence"]["decoded"] == (["http2", "gzip"] if coding == "gzip" else ["http2"])
    assert norm.refused["corrupt"] == 0 and norm.given_up["unsynced"] == 0


def test_an_identifier_in_a_huffman_coded_path_is_read(tmp_path):
    """A query string in `:path`: h2 codes the value with HPACK's Huffman code, so the
    digits are not on the wire; decoded, they are."""
    sent, answered = exchange(request_headers(path=f"/patient?certno={PERSON}", method="GET"),
                              None, [(":status", "204")], [])
    assert not any(PERSON.encode() in b for b in sent)
    (got, norm), _ = run(tmp_path, sent, answered)
    assert len(got) == 1 and got[0]["evidence"]["decoded"] == ["hpack"]
    assert got[0]["first_frame"] == 3          # the client's second segment: its HEADERS


def test_an_identifier_across_two_data_frames_is_read_whole(tmp_path):
    """A server writing its answer in two DATA frames, the identifier cut between them:
    the frame header between its halves is not part of the body."""
    record = json.dumps({"certno": PERSON}).encode()
    cut_at = record.index(PERSON.encode()) + 9
    sent, answered = exchange(request_headers(method="GET"), None,
                              [(":status", "200"), ("content-type", "application/json")],
                              [record[:cut_at], record[cut_at:]])
    assert PERSON.encode() not in answered[0]
    (got, _), _ = run(tmp_path, sent, answered)
    assert len(got) == 1 and got[0]["evidence"]["kinds"]["resident_id"] == 1


def grpc_message(payload: bytes, compress: bool) -> bytes:
    data = gzip.compress(payload, mtime=0) if compress else payload
    return bytes([compress]) + len(data).to_bytes(4, "big") + data


def test_a_grpc_answer_compressed_per_message_is_read(tmp_path):
    """gRPC over cleartext HTTP/2 (a service mesh's internal calls): length-prefixed
    messages, each gzip-compressed on its own (`grpc-encoding: gzip`), the identifier in a
    protobuf string field of the second."""
    field = PERSON.encode()
    proto = b"\x0a" + bytes([len(field)]) + field      # field 1, a string
    messages = grpc_message(b"\x08\x01", True) + grpc_message(proto, True)
    sent, answered = exchange(
        request_headers(path="/insurance.v1.Records/Get", **{"content-type": "application/grpc",
                                                           "te": "trailers"}),
        grpc_message(b"\x08\x2a", False),
        [(":status", "200"), ("content-type", "application/grpc"), ("grpc-encoding", "gzip")],
        [messages])
    assert field not in answered[0]
    (got, norm), _ = run(tmp_path, sent, answered)
    assert len(got) == 1, got
    assert got[0]["evidence"]["decoded"] == ["http2", "grpc", "gzip"]
    assert norm.refused["corrupt"] == 0


def test_an_h2c_upgrade_is_followed(tmp_path):
    """curl's `--http2` on an http:// URL: an HTTP/1.1 request with `Upgrade: h2c`, a 101,
    then HTTP/2 both ways; the answer to the upgraded request comes on stream 1."""
    from h2.config import H2Configuration
    from h2.connection import H2Connection

    client = H2Connection(H2Configuration(client_side=True))
    server = H2Connection(H2Configuration(client_side=False))
    offer = client.initiate_upgrade_connection()
    request = (b"GET /patient HTTP/1.1\r\nHost: 10.200.1.20:8080\r\nConnection: Upgrade, "
               b"HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: " + offer + b"\r\n\r\n")
    switching = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
    server.initiate_upgrade_connection(offer)
    opened = client.data_to_send()
    server.receive_data(opened)
    server.send_headers(1, [(":status", "200"), ("content-type", "application/json")])
    server.send_data(1, json.dumps({"certno": PERSON}).encode(), end_stream=True)
    answer = server.data_to_send()
    (got, norm), _ = run(tmp_path, [request, opened], [switching, answer])
    assert len(got) == 1 and got[0]["evidence"]["decoded"] == ["http2"]
    assert got[0]["first_frame"] == 4
    assert norm.refused["corrupt"] == 0


def test_http2_without_its_start_raises_nothing_and_is_not_parsed(tmp_path):
    """A server's frames whose connection start was not seen (the preface was in no batch):
    nothing is opened, and the raw path reads the bytes as it reads any."""
    _, answered = exchange(request_headers(method="GET"), None, [(":status", "200")],
                           [json.dumps({"certno": PERSON}).encode()])
    (got, norm), _ = run(tmp_path, [], answered)
    assert [a["evidence"].get("decoded", []) for a in got] == [[]]   # found raw, as sent
    assert not norm.streams


def decoded(pieces: list[bytes]) -> tuple[bytes, list]:
    """What an HTTP parser fed `pieces` writes out (a client's bytes open with the preface),
    and what it refused or gave up."""
    out, refused = [], []
    http = N.Http(lambda d, labels, at=None: out.append(d), refused.append, refused.append, None)
    for piece in pieces:
        http.feed(piece)
    return b"".join(out), refused


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_http2_decodes_the_same_however_the_stream_is_cut(data):
    """h2's frames for requests with bodies of many sizes, some padded, several streams:
    read whole and in random pieces they give the same text, which holds every header
    value and body; damaged, they never raise."""
    # bodies that begin as a file does (a ZIP member, a gzip header) are read as that file,
    # not as their bytes (test_archives)
    body = st.binary(max_size=400).filter(lambda b: not b.startswith((b"PK\x03\x04", b"\x1f\x8b")))
    bodies = data.draw(st.lists(body, min_size=1, max_size=4), label="bodies")
    pads = data.draw(st.lists(st.integers(0, 40), min_size=len(bodies), max_size=len(bodies)))
    client, _, opened, _ = h2_pair()
    for k, (body, pad) in enumerate(zip(bodies, pads)):
        sid = 1 + 2 * k
        client.send_headers(sid, request_headers(path=f"/r{k}", **{"x-note": f"n{k}" * 5}))
        client.send_data(sid, body, end_stream=True, pad_length=pad or None)
    raw = opened + client.data_to_send()
    whole, refused = decoded([raw])
    assert not refused
    for k, body in enumerate(bodies):
        assert f"x-note: {'n%d' % k * 5}".encode() in whole and body in whole
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=6), label="cuts"))
    assert decoded([raw[a:b] for a, b in zip([0] + cuts, cuts + [len(raw)])])[0] == whole
    damaged = bytearray(raw)
    for at in data.draw(st.lists(st.integers(0, len(raw) - 1), max_size=4), label="damage"):
        damaged[at] ^= 0x5A
    decoded([bytes(damaged)])


def test_frames_no_peer_sends_end_the_parse():
    """A frame type past the extensions', a SETTINGS frame on a stream, or a CONTINUATION
    that follows nothing: no HTTP/2 (another protocol, lost framing); the rest as it is."""
    for frame in (b"\x00\x00\x00\x77\x00\x00\x00\x00\x00",
                  b"\x00\x00\x00\x04\x00\x00\x00\x00\x01",
                  b"\x00\x00\x00\x09\x04\x00\x00\x00\x01"):
        h2 = N.Http2(lambda *a, **k: None, lambda r: None, lambda r: None, None)
        assert h2.feed(frame + b"rest", 0) == 0 and h2.lost


def test_hpack_tables_and_bodies_are_bounded_and_counted():
    """Directions with a header table are at most MAX_HPACK (`busy`: read as they are), and
    a connection's streams with a body at most MAX_H2_BODIES."""
    live = {"zlib": set(), "br": set(), "hpack": set()}
    refused = []
    keep = [N.Http2(lambda *a, **k: None, refused.append, refused.append, live)
            for _ in range(N.MAX_HPACK)]
    extra = N.Http2(lambda *a, **k: None, refused.append, refused.append, live)
    assert len(keep) == N.MAX_HPACK and extra.lost and refused == ["busy"]
    given_up = []
    h2 = N.Http2(lambda *a, **k: None, lambda r: None, given_up.append, None)
    for sid in range(1, 2 * N.MAX_H2_BODIES + 4, 2):
        h2._body(sid, {})
    assert len(h2.bodies) == N.MAX_H2_BODIES and given_up == ["streams"] * 2


def credential_alerts(tmp_path, sent, answered):
    from test_normalise import make_sensor, replay
    s = make_sensor(tmp_path)
    replay(s, *[[f] for f in alternating(sent, answered)])
    s.close()
    got = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    return [a for a in got if a["detector"] == "cleartext_credentials"]


@pytest.mark.parametrize("field,value,method,user", [
    ("authorization", "Basic " + base64.b64encode(b"zhangsan:Secret#42").decode(), "basic",
     "z***"),
    ("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "bearer",
     ""),
    (":path", "/fsi/api?app_secret=9f8e7d6c5b4a", "query_key", "")])
def test_a_secret_in_http2_headers_is_a_cleartext_credential(tmp_path, field, value, method,
                                                              user):
    """A login or a token a client sends over cleartext HTTP/2 (gRPC metadata is headers
    too): HPACK Huffman-codes it, so only the decoded headers show it; the answer's
    headers are no login."""
    headers = dict(request_headers(method="GET"))
    headers[field] = value
    sent, answered = exchange(list(headers.items()), None,
                              [(":status", "200"), ("www-authenticate", "Bearer realm=\"x\"")],
                              [b"{}"])
    assert value.encode() not in sent[1]             # Huffman-coded on the wire
    got = credential_alerts(tmp_path, sent, answered)
    assert len(got) == 1 and got[0]["evidence"]["method"] == method, got
    assert got[0]["evidence"]["user"] == user and got[0]["first_frame"] == 3
    secret = value.split()[-1].split("=")[-1].encode()
    assert secret not in (tmp_path / "alerts.jsonl").read_bytes()


def test_a_token_in_an_answers_headers_is_no_login(tmp_path):
    """Credentials are what a client sends: the same field in the server's headers (a
    proxy's echo, say) raises nothing."""
    token = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    sent, answered = exchange(request_headers(method="GET"), None,
                              [(":status", "200"), ("authorization", token)], [b"{}"])
    assert credential_alerts(tmp_path, sent, answered) == []


def name_alerts(tmp_path, headers, payload_detectors: bool = True):
    """internet_bound's and malicious_link's alerts of one cleartext HTTP/2 request (prior
    knowledge, 10.1.2.3 -> 10.200.1.20: both inside) and its answer."""
    return exchange_name_alerts(tmp_path, *exchange(headers, None, [(":status", "200")], [b"{}"]),
                                payload_detectors)


def exchange_name_alerts(tmp_path, sent, answered, payload_detectors: bool = True):
    """name_alerts of what each end sent (a segment each, the ends taking turns)."""
    from test_pii_detector import KEY, make_sensor, replay
    (tmp_path / "intel.txt").write_text("evil.example high test-feed\n"
                                        "http://phish.example/login?x=1 critical test-feed\n")
    off = "" if payload_detectors else "enabled = false\n"
    s = make_sensor(tmp_path, f'[detectors.plaintext_pii]\nhash_key = "{KEY}"\n{off}'
                              f'[detectors.cleartext_credentials]\n{off}'
                              f'[detectors.malicious_link]\npaths = ["intel.txt"]\n')
    replay(s, *[[f] for f in alternating(sent, answered)])
    s.close()
    path = tmp_path / "alerts.jsonl"
    got = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    return sorted(((a["detector"], a["first_frame"], a["evidence"]["reason"],
                    a["evidence"].get("matched") or a["evidence"].get("name_source"),
                    a["evidence"]["name"]) for a in got
                   if a["detector"] in ("internet_bound", "malicious_link")), key=str)


def test_an_http2_requests_host_is_a_name_it_asks_for(tmp_path):
    """:authority stands for Host (RFC 9113 8.3.1): a request through a proxy inside the
    network that names an internet service is internet_bound by name, and a listed domain
    is malicious_link's. The name is Huffman-coded on the wire: only the decoded header
    block shows it, at the client's request (frame 3: preface, the server's SETTINGS)."""
    headers = [(":method", "GET"), (":path", "/"), (":scheme", "http"),
               (":authority", "cdn.evil.example:8080")]
    assert name_alerts(tmp_path, headers) == [
        ("internet_bound", 3, "public_name", "http_host", "cdn.evil.example"),
        ("malicious_link", 3, "listed_name", "http_host", "cdn.evil.example")]


def test_an_http2_requests_url_is_matched_with_its_path(tmp_path):
    headers = [(":method", "GET"), (":path", "/login?x=1"), (":scheme", "http"),
               (":authority", "phish.example")]
    got = name_alerts(tmp_path, headers)
    assert ("malicious_link", 3, "listed_name", "http_url", "phish.example") in got


def test_every_request_a_segment_completes_is_read(tmp_path):
    """Clients send several HEADERS frames in one segment: here one for a listed URL, one
    naming a listed domain, then one for the service's own page. Each is read (the last
    alone named nothing), and each name has its alert (one a client and name), though the
    three come in one packet."""
    client, server, opened, answered = h2_pair()
    for sid, path, authority in ((1, "/login?x=1", "phish.example"),
                                 (3, "/", "cdn.evil.example"),
                                 (5, "/ok", "10.200.1.20:8080")):
        client.send_headers(sid, [(":method", "GET"), (":path", path), (":scheme", "http"),
                                  (":authority", authority)], end_stream=True)
    assert exchange_name_alerts(tmp_path, [opened, client.data_to_send()], [answered]) == [
        ("internet_bound", 3, "public_name", "http_host", "cdn.evil.example"),
        ("internet_bound", 3, "public_name", "http_host", "phish.example"),
        ("malicious_link", 3, "listed_name", "http_host", "cdn.evil.example"),
        ("malicious_link", 3, "listed_name", "http_url", "phish.example")]


def test_an_internal_http2_authority_names_nothing(tmp_path):
    """The service's own address names nothing public, and the answer's block (`:status`)
    no request."""
    assert name_alerts(tmp_path, request_headers(method="GET")) == []


def test_http2_names_are_read_only_where_a_payload_detector_decodes_them(tmp_path):
    """Without plaintext_pii and cleartext_credentials no normaliser runs (its cost is theirs):
    the header blocks stay undecoded and the names unread, as documented."""
    headers = [(":method", "GET"), (":path", "/"), (":scheme", "http"),
               (":authority", "cdn.evil.example")]
    assert name_alerts(tmp_path, headers, payload_detectors=False) == []


def test_a_servers_push_promise_is_no_request_of_its_client(tmp_path):
    """A PUSH_PROMISE carries the request headers of a response the server will push: the
    server's words, not a name its client asks for."""
    from test_pii_detector import KEY, make_sensor, replay
    s = make_sensor(tmp_path, f'[detectors.plaintext_pii]\nhash_key = "{KEY}"\n')
    client, server, opened, answered = h2_pair()
    client.send_headers(1, request_headers(method="GET"), end_stream=True)
    request = client.data_to_send()
    server.receive_data(request)
    server.push_stream(1, 2, [(":method", "GET"), (":path", "/app.js"), (":scheme", "http"),
                              (":authority", "cdn.public-example.com")])
    server.send_headers(1, [(":status", "200")], end_stream=True)
    replay(s, *[[f] for f in alternating([opened, request], [answered + server.data_to_send()])])
    s.close()
    path = tmp_path / "alerts.jsonl"
    got = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    assert [a for a in got if a["detector"] == "internet_bound"] == []


def test_h2_request_head_means_the_http1_request():
    """RFC 9113 8.3.1: CONNECT's target is its :authority; :authority stands for Host."""
    from ybsensor.detectors import names
    block = b":method: CONNECT\r\n:authority: db.example:5432\r\n\r\n"
    assert names.h2_request_head(block) == \
        b"CONNECT db.example:5432 HTTP/1.1\r\nhost: db.example:5432\r\n\r\n"
    block = (b":method: GET\r\n:path: /a?b=1\r\n:authority: x.example\r\nhost: other\r\n"
             b"user-agent: t\r\n\r\n")
    head = names.h2_request_head(block)
    assert names.http_host(head) == "x.example"
    assert names.http_request_head(head, (b"user-agent",)) == \
        (b"GET", "/a?b=1", {b"user-agent": "t"})
    assert names.h2_request_head(b":status: 200\r\ncontent-type: x\r\n\r\n") is None
