"""How much memory this process may still allocate, and what sets that bound: the machine's
memory, the process's resource limits (RLIMIT_AS, RLIMIT_DATA) and the memory limit of its
cgroup (v2 `memory.max`, v1 `memory.limit_in_bytes`, the tightest along the path to the
root). Under a unit's `MemoryMax=` or a `ulimit -v`, the machine's memory says nothing about
what an allocation can get; a table that does not fit fails with a MemoryError (or the OOM
killer) only once the sensor starts, so the configuration is checked against this."""
from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import NamedTuple

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
V1_UNLIMITED = 1 << 62       # v1 writes "no limit" as a huge page-rounded number


class Room(NamedTuple):
    bytes: int      # what may be allocated
    what: str       # which bound that is, for a message


def physical() -> Room | None:
    try:
        return Room(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"),
                    "this machine's memory")
    except (ValueError, OSError, AttributeError):
        return None


def _status_kib(field: str) -> int:
    """A `VmSize:`-like field of /proc/self/status in bytes (0 if absent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def rlimits() -> list[Room]:
    """Room left under RLIMIT_AS (address space) and RLIMIT_DATA (data segment)."""
    out = []
    for name, limit, used in (("RLIMIT_AS", resource.RLIMIT_AS, "VmSize"),
                              ("RLIMIT_DATA", resource.RLIMIT_DATA, "VmData")):
        soft, _ = resource.getrlimit(limit)
        if soft != resource.RLIM_INFINITY:
            out.append(Room(max(soft - _status_kib(used), 0),
                            f"the process's {name} of {soft / (1 << 30):.1f} GiB"))
    return out


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None   # v2 "max": no limit


def cgroup_limits(root: Path | None = None, proc_cgroup: Path | None = None) -> list[Room]:
    """The memory limits of this process's cgroup and its ancestors."""
    root, proc_cgroup = root or CGROUP_ROOT, proc_cgroup or PROC_CGROUP
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        _, controllers, path = line.split(":", 2) if line.count(":") >= 2 else ("", "", "")
        if controllers == "":                         # v2: the unified hierarchy
            mount = root / "unified" if (root / "unified" / "cgroup.controllers").exists() \
                else root
            limit_file = "memory.max"
        elif "memory" in controllers.split(","):      # v1: the memory controller's own
            mount = root / "memory"
            limit_file = "memory.limit_in_bytes"
        else:
            continue
        # a cgroup namespace shows less: the path may lie outside it ("/../..") or not
        # exist under the mount; the nearest directory that does is the process's view
        here = mount if ".." in Path(path).parts else mount / path.lstrip("/")
        while not here.is_dir() and here != mount:
            here = here.parent
        while True:
            limit = _read_int(here / limit_file)
            if limit is not None and limit < V1_UNLIMITED:
                # the limit itself: what the cgroup holds now is partly page cache, which
                # the kernel reclaims before it refuses an allocation
                out.append(Room(limit, f"the {limit / (1 << 30):.1f} GiB of {here / limit_file}"))
            if here == mount or here == here.parent:
                break
            here = here.parent
    return out


def room() -> Room | None:
    """The tightest bound on what this process may still allocate (None if nothing says)."""
    bounds = [r for r in [physical(), *rlimits(), *cgroup_limits()] if r is not None]
    return min(bounds, key=lambda r: r.bytes) if bounds else None
