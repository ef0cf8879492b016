"""The metrics endpoint keeps answering while batches are analysed: Prometheus scrapes
from its own thread, and a long replay in the main thread does not starve it."""
import sys
import threading
import time
import urllib.request
from pathlib import Path

from ybsensor.sensor.config import load
from ybsensor.sensor.sensor import Sensor
from ybsensor.exporters.http import MetricsServer

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.mixed import SMALL, mixed_pcap  # noqa: E402
from bench.test_pipeline import bench_config  # noqa: E402


def test_scrapes_are_answered_while_batches_run(tmp_path):
    cfg = bench_config(tmp_path)
    sensor = Sensor(cfg, alerts_path=str(tmp_path / "alerts.jsonl"))
    server = MetricsServer("127.0.0.1:0", sensor.metrics.registry).start()
    from ybsensor.sensor.sources import read_capture
    batches = list(read_capture(mixed_pcap(SMALL), batch_frames=8192))
    answered, failures = [], []
    busy = threading.Event()
    done = threading.Event()

    def scrape():
        while not done.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(server.url, timeout=10) as reply:
                    body = reply.read()
                if busy.is_set() and reply.status == 200 and b"ybsensor_packets_total" in body:
                    answered.append(time.monotonic() - started)
            except OSError as exc:  # a refused or timed-out scrape is what must not happen
                failures.append(repr(exc))

    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    try:
        busy.set()
        for _ in range(3):  # ~90 k frames through every detector, in 8 k-frame batches
            for batch in batches:
                sensor.pipeline.process(batch)
        busy.clear()
    finally:
        done.set()
        scraper.join(timeout=30)
        server.close()
        sensor.close()
    assert not failures, failures
    # scrapes completed while the pipeline was busy, each with the counts of the moment
    assert len(answered) >= 3, answered
    print(f"{len(answered)} scrapes answered while busy, slowest {max(answered):.3f} s")
