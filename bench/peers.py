"""Side by side, in one run on the same mixed pcap: ybsensor, a dpkt loop, scapy, tshark,
tcpdump. Prints frames/s and the ratio ybsensor (file to table) / tool, and writes
bench/out/peers.json.

    python bench/peers.py [--frames N] [--runs K] [--scapy-frames M] [--skip TOOL ...]

Every tool reaches the innermost IP 5-tuple of every frame it can: ybsensor through its
decoders, the dpkt loop through dpkt's classes (below), scapy through its layer bindings,
tshark printing the addresses and ports as fields. tcpdump prints its one-line summary (it
does not descend into every tunnel, so it does less work than the others). External tools
are timed as whole processes (start-up included, about 0.1-0.5 s). frames/s is computed
from CPU time (the process's own, or the child's), which a shared machine disturbs less
than wall-clock time; both are reported. A measurement is repeated up to --runs times,
unless its first run took longer than REPEAT_UNDER_S.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.mixed import FRAMES, OUT, mixed_pcap  # noqa: E402

L2TP_PORT = 1701
VXLAN_PORT = 4789


# ---------------------------------------------------------------------------------------
# The dpkt loop: what a dpkt user writes to reach the innermost 5-tuple and the access line.

def dpkt_loop(path, limit: int | None = None) -> list:
    """One (line, outer_src, src, dst, proto, sport, dport) tuple per frame, None where the
    frame reaches no IP header. Per packet, with dpkt's classes, as dpkt users do."""
    import dpkt

    Ethernet = dpkt.ethernet.Ethernet
    IP, IP6 = dpkt.ip.IP, dpkt.ip6.IP6
    TCP, UDP, GRE = dpkt.tcp.TCP, dpkt.udp.UDP, dpkt.gre.GRE
    PPP = dpkt.ppp.PPP
    unpack_h = struct.Struct("!H").unpack_from
    unpack_hh = struct.Struct("!HH").unpack_from
    unpack_i = struct.Struct("!I").unpack_from

    def innermost(buf):
        eth = Ethernet(buf)  # dpkt unwraps 802.1Q/QinQ and MPLS labels, then IP, TCP/UDP
        line = None
        tags = getattr(eth, "vlan_tags", None)
        if tags:
            line = ("vlan", tags[0].id) if len(tags) == 1 else ("qinq", tags[0].id, tags[1].id)
        labels = getattr(eth, "mpls_labels", None)
        if labels:
            line = ("mpls", labels[-1].val)
        ip = eth.data
        outer = None
        for _ in range(8):  # nested tunnels
            if not isinstance(ip, (IP, IP6)):
                return None
            if outer is None:
                outer = ip.src
            l4 = ip.data
            if isinstance(l4, GRE):
                if l4.p == 0x88BE:  # ERSPAN: type II has the sequence bit and 8 header bytes
                    data = l4.data
                    if l4.flags & 0x1000:  # dpkt.gre.GRE_SP
                        line = ("erspan", unpack_h(data, 2)[0] & 0x03FF)
                        data = data[8:]
                    else:
                        line = ("erspan", None)
                    ip = Ethernet(data).data
                    continue
                line = ("gre", getattr(l4, "key", None))
                ip = l4.data  # dpkt decodes GRE's payload by its protocol type
                continue
            if isinstance(l4, UDP):
                if l4.dport == L2TP_PORT or l4.sport == L2TP_PORT:
                    data = l4.data
                    flags = unpack_h(data)[0]
                    if flags & 0x8000 or flags & 0x000F != 2:  # control message or not v2
                        return (line, outer, ip.src, ip.dst, ip.p, l4.sport, l4.dport)
                    off = 2 + (2 if flags & 0x4000 else 0)
                    tunnel, session = unpack_hh(data, off)
                    off += 4 + (4 if flags & 0x0800 else 0)
                    if flags & 0x0200:
                        off += 2 + unpack_h(data, off)[0]
                    line = ("l2tp", tunnel, session)
                    ppp = data[off:]
                    if ppp[:2] != b"\xff\x03":  # address/control compressed: put them back
                        ppp = b"\xff\x03" + ppp
                    ip = PPP(ppp).data
                    continue
                if l4.dport == VXLAN_PORT:
                    data = l4.data
                    line = ("vxlan", unpack_i(data, 4)[0] >> 8)
                    ip = Ethernet(data[8:]).data
                    continue
            if isinstance(l4, (TCP, UDP)):
                return (line, outer, ip.src, ip.dst, ip.p, l4.sport, l4.dport)
            return (line, outer, ip.src, ip.dst, ip.p, None, None)
        return None

    out = []
    append = out.append
    with open(path, "rb") as fh:
        for i, (_, buf) in enumerate(dpkt.pcap.Reader(fh)):
            if limit is not None and i >= limit:
                break
            try:
                append(innermost(buf))
            except (dpkt.UnpackError, struct.error, IndexError):
                append(None)
    return out


# ---------------------------------------------------------------------------------------
# ybsensor

def ybsensor_file(path) -> int:
    """File to PacketTable: read_capture + decode of every batch; frames decoded."""
    from ybsensor.decoders import decode
    from ybsensor.sensor.sources import read_capture
    n = 0
    for batch in read_capture(path):
        n += decode(batch).n
    return n


def ybsensor_tables(path) -> list:
    from ybsensor.decoders import decode
    from ybsensor.sensor.sources import read_capture
    return [decode(b) for b in read_capture(path)]


def _addr(hi: int, lo: int, ver: int) -> bytes:
    return struct.pack(">I", lo & 0xFFFFFFFF) if ver == 4 else struct.pack(">QQ", hi, lo)


def agreement(tables: list, tuples: list) -> dict:
    """How often ybsensor's innermost (src, dst, proto, sport, dport) equals the dpkt loop's,
    over the frames where ybsensor's status is ok."""
    import numpy as np
    from ybsensor.decoders.keys import OK
    same = differ = not_ok = 0
    i = 0
    examples = []
    for t in tables:
        ok = t.status == OK
        not_ok += int((~ok).sum())
        for r in np.flatnonzero(ok).tolist():
            ref = tuples[i + r]
            if ref is None:
                differ += 1
                continue
            ver = int(t.ip_ver[r])
            mine = (_addr(int(t.src_hi[r]), int(t.src_lo[r]), ver),
                    _addr(int(t.dst_hi[r]), int(t.dst_lo[r]), ver), int(t.proto[r]),
                    int(t.sport[r]) if t.sport[r] >= 0 else None,
                    int(t.dport[r]) if t.dport[r] >= 0 else None)
            if mine == tuple(ref[2:]):
                same += 1
            else:
                differ += 1
                if len(examples) < 3:
                    examples.append({"frame": i + r + 1, "ybsensor": repr(mine),
                                     "dpkt": repr(ref[2:])})
        i += t.n
    return {"same": same, "differ": differ, "ybsensor_not_ok": not_ok, "examples": examples}


# ---------------------------------------------------------------------------------------
# scapy, tshark, tcpdump

def scapy_loop(path, limit: int) -> int:
    """scapy's PcapReader, every layer binding loaded; the innermost IP of each packet."""
    import logging
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    from scapy.utils import PcapReader
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    import scapy.layers.l2tp  # noqa: F401  UDP 1701 -> L2TP -> PPP
    import scapy.layers.vxlan  # noqa: F401  UDP 4789 -> VXLAN
    import scapy.contrib.mpls  # noqa: F401  EtherType 0x8847 -> MPLS
    import scapy.contrib.erspan  # noqa: F401  GRE 0x88BE -> ERSPAN
    n = 0
    found = 0
    with PcapReader(str(path)) as reader:
        for pkt in reader:
            if n >= limit:
                break
            n += 1
            inner = None
            layer = pkt
            while layer:  # the last IP header in the chain
                if isinstance(layer, (IP, IPv6)):
                    inner = layer
                layer = layer.payload
            if inner is not None:
                l4 = inner.payload
                if isinstance(l4, (TCP, UDP)):
                    _ = (inner.src, inner.dst, inner.proto if isinstance(inner, IP)
                         else inner.nh, l4.sport, l4.dport)
                found += 1
    return n


TSHARK_FIELDS = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "ip.proto",
                 "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport"]


def tshark_cmd(path):
    exe = shutil.which("tshark")
    if not exe:
        return None
    cmd = [exe, "-n", "-r", str(path), "-T", "fields"]
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    return cmd


def tcpdump_cmd(path):
    exe = shutil.which("tcpdump")
    return [exe, "-n", "-r", str(path)] if exe else None


def ndpi_cmd(path):
    """nDPI's reader: every flow's protocol classified by deep packet inspection (a flow
    table and the payload looked at, up to its per-flow packet limits), one thread, its
    summary only: the peer closest to a replay with the detectors on."""
    exe = shutil.which("ndpiReader")
    return [exe, "-i", str(path), "-n", "1", "-q"] if exe else None


def run_process(cmd) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {proc.returncode}: {proc.stderr[-300:]!r}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


REPEAT_UNDER_S = 15.0  # a measurement whose first run took longer is not repeated


def timed(fn, runs: int) -> tuple[float, float, object, int]:
    """Median wall and CPU seconds of up to `runs` calls of fn(), its last result, and how
    many runs were made (one only where the first took longer than REPEAT_UNDER_S)."""
    walls, cpus, result = [], [], None
    for _ in range(runs):
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        if walls[0] > REPEAT_UNDER_S:
            break
    return statistics.median(walls), statistics.median(cpus), result, len(walls)


def timed_process(cmd, runs: int) -> tuple[float, float, int]:
    res = []
    for _ in range(runs):
        res.append(run_process(cmd))
        if res[0][0] > REPEAT_UNDER_S:
            break
    return (statistics.median(r[0] for r in res), statistics.median(r[1] for r in res),
            len(res))


# ---------------------------------------------------------------------------------------

def measure(path: Path, frames: int, runs: int, scapy_frames: int, skip=()) -> dict:
    from ybsensor.decoders import decode
    from ybsensor.sensor.sources import read_capture

    rows = []

    def add(tool, n, wall, cpu, runs_, note=""):
        rows.append({"tool": tool, "frames": n, "seconds": wall, "cpu_seconds": cpu,
                     "runs": runs_, "frames_per_s": n / cpu if cpu else None,
                     "frames_per_wall_s": n / wall if wall else None, "note": note})

    def missing(tool, why="not installed"):
        rows.append({"tool": tool, "frames": None, "seconds": None, "cpu_seconds": None,
                     "runs": 0, "frames_per_s": None, "frames_per_wall_s": None, "note": why})

    # ybsensor: warm the imports and the page cache first
    ybsensor_file(path)
    batches = list(read_capture(path))
    yb_runs = max(runs, 5)
    wall, cpu, _, k = timed(lambda: [decode(b) for b in batches], yb_runs)
    add("ybsensor decode (batches in memory)", frames, wall, cpu, k)
    del batches
    wall, cpu, n, k = timed(lambda: ybsensor_file(path), yb_runs)
    add("ybsensor file-to-table", n, wall, cpu, k)

    if "dpkt" not in skip:
        try:
            import dpkt  # noqa: F401
        except ImportError:
            missing("dpkt loop")
        else:
            wall, cpu, tuples, k = timed(lambda: dpkt_loop(path), runs)
            reached = sum(1 for t in tuples if t is not None)
            add("dpkt loop", len(tuples), wall, cpu, k,
                f"inner 5-tuple on {reached / len(tuples):.1%} of frames")
            rows[-1]["agreement_with_ybsensor"] = agreement(ybsensor_tables(path), tuples)
            del tuples
    if "scapy" not in skip:
        try:
            import scapy  # noqa: F401
        except ImportError:
            missing("scapy PcapReader")
        else:
            limit = min(scapy_frames, frames)
            wall, cpu, n, k = timed(lambda: scapy_loop(path, limit), 1)
            add("scapy PcapReader", n, wall, cpu, k, f"first {n} frames")
    for tool, cmd in (("tshark -T fields", tshark_cmd(path)),
                      ("tcpdump -n -r", tcpdump_cmd(path)),
                      ("ndpiReader -q", ndpi_cmd(path))):
        if tool.split()[0] in skip:
            continue
        if cmd is None:
            missing(tool)
            continue
        wall, cpu, k = timed_process(cmd, runs)
        add(tool, frames, wall, cpu, k, "whole process, start-up included")

    ref = rows[1]["frames_per_s"]
    for r in rows:
        r["ratio"] = ref / r["frames_per_s"] if r["frames_per_s"] else None
    import numpy
    return {
        "pcap": str(path), "frames": frames, "bytes": path.stat().st_size,
        "machine": {"cpu": _cpu(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "numpy": numpy.__version__, "platform": platform.platform()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "frames_per_s_is": "frames / median CPU seconds of the process (one core)",
        "ratio_is": "ybsensor file-to-table frames/s divided by the tool's frames/s",
        "results": rows,
    }


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def render(report: dict) -> str:
    head = (f"{'tool':36s} {'frames':>7s} {'runs':>4s} {'wall s':>8s} {'cpu s':>8s} "
            f"{'frames/s':>11s} {'ybsensor/tool':>13s}")
    lines = [f"{report['pcap']}: {report['frames']} frames, {report['bytes'] / 1e6:.1f} MB",
             head, "-" * len(head)]
    for r in report["results"]:
        if r["frames_per_s"] is None:
            lines.append(f"{r['tool']:36s} {r['note']}")
            continue
        lines.append(f"{r['tool']:36s} {r['frames']:7d} {r['runs']:4d} {r['seconds']:8.3f} "
                     f"{r['cpu_seconds']:8.3f} {r['frames_per_s']:11,.0f} {r['ratio']:12.1f}x"
                     + (f"  {r['note']}" if r["note"] else ""))
        agree = r.get("agreement_with_ybsensor")
        if agree:
            lines.append(f"{'':36s} inner 5-tuple same as ybsensor's on {agree['same']} frames, "
                         f"different on {agree['differ']}; ybsensor status not ok on "
                         f"{agree['ybsensor_not_ok']}")
    lines.append("frames/s: frames / median CPU seconds (one core; steadier than wall clock on a "
                 "shared machine); ratio: ybsensor file-to-table frames/s / the tool's")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="ybsensor against dpkt, scapy, tshark, tcpdump, ndpiReader")
    ap.add_argument("--frames", type=int, default=FRAMES)
    ap.add_argument("--runs", type=int, default=3, help="runs of each measurement (at most)")
    ap.add_argument("--scapy-frames", type=int, default=20_000)
    ap.add_argument("--skip", nargs="*", default=[], choices=["dpkt", "scapy", "tshark", "tcpdump", "ndpiReader"])
    ap.add_argument("--json", type=Path, default=OUT / "peers.json")
    args = ap.parse_args(argv)
    # ybsensor's figures are a long-running sensor's: the compiled decode loop (where numba
    # is installed) from the first batch; its one-time import (~0.3 s) is not timed, as
    # Python's own start-up is not
    from ybsensor.decoders import fastpath
    fastpath.load_kernel_now()
    path = mixed_pcap(args.frames)
    report = measure(path, args.frames, args.runs, args.scapy_frames, set(args.skip))
    print(render(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
