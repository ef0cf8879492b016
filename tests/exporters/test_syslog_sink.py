"""The syslog sinks against a real rsyslog started here (UDP, TCP, TLS and a Unix socket on
this machine only): every record arrives, intact, with the severity and message id it
should have; a sink whose server is gone drops and counts, and never blocks the caller."""
from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from ybsensor.exporters.syslog import SEVERITY, SinkError, SyslogSink, Target
from tools import require_tool

RECORDS = 300


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rsyslog:
    """rsyslogd in the foreground with inputs on loopback and a socket under `tmp`; every
    message it receives goes to out.log as `MSGID SEVERITY FACILITY MSG`."""

    def __init__(self, tmp: Path):
        openssl = require_tool("openssl")
        self.tmp = tmp
        key, cert = tmp / "key.pem", tmp / "cert.pem"
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost"],
                       check=True, capture_output=True, timeout=60)
        self.cert = cert
        self.udp, self.tcp, self.tls = free_port(socket.SOCK_DGRAM), free_port(), free_port()
        self.sock, self.out = tmp / "log.sock", tmp / "out.log"
        conf = tmp / "rsyslog.conf"
        conf.write_text(f"""
global(workDirectory="{tmp}" DefaultNetstreamDriverCAFile="{cert}"
       DefaultNetstreamDriverCertFile="{cert}" DefaultNetstreamDriverKeyFile="{key}"
       maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
template(name="raw" type="string" string="%msgid% %syslogseverity% %syslogfacility% %msg%\\n")
ruleset(name="all") {{ action(type="omfile" file="{self.out}" template="raw") }}
input(type="imudp" address="127.0.0.1" port="{self.udp}" ruleset="all" rcvbufSize="16m")
input(type="imtcp" address="127.0.0.1" port="{self.tcp}" ruleset="all")
input(type="imtcp" address="127.0.0.1" port="{self.tls}" ruleset="all"
      StreamDriver.Name="ossl" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imuxsock" Socket="{self.sock}" ruleset="all" UseSpecialParser="off"
      ParseHostname="on")
""")
        self.proc = subprocess.Popen([require_tool("rsyslogd"), "-n", "-f", str(conf),
                                      "-i", str(tmp / "rsyslog.pid")],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        while not self._listening():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"rsyslogd did not start: {self.proc.stdout.read()}")
            time.sleep(0.1)

    def _listening(self) -> bool:
        if not self.sock.exists():
            return False
        for port in (self.tcp, self.tls):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return False
        return True

    def lines(self, want: int, timeout: float = 30.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            text = self.out.read_text(encoding="utf-8") if self.out.exists() else ""
            got = text.splitlines()
            if len(got) >= want or time.monotonic() > deadline:
                return got
            time.sleep(0.1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


@pytest.fixture
def rsyslog(tmp_path):
    require_tool("rsyslogd")
    server = Rsyslog(tmp_path)
    yield server
    server.close()


def records(tag: str) -> list[dict]:
    """Alert-shaped records: every severity, text from the wire in Chinese, masked
    identifiers, nested evidence, one long enough to need several TCP segments."""
    out = []
    for k in range(RECORDS):
        severity = list(SEVERITY)[k % len(SEVERITY)]
        out.append({"ts": 1735776000 + k / 10, "detector": ["internet_bound", "plaintext_pii",
                                                            "remote_control"][k % 3],
                    "severity": severity, "institution": "H22010200001", "seq": k + 1,
                    "evidence": {"sink": tag, "name": f"{k}.例子.com",
                                 "id": "220102********123X", "pad": "x" * (k * 40 % 9000)}})
    return out


@pytest.mark.parametrize("scheme", ["udp", "tcp", "tls", "unix"])
def test_every_record_arrives_intact(rsyslog, scheme):
    url = {"udp": f"udp://127.0.0.1:{rsyslog.udp}", "tcp": f"tcp://127.0.0.1:{rsyslog.tcp}",
           "tls": f"tls://localhost:{rsyslog.tls}", "unix": f"unix:{rsyslog.sock}"}[scheme]
    sent = records(scheme)
    sink = SyslogSink(url, ca_file=str(rsyslog.cert))
    for lo in range(0, RECORDS, 50):       # a batch at a time, as the alert path sends
        sink.send(sent[lo:lo + 50])
    sink.close(timeout=30)
    assert (sink.sent, sink.dropped, sink.errors) == (RECORDS, 0, 0)
    got = [line.split(" ", 3) for line in rsyslog.lines(RECORDS)]
    assert len(got) == RECORDS
    received = sorted((json.loads(msg) for _, _, _, msg in got), key=lambda r: r["seq"])
    assert received == sent                    # the records exactly, unicode included
    for msgid, severity, facility, msg in got:
        record = json.loads(msg)
        assert msgid == record["detector"]
        assert int(severity) == SEVERITY[record["severity"]]
        assert int(facility) == 16             # local0


def test_a_sink_whose_server_is_gone_drops_and_counts(tmp_path):
    """Nothing listens: the caller is never held up (send only queues), the queue keeps its
    bound, and every record is accounted for as sent or dropped."""
    port = free_port()
    sink = SyslogSink(f"tcp://127.0.0.1:{port}", max_queue=100)
    many = records("gone") * 10
    sink.send(many)
    assert len(sink.queue) <= 100
    assert sink.dropped >= len(many) - 100
    deadline = time.monotonic() + 10
    while sink.errors == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sink.errors > 0
    sink.close(timeout=0.5)
    assert sink.sent == 0 and sink.dropped == len(many)


@pytest.mark.parametrize("url, message", [
    ("syslog://host:514", "scheme must be one of"),
    ("tcp://host", "needs a host and a port"),
    ("udp://:514", "needs a host and a port"),
    ("unix:", "needs a socket path"),
])
def test_bad_sink_urls_are_clear_errors(url, message):
    with pytest.raises(SinkError, match=message):
        Target.parse(url)


def test_a_replay_sends_its_alerts_to_the_configured_sink_and_names_the_sensor(tmp_path):
    """[[alerts.sinks]] and [events] through `ybsensor replay`: every alert written to the
    log also reaches the sink (a UDP socket of this test's), with the sensor's name, its
    event type and an RFC 3339 timestamp; and the flow log is written."""
    from click.testing import CliRunner

    from ybsensor.sensor.cli import cli
    from tools import PCAPS

    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(10)
    example = (PCAPS / "example.toml").read_text()
    config = tmp_path / "sensor.toml"
    config.write_text(
        example.replace('path = "alerts.jsonl"', f'path = "{tmp_path / "alerts.jsonl"}"')
        .replace('paths = ["intel/demo.txt"]', f'paths = ["{PCAPS / "intel" / "demo.txt"}"]')
        .replace('path = "allocations.csv"', f'path = "{PCAPS / "allocations.csv"}"')
        + f"""
[[alerts.sinks]]
url = "udp://127.0.0.1:{listener.getsockname()[1]}"

[events]
sensor = "edge-7"
flow = "{tmp_path / 'flows.jsonl'}"
""")
    result = CliRunner().invoke(cli, ["replay", str(PCAPS / "demo.pcap"), "--config", str(config),
                                      "-l", str(tmp_path), "--no-progress"])
    assert result.exit_code == 0, result.output
    logged = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert len(logged) > 5
    for a in logged:
        assert a["event_type"] == "alert" and a["sensor"] == "edge-7"
        assert a["timestamp"].endswith("Z") and a["timestamp"][:10] == "2025-01-02"
    received = [json.loads(listener.recv(65536).decode().split(" - ", 1)[1]) for _ in logged]
    # the records as the log holds them, less the chain's fields the log appends
    key = lambda r: (r["ts"], r["detector"], r["first_frame"], r["community_id"])  # noqa: E731
    chained = ("seq", "prev_hash", "dropped_before")
    assert sorted(received, key=key) == sorted(
        ({k: v for k, v in a.items() if k not in chained} for a in logged), key=key)
    flows = [json.loads(line) for line in (tmp_path / "flows.jsonl").read_text().splitlines()]
    assert flows and all(f["sensor"] == "edge-7" and f["event_type"] == "flow" for f in flows)
    assert {a["community_id"] for a in logged} <= {f["community_id"] for f in flows}
    listener.close()


@pytest.mark.parametrize("table, message", [
    ('[[alerts.sinks]]\nurl = "syslog://x:514"\n', "scheme must be one of"),
    ('[[alerts.sinks]]\nmax_queue = 10\n', "needs a url"),
    ('[[alerts.sinks]]\nurl = "tcp://127.0.0.1:514"\nmax_queue = 0\n', "between 1 and"),
    ('[[alerts.sinks]]\nurl = "tls://h:6514"\nca_file = "no-such.pem"\n', "not a file that can be read"),
    ('[events]\nflow = "/proc/nonexistent/flows.jsonl"\n', "events"),
])
def test_sink_and_event_mistakes_are_caught_by_check_config(tmp_path, table, message):
    from tools import ybsensor_cmd

    config = tmp_path / "sensor.toml"
    config.write_text('[network]\nprivate = ["10.0.0.0/8"]\n\n' + table)
    proc = subprocess.run([*ybsensor_cmd(), "check-config", str(config)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and f"{config}:" in proc.stderr
    assert "Traceback" not in proc.stderr
