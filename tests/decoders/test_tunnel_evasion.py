"""tunnel_evasion: a frame whose tunnels run past the decoder's depth limit is a finding
(pcaps/cases/tunnel_*/ are its cases); `[detectors.tunnel_evasion] enabled` turns it
off like any detector."""
from __future__ import annotations

from ybsensor.sensor import config as config_mod
from ybsensor.sensor.sensor import Sensor
from tools import PCAPS

CASE = PCAPS / "cases" / "tunnel_evasion_gre_x8_in_gre"


def _detectors(tmp_path, extra: str = "") -> list[str]:
    path = tmp_path / "sensor.toml"
    path.write_text((CASE / "config.toml").read_text() + extra)
    sensor = Sensor(config_mod.load(path), alerts_path="")
    found = []
    for _ in sensor.pipeline.run_files([CASE / "input.pcap"], print, print):
        found += [a["detector"] for a in sensor.last_alerts]
    return found


def test_on_by_default(tmp_path):
    assert _detectors(tmp_path) == ["tunnel_evasion"]


def test_can_be_turned_off(tmp_path):
    assert _detectors(tmp_path, "\n[detectors.tunnel_evasion]\nenabled = false\n") == []
