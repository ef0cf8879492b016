"""L2TPv2: a session's two directions carry different ids (each header names the
receiver's tunnel and session, RFC 2661 §3.1). Once the sensor has seen the session's
ICRQ and ICRP it knows the pair, and the direction whose ids are not configured gets the
configured line: one line, one flow, both directions counted on it."""
import struct

import numpy as np
import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.packet import Raw

from frames import link

from ybsensor.decoders import Batch
from ybsensor.sensor.config import load
from ybsensor.sensor.l2tp_sessions import avps
from ybsensor.sensor.sensor import Sensor
from tools import ONE_HOSPITAL

LAC, LNS = "10.254.3.1", "10.254.0.2"        # the carrier's LAC, the agency's LNS
HOSPITAL, PLATFORM = "10.1.2.10", "10.200.1.20"
TA, SA = 21, 55     # the LAC's own ids: LNS -> LAC packets carry them
TB, SB = 7, 3       # the LNS's own ids: LAC -> LNS packets carry them
ICRQ, ICRP, ICCN, CDN, STOP_CCN = 10, 11, 12, 14, 4



def avp(attr: int, value: bytes, hidden: bool = False) -> bytes:
    return struct.pack("!HHH", 0x8000 | (0x4000 if hidden else 0) | (6 + len(value)), 0, attr) + value


def control(src, dst, tunnel, session, message, *more) -> bytes:
    body = avp(0, struct.pack("!H", message)) + b"".join(more)
    header = struct.pack("!HHHHHH", 0xC802, 12 + len(body), tunnel, session, 0, 0)  # T L S, v2
    return over_udp(src, dst, header + body)


def over_udp(src, dst, l2tp: bytes) -> bytes:
    return bytes(link(None) / IP(src=src, dst=dst) / UDP(sport=1701, dport=1701) / Raw(l2tp))


def data(src, dst, tunnel, session, inner_src, inner_dst, sport, dport) -> bytes:
    inner = bytes(IP(src=inner_src, dst=inner_dst) / TCP(sport=sport, dport=dport, flags="A"))
    ppp = b"\xff\x03\x00\x21" + inner
    return over_udp(src, dst, struct.pack("!HHH", 0x0002, tunnel, session) + ppp)


def up(tunnel=TB, session=SB):     # hospital -> platform, LAC -> LNS
    return data(LAC, LNS, tunnel, session, HOSPITAL, PLATFORM, 40000, 443)


def down(tunnel=TA, session=SA):   # platform -> hospital, LNS -> LAC
    return data(LNS, LAC, tunnel, session, PLATFORM, HOSPITAL, 443, 40000)


SETUP = [
    control(LAC, LNS, TB, 0, ICRQ, avp(14, struct.pack("!H", SA))),    # to the LNS' tunnel
    control(LNS, LAC, TA, SA, ICRP, avp(14, struct.pack("!H", SB))),   # back, naming SA
    control(LAC, LNS, TB, SB, ICCN),
]


def replay(tmp_path, line: str, frames: list[bytes]) -> Sensor:
    path = tmp_path / "h1.toml"
    path.write_text(ONE_HOSPITAL.replace('lines = ["vlan:100"]', f'lines = ["{line}"]'))
    sensor = Sensor(load(path), alerts_path=str(tmp_path / "alerts.jsonl"))
    ts = [i * 1_000_000 for i in range(len(frames))]
    sensor.pipeline.process(Batch.from_frames(frames, ts_ns=ts), "l2tp")
    sensor.close()
    return sensor


def packets_by_line(sensor: Sensor) -> dict[str, int]:
    return {line: packets for line, packets, _ in sensor.lines.traffic()}


@pytest.mark.parametrize("configured, on_line", [
    (f"l2tp:{TB}/{SB}", 6),   # ICRP (paired as it arrives), ICCN, and the 4 data frames
    (f"l2tp:{TA}/{SA}", 6),   # the same, named from the other end
    (f"l2tp:{TB}/*", 7),      # ... and the ICRQ, whose header says tunnel TB, session 0
])
def test_after_icrq_and_icrp_both_directions_are_the_configured_line(tmp_path, configured,
                                                                    on_line):
    sensor = replay(tmp_path, configured, SETUP + [up(), down(), up(), down()])
    assert packets_by_line(sensor) == {configured: on_line}
    # the four data frames are one flow, on the configured line
    flows = sensor.flows
    live = np.flatnonzero(flows.alive & (flows.proto == 6))
    assert len(live) == 1 and flows.packets[live[0]] == 4
    assert sensor.sessions.learned == 1
    assert sensor.alerter.alerts == {}


def test_line_counts_are_exact(tmp_path):
    sensor = replay(tmp_path, f"l2tp:{TB}/{SB}", SETUP + [up(), down(), down()])
    # data both ways (3), the ICCN (its header names TB/SB) and the ICRP (TA/SA, paired)
    assert packets_by_line(sensor) == {f"l2tp:{TB}/{SB}": 5}
    assert sensor.sessions.rewritten == 3


def test_before_the_set_up_the_ids_are_as_on_the_wire(tmp_path):
    sensor = replay(tmp_path, f"l2tp:{TB}/{SB}", [up(), down()])
    assert packets_by_line(sensor) == {f"l2tp:{TB}/{SB}": 1}
    assert sensor.sessions.rewritten == 0
    live = np.flatnonzero(sensor.flows.alive & (sensor.flows.proto == 6))
    assert len(live) == 2   # one flow per line: the pairing is unknown


@pytest.mark.parametrize("teardown", [
    control(LNS, LAC, TA, SA, CDN, avp(14, struct.pack("!H", SB))),
    control(LNS, LAC, TA, 0, STOP_CCN),
], ids=["cdn", "stopccn"])
def test_cdn_or_stopccn_ends_the_pairing(tmp_path, teardown):
    sensor = replay(tmp_path, f"l2tp:{TB}/{SB}", SETUP + [down(), teardown, down()])
    # the ICRP and the first down() are rewritten; the teardown's own row and the down()
    # after it are not
    assert sensor.sessions.rewritten == 2
    assert len(sensor.sessions.partner) == 0


def test_a_reply_from_other_endpoints_pairs_nothing(tmp_path):
    stray = control("10.254.9.9", LAC, TA, SA, ICRP, avp(14, struct.pack("!H", SB)))
    sensor = replay(tmp_path, f"l2tp:{TB}/{SB}", SETUP[:1] + [stray, down()])
    assert sensor.sessions.learned == 0 and sensor.sessions.rewritten == 0


def test_avps_skip_hidden_and_stop_at_a_bad_length():
    body = avp(0, b"\x00\x0b") + avp(14, b"\x00\x05", hidden=True) + avp(9, b"\x00\x07")
    assert avps(body) == {0: b"\x00\x0b", 9: b"\x00\x07"}
    assert avps(avp(0, b"\x00\x0a") + b"\x80\x03\x00\x00") == {0: b"\x00\x0a"}   # length 3
    assert avps(avp(0, b"\x00\x0a") + b"\x80\xff\x00\x00\x00\x0e") == {0: b"\x00\x0a"}  # past end
    assert avps(b"") == {}


def test_random_control_bodies_never_raise(tmp_path):
    rng = np.random.default_rng(3)
    frames = []
    for _ in range(300):
        body = rng.integers(0, 256, int(rng.integers(0, 40)), dtype=np.uint8).tobytes()
        header = struct.pack("!HHHHHH", 0xC802, 12 + len(body), int(rng.integers(0, 4)),
                             int(rng.integers(0, 4)), 0, 0)
        frames.append(over_udp(LAC, LNS, header + body))
    replay(tmp_path, f"l2tp:{TB}/{SB}", frames + [up(), down()])
