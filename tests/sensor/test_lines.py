"""Per configured line: last seen time, frames and bytes — configured lines only, so the
metrics' label set stays bounded whatever arrives."""
from scapy.layers.inet import IP, TCP

from frames import link

from ybsensor.decoders import Batch
from ybsensor.sensor.config import load
from ybsensor.sensor.sensor import Sensor

CONFIG = """
[network]
private  = ["10.0.0.0/8"]
platform = ["10.200.0.0/16"]

[[institution]]
code = "H1"
ranges = ["10.1.2.0/24"]
lines = ["vlan:100", "vlan:101"]
"""


def test_configured_lines_count_frames_bytes_and_last_seen(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(CONFIG)
    sensor = Sensor(load(path))
    frames = [bytes(link(vid) / IP(src="10.1.2.3", dst="10.200.0.1") / TCP())
              for vid in (100, 100, 999, 100)]
    sensor.pipeline.process(Batch.from_frames(frames, ts_ns=[1_000_000_000 * (i + 1) for i in range(4)]))
    text = sensor.metrics.text().decode()
    size = len(frames[0])
    assert 'ybsensor_line_packets_total{line="vlan:100"} 3.0' in text
    assert f'ybsensor_line_bytes_total{{line="vlan:100"}} {3 * size}.0' in text
    assert 'ybsensor_line_last_seen_timestamp_seconds{line="vlan:100"} 4.0' in text
    # an unconfigured line is not a label; a silent configured one has no traffic yet
    assert "vlan:999" not in text and 'line_packets_total{line="vlan:101"}' not in text


def test_accounted_a_flow_at_a_time_as_row_by_row(tmp_path):
    """The sensor accounts lines from the flow table's per-flow counts; row by row must give
    the same: flows both ways, several lines, frames without IP, times out of order."""
    import numpy as np
    from scapy.layers.l2 import ARP

    from ybsensor.decoders import decode
    from ybsensor.core.flows import FlowTable
    from ybsensor.sensor.lines import LineActivity
    from ybsensor.core.plan import AddressPlan
    path = tmp_path / "c.toml"
    path.write_text(CONFIG)
    plan = AddressPlan(load(path))
    frames, ts = [], []
    for k in range(90):
        vid = (100, 101, 999)[k % 3]
        head = link(vid)
        if k % 10 == 9:
            frames.append(bytes(head / ARP()))
        else:
            a, b = "10.1.2.%d" % (3 + k % 4), "10.200.0.1"
            src, dst = (a, b) if k % 2 else (b, a)
            frames.append(bytes(head / IP(src=src, dst=dst) / TCP(sport=1000, dport=443)))
        ts.append(1_000_000_000 * ((k * 37) % 90))
    t = decode(Batch.from_frames(frames, ts_ns=ts))
    flows = FlowTable(64)
    flows.update(t)
    pattern = plan.lines.match(t.line_kind, t.line_a, t.line_b, t.batch.interfaces)
    by_flow, by_row = LineActivity(plan.lines), LineActivity(plan.lines)
    by_flow.process(t, pattern, flows.groups)
    by_row.process(t, pattern)
    assert len(flows.groups) <= 12 and (flows.groups.of_row < 0).sum() == 9
    assert by_flow.packets.tolist() == by_row.packets.tolist() == [30, 30]
    assert by_flow.bytes.tolist() == by_row.bytes.tolist()
    assert by_flow.seen_ns.tolist() == by_row.seen_ns.tolist()
    assert np.all(by_row.seen_ns > 0)
