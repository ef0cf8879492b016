"""A real Prometheus server (Debian's `prometheus`) scrapes the sensor, loads the alert rules
of deploy/, and answers PromQL through its HTTP API with the packet and alert counts that
were sent; every query of the Grafana dashboard runs on it without an error.

Two sensors are scraped: `ybsensor replay --listen --linger` of the demo capture (on this
machine's loopback, no privileges needed), and `ybsensor run` capturing live in a network
namespace (Prometheus started inside that namespace). The server runs with a temporary
configuration and storage and a free port; it is stopped at the end of each test.
"""
from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from test_deploy import DASHBOARD, RULES, _panels
from tools import PCAPS, require_module, require_tool, ybsensor_cmd

DEMO = PCAPS / "demo.pcap"
EXAMPLE = PCAPS / "example.toml"
SCRAPE = "1s"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrometheusServer:
    """`prometheus` on 127.0.0.1:PORT with a scrape job "ybsensor" for `targets`, the rules
    of deploy/prometheus/alerts.yml, storage in `tmp`. `wrap` prefixes the command line
    (e.g. `ip netns exec NAME`); `fetch` makes the HTTP requests (from where it runs)."""

    def __init__(self, tmp: Path, targets: list[str], wrap: list[str] = (), fetch=None,
                 labels: dict | None = None, config_text: str | None = None):
        """`labels`: the server's external labels; `config_text`: a whole configuration
        instead of the scrape job (its targets already filled in)."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.fetch = fetch or _get
        tmp.mkdir(parents=True, exist_ok=True)
        config = tmp / "prometheus.yml"
        config.write_text(config_text or json.dumps({  # JSON is YAML
            "global": {"scrape_interval": SCRAPE, "evaluation_interval": SCRAPE,
                       "external_labels": labels or {}},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": "ybsensor",
                                "static_configs": [{"targets": targets}]}],
        }))
        self.log = open(tmp / "prometheus.log", "w+")
        self.proc = subprocess.Popen(
            [*wrap, require_tool("prometheus"), f"--config.file={config}",
             f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.fetch(f"{self.base}/-/ready").startswith(b"Prometheus"):
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"prometheus did not start:\n{self.output()}")
            time.sleep(0.2)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def api(self, path: str, **params) -> dict:
        url = f"{self.base}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        reply = json.loads(self.fetch(url))
        assert reply["status"] == "success", reply
        return reply["data"]

    def query(self, expr: str) -> dict[tuple, float]:
        """An instant query: labels (sorted items, without __name__) -> value."""
        data = self.api("query", query=expr)
        if data["resultType"] == "scalar":
            return {(): float(data["result"][1])}
        return {tuple(sorted((k, v) for k, v in r["metric"].items() if k != "__name__")):
                float(r["value"][1]) for r in data["result"]}

    def wait_for(self, expr: str, want, timeout: float = 30.0):
        """Poll a query until its result equals `want`; the last result."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.query(expr)
            if got == want:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"{expr}: got {got}, want {want}")
            time.sleep(0.25)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read()


def _offline(pcap: Path, config: Path):
    """The capture through the pipeline in this process: frames, violations by detector."""
    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
    from ybsensor.sensor.sources import read_capture

    sensor = Sensor(load(config), alerts_path="")
    for batch in read_capture(pcap):
        sensor.pipeline.process(batch)
    by_detector: dict[str, int] = {}
    for (detector, _), n in sensor.alerter.occurrences.items():
        by_detector[detector] = by_detector.get(detector, 0) + n
    return sensor.stats.frames, by_detector, sum(sensor.alerter.alerts.values())


def _dashboard_queries():
    dash = json.loads(DASHBOARD.read_text())
    for panel in _panels(dash):
        for target in panel.get("targets", []):
            expr = (target["expr"].replace("$__rate_interval", "1m").replace("$__range", "5m")
                    .replace("$__interval", "15s"))
            for var in ("instance", "institution", "line", "detector"):
                expr = expr.replace(f"${var}", ".*")
            yield panel["title"], expr


@pytest.fixture
def replaying(tmp_path):
    """`ybsensor replay demo.pcap --listen 127.0.0.1:PORT --linger 120`, serving its
    final metrics once the replay is over (its alert log closed); (target, alerts file).
    Stopped at the end."""
    with lingering_replay(DEMO, EXAMPLE, tmp_path) as serving:
        yield serving


@contextlib.contextmanager
def lingering_replay(pcap: Path, config: Path, tmp_path: Path):
    """`ybsensor replay PCAP --config CONFIG --listen 127.0.0.1:PORT --linger 120` until the
    replay is over and its final metrics are served: (target, alerts file)."""
    import threading

    port = free_port()
    alerts = tmp_path / f"alerts-{port}.jsonl"
    proc = subprocess.Popen([*ybsensor_cmd(), "replay", str(pcap), "--config", str(config),
                             "--alerts", str(alerts), "--no-progress",
                             "--listen", f"127.0.0.1:{port}", "--linger", "120"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    pump = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    pump.start()
    try:
        deadline = time.monotonic() + 60
        while not any("serving the final metrics" in line for line in list(lines)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"replay did not linger: {''.join(lines)}")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}", alerts
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        pump.join(timeout=10)


def test_prometheus_scrapes_a_replay(tmp_path, replaying):
    target, alerts_path = replaying
    frames, by_detector, alerts = _offline(DEMO, EXAMPLE)
    written = len(alerts_path.read_text().splitlines())
    assert written == alerts > 0
    prom = PrometheusServer(tmp_path, [target])
    try:
        prom.wait_for('up{job="ybsensor"}', {(("instance", target), ("job", "ybsensor")): 1.0})
        prom.wait_for("sum(ybsensor_packets_total)", {(): float(frames)})
        assert prom.query("sum by (detector) (ybsensor_alerts_total)") == {
            (("detector", d),): float(n) for d, n in by_detector.items()}
        assert prom.query("sum(ybsensor_alert_records_total)") == {(): float(written)}
        assert prom.query("sum(ybsensor_alerts_written_total)") == {(): float(written)}
        # the rules are loaded and healthy, and the new-violations rule fires per detector
        groups = prom.api("rules")["groups"]
        assert {g["name"] for g in groups} == {"ybsensor-detections", "ybsensor-capture",
                                               "ybsensor-health"}
        assert all(r["health"] == "ok" for g in groups for r in g["rules"]), groups
        # lines last seen at the capture's own (old) time: the silent-line rule is pending
        lines = prom_lines(prom)
        assert lines
        deadline = time.monotonic() + 30
        while True:
            alerts = prom.api("alerts")["alerts"]
            firing = {a["labels"].get("detector") for a in alerts
                      if a["labels"]["alertname"] == "YbsensorNewViolations"}
            pending = {a["labels"]["line"] for a in alerts
                       if a["labels"]["alertname"] == "YbsensorLineSilent"
                       and a["state"] == "pending"}
            if (firing, pending) == (set(by_detector), lines) or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        assert firing == set(by_detector)
        assert pending == lines
        # every dashboard query is valid PromQL here
        for title, expr in _dashboard_queries():
            prom.api("query", query=expr)  # asserts status success
        by_encap = prom.query('sum by (encap) (ybsensor_packets_total{job="ybsensor"})')
        assert sum(by_encap.values()) == frames and len(by_encap) > 3
    finally:
        prom.close()


def prom_lines(prom: PrometheusServer) -> set[str]:
    return {dict(k)["line"] for k in prom.query("ybsensor_line_last_seen_timestamp_seconds")}


def test_prometheus_scrapes_live_capture(tmp_path):
    """`ybsensor run` on a veth end in a namespace; Prometheus in the same namespace."""
    import livenet
    from livenet import LiveSensor, VethPair

    livenet.require_root()
    require_module("pyroute2")
    require_tool("ip")
    require_tool("tcpreplay")
    require_tool("prometheus")
    case = PCAPS / "cases" / "internet_bound_vpdn_l2tp"
    pair = VethPair()
    sensor = prom = None
    try:
        port = 9108
        sensor = LiveSensor(pair, "--config", str(case / "config.toml"), "--workers", "2",
                            listen=f"127.0.0.1:{port}")
        prom = PrometheusServer(tmp_path, [f"127.0.0.1:{port}"], wrap=pair.exec(pair.cap, []),
                                fetch=lambda url: pair.http_get(url))
        prom.wait_for('up{job="ybsensor"}', {(("instance", f"127.0.0.1:{port}"),
                                             ("job", "ybsensor")): 1.0})
        pair.replay(case / "input.pcap", "--topspeed", "--loop", "25")
        prom.wait_for("sum(ybsensor_packets_total)", {(): 100.0})
        prom.wait_for("sum(ybsensor_capture_packets_total)", {(): 100.0})
        assert prom.query("sum by (detector) (ybsensor_alerts_total)") == {
            (("detector", "internet_bound"),): 100.0}
        assert prom.query("sum(ybsensor_alert_records_total)") == {(): 1.0}
        assert prom.query("sum(ybsensor_capture_drops_total)") == {(): 0.0}
        assert prom.query("ybsensor_interface_up") == {
            (("instance", f"127.0.0.1:{port}"), ("interface", pair.cap_if),
             ("job", "ybsensor")): 1.0}
        assert prom.query("ybsensor_capture_workers") == {
            (("instance", f"127.0.0.1:{port}"), ("job", "ybsensor")): 2.0}
        assert sensor.stop() == 0
    finally:
        if prom is not None:
            prom.close()
        if sensor is not None:
            sensor.kill()
        pair.close()


def test_metrics_server_serves_and_refuses_a_busy_port():
    from prometheus_client import CollectorRegistry, Counter

    from ybsensor.exporters.http import ListenError, MetricsServer, parse_listen

    assert parse_listen("127.0.0.1:9108") == ("127.0.0.1", 9108)
    assert parse_listen("[::1]:9108") == ("::1", 9108)
    for bad in ("9108", "host:", "host:99999", ":9108"):
        with pytest.raises(ListenError):
            parse_listen(bad)
    registry = CollectorRegistry()
    Counter("ybsensor_test_frames", "frames", registry=registry).inc(3)
    server = MetricsServer("127.0.0.1:0", registry).start()
    try:
        assert b"ybsensor_test_frames_total 3.0" in _get(server.url)
        with pytest.raises(ListenError, match="cannot serve metrics on"):
            MetricsServer(f"127.0.0.1:{server.port}", registry)
    finally:
        server.close()


def test_replay_with_a_busy_listen_address_is_a_usage_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([*ybsensor_cmd(), "replay", str(DEMO), "--listen",
                               f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "cannot serve metrics on" in proc.stderr
