"""The flow table is checked against every bound on the process's memory, not only the
machine's: RLIMIT_AS / RLIMIT_DATA (a `ulimit -v`, systemd's LimitAS=) and the memory limit
of the process's cgroup (v2 memory.max, v1 memory.limit_in_bytes, MemoryMax=). A table
that cannot fit is a configuration error (exit 2) in check-config and at start, not a
MemoryError once the sensor allocates it."""
from __future__ import annotations

import resource
import subprocess

import pytest

from ybsensor.sensor import config as config_mod
from ybsensor.sensor import memory
from ybsensor.core.flows import FlowTable
from tools import ONE_HOSPITAL, PCAPS, ybsensor_cmd

GIB = 1 << 30
LIMIT = 4 * GIB                # the address space the child processes get
FLOWS = 40_000_000             # a table of about 6.7 GiB: less than the machine, more than LIMIT


def _config(tmp_path, flows: int = FLOWS):
    path = tmp_path / "sensor.toml"
    path.write_text(ONE_HOSPITAL + f"\n[flows]\nmax_flows = {flows}\n")
    return path


def _under_rlimit_as():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


@pytest.mark.parametrize("command", ["check-config", "replay"])
def test_a_table_past_rlimit_as_is_refused(tmp_path, command):
    phys = memory.physical()
    need = FlowTable.memory_bytes(FLOWS)
    if phys is None or phys.bytes <= need:
        pytest.skip("this machine has too little memory to tell the limits apart")
    config = _config(tmp_path)
    args = [command, str(config)] if command == "check-config" else \
        ["replay", str(PCAPS / "vlan.pcap"), "--config", str(config), "--alerts",
         str(tmp_path / "alerts.jsonl"), "--no-progress"]
    done = subprocess.run(ybsensor_cmd() + args, capture_output=True, timeout=300,
                          preexec_fn=_under_rlimit_as)
    err = done.stderr.decode()
    assert done.returncode == 2, err[-2000:]
    assert "Traceback" not in err and "MemoryError" not in err
    assert "max_flows" in err and "RLIMIT_AS" in err


def test_a_table_within_the_limits_passes(tmp_path):
    done = subprocess.run(ybsensor_cmd() + ["check-config", str(_config(tmp_path, 100_000))],
                          capture_output=True, timeout=300, preexec_fn=_under_rlimit_as)
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def _tree(tmp_path, proc: str, files: dict[str, str]):
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (tmp_path / "proc_cgroup").write_text(proc)
    return root, tmp_path / "proc_cgroup"


def test_cgroup_v2_memory_max_of_the_process_or_an_ancestor(tmp_path):
    root, proc = _tree(tmp_path, "0::/system.slice/ybsensor.service\n", {
        "cgroup.controllers": "memory\n",
        "memory.max": "max\n",
        "system.slice/memory.max": f"{3 * GIB}\n",
        "system.slice/ybsensor.service/memory.max": "max\n",
    })
    rooms = memory.cgroup_limits(root, proc)
    assert [r.bytes for r in rooms] == [3 * GIB]
    assert "system.slice/memory.max" in rooms[0].what


def test_cgroup_v1_memory_limit_in_bytes(tmp_path):
    root, proc = _tree(tmp_path, "5:cpu,cpuacct:/x\n4:memory:/docker/abc\n", {
        "memory/memory.limit_in_bytes": "9223372036854771712\n",      # no limit
        "memory/docker/abc/memory.limit_in_bytes": f"{2 * GIB}\n",
    })
    assert [r.bytes for r in memory.cgroup_limits(root, proc)] == [2 * GIB]


def test_a_cgroup_namespace_that_hides_the_path(tmp_path):
    """Inside a container the path /proc/self/cgroup names may not exist under the mount:
    the mount's root is the process's cgroup then."""
    root, proc = _tree(tmp_path, "0::/../../outer\n", {"memory.max": f"{GIB}\n"})
    assert [r.bytes for r in memory.cgroup_limits(root, proc)] == [GIB]


def test_check_config_names_the_cgroup_limit(tmp_path, monkeypatch):
    root, proc = _tree(tmp_path, "0::/sensor\n", {"sensor/memory.max": f"{GIB}\n"})
    monkeypatch.setattr(memory, "CGROUP_ROOT", root)
    monkeypatch.setattr(memory, "PROC_CGROUP", proc)
    flows = FlowTable.flows_for(2 * GIB)
    with pytest.raises(config_mod.ConfigError, match="max_flows.*memory.max"):
        config_mod.load(_config(tmp_path, flows))
    config_mod.load(_config(tmp_path, FlowTable.flows_for(GIB // 2)))
