"""The operator's surface in deploy/: the Prometheus alert rules (checked and unit-tested by
promtool), the Grafana dashboard (every query names only metrics the sensor exports) and
the systemd unit (verified by systemd-analyze where it is installed, and read for the
capabilities and hardening it must hold); and the sensor's /metrics text, which promtool
must find nothing to complain about."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from tools import PCAPS, REPO, require_tool

DEPLOY = REPO / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "alerts_test.yml"
DASHBOARD = DEPLOY / "grafana" / "ybsensor.json"
UNIT = DEPLOY / "systemd" / "ybsensor@.service"
PROMETHEUS_OWN = {"up"}  # series Prometheus makes itself


# ---------------------------------------------------------------------------------------
# What the sensor exports.

def _replay_metrics(tmp_path: Path):
    """The demo capture replayed with the example config, an alert log and evidence: the
    sensor's registry afterwards (every family a replay exports, with samples)."""
    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
    from ybsensor.sensor.sources import read_capture

    sensor = Sensor(load(PCAPS / "example.toml"), alerts_path=str(tmp_path / "alerts.jsonl"))
    for batch in read_capture(PCAPS / "demo.pcap"):
        sensor.pipeline.process(batch)
    sensor.close()
    return sensor.metrics


def _live_families():
    """The families only live capture adds: the ring's counters (a worker), the link state
    (the supervisor) and the kernel drops (SensorCollector's drops hook)."""
    from ybsensor.exporters.prometheus import SensorCollector
    from ybsensor.sensor.live import _CaptureCollector, _LinkCollector, _ReloadCollector
    from ybsensor.sensor.stats import TrafficStats

    ring = SimpleNamespace(ifname="eth1", kernel_packets=10, kernel_drops=1, freezes=0)
    sup = SimpleNamespace(link=SimpleNamespace(name="eth1"), link_up=True, running=lambda: 1)
    drops = SensorCollector(TrafficStats([]), drops=lambda: {"eth1": 1})
    sup.reload_ok, sup.reload_success_ts = True, 0.0
    return [*_CaptureCollector(ring).collect(), *_LinkCollector(sup).collect(),
            *_ReloadCollector(sup).collect(),
            *[f for f in drops.collect() if f.name == "ybsensor_capture_drops"]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> set[str]:
    """Every series name the sensor exports (sample names: `_total`, `_bucket`...)."""
    metrics = _replay_metrics(tmp_path_factory.mktemp("exported"))
    families = [*metrics.registry.collect(), *_live_families()]
    names = {s.name for f in families for s in f.samples}
    for f in families:  # a family with no samples yet (no decode error so far) still counts
        names |= {"counter": {f"{f.name}_total"},
                  "histogram": {f"{f.name}_{x}" for x in ("bucket", "sum", "count")}
                  }.get(f.type, {f.name})
    return names


_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_WORD = re.compile(r"(?<![\w$.:])([A-Za-z_:][A-Za-z0-9_:]*)\b(?!\s*\()")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
             "and", "or", "unless", "inf", "nan", "atan2"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (not functions, labels or keywords)."""
    expr = _STRINGS.sub('""', expr)
    expr = _MATCHERS.sub("", expr)
    expr = _RANGES.sub("", expr)
    expr = _GROUPING.sub("", expr)
    expr = re.sub(r"\$\w+", "", expr)
    return {w for w in _WORD.findall(expr) if w.lower() not in _KEYWORDS}


def test_metric_names_reader():
    assert metric_names('sum by (encap) (rate(ybsensor_packets_total{job="ybsensor", '
                        'instance=~"$instance"}[$__rate_interval]))') == {"ybsensor_packets_total"}
    assert metric_names("time() - max by (line) (ybsensor_line_last_seen_timestamp_seconds) "
                        "> 15 * 60 or up == 0") == {"ybsensor_line_last_seen_timestamp_seconds", "up"}
    assert metric_names("histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m] offset 1h)))") \
        == {"x_bucket"}


# ---------------------------------------------------------------------------------------
# Prometheus.

def test_promtool_checks_the_rules():
    promtool = require_tool("promtool")
    proc = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_checks_the_example_configuration():
    promtool = require_tool("promtool")
    proc = subprocess.run([promtool, "check", "config", "prometheus.yml"], cwd=RULES.parent,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'job_name: ybsensor' in (RULES.parent / "prometheus.yml").read_text()


def test_promtool_rule_unit_tests_pass():
    promtool = require_tool("promtool")
    proc = subprocess.run([promtool, "test", "rules", RULE_TESTS.name], cwd=RULE_TESTS.parent,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def _rules() -> list[dict]:
    """The alerting rules of alerts.yml: name, expr, labels, annotations. A reader of the
    little YAML the file uses (no YAML library is a dependency); promtool checks the rest."""
    rules: list[dict] = []
    lines = RULES.read_text().splitlines()
    section = None
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if m := re.match(r"\s*- alert: (\S+)\s*$", line):
            rules.append({"alert": m.group(1), "labels": {}, "annotations": {}})
            section = None
        elif not rules or not line.strip() or line.strip().startswith("#"):
            continue
        elif re.match(r"\s*(- name|rules):", line):  # the next group
            section = None
        elif m := re.match(r"(\s*)(expr|labels|annotations|for): ?(.*)$", line):
            indent, key, value = len(m.group(1)), m.group(2), m.group(3).strip()
            if key in ("labels", "annotations"):
                section = key
                continue
            section = None
            if value in ("|", "|-", ">", ">-"):
                block = []
                while i < len(lines) and (not lines[i].strip() or
                                          len(lines[i]) - len(lines[i].lstrip()) > indent):
                    block.append(lines[i].strip())
                    i += 1
                value = "\n".join(block)
            rules[-1][key] = value
        elif section and (m := re.match(r"\s*(\w+): ?(.*)$", line)):
            rules[-1][section][m.group(1)] = m.group(2).strip().strip('"')
    return rules


def test_rules_cover_what_the_issue_asks_and_read_exported_metrics(exported):
    rules = {r["alert"]: r for r in _rules()}
    for name in ("YbsensorNewViolations", "YbsensorCaptureDrops", "YbsensorLineSilent",
                 "YbsensorDown"):
        assert name in rules
    assert "ybsensor_line_last_seen_timestamp_seconds" in rules["YbsensorLineSilent"]["expr"]
    assert "detector" in rules["YbsensorNewViolations"]["expr"]  # one alert per detector
    for rule in rules.values():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= exported | PROMETHEUS_OWN, (rule["alert"], names - exported)
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]


def test_promtool_finds_nothing_wrong_with_the_metrics(tmp_path):
    promtool = require_tool("promtool")
    text = _replay_metrics(tmp_path).text()
    proc = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                          timeout=60)
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), \
        (proc.stdout + proc.stderr).decode()


# ---------------------------------------------------------------------------------------
# Grafana.

def _panels(dashboard: dict):
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows hold theirs


def test_dashboard_queries_read_only_exported_metrics(exported):
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["title"]
    ids = [p["id"] for p in _panels(dash)]
    assert len(ids) == len(set(ids))
    panels = [p for p in _panels(dash) if p["type"] != "row"]
    assert len(panels) >= 10
    queries = []
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            queries.append((panel["title"], target["expr"]))
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            queries.append((f"${var['name']}", var["definition"]))
    seen = set()
    for title, expr in queries:
        names = metric_names(re.sub(r"label_values\((.*),\s*\w+\)$", r"\1", expr))
        assert names, (title, expr)
        assert names <= exported | PROMETHEUS_OWN, (title, names - exported - PROMETHEUS_OWN)
        seen |= names
    # what an operator opens first: traffic by encapsulation and line, alerts by detector
    # and institution, drops, silent lines
    for needed in ("ybsensor_packets_total", "ybsensor_bytes_total", "ybsensor_alerts_total",
                   "ybsensor_alert_records_total", "ybsensor_capture_drops_total",
                   "ybsensor_line_last_seen_timestamp_seconds", "ybsensor_interface_up"):
        assert needed in seen, needed
    exprs = " ".join(e for _, e in queries)
    for label in ("encap", "line", "detector", "institution"):
        assert f"by ({label}" in exprs or f", {label})" in exprs, label


def test_dashboard_is_what_its_code_makes_and_provisions_from_a_file():
    """The JSON is the SDK program's output; the data source is a variable (file
    provisioning cannot fill `__inputs`); operators narrow by sensor, institution, line and
    detector."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("dashboard", DEPLOY / "grafana" / "dashboard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render() == DASHBOARD.read_text(), \
        "deploy/grafana/ybsensor.json is stale: python deploy/grafana/dashboard.py > it"
    dash = json.loads(DASHBOARD.read_text())
    assert "__inputs" not in dash and "${DS_" not in DASHBOARD.read_text()
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("instance", "institution", "line", "detector"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"]["uid"] == "${datasource}"
        assert variables[name]["includeAll"] and variables[name]["allValue"] == ".*"
    exprs = [t["expr"] for p in _panels(dash) for t in p.get("targets", [])]
    for name, label in (("line", "line"), ("institution", "institution"),
                        ("detector", "detector")):
        assert any(f'{label}=~"${name}"' in e for e in exprs), name


def _reads_a_rate(expr: str) -> bool:
    return bool(re.search(r"\b(rate|increase|changes|irate)\(", expr))


def test_dashboard_panels_plot_one_kind_of_quantity_and_stay_narrow():
    """One kind of quantity per axis (rates, or levels); quantiles per sensor (the slowest
    one shows); a panel that draws a series per line, institution or chain shows the top
    ones only, since a fleet has thousands."""
    dash = json.loads(DASHBOARD.read_text())
    for panel in _panels(dash):
        exprs = [t["expr"] for t in panel.get("targets", [])]
        if panel["type"] == "timeseries" and len(exprs) > 1:
            kinds = {_reads_a_rate(e) for e in exprs}
            assert len(kinds) == 1, (panel["title"], exprs)
        for e in exprs:
            for by in re.findall(r"histogram_quantile\([^,]+,\s*sum by \(([^)]*)\)", e):
                assert "instance" in by, (panel["title"], e)
            wide = re.search(r"\bby \([^)]*\b(line|institution|encap|reason)\b", e)
            if wide and panel["type"] != "stat":
                assert "topk(" in e, (panel["title"], e)


def test_dashboard_panels_do_not_overlap():
    dash = json.loads(DASHBOARD.read_text())
    taken = set()
    for panel in dash["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24
        cells = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & taken, panel["title"]
        taken |= cells


# ---------------------------------------------------------------------------------------
# systemd.

def _unit() -> dict[str, list[str]]:
    """key -> values of the [Service] section (keys may repeat)."""
    section, out = None, {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault(f"{section}.{key}", []).append(value)
    return out


def test_unit_holds_only_the_capture_capabilities_and_hardening():
    unit = _unit()
    caps = {"CAP_NET_RAW", "CAP_NET_ADMIN"}
    assert set(" ".join(unit["Service.AmbientCapabilities"]).split()) == caps
    assert set(" ".join(unit["Service.CapabilityBoundingSet"]).split()) == caps
    assert unit["Service.User"] == ["ybsensor"] and unit["Service.Group"] == ["ybsensor"]
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes",
                       "ProtectKernelModules": "yes", "ProtectControlGroups": "yes",
                       "RestrictNamespaces": "yes", "RestrictSUIDSGID": "yes",
                       "LockPersonality": "yes", "SystemCallArchitectures": "native",
                       "KillMode": "mixed", "Type": "notify", "NotifyAccess": "main",
                       "RestartPreventExitStatus": "2"}.items():
        assert unit[f"Service.{key}"] == [value], key
    # the fast path: numba's loops need executable mappings, from the cache warm-up fills
    assert unit["Service.MemoryDenyWriteExecute"] == ["no"]
    assert "YBSENSOR_DECODE_KERNEL" not in " ".join(unit["Service.Environment"])
    assert "NUMBA_CACHE_DIR=/var/cache/ybsensor/numba" in " ".join(unit["Service.Environment"])
    assert unit["Service.CacheDirectory"] == ["ybsensor"]
    assert int(unit["Service.WatchdogSec"][0]) > 0
    assert "AF_PACKET" in unit["Service.RestrictAddressFamilies"][0]
    assert "AF_UNIX" in unit["Service.RestrictAddressFamilies"][0]    # sd_notify's socket
    assert "@system-service" in unit["Service.SystemCallFilter"]
    assert unit["Service.StateDirectory"] == ["ybsensor ybsensor/%i"]
    pre = unit["Service.ExecStartPre"]
    assert " check-config " in pre[0] and " warm-up " in pre[1]
    start = unit["Service.ExecStart"][0]
    assert " run " in start and "--interface %i" in start and "--config" in start
    assert "--wait-for-link" in start
    assert unit["Service.ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert unit["Install.WantedBy"] == ["multi-user.target"]


@pytest.fixture
def unit_here(tmp_path) -> Path:
    """The unit with ExecStart pointing at this checkout's ybsensor (verify wants it to
    exist and be executable)."""
    from tools import ybsensor_cmd

    exe = ybsensor_cmd()[0]
    path = tmp_path / "ybsensor@eth1.service"
    path.write_text(UNIT.read_text().replace("/opt/ybsensor/bin/ybsensor", exe))
    return path


def test_systemd_analyze_verifies_the_unit(unit_here):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed; the structural test above stands")
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit_here)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ybsensor@" not in proc.stderr, proc.stderr  # no warning about our unit


def test_systemd_analyze_security_rates_the_unit_well(unit_here):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                           str(unit_here)], capture_output=True, text=True, timeout=60)
    if "--offline" in proc.stderr:
        pytest.skip("this systemd-analyze cannot rate a unit file offline")
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    assert float(match.group(1)) <= 2.5, proc.stdout
