"""Builders of the cases of TCP streams as the receiver reads them, across batches (issue #13
items 2 and 4): a segment that arrives past a hole is read once the hole is filled, joined
to what comes before it; a resent segment whose bytes differ from the first copy does not
replace it; a listed TLS server name in the second segment of a 1.8 KB ClientHello.
tests/cases_and_corpus/test_cases.py replays each case as one batch, tests/sensor/test_batch_independence.py in
batches of one frame (the segment past the hole then waits in a batch of its own)."""
from __future__ import annotations

import random

import casegen as mc
from casegen import HOSP, PLATFORM, IpIds, TcpConn

pii = mc.pii
PERSON = pii.resident_id(random.Random(1302_2))
READ_IN_ORDER = ("A TCP stream is read as its receiver reads it: in sequence order, each byte "
                 "once; bytes that arrive past a hole are read when the hole is filled, "
                 "joined to the bytes before them, and reported at the packet that filled it "
                 "(where they became readable); where two copies of a byte differ, the first "
                 "to arrive is read unless the later segment begins before it (BSD policy), "
                 "and the other copy counts as evasion:tcp_overlap")


def _post(body: bytes) -> bytes:
    return (b"POST /his/visit HTTP/1.1\r\nHost: 10.200.1.20:8080\r\nContent-Type: "
            b"application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def visit(person: str) -> bytes:
    return _post(('{"visit":"V2025010200077","idcard":"' + person + '","dept":"0302"}').encode())


def send_in_segments(case, line, cport: int, parts: list[bytes], order: list) -> list[int]:
    """The hospital's request to the platform in segments `parts` (one after another in
    sequence), sent in `order` (indices, or (index, other bytes) for a resend of that
    segment with other bytes), between a handshake and the answer and close; the frame
    numbers of the segments as sent."""
    conn = TcpConn(IpIds(), HOSP, cport, PLATFORM, 8080)
    opening = conn.handshake()
    start = conn.cseq
    at = [start + sum(len(p) for p in parts[:k]) for k in range(len(parts))]
    segments = []
    for item in order:
        k, data = item if isinstance(item, tuple) else (item, parts[item])
        conn.cseq = at[k]
        segments.append(conn.c2s(data, flags="PA" if k == len(parts) - 1 else "A"))
    conn.cseq = start + sum(len(p) for p in parts)
    frames = case.send(line, opening + segments)
    case.send(line, [conn.s2c(mc.HTTP_OK)] + conn.close())
    return frames[3:]
