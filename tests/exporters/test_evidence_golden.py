"""Evidence pcaps byte for byte: the files that replaying pcaps/demo.pcap and the detector
cases of pcaps/cases/ leaves in the evidence directory — their names and a SHA-256 of each —
as the evidence writer made them when this test was written (evidence_golden.json).

A speed-up of exporters/evidence.py must leave every byte as it was. A change to what is
written on purpose (the pcap format, the masking rules, the file names), or to the alerts or
payload offsets that decide it, remakes the file:

    .venv/bin/python tests/exporters/test_evidence_golden.py
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "evidence_golden.json"
PCAPS = ROOT / "pcaps"
# (name, capture, config, batch size): the demo, and every case whose alerts make evidence;
# small batches too, so that files grow over several batches
REPLAYS = [("demo", PCAPS / "demo.pcap", PCAPS / "example.toml", 4096),
           ("demo_batches_of_7", PCAPS / "demo.pcap", PCAPS / "example.toml", 7)]
REPLAYS += [(f"{d.name}_batches_of_{n}", d / "input.pcap", d / "config.toml", n)
            for d in sorted((PCAPS / "cases").iterdir())
            if d.is_dir() and not d.name.startswith("none_") for n in (4096, 3)]


def replay(capture: Path, config: Path, batch_frames: int, where: Path) -> dict[str, str]:
    """{file name: sha256} of the evidence that replaying `capture` leaves in `where`."""
    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
    from ybsensor.sensor.sources import read_capture

    cfg = dataclasses.replace(load(config), evidence_dir=str(where / "evidence"))
    s = Sensor(cfg, alerts_path=str(where / "alerts.jsonl"))
    for batch in read_capture(capture, batch_frames=batch_frames):
        s.pipeline.process(batch)
    s.close()
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((where / "evidence").iterdir())}


@pytest.mark.parametrize("name,capture,config,batch_frames", REPLAYS, ids=[r[0] for r in REPLAYS])
def test_evidence_bytes_unchanged(tmp_path, name, capture, config, batch_frames):
    golden = json.loads(GOLDEN.read_text())
    assert name in golden, f"{name} is not in {GOLDEN.name}: remake it (see this file's docstring)"
    got = replay(capture, config, batch_frames, tmp_path)
    assert got == golden[name], (
        f"{name}: the evidence files differ from {GOLDEN.name} (names or bytes); if that is on "
        "purpose, remake it (see this file's docstring)")


if __name__ == "__main__":
    import tempfile

    sys.path.insert(0, str(ROOT))
    out = {}
    for name, capture, config, n in REPLAYS:
        with tempfile.TemporaryDirectory() as tmp:
            out[name] = replay(capture, config, n, Path(tmp))
    GOLDEN.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"{GOLDEN}: {len(out)} replays, {sum(map(len, out.values()))} files")
