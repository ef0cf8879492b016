"""Fixtures of the benchmark suites: the reference mixed pcap, on disk and pre-read.

YBSENSOR_BENCH_FRAMES=N picks another size than the reference 300 k frames."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.mixed import FRAMES, mixed_pcap  # noqa: E402

BENCH_FRAMES = int(os.environ.get("YBSENSOR_BENCH_FRAMES", FRAMES))


@pytest.fixture(scope="session", autouse=True)
def steady_state_decoding():
    """The figures are a long-running sensor's: decoding uses the compiled kernel (where
    numba is installed) from the first batch, as `ybsensor run` does, not only once the
    process has decoded fastpath.KERNEL_AFTER_FRAMES frames."""
    from ybsensor.decoders import fastpath
    fastpath.load_kernel_now()


@pytest.fixture(scope="session")
def mixed_path() -> Path:
    return mixed_pcap(BENCH_FRAMES)


@pytest.fixture(scope="session")
def mixed_batches(mixed_path):
    from ybsensor.sensor.sources import read_capture
    return list(read_capture(mixed_path))


@pytest.fixture(scope="session")
def mixed_frames(mixed_batches) -> int:
    return sum(len(b) for b in mixed_batches)


@pytest.fixture(scope="session")
def plaintext_batches():
    """The same mix with every payload plaintext (no TLS records): the payload detectors'
    worst case."""
    from ybsensor.sensor.sources import read_capture
    return list(read_capture(mixed_pcap(BENCH_FRAMES, plaintext=True)))


@pytest.fixture
def out_dir(tmp_path):
    """Where the replays write their alerts and evidence pcaps: a memory file system where
    the machine has one. The figure is the sensor's, not the disk's: on ext4 a new file
    costs from 0.03 ms to 0.7 ms of kernel time, the more the more files were removed in
    the last seconds (ext4 skips inodes deleted recently; pytest removes old runs' temporary
    directories as it starts)."""
    shm = Path(os.environ.get("YBSENSOR_BENCH_OUT", "/dev/shm"))
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(prefix="ybsensor-bench-", dir=shm) as out:
        yield Path(out)
