"""Serving the sensor's metrics over HTTP for Prometheus (`/metrics`, prometheus-client's
handler on a threading HTTP server bounded in connections, time and fds), and combining the metrics of several capture
processes into one exposition."""
from __future__ import annotations

import errno
import ipaddress
import resource
import socket
import sys
import threading
import time
from collections import Counter
from http.server import ThreadingHTTPServer
from typing import Iterable

from prometheus_client import MetricsHandler
from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric


class ListenError(Exception):
    """A listen address that is malformed or cannot be bound."""


def parse_listen(listen: str) -> tuple[str, int]:
    """HOST:PORT or [IPv6]:PORT -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise ListenError(f"{listen!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


CONNECTIONS = 16        # connections served at once (fewer under a low fd limit)
REQUEST_SECONDS = 10.0  # from accept to the last byte of the answer; then cut
BACKLOG = 64            # the listen queue
BACKOFF_SECONDS = 0.25  # accept failed for want of fds: wait, do not spin on the listener
NO_FDS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def fd_reserve(limit: int) -> int:
    """File descriptors kept free of connections for everything else (the alert log, its
    rotation and chain, evidence files): a quarter of the limit, at least 16."""
    return max(16, limit // 4)


class BoundedHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server whose cost a client cannot grow: at most `connections`
    at a time, each cut after REQUEST_SECONDS; past the cap the oldest connection still
    waiting for its request makes room (a scrape is not locked out by idle connections);
    no connection takes one of the fds kept in reserve; accept failing for want of fds
    backs off; a client that goes away is no error. What it refuses is counted by reason."""

    daemon_threads = True
    request_queue_size = BACKLOG

    def __init__(self, address, handler):
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        limit = limit if limit != resource.RLIM_INFINITY else 1 << 20
        self.fd_ceiling = limit - fd_reserve(limit)  # accepted fds at or above: refused
        self.connections = max(2, min(CONNECTIONS, limit // 8))
        self.lock = threading.Lock()
        self.open: dict[socket.socket, list] = {}    # connection -> [accepted at, answering]
        self.dropped = Counter()                     # reason -> connections cut or refused
        super().__init__(address, handler)

    def get_request(self):
        try:
            return super().get_request()
        except OSError as exc:
            if exc.errno in NO_FDS:
                self._drop("no_fds")
                time.sleep(BACKOFF_SECONDS)
            raise  # socketserver drops this accept

    def verify_request(self, request, client_address) -> bool:
        with self.lock:
            if request.fileno() >= self.fd_ceiling:
                self.dropped["fd_reserve"] += 1
                return False
            if len(self.open) >= self.connections:
                idle = [(at, conn) for conn, (at, answering) in self.open.items() if not answering]
                if not idle:
                    self.dropped["busy"] += 1
                    return False
                self._cut(min(idle, key=lambda x: x[0])[1], "evicted")
            self.open[request] = [time.monotonic(), False]
        return True

    def answering(self, request) -> None:
        """The request has come in whole: its connection is no longer evicted for room."""
        with self.lock:
            if request in self.open:
                self.open[request][1] = True

    def service_actions(self) -> None:
        """Each turn of serve_forever (every poll interval): cut connections past their time."""
        late = time.monotonic() - REQUEST_SECONDS
        with self.lock:
            for conn in [c for c, (at, _) in self.open.items() if at < late]:
                self._cut(conn, "timeout")

    def _cut(self, conn: socket.socket, reason: str) -> None:
        """End a connection (under the lock): its thread sees the end and closes it."""
        del self.open[conn]
        self.dropped[reason] += 1
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _drop(self, reason: str) -> None:
        with self.lock:
            self.dropped[reason] += 1

    def shutdown_request(self, request) -> None:
        with self.lock:
            self.open.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], OSError):  # the client went away, or was cut
            return
        super().handle_error(request, client_address)


class _Handler(MetricsHandler):
    def setup(self) -> None:
        self.timeout = REQUEST_SECONDS  # for each read and write of the connection
        super().setup()

    def do_GET(self) -> None:
        self.server.answering(self.request)
        super().do_GET()


class _DroppedCollector:
    def __init__(self, httpd: BoundedHTTPServer):
        self.httpd = httpd

    def collect(self):
        fam = CounterMetricFamily("ybsensor_metrics_connections_dropped",
                                  "Connections to the metrics server refused or cut, by reason: "
                                  "busy, evicted, timeout, fd_reserve, no_fds", labels=["reason"])
        with self.httpd.lock:
            counts = dict(self.httpd.dropped)
        for reason in ("busy", "evicted", "timeout", "fd_reserve", "no_fds"):
            fam.add_metric([reason], counts.get(reason, 0))
        yield fam


class MetricsServer:
    """A registry served at http://HOST:PORT/metrics from a daemon thread. The socket is
    bound when the object is made (so a port in use is an error at once); `start` serves."""

    def __init__(self, listen: str, registry):
        host, port = parse_listen(listen)
        try:
            family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        except ValueError:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]

        class Server(BoundedHTTPServer):
            address_family = family

        try:
            self.httpd = Server((host, port), type("Handler", (_Handler,), {"registry": registry}))
        except OSError as exc:
            raise ListenError(f"cannot serve metrics on {listen}: {exc.strerror or exc}") from exc
        self.registry, self.collector = registry, _DroppedCollector(self.httpd)
        registry.register(self.collector)
        self.host = host
        self.port = self.httpd.server_address[1]
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def start(self) -> "MetricsServer":
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="metrics",
                                       kwargs={"poll_interval": 0.2}, daemon=True)
        self.thread.start()
        return self

    def close(self) -> None:
        if self.thread is not None:
            self.httpd.shutdown()
            self.thread.join(timeout=5)
        self.httpd.server_close()
        try:
            self.registry.unregister(self.collector)
        except KeyError:  # closed twice
            pass


# ---------------------------------------------------------------------------------------
# Several processes, one exposition.

def _combine(name: str, mtype: str, a: float, b: float) -> float:
    if name.endswith("_created"):
        return min(a, b)           # the earliest start
    if mtype == "gauge" and name.endswith(("_timestamp_seconds", "_info")):
        return max(a, b)           # the latest time anything was seen; an info series is 1
    return a + b                   # counters, histograms, and gauges of amounts


def merge(snapshots: Iterable[list[Metric]]) -> list[Metric]:
    """The metric families of several processes combined: counters and histograms summed,
    `*_timestamp_seconds` and `*_info` gauges by their maximum, other gauges (amounts such
    as active flows) summed. Label sets are kept apart; families keep their first-seen order."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple, float]] = {}
    for snapshot in snapshots:
        for fam in snapshot:
            if fam.name not in families:
                families[fam.name] = Metric(fam.name, fam.documentation, fam.type, fam.unit)
                values[fam.name] = {}
            into = values[fam.name]
            for s in fam.samples:
                key = (s.name, tuple(sorted(s.labels.items())))
                into[key] = (s.value if key not in into
                             else _combine(s.name, fam.type, into[key], s.value))
    out = []
    for name, fam in families.items():
        for (sname, labels), value in values[name].items():
            fam.add_sample(sname, dict(labels), value)
        out.append(fam)
    return out


class Snapshots:
    """A collector over the latest metric families that each process sent, merged at
    scrape time; plus collectors of the serving process itself."""

    def __init__(self, local=()):
        self.latest: dict[object, list[Metric]] = {}
        self.local = list(local)
        self.lock = threading.Lock()

    def update(self, who, families: list[Metric]) -> None:
        with self.lock:
            self.latest[who] = families

    def collect(self):
        with self.lock:
            snapshots = list(self.latest.values())
        yield from merge(snapshots)
        for collector in self.local:
            yield from collector.collect()
