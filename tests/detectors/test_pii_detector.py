"""plaintext_pii (JL art.32): what it finds, what it leaves, across segments and batches.
Identifiers come from tests/pii.py (synthetic, valid check digits); mobiles are made up."""
from __future__ import annotations

import json
import os
import random
import stat
import struct

import pytest

import pii
from frames import tcp_segment, tcp_stream, udp_datagram
from ybsensor.decoders import Batch
from ybsensor.detectors.pii_mask import mask_value
from ybsensor.detectors.payload_detector import KEY_FILE, keyed_hash
from ybsensor.sensor.config import ConfigError, load
from ybsensor.sensor.sensor import Sensor

KEY = "test-key"
CONFIG = """
[network]
private  = ["10.0.0.0/8"]
platform = ["10.200.0.0/16"]

[[institution]]
code = "H22010200001"
ranges = ["10.1.2.0/24"]
lines = ["vlan:100"]

[alerts]
dedup_seconds = 300
{alerts}
{detector}
"""
RNG = random.Random(32)
PERSON = pii.resident_id(RNG)
CARD = pii.bank_card(RNG)
MOBILE = "139" + "".join(str(RNG.randrange(10)) for _ in range(8))


def make_sensor(tmp_path, detector=f'[detectors.plaintext_pii]\nhash_key = "{KEY}"',
                alerts_in_config=False):
    alerts = f'path = "{tmp_path / "log" / "alerts.jsonl"}"' if alerts_in_config else ""
    path = tmp_path / "sensor.toml"
    path.write_text(CONFIG.format(alerts=alerts, detector=detector))
    return Sensor(load(path), alerts_path=str(tmp_path / "alerts.jsonl"))


def seg(data: bytes, seq: int = 1000, sport=40000, dport=8080, **kw) -> bytes:
    return tcp_segment(data, seq=seq, sport=sport, dport=dport, **kw)


def udp(data: bytes, sport=40000, dport=9000) -> bytes:
    return udp_datagram(data, sport=sport, dport=dport)


stream = tcp_stream   # consecutive segments of one TCP stream


def replay(s: Sensor, *batches: list[bytes]) -> None:
    t = 0
    first = 1
    for frames in batches:
        s.pipeline.process(Batch.from_frames(frames, ts_ns=[t + i for i in range(len(frames))],
                                             first_frame=first))
        t += len(frames)
        first += len(frames)


def alerts(tmp_path, detector="plaintext_pii") -> list[dict]:
    path = tmp_path / "alerts.jsonl"
    if not path.exists():
        return []
    got = [json.loads(x) for x in path.read_text().splitlines()]
    return [a for a in got if a["detector"] == detector]


def run(tmp_path, *batches, **kw) -> list[dict]:
    s = make_sensor(tmp_path, **kw)
    replay(s, *batches)
    s.close()
    return alerts(tmp_path)


# --- what counts -----------------------------------------------------------------------

def test_identifiers_in_plaintext_http(tmp_path):
    body = f"id={PERSON}&card={CARD}&tel={MOBILE}".encode()
    got = run(tmp_path, [seg(b"POST /x HTTP/1.1\r\n\r\n" + body)])
    assert len(got) == 1
    a = got[0]
    assert a["severity"] == "high" and a["rule"] == "JL art.32"
    ev = a["evidence"]
    assert ev["kinds"] == {"bank_card": 1, "mobile": 1, "resident_id": 1}
    assert ev["masked"] == [mask_value("resident_id", PERSON), mask_value("bank_card", CARD),
                            mask_value("mobile", MOBILE)]
    assert ev["hashes"][0] == keyed_hash(KEY.encode(), "resident_id", PERSON)
    assert ev["offset"] == len(b"POST /x HTTP/1.1\r\n\r\nid=")
    assert PERSON not in json.dumps(a) and CARD not in json.dumps(a) and MOBILE not in json.dumps(a)


def test_udp_and_one_alert_per_flow(tmp_path):
    got = run(tmp_path, [udp(f"a {PERSON} b".encode()), udp(f"c {MOBILE}".encode())])
    assert len(got) == 1 and got[0]["packets"] == 2
    # the evidence is what the alert's own packet holds, the same in any batching
    assert got[0]["evidence"]["kinds"] == {"resident_id": 1}


def test_nothing_without_personal_data(tmp_path):
    wrong = PERSON[:17] + ("0" if PERSON[17] != "0" else "1")
    frames = [seg(b'{"infno":"2207","msgid":"H22010200001202501020800001234"}'),
              seg(f"x={wrong}&t=1735776000000&n=12812345678&z=".encode() + b"0" * 16,
                  sport=40001),
              seg(b"<td>\xd0\xd5\xc3\xfb</td><td>", sport=40002),            # a label, no value
              seg(b'{"psn_name":"","certno":null,"mdtrt_cert_no":"220102********051X"}',
                  sport=40003)]
    assert run(tmp_path, frames) == []


def test_interface_message_is_critical(tmp_path):
    msg = json.dumps({"infno": "1101", "msgid": "H22010200001202501020800000001",
                      "fixmedins_code": "H22010200001",
                      "input": {"data": {"psn_name": "张三", "certno": PERSON, "card_sn": ""}}},
                     ensure_ascii=False).encode()
    got = run(tmp_path, [seg(b"POST /fsi/api HTTP/1.1\r\n\r\n" + msg)])
    assert len(got) == 1
    ev = got[0]["evidence"]
    assert got[0]["severity"] == "critical"
    assert ev["reason"] == "insurance_message_with_personal_data"
    assert ev["infno"] == "1101" and ev["fixmedins_code"] == "H22010200001"
    assert ev["fields"] == ["psn_name", "certno"]
    assert ev["kinds"] == {"insurance_field": 1, "person_name": 1, "resident_id": 1}
    assert "张三" not in json.dumps(got[0], ensure_ascii=False)


def test_envelope_in_another_segment_still_makes_it_critical(tmp_path):
    head = b'POST /fsi/api HTTP/1.1\r\n\r\n{"infno":"1101","fixmedins_code":"H22010200001",'
    pad = b'"sign_no":"' + b"a" * 200 + b'",'
    tail = b'"input":{"data":{"certno":"' + PERSON.encode() + b'"}}}'
    got = run(tmp_path, stream([head, pad, tail]))
    assert len(got) == 1 and got[0]["severity"] == "critical"
    assert got[0]["evidence"]["infno"] == "1101"


@pytest.mark.parametrize("batches", ["one", "each"])
def test_an_answer_is_judged_with_the_envelope_of_its_request(tmp_path, batches):
    """An insurance interface call: the request names infno and fixmedins_code (no personal
    data), the answer carries the person. The answer is critical whether the two come in
    one batch or each in its own: the envelope is remembered for the flow."""
    request = (b'POST /fsi/api HTTP/1.1\r\nContent-Length: 58\r\n\r\n'
               b'{"infno":"1101","fixmedins_code":"H22010200001","input":{}}')
    answer = (b'HTTP/1.1 200 OK\r\n\r\n{"output":{"baseinfo":{"psn_name":"x","certno":"'
              + PERSON.encode() + b'"}}}')
    frames = [seg(request), seg(answer, 5000, sport=8080, dport=40000, src="10.200.1.20",
                                dst="10.1.2.3")]
    got = run(tmp_path, *([frames] if batches == "one" else [[f] for f in frames]))
    assert [a["severity"] for a in got] == ["critical"]
    assert got[0]["evidence"]["infno"] == "1101" and got[0]["first_frame"] == 2


@pytest.mark.parametrize("fmt", ["json", "xml", "form"])
def test_interface_fields_in_json_xml_form(tmp_path, fmt):
    body = {"json": b'{"psn_no":"22000000000000001101"}',
            "xml": b"<input><psn_no>22000000000000001101</psn_no></input>",
            "form": b"psn_no=22000000000000001101&x=1"}[fmt]
    got = run(tmp_path, [seg(b"POST /x HTTP/1.1\r\n\r\n" + body)])
    assert len(got) == 1 and got[0]["evidence"]["fields"] == ["psn_no"]
    assert got[0]["evidence"]["kinds"] == {"insurance_field": 1}


@pytest.mark.parametrize("encoding", ["utf-8", "gbk", "gb18030"])
def test_name_label_in_each_encoding(tmp_path, encoding):
    body = "姓名：李四；科室：内科".encode(encoding)
    got = run(tmp_path, [seg(body)])
    assert len(got) == 1
    ev = got[0]["evidence"]
    assert ev["kinds"] == {"person_name": 1} and ev["labels"] == ["姓名"]
    assert ev["encodings"] == ["utf-8" if encoding == "utf-8" else "gbk"]


def test_percent_encoded_gbk_label(tmp_path):
    got = run(tmp_path, [seg(b"POST /f HTTP/1.1\r\n\r\n%D0%D5%C3%FB=%C0%EE%CB%C4&a=1")])
    assert len(got) == 1 and got[0]["evidence"]["kinds"] == {"person_name": 1}


# --- encrypted payloads are not searched ------------------------------------------------

def tls_record(data: bytes, version=b"\x03\x03") -> bytes:
    return b"\x17" + version + struct.pack("!H", len(data)) + data


@pytest.mark.parametrize("version", [b"\x03\x01", b"\x03\x03", b"\x01\x01"])
def test_tls_and_tlcp_records_are_not_searched(tmp_path, version):
    secret = f"certno={PERSON}&tel={MOBILE}".encode()
    rec = tls_record(secret * 3, version)
    hello = b"\x16" + version + struct.pack("!H", 40) + bytes(40)
    # the record cut in two: the second segment has no header of its own
    assert run(tmp_path, stream([hello, rec[:30], rec[30:]])) == []


def test_other_encrypted_protocols(tmp_path):
    secret = f" {PERSON} ".encode()
    frames = [
        seg(b"SSH-2.0-OpenSSH_9.6\r\n", sport=40010, dport=22),
        seg(secret * 4, seq=1000 + 21, sport=40010, dport=22),               # after the banner
        udp(b"\x04\x00\x00\x00" + bytes(12) + secret.ljust(32, b" ")[:32], 40011, 51820),  # WireGuard
        udp(b"\x17\xfe\xfd" + bytes(10) + secret, 40012, 4433),             # DTLS 1.2
        udp(b"\xc3\x00\x00\x00\x01" + bytes(20) + secret, 40013, 443),      # QUIC v1 long header
        udp(bytes(8) + secret, 40014, 4500),                                 # IKE / ESP-in-UDP
    ]
    assert run(tmp_path, frames) == []


def test_starttls_switches_a_flow_to_encrypted(tmp_path):
    first = b"a1 STARTTLS\r\n"
    rec = tls_record(f"x {PERSON} y".encode())
    frames = stream([first, rec[:10], rec[10:]], dport=143)
    assert run(tmp_path, frames) == []


def test_payload_class_metrics(tmp_path):
    s = make_sensor(tmp_path)
    hello = b"\x16\x03\x01" + struct.pack("!H", 40) + bytes(40)
    replay(s, [seg(hello, sport=41000, dport=443), seg(b"GET / HTTP/1.1\r\n\r\n", sport=41001),
               seg(b"\x01\x01\x01\x01\x01", seq=1045, sport=41000, dport=443)])
    text = s.metrics.text().decode()
    assert 'ybsensor_payload_bytes_total{class="tls"} 50.0' in text
    assert 'ybsensor_payload_bytes_total{class="plaintext"} 18.0' in text
    assert 'ybsensor_flows_by_payload_class_total{class="tls"} 1.0' in text
    assert 'ybsensor_flows_by_payload_class_total{class="plaintext"} 1.0' in text
    assert text.count("# TYPE ybsensor_payload_bytes_total counter") == 1


# --- streams: split, reordered, retransmitted ----------------------------------------------

@pytest.mark.parametrize("cut", [1, 5, 9, 11, 16, 17])
def test_id_split_across_two_segments(tmp_path, cut):
    msg = f'{{"idcard":"{PERSON}"}}'.encode()
    at = msg.index(PERSON.encode()) + cut
    got = run(tmp_path, stream([msg[:at], msg[at:]]))
    # placed at the segment that completes it; its offset counts from that segment's start
    assert len(got) == 1 and got[0]["packets"] == 1 and got[0]["first_frame"] == 2
    assert got[0]["evidence"]["kinds"] == {"resident_id": 1}
    assert got[0]["evidence"]["offset"] == -cut


GROUPED = f"{PERSON[:6]} {PERSON[6:14]} {PERSON[14:]}"    # as a form shows it to be read


@pytest.mark.parametrize("batches", ["one", "each"])
@pytest.mark.parametrize("cut", [3, 6, 7, 15, 16, 19])
def test_id_in_digit_groups_split_across_segments(tmp_path, cut, batches):
    """An ID written in groups (6-8-4) and cut anywhere, at a separator too: one ID, at
    the segment that completes it, its evidence saying how it was written."""
    msg = f"证件号码: {GROUPED}\r\n".encode("gbk")
    at = msg.index(GROUPED.encode()) + cut
    frames = stream([msg[:at], msg[at:]])
    got = run(tmp_path, *([frames] if batches == "one" else [[f] for f in frames]))
    assert len(got) == 1 and got[0]["first_frame"] == 2
    ev = got[0]["evidence"]
    assert ev["kinds"] == {"resident_id": 1} and ev["decoded"] == ["digit-groups"]
    assert ev["masked"] == [mask_value("resident_id", PERSON)] and ev["offset"] == -cut


def test_numbers_in_other_groups_are_no_identifiers(tmp_path):
    """Digit groups that are not a card's, an ID's or a mobile's shapes, one separator
    throughout: a date and time, a list, a number of a longer grouped one."""
    body = (f"2026-12-08 00:21:05 | {' '.join(PERSON)} | {MOBILE[:3]} {MOBILE[3:7]}-{MOBILE[7:]}"
            f" | 12 {MOBILE[:3]} {MOBILE[3:7]} {MOBILE[7:]}").encode()
    assert run(tmp_path, [seg(b"POST /x HTTP/1.1\r\n\r\n" + body)]) == []


def _wrapped(inner: dict, urlsafe: bool = False) -> bytes:
    """A request whose business message travels base64-encoded in a JSON value, as some
    platforms wrap theirs (encoding, not encryption)."""
    import base64
    enc = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    body = json.dumps({"appId": "HIS01", "data": enc(json.dumps(inner).encode()).decode(),
                       "sign": "0f" * 16}).encode()
    return b"POST /api/v1/submit HTTP/1.1\r\nContent-Type: application/json\r\n\r\n" + body


@pytest.mark.parametrize("batches", ["one", "each"])
@pytest.mark.parametrize("cut", [None, 0, 5, 11, 23])
def test_identifiers_in_base64_inside_text(tmp_path, cut, batches):
    """The ID read from the base64 the receiver decodes, whole or split across segments
    anywhere in the ID's base64 (a segment then begins mid-run: its alignment told by the
    digits' quads), placed at the segment completing it."""
    import base64
    import re
    msg = _wrapped({"sfz": PERSON, "pad": "y" * 60})
    quads = re.search(rb"(?:[A-Za-z0-9+/]{4})*?(?:[MNO][DTjz][AEIMQUYcgk][w-z0-5]){5}", msg)
    at = None if cut is None else quads.end() - 20 + cut     # the ID's 5 quads: 20 chars
    frames = stream([msg] if at is None else [msg[:at], msg[at:]])
    got = run(tmp_path, *([frames] if batches == "one" else [[f] for f in frames]))
    assert len(got) == 1 and got[0]["first_frame"] == (1 if at is None else 2)
    ev = got[0]["evidence"]
    assert ev["decoded"] == ["base64-inline"] and ev["kinds"] == {"resident_id": 1}
    assert ev["masked"] == [mask_value("resident_id", PERSON)]
    assert base64.b64encode(json.dumps({"sfz": PERSON}).encode())[:8] in msg


def test_identifiers_in_a_tokens_claims(tmp_path):
    """A JSON Web Token's claims are base64url, readable by anyone who holds the token."""
    import base64
    claims = base64.urlsafe_b64encode(json.dumps({"sub": "u1", "idcard": PERSON}).encode())
    token = b"eyJhbGciOiJIUzI1NiJ9." + claims.rstrip(b"=") + b".c2lnbmF0dXJl"
    got = run(tmp_path, [seg(b"GET /r HTTP/1.1\r\nAuthorization: Bearer " + token + b"\r\n\r\n")])
    pii_alerts = [a for a in got if a["detector"] == "plaintext_pii"]
    assert len(pii_alerts) == 1 and pii_alerts[0]["evidence"]["kinds"] == {"resident_id": 1}


def test_base64_that_encodes_no_identifier_raises_nothing(tmp_path):
    import base64
    blobs = [base64.b64encode(bytes(RNG.randrange(256) for _ in range(3000))),
             base64.b64encode(json.dumps({"ts": "2026-12-07 12:00:00", "n": 12345678}).encode()),
             base64.b64encode(b"0" * 40)]          # digits, but no identifier among them
    frames = [seg(b"POST /u HTTP/1.1\r\n\r\n" + b, sport=41000 + k) for k, b in enumerate(blobs)]
    assert run(tmp_path, frames) == []


def test_split_reordered_and_retransmitted_counts_once(tmp_path):
    msg = f"a={PERSON}&b={MOBILE}&c=end-of-form".encode()
    p1, p2, p3 = msg[:8], msg[8:30], msg[30:]
    s1, s2, s3 = seg(p1, 1000), seg(p2, 1008), seg(p3, 1030)
    got = run(tmp_path, [s1, s3, s2, s2, s1])
    assert len(got) == 1
    assert got[0]["evidence"]["kinds"] == {"mobile": 1, "resident_id": 1}
    # the ID in s1 and s2, the mobile in s2 and s3; s3 came before s2, so its bytes became
    # readable with s2 (frame 3): s2 completes both, whatever the batching
    assert got[0]["packets"] == 1
    assert got[0]["first_frame"] == 3


def test_overlapping_segments_count_once(tmp_path):
    msg = f"a={PERSON}&b={MOBILE}&c=end-of-form".encode()
    # the middle bytes sent three times, in overlapping pieces
    frames = [seg(msg[:8], 1000), seg(msg[5:20], 1005), seg(msg[8:30], 1008),
              seg(msg[2:40], 1002), seg(msg[30:], 1030)]
    s = make_sensor(tmp_path)
    replay(s, frames)
    s.close()
    got = alerts(tmp_path)
    assert len(got) == 1
    assert got[0]["evidence"]["kinds"] == {"mobile": 1, "resident_id": 1}


def test_split_across_batches(tmp_path):
    msg = f'note: {PERSON} end'.encode()
    at = msg.index(PERSON.encode()) + 10
    got = run(tmp_path, [seg(msg[:at], 1000)], [seg(msg[at:], 1000 + at)])
    assert len(got) == 1 and got[0]["evidence"]["kinds"] == {"resident_id": 1}
    assert got[0]["first_frame"] == 2          # seen whole in the second batch


def test_no_double_count_across_batches(tmp_path):
    # a mobile at the very end of a batch's last segment, then more digits: counted once
    s = make_sensor(tmp_path)
    replay(s, [seg(f"tel {MOBILE}".encode(), 1000)],
           [seg(b"&x", 1000 + 4 + 11), seg(f"tel {MOBILE}".encode(), 1000)])   # + a retransmission
    s.close()
    got = alerts(tmp_path)
    assert len(got) == 1 and got[0]["evidence"]["kinds"] == {"mobile": 1}
    assert s.alerter.occurrences[("plaintext_pii", "high")] == 1


def test_label_split_across_segments(tmp_path):
    body = "姓名=王五&x=1".encode("gbk")
    got = run(tmp_path, stream([b"POST /r HTTP/1.1\r\n\r\n" + body[:2], body[2:]]))
    assert len(got) == 1 and got[0]["evidence"]["kinds"] == {"person_name": 1}


def test_field_split_across_segments(tmp_path):
    body = b'{"psn_name":"x1","a":1}'
    got = run(tmp_path, stream([b"POST /r HTTP/1.1\r\n\r\n" + body[:6], body[6:]]))
    assert len(got) == 1 and got[0]["evidence"]["fields"] == ["psn_name"]


def test_new_connection_on_the_same_ports(tmp_path):
    msg = f"id {PERSON}".encode()
    # the same 5-tuple, a far-away sequence number: a new connection, searched afresh
    got = run(tmp_path, [seg(b"hello", 1000)], [seg(msg, 3_000_000_000)])
    assert len(got) == 1


# --- the hash key ------------------------------------------------------------------------

def test_key_file_beside_the_alert_log(tmp_path):
    a = run(tmp_path, [udp(f" {PERSON} ".encode())], detector="", alerts_in_config=True)
    path = tmp_path / "log" / KEY_FILE
    assert path.exists()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    key = bytes.fromhex(path.read_text().strip())
    assert a[0]["evidence"]["hashes"] == [keyed_hash(key, "resident_id", PERSON)]
    (tmp_path / "alerts.jsonl").unlink()
    b = run(tmp_path, [udp(f" {PERSON} ".encode())], detector="", alerts_in_config=True)
    assert b[0]["evidence"]["hashes"] == a[0]["evidence"]["hashes"]   # the same across runs


def test_hash_key_file_setting(tmp_path):
    keyfile = tmp_path / "k" / "pii.key"
    got = run(tmp_path, [udp(f" {MOBILE} ".encode())],
              detector=f'[detectors.plaintext_pii]\nhash_key_file = "{keyfile}"')
    key = bytes.fromhex(keyfile.read_text().strip())
    assert got[0]["evidence"]["hashes"] == [keyed_hash(key, "mobile", MOBILE)]


def test_same_person_same_hash_different_people_differ(tmp_path):
    other = pii.resident_id(random.Random(99))
    got = run(tmp_path, [udp(f" {PERSON} ".encode(), 40001), udp(f" {PERSON} ".encode(), 40002),
                         udp(f" {other} ".encode(), 40003)])
    hashes = [a["evidence"]["hashes"][0] for a in got]
    assert hashes[0] == hashes[1] != hashes[2]


def test_config_schema(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(CONFIG.format(alerts="", detector='[detectors.plaintext_pii]\nhash_kee = "x"'))
    with pytest.raises(ConfigError, match="hash_kee"):
        load(path)
    path.write_text(CONFIG.format(alerts="", detector='[detectors.plaintext_pii]\nhash_key = 5'))
    with pytest.raises(ConfigError, match="hash_key"):
        load(path)


def test_disabled(tmp_path):
    got = run(tmp_path, [udp(f" {PERSON} ".encode())],
              detector="[detectors.plaintext_pii]\nenabled = false")
    assert got == []


def test_a_flow_of_nothing_but_candidates_is_parsed_so_deep(tmp_path):
    from ybsensor.detectors.plaintext_pii import MAX_PARSED
    chunks = [f"tel {MOBILE};\n".encode() for _ in range(MAX_PARSED + 20)]
    got = run(tmp_path, stream(chunks))
    assert len(got) == 1
    ev = got[0]["evidence"]
    # the alert's packet holds one number; the flow's packets are counted MAX_PARSED deep
    assert ev["kinds"] == {"mobile": 1} and ev["counts_at_least"] is True
    assert got[0]["packets"] == MAX_PARSED


def test_recognise_each_class():
    """Each payload's class by its own first bytes (untracked rows: no flow history)."""
    import numpy as np

    from ybsensor.detectors.payload_class import (DTLS, IPSEC, PLAINTEXT, QUIC, SSH, TLCP, TLS,
                                                  WIREGUARD, PayloadClasses)
    rows = [  # (first bytes, payload length, proto, sport, dport, class)
        (b"\x16\x03\x01\x00\x2a", 47, 6, 40000, 443, TLS),
        (b"\x17\x03\x04\x40\x00", 1400, 6, 40000, 443, TLS),
        (b"\x17\x03\x03\x60\x00", 1400, 6, 40000, 443, 0),         # record too long: no
        (b"\x16\x01\x01\x00\x2a", 47, 6, 40000, 443, TLCP),
        (b"\x17\x01\x01\x00\x10", 21, 6, 40000, 443, TLCP),
        (b"SSH-2.0-x", 9, 6, 40000, 22, SSH),
        (b"\x16\xfe\xfd\x00\x00", 60, 17, 40000, 4433, DTLS),
        (b"\xc0\x00\x00\x00\x01", 1200, 17, 40000, 443, QUIC),
        (b"\xc0\xff\x00\x00\x1d", 1200, 17, 40000, 443, QUIC),     # draft 29
        (b"\xc0\x12\x34\x56\x78", 1200, 17, 40000, 443, 0),        # unknown version
        (b"\x01\x00\x00\x00\x00", 148, 17, 40000, 51820, WIREGUARD),
        (b"\x01\x00\x00\x00\x00", 147, 17, 40000, 51820, 0),
        (b"\x04\x00\x00\x00\x00", 64, 17, 40000, 51820, WIREGUARD),
        (b"\x00\x00\x00\x01\x00", 100, 17, 4500, 4500, IPSEC),
        (b"\x00\x00\x00\x01\x00", 100, 50, -1, -1, IPSEC),
        (b"GET / HTTP/1.1", 18, 6, 40000, 80, 0),
        (b"\x16\x03\x01\x00\x2a", 47, 17, 40000, 443, 0),          # a TLS header over UDP: no
    ]
    data = b"".join(r[0][:r[1]].ljust(r[1], b"\0") for r in rows)
    t = type("T", (), {})()
    t.n = len(rows)
    t.batch = type("B", (), {"data": np.frombuffer(data + bytes(16), np.uint8)})()
    t.payload_len = np.array([r[1] for r in rows], dtype=np.int64)
    t.payload_off = np.concatenate([[0], np.cumsum(t.payload_len)[:-1]]).astype(np.int64)
    t.proto, t.sport, t.dport = (np.array([r[k] for r in rows], dtype=np.int64) for k in (2, 3, 4))
    ctx = type("Ctx", (), {})()
    ctx.t, ctx.flow, ctx.has_ip = t, None, np.ones(t.n, dtype=bool)
    ctx.flow_keys, ctx.groups = np.zeros(t.n, np.uint64), type("G", (), {"order": np.zeros(0, np.int64)})()
    got = PayloadClasses().classify(ctx)
    assert got.tolist() == [r[5] or PLAINTEXT for r in rows]


@pytest.mark.parametrize("batches", ["one", "each"])
def test_an_identifier_begun_in_a_fast_open_syn_is_read_whole(tmp_path, batches):
    """TCP Fast Open (RFC 7413): the request's first bytes ride in the SYN, which takes the
    first sequence number itself; the identifier cut between the SYN's data and the next
    segment is read whole, in one batch or across batches."""
    first = b"POST /api HTTP/1.1\r\nContent-Length: 40\r\n\r\nnote: patient " + PERSON[:9].encode()
    rest = PERSON[9:].encode() + b" discharged\n"
    frames = [seg(first, 4999, flags="S"),
              seg(b"", 9000, sport=8080, dport=40000, src="10.200.1.20", dst="10.1.2.3",
                  ack=5000 + len(first), flags="SA"),
              seg(rest, 5000 + len(first), ack=9001)]
    got = run(tmp_path, *([frames] if batches == "one" else [[f] for f in frames]))
    assert len(got) == 1 and got[0]["evidence"]["kinds"] == {"resident_id": 1}
    assert got[0]["first_frame"] == 3


@pytest.mark.parametrize("batches", ["one", "each"])
def test_a_field_whose_value_a_segment_cuts_is_placed_where_the_value_ends(tmp_path, batches):
    """`"certno":"` and half an ID in one segment, the rest in the next: one item each, at
    the second segment, whether a batch boundary falls between them or not (the first
    batch cannot tell the value is not over)."""
    first = b'POST /fsi/api HTTP/1.1\r\n\r\n{"gend":"1","certno":"' + PERSON[:9].encode()
    rest = PERSON[9:].encode() + b'","age":41}'
    frames = stream([first, rest])
    got = run(tmp_path, *([frames] if batches == "one" else [[f] for f in frames]))
    assert len(got) == 1 and got[0]["first_frame"] == 2, got
    assert got[0]["evidence"]["kinds"] == {"insurance_field": 1, "resident_id": 1}


def _evidence_payloads(tmp_path) -> bytes:
    """Every evidence pcap's TCP payloads, joined in file order: what a reader of them
    puts back together."""
    from scapy.layers.inet import TCP
    from scapy.utils import rdpcap
    return b"".join(bytes(p[TCP].payload) for f in sorted((tmp_path / "evidence").glob("*.pcap"))
                    for p in rdpcap(str(f)) if p.haslayer(TCP))


@pytest.mark.parametrize("sep", [" ", "-", "+"])
def test_evidence_never_holds_a_grouped_id_whole_wherever_a_segment_ends(tmp_path, sep):
    """The ID in digit groups cut at every byte (a separator at a segment's end or start
    included): the masked segments of the evidence pcap, joined and with the separators
    dropped, never hold it."""
    grouped = sep.join((PERSON[:6], PERSON[6:14], PERSON[14:]))
    msg = f"POST /r HTTP/1.1\r\n\r\nid: {grouped} end".encode()
    start = msg.index(grouped.encode())
    for cut in range(start, start + len(grouped) + 1):
        out = tmp_path / str(cut)
        out.mkdir()
        got = run(out, stream([msg[:cut], msg[cut:]]))
        assert got and got[0]["evidence"]["kinds"] == {"resident_id": 1}, cut
        joined = _evidence_payloads(out)
        assert joined and PERSON.encode() not in joined.translate(None, b" -+"), cut
