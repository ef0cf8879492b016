"""Shared fixtures. The helpers themselves live in tools.py so that tests can import them."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# The helpers (tools, frames, pii, fuzzing, livenet...) sit here, the tests in a folder by area
# (decoders/, core/, detectors/, exporters/, sensor/, cases_and_corpus/); a test may import
# another's helpers by module name (`from test_names import client_hello`), from any folder.
for _folder in [TESTS, *sorted({p.parent for p in TESTS.glob("*/test_*.py")})]:
    sys.path.insert(0, str(_folder))
# numba's cache for the whole session (and the sensors it starts) in one place, which the
# live test of the service user's start copies instead of compiling every loop again
os.environ.setdefault("NUMBA_CACHE_DIR", str(TESTS.parent / ".numba-cache"))

import tools  # noqa: E402


@pytest.fixture
def require_tool():
    """require_tool(name) -> path of the program; skips the test when it is missing, fails
    it under CI=true (DESIGN.md: under CI a missing tool is a failure, not a skip)."""
    return tools.require_tool


@pytest.fixture
def require_module():
    """require_module(name) -> the imported module; skip, or fail under CI=true, if missing."""
    return tools.require_module


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """tcpdump's test captures, read in place (../shared/corpus/tcpdump); skips if absent."""
    if not tools.CORPUS.is_dir():
        if tools.under_ci():
            pytest.fail(f"the corpus is missing: {tools.CORPUS}", pytrace=False)
        pytest.skip(f"the corpus is not here: {tools.CORPUS}")
    return tools.CORPUS


@pytest.fixture(scope="session")
def tshark_config(tmp_path_factory) -> dict[str, str]:
    """tshark's environment: an empty configuration directory (no user preferences)."""
    return tools.tshark_env(tmp_path_factory.mktemp("wireshark-config"))


def _loop_backends() -> list[str]:
    from ybsensor.decoders import fastpath
    return ["numpy"] + (["numba"] if fastpath.numba_installed() else [])




@pytest.fixture(params=_loop_backends())
def loop_backend(request, monkeypatch):
    """The test with the numpy code and with the compiled loops (numba, where installed):
    a module runs all its tests both ways with
    `pytestmark = pytest.mark.usefixtures("loop_backend")`."""
    from ybsensor.decoders import fastpath
    if request.param == "numba":
        fastpath._kernel()
    monkeypatch.setattr(fastpath, "KERNEL", "numba" if request.param == "numba" else "generic")
    return request.param
