"""Per configured line: last seen time, frames and bytes — configured lines only, so the
metrics' label set stays bounded whatever arrives."""
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Dot1Q, Ether

from decoders import Batch
from sensor.config import load
from sensor.sensor import Sensor

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
    frames = [bytes(Ether() / Dot1Q(vlan=vid) / IP(src="10.1.2.3", dst="10.200.0.1") / TCP())
              for vid in (100, 100, 999, 100)]
    sensor.pipeline.process(Batch.from_frames(frames, ts_ns=[1_000_000_000 * (i + 1) for i in range(4)]))
    text = sensor.metrics.text().decode()
    size = len(frames[0])
    assert 'ybsensor_line_packets_total{line="vlan:100"} 3.0' in text
    assert f'ybsensor_line_bytes_total{{line="vlan:100"}} {3 * size}.0' in text
    assert 'ybsensor_line_last_seen_timestamp_seconds{line="vlan:100"} 4.0' in text
    # an unconfigured line is not a label; a silent configured one has no traffic yet
    assert "vlan:999" not in text and 'line_packets_total{line="vlan:101"}' not in text
