"""JL art.28: no remote-control software or hardware. The tools are data: a packaged
catalogue (remote_control.toml) that the config can extend, each tool recognised by a
protocol signature (on any port, or on its own ports), by the TLS server name or DNS name
of its services, and — the weakest evidence — by its well-known ports.

The catalogue becomes tables once, at start: ports to tools (one row a transport),
signatures as value/mask rows indexed by their first byte, and a dict a kind of name. One
compiled pass over the rows (payload_kernels.remote_marks) marks the rows with a tool or
a question; only those few are parsed."""
from __future__ import annotations

import re
import tomllib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import compiled, first_messages, names
from .base import Detector, Finding, SettingError
from .content import HEAD, every_head

TCP, UDP = 6, 17
# strength of the evidence, weakest first; the strongest found for a row is reported
PORT, DNS, SNI, SIGNATURE = 1, 2, 3, 4
# a row opening with a signature of `on_ports` off the tool's ports: a SIGNATURE once
# `off_ports_after` packets of its flow have (the row pass marks it; detect counts)
REPEATING = 5
MAX_REPEATING = 4096   # flows whose packets with a signature off its ports are counted
EVIDENCE = {PORT: "port", DNS: "dns", SNI: "tls_sni", SIGNATURE: "signature"}
CATALOGUE = Path(__file__).with_name("remote_control.toml")
ANY_LENGTH = 1 << 30
PROTOS = {"tcp": TCP, "udp": UDP, "any": 0}
TOOL_KEYS = {"name": str, "title": str, "tcp": list, "udp": list, "server_names": list,
             "dns_names": list, "signature": list}
SIGNATURE_KEYS = {"hex": str, "proto": str, "min_len": int, "max_len": int, "on_ports": bool,
                  "off_ports_after": int}
MOST_PACKETS = 64      # the most `off_ports_after` may ask
_TOOL_NAME = re.compile(r"[a-z0-9_]{1,40}")
_DOMAIN = re.compile(r"(?:[a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}")


@dataclass(frozen=True)
class Signature:
    proto: int          # TCP, UDP or 0 for either
    value: bytes        # the bytes a payload opens with where mask is 0xFF (HEAD at most)
    mask: bytes
    min_len: int
    max_len: int
    on_ports: bool      # only on a port the catalogue gives to the tool
    off_ports_after: int = 0   # elsewhere, once this many packets of a flow open with it


@dataclass
class Tool:
    name: str
    title: str = ""
    tcp: list[int] = field(default_factory=list)
    udp: list[int] = field(default_factory=list)
    server_names: list[str] = field(default_factory=list)
    dns_names: list[str] = field(default_factory=list)
    signatures: list[Signature] = field(default_factory=list)

    def extend(self, other: "Tool") -> None:
        for key in ("tcp", "udp", "server_names", "dns_names", "signatures"):
            mine = getattr(self, key)
            mine.extend(x for x in getattr(other, key) if x not in mine)
        self.title = self.title or other.title


# --- the catalogue ----------------------------------------------------------------------

def _ports(values: list, fail) -> list[int]:
    out = []
    for v in values:
        text = str(v)
        m = re.fullmatch(r"(\d{1,5})(?:-(\d{1,5}))?", text) if not isinstance(v, bool) else None
        first, last = (int(m.group(1)), int(m.group(2) or m.group(1))) if m else (0, -1)
        if not m or not 0 < first <= last <= 65535:
            fail(f"{v!r} is not a port or a range \"first-last\" of ports 1-65535")
        out.extend(range(first, last + 1))
    return out


def _domains(values: list, fail) -> list[str]:
    out = []
    for v in values:
        name = v.strip().strip(".").lower() if isinstance(v, str) else ""
        if len(name) > names.MAX_NAME or not _DOMAIN.fullmatch(name) or "." not in name:
            fail(f"{v!r} is not a domain name")
        out.append(name)
    return out


def _signature(sig: dict, fail) -> Signature:
    for key, value in sig.items():
        if key not in SIGNATURE_KEYS:
            fail(f"unknown key (known: {', '.join(SIGNATURE_KEYS)})", key)
        if not isinstance(value, SIGNATURE_KEYS[key]) or \
                isinstance(value, bool) != (SIGNATURE_KEYS[key] is bool):
            fail(f"must be a {SIGNATURE_KEYS[key].__name__}, not {type(value).__name__}", key)
    if "hex" not in sig:
        fail("a signature needs hex")
    tokens = sig["hex"].lower().split()
    if not 1 <= len(tokens) <= HEAD or any(not re.fullmatch(r"[0-9a-f]{2}|\?\?", x) for x in tokens):
        fail(f"{sig['hex']!r}: 1 to {HEAD} bytes in hex, `??` for any byte", "hex")
    if tokens[0] == "??":
        fail(f"{sig['hex']!r}: the first byte must be given", "hex")
    proto = sig.get("proto", "any")
    if proto not in PROTOS:
        fail(f"{proto!r} is not one of {', '.join(PROTOS)}", "proto")
    min_len, max_len = sig.get("min_len", len(tokens)), sig.get("max_len", ANY_LENGTH)
    if min_len < len(tokens) or max_len < min_len:
        fail(f"min_len {min_len} and max_len {max_len}: at least the {len(tokens)} bytes of "
             f"hex, and min_len <= max_len", "min_len" if min_len < len(tokens) else "max_len")
    after = sig.get("off_ports_after", 0)
    if not 0 <= after <= MOST_PACKETS or (after and not sig.get("on_ports", False)):
        fail(f"{after}: 0 (never) to {MOST_PACKETS} packets of a flow, for a signature "
             f"on_ports", "off_ports_after")
    return Signature(PROTOS[proto], bytes(0 if x == "??" else int(x, 16) for x in tokens),
                     bytes(0 if x == "??" else 0xFF for x in tokens), min_len, max_len,
                     sig.get("on_ports", False), after)


def parse_tools(tables, table: str = "tools", file: str | None = None) -> list[Tool]:
    """Tools from an array of tables (the catalogue's `tools`); SettingError names the
    table's index and key (and `file`) of a mistake."""
    if not isinstance(tables, list) or not all(isinstance(x, dict) for x in tables):
        raise SettingError("must be an array of tables", None, table, 0, file)
    out = []
    sub_index = -1    # signatures are counted over the whole array, as a TOML file lists them
    for i, spec in enumerate(tables):
        def fail(why, key=None, sub=None):
            raise SettingError(why, key, f"{table}.{sub}" if sub else table,
                               i if sub is None else sub_index, file)
        for key, value in spec.items():
            if key not in TOOL_KEYS:
                fail(f"unknown key (known: {', '.join(TOOL_KEYS)})", key)
            if not isinstance(value, TOOL_KEYS[key]):
                fail(f"must be a {TOOL_KEYS[key].__name__}, not {type(value).__name__}", key)
        if not _TOOL_NAME.fullmatch(str(spec.get("name", ""))):
            fail("a tool needs a name of lowercase letters, digits and `_`", "name")
        tool = Tool(spec["name"], spec.get("title", ""))
        tool.tcp = _ports(spec.get("tcp", []), lambda why: fail(why, "tcp"))
        tool.udp = _ports(spec.get("udp", []), lambda why: fail(why, "udp"))
        tool.server_names = _domains(spec.get("server_names", []), lambda why: fail(why, "server_names"))
        tool.dns_names = _domains(spec.get("dns_names", []), lambda why: fail(why, "dns_names"))
        for sig in spec.get("signature", []):
            sub_index += 1
            if not isinstance(sig, dict):
                fail("must be a table", None, "signature")
            tool.signatures.append(_signature(sig, lambda why, key=None: fail(why, key, "signature")))
        out.append(tool)
    return out


def read_catalogue(path: Path) -> list[Tool]:
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingError(f"cannot read the catalogue {path}: {exc}", "catalogue") from None
    for key in doc:
        if key != "tools":
            raise SettingError("unknown table (known: tools)", None, key, 0, str(path))
    return parse_tools(doc.get("tools", []), "tools", str(path))


def catalogue(settings: dict, base: str | Path = ".") -> list[Tool]:
    """The packaged tools, then those of `settings["catalogue"]` (a file, relative to
    `base`), then `settings["tools"]`; a tool named again gains what the later one adds."""
    lists = [read_catalogue(CATALOGUE)]
    if settings.get("catalogue"):
        lists.append(read_catalogue(Path(base) / settings["catalogue"]))
    if "tools" in settings:
        lists.append(parse_tools(settings["tools"]))
    by_name: dict[str, Tool] = {}
    for tools in lists:
        for tool in tools:
            if tool.name in by_name:
                by_name[tool.name].extend(tool)
            else:
                by_name[tool.name] = tool
    return list(by_name.values())


class Tables:
    """A catalogue as the row pass reads it. Tool ids are 1.. in catalogue order (0: none);
    `no_tool` (larger than any id) marks a port without one, so the lower id of two ports'
    tools — the one listed first — is the smaller."""

    def __init__(self, tools: list[Tool]):
        self.tools = [""] + [t.name for t in tools]
        self.no_tool = len(self.tools)
        # each port's tool, per transport (0: TCP, 1: UDP), indexed by port + 1 (-1: none)
        self.port_tool = np.full((2, 65537), self.no_tool, dtype=np.int64)
        for which in range(len(tools), 0, -1):      # the first listed wins a port
            tool = tools[which - 1]
            for side, ports in ((0, tool.tcp), (1, tool.udp)):
                self.port_tool[side, np.asarray(ports, dtype=np.int64) + 1] = which
        # signatures by first byte, then catalogue order: row b's are start[b]..start[b+1]
        sigs = sorted(((s.value[0], which, k, s) for which, tool in enumerate(tools, 1)
                       for k, s in enumerate(tool.signatures)), key=lambda x: x[:3])
        n = len(sigs)
        self.sig_value = np.zeros((n, HEAD), dtype=np.uint8)
        self.sig_mask = np.zeros((n, HEAD), dtype=np.uint8)
        self.sig_proto, self.sig_min, self.sig_max, self.sig_tool = (
            np.zeros(n, dtype=np.int64) for _ in range(4))
        self.sig_on_ports = np.zeros(n, dtype=np.bool_)
        self.sig_elsewhere = np.zeros(n, dtype=np.bool_)   # counted off its ports
        # per tool, the packets a flow needs off its ports (the most its signatures ask)
        self.tool_after = np.zeros(len(self.tools), dtype=np.int64)
        for k, (_, which, _, s) in enumerate(sigs):
            self.sig_value[k, :len(s.value)] = np.frombuffer(s.value, dtype=np.uint8)
            self.sig_mask[k, :len(s.mask)] = np.frombuffer(s.mask, dtype=np.uint8)
            self.sig_proto[k], self.sig_min[k], self.sig_max[k] = s.proto, s.min_len, s.max_len
            self.sig_tool[k], self.sig_on_ports[k] = which, s.on_ports
            self.sig_elsewhere[k] = s.off_ports_after > 0
            self.tool_after[which] = max(self.tool_after[which], s.off_ports_after)
        firsts = np.array([x[0] for x in sigs], dtype=np.int64)
        self.sig_start = np.searchsorted(firsts, np.arange(257)).astype(np.int64)
        # name -> tool, a kind of name each (the first listed keeps a name)
        self.by_name = {DNS: {}, SNI: {}}
        for which, tool in enumerate(tools, 1):
            for kind, listed in ((DNS, tool.dns_names), (SNI, tool.server_names)):
                for name in listed:
                    self.by_name[kind].setdefault(name, which)

    def tool_of_name(self, kind: int, name: str | None) -> int:
        """The tool whose services `name` is, or is under (DNS or SNI names); 0 for none."""
        listed = self.by_name[kind]
        while name:
            if name in listed:
                return listed[name]
            name = name.partition(".")[2]
        return 0

    def arrays(self) -> tuple:
        """The tables in the order the compiled pass takes them."""
        return (self.port_tool, self.sig_start, self.sig_value, self.sig_mask, self.sig_proto,
                self.sig_min, self.sig_max, self.sig_tool, self.sig_on_ports,
                self.sig_elsewhere, self.no_tool)


_PACKAGED: Tables | None = None


class RemoteControl(Detector):
    name = "remote_control"
    rule = "JL art.28"

    def __init__(self, config, plan):
        super().__init__(config, plan)
        global _PACKAGED
        if "catalogue" in self.settings or "tools" in self.settings:
            self.tables = Tables(catalogue(self.settings, self.base))
        else:   # the packaged catalogue alone: read once a process
            if _PACKAGED is None:
                _PACKAGED = Tables(catalogue({}))
            self.tables = _PACKAGED
        self.first_messages = first_messages.FirstMessages.shared(self)
        # (flow key, tool) -> packets of the flow that opened with the tool's signature off
        # its ports, oldest first (REPEATING), bounded; the forgotten counted
        self.repeating: OrderedDict[tuple[int, int], int] = OrderedDict()
        self.repeating_dropped = 0

    @classmethod
    def check_settings(cls, settings: dict, base: str) -> None:
        Tables(catalogue(settings, base))

    def metric_families(self):
        from prometheus_client.core import CounterMetricFamily
        yield from self.first_messages.families_for(self)
        yield CounterMetricFamily("ybsensor_remote_signature_flows_dropped", "Flows whose "
                                  "packets with a tool's signature off its ports were being "
                                  "counted, forgotten to stay within their bound "
                                  "(remote_control)", value=self.repeating_dropped)

    def detect(self, ctx) -> list[Finding]:
        rows, tool, strength, ask = self.marks(ctx)
        tables = self.tables
        repeating = np.flatnonzero(strength == REPEATING)
        if repeating.size:
            sure = self._count_elsewhere(ctx, rows[repeating], tool[repeating])
            strength[repeating] = np.where(sure, SIGNATURE, 0)
            tool[repeating] = np.where(sure, tool[repeating], 0)
        # TLS ClientHellos and DNS queries naming the tools' services: parsed for the few
        # rows the pre-filters selected, and read on where they span segments
        asking = np.flatnonzero(ask > 0)
        tcp = ctx.t.proto[rows[asking]] == TCP
        kinds = [(first_messages.TLS_SNI if on_tcp else first_messages.QUIC_SNI) if a == SNI
                 else first_messages.DNS_TCP if on_tcp else first_messages.DNS
                 for a, on_tcp in zip(ask[asking].tolist(), tcp.tolist())]
        named = self.first_messages.read(ctx, self.name, rows[asking], kinds)
        late = np.array(sorted(set(named) - set(rows.tolist())), dtype=np.int64)
        if late.size:       # rows that completed a message begun earlier
            zeros = np.zeros(len(late), dtype=np.int64)
            order = np.argsort(np.concatenate([rows, late]), kind="stable")
            rows, tool, strength = (np.concatenate([c, x])[order] for c, x in
                                    ((rows, late), (tool, zeros), (strength, zeros)))
        seen: dict[int, str] = {}
        for row, (kind, server) in named.items():
            how = SNI if kind in (first_messages.TLS_SNI, first_messages.QUIC_SNI) else DNS
            which = tables.tool_of_name(how, server)
            k = int(np.searchsorted(rows, row))
            if which and strength[k] < how:
                tool[k], strength[k] = which, how
                seen[row] = server
        hit = tool > 0
        rows, tool, strength = rows[hit], tool[hit], strength[hit]
        if not rows.size:
            return []
        # each packet is judged by what it shows, as if it came alone: a flow first seen by
        # its port, then by its signature, raises a medium alert, then a high one (the
        # alerter lets a more severe one through), whatever the batches

        def explain(row: int) -> dict:
            k = int(np.searchsorted(rows, row))
            evidence = {"tool": tables.tools[tool[k]], "evidence": EVIDENCE[strength[k]]}
            name = seen.get(row)
            if name:  # masked where the alert is made, as every string from the wire
                evidence["name"] = name
            return evidence

        # a port alone is weak evidence: medium; a signature or a service's name is high
        out = []
        for how, severity in ((PORT, "medium"), (DNS, "high"), (SNI, "high"),
                              (SIGNATURE, "high")):
            sel = strength == how
            if sel.any():
                out.append(Finding(rows[sel], severity, EVIDENCE[how], explain))
        return out

    def _count_elsewhere(self, ctx, rows: np.ndarray, tool: np.ndarray) -> np.ndarray:
        """Which of `rows` (opening with a signature of `tool` off its ports, in row order)
        are their flow's `off_ports_after`-th such packet or a later one (as nDPI counts
        TeamViewer's headers)."""
        counts, need = self.repeating, self.tables.tool_after
        sure = np.zeros(len(rows), dtype=bool)
        for i, (key, which) in enumerate(zip(ctx.flow_keys[rows].tolist(), tool.tolist())):
            seen = counts.get((key, which), 0) + 1
            counts[(key, which)] = seen
            counts.move_to_end((key, which))
            if len(counts) > MAX_REPEATING:
                counts.popitem(last=False)
                self.repeating_dropped += 1
            sure[i] = seen >= need[which]
        return sure

    def marks(self, ctx) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The rows of user traffic over TCP or UDP that show a tool by port or signature,
        or ask for a name: (rows, tool, strength, ask), ask being DNS (a DNS query), SNI (a
        TLS ClientHello) or 0: one compiled pass over the rows (payload_kernels.remote_marks)."""
        t, tb = ctx.t, self.tables
        out = [np.empty(t.n, dtype=np.int64) for _ in range(4)]
        got = compiled.call("remote_marks", ctx.has_ip, t.proto, t.sport, t.dport,
                            t.payload_len, every_head(t), *tb.arrays(), *out)
        return tuple(column[:got] for column in out)
