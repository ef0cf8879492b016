"""Serving the sensor's metrics over HTTP for Prometheus (`/metrics`, prometheus-client's
handler on a threading HTTP server), and combining the metrics of several capture
processes into one exposition."""
from __future__ import annotations

import ipaddress
import socket
import threading
from http.server import ThreadingHTTPServer
from typing import Iterable

from prometheus_client import MetricsHandler
from prometheus_client.metrics_core import Metric


class ListenError(Exception):
    """A listen address that is malformed or cannot be bound."""


def parse_listen(listen: str) -> tuple[str, int]:
    """HOST:PORT or [IPv6]:PORT -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise ListenError(f"{listen!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


class MetricsServer:
    """A registry served at http://HOST:PORT/metrics from a daemon thread. The socket is
    bound when the object is made (so a port in use is an error at once); `start` serves."""

    def __init__(self, listen: str, registry):
        host, port = parse_listen(listen)
        try:
            family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        except ValueError:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]

        class Server(ThreadingHTTPServer):
            address_family = family
            daemon_threads = True

        try:
            self.httpd = Server((host, port), MetricsHandler.factory(registry))
        except OSError as exc:
            raise ListenError(f"cannot serve metrics on {listen}: {exc.strerror or exc}") from exc
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
