"""The alert stage: one alert per detector and flow per dedup window, a rate limit per
detector, and counters that count every violating packet whatever was written."""
import json


from ybsensor.decoders import Batch
from ybsensor.sensor.config import load
from ybsensor.sensor.sensor import Sensor
from frames import tcp_segment
from tools import ONE_HOSPITAL

CONFIG = ONE_HOSPITAL + """
[alerts]
dedup_seconds = 10
max_per_second = {rate}
"""
SECOND = 1_000_000_000


def sensor(tmp_path, rate=100):
    path = tmp_path / "sensor.toml"
    path.write_text(CONFIG.format(rate=rate))
    return Sensor(load(path), alerts_path=str(tmp_path / "alerts.jsonl"))


def frame(dst, sport):
    return tcp_segment(dst=dst, sport=sport, dport=443, seq=0, flags="S")


def run(s, frames, ts):
    s.pipeline.process(Batch.from_frames(frames, ts_ns=ts))


def alerts(tmp_path):
    return [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]


def test_one_alert_per_flow_per_dedup_window(tmp_path):
    s = sensor(tmp_path)
    f = frame("203.0.113.5", 40000)
    run(s, [f, f, f], [0, 1, 2])                      # three packets, one alert
    run(s, [f], [5 * SECOND])                          # inside the window: suppressed
    run(s, [f, f], [11 * SECOND, 12 * SECOND])         # window over: alerted again
    s.close()
    got = alerts(tmp_path)
    assert [(a["detector"], a["first_frame"], a["packets"]) for a in got] == \
        [("internet_bound", 1, 3), ("internet_bound", 1, 2)]
    assert got[0]["line"] == "vlan:100" and got[0]["institution"] == "H1"
    assert got[0]["evidence"] == {"reason": "address_outside_private", "outside": "dst",
                                  "address": "203.0.113.5"}
    assert s.alerter.suppressed == 1
    assert s.alerter.occurrences[("internet_bound", "high")] == 6  # every packet counted


def test_rate_limit_bounds_a_storm_while_counters_stay_exact(tmp_path):
    s = sensor(tmp_path, rate=5)                       # burst of 50
    frames = [frame(f"203.0.{i // 250}.{i % 250 + 1}", 1024 + i) for i in range(500)]
    run(s, frames, list(range(500)))
    s.close()
    got = alerts(tmp_path)
    assert len(got) == 50
    assert [a["first_frame"] for a in got] == list(range(1, 51))  # the earliest ones
    assert s.alerter.rate_limited == 450
    assert s.alerter.occurrences[("internet_bound", "high")] == 500


def test_other_flows_are_not_deduplicated_together(tmp_path):
    s = sensor(tmp_path)
    run(s, [frame("203.0.113.5", 40000), frame("203.0.113.5", 40001)], [0, 1])
    s.close()
    assert [a["sport"] for a in alerts(tmp_path)] == [40000, 40001]
