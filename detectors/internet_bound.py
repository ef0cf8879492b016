"""JL art.6, art.7, art.28; CQ §2(1), §2(2), annex 1: the private network is isolated from
the internet. Two ways to break it show on the wire:

- by address: a flow whose inner endpoint lies outside `network.private` (an address that
  never leaves its link — multicast, link-local, broadcast, unspecified — lies neither
  inside nor outside, and is never the outside end);
- by name: a DNS query, a TLS ClientHello, an HTTP request or a SOCKS CONNECT request that
  names a public internet service, on a flow whose endpoints are both inside the private
  network — a resolver or a proxy inside the network that reaches the internet on the
  terminal's behalf.

A name is internal when it is an IP literal that is not public, a single label, a
special-use name (`names.SPECIAL_SUFFIXES`), or equal to or under one of
`[detectors.internet_bound] internal_domains`; every other name is public.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from ybsensor.core.addresses import address
from ybsensor.core.plan import MAPPED, PRIVATE, PUBLIC

from . import compiled, first_messages, names
from .base import Detector, Finding, by_rank
from .content import every_head

TCP, UDP = 6, 17
DNS, TLS_SNI, HTTP_HOST, SOCKS = "dns", "tls_sni", "http_host", "socks"
# the first message each of `askers`' codes opens, and the name source alerts report for it
ASK_KINDS = (None, first_messages.DNS, first_messages.TLS_SNI, first_messages.HTTP_HOST,
             first_messages.DNS_TCP, first_messages.QUIC_SNI, first_messages.SOCKS)
NAME_SOURCE_OF = {first_messages.DNS: DNS, first_messages.DNS_TCP: DNS,
                  first_messages.TLS_SNI: TLS_SNI, first_messages.QUIC_SNI: TLS_SNI,
                  first_messages.HTTP_HOST: HTTP_HOST, first_messages.SOCKS: SOCKS}
NAME_SOURCES = tuple(NAME_SOURCE_OF.get(kind) for kind in ASK_KINDS)   # by `askers`' code


class InternetBound(Detector):
    name = "internet_bound"
    rule = "JL art.6, art.7, art.28; CQ §2(1), §2(2), annex 1"

    def __init__(self, config, plan):
        super().__init__(config, plan)
        self.internal_domains = names.normalise_domains(self.settings.get("internal_domains", ()))
        # one verdict per distinct name: the same few names recur batch after batch
        self.is_internal = lru_cache(maxsize=1 << 16)(self._is_internal)
        self.first_messages = first_messages.FirstMessages.shared(self)

    def metric_families(self):
        yield from self.first_messages.families_for(self)

    def detect(self, ctx) -> list[Finding]:
        out = []
        by_address = self.by_address(ctx)
        if by_address is not None:
            out.append(by_address)
        return out + self.by_name(ctx)

    def by_address(self, ctx) -> Finding | None:
        t = ctx.t
        # an end that never leaves its link (multicast, link-local...) is not outside
        dst_out = (ctx.dst_zone & PUBLIC) != 0
        outside = ctx.has_ip & (((ctx.src_zone & PUBLIC) != 0) | dst_out)
        rows = np.flatnonzero(outside)
        if not rows.size:
            return None

        def explain(row: int) -> dict:
            # the outside end is named: an internet address is not personal data
            if dst_out[row]:
                return {"outside": "dst", "address": address(int(t.dst_hi[row]), int(t.dst_lo[row]))}
            return {"outside": "src", "address": address(int(t.src_hi[row]), int(t.src_lo[row]))}

        return Finding(rows, "high", "address_outside_private", explain)

    def by_name(self, ctx) -> list[Finding]:
        t = ctx.t
        rows, ask = self.askers(ctx)
        # the few rows the pre-filters selected, parsed; and the messages that span segments
        # read on as later segments come (first_messages)
        kinds = [ASK_KINDS[k] for k in ask.tolist()]
        named = self.first_messages.read(ctx, self.name, rows, kinds)
        # the requests a message holds after its first (pipelined; `rows` are between
        # private ends, and so are the rows completing their messages)
        later = [(row, first_messages.HTTP_HOST, name)
                 for row, _, name in self.first_messages.later_named(rows, named)]
        # and cleartext HTTP/2's requests, whose Host the normaliser decodes (HPACK), each
        # of several a segment completes
        both_private = ((ctx.src_zone & PRIVATE) != 0) & ((ctx.dst_zone & PRIVATE) != 0)
        requests = self.first_messages.exchanges(ctx, self)[0]
        found: dict[tuple[int, str], str] = {}     # (row, public name) -> its source
        for row, kind, name in [(row, kind, name) for row, (kind, name) in named.items()] + \
                later + [(row, first_messages.HTTP_HOST, name) for row, _, _, name in requests
                         if both_private[row]]:
            if (row, name) not in found and not self.is_internal(name):
                found[row, name] = NAME_SOURCE_OF[kind]
        out = []
        for layer in by_rank(((row, (source, name)) for (row, name), source in found.items())):
            rows = np.array(sorted(layer), dtype=np.int64)
            # one alert per client and name within the dedup window, not one per flow
            group = np.array([group_key(t, row, *layer[row]) for row in rows.tolist()],
                             dtype=np.int64)

            def explain(row: int, layer=layer) -> dict:
                source, name = layer[row]
                return {"name_source": source, "name": name}

            out.append(Finding(rows, "high", "public_name", explain, group=group))
        return out

    @staticmethod
    def askers(ctx, private: int = PRIVATE) -> tuple[np.ndarray, np.ndarray]:
        """The rows of user traffic between two private ends (`private` 0: any ends) whose
        payload looks like it names a host: (rows, code), the code indexing ASK_KINDS and
        NAME_SOURCES: one compiled pass over the rows (payload_kernels.name_askers)."""
        t = ctx.t
        zones = (ctx.src_zone, ctx.dst_zone) if private else (t.proto, t.proto)  # unread
        rows, ask = np.empty(t.n, dtype=np.int64), np.empty(t.n, dtype=np.int64)
        got = compiled.call("name_askers", ctx.has_ip, *zones, private,
                            t.proto, t.sport, t.dport, t.payload_len, every_head(t),
                            names.METHOD_TOKENS, names.METHOD_TOKEN_LEN, rows, ask)
        return rows[:got], ask[:got]

    def _is_internal(self, name: str) -> bool:
        return names.is_internal(name, self.internal_domains, self._private_ip)

    def _private_ip(self, ip) -> bool:
        v = int(ip) | MAPPED if ip.version == 4 else int(ip)
        hi = np.array([v >> 64], dtype=np.uint64)
        lo = np.array([v & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)
        return not self.plan.zone(hi, lo)[0] & PUBLIC


def group_key(t, row: int, source: str, name: str) -> int:
    """A 64-bit key for (client address, how the name was seen, the name)."""
    h = hashlib.blake2b(digest_size=8)
    h.update(int(t.src_hi[row]).to_bytes(8, "big") + int(t.src_lo[row]).to_bytes(8, "big"))
    h.update(f"{source}\0{name}".encode())
    return int.from_bytes(h.digest(), "big", signed=True)
