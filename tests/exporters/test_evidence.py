"""Evidence pcaps (JL art.33-36): the first packets of each alerted flow, whole frames with
their timestamps, in a pcap the alert names; later packets appended up to packets_per_flow;
personal data masked (the synthetic identifiers of tests/pii.py); the directory bounded;
`ybsensor inspect` decodes one through tshark."""
from __future__ import annotations

import json
import os
import random
import struct
import subprocess
from pathlib import Path

import dpkt
import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

import pii
from ybsensor.decoders import Batch
from ybsensor.sensor.config import load
from ybsensor.sensor.sensor import Sensor
from frames import tcp_segment
from tools import ONE_HOSPITAL, REPO, write_pcap, ybsensor_cmd

CONFIG = ONE_HOSPITAL + """
[alerts]
dedup_seconds = 10

[evidence]
{evidence}
"""
T0 = 1_735_689_600 * 10**9 + 123_456_789   # nanoseconds: the pcap keeps all nine digits
RNG = random.Random(20250601)
ID = pii.resident_id(RNG)
CARD = pii.bank_card(RNG)
MOBILE = "13912345678"


def sensor(tmp_path, evidence="", **kw) -> Sensor:
    path = tmp_path / "sensor.toml"
    path.write_text(CONFIG.format(evidence=evidence))
    return Sensor(load(path), alerts_path=str(tmp_path / "alerts.jsonl"), **kw)


def frame(sport: int, payload: bytes = b"", dst: str = "203.0.113.5", seq: int = 1000,
          vlan: int = 100, src: str = "10.1.2.3") -> bytes:
    return tcp_segment(payload, src=src, dst=dst, sport=sport, dport=80, seq=seq, vlan=vlan)


def run(s: Sensor, frames: list[bytes], ts: list[int], linktype: int = 1) -> list[dict]:
    s.pipeline.process(Batch.from_frames(frames, ts_ns=ts, linktype=linktype))
    return s.last_alerts


def read_pcap(path: str | Path) -> tuple[int, list[tuple[int, bytes]]]:
    """(link type, [(timestamp in ns, frame)]): dpkt reads the file (a nanosecond pcap);
    the record headers are read here too, for the exact nanoseconds dpkt gives as floats."""
    with open(path, "rb") as fh:
        reader = dpkt.pcap.Reader(fh)
        assert reader._divisor == 10**9, "evidence pcaps keep nanoseconds"
        frames = [buf for _, buf in reader]
        linktype = reader.datalink()
    raw = Path(path).read_bytes()
    stamps, off = [], 24
    while off < len(raw):
        sec, nsec, caplen, _ = struct.unpack_from("<IIII", raw, off)
        stamps.append(sec * 10**9 + nsec)
        off += 16 + caplen
    assert off == len(raw) and len(stamps) == len(frames)
    return linktype, list(zip(stamps, frames))


def evidence_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "evidence").glob("*.pcap"))


def test_one_pcap_per_alerted_flow_with_its_first_packets(tmp_path):
    s = sensor(tmp_path)
    a = [frame(40000, b"GET /a HTTP/1.1\r\n\r\n", seq=1000 + i) for i in range(4)]
    b = [frame(40001, b"GET /b HTTP/1.1\r\n\r\n", seq=2000 + i) for i in range(4)]
    inside = [frame(40002, b"x", dst="10.200.0.1")] * 2            # the platform: no alert
    first = [a[0], b[0], inside[0], a[1], b[1], a[2], inside[1], b[2], a[3], b[3]]
    ts1 = [T0 + i * 1000 for i in range(len(first))]
    alerts = run(s, first, ts1)
    assert sorted(x["sport"] for x in alerts) == [40000, 40001]
    later = [frame(40000, b"more", seq=3000 + i) for i in range(8)] + [frame(40002, b"y", dst="10.200.0.1")]
    ts2 = [T0 + 10**9 + i for i in range(len(later))]
    assert run(s, later, ts2) == []                                  # deduplicated
    s.close()
    files = evidence_files(tmp_path)
    assert len(files) == 2                                           # one per alerted flow
    logged = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    by_port = {x["sport"]: Path(x["evidence_pcap"]) for x in logged}
    assert set(by_port.values()) == set(files)
    # flow a: its 4 packets of the alert's batch, then 6 of the 8 later ones: 10 in all
    linktype, packets = read_pcap(by_port[40000])
    assert linktype == 1
    want = [(ts1[i], f) for i, f in enumerate(first) if f in a] + list(zip(ts2, later))[:6]
    assert packets == want                          # whole frames, Ethernet and VLAN included
    # flow b: only its 4 (it sent nothing later)
    assert read_pcap(by_port[40001])[1] == [(ts1[i], f) for i, f in enumerate(first) if f in b]
    assert s.evidence.packets == 14 and s.evidence.files == 2


def test_packets_per_flow_is_configurable(tmp_path):
    s = sensor(tmp_path, "packets_per_flow = 3")
    run(s, [frame(40000, seq=i) for i in range(5)], [T0 + i for i in range(5)])
    run(s, [frame(40000, seq=9 + i) for i in range(5)], [T0 + 100 + i for i in range(5)])
    s.close()
    [path] = evidence_files(tmp_path)
    assert len(read_pcap(path)[1]) == 3
    assert not s.evidence.open                       # done: no state kept for the flow


HTTP = (f"POST /claim HTTP/1.1\r\nHost: example.com\r\n\r\ncertno={ID}&card={CARD}"
        f"&tel={MOBILE}&name=x").encode()


def test_personal_data_is_masked_in_evidence(tmp_path):
    s = sensor(tmp_path)
    run(s, [frame(40000, HTTP)], [T0])
    s.close()
    [path] = evidence_files(tmp_path)
    data = path.read_bytes()
    for whole in (ID, CARD, MOBILE):
        assert whole.encode() not in data
    assert f"certno={ID[:6]}{'*' * 8}{ID[-4:]}".encode() in data
    assert f"tel={MOBILE[:3]}****{MOBILE[-4:]}".encode() in data
    _, [(_, masked)] = read_pcap(path)
    assert len(masked) == len(frame(40000, HTTP))    # masked in place: lengths unchanged


def test_mask_false_writes_frames_as_captured(tmp_path):
    """The control: the planted identifier is really in the traffic."""
    s = sensor(tmp_path, "mask = false")
    run(s, [frame(40000, HTTP)], [T0])
    s.close()
    [path] = evidence_files(tmp_path)
    assert ID.encode() in path.read_bytes()
    assert read_pcap(path)[1] == [(T0, frame(40000, HTTP))]


@pytest.mark.parametrize("mask", [True, False])
def test_an_identifier_cut_by_a_segment_boundary_is_not_rejoined(tmp_path, mask):
    s = sensor(tmp_path, f"mask = {str(mask).lower()}")
    one = frame(40000, b"POST /c HTTP/1.1\r\n\r\ncertno=" + ID[:10].encode(), seq=1000)
    two = frame(40000, ID[10:].encode() + b"&x=1", seq=1000 + 31 + 10)
    run(s, [one, two], [T0, T0 + 1])
    s.close()
    [path] = evidence_files(tmp_path)
    joined = b"".join(bytes(Ether(f).payload.payload.payload.payload)
                      for _, f in read_pcap(path)[1])
    assert (ID.encode() in joined) is (not mask)


def test_the_directory_is_bounded_oldest_removed(tmp_path):
    s = sensor(tmp_path, "max_bytes = 3000")
    for k in range(30):   # 30 alerted flows, 1 packet of ~110 bytes each
        run(s, [frame(41000 + k, b"z" * 40)], [T0 + k * 10**6])
    s.close()
    files = evidence_files(tmp_path)
    total = sum(p.stat().st_size for p in files)
    assert total <= 3000 and s.evidence.total == total
    assert s.evidence.removed == 30 - len(files) > 0
    # the newest are kept, each a readable capture
    logged = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [Path(x["evidence_pcap"]) for x in logged[-len(files):]] == files
    for p in files:
        assert len(read_pcap(p)[1]) == 1
    # the bound holds across restarts: what is in the directory counts
    s2 = sensor(tmp_path, "max_bytes = 3000")
    assert s2.evidence.total == total
    metrics = s.metrics.text().decode()
    assert f"ybsensor_evidence_files_removed_total {float(s.evidence.removed)}" in metrics


def test_a_flow_whose_file_was_removed_to_make_room_collects_no_more(tmp_path):
    s = sensor(tmp_path, "max_bytes = 3000")
    for k in range(30):   # 30 flows collecting, 1 packet each: the oldest files go
        run(s, [frame(41000 + k, b"z" * 40)], [T0 + k * 10**6])
    files = evidence_files(tmp_path)
    assert 0 < len(files) < 30
    # the flows still collecting are those whose files are there, each into its own
    assert sorted(Path(state.path) for state in s.evidence.open.values()) == files
    # a later packet of the first flow (its file gone) makes none; the newest flow's goes in
    run(s, [frame(41000, b"y" * 40, seq=2000), frame(41029, b"y" * 40, seq=2000)],
        [T0 + 31 * 10**6, T0 + 32 * 10**6])
    s.close()
    after = evidence_files(tmp_path)      # no file made; the oldest went to make room
    assert set(after) < set(files) and after[-1] == files[-1]
    assert [len(read_pcap(p)[1]) for p in after] == [1] * (len(after) - 1) + [2]


def test_a_packet_that_cannot_fit_is_refused_and_counted(tmp_path):
    s = sensor(tmp_path, "max_bytes = 100")         # smaller than one frame with headers
    alerts = run(s, [frame(40000, b"z" * 200)], [T0])
    s.close()
    assert alerts[0]["evidence_pcap"] is None and s.evidence.refused == 1
    assert evidence_files(tmp_path) == []


def test_flows_collecting_at_once_are_bounded(tmp_path):
    s = sensor(tmp_path)
    s.evidence.max_open = 2
    run(s, [frame(40000 + k) for k in range(3)], [T0 + k for k in range(3)])
    assert len(s.evidence.open) == 2 and s.evidence.abandoned == 1
    assert all(len(read_pcap(p)[1]) == 1 for p in evidence_files(tmp_path))  # none empty
    run(s, [frame(40000 + k, seq=5) for k in range(3)], [T0 + 100 + k for k in range(3)])
    s.close()
    counts = sorted(len(read_pcap(p)[1]) for p in evidence_files(tmp_path))
    assert counts == [1, 2, 2]                       # the first flow stopped collecting


def test_the_capture_link_type_is_kept(tmp_path):
    s = sensor(tmp_path, "")
    raw = [bytes(IP(src="10.1.2.3", dst="203.0.113.5") / TCP(sport=40000, dport=80) / Raw(b"q"))]
    # raw IP has no VLAN: the flow is judged by address alone (internet-bound)
    alerts = run(s, raw * 2, [T0, T0 + 1], linktype=101)
    s.close()
    assert alerts
    linktype, packets = read_pcap(alerts[0]["evidence_pcap"])
    assert linktype == 101 and [f for _, f in packets] == raw * 2


def test_evidence_can_be_switched_off(tmp_path):
    s = sensor(tmp_path, 'dir = ""')
    alerts = run(s, [frame(40000)], [T0])
    s.close()
    assert s.evidence is None and "evidence_pcap" not in alerts[0]
    assert not (tmp_path / "evidence").exists()


def test_evidence_dir_from_the_config(tmp_path):
    where = tmp_path / "elsewhere"
    s = sensor(tmp_path, f'dir = "{where}"')
    alerts = run(s, [frame(40000)], [T0])
    s.close()
    assert Path(alerts[0]["evidence_pcap"]).parent == where
    name = Path(alerts[0]["evidence_pcap"]).name
    # time of the alert's packet (UTC), the detector, the flow: no address in the name
    assert name.startswith("20250101T000000.123456Z_internet_bound_") and "203" not in name


# --- through the command line: replay, then inspect --------------------------------------

def ybsensor(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([*ybsensor_cmd(), *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=timeout, env=env)


@pytest.fixture
def replayed(tmp_path) -> list[dict]:
    cfg = tmp_path / "sensor.toml"
    cfg.write_text(CONFIG.format(evidence=""))
    frames = [frame(40000, b"", seq=1), frame(40000, HTTP, seq=2), frame(40001, b"hi")]
    pcap = write_pcap(tmp_path / "in.pcap", frames)
    proc = ybsensor("replay", pcap, "--config", cfg, "--alerts", tmp_path / "out" / "alerts.jsonl",
                    "--no-progress")
    assert proc.returncode == 0, proc.stderr
    alerts = [json.loads(x) for x in (tmp_path / "out" / "alerts.jsonl").read_text().splitlines()]
    assert {(a["detector"], a["sport"]) for a in alerts} >= {("internet_bound", 40000),
                                                             ("internet_bound", 40001)}
    # several alerts on one flow (plaintext_pii too, say) name the same file
    assert len({a["evidence_pcap"] for a in alerts}) == 2
    return alerts


def test_replay_names_each_alerts_evidence(replayed, tmp_path):
    for alert in replayed:
        path = REPO / alert["evidence_pcap"] if not os.path.isabs(alert["evidence_pcap"]) \
            else Path(alert["evidence_pcap"])
        assert path.is_file() and path.parent == tmp_path / "out" / "evidence"
    assert ID.encode() not in b"".join(p.read_bytes() for p in (tmp_path / "out" / "evidence").iterdir())


def test_inspect_decodes_evidence_through_tshark(replayed, require_tool):
    require_tool("tshark")
    path = next(a["evidence_pcap"] for a in replayed if a["sport"] == 40000)
    proc = ybsensor("inspect", path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.count("\nframe ") + out.startswith("frame ") == 2     # one block per frame
    assert "frame 1  2023-11-14T22:13:20.000000Z" in out
    assert "eth/vlan/ip/tcp" in out and "Source Address: 10.1.2.3" in out
    assert "Destination Port: 80" in out and "ID: 100" in out
    assert f"{ID[:6]}{'*' * 8}{ID[-4:]}" in out and ID not in out      # what the analyst sees
    assert "2 frames in" in out


def test_inspect_refuses_what_is_no_capture(tmp_path):
    junk = tmp_path / "junk.pcap"
    junk.write_text("hello, not a capture\n")
    proc = ybsensor("inspect", junk)
    assert proc.returncode == 2 and "not a pcap or pcapng capture" in proc.stderr


def test_inspect_without_tshark_says_so(replayed, tmp_path):
    env = dict(os.environ, PATH=str(tmp_path / "empty-bin"))    # no tshark on PATH
    proc = ybsensor("inspect", replayed[0]["evidence_pcap"], env=env)
    assert proc.returncode == 2 and "needs tshark" in proc.stderr
