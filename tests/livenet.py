"""Two network namespaces joined by a veth pair, made with pyroute2, for the live-capture
tests and the live benchmark: `ybsensor run` captures on one end (inside the capture
namespace), tcpreplay sends from the other. Nothing touches the host's interfaces; the
namespaces (and with them the veth pair) are removed by `close()`, which the fixtures call
in their finalizers whatever happened.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

from tools import pcap_bytes, require_module, require_tool, under_ci, ybsensor_cmd

import pytest


def require_root() -> None:
    if os.geteuid() != 0:
        message = "live capture in network namespaces needs root (CAP_NET_ADMIN, CAP_NET_RAW)"
        if under_ci():
            pytest.fail(f"{message}; under CI=true this is a failure", pytrace=False)
        pytest.skip(message)


MTU = 9000


class VethPair:
    """Namespaces `cap` and `gen`; veth `cap_if` in `cap`, its peer `gen_if` in `gen`."""

    def __init__(self, token: str | None = None):
        from pyroute2 import IPRoute, NetNS, netns

        token = token or uuid.uuid4().hex[:6]
        self.cap, self.gen = f"ybsensor-{token}-cap", f"ybsensor-{token}-gen"
        self.cap_if, self.gen_if = f"yb{token}c", f"yb{token}g"
        self._netns = netns
        netns.create(self.cap)
        try:
            netns.create(self.gen)
            with IPRoute() as ipr:
                ipr.link("add", ifname=self.cap_if, kind="veth",
                         peer={"ifname": self.gen_if, "net_ns_fd": self.gen})
                ipr.link("set", index=ipr.link_lookup(ifname=self.cap_if)[0], net_ns_fd=self.cap)
            for ns, ifname in ((self.cap, self.cap_if), (self.gen, self.gen_if)):
                # no IPv6 neighbour discovery or MLD: only what the test sends crosses the pair
                self.sysctl(ns, "net/ipv6/conf/all/disable_ipv6", "1")
                self.sysctl(ns, "net/ipv6/conf/default/disable_ipv6", "1")
                with NetNS(ns) as nsr:
                    nsr.link("set", index=nsr.link_lookup(ifname="lo")[0], state="up")
                    # room for tunnelled full-size packets (a veth drops frames over its MTU)
                    nsr.link("set", index=nsr.link_lookup(ifname=ifname)[0], mtu=MTU)
                    nsr.link("set", index=nsr.link_lookup(ifname=ifname)[0], state="up")
        except BaseException:
            self.close()
            raise
        self.wait_up()

    def sysctl(self, ns: str, key: str, value: str) -> None:
        self._netns.pushns(ns)
        try:
            Path("/proc/sys", key).write_text(value)
        except OSError:
            pass  # no IPv6 in this kernel: nothing to quieten
        finally:
            self._netns.popns()

    def wait_up(self, timeout: float = 10.0) -> None:
        from pyroute2 import NetNS

        deadline = time.monotonic() + timeout
        while True:
            with NetNS(self.cap) as nsr:
                link = nsr.get_links(nsr.link_lookup(ifname=self.cap_if)[0])[0]
                if link.get_attr("IFLA_OPERSTATE") == "UP":
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.cap_if} did not come up")
            time.sleep(0.05)

    def add_down_link(self, name: str) -> None:
        """An interface in the capture namespace, left down (one end of a second veth pair,
        both ends there: not every kernel has the dummy driver)."""
        from pyroute2 import NetNS

        with NetNS(self.cap) as nsr:
            if not nsr.link_lookup(ifname=name):
                nsr.link("add", ifname=name, kind="veth", peer={"ifname": f"{name}p"})

    def exec(self, ns: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]

    def http_get(self, url: str, timeout: float = 5.0) -> bytes:
        """GET from inside the capture namespace (the socket is made there)."""
        self._netns.pushns(self.cap)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return resp.read()
        finally:
            self._netns.popns()

    def replay(self, pcap: Path, *options: str, timeout: float = 120) -> str:
        proc = subprocess.run(self.exec(self.gen, ["tcpreplay", "-i", self.gen_if, *options,
                                                   str(pcap)]),
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"tcpreplay failed ({proc.returncode}): {proc.stderr}")
        return proc.stdout

    def close(self) -> None:
        for ns in (self.cap, self.gen):
            try:
                self._netns.remove(ns)
            except OSError:
                pass


class LiveSensor:
    """`ybsensor run` started inside the capture namespace; its metrics read from there."""

    def __init__(self, pair: VethPair, *args: str, listen: str = "127.0.0.1:9108",
                 cwd: Path | None = None, start_timeout: float = 30.0):
        self.pair = pair
        self.url = f"http://{listen}/metrics"
        self.argv = pair.exec(pair.cap, [*ybsensor_cmd(), "run", "--interface", pair.cap_if,
                                         "--listen", listen, *args])
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=cwd)
        self.out = self.err = ""
        self.wait_until_serving(start_timeout)

    def wait_until_serving(self, start_timeout: float = 30.0) -> None:
        deadline = time.monotonic() + start_timeout
        while True:
            if self.proc.poll() is not None:
                self.finish()
                raise RuntimeError(f"ybsensor run exited {self.proc.returncode}:\n{self.err}")
            try:
                self.pair.http_get(self.url, timeout=1.0)
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"ybsensor run did not serve metrics:\n{self.err}")
                time.sleep(0.1)

    def metrics(self) -> dict[tuple, float]:
        """(sample name, sorted label items) -> value, from /metrics."""
        from prometheus_client.parser import text_string_to_metric_families

        text = self.pair.http_get(self.url).decode()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for fam in text_string_to_metric_families(text) for s in fam.samples}

    def wait_for(self, predicate, timeout: float = 20.0, what: str = "the metrics"):
        """Poll /metrics until predicate(metrics) is true; the last metrics read."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.metrics()
            if predicate(got):
                return got
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{what} never came: {summary(got)}")
            time.sleep(0.1)

    def signal(self, signum: int) -> None:
        # `ip netns exec` execs the program: the pid is ybsensor's supervisor
        os.kill(self.proc.pid, signum)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
        return self.finish(timeout)

    def finish(self, timeout: float = 30.0) -> int:
        out, err = self.proc.communicate(timeout=timeout)
        self.out += out
        self.err += err
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.finish(timeout=10)
        except (subprocess.TimeoutExpired, ValueError):
            pass


def total(metrics: dict, name: str, **labels) -> float:
    """The sum of the samples `name` whose labels include `labels`."""
    return sum(v for (n, lab), v in metrics.items()
               if n == name and all(dict(lab).get(k) == w for k, w in labels.items()))


def by_label(metrics: dict, name: str, label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for (n, lab), v in metrics.items():
        if n == name:
            key = dict(lab).get(label)
            out[key] = out.get(key, 0.0) + v
    return out


def summary(metrics: dict) -> str:
    names = ("ybsensor_packets_total", "ybsensor_capture_packets_total",
             "ybsensor_capture_drops_total", "ybsensor_alerts_total")
    return ", ".join(f"{n}={total(metrics, n):g}" for n in names)


def frames_of(path: Path) -> list[bytes]:
    """The frames of a capture, as bytes, through our own reader."""
    from ybsensor.sensor.sources import read_capture

    out = []
    for batch in read_capture(path):
        for off, cap in zip(batch.offset.tolist(), batch.caplen.tolist()):
            out.append(batch.data[off: off + cap].tobytes())
    return out


def write_capture(path: Path, frames: list[bytes], start: int = 1_735_776_000,
                  step_us: int = 100) -> Path:
    ts = [(start + (i * step_us) // 1_000_000, (i * step_us) % 1_000_000)
          for i in range(len(frames))]
    path.write_bytes(pcap_bytes(frames, ts=ts))
    return path


@contextlib.contextmanager
def veth_pair_for_replay():
    """A veth pair between two fresh namespaces, with what replaying into it needs (root,
    pyroute2, ip, tcpreplay), removed again whatever happens."""
    require_root()
    require_module("pyroute2")
    require_tool("ip")
    require_tool("tcpreplay")
    veth = VethPair()
    try:
        yield veth
    finally:
        veth.close()
