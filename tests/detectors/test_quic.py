"""The server name in a QUIC client's Initial packets (detectors/quic.py), read by every
detector that reads names. References: Zeek's quic.log for the QUIC traces of its test
suite (tests/data/zeek/), and aioquic, an independent QUIC implementation, as the client
that makes the synthetic datagrams."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from frames import udp_datagram

from ybsensor.decoders import Batch
from ybsensor.detectors import quic
from test_detectors_names import CLIENT, PROXY
from test_first_messages import by_name, sensor

ROOT = Path(__file__).resolve().parents[2]
BASELINES = ROOT / "tests" / "data" / "zeek"
TRACES = ROOT.parent / "shared" / "corpus" / "zeek" / "quic"
# Zeek's baseline (tests/data/zeek/scripts.base.protocols.quic.NAME.quic.log[.cut]) of
# each trace
ZEEK = {
    "chromium-115.0.5790.110-api-cirrus-com.pcap": "chromium",
    "curl-8.1.2-dev-http3-www-google-de.pcap": "curl-http3",
    "firefox-102.13.0esr-blog-cloudflare-com.pcap": "firefox",
    "quic-39264-rand.pcap": "39264-rand",
    "quicv2-echo-443.pcap": "quicv2-echo-443",
    "quicv2-http3-443.pcap": "quicv2-http3-443",
    "quicdoq.pcap": "quicdoq",
    "merlinc2_Zeek_example.pcapng": "merlinc2",
    "quic-multiple-initial-fragmented-crypto.pcap": "multiple-initial-fragmented-crypto",
    "quic-multiple-initial-fragmented-crypto-only-initial.pcap":
        "multiple-initial-fragmented-crypto-only-initial",
    "quic-decrypt-fail-google-de-51833.pcap": "decrypt-fail-google-de-51833",
}


def zeek_server_names(baseline: str) -> set[str]:
    """The server_name column of a Zeek quic.log (whole or cut by zeek-cut), unset left out."""
    path = BASELINES / f"scripts.base.protocols.quic.{baseline}.quic.log"
    if not path.exists():
        path = path.with_name(path.name + ".cut")
    fields, out = None, set()
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line.startswith("ts\t"):
            fields = line.split("\t")
        elif fields and line and not line.startswith("#"):
            value = dict(zip(fields, line.split("\t")))["server_name"]
            if value != "-":
                out.add(value)
    return out


def client_streams(path: Path) -> dict[tuple, list[bytes]]:
    """Each UDP sender's datagrams, in capture order, read with dpkt (the baseline reader)."""
    import dpkt
    out: dict[tuple, list[bytes]] = {}
    with path.open("rb") as f:
        reader = dpkt.pcapng.Reader(f) if path.suffix == ".pcapng" else dpkt.pcap.Reader(f)
        for _, buf in reader:
            ip = dpkt.ethernet.Ethernet(buf).data
            if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) and isinstance(ip.data, dpkt.udp.UDP):
                out.setdefault((bytes(ip.src), ip.data.sport, bytes(ip.dst), ip.data.dport),
                               []).append(bytes(ip.data.data))
    return out


@pytest.mark.parametrize("trace", sorted(ZEEK))
def test_server_names_agree_with_zeek(trace):
    path = TRACES / trace
    if not path.exists():
        pytest.skip(f"the corpus is not here: {path}")
    names = set()
    for datagrams in client_streams(path).values():
        # from the stream's first client Initial on, as the pre-filter picks it
        first = next((k for k, d in enumerate(datagrams)
                      if quic.is_client_initial(d[:5]) and len(d) >= quic.MIN_DATAGRAM), None)
        if first is not None:
            name = quic.server_name(b"".join(quic.frame(d) for d in datagrams[first:first + 12]))
            if name is not None:
                names.add(name)
    assert names == zeek_server_names(ZEEK[trace])


def client_initial(server_name: str, version: int = quic.V1, alpn: int = 1) -> list[bytes]:
    """The first datagrams of an aioquic client connecting to `server_name` (`alpn`
    protocols offered: many make the ClientHello span datagrams)."""
    from aioquic.quic.configuration import QuicConfiguration
    from aioquic.quic.connection import QuicConnection
    protocols = ["h3"] + [f"x-proto-{k:03d}-padding-padding-padding" for k in range(alpn - 1)]
    conf = QuicConfiguration(is_client=True, server_name=server_name, alpn_protocols=protocols,
                             supported_versions=[version])
    conn = QuicConnection(configuration=conf)
    conn.connect((PROXY, 443), now=0.0)
    return [d for d, _ in conn.datagrams_to_send(now=0.0)]


def quic_frame(payload: bytes, sport: int = 50443) -> bytes:
    return udp_datagram(payload, src=CLIENT, dst=PROXY, sport=sport, dport=443)


@pytest.mark.parametrize("version", [quic.V1, quic.V2])
def test_every_name_reader_reads_a_quic_server_name(tmp_path, version):
    """A hospital host asks for a public service over QUIC through the platform's proxy:
    internet_bound's name rule reads the name as it would from TLS over TCP."""
    s = sensor(tmp_path)
    s.pipeline.process(Batch.from_frames([quic_frame(d) for d in client_initial("www.example.com",
                                                                                version)]))
    assert by_name(s) == [("internet_bound", 1, "www.example.com")]
    assert s.last_alerts[0]["evidence"]["name_source"] == "tls_sni"


def test_a_client_hello_over_datagrams_out_of_order_and_across_batches(tmp_path):
    """The ClientHello spans three datagrams; its middle one comes first, alone in a batch:
    it opens but holds no start, so the stream is kept; the next batch brings the rest,
    the name is read and nothing stays kept."""
    datagrams = client_initial("www.example.com", alpn=60)
    assert len(datagrams) == 3
    assert quic.server_name(quic.frame(datagrams[1])) is None
    s = sensor(tmp_path)
    kept = next(d.first_messages for d in s.alerter.detectors if hasattr(d, "first_messages"))
    s.pipeline.process(Batch.from_frames([quic_frame(datagrams[1])]))
    assert by_name(s) == [] and len(kept.pending) == 1
    s.pipeline.process(Batch.from_frames([quic_frame(datagrams[0]), quic_frame(datagrams[2])],
                                         first_frame=2))
    assert by_name(s) == [("internet_bound", 2, "www.example.com")]
    assert not kept.pending and kept.given_up["whole"] == 0


def test_chromes_crypto_frames_spread_over_datagrams_are_read_across_batches(tmp_path):
    """Zeek's trace of a client whose ClientHello lies in CRYPTO frames spread over many
    Initial packets, replayed a few frames a batch: malicious_link reads the name Zeek
    logs, where the hello completes."""
    import dpkt
    path = TRACES / "quic-multiple-initial-fragmented-crypto.pcap"
    if not path.exists():
        pytest.skip(f"the corpus is not here: {path}")
    (tmp_path / "intel.txt").write_text("doubleclick.net high test-feed\n")
    (tmp_path / "sensor.toml").write_text('[network]\nprivate = ["10.0.0.0/8"]\n'
                                          '[detectors.malicious_link]\npaths = ["intel.txt"]\n')
    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
    s = Sensor(load(tmp_path / "sensor.toml"), alerts_path=str(tmp_path / "alerts.jsonl"))
    with path.open("rb") as f:
        frames = [buf for _, buf in dpkt.pcap.Reader(f)]
    names = []
    for at in range(0, len(frames), 3):
        s.pipeline.process(Batch.from_frames(frames[at:at + 3], first_frame=at + 1))
        names += [(a["first_frame"], a["evidence"]["name"]) for a in s.last_alerts
                  if a["detector"] == "malicious_link"]
    s.close()
    (name,) = zeek_server_names(ZEEK[path.name])
    assert [n for _, n in names] == [name] and names[0][0] > 1


def test_an_initial_that_does_not_open_gives_no_name(tmp_path):
    """One byte changed in the protected payload: the AEAD tag fails, nothing is read (a
    forged name is never believed); and nothing is kept waiting for it."""
    datagram = bytearray(client_initial("www.example.com")[0])
    datagram[100] ^= 0x01           # inside the protected payload
    assert quic.server_name(quic.frame(bytes(datagram))) is None
    assert quic.whole(quic.frame(bytes(datagram)))
    s = sensor(tmp_path)
    s.pipeline.process(Batch.from_frames([quic_frame(bytes(datagram))]))
    kept = next(d.first_messages for d in s.alerter.detectors if hasattr(d, "first_messages"))
    assert by_name(s) == [] and not kept.pending


_FUZZ_SEED = client_initial("www.example.com", alpn=30)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_damaged_initials_never_raise(data):
    """Bytes cut, changed or added anywhere in a real client's datagrams give a name or
    None, never an exception."""
    datagrams = [bytearray(d) for d in _FUZZ_SEED]
    for _ in range(data.draw(st.integers(1, 4))):
        d = datagrams[data.draw(st.integers(0, len(datagrams) - 1))]
        if not d:
            continue
        at = data.draw(st.integers(0, len(d) - 1))
        how = data.draw(st.sampled_from(["flip", "cut", "grow"]))
        if how == "flip":
            d[at] ^= data.draw(st.integers(1, 255))
        elif how == "cut":
            del d[at:]
        else:
            d[at:at] = data.draw(st.binary(max_size=40))
    message = b"".join(quic.frame(bytes(d)) for d in datagrams)
    assert quic.server_name(message) in (None, "www.example.com")
    quic.whole(message)


def test_a_stream_that_never_completes_is_given_up_by_its_bound(tmp_path):
    """Datagrams of a client whose hello never gets its start are kept, bounded by the
    message size, and given up as too long."""
    datagrams = client_initial("www.example.com", alpn=60)
    later = datagrams[1]
    s = sensor(tmp_path)
    kept = next(d.first_messages for d in s.alerter.detectors if hasattr(d, "first_messages"))
    frames = [quic_frame(later)] * 20
    s.pipeline.process(Batch.from_frames(frames))
    assert by_name(s) == [] and not kept.pending and kept.given_up["too_long"] == 1


def test_a_remote_control_tools_name_over_quic(tmp_path):
    """remote_control reads a tool's relay name from a QUIC ClientHello as from TLS over
    TCP (the catalogue's AnyDesk server names)."""
    s = sensor(tmp_path)
    s.pipeline.process(Batch.from_frames([quic_frame(d) for d in
                                          client_initial("relay-42.net.anydesk.com")]))
    found = {(a["detector"], a["evidence"].get("tool"), a["evidence"].get("evidence"))
             for a in s.last_alerts}
    assert ("remote_control", "anydesk", "tls_sni") in found
