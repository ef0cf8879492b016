"""TCP streams as the receiver reads them, across batches (issue #13 items 2 and 4): a
segment that arrives past a hole is read once the hole is filled, joined to what comes
before it; a resent segment whose bytes differ from the first copy does not replace it; a
listed TLS server name in the second segment of a 1.8 KB ClientHello. tests/test_cases.py
replays each case as one batch, tests/test_batch_independence.py in batches of one frame
(the segment past the hole then waits in a batch of its own)."""
from __future__ import annotations

import random
import struct

import make_cases as mc
from make_cases import (HOSP, HOSP_CODE, PLATFORM, PLATFORM_B, IpIds, PiiCase, TcpConn, ev,
                        keyed, masked_id)
from malicious_link import RULE as RULE_LINK
from malicious_link import case as link_case
from malicious_link import listed
from remote_control import RULE_IB_NAME, client_hello_sni, expect_public_name

pii = mc._pii
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


def _visit(person: str) -> bytes:
    return _post(('{"visit":"V2025010200077","idcard":"' + person + '","dept":"0302"}').encode())


def _send_in_segments(case, line, cport: int, parts: list[bytes], order: list) -> list[int]:
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


def id_past_a_hole(name: str, line) -> PiiCase:
    request = _visit(PERSON)
    assert mc.identifiers_by_rule(request) == [PERSON]
    at = request.index(PERSON.encode())
    a, b, c = request[:40], request[40:at + 9], request[at + 9:]
    case = PiiCase(name, f"The hospital's {HOSP} posts a JSON visit record holding a resident "
                         f"ID to the platform, {line.describe}, in three TCP segments: A (the "
                         f"request's first 40 bytes), B (up to the ID's first nine characters), "
                         f"C (the ID's rest and the end). They arrive A, C, B: C waits past the "
                         f"hole that B fills. Rule: {mc.RULE_PII}. {READ_IN_ORDER}. Expected: "
                         f"one high alert for the flow, resident_id 1, its packet B (the ID "
                         f"starts in B; C's bytes became readable with B), the offset the ID's "
                         f"start in B's payload ({at - 40}).")
    frames = _send_in_segments(case, line, 51730, [a, b, c], [0, 2, 1])
    case.expect("plaintext_pii", "high", line.key, HOSP_CODE, [frames[2]],
                ev("personal_data_in_plaintext", kinds={"resident_id": 1},
                   masked=[masked_id(PERSON)], hashes=[keyed("resident_id", PERSON)],
                   offset=at - 40))
    return case


def forged_resend_past_a_hole(name: str, line) -> PiiCase:
    blanked = PERSON[:6] + "X" * 8 + PERSON[14:]
    request, forged = _visit(blanked), _visit(PERSON)
    assert mc.identifiers_by_rule(request) == [] and len(forged) == len(request)
    at = request.index(blanked.encode())
    a, b, c = request[:40], request[40:at], request[at:]
    story = (f"The hospital's {HOSP} posts a JSON visit record to the platform, {line.describe}, "
             f"in three TCP segments A, B, C; C carries the resident ID field with its middle "
             f"digits blanked (X). They arrive A, C, then C again with the same sequence numbers "
             f"but the real ID (a resend with other bytes: an insertion attempt), then B, which "
             f"fills the hole before C.")
    case = PiiCase(name, f"{story} Rule: {mc.RULE_PII}. {READ_IN_ORDER}. The receiver keeps "
                         f"the first C: no identifier. Expected: no alert.")
    _send_in_segments(case, line, 51740, [a, b, c], [0, 2, (2, forged[at:]), 1])
    return case


def sni_in_the_second_segment(name: str, line) -> mc.Case:
    server = "update.malware-cdn.example"
    padding = struct.pack("!HH", 0x0015, 1600) + bytes(1600)      # RFC 7685 padding
    hello = client_hello_sni("pq-hello", server, before=padding)
    cut = 1400
    assert len(hello) > 1800 and hello.index(server.encode()) > cut
    c = link_case(name, f"The hospital's {HOSP} opens TLS to the platform's proxy "
                        f"{PLATFORM_B}:443, {line.describe}, with a ClientHello of "
                        f"{len(hello)} bytes (as browsers send with a post-quantum key share) "
                        f"in two TCP segments: its server name, {server}, lies in the second. "
                        f"malware-cdn.example is listed (high). Rule: {RULE_LINK}; and "
                        f"{RULE_IB_NAME}. A name in a message that spans segments is read when "
                        f"the message is whole, at the segment that completes it. Expected: "
                        f"malicious_link high and internet_bound public_name tls_sni, each for "
                        f"the second segment.")
    conn = TcpConn(IpIds(), HOSP, 51750, PLATFORM_B, 443)
    frames = c.send(line, conn.handshake() + [conn.c2s(hello[:cut], flags="A"),
                                              conn.c2s(hello[cut:])])
    c.send(line, [conn.s2c(b"", flags="A")] + conn.close())
    c.expect("malicious_link", "high", line.key, HOSP_CODE, [frames[4]],
             ev("listed_name", matched="tls_sni", name=server,
                **listed(indicator="malware-cdn.example")))
    expect_public_name(c, line, frames[4], "tls_sni", server)
    return c


CASES = [
    ("pii_id_past_a_hole_in_l2tp", id_past_a_hole, mc.L2TP_HOSP),
    ("pii_id_past_a_hole_in_gre", id_past_a_hole, mc.GRE_HOSP),
    ("none_pii_forged_resend_past_a_hole_in_gre", forged_resend_past_a_hole, mc.GRE_HOSP),
    ("malicious_link_sni_in_second_segment_in_gre", sni_in_the_second_segment, mc.GRE_HOSP),
    ("malicious_link_sni_in_second_segment_in_l2tp", sni_in_the_second_segment, mc.L2TP_HOSP),
]
