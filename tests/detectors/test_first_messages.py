"""Names in a first client message that spans TCP segments (detectors/first_messages.py):
read in sequence order across batches, and kept for a bounded number of streams."""
from __future__ import annotations

from frames import tcp_segment

from ybsensor.decoders import Batch
from ybsensor.detectors.first_messages import REASONS
from ybsensor.sensor.config import load
from ybsensor.sensor.sensor import Sensor
from test_detectors_names import CLIENT, CONFIG, PROXY
from test_names import client_hello, ext

SERVER = "api.weixin.qq.com"


def hello_with_padding(name: str) -> bytes:
    """A ClientHello whose server name comes after 1 400 bytes of padding (RFC 7685)."""
    from test_names import sni_ext
    return client_hello(name, extensions=ext(0x0015, bytes(1400)) + sni_ext((0, name.encode())))


def seg(data: bytes, seq: int, sport: int = 50000) -> bytes:
    return tcp_segment(data, src=CLIENT, dst=PROXY, sport=sport, dport=443, seq=seq)


def sensor(tmp_path) -> Sensor:
    (tmp_path / "sensor.toml").write_text(CONFIG)
    return Sensor(load(tmp_path / "sensor.toml"), alerts_path=str(tmp_path / "alerts.jsonl"))


def by_name(s: Sensor) -> list[tuple]:
    return [(a["detector"], a["first_frame"], a["evidence"].get("name"))
            for a in s.last_alerts if a["evidence"].get("name")]


def test_a_server_name_in_the_next_batch_is_read_there(tmp_path):
    hello = hello_with_padding(SERVER)
    cut = 1000
    assert hello.index(SERVER.encode()) > cut
    s = sensor(tmp_path)
    s.pipeline.process(Batch.from_frames([seg(hello[:cut], 1000)]))
    assert by_name(s) == []
    s.pipeline.process(Batch.from_frames([seg(hello[cut:], 1000 + cut)], first_frame=2))
    assert by_name(s) == [("internet_bound", 2, SERVER)]


def test_segments_out_of_order_within_a_batch_are_put_in_order(tmp_path):
    hello = hello_with_padding(SERVER)
    a, b, c = hello[:600], hello[600:1200], hello[1200:]
    s = sensor(tmp_path)
    s.pipeline.process(Batch.from_frames([seg(a, 1000), seg(c, 2200), seg(b, 1600)]))
    # read when the bytes are in order: on c (frame 2), the last of them in sequence order
    assert by_name(s) == [("internet_bound", 2, SERVER)]


def test_a_retransmitted_overlap_adds_only_its_new_bytes(tmp_path):
    hello = hello_with_padding(SERVER)
    s = sensor(tmp_path)
    s.pipeline.process(Batch.from_frames([seg(hello[:900], 1000), seg(hello[800:], 1800)]))
    assert by_name(s) == [("internet_bound", 2, SERVER)]


def test_kept_streams_are_bounded_and_what_goes_is_counted(tmp_path):
    s = sensor(tmp_path)
    kept = next(d.first_messages for d in s.alerter.detectors if hasattr(d, "first_messages"))
    kept.max_streams = 50
    hello = hello_with_padding(SERVER)
    s.pipeline.process(Batch.from_frames([seg(hello[:700], 1000, sport=20000 + i)
                                          for i in range(200)]))
    assert len(kept.pending) == 50 and kept.given_up["streams"] == 150
    assert set(kept.given_up) == set(REASONS)
    text = "".join(str(x) for fam in kept.metric_families() for x in fam.samples)
    assert "ybsensor_name_prefixes_given_up_total" in text


def test_a_message_whole_without_a_name_is_given_up(tmp_path):
    hello = client_hello(None, extensions=ext(0x0015, bytes(1400)))
    s = sensor(tmp_path)
    kept = next(d.first_messages for d in s.alerter.detectors if hasattr(d, "first_messages"))
    s.pipeline.process(Batch.from_frames([seg(hello[:700], 1000)]))
    assert len(kept.pending) == 1
    s.pipeline.process(Batch.from_frames([seg(hello[700:], 1700)], first_frame=2))
    assert not kept.pending and kept.given_up["whole"] == 1 and by_name(s) == []


def test_a_hello_begun_in_a_fast_open_syn_goes_on_after_the_syns_own_number(tmp_path):
    """TCP Fast Open (RFC 7413): the client's first bytes ride in its SYN, after the
    sequence number the SYN takes; the next segment goes on from there, not a byte later."""
    hello = hello_with_padding(SERVER)
    cut = 1000
    syn = tcp_segment(hello[:cut], src=CLIENT, dst=PROXY, sport=50000, dport=443, seq=999,
                      flags="S")
    s = sensor(tmp_path)
    s.pipeline.process(Batch.from_frames([syn]))
    s.pipeline.process(Batch.from_frames([seg(hello[cut:], 1000 + cut)], first_frame=2))
    assert by_name(s) == [("internet_bound", 2, SERVER)]
