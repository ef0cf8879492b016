"""This case's frames and, from the rule, its expected alerts."""

import random
import sys
from pathlib import Path
from unittest import mock

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage
from wsproto.extensions import PerMessageDeflate

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import (  # noqa: E402
    GRE_HOSP, HOSP, PLATFORM, IpIds, PiiCase, TcpConn, write_here)
from casegen.normalisation import PERSON, RULE, expect_json_answer, json_answer  # noqa: E402


def websocket(messages: list[bytes]) -> tuple[bytes, bytes, list[bytes]]:
    """A browser-like client's handshake, the server's 101 and the client's messages, made
    by wsproto (an independent RFC 6455 / 7692 implementation) with permessage-deflate; its
    masking keys and handshake key drawn from a seeded generator so the case is remade byte
    for byte (a browser draws them at random)."""
    rng = random.Random(6455)
    with mock.patch("os.urandom", lambda n: bytes(rng.randrange(256) for _ in range(n))):
        client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
        request = client.send(Request(host="10.200.1.20:8080", target="/his/ws",
                                      extensions=[PerMessageDeflate()]))
        server.receive_data(request)
        list(server.events())
        accept = server.send(AcceptConnection(extensions=[PerMessageDeflate()]))
        client.receive_data(accept)
        list(client.events())
        return request, accept, [client.send(TextMessage(data=m.decode())) for m in messages]


def build(name, line):
    body = json_answer()
    assert mc.identifiers_by_rule(body) == [PERSON]
    hello = b'{"op":"subscribe","topic":"ward-7"}'
    request, accept, frames = websocket([hello, body])
    assert PERSON.encode() not in frames[1]
    c = PiiCase(name, f"The hospital's {HOSP} keeps a WebSocket open to the platform "
                      f"({PLATFORM}:8080, /his/ws), {line.describe}, as a web HIS does, and "
                      f"sends a person's record in it. Every browser masks its frames (RFC "
                      f"6455 5.3) and offers permessage-deflate (RFC 7692), which the server "
                      f"took: the record is deflated with the window of the message before "
                      f"it, then masked, so none of it is on the wire as it is. {RULE} "
                      f"Expected: one high alert (no interface envelope), its packet the "
                      f"client's second message: insurance_field 2, person_name 1, "
                      f"resident_id 1, decoded [websocket, deflate], offset 0.")
    conn = TcpConn(IpIds(), HOSP, 52011, PLATFORM, 8080)
    pkts = conn.handshake() + [conn.c2s(request), conn.s2c(accept), conn.c2s(frames[0]),
                               conn.s2c(b"", flags="A"), conn.c2s(frames[1])]
    expect_json_answer(c, line, pkts, [conn.s2c(b"", flags="A")] + conn.close(), "high",
                       "personal_data_in_plaintext", ["websocket", "deflate"])
    return c


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
