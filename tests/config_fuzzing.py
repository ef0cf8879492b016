"""Hostile configurations, for tests/sensor/test_config_fuzz.py (bounded) and `make fuzz` (long):
a good configuration with one to three settings set to what an attacker or an unlucky
operator would write there (NaN, infinities, wrong types, huge and negative numbers, paths
into /proc, devices, links, directories, files of the wrong content), or its text damaged
byte by byte. Each goes through

- `check-config` in this process: exit 0 or a one-line message and exit 2, never a
  traceback;
- a replay of a small capture when check-config accepted it: exit 0 (whatever check-config
  passes must work);
- a reload of a supervisor and its workers (`Harness`: real `sensor.live` objects joined by
  pipes, no capture): refused with the running configuration kept, or taken up by every
  worker, which then runs a batch; never an exception;

and `make fuzz` sends a real SIGHUP to `ybsensor run` on the loopback interface (a capture
filter that nothing matches) with each configuration.
"""
from __future__ import annotations

import contextlib
import io
import math
import multiprocessing
import os
import random
import sys
import traceback
from pathlib import Path
from types import SimpleNamespace

from tools import ONE_HOSPITAL, PCAPS

CAPTURE = PCAPS / "cases" / "internet_bound_vpdn_l2tp" / "input.pcap"
MAX_FLOWS_RUN = 100_000  # larger tables are checked, not allocated (a shared machine)

BASE = {
    "network": {"private": ["10.0.0.0/8", "100.64.0.0/10", "fd00::/8"],
                "platform": ["10.200.0.0/16"]},
    "institution": [{"code": "H1", "name": "Hospital", "ranges": ["10.1.2.0/24"],
                     "lines": ["vlan:100", "l2tp:7/*"], "access": "dedicated"},
                    {"code": "P1", "ranges": ["100.64.17.0/24"], "lines": ["l2tp:9/*"],
                     "access": "vpdn"}],
    "alerts": {"path": "{dir}/alerts.jsonl", "dedup_seconds": 60, "max_per_second": 100,
               "fsync_seconds": 1, "rotate_bytes": 1 << 20, "keep": 3, "max_backlog": 100},
    "evidence": {"dir": "{dir}/evidence", "packets_per_flow": 5, "max_bytes": 1 << 20,
                 "mask": True},
    "metrics": {"listen": "127.0.0.1:9108"},
    "flows": {"max_flows": 1000, "idle_seconds": 60},
    "reassembly": {"memory_mb": 16, "timeout_seconds": 30, "max_fragments": 64},
    "decoders": {"l2tpv3_cookie_len": "detect", "l2tpv3_l2_specific": "detect"},
    "detectors": {"internet_bound": {"enabled": True, "internal_domains": ["ybj.example.cn"]},
                  "malicious_link": {"enabled": True, "paths": [], "check_seconds": 5},
                  "plaintext_pii": {"enabled": True, "hash_key_file": "{dir}/hash.key"}},
}

NUMBERS = [math.nan, math.inf, -math.inf, 0, -1, -0.0, 1e-300, 0.5, 1e300, 2**63 - 1,
           -(2**63), 2**31, 10**12, 3]
OTHERS = ["", " ", "x", "nan", True, False, [], [1], ["x"], {}, {"a": 1}, "10.0.0.0/8",
          "\u0000", "é" * 300]
PATHS = ["/proc/nonexistent/a.jsonl", "/proc/self/status", "/dev/null", "/dev/zero", "/",
         "/etc/hostname/x", "{dir}", "{dir}/link", "{dir}/fifo", "{dir}/sub/deeper/a.jsonl",
         "{dir}/notes.txt", "{dir}/binary.bin", "{dir}/empty", "{dir}/../x.jsonl", "rel.jsonl",
         "{dir}/hash.key", "/sys/kernel/a"]
PATH_KEYS = {("alerts", "path"), ("evidence", "dir"), ("allocations", "path"),
             ("detectors.plaintext_pii", "hash_key_file")}


def hostile_dir(where: Path) -> Path:
    """A directory holding the bad files the paths above name."""
    where.mkdir(parents=True, exist_ok=True)
    victim = where / "victim"
    victim.write_text("precious\n")
    for name, target in (("link", victim),):
        if not (where / name).is_symlink():
            (where / name).symlink_to(target)
    if not (where / "fifo").exists():
        os.mkfifo(where / "fifo")
    (where / "notes.txt").write_text("not hex, not CSV, not a log\n")
    (where / "binary.bin").write_bytes(bytes(range(256)))
    (where / "empty").write_bytes(b"")
    (where / "hash.key").write_text("00" * 32 + "\n")
    return where


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if -(2**63) <= value < 2**63 else str(2**63 - 1)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") \
            if math.isinf(value) else repr(value)
    if isinstance(value, str):
        out = '"'
        for ch in value:
            out += (f"\\u{ord(ch):04x}" if ord(ch) < 32 or ch in '"\\' or 0xD800 <= ord(ch) < 0xE000
                    else ch)
        return out + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def to_toml(doc: dict) -> str:
    lines = []
    for table, body in doc.items():
        if isinstance(body, list) and body and all(isinstance(x, dict) for x in body):
            for item in body:
                lines.append(f"[[{table}]]")
                lines += [f"{k} = {toml_value(v)}" for k, v in item.items()]
        elif isinstance(body, dict) and table == "detectors":
            for name, settings in body.items():
                lines.append(f"[detectors.{name}]")
                lines += [f"{k} = {toml_value(v)}" for k, v in settings.items()]
        elif isinstance(body, dict):
            lines.append(f"[{table}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in body.items()]
        else:
            lines.insert(0, f"{table} = {toml_value(body)}")
    return "\n".join(lines) + "\n"


def _settings(doc: dict):
    """Every (table path, key) of the document that can be set."""
    for table, body in doc.items():
        if table == "detectors":
            for name, settings in body.items():
                yield from ((("detectors", name), k) for k in settings)
        elif isinstance(body, list):
            for i, item in enumerate(body):
                yield from (((table, i), k) for k in item)
        else:
            yield from (((table,), k) for k in body)


def _get(doc: dict, where: tuple):
    for part in where:
        doc = doc[part]
    return doc


def mutate(rng: random.Random, directory: Path) -> str:
    """One hostile configuration's text."""
    import copy
    import json

    doc = json.loads(json.dumps(BASE).replace("{dir}", str(directory)))
    if rng.random() < 0.1:
        text = to_toml(doc).encode()
        data = bytearray(text)
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(data))
            data[i] = rng.choice([rng.randrange(256), ord("="), ord("["), ord('"'), ord("\n")])
        return data.decode("utf-8", "replace")
    settings = list(_settings(doc))
    targeted = rng.random() < 0.5  # one setting, a value of its own kind: what gets past a type check
    if targeted:
        settings = [(w, k) for w, k in settings
                    if (".".join(p for p in w if isinstance(p, str)), k) in PATH_KEYS
                    or isinstance(_get(doc, w)[k], (int, float)) and not isinstance(_get(doc, w)[k], bool)]
    for _ in range(1 if targeted else rng.randint(1, 3)):
        where, key = rng.choice(settings)
        holder = _get(doc, where)
        name = ".".join(str(p) for p in where if isinstance(p, str))
        if (name, key) in PATH_KEYS:
            pool = PATHS if targeted else PATHS + OTHERS
        else:
            pool = NUMBERS if targeted else NUMBERS + OTHERS + PATHS[:3]
        value = rng.choice(pool)
        holder[key] = value.replace("{dir}", str(directory)) if isinstance(value, str) else \
            copy.deepcopy(value)
    if not targeted and rng.random() < 0.2:  # an unknown key or a table of the wrong shape
        doc[rng.choice(["alerts", "flows", "bogus"])] = rng.choice([5, "x", [1], {"zz": 1}])
    return to_toml(doc)


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """`ybsensor ARGS` in this process, as the console script runs it."""
    from ybsensor.sensor import cli as cli_mod

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["ybsensor", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli_mod.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except Exception:  # noqa: BLE001 - a traceback is what the fuzzer looks for
                raise Broken(f"ybsensor {' '.join(args)}:\n{traceback.format_exc()}") from None
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


class Broken(AssertionError):
    """What the fuzzer found: the configuration and what went wrong."""


def check_config(path: Path) -> bool:
    """check-config on `path`: True if accepted; Broken if it did anything but exit 0 or
    print one clear message and exit 2."""
    code, out, err = run_cli(["check-config", str(path)])
    if code == 0 and not err:
        return True
    lines = [x for x in err.splitlines() if x.strip()]
    if code != 2 or len(lines) != 1 or not lines[0].startswith("ybsensor: error: ") \
            or "Traceback" in err:
        raise Broken(f"check-config exited {code}:\n{err}")
    return False


def replay(path: Path) -> None:
    """A replay under an accepted configuration must work (exit 0)."""
    from ybsensor.sensor.config import load

    if load(path).max_flows > MAX_FLOWS_RUN:
        return
    code, _, err = run_cli(["replay", "--no-progress", "--config", str(path), "-l",
                            str(path.parent / "replay"), str(CAPTURE)])
    if code != 0 or "Traceback" in err:
        raise Broken(f"check-config accepted it, then replay exited {code}:\n{err}")


# --- a supervisor and its workers, without capture ---------------------------------------

class FakeRing:
    ifname = source = "test0"
    kernel_packets = freezes = kernel_drops = 0


SETTINGS = """
[flows]
max_flows = 1000

[alerts]
path = "{path}"
dedup_seconds = 300
"""


class Harness:
    """The supervisor of `ybsensor run` and `n` real Workers joined by pipes, set up as
    `run` would (no rings: batches are handed to the workers by hand)."""

    def __init__(self, directory: Path, n: int = 2):
        from ybsensor.sensor import live
        from ybsensor.sensor.config import load

        directory.mkdir(parents=True, exist_ok=True)
        self.tmp = directory
        self.config = directory / "sensor.toml"
        self.write_config(directory / "alerts.jsonl")
        cfg = load(self.config)
        link = SimpleNamespace(name="test0", up=True, index=1)
        self.sup = live.Supervisor(cfg, str(self.config), link, n, None, None, None,
                                   "127.0.0.1:1", None, 1024)
        self.sup.log = self.sup._open_log(cfg)
        pipes = [multiprocessing.Pipe() for _ in range(n)]
        self.sup.conns = [a for a, _ in pipes]
        self.sup.procs = [None] * n
        self.workers = [live.Worker(FakeRing(), self.sup._worker_config(cfg), b, 1024,
                                    share=n > 1) for _, b in pipes]

    def write_config(self, alerts: Path | str, extra: str = "") -> None:
        self.config.write_text(ONE_HOSPITAL + SETTINGS.format(path=alerts) + extra)

    def pump(self) -> None:
        """Carry the messages both ways until none is left."""
        for _ in range(4):
            for w in self.workers:
                w.messages()
            for k, conn in enumerate(self.sup.conns):
                while conn.poll():
                    self.sup._message(k, conn.recv())

    def reload(self) -> None:
        self.sup.reload()
        self.pump()

    def run_batch(self) -> None:
        """Each worker takes the capture through its pipeline; alerts go to the supervisor."""
        from ybsensor.sensor.sources import read_capture

        for w in self.workers:
            for batch in read_capture(CAPTURE):
                w.process(batch)
        self.pump()

    def close(self) -> None:
        for w in self.workers:
            w.sensor.close()
        if self.sup.log is not None:
            self.sup.log.close()


def reload_with(harness: Harness, text: str, accepted: bool) -> None:
    """Reload `harness` with a configuration: refused (the running one kept everywhere) or
    taken up by every worker; then a batch runs. Broken otherwise."""
    from ybsensor.sensor.config import load

    harness.config.write_text(text)
    before = harness.sup.cfg, [w.sensor for w in harness.workers]
    err = io.StringIO()
    if accepted and load(harness.config).max_flows > MAX_FLOWS_RUN:
        return
    try:
        with contextlib.redirect_stderr(err):
            harness.reload()
            harness.run_batch()
    except Exception as exc:  # noqa: BLE001 - what the fuzzer is looking for
        raise Broken(f"the reload raised {type(exc).__name__}: {exc}\n{err.getvalue()}") from exc
    now = harness.sup.cfg, [w.sensor for w in harness.workers]
    switched = now[0] is not before[0] and all(a is not b for a, b in zip(now[1], before[1]))
    kept = now[0] is before[0] and all(a is b for a, b in zip(now[1], before[1]))
    if not (switched if accepted else kept):
        raise Broken(f"check-config {'accepted' if accepted else 'refused'} it, but the reload "
                     f"{'switched' if switched else 'kept' if kept else 'half switched'}:\n"
                     f"{err.getvalue()}")


def one(seed: int, harness: Harness, files: Path, live=None) -> tuple[str, bool]:
    """Configuration `seed` through check-config, a replay if accepted, the harness's
    reload and `live`'s (a real sensor's) if given: (its text, accepted). Broken if
    anything went wrong."""
    text = mutate(random.Random(seed), files)
    path = harness.config.with_name("checked.toml")  # relative paths: the same directory
    path.write_text(text)
    accepted = check_config(path)
    if accepted:
        replay(path)
    reload_with(harness, text, accepted)
    if live is not None:
        live.reload(text)
    if (files / "victim").read_text() != "precious\n":
        raise Broken("a file was written through a link")
    return text, accepted


class LoopbackSensor:
    """`ybsensor run` on the loopback interface (root: an AF_PACKET socket) with a capture
    filter that nothing matches, for real SIGHUPs; its stderr read to see each reload
    refused or taken."""

    FILTER = "udp port 9 and host 127.0.0.254"

    def __init__(self, proc, config: Path, err: Path):
        self.proc, self.config, self.err = proc, config, err
        self.reloads = 0

    @classmethod
    def start(cls, work: Path) -> "LoopbackSensor | str":
        """The running sensor, or why it did not start."""
        import socket
        import subprocess

        from tools import REPO

        work.mkdir(parents=True, exist_ok=True)
        config = work / "sensor.toml"
        config.write_text(ONE_HOSPITAL + SETTINGS.format(path=work / "alerts.jsonl"))
        with socket.socket() as probe:  # a free port for /metrics
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        err = work / "stderr"
        cmd = [sys.executable, "-m", "ybsensor.sensor.cli", "run", "--interface", "lo", "--config",
               str(config), "--bpf", cls.FILTER, "--listen", f"127.0.0.1:{port}",
               "--blocks", "2", "--block-size", "64K"]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
        with open(err, "w") as fh:
            proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=fh)
        self = cls(proc, config, err)
        if not self._wait("capturing on"):
            self.stop()
            return err.read_text() or f"exit {proc.returncode}"
        return self

    def said(self, after: int = 0) -> str:
        return self.err.read_text(errors="replace")[after:]

    def _wait(self, *words: str, after: int = 0, timeout: float = 30.0) -> bool:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(w in self.said(after) for w in words):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def reload(self, text: str) -> str:
        """SIGHUP with `text` as the configuration: what the sensor said about it. Broken
        if it did not answer, printed a traceback or ended."""
        import signal

        before = len(self.said())
        self.config.write_text(text)
        self.proc.send_signal(signal.SIGHUP)
        answered = self._wait("reloaded", "refused", after=before)
        said = self.said(before)
        if self.proc.poll() is not None or "Traceback" in said or not answered:
            raise Broken(f"ybsensor run after SIGHUP (exit {self.proc.poll()}):\n{said}")
        self.reloads += 1
        return said

    def stop(self) -> int:
        import signal
        import subprocess

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()
