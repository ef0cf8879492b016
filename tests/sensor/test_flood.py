"""Floods: millions of distinct flows, and alert storms.

A flow flood (random sources and ports, every packet a new flow) keeps resident memory under
the flow table's configured size plus a fixed base: the table allocates all of it up front
(FlowTable.memory_bytes) and evicts the least recently seen flows when full. Evictions are
counted exactly, and a violation planted in the middle of the flood is still found.

The flood is built in memory as Batches (one template frame; addresses and ports written
with numpy, as bench/mixed.py does) and pushed through Sensor.pipeline.process, 65536 frames
a batch. It runs in a subprocess (this file is also the script) so that its resident memory
is its own: `python tests/sensor/test_flood.py --flows 10000000 --max-flows 1000000` is the soak
(`make soak`); `make test` runs 1 M flows through a table of 100 000.

An alert storm (distinct internet-bound flows, each packet a violation) leaves an alert file
no longer than the rate limit allows (burst + rate x seconds of packet time) while
ybsensor_alerts_total counts every violating packet.
"""
from __future__ import annotations

import argparse
import gc
import json
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

BATCH = 65536
T0_NS = 1_750_000_000 * 10**9
GAP_NS = 1000                       # a frame every microsecond of packet time
PLANT_SRC, PLANT_DST, PLANT_SPORT = 0x0A010203, 0xCB007109, 55555   # 10.1.2.3 -> 203.0.113.9
FLOOD_DST = 0x0AC80005              # 10.200.0.5, the platform
PORTS = 40000                       # source ports 40000..60999: ephemeral, and clear of
SPACE = 65536 * 21000               # the remote-control and VPN ports; x sources in 10.1.0.0/16
STRIDE = 2_654_435_761              # odd and coprime with SPACE: i -> i * STRIDE is a bijection

CONFIG = """\
[network]
private  = ["10.0.0.0/8"]
platform = ["10.200.0.0/16"]

[[institution]]
code   = "H22010200001"
name   = "Flood Hospital"
ranges = ["10.1.0.0/16"]
lines  = ["vlan:100"]

[alerts]
path = "{alerts}"
dedup_seconds = 300
max_per_second = {rate}

[evidence]
dir = ""

[flows]
{flows}
idle_seconds = 300
"""


# --- frames -----------------------------------------------------------------------------

class Shape:
    """A template frame and where its per-frame fields lie: source and destination address,
    source port, and (GRE only) the key that names the access line."""

    def __init__(self, kind: str = "vlan"):
        self.kind = kind
        l4 = struct.pack("!HHIIBBHHH", 40000, 443, 1, 0, 5 << 4, 0x02, 1024, 0, 0)   # TCP SYN
        ip = struct.pack("!BBHHHBBHII", 0x45, 0, 40, 1, 0x4000, 64, 6, 0, 0, 0) + l4
        macs = bytes.fromhex("001b21aaaa01001b21aaaa02")
        if kind == "vlan":      # Ethernet / 802.1Q 100 / IPv4 / TCP: 58 bytes
            frame, inner = macs + struct.pack("!HHH", 0x8100, 100, 0x0800) + ip, 18
            self.key = None
        elif kind == "gre":     # Ethernet / IPv4 / GRE with a key / IPv4 / TCP: 82 bytes
            outer = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + 8 + len(ip), 1, 0x4000, 64, 47, 0,
                                0x0AFE0001, 0x0AFF0001)   # 10.254.0.1 -> 10.255.0.1
            frame = (macs + struct.pack("!H", 0x0800) + outer
                     + struct.pack("!HHI", 0x2000, 0x0800, 1) + ip)
            inner, self.key = 14 + 20 + 8, 14 + 20 + 4
        else:
            raise ValueError(kind)
        self.frame = np.frombuffer(frame, dtype=np.uint8)
        self.src, self.dst, self.sport = inner + 12, inner + 16, inner + 20


def _put(block: np.ndarray, at: int, values: np.ndarray, width: int) -> None:
    block[:, at: at + width] = values.astype(f">u{width}").view(np.uint8).reshape(-1, width)


def flood_batch(first: int, n: int, shape: Shape, plant: int | None = None,
                dst: int = FLOOD_DST):
    """Frames first .. first+n-1 of the flood: frame i is flow i (a distinct source address
    and port for every i below SPACE; with GRE, a distinct key, so a distinct line, too);
    frame `plant` (if in range) is the planted violation."""
    from ybsensor.decoders import Batch
    from ybsensor.decoders.batch import PAD
    i = np.arange(first, first + n, dtype=np.int64)
    code = (i * STRIDE) % SPACE
    block = np.tile(shape.frame, (n, 1))
    _put(block, shape.src, (0x0A010000 | (code & 0xFFFF)).astype(np.uint32), 4)
    _put(block, shape.sport, PORTS + (code >> 16), 2)
    _put(block, shape.dst, np.full(n, dst, dtype=np.uint32), 4)
    if shape.key is not None:
        _put(block, shape.key, (i * STRIDE) % (1 << 32), 4)
    if plant is not None and first <= plant < first + n:
        row = plant - first
        _put(block[row: row + 1], shape.src, np.array([PLANT_SRC]), 4)
        _put(block[row: row + 1], shape.dst, np.array([PLANT_DST]), 4)
        _put(block[row: row + 1], shape.sport, np.array([PLANT_SPORT]), 2)
    width = len(shape.frame)
    data = np.zeros(n * width + PAD, dtype=np.uint8)
    data[: n * width] = block.reshape(-1)
    caplen = np.full(n, width, dtype=np.int64)
    return Batch(data=data, offset=np.arange(n, dtype=np.int64) * width, caplen=caplen,
                 wirelen=caplen.copy(), ts_ns=T0_NS + i * GAP_NS,
                 linktype=np.ones(n, dtype=np.uint16), iface=np.zeros(n, dtype=np.uint16),
                 first_frame=first + 1, source="flood")


# --- memory -----------------------------------------------------------------------------

def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def metric(text: str, name: str, **labels) -> float:
    """The sum of a metric's samples whose labels include `labels`, from Prometheus text."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, value = line.rsplit(" ", 1)
        metric_name, _, label_text = series.partition("{")
        if metric_name == name and all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            total += float(value)
    return total


# --- the flood, in this process ---------------------------------------------------------

def run_flood(flows: int, max_flows: int | None, memory_mb: float | None, workdir: Path,
              kind: str = "vlan") -> dict:
    from ybsensor.sensor.config import load
    from ybsensor.core.flows import FlowTable
    from ybsensor.sensor.sensor import Sensor

    workdir.mkdir(parents=True, exist_ok=True)
    alerts = workdir / "alerts.jsonl"
    if alerts.exists():
        alerts.unlink()
    size = (f"max_flows = {max_flows}\n" if max_flows else "") + \
           (f"memory_mb = {memory_mb}\n" if memory_mb else "")
    cfg_path = workdir / "flood.toml"
    cfg_path.write_text(CONFIG.format(alerts=alerts, rate=100, flows=size))
    shape = Shape(kind)

    # the fixed base: everything imported, every code path warmed on batches of this size
    # (a throwaway sensor with a tiny table), then the peak reset to what stays resident
    warm_cfg = workdir / "warm.toml"
    warm_cfg.write_text(CONFIG.format(alerts=workdir / "warm.jsonl", rate=100,
                                      flows="max_flows = 1024"))
    warm = Sensor(load(warm_cfg))
    for k in range(3):
        warm.pipeline.process(flood_batch(SPACE - (k + 1) * BATCH, BATCH, shape), "warm-up")
    warm.close()
    del warm
    gc.collect()
    base_kb = status_kb("VmRSS")
    base_hwm_kb = status_kb("VmHWM")
    peak_reset = reset_peak()

    cfg = load(cfg_path)
    sensor = Sensor(cfg)
    table_bytes = FlowTable.memory_bytes(cfg.max_flows)
    plant = flows // 2
    started = time.perf_counter()
    hwm_half = None
    batches = 0
    for first in range(0, flows, BATCH):
        n = min(BATCH, flows - first)
        sensor.pipeline.process(flood_batch(first, n, shape, plant), "flood")
        batches += 1
        if hwm_half is None and first + n >= flows // 2:
            hwm_half = status_kb("VmHWM")
    elapsed = time.perf_counter() - started
    sensor.close()
    text = sensor.metrics.text().decode()
    lines = [json.loads(x) for x in alerts.read_text().splitlines()] if alerts.exists() else []
    ft = sensor.flows
    return {
        "kind": kind, "flows": flows, "batches": batches, "seconds": round(elapsed, 2),
        "frames_per_second": round(flows / elapsed),
        "max_flows": cfg.max_flows, "table_bytes": table_bytes, "table_nbytes": ft.nbytes(),
        "active": ft.active, "evicted": ft.evicted_total,
        "metric_evicted": metric(text, "ybsensor_flows_evicted_total"),
        "metric_active": metric(text, "ybsensor_flows_active"),
        "metric_internet_bound": metric(text, "ybsensor_alerts_total", detector="internet_bound"),
        "alerts": lines,
        "base_rss_kb": base_kb, "warm_hwm_kb": base_hwm_kb, "peak_reset": peak_reset,
        "hwm_half_kb": hwm_half, "hwm_kb": status_kb("VmHWM"), "rss_kb": status_kb("VmRSS"),
        "plant_frame": plant + 1,
    }


def flood_in_subprocess(flows: int, workdir: Path, max_flows: int | None = None,
                        memory_mb: float | None = None, kind: str = "vlan",
                        timeout: int = 600) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--flows", str(flows),
           "--workdir", str(workdir), "--kind", kind]
    if max_flows:
        cmd += ["--max-flows", str(max_flows)]
    if memory_mb:
        cmd += ["--memory-mb", str(memory_mb)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-5000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# Memory outside the table that may still grow with the flood: the index rebuild after an
# eviction holds temporary arrays of the live flows (their ids, keys, probe slots and the
# sort that settles collisions: about a dozen 8-byte words a flow, 85 bytes measured at
# 1 M slots), and allocator slack. Everything else is the fixed base measured before: the
# warm-up's peak, which holds one batch's temporaries (the decoded table, flow grouping,
# payload heads: about 40 MB at 65536 frames). The resident size after the warm-up is no
# base: how much of the freed batch glibc hands back to the kernel varies from run to run
# (45 to 76 MB measured on the same code), so the peak is measured against the warm peak.
TRANSIENT_PER_FLOW = 96
SLACK_BYTES = 8 << 20


def check_flood(r: dict) -> None:
    """What every flood must show, whatever its size."""
    cap = r["max_flows"]
    assert r["table_nbytes"] == r["table_bytes"]
    # every flow is distinct and seen once: each is either still in the table or evicted
    assert r["active"] + r["evicted"] == r["flows"], r
    assert r["evicted"] >= r["flows"] - cap
    # the table evicts an eighth of itself at a time, so it is never emptier than that
    assert r["active"] >= cap - cap // 8 - 1, r
    assert r["metric_evicted"] == r["evicted"] and r["metric_active"] == r["active"]
    # the planted violation, and nothing else: the flood itself is allowed traffic
    planted = [a for a in r["alerts"] if a["detector"] == "internet_bound"]
    assert len(planted) == 1, r["alerts"][:5]
    a = planted[0]
    assert (a["src"], a["dst"], a["sport"], a["first_frame"]) == \
        ("10.1.2.3", "203.0.113.9", PLANT_SPORT, r["plant_frame"]), a
    assert r["metric_internet_bound"] == 1
    assert len(r["alerts"]) == 1, r["alerts"][:5]
    # memory: the peak over the flood is the base, the table, and bounded temporaries
    extra = r["table_bytes"] + TRANSIENT_PER_FLOW * cap + SLACK_BYTES
    assert r["hwm_kb"] <= r["warm_hwm_kb"] + extra // 1024, r
    # and it stops growing once the table is full: the second half adds nothing that counts
    assert r["hwm_kb"] - r["hwm_half_kb"] <= 16 * 1024, r


# --- tests ------------------------------------------------------------------------------

def test_flood_of_a_million_flows_stays_bounded(tmp_path):
    r = flood_in_subprocess(1_000_000, tmp_path, max_flows=100_000)
    check_flood(r)
    print(json.dumps({k: v for k, v in r.items() if k != "alerts"}))


def test_flood_of_distinct_lines_stays_bounded(tmp_path):
    """Every frame on a line of its own (a distinct GRE key): the flow table stays bounded,
    and so must every detector's state."""
    r = flood_in_subprocess(500_000, tmp_path, max_flows=100_000, kind="gre")
    check_flood(r)


def test_memory_mb_sizes_the_table(tmp_path):
    """[flows] memory_mb: the table holds as many flows as fit in that many MiB."""
    from ybsensor.sensor.config import load
    from ybsensor.core.flows import FlowTable
    path = tmp_path / "s.toml"
    path.write_text(CONFIG.format(alerts=tmp_path / "a.jsonl", rate=100, flows="memory_mb = 24"))
    cfg = load(path)
    assert cfg.max_flows == FlowTable.flows_for(24 << 20) > 100_000
    size = FlowTable.memory_bytes
    assert size(cfg.max_flows) <= 24 << 20 < size(cfg.max_flows + 1)
    assert FlowTable(cfg.max_flows).nbytes() <= 24 << 20
    # both: the smaller wins
    path.write_text(CONFIG.format(alerts=tmp_path / "a.jsonl", rate=100,
                                  flows="memory_mb = 24\nmax_flows = 5000"))
    assert load(path).max_flows == 5000


def test_flood_sized_by_memory_mb(tmp_path):
    r = flood_in_subprocess(400_000, tmp_path, memory_mb=8)
    assert r["table_bytes"] <= 8 << 20
    check_flood(r)


def storm_pcap(path: Path, flows: int, repeats: int, seconds: float) -> int:
    """A pcap of `flows` distinct internet-bound flows (10.1.x.y -> 203.0.113.z), each sent
    `repeats` times, spread evenly over `seconds` of packet time. Returns the frame count."""
    tpl = Shape("vlan").frame
    n = flows * repeats
    i = np.arange(n, dtype=np.int64)
    flow = i % flows
    code = (flow * STRIDE) % SPACE
    block = np.tile(tpl, (n, 1))
    shape = Shape("vlan")
    _put(block, shape.src, (0x0A010000 | (code & 0xFFFF)).astype(np.uint32), 4)
    _put(block, shape.sport, PORTS + (code >> 16), 2)
    _put(block, shape.dst, (0xCB007100 | (flow % 200 + 1)).astype(np.uint32), 4)
    ts_us = (T0_NS // 1000) + (i * int(seconds * 1e6)) // n
    hdr = np.zeros((n, 4), dtype="<u4")
    hdr[:, 0], hdr[:, 1] = ts_us // 1_000_000, ts_us % 1_000_000
    hdr[:, 2] = hdr[:, 3] = len(tpl)
    records = np.concatenate([hdr.view(np.uint8).reshape(n, 16), block], axis=1)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        records.tofile(fh)
    return n


def test_alert_storm_is_rate_limited_and_counted_exactly(tmp_path):
    from click.testing import CliRunner
    from ybsensor.sensor.cli import cli

    rate, seconds, flows, repeats = 20, 30.0, 50_000, 3
    pcap = tmp_path / "storm.pcap"
    frames = storm_pcap(pcap, flows, repeats, seconds)
    alerts, metrics = tmp_path / "alerts.jsonl", tmp_path / "metrics.prom"
    cfg = tmp_path / "storm.toml"
    cfg.write_text(CONFIG.format(alerts=alerts, rate=rate, flows="max_flows = 1000000"))
    result = CliRunner().invoke(cli, ["replay", "--no-progress", "--config", str(cfg),
                                      "-l", str(alerts.parent), "--metrics-file", str(metrics),
                                      str(pcap)])
    assert result.exit_code == 0, (result.output, result.exception)
    lines = alerts.read_text().splitlines()
    burst = 10 * rate                    # sensor/alerting.py: bursts of ten times the rate
    assert 0 < len(lines) <= burst + rate * seconds + 1, len(lines)
    assert all(json.loads(x)["detector"] == "internet_bound" for x in lines)
    # distinct flows within the dedup window: no alert repeats a flow
    assert len({(json.loads(x)["src"], json.loads(x)["sport"]) for x in lines}) == len(lines)
    text = metrics.read_text()
    # every violating packet counted, none lost to dedup or the rate limit
    assert metric(text, "ybsensor_alerts_total", detector="internet_bound") == frames
    assert metric(text, "ybsensor_alert_records_total", detector="internet_bound",
                  institution="H22010200001") == len(lines)
    assert "over the rate limit" in result.output


# --- the script --------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="a flood of distinct flows through the sensor")
    ap.add_argument("--flows", type=int, default=10_000_000)
    ap.add_argument("--max-flows", type=int, default=None)
    ap.add_argument("--memory-mb", type=float, default=None)
    ap.add_argument("--kind", choices=["vlan", "gre"], default="vlan",
                    help="vlan: one line, distinct flows; gre: a distinct GRE key (line) each")
    ap.add_argument("--workdir", type=Path, default=None, help="default: a temporary directory")
    ap.add_argument("--check", action="store_true", help="assert the bounds (make soak)")
    args = ap.parse_args(argv)
    if not args.max_flows and not args.memory_mb:
        args.max_flows = 1_000_000
    if args.workdir is None:
        import tempfile
        args.workdir = Path(tempfile.mkdtemp(prefix="ybsensor-flood-"))
    r = run_flood(args.flows, args.max_flows, args.memory_mb, args.workdir, args.kind)
    if args.check:
        check_flood(r)
        print(f"flood of {r['flows']:,} flows: table {r['max_flows']:,} flows "
              f"({r['table_bytes'] / 2**20:.1f} MiB), {r['evicted']:,} evicted, peak RSS "
              f"{r['hwm_kb'] / 1024:.0f} MiB (base {r['base_rss_kb'] / 1024:.0f} MiB), "
              f"{r['frames_per_second']:,} frames/s, planted alert found", file=sys.stderr)
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
