"""shared_line with several capture workers: the fanout spreads one line's flows (and so its
institutions) over the workers; the supervisor merges what each reports (sensor.live.
MergedLines) and tells them all, so that N workers find what one would. First the merge and
the workers' side of it without capture, then `ybsensor run --workers N` on a veth pair."""
from __future__ import annotations

import json
import time

import pytest

from ybsensor.decoders import Batch
from ybsensor.sensor.config import load
from ybsensor.sensor.live import MergedLines, reported, share_lines, take_lines
from ybsensor.sensor.sensor import Sensor
from frames import tcp_segment
from tools import ONE_HOSPITAL

CONFIG = ONE_HOSPITAL + """
[[institution]]
code = "H2"
ranges = ["10.1.3.0/24"]
lines = ["vlan:200"]

[alerts]
dedup_seconds = 300
"""
T0 = 1_735_776_000 * 10**9


def frame(vlan: int, src: str, sport: int) -> bytes:
    return tcp_segment(src=src, dst="10.200.0.1", sport=sport, dport=443, seq=0, flags="S",
                       vlan=vlan)


def flows(vlan: int, net: str, count: int, base: int, packets: int = 3) -> list[tuple[int, bytes]]:
    """(flow id, frame): `count` flows of `packets` frames each from hosts of `net`."""
    return [(base + i, frame(vlan, f"{net}.{1 + i % 200}", base + i))
            for _ in range(packets) for i in range(count)]


def config(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(CONFIG)
    return load(path)


class Workers:
    """N sensors as `ybsensor run` would run them, and the supervisor's MergedLines between
    them; frames go to a worker by flow (as the fanout does), batch by batch."""

    def __init__(self, cfg, n: int, route=None):
        self.sensors = [Sensor(cfg, alerts_path="") for _ in range(n)]
        for s in self.sensors:
            share_lines(s)
        self.owners = MergedLines(cfg.dedup_seconds, hold=0.0)
        self.route = route or (lambda flow: hash(flow) % n)
        self.written: list[dict] = []
        self.frame = 1

    def batch(self, items: list[tuple[int, bytes]]) -> None:
        parts = [[] for _ in self.sensors]
        for flow, data in items:
            parts[self.route(flow)].append((self.frame, data))
            self.frame += 1
        for k, (sensor, part) in enumerate(zip(self.sensors, parts)):
            if not part:
                continue
            frames = [f for _, f in part]
            ts = [T0 + n * 1000 for n, _ in part]
            sensor.pipeline.process(Batch.from_frames(frames, ts_ns=ts, first_frame=part[0][0]))
            self.written += self.owners.alerts(sensor.last_alerts)
            msg = reported(sensor, self.owners.generation)
            if msg is not None:
                shared, forgotten = self.owners.report(msg[1], msg[2], time.monotonic())
                for s in self.sensors:  # between batches, as the workers read their pipe
                    if shared:
                        take_lines(s, ("shared", self.owners.generation, shared))
                    if forgotten:
                        take_lines(s, ("forget", self.owners.generation, forgotten))

    def finish(self) -> list[dict]:
        self.written += self.owners.due(time.monotonic(), everything=True)
        return [a for a in self.written if a["detector"] == "shared_line"]


def single(cfg, batches) -> list[dict]:
    sensor, out, n = Sensor(cfg, alerts_path=""), [], 1
    for items in batches:
        frames = [f for _, f in items]
        sensor.pipeline.process(Batch.from_frames(frames, ts_ns=[T0 + (n + i) * 1000
                                                                 for i in range(len(frames))],
                                                  first_frame=n))
        n += len(frames)
        out += [a for a in sensor.last_alerts if a["detector"] == "shared_line"]
    return out


def test_a_line_shared_across_workers_is_found_once(tmp_path):
    cfg = config(tmp_path)
    # H1 on vlan:100 (worker 0), then H2 too (worker 1), and H2 alone on vlan:200 everywhere
    b1 = flows(100, "10.1.2", 20, 1000) + flows(200, "10.1.3", 20, 5000)
    b2 = flows(100, "10.1.3", 20, 2001) + flows(200, "10.1.3", 20, 6000)
    b3 = flows(100, "10.1.2", 20, 3000) + flows(100, "10.1.3", 20, 4001)
    want = single(cfg, [b1, b2, b3])
    assert [(a["line"], a["evidence"]["institutions"]) for a in want] == [("vlan:100", ["H1", "H2"])]
    for n in (2, 4):
        w = Workers(cfg, n, route=(lambda flow: flow % 2) if n == 2 else None)
        for b in (b1, b2, b3):
            w.batch(b)
        got = w.finish()
        assert [(a["line"], a["evidence"]["institutions"], a["institution"]) for a in got] == \
            [("vlan:100", ["H1", "H2"], "H1")], n
        # every worker now knows the line is shared; the alerts of the others were repeats
        if n == 2:
            assert w.owners.repeats >= 1
        assert w.owners.records == {"H1": 1}
        assert sorted(w.owners.lines.values(), key=len) == [{"H2"}, {"H1", "H2"}]


def test_a_line_that_falls_silent_is_reported_by_its_witness(tmp_path):
    """The second institution's only flow goes to another worker, and nothing follows: the
    alert is the one a single process raises (the same packet, time and institutions)."""
    cfg = config(tmp_path)
    b1 = flows(100, "10.1.2", 10, 1000)
    b2 = flows(100, "10.1.3", 1, 2001, packets=2)
    want = single(cfg, [b1, b2])
    w = Workers(cfg, 2, route=lambda flow: int(flow >= 2000))
    w.batch(b1)
    w.batch(b2)
    assert not [a for a in w.written if a["detector"] == "shared_line"]
    assert len(w.owners.pending) == 1  # held for a worker's alert
    got = w.finish()
    assert len(want) == len(got) == 1
    keep = ("ts", "line", "institution", "src", "dst", "sport", "dport", "community_id",
            "first_frame", "evidence", "rule", "severity")  # packets: the witness counts 1
    assert {k: got[0][k] for k in keep} == {k: want[0][k] for k in keep}
    assert "evidence_pcap" not in got[0]  # no evidence writer here (none in the witness)


def test_one_institution_spread_over_workers_raises_nothing(tmp_path):
    cfg = config(tmp_path)
    w = Workers(cfg, 4)
    for base in (1000, 2000, 3000):
        w.batch(flows(100, "10.1.2", 40, base) + flows(200, "10.1.3", 40, base + 500))
    assert w.finish() == []
    assert len(w.owners.lines) == 2 and not w.owners.pending


def test_line_owners_merge_dedup_and_generations():
    o = MergedLines(300, hold=10.0)
    witness = {"ts": 100.0, "detector": "shared_line", "severity": "high", "line": "vlan:100",
               "institution": "H1", "evidence": {"reason": "two_or_more_institutions"}}
    assert o.report(0, [(7, "H1", None), (7, "H1", None), (8, "H1", None)], 0.0) == ([], [])
    assert o.report(0, [(7, "H2", dict(witness))], 0.0) == ([(7, ("H1", "H2"))], [])
    assert o.report(0, [(7, "H2", dict(witness))], 0.0) == ([], [])  # known: nothing new
    assert o.due(5.0) == []                                           # held for a worker's
    assert o.due(10.0)[0]["evidence"]["institutions"] == ["H1", "H2"]  # none came: the witness
    # the workers' own alerts within the window are repeats; one past it is written
    again = dict(witness, ts=150.0, evidence={"institutions": ["H1", "H2"]})
    other = dict(witness, detector="internet_bound")
    assert o.alerts([again, other]) == [other] and o.repeats == 1
    later = dict(again, ts=401.0)
    assert o.alerts([later]) == [later]
    assert o.records == {"H1": 2}
    assert [s.value for s in next(o.metric_families()).samples] == [2]
    # a worker's alert stands in for the witness
    o.report(0, [(7, "H3", dict(witness, ts=402.0))], 0.0)
    assert o.alerts([dict(later, ts=702.0)]) and not o.pending
    # a reload: the map starts anew, what the old configuration reported is ignored
    o.restart(300)
    assert not o.lines and o.report(0, [(9, "H1", None)], 0.0) == ([], []) and not o.lines
    assert o.report(1, [(9, "H1", None), (9, "H2", None)], 0.0) == ([(9, ("H1", "H2"))], [])


def test_line_owners_are_bounded(monkeypatch):
    from ybsensor.detectors.shared_line import SharedLine
    monkeypatch.setattr(SharedLine, "MAX_LINES", 8)
    monkeypatch.setattr("ybsensor.sensor.live.FORGET_EVERY", 2)
    o = MergedLines(300)
    o.report(0, [(1, "H1", None), (1, "H2", None)], 0.0)  # shared: kept over single lines
    forgotten = []
    for line in range(100, 150):
        shared, gone = o.report(0, [(line, "H1", None)], 0.0)
        assert shared == [] and len(o.lines) <= 8 + 2
        forgotten += gone
    assert 1 in o.lines and len(forgotten) == o.forgotten == 51 - len(o.lines)
    assert 149 in o.lines and 100 not in o.lines
    # the workers forget them too, so a line still in use is reported again
    o.report(0, [(100, "H1", None)], 0.0)
    assert o.report(0, [(100, "H2", None)], 0.0)[0] == [(100, ("H1", "H2"))]


def test_worker_merge_is_bounded_and_raises_through_the_normal_path(tmp_path, monkeypatch):
    from ybsensor.detectors.shared_line import SharedLine
    monkeypatch.setattr(SharedLine, "MAX_LINES", 8)
    monkeypatch.setattr("ybsensor.detectors.shared_line.FORGET_EVERY", 2)
    cfg = config(tmp_path)
    sensor = Sensor(cfg, alerts_path="")
    det = share_lines(sensor)
    sensor.pipeline.process(Batch.from_frames([frame(100, "10.1.2.5", 1000)], ts_ns=[T0]))
    msg = reported(sensor, 0)
    assert msg[0] == "lines" and [(c, w["src"], w["line"]) for _, c, w in msg[2]] == \
        [("H1", "10.1.2.5", "vlan:100")]
    assert reported(sensor, 0) is None  # reported once
    line = msg[2][0][0]
    take_lines(sensor, ("shared", 0, [(line, ("H1", "H2"))]))
    assert det.seen[line] == frozenset({0, 1}) and line in det.shared
    sensor.pipeline.process(Batch.from_frames([frame(100, "10.1.2.5", 1000)], ts_ns=[T0 + 1]))
    assert [(a["detector"], a["evidence"]["institutions"]) for a in sensor.last_alerts] == \
        [("shared_line", ["H1", "H2"])]
    assert reported(sensor, 0) is None  # H1 on the line was no news
    for k in range(40):  # lines merged from elsewhere: bounded like the detector's own
        det.merge(line + 1 + (k << 16), [0, 1])
        assert len(det.seen) <= 8 + 2
    det.drop(list(det.seen))
    assert not det.seen and not det.shared


def test_one_process_reports_nothing(tmp_path):
    sensor = Sensor(config(tmp_path), alerts_path="")
    from ybsensor.sensor.live import shared_line_of
    assert shared_line_of(sensor).report is None
    sensor.pipeline.process(Batch.from_frames([frame(100, "10.1.2.5", 1000)], ts_ns=[T0]))
    assert reported(sensor, 0) is None


# ---------------------------------------------------------------------------------------
# `ybsensor run --workers N` on a veth pair in namespaces made (and removed) here.

@pytest.fixture(scope="module")
def pair():
    import livenet
    with livenet.veth_pair_for_replay() as veth:
        yield veth


@pytest.mark.parametrize("workers", [2, 4])
def test_run_with_workers_finds_the_shared_line_once(pair, tmp_path, workers):
    from livenet import LiveSensor, total, write_capture

    # vlan:100: H1's flows, then H2's among them, many flows each (spread over the workers);
    # vlan:200: H2 alone, many flows (spread over the workers too): not shared
    items = []
    for i in range(60):
        items.append(frame(100, f"10.1.2.{1 + i % 50}", 10000 + i))
        items.append(frame(200, f"10.1.3.{1 + i % 50}", 20000 + i))
    for i in range(60):
        items.append(frame(100, f"10.1.3.{1 + i % 50}", 30000 + i))
        items.append(frame(100, f"10.1.2.{1 + i % 50}", 40000 + i))
        items.append(frame(200, f"10.1.3.{1 + i % 50}", 50000 + i))
    pcap = write_capture(tmp_path / "shared.pcap", items)
    cfg = tmp_path / "c.toml"
    cfg.write_text(CONFIG)
    alerts_path = tmp_path / "alerts.jsonl"
    sensor = LiveSensor(pair, "--config", str(cfg), "--alerts", str(alerts_path),
                        "--workers", str(workers), "--block-timeout", "20")
    try:
        pair.replay(pcap, "--pps", "2000")
        got = sensor.wait_for(lambda m: total(m, "ybsensor_packets_total") >= len(items),
                              what=f"{len(items)} frames")
        assert total(got, "ybsensor_capture_workers") == workers
        pair.replay(pcap, "--pps", "2000")  # within the dedup window: no second alert
        sensor.wait_for(lambda m: total(m, "ybsensor_packets_total") >= 2 * len(items))
        time.sleep(1.5)
        got = sensor.metrics()
        assert total(got, "ybsensor_alert_records_total", detector="shared_line") == 1
        assert total(got, "ybsensor_alerts_total", detector="shared_line") > 0
        assert sensor.stop() == 0, sensor.err
    finally:
        sensor.kill()
    alerts = [json.loads(x) for x in alerts_path.read_text().splitlines() if x.strip()]
    shared = [a for a in alerts if a["detector"] == "shared_line"]
    assert [(a["line"], a["evidence"]["institutions"]) for a in shared] == \
        [("vlan:100", ["H1", "H2"])], alerts
    assert shared[0]["source"].startswith(f"{pair.cap_if}#")
    assert "1 alerts to" in sensor.out
