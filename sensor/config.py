"""The sensor's TOML configuration (DESIGN.md, "Configuration"), validated whole.

Every mistake is a ConfigError naming the file, the line and the key; the CLI prints it and
exits 2. Nothing here touches packets: the address plan built from it is in `plan.py`.
"""
from __future__ import annotations

import csv
import io
import ipaddress
import math
import os
import re
import socket
import stat
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ybsensor.decoders.protocol import LINES, line_named

LINE_KINDS = tuple(line.name for line in LINES)     # declared by the protocols
ACCESS = ("dedicated", "vpdn")
DETECTORS = ("internet_bound", "unauthorized_source", "shared_line", "lateral_traffic",
             "internet_vpn", "remote_control", "plaintext_pii", "cleartext_credentials",
             "malicious_link", "tunnel_evasion")
CSV_FIELDS = ("code", "name", "cidr", "line", "access")
MAX_CSV_BYTES = 64 << 20  # an allocations table: a few MiB for every institution of a province
MAX_CSV_FIELD = 256       # characters in one field of it

# key -> (type check, description) per table; None for nested tables checked apart
SCHEMA = {
    "network": {"private": list, "platform": list},
    "institution": {"code": str, "name": str, "ranges": list, "lines": list, "access": str},
    "allocations": {"path": str},
    "alerts": {"path": str, "dedup_seconds": (int, float), "max_per_second": (int, float),
               "fsync_seconds": (int, float), "rotate_bytes": int, "keep": int,
               "max_backlog": int, "sinks": list},
    # where else alerts go: a syslog server or a local socket (exporters/syslog.py)
    "alerts.sinks": {"url": str, "max_queue": int, "ca_file": str},
    # the event logs beside the alerts, and the sensor's name on every record
    "events": {"sensor": str, "flow": str, "dns": str, "tls": str, "http": str},
    "evidence": {"dir": str, "packets_per_flow": int, "max_bytes": int, "mask": bool},
    "metrics": {"listen": str},
    "flows": {"max_flows": int, "idle_seconds": (int, float), "memory_mb": (int, float)},
    "decoders": {"l2tpv3_cookie_len": (int, str), "l2tpv3_l2_specific": str},
    "reassembly": {"memory_mb": (int, float), "timeout_seconds": (int, float),
                   "max_fragments": int},
    "detector": {"enabled": bool},
    # a detector with options of its own: its keys replace "detector"'s
    "detector.internet_bound": {"enabled": bool, "internal_domains": list},
    # the HMAC key for identifiers in evidence: the key, or a file holding it (hex)
    "detector.plaintext_pii": {"enabled": bool, "hash_key": str, "hash_key_file": str},
    # the tools' catalogue: another file of it, and tools added here (detectors/remote_control.toml)
    "detector.remote_control": {"enabled": bool, "catalogue": str, "tools": list},
    # indicator files, relative to this file, and how often they are looked at for a change
    "detector.malicious_link": {"enabled": bool, "paths": list, "check_seconds": (int, float)},
}
TOP_LEVEL = ("network", "institution", "allocations", "detectors", "alerts", "metrics",
             "flows", "decoders", "evidence", "reassembly", "events")

# a domain name: labels of letters, digits, `-` or `_` (compared lowercase, dots trimmed)
DOMAIN_PATTERN = r"(?:[a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}"

def line_error(text) -> str | None:
    """What is wrong with a line key (None if nothing): its kind, id pattern (`*` stands for
    any id in the last place) and the largest id its wire field holds, as its protocol
    declares them."""
    kind, _, ids = str(text).partition(":")
    line = line_named(kind)
    if line is None:
        return f"{text!r}: unknown line kind {kind!r} (known: {', '.join(LINE_KINDS)})"
    if not re.fullmatch(line.pattern + r"|\*", ids):
        return f"{text!r}: not a {kind} line key"
    if line.most is not None and any(int(x) > line.most for x in re.findall(r"\d+", ids)):
        return f"{text!r}: {kind} ids go up to {line.most}"
    return None


# the largest value each number may take: past it a setting is a mistake, and some would
# overflow the integers they become (nanoseconds in int64, a loop over rotated files)
MAX_SECONDS = 10 * 366 * 86400          # ten years
MAX_COUNT = 1 << 40
NUMBERS = {  # (table, key) -> (least, most, least excluded)
    ("alerts", "dedup_seconds"): (0, MAX_SECONDS, False),
    ("alerts", "max_per_second"): (0, 1e9, True),
    ("alerts", "fsync_seconds"): (0, MAX_SECONDS, False),
    ("alerts", "rotate_bytes"): (0, 1 << 62, False),
    ("alerts", "keep"): (1, 10_000, False),
    ("alerts", "max_backlog"): (1, 10_000_000, False),
    ("evidence", "packets_per_flow"): (1, 1_000_000, False),
    ("evidence", "max_bytes"): (1, 1 << 62, False),
    ("flows", "max_flows"): (0, MAX_COUNT, True),
    ("flows", "idle_seconds"): (0, MAX_SECONDS, True),
    ("detectors.malicious_link", "check_seconds"): (0, MAX_SECONDS, True),
    ("flows", "memory_mb"): (-math.inf, float(1 << 40), False),  # below one flow: said apart
}


def number_error(value, least, most, exclusive: bool) -> str | None:
    """What is wrong with a number setting (None if nothing): NaN and infinity never pass."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, not {value}"
    if value < least or (exclusive and value == least):
        if least == 0:
            return "must be positive" if exclusive else "must not be negative"
        return f"must be at least {least}"
    if value > most:
        return f"must be at most {most:,}"
    return None


def output_error(path: str | Path, directory: bool = False) -> str | None:
    """Why the sensor could not write `path` (None if it can): a file must be a regular
    file, not a link, a device or a FIFO; the directory it goes in (or `path` itself, a
    directory) must be one this process can create files in, or create. Probed by creating
    (and removing) a file or directory there: permissions alone do not say it for root
    (/proc, a read-only mount)."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            return f"{path} is a symbolic link: refused (the sensor does not follow links)"
        want = stat.S_ISDIR if directory else stat.S_ISREG
        if not want(st.st_mode):
            return f"{path} is not a {'directory' if directory else 'regular file'}"
    where = path if directory and st is not None else path.parent
    missing = []
    while True:
        try:
            st_dir = os.stat(where)
            break
        except FileNotFoundError:
            missing.append(where)
            if where.parent == where:
                return f"{path}: no existing directory to create it in"
            where = where.parent
        except OSError as exc:
            return f"{where}: {exc.strerror}"
    if not stat.S_ISDIR(st_dir.st_mode):
        return f"{where} is not a directory"
    try:
        if missing:
            os.rmdir(tempfile.mkdtemp(prefix=".ybsensor-probe-", dir=where))
        else:
            fd, probe = tempfile.mkstemp(prefix=".ybsensor-probe-", dir=where)
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        what = f"cannot create {missing[-1]}" if missing else f"cannot write in {where}"
        return f"{what}: {exc.strerror or exc}"
    return None


def _csv_rows(fh, path: Path):
    """The rows of a CSV file; csv's own errors (a field past its limit...) as ConfigError."""
    rows = csv.reader(fh)
    try:
        yield from rows
    except csv.Error as exc:
        raise ConfigError(f"{path}:{rows.line_num}: not a CSV row: {exc}") from None


class ConfigError(Exception):
    """A configuration mistake: where it is and what is wrong."""


@dataclass
class Institution:
    code: str
    name: str
    ranges: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
    lines: list[str]
    access: str
    source: str = ""  # file:line where it was declared, for messages


@dataclass
class Config:
    path: Path
    private: list = field(default_factory=list)
    platform: list = field(default_factory=list)
    institutions: list[Institution] = field(default_factory=list)
    detectors: dict[str, dict] = field(default_factory=dict)
    alerts_path: str | None = None
    dedup_seconds: float = 300.0
    max_alerts_per_second: float = 100.0  # per detector; bursts of ten times that
    alerts_fsync_seconds: float = 1.0     # fsync the alert log at most this long after a write
    alerts_rotate_bytes: int = 100 << 20  # rotate the alert log past this size (0: never)
    alerts_keep: int = 10                 # rotated alert logs kept: FILE.1 ... FILE.keep
    alerts_max_backlog: int = 10_000      # alerts held for a retry while the log cannot be written
    evidence_dir: str | None = None       # None: "evidence" beside the alert log; "": none
    evidence_packets_per_flow: int = 10
    evidence_max_bytes: int = 1 << 30     # all evidence pcaps together
    evidence_mask: bool = True            # mask personal data in evidence payloads
    metrics_listen: str = "127.0.0.1:9108"
    max_flows: int = 1_000_000
    idle_seconds: float = 300.0
    decoder_options: dict = field(default_factory=dict)
    reassembly_max_bytes: int = 32 << 20    # IP fragments held for reassembly, all together
    reassembly_timeout: float = 30.0        # seconds (packet time) a datagram may take to complete
    reassembly_max_fragments: int = 128     # fragments of one datagram
    sensor_name: str = ""                   # on every alert and event record (default: host)
    flow_log_path: str | None = None        # the flow log, a record per flow as it ends
    event_log_paths: dict = field(default_factory=dict)   # dns/tls/http: their logs
    sinks: list = field(default_factory=list)   # [[alerts.sinks]] tables

    def detector_enabled(self, name: str) -> bool:
        return bool(self.detectors.get(name, {}).get("enabled", True))


class _Lines:
    """Where each key sits in the file, for messages (tomllib gives no positions)."""

    HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"]+)\s*\]\]?")
    KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"]+)\s*=")

    def __init__(self, text: str):
        self.where: dict[tuple[str, int, str], int] = {}
        self.tables: dict[tuple[str, int], int] = {}
        counts: dict[str, int] = {}
        table, index = "", 0
        for number, line in enumerate(text.splitlines(), 1):
            if m := self.HEADER.match(line):
                table = m.group(2).replace('"', "")
                index = counts.get(table, 0)
                counts[table] = index + 1 if m.group(1) == "[[" else 0
                self.tables[(table, index)] = number
            elif m := self.KEY.match(line):
                self.where.setdefault((table, index, m.group(1).replace('"', "")), number)

    def of(self, table: str, key: str | None = None, index: int = 0) -> int | None:
        if key is None:
            parent, _, name = table.rpartition(".")
            return self.tables.get((table, index)) or self.where.get((parent, 0, name))
        return self.where.get((table, index, key)) or self.tables.get((table, index))


def load(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return _Checker(path, _Lines(text)).build(doc)


class _Checker:
    def __init__(self, path: Path, lines: _Lines):
        self.path, self.lines = path, lines
        self.line_owner: dict[str, tuple[str, str]] = {}  # line key -> (code, file:line)
        self.inputs: list[tuple[str, Path]] = []  # (what, path) of the files read

    def fail(self, table: str, key: str | None, why: str, index: int = 0):
        line = self.lines.of(table, key, index)
        where = f"{self.path}:{line}" if line else str(self.path)
        name = f"{table}.{key}" if key else table
        raise ConfigError(f"{where}: {name}: {why}")

    def keys(self, table: str, values: dict, schema: dict, index: int = 0) -> None:
        if not isinstance(values, dict):
            self.fail(table, None, "must be a table", index)
        for key, value in values.items():
            if key not in schema:
                self.fail(table, key, f"unknown key (known: {', '.join(schema)})", index)
            if not isinstance(value, schema[key]) or isinstance(value, bool) != (schema[key] is bool):
                want = schema[key].__name__ if isinstance(schema[key], type) else "number"
                self.fail(table, key, f"must be a {want}, not {type(value).__name__}", index)
            if "\0" in str(value):  # no path, name or address holds one
                self.fail(table, key, "must not hold a NUL character", index)

    def numbers(self, table: str, values: dict) -> None:
        for key, value in values.items():
            if (table, key) in NUMBERS:
                why = number_error(value, *NUMBERS[(table, key)])
                if why:
                    self.fail(table, key, why)

    def output(self, table: str, key: str, path: str, directory: bool = False) -> None:
        if not path:  # "": none
            return
        why = "is blank: \"\" turns it off" if not path.strip() else output_error(path, directory)
        if why:
            self.fail(table, key, why)

    def key_file(self, table: str, rel: str, key: str = "hash_key_file") -> None:
        """The HMAC key file: hex, if it is there; else a place it can be made in."""
        path = Path(rel) if Path(rel).is_absolute() or key != "hash_key_file" \
            else self.path.parent / rel
        self.inputs.append(("the HMAC key file", path))
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the read
                self.fail(table, key, f"{path} is not a regular file")
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return self.output(table, key, str(path))
        except (OSError, UnicodeDecodeError) as exc:
            self.fail(table, key, f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
        if not re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", text):
            self.fail(table, key, f"{path} does not hold a key: hex digits expected")

    def cidrs(self, table: str, key: str, values: list, index: int = 0) -> list:
        out = []
        for text in values:
            try:
                out.append(ipaddress.ip_network(str(text), strict=True))
            except ValueError as exc:
                self.fail(table, key, f"{text!r} is not a network address with prefix ({exc})", index)
        return out

    def domains(self, table: str, key: str, values: list) -> None:
        for text in values:
            name = text.strip(".").lower() if isinstance(text, str) else ""
            if len(name) > 253 or not re.fullmatch(DOMAIN_PATTERN, name):
                self.fail(table, key, f"{text!r} is not a domain name")

    def detector_settings(self, name: str, settings: dict) -> None:
        """What a detector checks of its own settings (the files they name, the form of
        their values): its SettingError as a ConfigError naming the file, line and key."""
        from ybsensor.detectors import REGISTRY
        from ybsensor.detectors.base import SettingError
        try:
            REGISTRY[name].check_settings(settings, str(self.path.parent))
        except SettingError as err:
            table = err.table if err.file else f"detectors.{name}" + (f".{err.table}" if err.table else "")
            if err.file is None:
                self.fail(table, err.key, err.why, err.index)
            if err.line is not None:
                raise ConfigError(f"{err.file}:{err.line}: {err.why}") from None
            try:    # a TOML file of the detector's own: the line in it
                line = _Lines(Path(err.file).read_text(encoding="utf-8")).of(table, err.key, err.index)
            except (OSError, UnicodeDecodeError):
                line = None
            where = f"{err.file}:{line}" if line else err.file
            raise ConfigError(f"{where}: {table}{'.' + err.key if err.key else ''}: {err.why}") from None

    def line_key(self, table: str, key: str, text: str, index: int = 0) -> str:
        why = line_error(text)
        if why:
            self.fail(table, key, why, index)
        return str(text)

    def one_owner(self, line: str, code: str, where: str) -> None:
        """A line serves one institution (JL art.26): the same key for two is a mistake."""
        owner = self.line_owner.setdefault(line, (code, where))
        if owner[0] != code:
            raise ConfigError(f"{where}: lines: {line!r} of {code} is already the line of "
                              f"{owner[0]} ({owner[1]}): a line serves one institution only")

    def build(self, doc: dict) -> Config:
        cfg = Config(self.path)
        for key in doc:
            if key not in TOP_LEVEL:
                self.fail(key, None, f"unknown table (known: {', '.join(TOP_LEVEL)})")
        net = doc.get("network", {})
        self.keys("network", net, SCHEMA["network"])
        cfg.private = self.cidrs("network", "private", net.get("private", []))
        cfg.platform = self.cidrs("network", "platform", net.get("platform", []))
        institutions = doc.get("institution", [])
        if not isinstance(institutions, list):
            self.fail("institution", None, "must be an array of tables: [[institution]]")
        for i, inst in enumerate(institutions):
            cfg.institutions.append(self.institution(inst, i))
        allocations = doc.get("allocations", [])
        if not isinstance(allocations, list):
            self.fail("allocations", None, "must be an array of tables: [[allocations]]")
        for i, alloc in enumerate(allocations):
            self.keys("allocations", alloc, SCHEMA["allocations"], i)
            if "path" not in alloc:
                self.fail("allocations", None, "needs a path", i)
            cfg.institutions.extend(self.csv_allocations(alloc["path"], i))
        self.no_overlap(cfg.institutions)
        detectors = doc.get("detectors", {})
        if not isinstance(detectors, dict):
            self.fail("detectors", None, "must be a table")
        for name, settings in detectors.items():
            if name not in DETECTORS:
                self.fail(f"detectors.{name}", None, f"unknown detector (known: {', '.join(DETECTORS)})")
            schema = SCHEMA.get(f"detector.{name}", SCHEMA["detector"])
            self.keys(f"detectors.{name}", settings, schema)
            self.numbers(f"detectors.{name}", settings)
            if "internal_domains" in settings:
                self.domains(f"detectors.{name}", "internal_domains", settings["internal_domains"])
            self.detector_settings(name, settings)
            if settings.get("hash_key_file"):
                self.key_file(f"detectors.{name}", settings["hash_key_file"])
            cfg.detectors[name] = dict(settings)
        alerts = doc.get("alerts", {})
        self.keys("alerts", alerts, SCHEMA["alerts"])
        self.numbers("alerts", alerts)
        cfg.alerts_path = alerts.get("path")
        if cfg.alerts_path is not None:
            self.output("alerts", "path", cfg.alerts_path)
        cfg.dedup_seconds = float(alerts.get("dedup_seconds", cfg.dedup_seconds))
        cfg.max_alerts_per_second = float(alerts.get("max_per_second", cfg.max_alerts_per_second))
        for key in ("fsync_seconds", "rotate_bytes", "keep", "max_backlog"):
            if key in alerts:
                setattr(cfg, f"alerts_{key}", alerts[key])
        evidence = doc.get("evidence", {})
        self.keys("evidence", evidence, SCHEMA["evidence"])
        self.numbers("evidence", evidence)
        for key in ("dir", "packets_per_flow", "max_bytes", "mask"):
            if key in evidence:
                setattr(cfg, f"evidence_{key}", evidence[key])
        if evidence.get("dir"):
            self.output("evidence", "dir", evidence["dir"], directory=True)
        elif "dir" not in evidence and cfg.alerts_path:  # beside the alert log
            self.output("alerts", "path", str(Path(cfg.alerts_path).parent / "evidence"),
                        directory=True)
        if cfg.alerts_path and not any(s.get("hash_key") or s.get("hash_key_file")
                                       for s in cfg.detectors.values()):
            from ybsensor.detectors.payload_detector import KEY_FILE  # made beside the alert log
            self.key_file("alerts", str(Path(cfg.alerts_path).parent / KEY_FILE), "path")
        metrics = doc.get("metrics", {})
        self.keys("metrics", metrics, SCHEMA["metrics"])
        cfg.metrics_listen = metrics.get("listen", cfg.metrics_listen)
        if not re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+):\d{1,5}", cfg.metrics_listen):
            self.fail("metrics", "listen", f"{cfg.metrics_listen!r} is not HOST:PORT")
        if not 0 < int(cfg.metrics_listen.rpartition(":")[2]) <= 65535:
            self.fail("metrics", "listen", f"{cfg.metrics_listen!r}: the port must be 1..65535")
        flows = doc.get("flows", {})
        self.keys("flows", flows, SCHEMA["flows"])
        self.numbers("flows", flows)
        cfg.max_flows = flows.get("max_flows", cfg.max_flows)
        cfg.idle_seconds = float(flows.get("idle_seconds", cfg.idle_seconds))
        from . import memory
        from ybsensor.core.flows import FlowTable
        if "memory_mb" in flows:  # the table's size in MiB: as many flows as fit, or max_flows
            by_memory = FlowTable.flows_for(int(flows["memory_mb"] * (1 << 20)))
            if by_memory <= 0:
                self.fail("flows", "memory_mb", "must hold at least one flow "
                          f"({FlowTable.memory_bytes(1)} bytes)")
            cfg.max_flows = min(flows.get("max_flows", by_memory), by_memory)
        # the table is allocated whole at start: one larger than the memory this process may
        # have (the machine's, a ulimit's, a cgroup's) would fail then, so say so now
        events_flow = bool(doc.get("events", {}).get("flow")) \
            if isinstance(doc.get("events", {}), dict) else False
        need, have = FlowTable.memory_bytes(cfg.max_flows, events_flow), memory.room()
        if have is not None and need > have.bytes:
            key = "max_flows" if "max_flows" in flows else "memory_mb"
            self.fail("flows", key, f"a table of {cfg.max_flows} flows needs {need / (1 << 30):.1f} "
                      f"GiB, more than {have.what} allows ({have.bytes / (1 << 30):.1f} GiB)")
        decoders = doc.get("decoders", {})
        self.keys("decoders", decoders, SCHEMA["decoders"])
        cookie = decoders.get("l2tpv3_cookie_len", "detect")
        if cookie not in ("detect", 0, 4, 8):
            self.fail("decoders", "l2tpv3_cookie_len", "must be 0, 4, 8 or \"detect\"")
        if decoders.get("l2tpv3_l2_specific", "detect") not in ("detect", "none", "default"):
            self.fail("decoders", "l2tpv3_l2_specific", "must be \"none\", \"default\" or \"detect\"")
        cfg.decoder_options = dict(decoders)
        reasm = doc.get("reassembly", {})
        self.keys("reassembly", reasm, SCHEMA["reassembly"])
        for key, lo, hi in (("memory_mb", 1, 65536), ("timeout_seconds", 0.001, 3600),
                            ("max_fragments", 1, 8192)):
            if key in reasm and not lo <= reasm[key] <= hi:
                self.fail("reassembly", key, f"must be between {lo:g} and {hi:g}")
        cfg.reassembly_max_bytes = int(reasm.get("memory_mb", cfg.reassembly_max_bytes / (1 << 20))
                                       * (1 << 20))
        cfg.reassembly_timeout = float(reasm.get("timeout_seconds", cfg.reassembly_timeout))
        cfg.reassembly_max_fragments = reasm.get("max_fragments", cfg.reassembly_max_fragments)
        events = doc.get("events", {})
        self.keys("events", events, SCHEMA["events"])
        cfg.sensor_name = events.get("sensor") or socket.gethostname() or "-"
        cfg.flow_log_path = events.get("flow") or None
        if cfg.flow_log_path:
            self.output("events", "flow", cfg.flow_log_path)
        cfg.event_log_paths = {kind: events[kind] for kind in ("dns", "tls", "http")
                               if events.get(kind)}
        for kind, path in cfg.event_log_paths.items():
            self.output("events", kind, path)
        cfg.sinks = self.sinks(alerts.get("sinks", []))
        self.not_an_input(cfg.alerts_path)
        return cfg

    def sinks(self, sinks) -> list[dict]:
        """[[alerts.sinks]]: each a URL the syslog exporter takes, a queue bound, a CA file
        that can be read."""
        from ybsensor.exporters.syslog import SinkError, Target

        if not isinstance(sinks, list) or not all(isinstance(x, dict) for x in sinks):
            self.fail("alerts", "sinks", "must be an array of tables: [[alerts.sinks]]")
        for i, sink in enumerate(sinks):
            self.keys("alerts.sinks", sink, SCHEMA["alerts.sinks"], i)
            if "url" not in sink:
                self.fail("alerts.sinks", None, "needs a url (udp://, tcp://, tls://HOST:PORT "
                          "or unix:PATH)", i)
            try:
                Target.parse(sink["url"])
            except SinkError as exc:
                self.fail("alerts.sinks", "url", str(exc), i)
            if "max_queue" in sink and not 1 <= sink["max_queue"] <= 10_000_000:
                self.fail("alerts.sinks", "max_queue", "must be between 1 and 10000000", i)
            ca = sink.get("ca_file")
            if ca is not None:
                path = Path(ca) if Path(ca).is_absolute() else self.path.parent / ca
                if not path.is_file() or not os.access(path, os.R_OK):
                    self.fail("alerts.sinks", "ca_file", f"{path} is not a file that can be read", i)
                sink = {**sink, "ca_file": str(path)}
            sinks[i] = dict(sink)
        return list(sinks)

    def not_an_input(self, alerts_path: str | None) -> None:
        """The alert log appends: it must not be a file the sensor reads (this file, an
        allocations CSV, the HMAC key file)."""
        if not alerts_path or not os.path.exists(alerts_path):
            return
        for what, path in [("this configuration", self.path), *self.inputs]:
            try:
                if os.path.samefile(alerts_path, path):
                    self.fail("alerts", "path", f"{alerts_path} is {what}: the alert log "
                              "would write into it")
            except OSError:
                continue

    def institution(self, inst: dict, i: int) -> Institution:
        self.keys("institution", inst, SCHEMA["institution"], i)
        for key in ("code", "ranges"):
            if key not in inst:
                self.fail("institution", None, f"needs {key}", i)
        access = inst.get("access", "dedicated")
        if access not in ACCESS:
            self.fail("institution", "access", f"{access!r} is not one of {', '.join(ACCESS)}", i)
        lines = [self.line_key("institution", "lines", x, i) for x in inst.get("lines", [])]
        for line in lines:
            self.one_owner(line, inst["code"], f"{self.path}:{self.lines.of('institution', 'lines', i)}")
        return Institution(
            code=inst["code"], name=inst.get("name", inst["code"]),
            ranges=self.cidrs("institution", "ranges", inst["ranges"], i),
            lines=lines,
            access=access,
            source=f"{self.path}:{self.lines.of('institution', 'ranges', i)}")

    def csv_allocations(self, rel: str, i: int) -> list[Institution]:
        path = (self.path.parent / rel) if not Path(rel).is_absolute() else Path(rel)
        self.inputs.append(("an allocations file", path))
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_CSV_BYTES + 1)
        except OSError as exc:
            self.fail("allocations", "path", f"cannot read {path}: {exc.strerror}", i)
        if len(raw) > MAX_CSV_BYTES:
            self.fail("allocations", "path", f"{path} is larger than {MAX_CSV_BYTES >> 20} MiB: "
                      f"not an allocations table", i)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} "
                              f"at offset {exc.start})") from None
        by_code: dict[str, Institution] = {}
        with io.StringIO(text, newline="") as fh:
            for number, row in enumerate(_csv_rows(fh, path), 1):
                if not row or row[0].startswith("#") or (number == 1 and row[0] == "code"):
                    continue
                where = f"{path}:{number}"
                if len(row) != len(CSV_FIELDS):
                    raise ConfigError(f"{where}: {len(row)} fields, expected "
                                      f"{len(CSV_FIELDS)} ({','.join(CSV_FIELDS)})")
                for key, value in zip(CSV_FIELDS, row):
                    if len(value) > MAX_CSV_FIELD:
                        raise ConfigError(f"{where}: {key}: {len(value):,} characters, more "
                                          f"than {MAX_CSV_FIELD}")
                code, name, cidr, line, access = (x.strip() for x in row)
                try:
                    net = ipaddress.ip_network(cidr, strict=True)
                except ValueError as exc:
                    raise ConfigError(f"{where}: cidr: {cidr!r} is not a network ({exc})") from None
                if line and line_error(line):
                    raise ConfigError(f"{where}: line: {line_error(line)}")
                if line:
                    self.one_owner(line, code, where)
                if access not in ACCESS:
                    raise ConfigError(f"{where}: access: {access!r} is not one of {', '.join(ACCESS)}")
                inst = by_code.setdefault(code, Institution(code, name, [], [], access, where))
                inst.ranges.append(net)
                if line and line not in inst.lines:
                    inst.lines.append(line)
        return list(by_code.values())

    def no_overlap(self, institutions: list[Institution]) -> None:
        """One address belongs to one institution: ranges of two must not overlap."""
        spans = []
        for inst in institutions:
            for net in inst.ranges:
                spans.append((net.version, int(net.network_address), int(net.broadcast_address),
                              inst.code, net, inst.source))
        spans.sort()
        cover = None  # the span reaching furthest so far: (version, end, code, net, source)
        for version, start, end, code, net, source in spans:
            if cover and cover[0] == version and start <= cover[1] and cover[2] != code:
                raise ConfigError(f"{source}: ranges: {net} of {code} overlaps {cover[3]} of "
                                  f"{cover[2]} ({cover[4]}): an address is allocated to one "
                                  f"institution only")
            if not cover or cover[0] != version or end > cover[1]:
                cover = (version, end, code, net, source)
