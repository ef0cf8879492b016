"""The detector cases of pcaps/cases/ (suricata-verify style): each folder's input.pcap,
replayed with its config.toml, raises exactly the alerts of its expected.jsonl.

Alerts are compared as a multiset keyed by (detector, first_frame, src, dst): every
expected alert must be found with the same value in each field it states (fields it leaves
out — ts, rule, source, volatile ones — are not compared), and no alert may be left over.
The expected alerts are written by each case's generator (pcaps/cases/NAME/generate.py)
from the rules, never from the sensor's output: a difference is the sensor's fault or the
case's, and the message says which alert and which field.

Also: make_cases.py (running every case's generator) remakes the committed files byte for
byte, and the demo capture (pcaps/demo.pcap with pcaps/example.toml) raises every detector
of the registry, and its hour of benign background adds no alert.
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import pii

ROOT = Path(__file__).resolve().parents[2]
PCAPS = ROOT / "pcaps"
CASES = PCAPS / "cases"
SCRIPT = PCAPS / "make_cases.py"
DEMO = PCAPS / "demo.pcap"
EXAMPLE = PCAPS / "example.toml"
KEY = ("detector", "first_frame", "src", "dst")
SIX = {"internet_bound", "unauthorized_source", "shared_line", "lateral_traffic",
       "internet_vpn", "remote_control"}
PAYLOAD = {"plaintext_pii", "cleartext_credentials"}

CASE_DIRS = sorted(p for p in CASES.iterdir() if p.is_dir()) if CASES.is_dir() else []


def replay(pcap: Path, config: Path, alerts: Path) -> list[dict]:
    """`ybsensor replay PCAP --config CONFIG --alerts ALERTS` through the CLI's own entry
    point; the alerts it wrote."""
    from click.testing import CliRunner

    from ybsensor.sensor.cli import cli

    result = CliRunner().invoke(cli, ["replay", str(pcap), "--config", str(config),
                                      "--alerts", str(alerts), "--no-progress"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, (
        f"{pcap}: ybsensor replay exited {result.exit_code}:\n{result.output}")
    if not alerts.exists():
        return []
    return [json.loads(line) for line in alerts.read_text().splitlines() if line.strip()]


def decode(pcap: Path) -> list[dict]:
    """`ybsensor decode PCAP --format jsonl`, in process."""
    from click.testing import CliRunner

    from ybsensor.sensor.cli import cli

    result = CliRunner().invoke(cli, ["decode", str(pcap), "--format", "jsonl"])
    assert result.exit_code == 0, f"{pcap}: ybsensor decode exited {result.exit_code}"
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def _key(alert: dict) -> tuple:
    return tuple(alert.get(k) for k in KEY)


def _show(alert: dict) -> str:
    return json.dumps(alert, ensure_ascii=False, sort_keys=True)


def _mismatches(want: dict, got: dict) -> list[str]:
    """The fields `want` states that `got` does not match; evidence is compared key by key
    (the keys the expectation names)."""
    out = []
    for name, value in want.items():
        if name == "evidence" and isinstance(value, dict):
            have = got.get("evidence") or {}
            for k, v in value.items():
                if have.get(k) != v:
                    out.append(f"evidence.{k}: expected {json.dumps(v, ensure_ascii=False)}, "
                               f"got {json.dumps(have.get(k, '<absent>'), ensure_ascii=False)}")
        elif name not in got:
            out.append(f"{name}: expected {json.dumps(value)}, got no such field")
        elif got[name] != value or type(got[name]) is not type(value):
            out.append(f"{name}: expected {json.dumps(value, ensure_ascii=False)}, "
                       f"got {json.dumps(got[name], ensure_ascii=False)}")
    return out


def compare(case: str, expected: list[dict], actual: list[dict]) -> list[str]:
    """Problems, readable, one per line; empty when the alerts match the expectation."""
    by_key: dict[tuple, list[dict]] = defaultdict(list)
    for alert in actual:
        by_key[_key(alert)].append(alert)
    problems = []
    for want in expected:
        candidates = by_key.get(_key(want), [])
        if not candidates:
            problems.append(f"{case}: MISSING alert {dict(zip(KEY, _key(want)))}\n"
                            f"    expected: {_show(want)}")
            continue
        # the candidate that matches best (fewest differing fields) is the one consumed
        diffs = [_mismatches(want, got) for got in candidates]
        best = min(range(len(candidates)), key=lambda i: len(diffs[i]))
        got = candidates.pop(best)
        if diffs[best]:
            problems.append(f"{case}: alert {dict(zip(KEY, _key(want)))} differs:\n"
                            + "".join(f"    {d}\n" for d in diffs[best])
                            + f"    expected: {_show(want)}\n    got:      {_show(got)}")
    for left in by_key.values():
        for got in left:
            problems.append(f"{case}: UNEXPECTED alert {dict(zip(KEY, _key(got)))}\n"
                            f"    got: {_show(got)}")
    return problems


def _params():
    """Each case; one with a known_issue.txt (a disagreement between the sensor and the rule,
    reported, not yet fixed) is expected to fail, strictly: once fixed, it must be removed."""
    out = []
    for case in CASE_DIRS:
        issue = case / "known_issue.txt"
        marks = [pytest.mark.xfail(strict=True, reason=issue.read_text().strip())] \
            if issue.exists() else []
        out.append(pytest.param(case, id=case.name, marks=marks))
    return out


@pytest.mark.parametrize("case", _params())
def test_case(case: Path, tmp_path: Path):
    expected = [json.loads(line) for line in (case / "expected.jsonl").read_text().splitlines()
                if line.strip()]
    actual = replay(case / "input.pcap", case / "config.toml", tmp_path / "alerts.jsonl")
    problems = compare(case.name, expected, actual)
    assert not problems, "\n" + "\n".join(problems)


def test_there_are_cases():
    assert len(CASE_DIRS) >= 20, f"expected the cases of make_cases.py under {CASES}"
    for case in CASE_DIRS:
        for name in ("generate.py", "input.pcap", "config.toml", "expected.jsonl", "README.md"):
            assert (case / name).is_file(), f"{case.name}: {name} is missing"


def test_every_case_is_also_tunnelled():
    """Carriers deliver VPDN traffic in L2TP or GRE: every case is tunnelled itself or has
    a variant NAME_in_l2tp / NAME_in_gre."""
    names = {p.name for p in CASE_DIRS}
    lonely = []
    for case in CASE_DIRS:
        if case.name.endswith(("_in_l2tp", "_in_gre")):
            continue
        if f"{case.name}_in_l2tp" in names or f"{case.name}_in_gre" in names:
            continue
        if not any(t["type"] in ("l2tp", "gre") for r in decode(case / "input.pcap")
                   for t in r["tunnels"]):
            lonely.append(case.name)
    assert not lonely, f"cases with no L2TP/GRE frame and no tunnelled variant: {lonely}"


def test_make_cases_remakes_the_committed_files(tmp_path: Path):
    out = tmp_path / "cases"
    subprocess.run([sys.executable, str(SCRIPT), str(out), "--demo", str(tmp_path / "demo.pcap")],
                   check=True, cwd=ROOT, capture_output=True, timeout=300)
    made = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert made, "make_cases.py wrote nothing"
    absent = [str(r) for r in made if not (CASES / r).exists()]
    differ = [str(r) for r in made if (CASES / r).exists()
              and (CASES / r).read_bytes() != (out / r).read_bytes()]
    stale = sorted(str(p.relative_to(CASES)) for p in CASES.rglob("*")
                   if p.is_file() and p.relative_to(CASES) not in set(made)
                   and p.name != "generate.py" and "__pycache__" not in p.parts)
    assert not absent, f"made but not under pcaps/cases (run pcaps/make_cases.py): {absent}"
    assert not differ, f"pcaps/cases differs from what make_cases.py makes now: {differ}"
    assert not stale, f"under pcaps/cases but no longer made by make_cases.py: {stale}"
    assert DEMO.read_bytes() == (tmp_path / "demo.pcap").read_bytes(), \
        "pcaps/demo.pcap differs from what make_cases.py makes now"


def test_demo_raises_every_detector(tmp_path: Path):
    from ybsensor.detectors import REGISTRY

    alerts = replay(DEMO, EXAMPLE, tmp_path / "alerts.jsonl")
    seen = {a["detector"] for a in alerts}
    assert SIX | PAYLOAD <= set(REGISTRY)
    assert seen == set(REGISTRY), f"demo.pcap with example.toml raised {sorted(seen)}; " \
                                  f"missing {sorted(set(REGISTRY) - seen)}"


def test_demo_background_adds_no_alert(tmp_path: Path):
    """The demo's events without the background raise the same alerts as the committed
    demo with it (frame numbers aside: the background's frames come between)."""
    sys.path.insert(0, str(PCAPS))
    import make_cases as mc
    quiet = tmp_path / "events.pcap"
    mc.write_pcap(quiet, mc.demo(background=False).frames, mc.BASE_S)

    def keys(alerts):
        return sorted(json.dumps({k: v for k, v in a.items() if k in ALERT_KEYS}, sort_keys=True)
                      for a in alerts)
    with_background = replay(DEMO, EXAMPLE, tmp_path / "with.jsonl")
    events_only = replay(quiet, EXAMPLE, tmp_path / "without.jsonl")
    assert len(with_background) > len(SIX)
    assert keys(with_background) == keys(events_only)


ALERT_KEYS = ("ts", "detector", "severity", "line", "institution", "src", "dst", "proto",
              "sport", "dport", "community_id", "packets", "bytes", "evidence")


# the synthetic identifier helpers that later PII cases build on
def test_pii_resident_id_check_digits():
    pii.self_test_resident_id()


def test_pii_bank_card_luhn():
    pii.self_test_luhn()
