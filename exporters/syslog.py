"""Alerts to a syslog server (RFC 5424) or a Unix socket, beside the alert log.

A sink never stalls capture: `send` only puts records on a bounded queue, and one thread per
sink does the network I/O (connecting again with backoff when the server goes away). When
the queue is full the record is dropped and counted (`ybsensor_sink_dropped_total`), as a
record in flight on a connection that broke is (`ybsensor_sink_errors_total` counts the
failures).

Targets (`[[alerts.sinks]] url`):
- `udp://HOST:PORT` — one datagram a record (RFC 5426);
- `tcp://HOST:PORT` — octet-counted frames on a stream (RFC 6587 §3.4.1);
- `tls://HOST:PORT` — the same over TLS (RFC 5425), the server checked against `ca_file`
  (or the system's trust store);
- `unix:PATH` — one datagram a record to a local socket (`/dev/log`, a collector's socket).

Each message is `<PRI>1 TIMESTAMP HOSTNAME ybsensor PROCID DETECTOR - JSON`: facility
local0, the syslog severity from the alert's (critical 2, high 3, medium 4, low 5), the
alert's own time (RFC 3339, UTC), and the alert record exactly as the log holds it (the
same masked fields) as the message.
"""
from __future__ import annotations

import collections
import json
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from prometheus_client.core import CounterMetricFamily

from ybsensor.core.timestamps import rfc3339

FACILITY_LOCAL0 = 16
SEVERITY = {"critical": 2, "high": 3, "medium": 4, "low": 5}
DEFAULT_SEVERITY = 6                    # informational: a record without a severity
SCHEMES = ("udp", "tcp", "tls", "unix")
MAX_DATAGRAM = 65000                    # what one UDP datagram can carry, with headers
RETRY_FIRST, RETRY_MOST = 0.5, 30.0     # seconds between attempts to reach the server


class SinkError(ValueError):
    """A sink URL or option that cannot work."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str = ""
    port: int = 0
    path: str = ""

    @classmethod
    def parse(cls, url: str) -> "Target":
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise SinkError(f"sink {url!r}: the scheme must be one of {', '.join(SCHEMES)}")
        if parts.scheme == "unix":
            path = parts.path or parts.netloc
            if not path:
                raise SinkError(f"sink {url!r}: unix: needs a socket path (unix:/dev/log)")
            return cls("unix", path=path)
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or not port:
            raise SinkError(f"sink {url!r}: needs a host and a port ({parts.scheme}://HOST:PORT)")
        return cls(parts.scheme, host=parts.hostname, port=port)

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.scheme == "unix" else \
            f"{self.scheme}://{self.host}:{self.port}"


def rfc5424(record: dict, hostname: str, procid: int) -> bytes:
    """One alert record as an RFC 5424 message (no framing)."""
    pri = FACILITY_LOCAL0 * 8 + SEVERITY.get(record.get("severity"), DEFAULT_SEVERITY)
    ts = record.get("ts")
    stamp = rfc3339(ts if isinstance(ts, (int, float)) else time.time())
    msgid = str(record.get("detector") or "-")[:32]
    body = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    return f"<{pri}>1 {stamp} {hostname} ybsensor {procid} {msgid} - {body}".encode()


class SyslogSink:
    """One target: a bounded queue and the thread that empties it."""

    def __init__(self, url: str, max_queue: int = 10000, ca_file: str | None = None,
                 hostname: str | None = None):
        self.target = Target.parse(url)
        self.name = str(self.target)
        self.ca_file = ca_file
        self.hostname = (hostname or socket.gethostname() or "-").split(".")[0][:255]
        self.queue: collections.deque[bytes] = collections.deque()
        self.max_queue = max_queue
        self.sent = self.dropped = self.errors = 0
        self._lock = threading.Condition()
        self._closing = False
        self._sock = None
        self._thread = threading.Thread(target=self._run, name=f"ybsensor-sink {self.name}",
                                        daemon=True)
        self._thread.start()

    # -- the capture side: never blocks ------------------------------------------------

    def send(self, records: list[dict]) -> None:
        procid = os.getpid()
        with self._lock:
            for record in records:
                if len(self.queue) >= self.max_queue:
                    self.dropped += 1
                    continue
                self.queue.append(rfc5424(record, self.hostname, procid))
            self._lock.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (for up to `timeout` seconds), then stop; what is left is
        counted as dropped."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._closing = True
            self._lock.notify()
        self._thread.join(max(deadline - time.monotonic(), 0))
        with self._lock:
            self.dropped += len(self.queue)
            self.queue.clear()
        self._disconnect(graceful=True)

    # -- the sink's thread ---------------------------------------------------------------

    def _run(self) -> None:
        delay = RETRY_FIRST
        while True:
            with self._lock:
                while not self.queue and not self._closing:
                    self._lock.wait()
                if not self.queue:
                    return
                message = self.queue[0]
            try:
                self._deliver(message)
            except OSError:
                self.errors += 1
                self._disconnect()
                if self._closing:
                    return
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MOST)
                continue
            delay = RETRY_FIRST
            with self._lock:
                if self.queue and self.queue[0] is message:
                    self.queue.popleft()
                self.sent += 1

    def _deliver(self, message: bytes) -> None:
        t = self.target
        if self._sock is None:
            self._sock = self._connect()
        if t.scheme in ("udp", "unix"):
            if t.scheme == "udp":
                message = message[:MAX_DATAGRAM]
            self._sock.send(message)
        else:
            self._sock.sendall(b"%d " % len(message) + message)

    def _connect(self):
        t = self.target
        if t.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.connect(t.path)
            except OSError:
                sock.close()
                raise
            return sock
        kind = socket.SOCK_DGRAM if t.scheme == "udp" else socket.SOCK_STREAM
        family, _, _, _, address = socket.getaddrinfo(t.host, t.port, type=kind)[0]
        sock = socket.socket(family, kind)
        sock.settimeout(10)
        try:
            sock.connect(address)
            if t.scheme == "tls":
                context = ssl.create_default_context(cafile=self.ca_file)
                sock = context.wrap_socket(sock, server_hostname=t.host)
        except OSError:
            sock.close()
            raise
        return sock

    def _disconnect(self, graceful: bool = False) -> None:
        """Close the connection; `graceful`: tell the server we are done and read what it
        still sends (a TLS 1.3 server's session tickets) first, since closing a socket with
        unread data resets the connection, and a server may drop what it had not yet read."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            if graceful and self.target.scheme in ("tcp", "tls"):
                sock.settimeout(5)
                if isinstance(sock, ssl.SSLSocket):
                    sock = sock.unwrap()
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(4096):
                    pass
        except OSError:
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass


class Sinks:
    """Every configured sink; what the alert path calls, and their metrics."""

    def __init__(self, sinks: list[SyslogSink]):
        self.sinks = sinks

    @classmethod
    def from_config(cls, settings: list[dict]) -> "Sinks":
        return cls([SyslogSink(s["url"], s.get("max_queue", 10000), s.get("ca_file"))
                    for s in settings])

    def send(self, records: list[dict]) -> None:
        if records:
            for sink in self.sinks:
                sink.send(records)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()

    def metric_families(self):
        names = (("sent", "ybsensor_sink_records", "Alert records delivered to each sink"),
                 ("dropped", "ybsensor_sink_dropped", "Alert records a sink gave up (its "
                                                       "queue full, or closing)"),
                 ("errors", "ybsensor_sink_errors", "Failed deliveries or connections"))
        for attr, name, text in names:
            fam = CounterMetricFamily(name, text, labels=["sink"])
            for sink in self.sinks:
                fam.add_metric([sink.name], getattr(sink, attr))
            yield fam
