"""A flood of TCP flows with holes: every flow sends a segment, then one past a hole that is
never filled. The payload engine holds the segments past the holes (streams.Held) within its
total bound; the oldest holes are given up and counted exactly, and the resident memory's
peak stays within the bound plus a fixed base.

Like tests/sensor/test_flood.py, the flood runs in a subprocess (this file is also the script) so
that its resident memory is its own."""
from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_flood import (BATCH, CONFIG, GAP_NS, PORTS, REPO, SPACE, STRIDE, T0_NS, _put,  # noqa: E402
                        metric, reset_peak, status_kb)

PAYLOAD = 200
HOLE = 100
TOTAL = 8 << 20          # the engine's total bound in the flood
MAX_FLOWS = 65536        # the flow table: slots are taken again, the held streams in them end
SLACK_BYTES = 32 << 20   # allocator slack and a batch's temporaries beyond the warm-up's


def hole_batch(first_flow: int, flows: int):
    """Two frames a flow: seq 1000 (PAYLOAD bytes), then seq 1000 + PAYLOAD + HOLE."""
    from ybsensor.decoders import Batch
    from ybsensor.decoders.batch import PAD
    from test_flood import Shape
    shape = Shape("vlan")
    tpl = np.concatenate([shape.frame, np.frombuffer(b"a" * PAYLOAD, np.uint8)]).copy()
    tpl[18 + 2: 18 + 4] = np.frombuffer((20 + 20 + PAYLOAD).to_bytes(2, "big"), np.uint8)
    tpl[18 + 20 + 13] = 0x18                                   # PSH ACK
    n = 2 * flows
    i = np.arange(first_flow, first_flow + flows, dtype=np.int64).repeat(2)
    code = (i * STRIDE) % SPACE
    block = np.tile(tpl, (n, 1))
    _put(block, shape.src, (0x0A010000 | (code & 0xFFFF)).astype(np.uint32), 4)
    _put(block, shape.sport, PORTS + (code >> 16), 2)
    seq = np.where(np.arange(n) % 2 == 0, 1000, 1000 + PAYLOAD + HOLE)
    _put(block, 18 + 20 + 4, seq.astype(np.uint32), 4)
    width = len(tpl)
    data = np.zeros(n * width + PAD, dtype=np.uint8)
    data[: n * width] = block.reshape(-1)
    caplen = np.full(n, width, dtype=np.int64)
    frame0 = 2 * first_flow
    return Batch(data=data, offset=np.arange(n, dtype=np.int64) * width, caplen=caplen,
                 wirelen=caplen.copy(), ts_ns=T0_NS + (frame0 + np.arange(n)) * GAP_NS,
                 linktype=np.ones(n, dtype=np.uint16), iface=np.zeros(n, dtype=np.uint16),
                 first_frame=frame0 + 1, source="flood")


def run(flows: int, workdir: Path) -> dict:
    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
    from ybsensor.core.flows import FlowTable
    from ybsensor.detectors import streams

    workdir.mkdir(parents=True, exist_ok=True)
    per_batch = BATCH // 2

    def sensor(name: str, max_flows: int):
        path = workdir / f"{name}.toml"
        path.write_text(CONFIG.format(alerts=workdir / f"{name}.jsonl", rate=100,
                                      flows=f"max_flows = {max_flows}"))
        s = Sensor(load(path))
        engine = next(d.engine for d in s.alerter.detectors if hasattr(d, "engine"))
        engine.held.total = TOTAL
        return s, engine

    warm, _ = sensor("warm", MAX_FLOWS)        # everything imported and warmed on this batch size
    for k in range(2):
        warm.pipeline.process(hole_batch(SPACE - (k + 1) * per_batch, per_batch), "warm-up")
    warm.close()
    del warm
    gc.collect()
    warm_hwm = status_kb("VmHWM")
    peak_reset = reset_peak()
    s, engine = sensor("flood", MAX_FLOWS)
    hwm_half = None
    for first in range(0, flows, per_batch):
        s.pipeline.process(hole_batch(first, min(per_batch, flows - first)), "flood")
        if hwm_half is None and first + per_batch >= flows // 2:
            hwm_half = status_kb("VmHWM")
    s.close()
    text = s.metrics.text().decode()
    held = engine.held
    return {"flows": flows, "held_streams": held.streams, "held_bytes": held.size,
            "charged": held.charged(), "total": held.total,
            "dropped": sum(held.dropped_bytes.values()),
            "given_up": dict(held.holes_given_up),
            "metric_dropped": metric(text, "ybsensor_payload_stream_held_dropped_bytes_total"),
            "metric_given_up": metric(text, "ybsensor_payload_stream_holes_given_up_total"),
            "metric_held": metric(text, "ybsensor_payload_stream_held_bytes"),
            "jumped": engine.jumped, "cost": streams.STREAM_COST + streams.PIECE_COST,
            "table_bytes": FlowTable.memory_bytes(MAX_FLOWS),
            "state_bytes": sum(a.nbytes for a in vars(engine.state).values())
            + sum(getattr(d, "end_counted", np.zeros(0)).nbytes for d in s.alerter.detectors),
            "warm_hwm_kb": warm_hwm, "hwm_half_kb": hwm_half, "hwm_kb": status_kb("VmHWM"),
            "peak_reset": peak_reset}


def test_a_flood_of_flows_with_holes_stays_bounded(tmp_path):
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--flows", "300000",
                           "--workdir", str(tmp_path)], capture_output=True, text=True,
                          cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stderr[-5000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    each = PAYLOAD + r["cost"]                       # what one flow's held segment is charged
    # every flow held one segment; the oldest were given up to stay within the bound, or
    # when a new flow took their slot in the flow table; each counted once
    given_up = sum(r["given_up"].values())
    assert r["given_up"]["total_bound"] > 0 and r["given_up"]["flow_end"] > 0, r
    assert r["given_up"]["timeout"] == r["given_up"]["stream_bound"] == 0
    assert r["held_bytes"] == PAYLOAD * r["held_streams"]
    assert r["charged"] <= r["total"] < r["charged"] + each
    assert given_up == r["flows"] - r["held_streams"] == r["metric_given_up"]
    assert r["dropped"] == PAYLOAD * given_up == r["metric_dropped"]
    assert r["metric_held"] == r["held_bytes"] and r["jumped"] == 0
    # memory: the peak is the warm-up's (the same flow table), the streams' per-slot state
    # (sized by the table; it grows by doubling, the old arrays and the new alive together
    # for a moment), the bound on held segments, and the allocator's slack
    bound = r["state_bytes"] * 3 // 2 + TOTAL + SLACK_BYTES
    assert r["hwm_kb"] <= r["warm_hwm_kb"] + bound // 1024, r
    # and it stops growing once the bound is reached: the second half of the flood (150 000
    # more flows, 100 MB if each held its segment) adds no more than the bound
    assert r["hwm_kb"] - r["hwm_half_kb"] <= (TOTAL + (16 << 20)) // 1024, r


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--flows", type=int, default=300_000)
    ap.add_argument("--workdir", type=Path, required=True)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    print(json.dumps(run(args.flows, args.workdir)))
