"""Series an operator needs from the first scrape: every configured line with its
institution and access kind (so a line dead since start is seen, CQ §1(3)), the build, and
the process's own resources."""
import tomllib
from pathlib import Path

from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from ybsensor.exporters.http import merge
from ybsensor.sensor.cli import cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "pcaps" / "example.toml"


def samples(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append(s)
    return out


def configured_lines(path: Path) -> set[tuple[str, str, str]]:
    """(line, code, access) of the config's [[institution]] tables, read from the TOML
    itself (the example's CSV allocations add no lines)."""
    cfg = tomllib.loads(path.read_text())
    return {(line, inst["code"], inst.get("access", "dedicated"))
            for inst in cfg.get("institution", []) for line in inst.get("lines", [])}


def test_line_info_names_every_configured_line_even_silent_ones(tmp_path):
    # a capture that carries no configured line at all: every line is silent
    silent = ROOT / "pcaps" / "null.pcap"
    metrics = tmp_path / "m.prom"
    result = CliRunner().invoke(cli, ["replay", str(silent), "--config", str(EXAMPLE),
                                      "--alerts", str(tmp_path / "a.jsonl"), "--no-progress",
                                      "--metrics-file", str(metrics)])
    assert result.exit_code == 0, result.output
    got = samples(metrics.read_text())
    info = {(s.labels["line"], s.labels["institution"], s.labels["access"])
            for s in got["ybsensor_line_info"]}
    expected = configured_lines(EXAMPLE)
    assert expected and expected <= info
    assert all(s.value == 1 for s in got["ybsensor_line_info"])
    (build,) = got["ybsensor_build_info"]
    assert build.value == 1 and build.labels["version"]
    assert build.labels["decode_kernel"] in ("numba", "numpy", "generic")
    assert build.labels["matcher"] in ("hyperscan", "numpy")
    assert got["process_cpu_seconds_total"][0].value > 0
    assert got["process_resident_memory_bytes"][0].value > 0


def test_info_series_of_several_workers_merge_to_one():
    text = ('# HELP ybsensor_line_info x\n# TYPE ybsensor_line_info gauge\n'
            'ybsensor_line_info{line="vlan:100",institution="H1",access="dedicated"} 1\n'
            '# HELP ybsensor_flows_active x\n# TYPE ybsensor_flows_active gauge\n'
            'ybsensor_flows_active 5\n')
    fams = [list(text_string_to_metric_families(text)) for _ in range(3)]
    merged = {s.name: s.value for fam in merge(fams) for s in fam.samples}
    assert merged["ybsensor_line_info"] == 1
    assert merged["ybsensor_flows_active"] == 15
