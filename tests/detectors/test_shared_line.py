"""shared_line does not depend on how frames are batched: the alert starts where the
second institution appears on the line, whether or not earlier frames share its batch."""
import json


from ybsensor.decoders import Batch
from ybsensor.sensor.config import load
from ybsensor.sensor.sensor import Sensor
from frames import tcp_segment
from tools import ONE_HOSPITAL

CONFIG = ONE_HOSPITAL + """
[[institution]]
code = "H2"
ranges = ["10.1.3.0/24"]
lines = ["vlan:200"]
"""


def frame(src, sport):
    return tcp_segment(src=src, dst="10.200.0.1", sport=sport, dport=443, seq=0, flags="S")


def run(tmp_path, batches):
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(CONFIG)
    out = tmp_path / f"alerts{len(batches)}.jsonl"
    sensor = Sensor(load(cfg_path), alerts_path=str(out))
    first = 1
    for frames in batches:
        sensor.pipeline.process(Batch.from_frames(frames, ts_ns=[first + i for i in range(len(frames))],
                                                  first_frame=first))
        first += len(frames)
    sensor.close()
    return [a for a in map(json.loads, out.read_text().splitlines()) if a["detector"] == "shared_line"]


def test_alert_starts_where_the_second_institution_appears_in_any_batching(tmp_path):
    frames = [frame("10.1.2.5", 1000 + i) for i in range(4)] + [frame("10.1.3.7", 2000)] + \
             [frame("10.1.2.5", 3000)]
    whole = run(tmp_path, [frames])
    split = run(tmp_path, [frames[:2], frames[2:]])
    for alerts in (whole, split):
        assert len(alerts) == 1
        a = alerts[0]
        assert a["first_frame"] == 5 and a["src"] == "10.1.3.7"
        assert a["line"] == "vlan:100" and a["institution"] == "H1"
        assert a["evidence"]["institutions"] == ["H1", "H2"]
    assert whole[0]["packets"] == 2  # the stray host's packet and the one after it


def test_remembered_lines_are_bounded_and_sharing_is_still_found(tmp_path, monkeypatch):
    from ybsensor.detectors.shared_line import SharedLine
    monkeypatch.setattr(SharedLine, "MAX_LINES", 8)
    monkeypatch.setattr("ybsensor.detectors.shared_line.FORGET_EVERY", 2)
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(CONFIG)
    sensor = Sensor(load(cfg_path), alerts_path=str(tmp_path / "a.jsonl"))
    # fifty lines of one institution each (distinct VLANs), then a shared one
    frames = [tcp_segment(src="10.1.2.5", dst="10.200.0.1", sport=1000 + i, dport=443, seq=0,
                          flags="S", vlan=1000 + i) for i in range(50)]
    frames += [frame("10.1.2.5", 1), frame("10.1.3.7", 2)]  # both on vlan:100
    sensor.pipeline.process(Batch.from_frames(frames, ts_ns=list(range(len(frames)))))
    sensor.close()
    detector = next(d for d in sensor.alerter.detectors if isinstance(d, SharedLine))
    assert len(detector.seen) <= 8 + 2 and detector.forgotten >= 40
    alerts = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    shared = [a for a in alerts if a["detector"] == "shared_line"]
    assert [(a["line"], a["first_frame"]) for a in shared] == [("vlan:100", 52)]


def test_a_flow_counts_from_its_first_row_of_user_traffic(tmp_path):
    """A row that is no user traffic (a tunnel's own header, say) does not put its flow's
    institution on the line: the sharing starts at the flow's first row that is."""
    import numpy as np

    from ybsensor.decoders import decode
    from ybsensor.detectors import BatchContext
    from ybsensor.detectors.shared_line import SharedLine
    from ybsensor.core.flows import FlowTable
    from ybsensor.core.plan import AddressPlan

    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text(CONFIG)
    cfg = load(cfg_path)
    plan = AddressPlan(cfg)
    frames = [frame("10.1.2.5", 1000), frame("10.1.3.7", 2000), frame("10.1.2.5", 1000),
              frame("10.1.3.7", 2000), frame("10.1.3.7", 2000)]
    t = decode(Batch.from_frames(frames, ts_ns=list(range(len(frames)))))
    flows = FlowTable(64)
    ctx = BatchContext(t, flows.update(t), plan, cfg, flows.row_keys, flows.groups)
    user = np.ones(t.n, dtype=bool)
    user[1] = False                       # the second institution's first row
    ctx.__dict__["has_ip"] = user         # as the cached property would hold it
    [finding] = SharedLine(cfg, plan).detect(ctx)
    assert finding.rows.tolist() == [3, 4]
    assert [plan.code(i) for i in finding.institution.tolist()] == ["H1", "H1"]
    assert finding.explain(3) == {"institutions": ["H1", "H2"]}
    user[:] = False                       # no user traffic at all: nothing counts
    ctx2 = BatchContext(t, flows.update(t), plan, cfg, flows.row_keys, flows.groups)
    ctx2.__dict__["has_ip"] = user
    assert SharedLine(cfg, plan).detect(ctx2) == []
