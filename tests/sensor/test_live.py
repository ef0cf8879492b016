"""Live capture: the TPACKET_V3 ring, the capture filter, `ybsensor run` with its workers,
signals and metrics.

The integration tests build two network namespaces joined by a veth pair (tests/livenet.py,
always removed in the fixture's finalizer), start `ybsensor run` on one end and replay with
tcpreplay from the other a capture holding an L2TP VPDN session with an internet-bound ping
(pcaps/cases/internet_bound_vpdn_l2tp) and the dedicated-line flows of
pcaps/cases/none_platform_own_lines (VLAN, QinQ, MPLS, L2TP, GRE), plus a few frames the
capture filter must keep out. What the live sensor reports is compared, packet for packet,
with the same capture replayed offline and with the case's hand-written expected alert.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import livenet
from livenet import LiveSensor, by_label, frames_of, total, write_capture
from tools import PCAPS, require_tool, ybsensor_cmd
from frames import udp_frame

CASES = PCAPS / "cases"
L2TP_CASE = CASES / "internet_bound_vpdn_l2tp"
LINES_CASE = CASES / "none_platform_own_lines"
CONFIG = L2TP_CASE / "config.toml"
NOISE_PORT = 9          # the discard port: what the capture filter keeps out
FILTER = f"not udp port {NOISE_PORT}"
VOLATILE = ("ts", "timestamp", "source")


# ---------------------------------------------------------------------------------------
# Pieces that need no privileges.

def test_bpf_libpcap_and_tcpdump_agree(require_tool):
    from ybsensor.sensor.sources import bpf

    require_tool("tcpdump")
    for expr in ("udp port 1701", "not udp port 9", "ip and tcp[tcpflags] & tcp-syn != 0",
                 "ip6 or (vlan and ip)"):
        assert bpf.compile_filter(expr, using="libpcap") == bpf.compile_filter(expr, using="tcpdump")


@pytest.mark.parametrize("using", ["libpcap", "tcpdump"])
def test_bad_filter_is_a_clear_error(require_tool, using):
    from ybsensor.sensor.sources import bpf

    require_tool("tcpdump")
    with pytest.raises(bpf.BpfError, match="bad capture filter 'udp prot 9'"):
        bpf.compile_filter("udp prot 9", using=using)


def test_parse_ddd():
    from ybsensor.sensor.sources import bpf

    assert bpf.parse_ddd("2\n40 0 0 12\n6 0 0 262144\n") == [(40, 0, 0, 12), (6, 0, 0, 262144)]
    with pytest.raises(bpf.BpfError):
        bpf.parse_ddd("3\n40 0 0 12\n")


def test_metrics_of_workers_merge():
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    from ybsensor.exporters.http import merge

    def snap(packets, flows, seen, created):
        c = CounterMetricFamily("ybsensor_packets", "p", labels=["encap"])
        for encap, n in packets.items():
            c.add_metric([encap], n, created=created)
        g = GaugeMetricFamily("ybsensor_flows_active", "f", value=flows)
        t = GaugeMetricFamily("ybsensor_line_last_seen_timestamp_seconds", "t", labels=["line"])
        for line, ts in seen.items():
            t.add_metric([line], ts)
        return [c, g, t]

    merged = merge([snap({"eth/ipv4/tcp": 5}, 2, {"vlan:100": 10.0}, 100.0),
                    snap({"eth/ipv4/tcp": 7, "eth/vlan/ipv4/udp": 1}, 3,
                         {"vlan:100": 12.0, "gre:41": 4.0}, 90.0)])
    values = {(s.name, tuple(s.labels.values())): s.value for f in merged for s in f.samples}
    assert values[("ybsensor_packets_total", ("eth/ipv4/tcp",))] == 12
    assert values[("ybsensor_packets_total", ("eth/vlan/ipv4/udp",))] == 1
    assert values[("ybsensor_packets_created", ("eth/ipv4/tcp",))] == 90.0
    assert values[("ybsensor_flows_active", ())] == 5
    assert values[("ybsensor_line_last_seen_timestamp_seconds", ("vlan:100",))] == 12.0
    assert values[("ybsensor_line_last_seen_timestamp_seconds", ("gre:41",))] == 4.0


def test_reload_carries_counters_flows_and_dedup_over(tmp_path):
    from ybsensor.sensor.config import load
    from ybsensor.sensor.live import carry_over
    from ybsensor.sensor.sensor import Sensor
    from ybsensor.sensor.sources import read_capture

    def config():
        cfg = load(CONFIG)
        cfg.evidence_dir = str(tmp_path / "evidence")
        return cfg

    old = Sensor(config(), alerts_path="")
    for batch in read_capture(L2TP_CASE / "input.pcap"):
        old.pipeline.process(batch)
    new = Sensor(config(), alerts_path="")
    carry_over(old, new)
    assert new.evidence is old.evidence  # the same settings: the same files go on
    assert new.stats.frames == 4 and new.flows.active == old.flows.active == 1
    assert new.alerter.occurrences == old.alerter.occurrences
    assert new.lines.last_seen() == old.lines.last_seen()
    for batch in read_capture(L2TP_CASE / "input.pcap"):
        new.pipeline.process(batch)
    assert new.stats.frames == 8
    assert new.last_alerts == []  # the same flow within the dedup window: no second alert
    assert sum(new.alerter.occurrences.values()) == 8


def test_sizes():
    from ybsensor.sensor.live import _size

    assert _size("1MiB") == _size("1M") == _size("1048576") == 1 << 20
    assert _size("256K") == 256 << 10


# ---------------------------------------------------------------------------------------
# The namespaces, the capture and its reference.

@pytest.fixture(scope="module")
def pair():
    with livenet.veth_pair_for_replay() as veth:
        yield veth


@pytest.fixture
def sensors(pair):
    """Start sensors with sensors(*args); each is stopped (killed if need be) at the end."""
    started = []

    def start(*args, **kw):
        s = LiveSensor(pair, *args, **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        s.kill()


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    """The platform flows, then the internet-bound ping in L2TP; noise for the filter
    before, between and after. Returns (pcap with noise, pcap without, frame offset of the
    ping within the filtered frames)."""
    lines, ping = frames_of(LINES_CASE / "input.pcap"), frames_of(L2TP_CASE / "input.pcap")
    noise = [udp_frame("10.1.2.3", "10.200.0.1", 40000 + i, NOISE_PORT, b"noise") for i in range(3)]
    d = tmp_path_factory.mktemp("live")
    kept = lines + ping
    with_noise = [noise[0], *lines, noise[1], *ping, noise[2]]
    return (write_capture(d / "with_noise.pcap", with_noise), write_capture(d / "kept.pcap", kept),
            len(lines))


@pytest.fixture(scope="module")
def reference(capture):
    """The kept frames replayed offline: traffic and alert counters, the alerts."""
    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
    from ybsensor.sensor.sources import read_capture

    sensor = Sensor(load(CONFIG), alerts_path="")
    alerts = []
    for batch in read_capture(capture[1]):
        sensor.pipeline.process(batch)
        alerts += sensor.last_alerts
    return {"packets": dict(sensor.stats.packets), "bytes": dict(sensor.stats.bytes),
            "occurrences": {d: n for (d, _), n in sensor.alerter.occurrences.items()},
            "alerts": alerts, "frames": sensor.stats.frames}


def _alerts(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _strip(alert: dict, *drop: str, like: dict | None = None) -> dict:
    """The alert's fields, less the volatile ones and `drop`; only those `like` has."""
    keep = like if like is not None else alert
    return {k: v for k, v in alert.items() if k in keep and k not in (*VOLATILE, *drop)}


def _expected_case_alert(offset: int) -> dict:
    want = json.loads((L2TP_CASE / "expected.jsonl").read_text().splitlines()[0])
    want["first_frame"] += offset
    return want


# ---------------------------------------------------------------------------------------
# The ring itself, in this process.

def test_ring_delivers_the_frames_byte_for_byte(pair, capture):
    """Every frame sent arrives whole, in order, with its outer VLAN tag put back; the
    filter keeps the noise out; the kernel counts the frames and drops none."""
    from pyroute2 import netns

    from ybsensor.sensor.sources import bpf
    from ybsensor.sensor.sources.afpacket import Ring, RingOptions

    sent = frames_of(capture[1])
    netns.pushns(pair.cap)
    try:
        ring = Ring(pair.cap_if, options=RingOptions(block_timeout_ms=10),
                    program=bpf.compile_filter(FILTER))
    finally:
        netns.popns()
    try:
        pair.replay(capture[0], "--topspeed")
        got: list[bytes] = []
        deadline = time.monotonic() + 10
        while len(got) < len(sent) and time.monotonic() < deadline:
            batch = ring.take()
            if batch is None:
                ring.wait(0.1)
                continue
            assert batch.first_frame == len(got) + 1
            assert (batch.linktype == 1).all() and batch.interfaces == [pair.cap_if]
            assert (np.abs(batch.ts_ns / 1e9 - time.time()) < 60).all()
            got += [batch.data[o: o + c].tobytes()
                    for o, c in zip(batch.offset.tolist(), batch.caplen.tolist())]
        assert len(got) == len(sent)
        for i, (a, b) in enumerate(zip(got, sent), 1):
            assert a == b, f"frame {i}: captured {a.hex()} sent {b.hex()}"
        packets, drops, freezes = ring.stats()
        assert (packets, drops, freezes) == (len(sent), 0, 0)
    finally:
        ring.close()


# ---------------------------------------------------------------------------------------
# `ybsensor run`.

def _wait_counted(sensor: LiveSensor, frames: int, timeout: float = 20.0) -> dict:
    return sensor.wait_for(lambda m: total(m, "ybsensor_packets_total") >= frames and
                           total(m, "ybsensor_capture_packets_total") >= frames,
                           timeout=timeout, what=f"{frames} frames")


@pytest.mark.parametrize("workers", [1, 2])
def test_run_matches_the_offline_replay(pair, sensors, capture, reference, tmp_path, workers):
    alerts_path = tmp_path / "alerts.jsonl"
    sensor = sensors("--config", str(CONFIG), "--alerts", str(alerts_path), "--bpf", FILTER,
                     "--workers", str(workers), "--block-timeout", "200",
                     "--metrics-file", str(tmp_path / "final.prom"))
    got = sensor.metrics()
    assert total(got, "ybsensor_interface_up", interface=pair.cap_if) == 1
    pair.replay(capture[0], "--topspeed")
    got = _wait_counted(sensor, reference["frames"])
    time.sleep(0.5)  # nothing more may come
    got = sensor.metrics()
    # every frame sent (less the filtered noise) was captured and counted, none dropped
    assert total(got, "ybsensor_capture_packets_total", interface=pair.cap_if) == reference["frames"]
    assert total(got, "ybsensor_capture_drops_total", interface=pair.cap_if) == 0
    assert total(got, "ybsensor_capture_ring_freezes_total") == 0
    assert by_label(got, "ybsensor_packets_total", "encap") == reference["packets"]
    assert by_label(got, "ybsensor_bytes_total", "encap") == reference["bytes"]
    assert by_label(got, "ybsensor_alerts_total", "detector") == reference["occurrences"]
    assert total(got, "ybsensor_decode_errors_total") == 0
    assert total(got, "ybsensor_capture_workers") == workers
    # the merged exposition of the workers is good Prometheus text
    promtool = require_tool("promtool")
    check = subprocess.run([promtool, "check", "metrics"], input=pair.http_get(sensor.url),
                           capture_output=True, timeout=60)
    assert check.returncode == 0 and not (check.stdout + check.stderr).strip(), check
    seen = by_label(got, "ybsensor_line_last_seen_timestamp_seconds", "line")
    assert set(seen) == {"vlan:100", "l2tp:7/*", "gre:41", "l2tp:9/*", "gre:42", "qinq:10.200",
                         "mpls:1000"}
    assert all(abs(ts - time.time()) < 60 for ts in seen.values())  # capture time, not pcap time
    assert sensor.stop() == 0, sensor.err
    # the alert log: the one internet-bound alert, as offline and as the case expects
    alerts = _alerts(alerts_path)
    drop = () if workers == 1 else ("first_frame",)  # frame numbers are per worker
    assert len(alerts) == len(reference["alerts"]) == 1
    assert _strip(alerts[0], *drop, "evidence_pcap", like=reference["alerts"][0]) == \
        _strip(reference["alerts"][0], *drop, "evidence_pcap")
    want = _expected_case_alert(capture[2])
    for key, value in want.items():
        if key not in drop:
            assert alerts[0][key] == value, key
    sources = {pair.cap_if} if workers == 1 else {f"{pair.cap_if}#{k}" for k in range(workers)}
    assert alerts[0]["source"] in sources
    # the final metrics file and the summary
    final = (tmp_path / "final.prom").read_text()
    assert f'ybsensor_capture_packets_total{{interface="{pair.cap_if}"}} {reference["frames"]}.0' in final
    assert f"{reference['frames']} frames captured on {pair.cap_if}" in sensor.out
    assert "1 alerts to" in sensor.out


def test_two_workers_share_a_sustained_replay_without_drops(pair, sensors, capture, reference):
    loops = 100
    sensor = sensors("--config", str(CONFIG), "--workers", "2", "--bpf", FILTER)
    pair.replay(capture[0], "--pps", "20000", "--loop", str(loops))
    frames = reference["frames"] * loops
    got = _wait_counted(sensor, frames, timeout=30)
    assert total(got, "ybsensor_capture_packets_total") == frames
    assert total(got, "ybsensor_capture_drops_total") == 0
    assert by_label(got, "ybsensor_packets_total", "encap") == {
        k: v * loops for k, v in reference["packets"].items()}
    assert by_label(got, "ybsensor_alerts_total", "detector") == {
        k: v * loops for k, v in reference["occurrences"].items()}
    assert sensor.stop() == 0, sensor.err


def test_sighup_reloads_without_stopping_capture(pair, sensors, capture, tmp_path):
    ping = L2TP_CASE / "input.pcap"
    config = tmp_path / "sensor.toml"
    text = CONFIG.read_text()
    config.write_text(text + "\n[detectors.internet_bound]\nenabled = false\n")
    alerts_path = tmp_path / "alerts.jsonl"
    sensor = sensors("--config", str(config), "--alerts", str(alerts_path))
    pair.replay(ping, "--topspeed")
    got = _wait_counted(sensor, 4)
    assert total(got, "ybsensor_alerts_total") == 0       # the detector is off
    # a good new configuration: the detector on; capture goes on, counters carry over
    config.write_text(text)
    sensor.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "reloaded" not in _peek_stderr(sensor) and time.monotonic() < deadline:
        time.sleep(0.1)
    pair.replay(ping, "--topspeed")
    got = sensor.wait_for(lambda m: total(m, "ybsensor_alerts_total") >= 4, what="the alert")
    assert total(got, "ybsensor_packets_total") == 8
    assert by_label(got, "ybsensor_alerts_total", "detector") == {"internet_bound": 4}
    # a bad one is refused and the running one kept
    config.write_text(text + "\n[detectors.internet_bound]\nenabled = maybe\n")
    sensor.signal(signal.SIGHUP)
    pair.replay(ping, "--topspeed")
    got = sensor.wait_for(lambda m: total(m, "ybsensor_packets_total") >= 12, what="12 frames")
    assert sensor.proc.poll() is None
    assert by_label(got, "ybsensor_alerts_total", "detector") == {"internet_bound": 8}
    assert sensor.stop() == 0
    assert "reload refused, the running configuration is kept" in sensor.err
    assert "not valid TOML" in sensor.err
    alerts = _alerts(alerts_path)  # one alert: the repeat fell in the dedup window
    assert [(a["detector"], a["packets"]) for a in alerts] == [("internet_bound", 4)]


def _peek_stderr(sensor: LiveSensor) -> str:
    """What the sensor wrote to stderr so far, without waiting for it to end."""
    import os
    import select

    fd = sensor.proc.stderr.fileno()
    chunks = []
    while select.select([fd], [], [], 0)[0]:
        data = os.read(fd, 65536)
        if not data:
            break
        chunks.append(data.decode(errors="replace"))
    sensor.err += "".join(chunks)
    return sensor.err


def test_two_workers_write_the_flow_and_event_logs_between_them(pair, sensors, capture, tmp_path):
    """Each worker writes its own Parquet flow and DNS logs (the fanout gives each a share
    of the flows), closed whole at SIGTERM; together they hold the flows an offline replay
    of the same frames logs."""
    import pyarrow.parquet as pq

    import ybsensor

    config = tmp_path / "config.toml"
    config.write_text(CONFIG.read_text() + f'\n[events]\nflow = "{tmp_path}/flows.parquet"\n'
                      f'dns = "{tmp_path}/dns.parquet"\n')
    sensor = sensors("--config", str(config), "--alerts", str(tmp_path / "alerts.jsonl"),
                     "--bpf", FILTER, "--workers", "2", "--block-timeout", "200")
    pair.replay(capture[0], "--topspeed")
    frames = ybsensor.replay(capture[1], config)
    _wait_counted(sensor, frames.frames)
    assert sensor.stop() == 0, sensor.err
    assert not (tmp_path / "flows.parquet").exists()
    live = [r for k in (0, 1) for r in pq.read_table(tmp_path / f"flows.w{k}.parquet").to_pylist()]
    key = lambda r: (r["community_id"], r["line"], r["orig_packets"], r["resp_packets"],  # noqa: E731
                     r["orig_bytes"], r["resp_bytes"])
    assert len(live) > 3
    assert sorted(map(key, live)) == sorted(map(key, frames.flows.to_pylist()))
    for k in (0, 1):
        assert pq.read_table(tmp_path / f"dns.w{k}.parquet").schema.names[0] == "event_type"


def test_two_workers_take_each_fragmented_segment_with_its_flow(pair, sensors, tmp_path):
    """Eight TCP connections, each with a full-size segment in two IPv4 fragments and a
    short one after it, an identifier across the two. The kernel's fanout hash of a fragment
    has no ports: made whole only in the sensor, a datagram would land on a worker at
    random, half the time not its flow's. The kernel makes it whole before the fanout
    (PACKET_FANOUT_FLAG_DEFRAG), so each connection is one flow on one worker, and each
    identifier is found."""
    import random

    import pyarrow.parquet as pq
    from scapy.all import Ether, IP, TCP, Raw, fragment

    import pii

    frames, people = [], []
    for k in range(8):
        person = pii.resident_id(random.Random(f"frag-{k}"))
        people.append(person)
        text = f'{{"certno":"{person}"}}'.encode()
        c, s = IP(src=f"10.1.2.{20 + k}", dst="10.200.1.20"), IP(src="10.200.1.20", dst=f"10.1.2.{20 + k}")
        port = 50000 + k
        big = Ether() / c / TCP(sport=port, dport=8080, flags="PA", seq=1, ack=1) / \
            Raw(b"x" * (1460 - 20) + text[:20])
        frames += [bytes(Ether() / c / TCP(sport=port, dport=8080, flags="S", seq=0)),
                   bytes(Ether() / s / TCP(sport=8080, dport=port, flags="SA", seq=0, ack=1)),
                   *(bytes(Ether() / f) for f in fragment(big[IP], fragsize=1024)),
                   bytes(Ether() / c / TCP(sport=port, dport=8080, flags="PA", seq=1461, ack=1)
                         / Raw(text[20:]))]
    pcap = write_capture(tmp_path / "fragmented.pcap", frames)
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.read_text() + f'\n[events]\nflow = "{tmp_path}/flows.parquet"\n')
    alerts_path = tmp_path / "alerts.jsonl"
    sensor = sensors("--config", str(config), "--alerts", str(alerts_path),
                     "--workers", "2", "--block-timeout", "200")
    pair.replay(pcap, "--topspeed")
    # the kernel hands over each datagram whole: one frame for its two fragments
    _wait_counted(sensor, len(frames) - 8)
    time.sleep(0.5)
    assert sensor.stop() == 0, sensor.err
    flows = [r for k in (0, 1) for r in pq.read_table(tmp_path / f"flows.w{k}.parquet").to_pylist()]
    assert sorted((r["sport"], r["orig_packets"], r["resp_packets"]) for r in flows) == \
        [(50000 + k, 3, 1) for k in range(8)]
    found = [a for a in _alerts(alerts_path) if a["detector"] == "plaintext_pii"]
    assert sorted(a["sport"] for a in found) == [50000 + k for k in range(8)]
    assert not any(p in alerts_path.read_text() for p in people)


def test_sigterm_drains_and_flushes(pair, sensors, capture, tmp_path):
    """Frames already in the ring when SIGTERM comes are still analysed and their alert
    written: the block timeout is long, so the frames are in an unfinished block."""
    alerts_path = tmp_path / "alerts.jsonl"
    sensor = sensors("--config", str(CONFIG), "--alerts", str(alerts_path),
                     "--metrics-file", str(tmp_path / "final.prom"), "--block-timeout", "300")
    pair.replay(L2TP_CASE / "input.pcap", "--topspeed")
    time.sleep(0.6)  # the block is handed over; the worker may or may not have read it
    assert sensor.stop() == 0
    alerts = _alerts(alerts_path)
    assert [(a["detector"], a["packets"]) for a in alerts] == [("internet_bound", 4)]
    assert 'ybsensor_packets_total{encap="eth/ipv4/udp/l2tp/ppp/ipv4/icmp"} 4.0' in \
        (tmp_path / "final.prom").read_text()


@pytest.mark.parametrize("args, message", [
    (["--interface", "nosuch0"], "interface 'nosuch0' does not exist"),
    (["--interface", "{dummy}"], "is down"),
    (["--interface", "{cap}", "--bpf", "udp prot 9"], "bad capture filter 'udp prot 9'"),
    (["--interface", "{cap}", "--config", str(PCAPS / "make_cases.py")], "not valid TOML"),
])
def test_bad_start_exits_2(pair, args, message):

    dummy = f"{pair.cap_if[:-1]}d"
    if "{dummy}" in args:
        pair.add_down_link(dummy)
    args = [a.format(dummy=dummy, cap=pair.cap_if) for a in args]
    proc = subprocess.run(pair.exec(pair.cap, [*ybsensor_cmd(), "run", *args]),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def _as_nobody(caps: str, argv: list[str]) -> list[str]:
    """argv run as user nobody holding only the capabilities `caps` (e.g. "+net_raw")."""
    caps = f"-all,{caps}" if caps else "-all"
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
            f"--inh-caps={caps}", f"--ambient-caps={caps}", f"--bounding-set={caps}", *argv]


def test_capture_runs_unprivileged_with_the_units_capabilities(pair, request):
    """What deploy/systemd/ybsensor@.service grants (a plain user with CAP_NET_RAW and
    CAP_NET_ADMIN, the compiled loops from a cache it warmed up itself) is enough to
    capture on the fast path; without CAP_NET_RAW it is a clear error."""
    require_tool("setpriv")
    probe = subprocess.run(pair.exec(pair.cap, _as_nobody("+net_raw", [*ybsensor_cmd(), "--version"])),
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot run this checkout's ybsensor: {probe.stderr.strip()}")
    argv = [*ybsensor_cmd(), "run", "--interface", pair.cap_if, "--listen", "127.0.0.1:9108",
            "--config", str(CONFIG)]  # in the checkout, which nobody may read
    # the unit's fast path too: its ExecStartPre compiles the loops as the service user into
    # a cache it owns (NUMBA_CACHE_DIR), from which the sensor loads them
    cache = Path(tempfile.mkdtemp(prefix="ybsensor-numba-"))     # pytest's tmp is root's alone
    request.addfinalizer(lambda: shutil.rmtree(cache, ignore_errors=True))
    # what this session compiled so far, so that the warm-up compiles only the rest
    if Path(os.environ["NUMBA_CACHE_DIR"]).is_dir():
        shutil.copytree(os.environ["NUMBA_CACHE_DIR"], cache, dirs_exist_ok=True)
    for path in [cache, *cache.rglob("*")]:
        shutil.chown(path, "nobody", "nogroup")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    env.pop("YBSENSOR_DECODE_KERNEL", None)
    warm = subprocess.run(_as_nobody("", [*ybsensor_cmd(), "warm-up", "--config", str(CONFIG)]),
                          capture_output=True, text=True, timeout=600, env=env)
    assert warm.returncode == 0 and "compiled loops ready" in warm.stdout, warm
    assert any(cache.iterdir()), "warm-up wrote no cache"
    denied = subprocess.run(pair.exec(pair.cap, _as_nobody("+net_admin", argv)),
                            capture_output=True, text=True, timeout=60, env=env)
    assert denied.returncode == 2 and "capture needs CAP_NET_RAW" in denied.stderr, denied
    sensor = LiveSensor.__new__(LiveSensor)
    sensor.pair, sensor.url, sensor.out, sensor.err = pair, "http://127.0.0.1:9108/metrics", "", ""
    sensor.proc = subprocess.Popen(pair.exec(pair.cap, _as_nobody("+net_raw,+net_admin", argv)),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=env)
    try:
        sensor.wait_until_serving()
        pair.replay(L2TP_CASE / "input.pcap", "--topspeed")
        got = _wait_counted(sensor, 4)
        assert by_label(got, "ybsensor_alerts_total", "detector") == {"internet_bound": 4}
        assert by_label(got, "ybsensor_build_info", "decode_kernel") == {"numba": 1}
        assert sensor.stop() == 0, sensor.err
    finally:
        sensor.kill()


def test_a_service_waits_for_its_link_and_tells_systemd(pair, tmp_path, monkeypatch):
    """`run --wait-for-link` on an interface that is down: it serves
    ybsensor_interface_up 0 and says why (also to systemd), captures once the link comes
    up, and speaks sd_notify: READY=1 when capturing, WATCHDOG=1 while running,
    STOPPING=1 on SIGTERM."""
    import socket

    from pyroute2 import NetNS

    def link(state):
        with NetNS(pair.cap) as nsr:
            nsr.link("set", index=nsr.link_lookup(ifname=pair.cap_if)[0], state=state)

    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(20)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "400000")
    heard: list[str] = []

    def hear(field: str) -> None:
        while not any(field in m for m in heard):
            heard.append(notify.recv(4096).decode())

    link("down")
    sensor = None
    try:
        sensor = LiveSensor(pair, "--config", str(CONFIG), "--wait-for-link")
        got = sensor.metrics()
        assert total(got, "ybsensor_interface_up", interface=pair.cap_if) == 0
        hear("STATUS=waiting for")
        assert sensor.proc.poll() is None
        link("up")
        hear("READY=1")
        pair.wait_up()
        sensor.wait_for(lambda m: total(m, "ybsensor_interface_up", interface=pair.cap_if) == 1,
                        what="the capture after the link came up")
        pair.replay(L2TP_CASE / "input.pcap", "--topspeed")
        _wait_counted(sensor, 4)
        hear("WATCHDOG=1")
        assert sensor.stop() == 0, sensor.err
        hear("STOPPING=1")
        assert "waiting: interface" in sensor.err and "Traceback" not in sensor.err
    finally:
        link("up")
        notify.close()
        if sensor is not None:
            sensor.kill()


def test_link_state_is_watched(pair, sensors):
    """The peer going down takes our end's link down: ybsensor_interface_up says so (the
    sensor keeps running, without spinning), and says so again when it comes back."""
    from pyroute2 import NetNS

    def peer(state):
        with NetNS(pair.gen) as nsr:
            nsr.link("set", index=nsr.link_lookup(ifname=pair.gen_if)[0], state=state)

    sensor = sensors("--metrics-interval", "0.2")
    try:
        peer("down")
        sensor.wait_for(lambda m: total(m, "ybsensor_interface_up", interface=pair.cap_if) == 0,
                        timeout=10, what="the link down")
        cpu = _cpu_seconds(sensor.proc.pid)
        time.sleep(1.0)
        assert _cpu_seconds(sensor.proc.pid) - cpu < 0.5  # idle, not polling in a loop
    finally:
        peer("up")
    sensor.wait_for(lambda m: total(m, "ybsensor_interface_up", interface=pair.cap_if) == 1,
                    timeout=10, what="the link up")
    pair.wait_up()
    pair.replay(L2TP_CASE / "input.pcap", "--topspeed")
    _wait_counted(sensor, 4)
    assert sensor.stop() == 0
    assert "is DOWN" in sensor.err and "is up again" in sensor.err


def _cpu_seconds(pid: int) -> float:
    """User and system time of a process and its children (the workers), in seconds."""
    import os

    total_ticks = 0
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total_ticks += int(fields[11]) + int(fields[12])
    return total_ticks / os.sysconf("SC_CLK_TCK")
