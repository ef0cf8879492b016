"""The config fuzzer, bounded (`make fuzz` runs it longer: scripts/fuzz.py): hostile
configurations (tests/config_fuzzing.py) through check-config, a replay when it accepts
them, and a reload of a supervisor and its workers. Never a traceback; what check-config
accepts works, what it refuses a reload refuses too."""
from __future__ import annotations

import pytest

import config_fuzzing as CF

SEEDS = range(40)


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    where = tmp_path_factory.mktemp("reload")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(where)  # a relative alert path stays there, up to the last close
        h = CF.Harness(where)
        yield h
        h.close()


@pytest.mark.parametrize("seed", SEEDS)
def test_hostile_config(seed, tmp_path, harness, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths land here
    where = CF.hostile_dir(tmp_path / "files")
    try:
        CF.one(seed, harness, where)
    except CF.Broken as exc:
        text = harness.config.with_name("checked.toml").read_text()
        pytest.fail(f"seed {seed}:\n{text}\n{exc}", pytrace=False)
