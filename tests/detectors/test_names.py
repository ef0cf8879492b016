"""The name parsers (TLS SNI, DNS query names, the HTTP Host) and their vectorized
pre-filters: right on good input, None on malformed, truncated or random input, never raising."""
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scapy.layers.dns import DNS, DNSQR

from ybsensor.detectors import names

# --- builders -----------------------------------------------------------------------------


def ext(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


def sni_ext(*entries: tuple[int, bytes]) -> bytes:
    items = b"".join(struct.pack("!BH", kind, len(n)) + n for kind, n in entries)
    return ext(0, struct.pack("!H", len(items)) + items)


def client_hello(server_name: str | None = "api.weixin.qq.com", extensions: bytes | None = None,
                 session_id: bytes = b"\x11" * 32, suites=(0x1301, 0x1302, 0xC02F),
                 record_version: int = 0x0301) -> bytes:
    """A TLS record holding a ClientHello, built field by field (RFC 8446 §4.1.2)."""
    if extensions is None:
        extensions = ext(0x000A, b"\x00\x02\x00\x1d")              # supported_groups
        if server_name is not None:
            extensions += sni_ext((0, server_name.encode()))
        extensions += ext(0x002B, b"\x02\x03\x04")                 # supported_versions
    body = struct.pack("!H", 0x0303) + bytes(range(32))            # legacy version, random
    body += bytes([len(session_id)]) + session_id
    body += struct.pack("!H", 2 * len(suites)) + b"".join(struct.pack("!H", s) for s in suites)
    body += b"\x01\x00"                                            # compression: null
    body += struct.pack("!H", len(extensions)) + extensions
    handshake = bytes([1]) + len(body).to_bytes(3, "big") + body
    return struct.pack("!BHH", 0x16, record_version, len(handshake)) + handshake


def dns_query(name: str, qr: int = 0, opcode: int = 0) -> bytes:
    return bytes(DNS(id=0x1234, rd=1, qr=qr, opcode=opcode, qd=DNSQR(qname=name, qtype="A")))


def raw_dns(qname: bytes, qdcount: int = 1, flags: int = 0x0100, tail: bytes = b"\x00\x01\x00\x01"):
    return struct.pack("!HHHHHH", 7, flags, qdcount, 0, 0, 0) + qname + tail


# --- TLS ----------------------------------------------------------------------------------


def test_sni_of_a_client_hello():
    assert names.tls_server_name(client_hello("API.Weixin.QQ.com")) == "api.weixin.qq.com"
    assert names.tls_server_name(client_hello("example.com.")) == "example.com"
    assert names.tls_server_name(client_hello(session_id=b"")) == "api.weixin.qq.com"


def test_sni_found_among_other_extensions_and_entries():
    exts = ext(0x0017, b"") + ext(0xFF01, b"\x00") + \
        sni_ext((1, b"not-a-host-name"), (0, b"relay.anydesk.com")) + ext(0x0010, b"\x00\x03\x02h2")
    assert names.tls_server_name(client_hello(extensions=exts)) == "relay.anydesk.com"


def test_no_sni_gives_none():
    assert names.tls_server_name(client_hello(None)) is None
    assert names.tls_server_name(client_hello(extensions=b"")) is None
    # a hello without any extensions block at all (TLS 1.0 style)
    hello = client_hello(extensions=b"")[:-2]
    hello = hello[:3] + struct.pack("!H", len(hello) - 5) + hello[5:6] + \
        (len(hello) - 9).to_bytes(3, "big") + hello[9:]
    assert names.tls_server_name(hello) is None


@pytest.mark.parametrize("payload", [
    b"",
    b"\x16\x03\x01",
    client_hello()[:60],                                   # cut inside the cipher suites
    client_hello(extensions=sni_ext((0, b"a" * 300))),     # name over 253 characters
    client_hello(extensions=sni_ext((0, b"bad name.com"))),
    client_hello(extensions=sni_ext((0, b"caf\xc3\xa9.cn"))),
    client_hello(extensions=sni_ext((0, b"evil\x00.com"))),
    client_hello(extensions=sni_ext((0, b"10.0.0.1:443"))),
    client_hello(extensions=sni_ext((0, b""))),
    client_hello(extensions=ext(0, b"\x00")),              # server-name list length cut off
    client_hello(extensions=ext(0, b"\x00\x20\x00\x00\x05abcde")),  # list longer than extension
    client_hello(extensions=ext(0, b"\x00\x05\x00\x00\x09abcde")),  # name longer than list
    client_hello(session_id=b"\x00" * 33),                 # session id over 32 bytes
    client_hello(suites=()),                               # no cipher suite
    b"\x17" + client_hello()[1:],                          # application data, not handshake
    client_hello()[:5] + b"\x02" + client_hello()[6:],     # ServerHello
])
def test_malformed_hellos_give_none(payload):
    assert names.tls_server_name(payload) is None


def test_extension_cut_by_segment_end_gives_none_not_a_short_name():
    hello = client_hello("www.example.com")
    cut = hello.index(b"www.example.com") + 7             # "www.exa"
    assert names.tls_server_name(hello[:cut]) is None
    # the name fully inside the segment, the rest of the hello in the next one
    exts = sni_ext((0, b"www.example.com")) + ext(0x0015, b"\x00" * 400)
    hello = client_hello(extensions=exts)
    assert names.tls_server_name(hello[:hello.index(b".com") + 4 + 10]) == "www.example.com"


def test_lengths_are_bounded_by_record_and_handshake():
    hello = bytearray(client_hello("www.example.com"))
    hello[3:5] = struct.pack("!H", 50)                    # record ends before the extensions
    assert names.tls_server_name(bytes(hello)) is None
    hello = bytearray(client_hello("www.example.com"))
    hello[6:9] = (45).to_bytes(3, "big")                  # handshake ends before them
    assert names.tls_server_name(bytes(hello)) is None


def test_every_truncation_of_a_hello_is_safe():
    hello = client_hello("api.weixin.qq.com")
    for n in range(len(hello)):
        assert names.tls_server_name(hello[:n]) in (None, "api.weixin.qq.com")


# --- DNS ----------------------------------------------------------------------------------


def test_dns_query_name():
    assert names.dns_query_name(dns_query("WWW.Baidu.com.")) == "www.baidu.com"
    assert names.dns_query_name(dns_query("his.ybj.jl.gov.cn")) == "his.ybj.jl.gov.cn"
    assert names.dns_query_name(dns_query("_ldap._tcp.dc.corp.lan")) == "_ldap._tcp.dc.corp.lan"
    assert names.dns_query_name(raw_dns(b"\x01a\x00")) == "a"


@pytest.mark.parametrize("payload", [
    b"",
    dns_query("www.baidu.com")[:11],                      # header cut
    dns_query("www.baidu.com", qr=1),                     # a response
    dns_query("www.baidu.com", opcode=5),                 # an UPDATE, not a query
    raw_dns(b"\x03www\x05baidu\x03com\x00", qdcount=0),   # no question
    raw_dns(b"\xc0\x0c"),                                  # pointer to itself: a loop
    raw_dns(b"\x03www\xc0\x0c"),                           # pointer after a label
    raw_dns(b"\x03www\x45baidu\x00"),                      # reserved label type 0x40
    raw_dns(b"\x03www\x85baidu\x00"),                      # reserved label type 0x80
    raw_dns(b"\x00"),                                      # the root: names nothing
    raw_dns(b"\x03www\x05baidu\x03com\x00", tail=b"\x00"), # type and class cut
    raw_dns(b"\x03www\x05bai"),                            # label cut
    raw_dns(b"\x03www\x05baidu\x03com"),                   # no root label
    raw_dns(b"".join(b"\x3f" + b"a" * 63 for _ in range(4)) + b"\x00"),  # 255 characters
    raw_dns(b"\x03w w\x03com\x00"),                        # not a host-name label
    raw_dns(b"\x03a.b\x03com\x00"),                        # a dot inside a label
    raw_dns(b"\x04\xff\xfe\xfd\xfc\x03com\x00"),           # binary label
])
def test_malformed_dns_gives_none(payload):
    assert names.dns_query_name(payload) is None


def test_longest_legal_name_is_accepted():
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])   # 253 characters
    assert names.dns_query_name(raw_dns(b"".join(
        bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\x00")) == name


# --- HTTP ---------------------------------------------------------------------------------


@pytest.mark.parametrize("payload, host", [
    (b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", "example.com"),
    (b"POST /api HTTP/1.1\r\nUser-Agent: x\r\nhOsT:  Example.COM:8080 \r\n\r\n", "example.com"),
    (b"HEAD / HTTP/1.0\nHost: 10.200.1.1\n\n", "10.200.1.1"),
    (b"GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n", "2001:db8::1"),
    (b"GET / HTTP/1.1\r\nHost: example.com:\r\n\r\n", "example.com"),
    (b"CONNECT api.weixin.qq.com:443 HTTP/1.1\r\nHost: api.weixin.qq.com:443\r\n\r\n",
     "api.weixin.qq.com"),
    (b"CONNECT [2001:db8::2]:443 HTTP/1.1\r\n\r\n", "2001:db8::2"),
    (b"GET http://user:pw@www.qq.com:8080/x?y HTTP/1.1\r\nHost: www.qq.com\r\n\r\n", "www.qq.com"),
    (b"OPTIONS * HTTP/1.1\r\nHost: a.example\r\n", "a.example"),
    (b"DELETE /x HTTP/1.1\r\nHost: a.example\r\n", "a.example"),
    (b"PUT /x HTTP/1.1\r\nHost: a.example\r\n", "a.example"),
    (b"PATCH /x HTTP/1.1\r\nHost: a.example\r\n", "a.example"),
])
def test_http_host(payload, host):
    assert names.http_host(payload) == host


@pytest.mark.parametrize("payload", [
    b"",
    b"GET / HTTP/1.1",                                          # no line end
    b"GET / HTTP/1.1\r\nHost: exam",                            # the Host line cut off
    b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\nHost: example.com\r\n",  # Host in the body
    b"FETCH / HTTP/1.1\r\nHost: example.com\r\n\r\n",           # not a method
    b"get / HTTP/1.1\r\nHost: example.com\r\n\r\n",             # methods are case-sensitive
    b"GET / SIP/2.0\r\nHost: example.com\r\n\r\n",
    b"GET /  HTTP/1.1\r\nHost: example.com\r\n\r\n",            # not three parts
    b"GET / HTTP/1.1\r\nHost: exa mple.com\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: example.com:http\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: [2001:db8::1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: 2001:db8::1\r\n\r\n",             # IPv6 without brackets
    b"GET / HTTP/1.1\r\nHost: \xe4\xbe\x8b\xe5\xad\x90.cn\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nHost: example.com\r\n\r\n",            # a response
    b"CONNECT  HTTP/1.1\r\n\r\n",
])
def test_http_without_a_host_gives_none(payload):
    assert names.http_host(payload) is None


GET_A = b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"
GET_B = b"GET /b HTTP/1.1\r\nHost: b.example\r\n\r\n"
POST_C = b"POST /c HTTP/1.1\r\nHost: c.example\r\nContent-Length: 9\r\n\r\n"


@pytest.mark.parametrize("message, later", [
    (GET_A, []),
    (GET_A + GET_B, [GET_B]),
    (GET_A + b"\r\n" + GET_B + POST_C + b"GET / HTTP", [GET_B, POST_C]),   # CRLF between
    # a body whose length says where the next request begins (its bytes are no request)
    (POST_C + b"GET / x=1" + GET_A, [GET_A]),
    (POST_C + b"GET / x=1", []),
    # a chunked body: its end is not looked for, nothing after it is read
    (b"POST / HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"3\r\nabc\r\n0\r\n\r\n" + GET_B, []),
    (GET_A + GET_B.replace(b"\r\n", b"\n"), [GET_B.replace(b"\r\n", b"\n")]),
    (GET_A + b"\x16\x03\x01\x00\x05hello" + GET_B, []),         # then no HTTP
    (GET_A + GET_B[:20], []),                                   # the next cut off
    (b"HTTP/1.1 200 OK\r\n\r\n" + GET_B, []),                    # not a request
    (GET_A * (names.MAX_PIPELINED + 5), [GET_A] * names.MAX_PIPELINED),
])
def test_pipelined_requests(message, later):
    assert names.pipelined_requests(message) == later


OK_2 = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.mark.parametrize("message, methods, statuses", [
    (OK_2, [b"GET"], [200]),
    (OK_2 + b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", [b"GET"] * 2, [200, 404]),
    # an interim answer comes before the final one and answers no request
    (b"HTTP/1.1 100 Continue\r\n\r\n" + OK_2, [b"POST"], [100, 200]),
    # a HEAD's answer announces a length and sends no body
    (b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n" + OK_2, [b"HEAD", b"GET"], [200, 200]),
    (b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n" + OK_2,
     [b"GET"] * 3, [204, 304, 200]),
    # a chunked or close-delimited body: its end is not looked for
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + OK_2, [b"GET"] * 2,
     [200]),
    (b"HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", [b"GET"] * 2, [200]),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", [b"GET"], [200]),  # the head goes on
    (OK_2 + b"HTTP/1.1 404 Not Found\r\n", [b"GET"] * 2, [200]),     # the next one too
    (b"GET / HTTP/1.1\r\n\r\n", [b"GET"], []),
])
def test_pipelined_statuses(message, methods, statuses):
    assert names.pipelined_statuses(message, methods) == statuses


def socks5(kind: int, address: bytes, port: int = 443) -> bytes:
    return bytes((5, 1, 0, kind)) + address + struct.pack("!H", port)


def socks4(address: bytes, user: bytes = b"clerk", name: bytes = b"") -> bytes:
    return bytes((4, 1)) + struct.pack("!H", 80) + address + user + b"\0" + \
        (name + b"\0" if name else b"")


@pytest.mark.parametrize("request_, target", [
    (socks5(3, b"\x0aWWW.qq.com"), "www.qq.com"),
    (socks5(1, bytes((203, 0, 113, 7))), "203.0.113.7"),
    (socks5(4, bytes.fromhex("20010db8000000000000000000000001")), "2001:db8::1"),
    (socks4(bytes((203, 0, 113, 7))), "203.0.113.7"),
    (socks4(bytes((0, 0, 0, 1)), name=b"api.weixin.qq.com"), "api.weixin.qq.com"),
    # not whole, not a CONNECT, not a name, or bytes past its end: nothing
    (socks5(3, b"\x0awww.qq.com")[:-1], None),
    (socks5(3, b"\x0awww.qq.com") + b"x", None),
    (bytes((5, 2, 0, 1, 1, 2, 3, 4, 0, 80)), None),          # BIND
    (bytes((5, 1, 0, 2, 1, 2, 3, 4, 0, 80)), None),          # no such address type
    (socks5(3, b"\x00"), None),
    (socks5(3, b"\x05a b.c"), None),
    (socks4(bytes((0, 0, 0, 1))), None),                      # 4a without its name
    (socks4(bytes((1, 2, 3, 4)))[:-1], None),                 # the user id not ended
    (bytes((5, 1, 0)), None),
])
def test_socks_target(request_, target):
    assert names.socks_target(request_) == target


# --- internal or public -------------------------------------------------------------------


def private(ip):
    return ip.version == 4 and ip.packed[0] == 10


@pytest.mark.parametrize("name, internal", [
    ("his.ybj.jl.gov.cn", True), ("ybj.jl.gov.cn", True), ("xybj.jl.gov.cn", False),
    ("jl.gov.cn", False), ("www.baidu.com", False), ("api.weixin.qq.com", False),
    ("hsip.gov.cn", True), ("printer", True), ("nas.local", True), ("router.lan", True),
    ("db.internal", True), ("tv.home.arpa", True), ("3.2.1.10.in-addr.arpa", True),
    ("1.0.ip6.arpa", True), ("local", True), ("10.200.1.1", True), ("8.8.8.8", False),
    ("2001:db8::1", False), ("local.example.com", False),
    ("_dns.resolver.arpa", True), ("ipv4only.arpa", True), ("wpad", True),
    ("app.localhost", True), ("x.invalid", True), ("arpa.example.com", False),
])
def test_internal_names(name, internal):
    domains = names.normalise_domains(["YBJ.jl.gov.cn.", ".hsip.gov.cn"])
    assert names.is_internal(name, domains, private) is internal


def test_ip_literals_are_public_without_a_plan():
    assert not names.is_internal("10.1.2.3", ())


def test_under():
    assert names.under("a.b.example.com", ["example.com"])
    assert names.under("example.com", {"example.com"})
    assert not names.under("badexample.com", ["example.com"])
    assert not names.under("", ["example.com"])


# --- pre-filters --------------------------------------------------------------------------


def asked(payloads, proto, sport, dport) -> dict[int, int]:
    """InternetBound.askers over rows of these payloads between any ends: row -> what it
    asks by (1 DNS over UDP, 2 a TLS ClientHello, 3 HTTP, 4 DNS over TCP)."""
    from ybsensor.detectors.internet_bound import InternetBound
    t = type("T", (), {})()
    t.n = len(payloads)
    t.batch = type("B", (), {"data": np.frombuffer(b"".join(payloads) + bytes(16), np.uint8)})()
    t.payload_len = np.array([len(p) for p in payloads], dtype=np.int64)
    t.payload_off = np.concatenate([[0], np.cumsum(t.payload_len)[:-1]]).astype(np.int64)
    t.proto, t.sport, t.dport = (np.broadcast_to(np.asarray(x, dtype=np.int64), (t.n,)).copy()
                                 for x in (proto, sport, dport))
    ctx = type("Ctx", (), {})()
    ctx.t, ctx.has_ip = t, np.ones(t.n, dtype=bool)
    rows, ask = InternetBound.askers(ctx, private=0)
    return dict(zip(rows.tolist(), ask.tolist()))


def test_prefilters_select_what_the_parsers_accept():
    payloads = [client_hello(), dns_query("www.baidu.com"), dns_query("x.cn", qr=1),
                b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
                b"CONNECT a.b:443 HTTP/1.1\r\n\r\n", b"OPTIONS * HTTP/1.1\r\n\r\n",
                b"GETX / HTTP/1.1\r\n\r\n", b"G", b"", b"\x16\x03\x01"]
    port = [443, 53, 53, 80, 8080, 80, 80, 80, 80, 443]
    proto = [6, 17, 17, 6, 6, 6, 6, 6, 6, 6]
    assert asked(payloads, proto, 40000, port) == {0: 2, 1: 1, 3: 3, 4: 3, 5: 3}
    # a DNS query to another port, or over TCP without its length prefix, is not selected
    assert asked(payloads[1:2], 17, 40000, 5353) == {}
    assert asked(payloads[1:2], 6, 40000, 53) == {}
    with_prefix = len(payloads[1]).to_bytes(2, "big") + payloads[1]
    assert asked([with_prefix], 6, 40000, 53) == {0: 4}


def test_prefilters_on_no_rows():
    assert asked([], 6, 0, 0) == {}


# --- random input never raises ------------------------------------------------------------

PARSERS = (names.tls_server_name, names.dns_query_name, names.http_host)


def _checked(out):
    assert out is None or (isinstance(out, str) and out == names.clean_name(out))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(data):
    for parse in PARSERS:
        _checked(parse(data))


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=40), st.integers(0, 10_000), st.binary(max_size=8))
def test_mutated_valid_messages_never_raise(noise, where, insert):
    for valid, parse in ((client_hello(), names.tls_server_name),
                         (dns_query("www.baidu.com"), names.dns_query_name),
                         (b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", names.http_host)):
        at = where % (len(valid) + 1)
        for data in (valid[:at] + noise + valid[at + len(noise):],   # overwrite
                     valid[:at] + insert + valid[at:],                 # insert
                     valid[:at]):                                      # truncate
            _checked(parse(data))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=80), min_size=1, max_size=20))
def test_prefilters_on_random_heads(payloads):
    for proto in (6, 17):
        got = asked(payloads, proto, 53, 53)
        assert set(got) <= set(range(len(payloads))) and set(got.values()) <= {1, 2, 3, 4}
