"""`replay --scheduler` on a real Dask cluster (a scheduler and two worker processes on
127.0.0.1, started by scripts/dask-cluster.sh) gives what one process gives: the alerts (as
a multiset, without the chain fields), the metrics' counters, the flow log and the summary,
for the bundled captures plus a rotating capture cut mid-flow, and a capture made for what
looks across flows (a line whose two institutions' flows land on different workers; one
client's lookups of one name through servers on different workers), while one worker is
killed in the middle of its share."""
from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ybsensor.sensor.cluster import share_rows
from ybsensor.sensor.pipeline import Pipeline
from frames import link
from tools import require_module, require_tool, ybsensor_cmd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))   # bench.mixed
PCAPS = ROOT / "pcaps"
T0 = 1_760_000_000
EVENT_LOGS = {"dns": "jsonl", "tls": "parquet", "http": "jsonl"}   # a Parquet one among them
SECOND = 1_000_000_000


def _crossing_capture(path: Path) -> None:
    """Flows of the hospital (10.1.2.0/24) and of the pharmacy (100.64.17.0/24) on the
    hospital's line vlan:100 for 20 minutes (a packet a flow every 50 s: the line is shared
    again past each 300 s dedup window); one client asking 10.200.x.53 servers for one
    public name; a long flow, one packet every 10 s."""
    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.utils import wrpcap

    def on_line(pkt, ts):
        frame = link(100) / pkt
        frame.time = ts
        return frame

    frames = []
    for step in range(24):
        at = T0 + 50 * step
        for k in range(10):
            frames.append(on_line(IP(src=f"10.1.2.{10 + k}", dst="10.200.0.1") /
                                  TCP(sport=41000 + k, dport=443, flags="PA"), at + k / 100))
            if step >= 2:
                frames.append(on_line(IP(src=f"100.64.17.{5 + k}", dst="10.200.0.1") /
                                      TCP(sport=42000 + k, dport=443, flags="PA"), at + 0.5 + k / 100))
        server = f"10.200.{step % 4}.53"
        frames.append(on_line(IP(src="10.1.2.9", dst=server) / UDP(sport=53000 + step, dport=53) /
                              DNS(id=step, rd=1, qd=DNSQR(qname="www.example.com")), at + 0.7))
        for tick in range(5):
            frames.append(on_line(IP(src="10.1.2.50", dst="10.200.0.80") /
                                  TCP(sport=45000, dport=8080, flags="PA"), at + 0.9 + 10 * tick))
    frames.sort(key=lambda f: f.time)
    wrpcap(str(path), frames)


def _rotating(source: Path, out: Path, frames_per_file: int) -> list[Path]:
    """A rotating capture of `source` as a capture tool writes one: files of
    `frames_per_file` frames, in order (editcap -c cuts flows wherever they are)."""
    editcap = require_tool("editcap")
    subprocess.run([editcap, "-c", str(frames_per_file), str(source), str(out)], check=True)
    return sorted(out.parent.glob(out.stem + "_*"))


def _config(tmp: Path, name: str) -> Path:
    text = (PCAPS / "example.toml").read_text()
    text = text.replace('path = "allocations.csv"', f'path = "{PCAPS / "allocations.csv"}"')
    text = text.replace('paths = ["intel/demo.txt"]', f'paths = ["{PCAPS / "intel" / "demo.txt"}"]')
    text += (f'\n[events]\nflow = "{tmp / (name + "-flows.jsonl")}"\n'
             + "".join(f'{kind} = "{tmp / (name + "-" + kind + "." + form)}"\n'
                       for kind, form in EVENT_LOGS.items()))
    path = tmp / f"{name}.toml"
    path.write_text(text)
    return path


def _replay(tmp: Path, name: str, files: list[Path], *extra: str, wait: bool = True):
    cmd = ybsensor_cmd() + ["replay", *map(str, files), "--config", str(_config(tmp, name)),
                            "--alerts", str(tmp / f"{name}-alerts.jsonl"),
                            "--metrics-file", str(tmp / f"{name}.prom"), "--no-progress", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp)
    return proc.communicate(timeout=300) + (proc.returncode,) if wait else proc


def _alerts(tmp: Path, name: str) -> list[str]:
    out = []
    for line in (tmp / f"{name}-alerts.jsonl").read_text().splitlines():
        alert = json.loads(line)
        for chained in ("seq", "prev_hash", "evidence_pcap"):
            alert.pop(chained, None)
        out.append(json.dumps(alert, sort_keys=True))
    return sorted(out)


def _logs(tmp: Path, name: str) -> dict[str, list[str]]:
    """The flow log and the dns, tls and http logs, each as sorted JSON lines."""
    import pyarrow.parquet as pq
    out = {"flow": sorted((tmp / f"{name}-flows.jsonl").read_text().splitlines())}
    for kind, form in EVENT_LOGS.items():
        path = tmp / f"{name}-{kind}.{form}"
        records = pq.read_table(path).to_pylist() if form == "parquet" else \
            [json.loads(line) for line in path.read_text().splitlines()]
        out[kind] = sorted(json.dumps(r, sort_keys=True) for r in records)
    return out


def _counters(tmp: Path, name: str) -> dict[str, float]:
    """The metrics' counters and gauges, without what measures the process itself (time,
    memory, the build), the evidence pcaps (the reduce's alerts name none: fewer files) or
    the cluster path's own bounds."""
    skip = re.compile(r"^(process_|python_|ybsensor_batch_duration|ybsensor_build_info|"
                      r"ybsensor_evidence_|ybsensor_alert_log_head|ybsensor_cluster_)")
    values = {}
    for line in (tmp / f"{name}.prom").read_text().splitlines():
        if line and not line.startswith("#") and not skip.match(line):
            key, value = line.rsplit(" ", 1)
            values[key] = float(value)
    return values


def _summary(stdout: str) -> list[str]:
    """The summary without the time and the alert log's chain; the alerts the dedup window
    and the rate limit held back, as one figure (one process counts the groups of a batch
    past the rate limit as over it unseen; workers, without the limit, see which repeat)."""
    out = []
    for line in stdout.splitlines():
        if re.match(r"[\d,]+ frames in |[\d,]+ written to |alert log head:", line):
            continue
        held = re.match(r"([\d,]+) alerts \(([\d,]+) repeats .*, ([\d,]+) over", line)
        if held:
            n = [int(x.replace(",", "")) for x in held.groups()]
            line = f"{n[0]} alerts, {n[1] + n[2]} held back"
        out.append(line)
    return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    client_of = require_module("distributed").Client   # the `cluster` extra (make setup)
    where = tmp_path_factory.mktemp("dask")
    env = {**os.environ, "DASK": str(Path(sys.executable).with_name("dask"))}
    script = ROOT / "scripts" / "dask-cluster.sh"
    address = subprocess.run([str(script), "start", str(where), "2"], env=env, check=True,
                             capture_output=True, text=True, timeout=60).stdout.strip()
    try:
        with client_of(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
            yield address, client
    finally:
        subprocess.run([str(script), "stop", str(where)], env=env, timeout=60)


def test_a_cluster_with_a_worker_killed_gives_what_one_process_gives(tmp_path, cluster):
    address, client = cluster
    crossing = tmp_path / "crossing.pcap"
    _crossing_capture(crossing)
    from bench.mixed import SMALL, mixed_pcap
    rotating = _rotating(crossing, tmp_path / "edge.pcap", 101)
    rotating += _rotating(mixed_pcap(SMALL), tmp_path / "mix.pcap", SMALL // 3 + 7)
    files = sorted(PCAPS.glob("*.pcap")) + rotating
    assert len(rotating) >= 5

    # what the test is about happens in these captures: the line's two institutions and the
    # lookups' servers fall in different shares of two
    t = next(iter(Pipeline().run_files([crossing], print, print)))[1]
    share = share_rows(t, 2, lines_on_share_0=True)
    hospital = (t.src_lo & 0xFFFFFFFFFF00) == 0xFFFF0A010200
    pharmacy = (t.src_lo & 0xFFFFFFFFFF00) == 0xFFFF64401100
    assert set(share[hospital]) == {0, 1} and set(share[pharmacy]) == {0, 1}
    assert set(share[t.dport == 53]) == {0, 1}

    one = _replay(tmp_path, "one", files)
    assert one[2] == 0, one[1]

    spread = _replay(tmp_path, "spread", files, "--scheduler", address, wait=False)
    killed = None
    while spread.poll() is None and killed is None:
        busy = {w: keys for w, keys in client.processing().items()
                if any(str(k).startswith("ybsensor-share") for k in keys)}
        if busy:
            victim = sorted(busy)[0]
            pid = client.run(os.getpid, workers=[victim])[victim]
            os.kill(pid, signal.SIGKILL)
            killed = victim
        time.sleep(0.02)
    out, err, status = spread.communicate(timeout=300) + (spread.returncode,)
    assert killed is not None, "the replay ended before a worker could be killed"
    assert status == 0, err

    assert _alerts(tmp_path, "spread") == _alerts(tmp_path, "one")
    assert _counters(tmp_path, "spread") == _counters(tmp_path, "one")
    logs = _logs(tmp_path, "one")
    assert _logs(tmp_path, "spread") == logs and all(logs.values())
    flows = [logs["flow"]]
    assert _summary(out) == _summary(one[0])

    # the cross-flow cases raised alerts to compare (several for the shared line: its
    # dedup window passed more than once)
    alerts = [json.loads(a) for a in _alerts(tmp_path, "one")]
    shared = [a for a in alerts if a["detector"] == "shared_line" and a["line"] == "vlan:100"
              and a["source"].startswith(str(tmp_path / "edge"))]
    assert len(shared) >= 3
    named = [a for a in alerts if a["detector"] == "internet_bound" and a["src"] == "10.1.2.9"
             and a["evidence"].get("name") == "www.example.com"]
    assert len(named) >= 3
    # the long flow crosses files and is one record
    assert sum('"10.200.0.80"' in line for line in flows[0]) == 1


def test_a_tunnels_evidence_names_its_public_end_whatever_else_the_batch_holds(tmp_path):
    """internet_vpn's evidence of a tunnel read names bound after it was made (the rows of
    the batch's VPN protocols): a share of the batch, or one process, named another end."""
    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
    sensor = Sensor(load(_config(tmp_path, "vpn")), alerts_path=str(tmp_path / "a.jsonl"))
    for _ in sensor.pipeline.run_files([PCAPS / "pptp.pcap"], print, print):
        pass
    sensor.close()
    alerts = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    tunnels = [a for a in alerts if a["detector"] == "internet_vpn"
               and a["evidence"]["reason"] == "tunnel_over_internet"]
    assert tunnels
    for a in tunnels:
        public = a["evidence"]["public_endpoint"]
        assert public in (a["src"], a["dst"]) or public.startswith("198.51.100."), a
        assert not public.startswith("10."), a


def test_a_share_bounds_what_it_returns_and_counts_what_it_gives_up(tmp_path, monkeypatch):
    """Past the rows of findings a share ships to the reduce, its findings of groups wider
    than a flow are alerted on the share; past the bytes of flow log it returns, whole
    records are cut off: each counted in a metric."""
    from ybsensor.sensor import cluster
    config = str(_config(tmp_path, "bounded"))
    demo = str(PCAPS / "demo.pcap")
    whole = cluster.replay_share(config, [(demo, demo)], 0, 1)
    rows = sum(f["rows"].size for piece in whole["shipped"] for f in piece["findings"])
    records = whole["flow_log"].count("\n")
    assert rows and records > 2

    monkeypatch.setattr(cluster, "MAX_SHIPPED_ROWS", 0)
    # half of the flow log or of the longest event log, whichever is shorter
    bound = min(len(whole["flow_log"]), max(map(len, whole["event_logs"].values()))) // 2
    monkeypatch.setattr(cluster, "MAX_LOG_BYTES", bound)
    bounded = cluster.replay_share(config, [(demo, demo)], 0, 1)
    assert bounded["shipped"] == []
    kept = bounded["flow_log"].count("\n")
    assert 0 < kept < records and bounded["flow_log"].endswith("\n")
    assert whole["flow_log"].startswith(bounded["flow_log"])
    events_left = 0
    for kind, text in whole["event_logs"].items():
        cut = bounded["event_logs"][kind]
        assert text.startswith(cut) and (not cut or cut.endswith("\n"))
        events_left += text.count("\n") - cut.count("\n")
    assert events_left
    given_up = {f.name: f.samples[0].value for f in bounded["families"]
                if f.name.startswith("ybsensor_cluster_")}
    assert given_up == {"ybsensor_cluster_findings_unshipped": rows,
                        "ybsensor_cluster_flow_records_dropped": records - kept,
                        "ybsensor_cluster_event_records_dropped": events_left,
                        "ybsensor_cluster_batches_mapped": 0,
                        "ybsensor_cluster_batches_decoded_again": 0}
    assert any("flow records past" in w for w in bounded["warnings"])
    # the wider groups' findings are alerted all the same, by the share
    detectors = {a["detector"] for _, alerts in bounded["alerts"] for a in alerts}
    assert {piece["detector"] for piece in whole["shipped"]} <= detectors


def test_jobs_on_this_machine_give_what_one_process_gives(tmp_path):
    """`replay --jobs 2`: a local cluster whose workers are forked from the replay's
    process gives what one process gives, for a line's flows and lookups across shares."""
    require_module("distributed")
    crossing = tmp_path / "crossing.pcap"
    _crossing_capture(crossing)
    files = [PCAPS / "demo.pcap", crossing]
    one = _replay(tmp_path, "one", files)
    spread = _replay(tmp_path, "jobs", files, "--jobs", "2")
    assert one[2] == 0 and spread[2] == 0, spread[1]
    assert _alerts(tmp_path, "jobs") == _alerts(tmp_path, "one")
    assert _counters(tmp_path, "jobs") == _counters(tmp_path, "one")
    logs = _logs(tmp_path, "one")
    assert _logs(tmp_path, "jobs") == logs and logs["flow"] and logs["dns"] and logs["http"]
    assert _summary(spread[0]) == _summary(one[0])


def test_jobs_write_the_evidence_pcaps_of_the_alerts_a_flow_decides(tmp_path):
    """`replay --jobs 2` with its logs under a directory: each alert a flow decides names the
    evidence pcap one process writes for it, the same packets in it; the reduce's alerts
    (grouped wider than a flow) name none, and no file is left that no alert names."""
    require_module("distributed")
    files = [PCAPS / "demo.pcap"]
    runs = {}
    for name, extra in (("one", ()), ("jobs", ("--jobs", "2"))):
        out = tmp_path / name
        cmd = ybsensor_cmd() + ["replay", *map(str, files), "--config",
                                str(_config(tmp_path, name)), "-l", str(out), "--no-progress",
                                *extra]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert done.returncode == 0, done.stderr
        alerts = [json.loads(x) for x in (out / "alerts.jsonl").read_text().splitlines()]
        runs[name] = (out, alerts)
    (one_dir, one), (jobs_dir, jobs) = runs["one"], runs["jobs"]
    wider = {"internet_bound", "malicious_link", "shared_line"}

    def named(alerts, root):
        return {(a["detector"], a["first_frame"], a["community_id"]):
                (Path(a["evidence_pcap"]).relative_to(root).as_posix(),
                 Path(a["evidence_pcap"]).read_bytes()) if a["evidence_pcap"] else None
                for a in alerts}

    ones, spread = named(one, one_dir), named(jobs, jobs_dir)
    assert ones.keys() == spread.keys() and all(ones.values())
    for key, file in spread.items():
        if key[0] not in wider:
            assert file is not None, key               # a flow decides it: its worker writes
        if key[0] == "shared_line":
            assert file is None, key                   # over every row, on share 0
        if file is not None and file != ones[key]:
            # one process named the file after an earlier alert of the flow that the
            # reduce made (or shared_line): the spread replay has it from this alert
            assert any(f"_{d}_" in ones[key][0] for d in wider), (key, file[0], ones[key][0])
    assert sum(file == ones[key] for key, file in spread.items()) > len(spread) // 2
    written = {p.relative_to(jobs_dir).as_posix() for p in (jobs_dir / "evidence").glob("*.pcap")}
    assert written == {v[0] for v in spread.values() if v is not None}


def _share_outputs(result: dict) -> tuple:
    """What a share gives the reduce, but for the cluster path's own counters."""
    families = {(f.name, s.name, tuple(sorted(s.labels.items()))): s.value
                for f in result["families"] if not f.name.startswith("ybsensor_cluster_")
                for s in f.samples}
    shipped = [(p["key"], p["detector"], p["table"].frame.tolist()) for p in result["shipped"]]
    return (result["alerts"], result["stats"], families, result["flow_log"], shipped,
            result["refused"], result["warnings"])


def _decoded_counts(result: dict) -> dict[str, float]:
    return {f.name[len("ybsensor_cluster_batches_"):]: f.samples[0].value
            for f in result["families"] if f.name.startswith("ybsensor_cluster_batches_")}


def test_local_shares_decode_each_batch_once_and_give_what_they_give_alone(tmp_path):
    """Two shares forked on this machine, each batch decoded by one of them and mapped by
    the other from /dev/shm, give what each gives decoding every batch; one whose owner is
    not running decodes that owner's batches itself; the run's directory goes."""
    import multiprocessing

    from ybsensor.sensor import cluster, shared_decode
    from tools import forked
    config = str(_config(tmp_path, "shared"))
    crossing = tmp_path / "crossing.pcap"
    _crossing_capture(crossing)
    paths = [(str(p), str(p)) for p in (PCAPS / "demo.pcap", crossing)]
    alone = [cluster.replay_share(config, paths, k, 2, batch_frames=64) for k in range(2)]

    where = shared_decode.create(2)
    try:
        together = forked(lambda k: cluster.replay_share(config, paths, k, 2, batch_frames=64,
                                                         decoded=where), 2, timeout=300)
    finally:
        shared_decode.remove(where)
    assert not os.path.exists(where)
    batches = sum(1 for _ in cluster._batches(paths, print, lambda n: None,
                                              {"batch_frames": 64}, set()))
    counts = [_decoded_counts(together[k]) for k in range(2)]
    assert sum(c["mapped"] + c["decoded_again"] for c in counts) == batches
    assert sum(c["mapped"] for c in counts) > 0
    for k in range(2):
        assert _share_outputs(together[k]) == _share_outputs(alone[k])

    # share 1 alone, its partner's process gone, or ended (failed) with its process
    # running on: it decodes share 0's batches itself
    gone = multiprocessing.get_context("fork").Process(target=int)
    gone.start()
    gone.join()
    for partner, published in ((gone.pid, -1), (os.getpid(), shared_decode.ALL)):
        where = shared_decode.create(2)
        try:
            control = shared_decode.Exchange(where, 0, 2).control
            control[0] = (partner, published, -1)
            late = cluster.replay_share(config, paths, 1, 2, batch_frames=64, decoded=where)
        finally:
            shared_decode.remove(where)
        assert _decoded_counts(late) == {"mapped": 0, "decoded_again": batches // 2}
        assert _share_outputs(late) == _share_outputs(alone[1])


def test_jobs_with_a_worker_killed_give_what_one_process_gives_and_leave_no_shared_memory(
        tmp_path):
    """`replay --jobs 2` whose worker is killed while the shares exchange decoded batches
    through /dev/shm: the share is run again, the results are one process's, and the run's
    directory there is gone at the end."""
    psutil = require_module("psutil")
    require_module("distributed")
    from bench.mixed import SMALL, mixed_pcap
    from ybsensor.sensor import shared_decode
    crossing = tmp_path / "crossing.pcap"
    _crossing_capture(crossing)
    files = [PCAPS / "demo.pcap", crossing]
    files += _rotating(mixed_pcap(SMALL), tmp_path / "mix.pcap", SMALL // 4 + 7)
    one = _replay(tmp_path, "one", files)
    assert one[2] == 0, one[1]

    spread = _replay(tmp_path, "jobs", files, "--jobs", "2", wait=False)
    ours = os.path.join(shared_decode.SHM, f"{shared_decode.PREFIX}{spread.pid}-*")
    def named(p) -> str:
        try:
            return p.name().lower()
        except psutil.Error:      # a short-lived child gone between the two looks
            return ""

    killed = None
    while spread.poll() is None and killed is None:
        published = [f for d in glob.glob(ours) for f in os.listdir(d) if f != "control"]
        try:
            workers = [p for p in psutil.Process(spread.pid).children(recursive=True)
                       if "python" in named(p) or "ybsensor" in named(p)]
        except psutil.Error:
            workers = []
        if published and workers:
            try:
                os.kill(workers[0].pid, signal.SIGKILL)
                killed = workers[0].pid
            except ProcessLookupError:
                pass
        time.sleep(0.01)
    out, err, status = spread.communicate(timeout=300) + (spread.returncode,)
    assert killed is not None, "the replay ended before a worker could be killed"
    assert status == 0, err
    assert glob.glob(ours) == []
    assert _alerts(tmp_path, "jobs") == _alerts(tmp_path, "one")
    assert _counters(tmp_path, "jobs") == _counters(tmp_path, "one")
    logs = _logs(tmp_path, "one")
    assert _logs(tmp_path, "jobs") == logs and logs["flow"] and logs["dns"] and logs["http"]
    assert _summary(out) == _summary(one[0])


def test_a_local_share_that_fails_leaves_no_share_waiting_for_its_batches(tmp_path,
                                                                          monkeypatch):
    """A share that fails mid-replay (its worker process running on) tells the others it
    decides on no batch more: they decode its batches themselves instead of waiting."""
    from ybsensor.sensor import cluster, shared_decode
    config = str(_config(tmp_path, "failing"))
    demo = str(PCAPS / "demo.pcap")
    where = shared_decode.create(2)
    try:
        analysed = []

        def fail_third(part, key, batch, source, seq=0):
            analysed.append(seq)
            if len(analysed) == 3:
                raise RuntimeError("a share's fault")
        monkeypatch.setattr(cluster._Part, "batch", fail_third)
        with pytest.raises(RuntimeError):
            cluster.replay_share(config, [(demo, demo)], 0, 2, batch_frames=16, decoded=where)
        control = shared_decode.Exchange(where, 1, 2).control
        assert control[0, shared_decode.PUBLISHED] == shared_decode.ALL
    finally:
        shared_decode.remove(where)


def test_the_reduce_removes_the_evidence_of_alerts_it_drops(tmp_path):
    """An alert the reduce's rate limit drops leaves no evidence pcap, unless a kept alert
    names the same file; an alert the reduce made names none."""
    from ybsensor.sensor.cluster import _evidence_kept
    paths = [tmp_path / f"{k}.pcap" for k in range(3)]
    for p in paths:
        p.write_bytes(b"pcap")
    made = [{"detector": "d", "evidence_pcap": str(p)} for p in paths]
    made.append({"detector": "d", "evidence_pcap": str(paths[0])})   # the same flow's next
    results = [{"alerts": [((0, 0, 0), made[:2])]}, {"alerts": [((0, 1, 0), made[2:])]}]
    reduced = {"detector": "internet_bound"}
    kept = [made[3], made[1], reduced]                # made[0] and made[2] dropped
    _evidence_kept(results, kept)
    assert [p.exists() for p in paths] == [True, True, False]
    assert reduced["evidence_pcap"] is None and made[1]["evidence_pcap"] == str(paths[1])
