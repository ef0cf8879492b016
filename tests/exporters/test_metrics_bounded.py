"""The metrics server cannot be stalled by a local user: idle connections past the fd limit,
a request that trickles in, clients that go away mid-answer. Real sockets on 127.0.0.1."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from ybsensor.exporters import http

CODE = Path(http.__file__).resolve().parents[1]  # the tree under test, for the subprocess

FD_LIMIT = 64
IDLE = 120  # idle connections: far past what the fd limit allows

# A process serving metrics under a low fd limit, as the systemd unit's LimitNOFILE would
# set it; on stdin: "cpu" prints its CPU seconds, "log" opens and appends to four files at
# once (the alert log, its chain and two evidence pcaps), "quit" ends it.
SERVER = textwrap.dedent("""
    import os, resource, sys
    resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, {limit}))
    from prometheus_client import CollectorRegistry, Counter
    from ybsensor.exporters.http import MetricsServer
    registry = CollectorRegistry()
    Counter("probe", "a probe", registry=registry).inc()
    server = MetricsServer("127.0.0.1:0", registry).start()
    print(server.port, flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "cpu":
            t = os.times()
            print(t.user + t.system, flush=True)
        elif cmd == "log":
            try:
                files = [open(os.path.join(sys.argv[1], f"f{{k}}"), "a") for k in range(4)]
                for fh in files:
                    fh.write("x\\n")
                    fh.close()
                print("ok", flush=True)
            except OSError as exc:
                print(f"failed: {{exc}}", flush=True)
        elif cmd == "quit":
            break
    server.close()
""")


def _ask(proc, command: str) -> str:
    proc.stdin.write(command + "\n")
    proc.stdin.flush()
    return proc.stdout.readline().strip()


def _idle_connections(port: int, count: int, patience: float = 10.0) -> list[socket.socket]:
    """Up to `count` connections that never send a byte, opened one after the other for
    at most `patience` seconds (a server that stops accepting fills its listen queue)."""
    socks = []
    give_up = time.monotonic() + patience
    while len(socks) < count and time.monotonic() < give_up:
        s = socket.socket()
        s.settimeout(1.0)
        try:
            s.connect(("127.0.0.1", port))
            socks.append(s)
        except OSError:
            s.close()
    return socks


def _scrape(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=8) as reply:
        assert reply.status == 200
        return reply.read()


def _hang_up_mid_answer(port: int) -> None:
    """Ask for /metrics and reset the connection at once (RST: the server's write fails)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()


def test_idle_connections_past_the_fd_limit_do_not_stall_the_server(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(CODE))
    proc = subprocess.Popen([sys.executable, "-c", SERVER.format(limit=FD_LIMIT), str(tmp_path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path, env=env)
    socks = []
    try:
        port = int(proc.stdout.readline())
        socks = _idle_connections(port, IDLE)
        time.sleep(1.0)  # the server takes what it takes of them
        before = float(_ask(proc, "cpu"))
        time.sleep(2.0)
        used = float(_ask(proc, "cpu")) - before
        # a bound, not a timing: a server spinning on accept burns the whole window
        assert used < 1.0, f"{used:.2f} s of CPU in 2 s with {IDLE} idle connections"
        assert b"probe_total 1.0" in _scrape(port)
        assert _ask(proc, "log") == "ok"
        for _ in range(20):
            _hang_up_mid_answer(port)
        assert b"probe_total 1.0" in _scrape(port)
        body = _scrape(port).decode()
        dropped = sum(float(line.split()[-1]) for line in body.splitlines()
                      if line.startswith("ybsensor_metrics_connections_dropped_total"))
        assert dropped >= IDLE // 2  # idle ones made room, and were counted
    finally:
        for s in socks:
            s.close()
        if proc.poll() is None:
            try:
                _ask(proc, "quit")
            except (BrokenPipeError, ValueError):
                pass
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err


@pytest.fixture
def quick_server(monkeypatch):
    """A server that cuts a connection after half a second."""
    monkeypatch.setattr(http, "REQUEST_SECONDS", 0.5, raising=False)
    registry = CollectorRegistry()
    Counter("probe", "a probe", registry=registry).inc()
    server = http.MetricsServer("127.0.0.1:0", registry).start()
    yield server
    server.close()


def test_a_request_that_trickles_in_is_cut(quick_server):
    """slowloris: a byte now and then keeps each read alive, not the connection."""
    s = socket.create_connection(("127.0.0.1", quick_server.port), timeout=1)
    s.sendall(b"GET /metrics HTTP/1.0\r\n")
    closed = False
    for _ in range(50):  # up to about 10 s of trickling
        try:
            s.sendall(b"X")
            time.sleep(0.2)
            s.setblocking(False)
            try:
                closed = s.recv(1024) == b""
            except BlockingIOError:
                pass
            s.setblocking(True)
        except OSError:  # reset, or a broken pipe: cut
            closed = True
        if closed:
            break
    s.close()
    assert closed
    assert b"probe_total 1.0" in _scrape(quick_server.port)
