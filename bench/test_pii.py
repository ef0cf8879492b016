"""The payload detectors (plaintext_pii, cleartext_credentials) on the reference mixed pcap.

End-to-end replay with every detector on, as bench/test_pipeline.py runs it, once with the
literal matcher on Hyperscan (where installed) and once on its numpy fallback, beside the
same replay with the two payload detectors off: the difference is what searching costs.
extra_info: frames and frames_per_s, and payload_bytes (the plaintext payload bytes the
detectors searched: those of the mix's flows to services other than TLS's, random bytes)
and payload_bytes_per_s. Once more on the mix with every payload plaintext (no TLS
records): the worst case, every payload byte searched.

    pytest bench/test_pii.py --benchmark-enable --benchmark-only
"""
from __future__ import annotations

import pytest

from bench.test_pipeline import bench_config, replay
from ybsensor.detectors.matcher import hyperscan_available
from ybsensor.detectors.payload_class import PLAINTEXT

PAYLOAD_DETECTORS = ("plaintext_pii", "cleartext_credentials")


def _report(benchmark, frames: int, payload_bytes: int | None) -> None:
    benchmark.extra_info["frames"] = frames
    if payload_bytes is not None:
        benchmark.extra_info["payload_bytes"] = payload_bytes
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["frames_per_s"] = round(frames / stats.stats.median)
        if payload_bytes is not None:
            benchmark.extra_info["payload_bytes_per_s"] = round(payload_bytes / stats.stats.median)


@pytest.mark.benchmark(group="payload detectors")
@pytest.mark.parametrize("backend", ["hyperscan", "numpy"])
def test_replay_with_payload_detectors(benchmark, tmp_path, out_dir, monkeypatch, mixed_batches,
                                       mixed_frames, backend):
    if backend == "hyperscan" and not hyperscan_available():
        pytest.skip("hyperscan is not installed (pip install ybsensor[fast])")
    monkeypatch.setenv("YBSENSOR_MATCHER", backend)
    cfg = bench_config(tmp_path)
    sensor = replay(benchmark, cfg, out_dir, mixed_batches)
    assert sensor.stats.frames == mixed_frames
    pii = next(d for d in sensor.alerter.detectors if d.name == "plaintext_pii")
    assert pii.engine.matcher.backend == backend
    scanned = int(pii.engine.classes.bytes[PLAINTEXT])
    assert scanned > 0
    _report(benchmark, mixed_frames, scanned)


@pytest.mark.benchmark(group="payload detectors")
def test_replay_with_payload_detectors_all_plaintext(benchmark, tmp_path, out_dir, plaintext_batches,
                                                     mixed_frames):
    if not hyperscan_available():
        pytest.skip("hyperscan is not installed (pip install ybsensor[fast])")
    sensor = replay(benchmark, bench_config(tmp_path), out_dir, plaintext_batches)
    pii = next(d for d in sensor.alerter.detectors if d.name == "plaintext_pii")
    scanned = int(pii.engine.classes.bytes[PLAINTEXT])
    assert scanned == sum(int(v) for v in pii.engine.classes.bytes)  # nothing encrypted
    _report(benchmark, mixed_frames, scanned)


@pytest.mark.benchmark(group="payload detectors")
def test_replay_without_payload_detectors(benchmark, tmp_path, out_dir, mixed_batches, mixed_frames):
    cfg = bench_config(tmp_path)
    for name in PAYLOAD_DETECTORS:
        cfg.detectors[name] = {"enabled": False}
    sensor = replay(benchmark, cfg, out_dir, mixed_batches)
    assert not any(d.name in PAYLOAD_DETECTORS for d in sensor.alerter.detectors)
    _report(benchmark, mixed_frames, None)
