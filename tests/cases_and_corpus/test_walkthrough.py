"""The README's analyst walkthrough, run as written (bash, from the repository's top, in a
scratch copy of the layout it needs): every command succeeds and each step shows what the
demo holds: the alert's flow, its ClientHello, its evidence and the listed DNS query."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tools import require_tool

ROOT = Path(__file__).resolve().parents[2]


def walkthrough() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- walkthrough -->\n```sh\n(.*?)```\n<!-- /walkthrough -->", text, re.S)
    assert block, "the README's walkthrough block"
    return block.group(1)


def test_the_readme_walkthrough_runs_on_the_demo(tmp_path):
    for tool in ("jq", "tshark", "bash"):
        require_tool(tool)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cli = bin_dir / "ybsensor"       # this checkout's command line, as the console script
    cli.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c '
                   f'"from ybsensor.sensor.cli import main; main()" "$@"\n')
    cli.chmod(0o755)
    top = tmp_path / "top"
    top.mkdir()
    (top / "pcaps").symlink_to(ROOT / "pcaps")
    env = dict(os.environ, PYTHONPATH=str(ROOT), PATH=f"{bin_dir}:{os.environ['PATH']}")
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", walkthrough()], cwd=top, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    # 2: the alert, 3: its flow (a whole TCP exchange), 4: its ClientHello, 5: tshark's view
    assert '"dst":"203.0.113.5","dport":443' in out
    assert '"tcp_close":"fin"' in out
    assert '"protocol":"tls","version":"TLS 1.3","server_name":null' in out
    assert "203.0.113.5" in out.split('"tcp_close"')[-1]
    # 6: the query behind the listed name
    assert '"query":"cdn7.malware-cdn.example","qtype_name":"A"' in out
