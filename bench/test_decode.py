"""pytest-benchmark suites on the reference mixed pcap (bench/mixed.py).

    pytest bench --benchmark-enable --benchmark-only        (make bench)

Each benchmark puts frames and frames_per_s (frames / median round time) in extra_info,
shown with --benchmark-columns or saved with --benchmark-json.
"""
from __future__ import annotations

import pytest

from bench.mixed import ENCAP_SHARE, mixed_pcap

ROUNDS = 5
PER_ENCAP_FRAMES = 32_768


def _report(benchmark, frames: int) -> None:
    benchmark.extra_info["frames"] = frames
    stats = getattr(benchmark, "stats", None)  # None when benchmarks are disabled
    if stats is not None:
        benchmark.extra_info["frames_per_s"] = round(frames / stats.stats.median)


@pytest.mark.benchmark(group="ybsensor")
def test_decode_only(benchmark, mixed_batches, mixed_frames):
    """(a) decode alone: batches already in memory -> PacketTables."""
    from ybsensor.decoders import decode
    tables = benchmark.pedantic(lambda: [decode(b) for b in mixed_batches],
                                rounds=ROUNDS, warmup_rounds=1)
    assert sum(t.n for t in tables) == mixed_frames
    _report(benchmark, mixed_frames)


@pytest.mark.benchmark(group="ybsensor")
def test_file_to_table(benchmark, mixed_path, mixed_frames):
    """(b) file to table: read_capture + decode of every batch."""
    from ybsensor.decoders import decode
    from ybsensor.sensor.sources import read_capture

    def run():
        return sum(decode(b).n for b in read_capture(mixed_path))
    assert benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1) == mixed_frames
    _report(benchmark, mixed_frames)


@pytest.mark.benchmark(group="ybsensor")
def test_reader_only(benchmark, mixed_path, mixed_frames):
    """(c) the pcap reader alone: file -> Batches."""
    from ybsensor.sensor.sources import read_capture

    def run():
        return sum(len(b) for b in read_capture(mixed_path))
    assert benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1) == mixed_frames
    _report(benchmark, mixed_frames)


@pytest.mark.benchmark(group="ybsensor")
def test_pipeline_process(benchmark, mixed_batches, mixed_frames):
    """Pipeline().process: decode plus the pipeline's own per-batch work (no stages)."""
    from ybsensor.sensor.pipeline import Pipeline

    def run():
        p = Pipeline()
        return sum(p.process(b).n for b in mixed_batches)
    assert benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1) == mixed_frames
    _report(benchmark, mixed_frames)


@pytest.mark.benchmark(group="decode per encapsulation")
@pytest.mark.parametrize("encap", list(ENCAP_SHARE))
def test_decode_encap(benchmark, encap):
    """Decode alone, one encapsulation at a time: where a slow decoder shows."""
    from ybsensor.decoders import decode
    from ybsensor.sensor.sources import read_capture
    batches = list(read_capture(mixed_pcap(PER_ENCAP_FRAMES, encaps=[encap])))
    frames = sum(len(b) for b in batches)
    benchmark.pedantic(lambda: [decode(b) for b in batches], rounds=ROUNDS, warmup_rounds=1)
    _report(benchmark, frames)
