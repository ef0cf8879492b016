"""This case's frames and, from the rule, its expected alerts."""

import gzip
import sys
from pathlib import Path

from h2.config import H2Configuration
from h2.connection import H2Connection

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import (  # noqa: E402
    HOSP, HOSP_CODE, L2TP_HOSP, PLATFORM, IpIds, PiiCase, TcpConn, write_here)
from casegen.normalisation import PERSON, RULE, expect_json_answer, json_answer  # noqa: E402

METHOD = "/fsi.v1.PersonInfo/Query"


def grpc_message(message: bytes, compress: bool) -> bytes:
    """gRPC's length-prefixed message: a compressed flag, a 32-bit length, the message."""
    data = gzip.compress(message, mtime=0) if compress else message
    return bytes([compress]) + len(data).to_bytes(4, "big") + data


def call(request: bytes, answer: bytes) -> tuple[list[bytes], list[bytes]]:
    """A unary gRPC call over cleartext HTTP/2 with prior knowledge (h2, an independent
    HTTP/2 implementation, makes the frames): what the client sends (its preface and
    SETTINGS, then the call) and what the server sends (its SETTINGS and the ACK, then the
    answer's headers, its one message compressed with `grpc-encoding: gzip`, the trailers)."""
    client = H2Connection(H2Configuration(client_side=True))
    server = H2Connection(H2Configuration(client_side=False))
    client.initiate_connection()
    server.initiate_connection()
    opened = client.data_to_send()
    server.receive_data(opened)
    settings = server.data_to_send()
    client.receive_data(settings)
    client.send_headers(1, [(":method", "POST"), (":scheme", "http"), (":path", METHOD),
                            (":authority", f"{PLATFORM}:50051"), ("te", "trailers"),
                            ("content-type", "application/grpc+json"),
                            ("grpc-accept-encoding", "gzip"), ("user-agent", "grpc-java/1.68")])
    client.send_data(1, grpc_message(request, False), end_stream=True)
    the_call = client.data_to_send()
    server.receive_data(the_call)
    sent = [opened + the_call]
    server.send_headers(1, [(":status", "200"), ("content-type", "application/grpc+json"),
                            ("grpc-encoding", "gzip")])
    server.send_data(1, grpc_message(answer, True))
    server.send_headers(1, [("grpc-status", "0")], end_stream=True)
    return sent, [settings, server.data_to_send()]


def build(name, line):
    body = json_answer()
    assert mc.identifiers_by_rule(body) == [PERSON]
    request = ('{"infno":"1101","fixmedins_code":"%s"}' % HOSP_CODE).encode()
    sent, answered = call(request, body)
    assert PERSON.encode() not in answered[1]
    c = PiiCase(name, f"The hospital's {HOSP} HIS calls the platform's gRPC service "
                      f"({PLATFORM}:50051, {METHOD}) over cleartext HTTP/2 with prior "
                      f"knowledge, {line.describe}, as a service mesh's internal calls go. The "
                      f"answer's one message (JSON, `application/grpc+json`) carries a "
                      f"person's record, gzip-compressed on its own (`grpc-encoding: gzip`), "
                      f"so none of it is on the wire as it is. {RULE} Expected: one critical "
                      f"alert (the call is an insurance interface message: its request names "
                      f"infno 1101 and the hospital's fixmedins_code, no personal data), its "
                      f"packet the server's answer: insurance_field 2, person_name 1, "
                      f"resident_id 1, decoded [http2, grpc, gzip], offset 0 (the answer "
                      f"travels in whole segments).")
    conn = TcpConn(IpIds(), HOSP, 52031, PLATFORM, 50051)
    pkts = conn.handshake() + [conn.c2s(sent[0]), conn.s2c(answered[0]),
                               conn.c2s(b"", flags="A"), conn.s2c(answered[1])]
    expect_json_answer(c, line, pkts, [conn.c2s(b"", flags="A")] + conn.close(), "critical",
                       "insurance_message_with_personal_data", ["http2", "grpc", "gzip"],
                       infno="1101", fixmedins_code=HOSP_CODE, message="insurance_interface")
    return c


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
