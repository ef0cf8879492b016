"""The dns, tls and http event logs: held against tshark's own dissection of Zeek's test
traces (each query, ClientHello and request, its fields and the response's status), a
TLCP ClientHello and a request carrying an identifier built here, and the same records
as Parquet that DuckDB counts."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.utils import wrpcap

from frames import link

from pii import resident_id
from tools import ONE_HOSPITAL, PCAPS, require_module, require_tool

sys.path.insert(0, str(PCAPS))
import casegen as mc  # noqa: E402  (the cases' frame builders)

ROOT = Path(__file__).resolve().parents[2]
ZEEK = ROOT.parent / "shared" / "corpus" / "zeek"
PLAN = ONE_HOSPITAL + """
[events]
sensor = "edge-test"
"""
KINDS = ("dns", "tls", "http")
SEP = "\x1e"   # between the occurrences of a field in a frame, from tshark


def replay(pcap: Path, tmp: Path, suffix: str = ".jsonl", batch_frames: int | None = None
           ) -> dict[str, list[dict] | Path]:
    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
    from ybsensor.sensor.sources import read_capture

    config = tmp / "plan.toml"
    config.write_text(PLAN)
    paths = {kind: tmp / f"{kind}{suffix}" for kind in KINDS}
    for path in paths.values():
        path.unlink(missing_ok=True)
    sensor = Sensor(load(config), alerts_path="", flow_log="",
                    event_logs={k: str(p) for k, p in paths.items()})
    kw = {"batch_frames": batch_frames} if batch_frames else {}
    for batch in read_capture(pcap, **kw):
        sensor.pipeline.process(batch)
    sensor.close()
    if suffix != ".jsonl":
        return paths
    return {kind: [json.loads(line) for line in path.read_text().splitlines()]
            for kind, path in paths.items()}


def tshark(pcap: Path, display: str, *fields: str, occurrence: str = "f",
           aggregator: str = ",") -> list[list[str]]:
    out = subprocess.run([require_tool("tshark"), "-r", str(pcap), "-Y", display, "-T",
                          "fields", "-E", "separator=\t", "-E", f"occurrence={occurrence}",
                          "-E", f"aggregator={aggregator}",
                          *[x for f in fields for x in ("-e", f)]],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    # lines end at a newline alone (splitlines would also cut at the aggregator byte)
    return [line.split("\t") for line in out.split("\n") if line]


def need(trace: str) -> Path:
    pcap = ZEEK / trace
    if not pcap.exists():
        pytest.skip(f"{pcap} is not here")
    return pcap


@pytest.mark.parametrize("trace", ["dns-caa.pcap", "dns-https.pcap", "dns/dns-binds.pcap"])
def test_dns_queries_agree_with_tshark(trace, tmp_path):
    pcap = need(trace)
    ours = sorted((r["src"], r["sport"], r["trans_id"], r["query"], r["qtype"])
                  for r in replay(pcap, tmp_path)["dns"])
    theirs = sorted((s4 or s6, int(sp or tsp), int(i, 16), name.lower(), int(qt))
                    for s4, s6, sp, tsp, i, name, qt in tshark(
                        pcap, "dns.flags.response == 0 and dns.count.queries >= 1 and "
                        "(udp.dstport == 53 or tcp.dstport == 53) and not icmp",
                        "ip.src", "ipv6.src", "udp.srcport", "tcp.srcport", "dns.id",
                        "dns.qry.name", "dns.qry.type"))
    assert theirs and ours == theirs


@pytest.mark.parametrize("trace", ["tls/tls1.2.pcap", "tls/chrome-34-google.pcap",
                                   "tls/tls1_1.pcap", "tls/tls13_wolfssl.pcap",
                                   "tls/tls13draft23-chrome67.0.3368.0-canary.pcap",
                                   "tls/ssl.v3.pcap"])
def test_client_hellos_agree_with_tshark(trace, tmp_path):
    """Server name, and the highest version offered: supported_versions' largest (GREASE
    left out), else the hello's own version. Hellos in SSL 2's record format (ssl.v3.pcap's
    first) are not read: tshark's too are left out (a TLS record has a content type)."""
    pcap = need(trace)
    names = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2",
             0x0304: "TLS 1.3"}
    ours = sorted((r["src"], r["sport"], r["server_name"], r["version"], r["protocol"])
                  for r in replay(pcap, tmp_path)["tls"])
    theirs = []
    for s4, s6, sp, sni, version, offered in tshark(
            pcap, "tls.handshake.type == 1 and tls.record.content_type == 22", "ip.src",
            "ipv6.src", "tcp.srcport", "tls.handshake.extensions_server_name",
            "tls.handshake.version", "tls.handshake.extensions.supported_version",
            occurrence="a"):
        listed = [v for v in (int(x, 16) for x in offered.split(",") if x)
                  if v & 0x0F0F != 0x0A0A]
        v = max(listed) if listed else int(version, 16)
        theirs.append((s4 or s6, int(sp), sni or None, names.get(v, f"0x{v:04x}"), "tls"))
    assert theirs and ours == sorted(theirs)


@pytest.mark.parametrize("trace", ["tls/tls1.2.pcap", "tls/chrome-34-google.pcap",
                                   "tls/tls13_wolfssl.pcap", "tls/tls13-ech.pcap",
                                   "tls/tls13draft23-chrome67.0.3368.0-canary.pcap",
                                   "tls/chrome-1250-tls-x25519-kyber.pcap", "tls/hrr.pcap"])
def test_ja4_agrees_with_the_ja4plus_library(trace, tmp_path):
    """JA4 of each ClientHello as the ja4plus library computes it from the packets. A
    hello that spans segments (chrome-1250's X25519Kyber768 key share) is read whole, on
    the segment that completes it."""
    ja4plus = require_module("ja4plus")
    from scapy.layers.inet import IP
    from scapy.utils import rdpcap

    pcap = need(trace)
    theirs, fingerprinter = {}, ja4plus.JA4Fingerprinter()
    for packet in rdpcap(str(pcap)):
        ja4 = fingerprinter.process_packet(packet)
        if ja4 and TCP in packet:
            theirs[(packet[IP].src, packet[TCP].sport)] = ja4
    ours = {(r["src"], r["sport"]): r for r in replay(pcap, tmp_path)["tls"]}
    assert theirs and set(ours) == set(theirs)
    for key, ja4 in theirs.items():
        assert ours[key]["ja4"] == ja4, key


@pytest.mark.parametrize("trace", ["quic/curl-8.1.2-dev-http3-www-google-de.pcap",
                                   "quic/chromium-115.0.5790.110-api-cirrus-com.pcap",
                                   "quic/firefox-102.13.0esr-blog-cloudflare-com.pcap",
                                   "quic/quic-multiple-initial-fragmented-crypto.pcap",
                                   "quic/quicv2-http3-443.pcap"])
def test_quic_client_hellos_agree_with_tshark_and_ja4plus(trace, tmp_path):
    """A QUIC client's ClientHello (read from its Initial packets) is a tls record: server
    name and highest version as tshark dissects them (it opens Initial packets too), JA4
    as the ja4plus library computes it (transport `q`). A hello spread over datagrams is
    read whole on the one completing it. ja4plus reads QUIC v1 only."""
    ja4plus = require_module("ja4plus")
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.utils import rdpcap

    pcap = need(trace)
    ours = {(r["src"], r["sport"]): r for r in replay(pcap, tmp_path)["tls"]}
    theirs = {}
    for s4, s6, sport, sni, offered in tshark(
            pcap, "tls.handshake.type == 1 and quic", "ip.src", "ipv6.src", "udp.srcport",
            "tls.handshake.extensions_server_name",
            "tls.handshake.extensions.supported_version", occurrence="a"):
        listed = [v for v in (int(x, 16) for x in offered.split(",") if x)
                  if v & 0x0F0F != 0x0A0A]
        theirs[(s4 or s6, int(sport))] = (sni or None, "TLS 1.3" if max(listed) == 0x0304 else None)
    assert theirs and set(ours) == set(theirs)
    fingerprints = {}
    fingerprinter = ja4plus.JA4Fingerprinter()
    for packet in rdpcap(str(pcap)):
        ja4 = fingerprinter.process_packet(packet)
        if ja4 and UDP in packet:
            ip = packet[IP] if IP in packet else packet[IPv6]
            fingerprints.setdefault((ip.src, packet[UDP].sport), ja4)
    for key, (sni, version) in theirs.items():
        record = ours[key]
        assert record["server_name"] == sni
        assert (record["version"], record["protocol"]) == (version, "quic")
        assert record["ja4"].startswith("q") and record["ja4"] == fingerprints.get(
            key, record["ja4"]), key
    assert "/quicv2" in trace or set(fingerprints) == set(theirs)


@pytest.mark.parametrize("trace", ["http/get-gzip.pcap", "http/100-continue.pcap",
                                   "http/basic-auth-with-colon.pcap", "http/byteranges.pcap",
                                   "http/pipelined-requests.pcap"])
def test_http_requests_and_their_status_agree_with_tshark(trace, tmp_path):
    agree_with_tshark(need(trace), tmp_path)


def agree_with_tshark(pcap: Path, tmp_path: Path) -> None:
    ours = sorted((r["src"], r["sport"], r["method"], r["host"], r["path"], r["user_agent"],
                   r["status"]) for r in replay(pcap, tmp_path)["http"])
    # every request of a frame (a client may pipeline several in one segment): each field's
    # occurrences, joined by a byte no header holds
    requests = tshark(pcap, "http.request", "ip.src", "tcp.srcport", "tcp.stream",
                      "http.request.method", "http.host", "http.request.uri",
                      "http.user_agent", occurrence="a", aggregator=SEP)
    # each stream's final (not 1xx) responses, in order, answer its requests in order
    finals: dict[str, list[int]] = {}
    for stream, codes in tshark(pcap, "http.response", "tcp.stream", "http.response.code",
                                occurrence="a", aggregator=SEP):
        finals.setdefault(stream, []).extend(int(c) for c in codes.split(SEP) if int(c) >= 200)
    theirs = []
    for src, sport, stream, *each in requests:
        for method, host, uri, agent in zip(*(field.split(SEP) for field in each)):
            codes = finals.get(stream, [])
            theirs.append((src, int(sport), method, host.split(":")[0].lower() or None, uri,
                           agent or None, codes.pop(0) if codes else None))
    assert theirs and ours == sorted(theirs)


def pipelined_exchange(methods: list[str], answers: list[bytes], together: bool) -> list:
    """Requests sent in one segment (HTTP/1.1 pipelining), answered in order: one response
    a segment, or all in one."""
    c, s = "10.1.2.10", "10.200.1.20"
    up, down = link(100) / IP(src=c, dst=s), link(100) / IP(src=s, dst=c)
    sent = b"".join(f"{m} /{k} HTTP/1.1\r\nHost: portal{k}.example\r\nUser-Agent: pipe/1\r\n\r\n"
                    .encode() for k, m in enumerate(methods))
    pkts = [up / TCP(sport=51000, dport=80, flags="S", seq=100),
            down / TCP(sport=80, dport=51000, flags="SA", seq=500, ack=101),
            up / TCP(sport=51000, dport=80, flags="PA", seq=101, ack=501) / sent]
    seq = 501
    for answer in [b"".join(answers)] if together else answers:
        pkts.append(down / TCP(sport=80, dport=51000, flags="PA", seq=seq,
                               ack=101 + len(sent)) / answer)
        seq += len(answer)
    for k, p in enumerate(pkts):
        p.time = 1735776000 + k * 0.01
    return pkts


@pytest.mark.parametrize("together", [False, True])
def test_pipelined_requests_are_each_a_record_answered_in_order(together, tmp_path):
    """Each pipelined request is a record with the status of its own answer, as tshark
    reads them."""
    pcap = tmp_path / "pipelined.pcap"
    wrpcap(str(pcap), pipelined_exchange(
        ["GET"] * 3, [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                      b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                      b"HTTP/1.1 304 Not Modified\r\n\r\n"], together))
    got = replay(pcap, tmp_path)["http"]
    assert [(r["host"], r["path"], r["status"]) for r in got] == [
        ("portal0.example", "/0", 200), ("portal1.example", "/1", 404),
        ("portal2.example", "/2", 304)]
    agree_with_tshark(pcap, tmp_path)


def test_a_pipelined_head_s_answer_has_no_body(tmp_path):
    """The answer to HEAD announces the length a GET would get and sends no body (RFC 9112
    6.3): the next answer begins right after its head."""
    pcap = tmp_path / "head.pcap"
    wrpcap(str(pcap), pipelined_exchange(
        ["HEAD", "GET"], [b"HTTP/1.1 200 OK\r\nContent-Length: 512\r\n\r\n",
                          b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"], True))
    got = replay(pcap, tmp_path)["http"]
    assert [(r["method"], r["status"]) for r in got] == [("HEAD", 200), ("GET", 403)]


def test_the_same_records_whatever_the_batching(tmp_path):
    pcap = need("http/pipelined-requests.pcap")
    whole = replay(pcap, tmp_path)
    for size in (1, 3, 64):
        got = replay(pcap, tmp_path, batch_frames=size)
        for kind in KINDS:
            assert sorted(map(json.dumps, got[kind])) == sorted(map(json.dumps, whole[kind]))


def tcp_exchange(request: bytes, answer: bytes, sport: int = 51000, dport: int = 443) -> list:
    c, s = "10.1.2.10", "10.200.1.20"
    up = link(100) / IP(src=c, dst=s)
    down = link(100) / IP(src=s, dst=c)
    pkts = [up / TCP(sport=sport, dport=dport, flags="S", seq=100),
            down / TCP(sport=dport, dport=sport, flags="SA", seq=500, ack=101),
            up / TCP(sport=sport, dport=dport, flags="PA", seq=101, ack=501) / request,
            down / TCP(sport=dport, dport=sport, flags="PA", seq=501, ack=101 + len(request))
            / answer]
    for k, p in enumerate(pkts):
        p.time = 1735776000 + k * 0.01
    return pkts


def test_a_client_hello_over_two_segments_has_its_version_and_ja4(tmp_path):
    """A ClientHello of 1.8 KB (a browser's post-quantum key share; here RFC 7685 padding
    before the server name) in two TCP segments: its record is read whole at the segment
    that completes it, and gives the version and the JA4 that the ja4plus library computes
    for the same hello in one segment."""
    import struct
    from casegen.remote_control import client_hello_sni
    ja4plus = require_module("ja4plus")
    hello = client_hello_sni("pq-hello", "portal.ybj.example",
                             before=struct.pack("!HH", 0x0015, 1600) + bytes(1600))
    assert len(hello) >= 1800 and hello.index(b"portal.ybj.example") > 1400
    whole = tcp_exchange(hello, b"\x16\x03\x03\x00\x00")
    theirs = [ja4 for ja4 in map(ja4plus.JA4Fingerprinter().process_packet, whole) if ja4]
    split = whole[:2]
    up = whole[2]
    split += [up.copy(), up.copy()]
    split[2][TCP].remove_payload()
    split[2][TCP].add_payload(hello[:1400])
    split[3][TCP].remove_payload()
    split[3][TCP].seq = up[TCP].seq + 1400
    split[3][TCP].add_payload(hello[1400:])
    for p in split[2:]:
        del p[IP].len, p[IP].chksum, p[TCP].chksum
    pcap = tmp_path / "pq.pcap"
    wrpcap(str(pcap), split)
    (record,) = replay(pcap, tmp_path)["tls"]
    assert record["server_name"] == "portal.ybj.example" and record["version"] == "TLS 1.3"
    assert theirs and record["ja4"] == theirs[0]


def test_a_tlcp_client_hello_is_named_tlcp_and_its_flow_found(tmp_path):
    pcap = tmp_path / "tlcp.pcap"
    wrpcap(str(pcap), tcp_exchange(mc.tlcp_client_hello("tlcp", b"pay.ybj.example"),
                                   b"\x16\x01\x01\x00\x00"))
    (record,) = replay(pcap, tmp_path)["tls"]
    assert (record["protocol"], record["version"], record["server_name"]) == \
        ("tlcp", "TLCP 1.1", "pay.ybj.example")
    assert (record["line"], record["institution"], record["sensor"]) == \
        ("vlan:100", "H1", "edge-test")
    import communityid
    assert record["community_id"] == communityid.CommunityID().calc(
        communityid.FlowTuple.make_tcp("10.1.2.10", "10.200.1.20", 51000, 443))


def test_an_identifier_in_a_path_or_user_agent_is_masked(tmp_path):
    number = resident_id(random.Random(15))
    request = (f"GET /query?aac002={number} HTTP/1.1\r\nHost: svc.example\r\n"
               f"User-Agent: client/{number}\r\n\r\n").encode()
    pcap = tmp_path / "pii.pcap"
    wrpcap(str(pcap), tcp_exchange(request, b"HTTP/1.1 404 Not Found\r\n\r\n", dport=80))
    (record,) = replay(pcap, tmp_path)["http"]
    assert record["status"] == 404 and record["method"] == "GET"
    assert record["host"] == "svc.example"
    text = json.dumps(record)
    assert number not in text
    assert record["path"].startswith("/query?aac002=") and number[:3] in record["path"]


def test_a_cleartext_http2_request_is_an_http_record(tmp_path):
    """h2c with prior knowledge (gRPC's way): the request's method, :path, :authority and
    user-agent, HPACK-coded on the wire, are read from the decoded header block, and its
    status is the :status answered on its stream. The frames are made by h2, an
    independent implementation."""
    require_module("h2")
    from h2.config import H2Configuration
    from h2.connection import H2Connection
    number = resident_id(random.Random(16))
    client = H2Connection(H2Configuration(client_side=True))
    server = H2Connection(H2Configuration(client_side=False))
    client.initiate_connection()
    server.initiate_connection()
    client.send_headers(1, [(":method", "GET"), (":path", f"/query?aac002={number}"),
                            (":scheme", "http"), (":authority", "svc.example:8080"),
                            ("user-agent", "grpc-java/1.60")], end_stream=True)
    sent = client.data_to_send()
    server.receive_data(sent)
    server.send_headers(1, [(":status", "200")], end_stream=True)
    pcap = tmp_path / "h2c.pcap"
    wrpcap(str(pcap), tcp_exchange(sent, server.data_to_send(), dport=8080))
    (record,) = replay(pcap, tmp_path)["http"]
    assert (record["method"], record["host"], record["user_agent"], record["status"]) == \
        ("GET", "svc.example", "grpc-java/1.60", 200)
    assert record["path"].startswith("/query?aac002=") and number not in json.dumps(record)


def test_http2_answers_are_matched_by_stream_not_order(tmp_path):
    """Three requests in one segment, as clients send them; two answered in the other order,
    the later one after an interim 103: each record takes its own stream's final status.
    The request never answered is written at the end, status null."""
    require_module("h2")
    from h2.config import H2Configuration
    from h2.connection import H2Connection
    client = H2Connection(H2Configuration(client_side=True))
    server = H2Connection(H2Configuration(client_side=False))
    client.initiate_connection()
    server.initiate_connection()
    for stream, path in ((1, "/first"), (3, "/second"), (5, "/never")):
        client.send_headers(stream, [(":method", "GET"), (":path", path), (":scheme", "http"),
                                     (":authority", "svc.example")], end_stream=True)
    sent = client.data_to_send()
    server.receive_data(sent)
    server.send_headers(3, [(":status", "404")], end_stream=True)
    server.send_headers(1, [(":status", "103"), ("link", "</a.css>; rel=preload")])
    server.send_headers(1, [(":status", "200")], end_stream=True)
    pcap = tmp_path / "h2c.pcap"
    wrpcap(str(pcap), tcp_exchange(sent, server.data_to_send(), dport=8080))
    records = replay(pcap, tmp_path)["http"]
    assert sorted((r["path"], r["status"]) for r in records) == \
        [("/first", 200), ("/never", None), ("/second", 404)]


def test_duckdb_reads_the_parquet_logs(tmp_path):
    duckdb = require_module("duckdb")
    rows = replay(PCAPS / "demo.pcap", tmp_path / "", ".jsonl")
    paths = replay(PCAPS / "demo.pcap", tmp_path, ".parquet")
    con = duckdb.connect()
    for kind in KINDS:
        want = Counter(r["dst"] for r in rows[kind])
        got = dict(con.execute(f"select dst, count(*) from read_parquet('{paths[kind]}') "
                               f"group by dst").fetchall())
        assert got == dict(want), kind
    assert sum(len(r) for r in rows.values()) > 100


def test_a_reload_goes_on_writing_the_same_parquet_files(tmp_path):
    """A configuration reloaded halfway (live's SIGHUP: a new Sensor, carry_over) writes
    on into the same Parquet logs: the file is not emptied by the new configuration, and
    holds what one sensor writes for the whole capture."""
    pq = require_module("pyarrow.parquet")
    from ybsensor.sensor.config import load
    from ybsensor.sensor.live import carry_over
    from ybsensor.sensor.sensor import Sensor
    from ybsensor.sensor.sources import read_capture

    config = tmp_path / "plan.toml"
    config.write_text(PLAN + f'flow = "{tmp_path}/flows.parquet"\n'
                      f'dns = "{tmp_path}/dns.parquet"\n')
    batches = list(read_capture(PCAPS / "demo.pcap", batch_frames=2048))
    assert len(batches) > 2
    old = Sensor(load(config), alerts_path="")
    for batch in batches[:len(batches) // 2]:
        old.pipeline.process(batch)
    new = Sensor(load(config), alerts_path="")
    carry_over(old, new)
    for batch in batches[len(batches) // 2:]:
        new.pipeline.process(batch)
    new.close()
    reloaded = {kind: pq.read_table(tmp_path / f"{kind}.parquet").to_pylist()
                for kind in ("flows", "dns")}
    one = Sensor(load(config), alerts_path="")
    for batch in batches:
        one.pipeline.process(batch)
    one.close()
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    for kind, rows in reloaded.items():
        assert len(rows) > 10
        assert sorted(rows, key=key) == sorted(
            pq.read_table(tmp_path / f"{kind}.parquet").to_pylist(), key=key), kind


def test_a_replay_stopped_by_sigterm_leaves_whole_parquet_logs(tmp_path):
    """SIGTERM while a replay waits on a pipe for more frames: the Parquet logs are
    closed with their footer (pyarrow reads them), and the exit status says SIGTERM."""
    pq = require_module("pyarrow.parquet")
    import os
    import signal
    import threading

    from tools import ybsensor_cmd

    config = tmp_path / "plan.toml"
    config.write_text(PLAN + f'flow = "{tmp_path}/flows.parquet"\n'
                      f'dns = "{tmp_path}/dns.parquet"\n')
    fifo = tmp_path / "frames.pcap"
    os.mkfifo(fifo)

    proc = subprocess.Popen(ybsensor_cmd() + ["replay", str(fifo), "--config", str(config),
                                              "--alerts", str(tmp_path / "alerts.jsonl")],
                            env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writer = open(fifo, "wb", buffering=0)   # held open: the replay waits for more
    fed = threading.Thread(target=lambda: writer.write((PCAPS / "demo.pcap").read_bytes()),
                           daemon=True)
    fed.start()
    fed.join(timeout=120)               # all but the pipe's buffer has been read
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    finally:
        writer.close()
    assert proc.returncode == 143, err
    assert "SIGTERM" in err
    for kind in ("flows", "dns"):
        table = pq.read_table(tmp_path / f"{kind}.parquet")
        assert table.schema.names[:3] == ["event_type", "timestamp", "ts"]


def test_requests_waiting_for_their_status_are_bounded_and_counted(tmp_path, monkeypatch):
    """Four requests on four connections, then their four responses, with room for two
    waiting: the two oldest are written without a status when the later ones come (and
    counted); the two kept get theirs."""
    from ybsensor.exporters import events

    monkeypatch.setattr(events, "MAX_WAITING", 2)
    c, s = "10.1.2.10", "10.200.1.20"
    request = b"GET /a HTTP/1.1\r\nHost: svc.example\r\n\r\n"
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    pkts = [link(100) / IP(src=c, dst=s) /
            TCP(sport=50000 + k, dport=80, flags="PA", seq=1, ack=1) / request for k in range(4)]
    pkts += [link(100) / IP(src=s, dst=c) /
             TCP(sport=80, dport=50000 + k, flags="PA", seq=1, ack=1 + len(request)) / answer
             for k in range(4)]
    for k, p in enumerate(pkts):
        p.time = 1735776000 + k * 0.01
    pcap = tmp_path / "waiting.pcap"
    wrpcap(str(pcap), pkts)

    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
    from ybsensor.sensor.sources import read_capture

    config = tmp_path / "plan.toml"
    config.write_text(PLAN)
    sensor = Sensor(load(config), alerts_path="", flow_log="",
                    event_logs={"http": str(tmp_path / "http.jsonl")})
    for batch in read_capture(pcap, batch_frames=1):
        sensor.pipeline.process(batch)
        assert len(sensor.events.waiting) <= 2
    sensor.close()
    records = [json.loads(line) for line in (tmp_path / "http.jsonl").read_text().splitlines()]
    assert sorted((r["sport"], r["status"]) for r in records) == \
        [(50000, None), (50001, None), (50002, 200), (50003, 200)]
    assert sensor.events.unanswered["http"] == 2
