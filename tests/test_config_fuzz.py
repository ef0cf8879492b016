"""The config fuzzer, bounded (`make fuzz` runs it longer: scripts/fuzz.py): hostile
configurations (tests/config_fuzzing.py) through check-config, a replay when it accepts
them, and a reload of a supervisor and its workers. Never a traceback; what check-config
accepts works, what it refuses a reload refuses too."""
from __future__ import annotations

import random

import pytest

import config_fuzzing as CF

SEEDS = range(40)


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    h = CF.Harness(tmp_path_factory.mktemp("reload"))
    yield h
    h.close()


@pytest.mark.parametrize("seed", SEEDS)
def test_hostile_config(seed, tmp_path, harness, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths land here
    rng = random.Random(seed)
    where = CF.hostile_dir(tmp_path / "files")
    text = CF.mutate(rng, where)
    path = tmp_path / "sensor.toml"
    path.write_text(text)
    try:
        accepted = CF.check_config(path)
        if accepted:
            CF.replay(path, tmp_path)
        CF.reload_with(harness, text, accepted)
    except CF.Broken as exc:
        pytest.fail(f"seed {seed}:\n{text}\n{exc}", pytrace=False)
    assert (where / "victim").read_text() == "precious\n"
