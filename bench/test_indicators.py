"""malicious_link's indicator sets at a million indicators: load time, lookups a second
for addresses (a column at once, as flows' endpoints are) and for names (a suffix walk a
name, as DNS questions, server names and HTTP hosts are), and the end-to-end replay of the
reference mix with every detector on and the million indicators loaded.

    pytest bench/test_indicators.py --benchmark-enable --benchmark-only

The list: 600 k domains, 200 k IPv4 addresses, 50 k IPv6 addresses, 100 k networks
(IPv4, /20 to /30) and 50 k URLs, made from a seeded generator."""
from __future__ import annotations

import random

import numpy as np
import pytest

from bench.test_pipeline import bench_config, replay
from ybsensor.detectors import indicators as intel

MILLION = 1_000_000
LOOKUPS = 1_000_000
NAMES = 200_000


def _label(rng: random.Random, n: int = 10) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))


@pytest.fixture(scope="module")
def million(tmp_path_factory):
    """(path of a file of a million indicators, the domains listed)."""
    rng = random.Random(20250102)
    domains = [f"{_label(rng)}.{rng.choice(['com', 'net', 'cn', 'example'])}" for _ in range(600_000)]
    lines = [f"{d} high feed-{k % 7}" for k, d in enumerate(domains)]
    lines += [f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)} medium"
              for _ in range(200_000)]
    lines += [f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(65536):x} low" for _ in range(50_000)]
    for _ in range(100_000):
        plen = rng.choice([20, 24, 24, 24, 28, 30])
        value = rng.getrandbits(32) & ~((1 << (32 - plen)) - 1)
        lines.append(f"{value >> 24}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}/{plen} critical")
    lines += [f"http://{_label(rng, 8)}.example/{_label(rng, 6)}.php" for _ in range(50_000)]
    path = tmp_path_factory.mktemp("intel") / "million.txt"
    path.write_text("\n".join(lines) + "\n")
    return path, domains


@pytest.fixture(scope="module")
def store(million):
    return intel.load([million[0]])


@pytest.mark.benchmark(group="indicators")
def test_load_a_million(benchmark, million):
    found = benchmark.pedantic(intel.load, args=([million[0]],), rounds=3, warmup_rounds=0)
    assert len(found) == MILLION
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["indicators_per_s"] = round(MILLION / stats.stats.median)


@pytest.mark.benchmark(group="indicators")
def test_address_lookups(benchmark, store):
    rng = np.random.default_rng(7)
    lo = np.uint64(int(intel.IPV4_MAPPED)) | rng.integers(0, 1 << 32, LOOKUPS, dtype=np.uint64)
    hi = np.zeros(LOOKUPS, dtype=np.uint64)
    found = benchmark(store.addresses, hi, lo)
    assert (found != intel.NONE).any() and (found == intel.NONE).any()
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["lookups_per_s"] = round(LOOKUPS / stats.stats.median)


@pytest.mark.benchmark(group="indicators")
def test_name_lookups(benchmark, store, million):
    rng = random.Random(9)
    listed = million[1]
    # half under listed domains (two labels deeper), half not listed at all
    names = [f"a.b.{rng.choice(listed)}" if k % 2 else f"www.{_label(rng)}.com" for k in range(NAMES)]

    def look():
        return sum(store.domain(n)[0] != intel.NONE for n in names)

    hits = benchmark(look)
    assert NAMES // 2 <= hits < NAMES
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["lookups_per_s"] = round(NAMES / stats.stats.median)


@pytest.mark.benchmark(group="indicators")
def test_replay_with_a_million_indicators(benchmark, tmp_path, out_dir, million, mixed_batches, mixed_frames):
    cfg = bench_config(tmp_path)
    cfg.detectors["malicious_link"] = {"paths": [str(million[0])]}
    sensor = replay(benchmark, cfg, out_dir, mixed_batches)
    assert sensor.stats.frames == mixed_frames
    link = next(d for d in sensor.alerter.detectors if d.name == "malicious_link")
    assert len(link.intel) == MILLION
    benchmark.extra_info["malicious_link_alerts"] = sum(
        n for (name, _), n in sensor.alerter.alerts.items() if name == "malicious_link")
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["frames_per_s"] = round(mixed_frames / stats.stats.median)
