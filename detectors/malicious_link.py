"""CQ annex 7: malicious software and malicious links are intercepted. The network sees the
links: a DNS question, a TLS server name, an HTTP Host or URL, a DNS answer's address, or a
flow's endpoint that an indicator file lists (detectors/indicators.py has the files' form).

`[detectors.malicious_link] paths = [...]` names the files (relative to the config file).
They are read again on SIGHUP (the whole configuration is) and when one of them changes:
their modification time and size are looked at every `check_seconds` (default 5), and a
changed set is read in a thread while packets are matched against the one before; a file
that fails to load then keeps the indicators read before, and counts a failure.

Names are looked up for the rows a compiled pre-filter selects (DNS queries, ClientHellos,
HTTP requests: internet_bound's), read through first_messages (a message that spans TCP
segments is read on as they come), one verdict a distinct name; endpoints once a flow of the
batch, as columns. A detector without indicators does nothing."""
from __future__ import annotations

import ipaddress
import threading
import time
from functools import lru_cache

import numpy as np

from ybsensor.core.addresses import address

from . import first_messages, names
from . import indicators as intel
from .base import SEVERITIES, Detector, Finding, SettingError, by_rank
from .internet_bound import ASK_KINDS, NAME_SOURCES, InternetBound, group_key
from .content import every_head
from .pii_mask import mask_text

CHECK_SECONDS = 5.0
UDP = 17
HTTP = ASK_KINDS.index(first_messages.HTTP_HOST)     # askers' code of an HTTP request


def http_target(payload: bytes) -> str | None:
    """The path (and query) an HTTP/1.x request's line asks for: origin form as it is, an
    absolute-form target's path; None for CONNECT, `*` or a line that is not whole."""
    line = bytes(payload[:names.HTTP_LIMIT]).partition(b"\n")
    if not line[1]:
        return None
    parts = line[0].rstrip(b"\r").split(b" ")
    if len(parts) != 3 or parts[0] == b"CONNECT":
        return None
    target = parts[1].decode("ascii", "replace")
    scheme, sep, rest = target.partition("://")
    if sep:
        target = "/" + rest.partition("/")[2]
    return target if target.startswith("/") else None


A, AAAA = 1, 28


def dns_answer_addresses(payload: bytes) -> list:
    """The addresses of a DNS response's A and AAAA answers; [] for anything malformed or
    cut short before them."""
    response = names.dns_response(payload)
    return [ipaddress.ip_address(data) for kind, _, data in (response[2] if response else ())
            if kind in (A, AAAA) and data is not None]


class MaliciousLink(Detector):
    name = "malicious_link"
    rule = "CQ annex 7"

    def __init__(self, config, plan):
        super().__init__(config, plan)
        self.paths = intel.resolve(self.settings.get("paths", []), self.base)
        self.check_seconds = float(self.settings.get("check_seconds", CHECK_SECONDS))
        self.intel = intel.cached_load(self.paths, keep=False) if self.paths else intel.Indicators()
        self.checked = time.monotonic()
        self.reloads = self.reload_failures = 0
        self._loader: threading.Thread | None = None
        self._fresh: intel.Indicators | None = None
        self._names = lru_cache(maxsize=1 << 16)(self._name_verdict)
        self.first_messages = first_messages.FirstMessages.shared(self)

    @classmethod
    def check_settings(cls, settings: dict, base: str) -> None:
        if "check_seconds" in settings and settings["check_seconds"] <= 0:
            raise SettingError("must be positive", "check_seconds")
        intel.cached_load(intel.resolve(settings.get("paths", []), base))

    # --- the files ---------------------------------------------------------------------

    def refresh(self, now: float | None = None, wait: bool = False) -> bool:
        """Look at the files once every check_seconds; where one changed, read them all
        again in a thread of their own (a million lines take seconds: the packets go on
        meanwhile against the indicators before), and take the new set at the first call
        after it is read (`wait`: read now). Whether the indicators were replaced."""
        now = time.monotonic() if now is None else now
        if self.paths and self._loader is None and now - self.checked >= self.check_seconds:
            self.checked = now
            if any(intel.file_stamp(f.path) != f.stamp for f in self.intel.files):
                self._loader = threading.Thread(target=self._load, name="indicators", daemon=True)
                self._loader.start()
        if self._loader is None or (self._loader.is_alive() and not wait):
            return False
        self._loader.join()
        self._loader, fresh, self._fresh = None, self._fresh, None
        if fresh is None:
            return False
        self.intel = fresh
        self._names.cache_clear()
        self.reloads += 1
        return True

    def _load(self) -> None:
        try:
            self._fresh = intel.load(self.paths)
        except SettingError:
            self.reload_failures += 1   # the indicators read before stay ...
            for f in self.intel.files:  # ... until the files change again
                f.stamp = intel.file_stamp(f.path)

    def metric_families(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        yield from self.first_messages.families_for(self)
        count = GaugeMetricFamily("ybsensor_indicators", "Indicators loaded, by indicator "
                                  "file (malicious_link)", labels=["source"])
        for f in self.intel.files:
            count.add_metric([f.source], f.count)
        yield count
        yield CounterMetricFamily("ybsensor_indicator_reloads", "Indicator files read again "
                                  "after a change", value=self.reloads)
        yield CounterMetricFamily("ybsensor_indicator_reload_failures", "Changed indicator "
                                  "files that failed to load (the indicators before stay)",
                                  value=self.reload_failures)

    # --- detection ---------------------------------------------------------------------

    def detect(self, ctx) -> list[Finding]:
        self.refresh()
        if not len(self.intel):
            return []
        out = self.by_name(ctx)
        if self.intel.prefixes:
            out += self.by_endpoint(ctx) + self.by_answer(ctx)
        return out

    def _name_verdict(self, kind: int, name: str, target: str | None) -> tuple | None:
        """(indicator id, what matched, the listed indicator) of a name a row asks for
        (and an HTTP request's path), or None."""
        store = self.intel
        if kind == HTTP and target is not None:
            found, listed = store.url(intel.url_key(name, target))
            if found != intel.NONE:
                return found, "http_url", listed
        ip = names.ip_literal(name)
        if ip is not None:
            found = store.address_of(ip)
            return (found, NAME_SOURCES[kind], store.network_text(found)) \
                if found != intel.NONE else None
        found, listed = store.domain(name)
        return (found, NAME_SOURCES[kind], listed) if found != intel.NONE else None

    def by_name(self, ctx) -> list[Finding]:
        """The names the rows the pre-filter chose ask for, read as first_messages reads
        them (a ClientHello, a request or a DNS query over TCP may span segments: the name
        is found on the row that completes it)."""
        t = ctx.t
        rows, ask = InternetBound.askers(ctx, private=0)
        code = {kind: k for k, kind in enumerate(ASK_KINDS)}
        named = self.first_messages.read(ctx, self.name, rows, [ASK_KINDS[k] for k in ask.tolist()])
        # and cleartext HTTP/2's requests, each of several a segment completes
        requests = self.first_messages.exchanges(ctx, self)[0]
        hits: dict[tuple[int, str], tuple] = {}    # (row, listed name) -> its verdict
        message = self.first_messages.message
        later = [(row, HTTP, name, head)
                 for row, head, name in self.first_messages.later_named(rows, named)]
        for row, kind, name, head in \
                [(row, code[kind], name, message(row)) for row, (kind, name) in named.items()] + \
                later + [(row, HTTP, name, head) for row, _, head, name in requests]:
            if (row, name) in hits:
                continue
            target = http_target(head) if kind == HTTP else None
            verdict = self._names(kind, name, target)
            if verdict is not None:
                hits[row, name] = (name, *verdict)
        out = []
        for layer in by_rank(((row, hit) for (row, _), hit in hits.items())):
            rows = np.array(sorted(layer), dtype=np.int64)
            # one alert per client and name within the dedup window
            group = np.array([group_key(t, row, layer[row][2], layer[row][0])
                              for row in rows.tolist()], dtype=np.int64)
            level = self.intel.severity[[layer[row][1] for row in rows.tolist()]]

            def explain(row: int, layer=layer) -> dict:
                name, ident, matched, listed = layer[row]
                return {"matched": matched, "name": mask_text(name), **self._about(ident, listed)}

            out += [Finding(rows[level == k], SEVERITIES[k], "listed_name", explain,
                            group=group[level == k]) for k in np.unique(level).tolist()]
        return out

    def by_answer(self, ctx) -> list[Finding]:
        """DNS responses (from port 53, with answers) whose A or AAAA records hold a listed
        address: the client is told to go there."""
        t = ctx.t
        heads = every_head(t)
        rows = np.flatnonzero(ctx.has_ip & (t.proto == UDP) & (t.sport == names.DNS_PORT) &
                              (t.payload_len >= names.DNS_MIN + 14) & ((heads[:, 2] & 0x80) != 0) &
                              ((heads[:, 6] | heads[:, 7]) != 0))
        hits: dict[int, tuple] = {}
        for row in rows.tolist():
            payload = ctx.payload(row)
            for ip in dns_answer_addresses(payload):
                found = self.intel.address_of(ip)
                if found != intel.NONE:
                    # the question's name: the response read as the query it answers
                    question = payload[:2] + bytes([payload[2] & 0x7F]) + payload[3:]
                    hits[row] = (str(ip), found, names.dns_query_name(question))
                    break
        if not hits:
            return []
        rows = np.array(sorted(hits), dtype=np.int64)
        group = np.array([group_key(t, row, "dns_answer", hits[row][0]) for row in rows.tolist()],
                         dtype=np.int64)
        level = self.intel.severity[[hits[row][1] for row in rows.tolist()]]

        def explain(row: int) -> dict:
            ip, ident, name = hits[row]
            return {"matched": "dns_answer", "address": ip, "name": mask_text(name or ""),
                    **self._about(ident, self.intel.network_text(ident))}

        return [Finding(rows[level == k], SEVERITIES[k], "listed_address", explain,
                        group=group[level == k]) for k in np.unique(level).tolist()]

    def by_endpoint(self, ctx) -> list[Finding]:
        """Every row of a flow with an endpoint the files list (looked up at each flow's
        first row of the batch: both ends are in its key)."""
        t, g = ctx.t, ctx.groups
        lead = g.first
        if not lead.size:
            return []
        both = self.intel.addresses(np.concatenate([t.dst_hi[lead], t.src_hi[lead]]),
                                    np.concatenate([t.dst_lo[lead], t.src_lo[lead]]))
        dst, src = both[:len(lead)], both[len(lead):]
        which = np.where(dst != intel.NONE, dst, src)        # the destination's, if both
        listed = np.flatnonzero(which != intel.NONE)
        if not listed.size:
            return []
        hit_group = np.zeros(len(lead), dtype=bool)
        hit_group[listed] = True
        rows = np.flatnonzero(ctx.has_ip & (g.of_row >= 0) & hit_group[np.maximum(g.of_row, 0)])
        if not rows.size:
            return []
        ident = which[g.of_row[rows]]
        dst_listed = (dst != intel.NONE)[g.of_row[rows]]
        level = self.intel.severity[ident]

        def explain(row: int) -> dict:
            k = int(np.searchsorted(rows, row))
            first = lead[g.of_row[row]]
            hi, lo = (t.dst_hi, t.dst_lo) if dst_listed[k] else (t.src_hi, t.src_lo)
            end = (int(hi[first]), int(lo[first]))    # the listed end, as the flow's first row has it
            side = "dst" if (int(t.dst_hi[row]), int(t.dst_lo[row])) == end else "src"
            # an indicator's address is not personal data
            return {"matched": side, "address": address(*end),
                    **self._about(int(ident[k]), self.intel.network_text(int(ident[k])))}

        return [Finding(rows[level == k], SEVERITIES[k], "listed_address", explain)
                for k in np.unique(level).tolist()]

    def _about(self, ident: int, listed: str) -> dict:
        store = self.intel
        return {"indicator": mask_text(listed),
                "source": mask_text(store.sources[int(store.source[ident])]),
                "list": store.files[int(store.file[ident])].source}
