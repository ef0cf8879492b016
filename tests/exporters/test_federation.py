"""Many sensors, one view: two sensors, an edge Prometheus for each (its `sensor` external
label, as deploy/prometheus/prometheus.yml sets it), and a central Prometheus with
deploy/prometheus/central.yml federating both. The central server answers for both
sensors' lines and alerts, told apart by `sensor`; and a sensor's series count stays within
the sizing formula of central.yml and the README."""
from __future__ import annotations

import re
from pathlib import Path

from test_deploy import DEPLOY
from test_prometheus_server import (EXAMPLE, PrometheusServer, _offline, lingering_replay,
                                    prom_lines)
from tools import PCAPS

CENTRAL = DEPLOY / "prometheus" / "central.yml"
SITES = {"edge-a": (PCAPS / "demo.pcap", EXAMPLE),
         "edge-b": (PCAPS / "cases" / "internet_bound_vpdn_l2tp" / "input.pcap",
                    PCAPS / "cases" / "internet_bound_vpdn_l2tp" / "config.toml")}


def configured_lines(config: Path) -> set[str]:
    """The lines of the config's institutions, its CSV allocations included."""
    from ybsensor.sensor.config import load

    return {line for inst in load(config).institutions for line in inst.lines}


def central_text(edges: list[str]) -> str:
    """central.yml with its example targets replaced by the edge servers, faster intervals
    and the rules file by its path."""
    text = CENTRAL.read_text()
    examples = re.findall(r'"(edge-prometheus-\d\.example:9090)"', text)
    assert len(examples) == len(edges)
    for example, edge in zip(examples, edges):
        text = text.replace(example, edge)
    text = re.sub(r"(scrape|evaluation)_interval: \S+", r"\1_interval: 1s", text)
    return text.replace("  - alerts.yml", f"  - {DEPLOY / 'prometheus' / 'alerts.yml'}")


def test_a_central_prometheus_sees_every_sensor(tmp_path, require_tool):
    require_tool("prometheus")
    with lingering_replay(*SITES["edge-a"], tmp_path) as (target_a, _), \
            lingering_replay(*SITES["edge-b"], tmp_path) as (target_b, _):
        servers = []
        try:
            for (sensor, _), target in zip(SITES.items(), (target_a, target_b)):
                servers.append(PrometheusServer(tmp_path / sensor, [target],
                                                labels={"sensor": sensor}))
            for edge in servers:
                edge.wait_for('count(up{job="ybsensor"} == 1)', {(): 1.0})
            central = PrometheusServer(tmp_path / "central", [], config_text=central_text(
                [f"127.0.0.1:{s.port}" for s in servers]))
            servers.append(central)
            central.wait_for('count by (sensor) (up{job="ybsensor"} == 1)',
                             {(("sensor", s),): 1.0 for s in SITES})
            for sensor, (pcap, config) in SITES.items():
                lines = configured_lines(config)
                central.wait_for(f'count(ybsensor_line_info{{sensor="{sensor}"}})',
                                 {(): float(len(lines))})
                got = central.query(f'ybsensor_line_info{{sensor="{sensor}"}}')
                assert {dict(k)["line"] for k in got} == lines
                _, by_detector, _ = _offline(pcap, config)
                assert central.query(f'sum by (detector) (ybsensor_alerts_total{{sensor="{sensor}"}})') \
                    == {(("detector", d),): float(n) for d, n in by_detector.items()}
                assert prom_lines(central)
        finally:
            for server in servers:
                server.close()


def test_a_sensors_series_stay_within_the_sizing(tmp_path):
    """Series of one sensor after the demo day, against the formula: a fixed base, 4 per
    configured line, per detector 4 severities and an institution's record each, 2 per
    encapsulation label, the decode-error reasons and the batch histogram."""
    from prometheus_client.parser import text_string_to_metric_families

    from ybsensor.sensor.config import DETECTORS, load
    from ybsensor.sensor.sensor import Sensor
    from ybsensor.sensor.sources import read_capture

    cfg = load(EXAMPLE)
    sensor = Sensor(cfg, alerts_path=str(tmp_path / "alerts.jsonl"))
    for batch in read_capture(PCAPS / "demo.pcap"):
        sensor.pipeline.process(batch)
    sensor.close()
    series = [s for fam in text_string_to_metric_families(sensor.metrics.text().decode())
              for s in fam.samples]
    lines = sum(len(i.lines) for i in cfg.institutions)
    detectors = sum(cfg.detector_enabled(d) for d in DETECTORS)
    institutions = len({k[1] for k in sensor.alerter.alerts})
    encaps, reasons = len(sensor.stats.packets), len(sensor.stats.errors)
    bound = 40 + 4 * lines + detectors * (4 + institutions) + 2 * encaps + reasons + 14
    print(f"{len(series)} series; bound {bound} ({lines} lines, {detectors} detectors, "
          f"{institutions} institutions with alerts, {encaps} chains, {reasons} reasons)")
    assert len(series) <= bound, (len(series), bound)
    assert len(series) > bound / 3, "the formula is an upper bound, not a guess"
