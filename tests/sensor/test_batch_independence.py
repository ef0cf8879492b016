"""Alerts follow packet time, not batching: the same frames as one file, as several files,
or read in batches of any size raise the same alerts (issue #11 defect 10). Dedup walks each
flow's occurrences in packet time, and a detector judges each packet by what it shows.

What may differ is only what numbers a batch or a file: `seq`/`prev_hash` (the log's
chain), `source` and `first_frame` (per file: compared as the frame's place in the whole
capture), `evidence_pcap`, and `packets`/`bytes` (the occurrences the batch that raised the
alert held)."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from scapy.utils import RawPcapReader

from ybsensor.sensor import config as config_mod
from ybsensor.sensor.sensor import Sensor
from tools import ONE_HOSPITAL, PCAPS, write_pcap
from frames import link, udp_frame

SMALL = "\n[flows]\nmax_flows = 1000\n"   # many sensors are made: each a small table
PER_BATCH = {"seq", "prev_hash", "source", "first_frame", "evidence_pcap", "packets", "bytes"}
CASES = sorted(p for p in (PCAPS / "cases").iterdir() if (p / "input.pcap").exists())
# cases that show less in batches of one frame, for reasons other than TCP holes (the
# streams are carried across batches in sequence order: streams.Held); none now
ACROSS_BATCHES: set[str] = set()


def alert_set(config: Path, files: list[Path], batch_frames: int | None = None) -> Counter:
    sensor = Sensor(config_mod.load(config), alerts_path="")
    offsets, seen, got = {}, 0, Counter()
    for path, table in sensor.pipeline.run_files(files, print, pytest.fail, batch_frames):
        offsets.setdefault(str(path), seen - int(table.frame[0]) + 1)
        seen += table.n
        for a in sensor.last_alerts:
            key = {k: v for k, v in a.items() if k not in PER_BATCH}
            key["frame"] = offsets[a["source"]] + a["first_frame"]
            got[json.dumps(key, sort_keys=True)] += 1
    return got


def split(path: Path, parts: int, into: Path) -> list[Path]:
    frames = [(data, (meta.sec, meta.usec)) for data, meta in RawPcapReader(str(path))]
    size = -(-len(frames) // parts)
    out = []
    for k in range(parts):
        chunk = frames[k * size:(k + 1) * size]
        out.append(write_pcap(into / f"part{k}.pcap", [d for d, _ in chunk],
                              ts=[t for _, t in chunk]))
    return out


def test_the_demo_as_one_file_three_files_and_small_batches(tmp_path):
    config = PCAPS / "example.toml"
    whole = alert_set(config, [PCAPS / "demo.pcap"])
    assert sum(whole.values()) > 5
    assert alert_set(config, split(PCAPS / "demo.pcap", 3, tmp_path)) == whole
    # batches of one frame are checked case by case below (each detector's traffic); here
    # three frames a batch part every flow from its neighbours at a third of the cost
    for batch in (3, 7, 64):
        assert alert_set(config, [PCAPS / "demo.pcap"], batch) == whole, batch


@pytest.mark.parametrize("case", [
    pytest.param(c, marks=pytest.mark.xfail(strict=True, reason="placed by batch (see "
                                            "ACROSS_BATCHES)"))
    if c.name in ACROSS_BATCHES else c for c in CASES], ids=[c.name for c in CASES])
def test_every_case_in_batches_of_one(case):
    assert alert_set(case / "config.toml", [case / "input.pcap"], 1) == \
        alert_set(case / "config.toml", [case / "input.pcap"])


def test_a_flow_longer_than_the_dedup_window_in_one_batch(tmp_path):
    """One packet a second for 35 s, dedup 10 s: alerts at 0, 10, 20 and 30 s, whether the
    35 packets come in one batch or one by one."""
    config = tmp_path / "sensor.toml"
    config.write_text(ONE_HOSPITAL + SMALL + "\n[alerts]\ndedup_seconds = 10\n")
    frame = udp_frame(dst="203.0.113.9", dport=443)
    pcap = write_pcap(tmp_path / "long.pcap", [frame] * 35, ts=[(1_700_000_000 + s, 0)
                                                                 for s in range(35)])
    whole = alert_set(config, [pcap])
    assert sorted(json.loads(a)["frame"] for a in whole.elements()) == [1, 11, 21, 31]
    assert alert_set(config, [pcap], 1) == whole


def test_severities_of_one_flow_are_taken_in_packet_time(tmp_path):
    """A detector's findings come by severity, not by time: the alerter takes a flow's
    occurrences across them in packet time. High, medium, medium, high, low, critical
    within one window: the first high is alerted, then only the critical (more severe)."""
    import numpy as np

    from ybsensor.detectors import Detector, Finding

    pattern = ["high", "medium", "medium", "high", "low", "critical"]

    class Graded(Detector):
        name, rule = "graded", "-"

        def detect(self, ctx):
            seconds = (ctx.t.ts_ns // 10**9 - 1_700_000_000).astype(np.int64)
            return [Finding(ctx.ip_rows[np.array([pattern[s] == sev for s in seconds[ctx.ip_rows]],
                                                 dtype=bool)], sev, sev)
                    for sev in ("low", "medium", "high", "critical")]

    config = tmp_path / "sensor.toml"
    config.write_text(ONE_HOSPITAL + SMALL + "\n[alerts]\ndedup_seconds = 10\n")
    pcap = write_pcap(tmp_path / "graded.pcap", [udp_frame(dst="10.1.2.9")] * len(pattern),
                      ts=[(1_700_000_000 + s, 0) for s in range(len(pattern))])
    for batch in (None, 1, 2, 4):
        sensor = Sensor(config_mod.load(config), alerts_path="")
        sensor.alerter.detectors = [Graded(sensor.cfg, sensor.plan)]
        got = []
        for _ in sensor.pipeline.run_files([pcap], print, pytest.fail, batch):
            got += [(a["first_frame"], a["severity"]) for a in sensor.last_alerts]
        assert got == [(1, "high"), (6, "critical")], batch


@st.composite
def occurrences(draw):
    """Up to 60 packets of up to 4 flows over up to 40 s, each with a severity."""
    n = draw(st.integers(1, 60))
    steps = draw(st.lists(st.integers(0, 3_000), min_size=n, max_size=n))   # ms apart
    flows = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    grades = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    cuts = draw(st.lists(st.integers(1, 8), min_size=1, max_size=4))
    return steps, flows, grades, cuts


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(occurrences())
def test_any_occurrences_any_batching(tmp_path, case):
    """Random flows, times and severities, in batches of every size from one to all: the
    same alerts, and the ones the rule gives when the packets are taken one at a time."""
    import numpy as np

    from ybsensor.detectors import Detector, Finding
    from ybsensor.detectors.base import SEVERITIES

    steps, flows, grades, cuts = case
    ts = np.cumsum(steps) * 10**6 + 1_700_000_000 * 10**9

    class Graded(Detector):
        name, rule = "graded", "-"

        def detect(self, ctx):
            rows = ctx.ip_rows
            grade = ctx.t.sport[rows] - 40000      # the severity, by source port
            by_dst = ctx.t.dst_lo.view(np.int64)     # one group a destination
            return [Finding(rows[grade == k], sev, sev, group=by_dst[rows[grade == k]])
                    for k, sev in enumerate(SEVERITIES)]

    config = tmp_path / "sensor.toml"
    config.write_text(ONE_HOSPITAL + SMALL + "\n[alerts]\ndedup_seconds = 5\n")
    pcap = write_pcap(tmp_path / "random.pcap",
                      [udp_frame(dst=f"10.1.2.{20 + f}", sport=40000 + g) for f, g in zip(flows, grades)],
                      ts=[(int(t) // 10**9, int(t) % 10**9 // 1000) for t in ts])
    # the rule, packet by packet: alerted unless within 5 s of the flow's last alert and
    # no more severe than it
    last, expected = {}, []
    for frame, (f, g, t) in enumerate(zip(flows, grades, (ts // 1000 * 1000).tolist()), 1):
        if f not in last or t - last[f][0] >= 5 * 10**9 or g > last[f][1]:
            last[f] = (t, g)
            expected.append((frame, SEVERITIES[g]))
    for batch in (None, 1, *cuts):
        sensor = Sensor(config_mod.load(config), alerts_path="")
        sensor.alerter.detectors = [Graded(sensor.cfg, sensor.plan)]
        got = []
        for _ in sensor.pipeline.run_files([pcap], print, pytest.fail, batch):
            got += [(a["first_frame"], a["severity"]) for a in sensor.last_alerts]
        assert sorted(got) == expected, batch


def test_a_split_reordered_and_resent_in_any_batching(tmp_path):
    """A form with a resident ID across segments 1-2 and a mobile across 2-3, sent 1, 3, 2,
    2, 1: segment 2 makes both readable (frame 3), and the resent copies add nothing. In
    batches of every size, one alert at frame 3 naming both."""
    import random

    from scapy.layers.inet import IP, TCP

    import pii

    rng = random.Random(7)
    person = pii.resident_id(rng)
    mobile = "139" + "".join(str(rng.randrange(10)) for _ in range(8))   # made up
    msg = f"a={person}&b={mobile}&c=end-of-form".encode()

    def seg(data: bytes, seq: int) -> bytes:
        return bytes(link(None) / IP(src="10.1.2.3", dst="10.200.1.20")
                     / TCP(sport=40000, dport=8080, seq=seq, flags="PA") / data)

    s1, s2, s3 = seg(msg[:8], 1000), seg(msg[8:30], 1008), seg(msg[30:], 1030)
    pcap = write_pcap(tmp_path / "resent.pcap", [s1, s3, s2, s2, s1],
                      ts=[(1_700_000_000, k * 1000) for k in range(5)])
    config = tmp_path / "sensor.toml"
    config.write_text(ONE_HOSPITAL + SMALL)
    whole = alert_set(config, [pcap])
    [alert] = [json.loads(a) for a in whole.elements()]
    assert alert["frame"] == 3 and alert["evidence"]["kinds"] == {"mobile": 1, "resident_id": 1}
    for batch in (1, 2, 3, 4):
        assert alert_set(config, [pcap], batch) == whole, batch
