"""detectors/matcher.py: the Hyperscan backend and the numpy fallback give the same matches;
the digit-run pre-filter misses no run of 11 digits; the detectors find the same with either."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from test_payload_kernels import _reference_runs as grouped_runs, digit_run_hits
from ybsensor.detectors.matcher import LiteralMatcher, hyperscan_available

ROOT = Path(__file__).resolve().parents[2]
LITERALS = [b"psn_name", b"certno", b"psn_no", b"infno", "姓名".encode("gbk"),
            "姓名".encode("utf-8"), b": basic ", b"pwd=", b"aa", b"aaa"]


def reference(buf: bytes, literals: list[bytes]) -> list[tuple[int, int]]:
    """Every (start, id), overlaps included, ASCII letters without case."""
    low = bytes(c + 32 if 65 <= c <= 90 else c for c in buf)
    out = []
    for k, lit in enumerate(literals):
        lit = bytes(c + 32 if 65 <= c <= 90 else c for c in lit)
        i = low.find(lit)
        while i >= 0:
            out.append((i, k))
            i = low.find(lit, i + 1)
    return sorted(out)


def backends() -> list[str]:
    return ["numpy"] + (["hyperscan"] if hyperscan_available() else [])


@pytest.mark.parametrize("backend", backends())
def test_matches_by_hand(backend):
    m = LiteralMatcher(LITERALS, backend)
    data = b'x {"PSN_Name":"a","certno":"b"} aaaa \xd0\xd5\xc3\xfb pwd='
    starts, ids = m.scan(np.frombuffer(data, np.uint8))
    assert list(zip(starts.tolist(), ids.tolist())) == reference(data, LITERALS)
    assert (4, 0) in list(zip(starts.tolist(), ids.tolist()))
    # a window: only matches wholly inside it, at their offsets in the whole buffer
    starts, ids = m.scan(np.frombuffer(data, np.uint8), 3, 20)
    assert list(zip(starts.tolist(), ids.tolist())) == [(4, 0)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(LITERALS + [b"PSN_NAME", b"Certno", b"AA"]),
                          st.binary(max_size=12)), max_size=30))
def test_backends_agree(parts):
    data = b"".join(parts)
    want = reference(data, LITERALS)
    for backend in backends():
        starts, ids = LiteralMatcher(LITERALS, backend).scan(np.frombuffer(data, np.uint8))
        assert list(zip(starts.tolist(), ids.tolist())) == want, backend


def test_unknown_backend_and_short_literal():
    with pytest.raises(ValueError):
        LiteralMatcher([b"ab"], "grep")
    with pytest.raises(ValueError):
        LiteralMatcher([b"a"])


def runs_reference(data: bytes, min_run: int = 11) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(rb"[0-9]{%d,}" % min_run, data)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text("0123456789", min_size=1, max_size=30).map(str.encode),
                          st.binary(max_size=15)), max_size=20))
def test_digit_runs_none_missed(parts):
    """Every run of 11 digits (its groups joined, as the rule reads a number written to be
    read) is reported through a window inside it; every window is inside such a run and
    holds 11 digits."""
    data = b"".join(parts)
    arr = np.frombuffer(data, np.uint8)
    starts, ends = digit_run_hits(arr)
    runs = grouped_runs(data, 0, len(data), 11)
    assert all(any(g <= a and b <= h for g, h in runs) for a, b in runs_reference(data))
    for a, b in runs:
        assert any(a <= s and e <= b and e - s >= 11 for s, e in zip(starts, ends)), (a, b)
    for s, e in zip(starts.tolist(), ends.tolist()):
        assert sum(c in b"0123456789" for c in data[s:e]) >= 11
        assert any(a <= s and e <= b for a, b in runs), (s, e, runs)


def test_digit_runs_by_hand():
    data = b"ab13812345678x" + b"1" * 30 + b"z12345678901;1234567890 12 34"
    starts, ends = digit_run_hits(np.frombuffer(data, np.uint8))
    assert (2, 13) in set(zip(starts.tolist(), ends.tolist()))
    assert all(data[s:e].isdigit() for s, e in zip(starts, ends))
    assert not any(s >= data.index(b";1234567890") for s in starts)   # 10 digits: no run
    # a separator between groups of three digits or more joins them into one run
    grouped = b"z123 4567 8901 x"
    starts, ends = digit_run_hits(np.frombuffer(grouped, np.uint8))
    assert set(zip(starts.tolist(), ends.tolist())) == {(1, 14)}


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan is not installed")
@pytest.mark.parametrize("case", ["pii_insurance_query_in_l2tp", "pii_gbk_form_in_l2tp",
                                  "pii_id_split_across_segments_in_gre", "cred_http_basic_in_gre",
                                  "cred_imap_login_in_gre", "pii_near_miss_in_gre"])
def test_detectors_agree_with_either_backend(case, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from ybsensor.sensor.cli import cli
    folder = ROOT / "pcaps" / "cases" / case
    out = {}
    for backend in ("numpy", "hyperscan"):
        monkeypatch.setenv("YBSENSOR_MATCHER", backend)
        alerts = tmp_path / backend / "alerts.jsonl"
        alerts.parent.mkdir()
        result = CliRunner().invoke(cli, ["replay", str(folder / "input.pcap"), "--config",
                                          str(folder / "config.toml"), "--alerts", str(alerts),
                                          "--no-progress"])
        assert result.exit_code == 0, result.output
        rows = [json.loads(x) for x in alerts.read_text().splitlines()] if alerts.exists() else []
        out[backend] = [(a["detector"], a["first_frame"], a["packets"], a["evidence"])
                        for a in rows]
        shutil.rmtree(tmp_path / backend)
    assert out["numpy"] == out["hyperscan"]
