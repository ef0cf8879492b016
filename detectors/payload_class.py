"""Encrypted or not: each payload's class, from its first bytes and its flow's history.

JL art.32 asks that insurance and personal data be encrypted in transit; only payloads that
are not are searched for personal data and credentials. A payload is encrypted when its
first bytes are a record or packet header of an encrypted protocol, or when its flow has
shown such a header before (TLS records split across TCP segments, QUIC short headers,
SSH after its banner, ESP after IKE):

| class       | recognised by                                                              |
|-------------|----------------------------------------------------------------------------|
| `tls`       | TCP; a record header: type 20-24, version 3.0-3.4 (SSL 3.0, TLS 1.0-1.3), length at most 2^14 + 2048 |
| `tlcp`      | TCP; a record header with version 1.1 (0x0101): TLCP, GB/T 38636 (GM/T 0024), the national-cryptography TLS that insurance software uses |
| `ssh`       | TCP; the `SSH-` banner                                                     |
| `ipsec`     | IP protocol 50 (ESP); UDP 500 or 4500 (IKE, ESP in UDP)                    |
| `wireguard` | UDP; message type 1-4 and three zero bytes, with the length each type has  |
| `dtls`      | UDP; a record header: type 20-25, version 0xFEFF / 0xFEFD / 0xFEFC (DTLS 1.0, 1.2, 1.3) |
| `quic`      | UDP; a long header (first bits 11) with a known version (1, 2, drafts, negotiation) |
| `plaintext` | everything else with a payload                                             |

A flow keeps the last encrypted class it showed (STARTTLS turns a plaintext flow into TLS
from the first record on); payloads with no recognisable header take it. The state lives
in columns indexed by the flow table's slot, checked against the flow's key, so a slot that
was reused starts over.

Counters (bounded labels, the classes above): `ybsensor_payload_bytes_total{class}` (payload
bytes of IP packets), `ybsensor_flows_by_payload_class_total{class}` (flows, counted once,
by the class of their first payload).
"""
from __future__ import annotations

import numpy as np

from . import compiled
from .content import every_head, head

CLASSES = ("plaintext", "tls", "tlcp", "ssh", "ipsec", "wireguard", "dtls", "quic")
PLAINTEXT, TLS, TLCP, SSH, IPSEC, WIREGUARD, DTLS, QUIC = range(1, 9)   # 0: unrecognised
ENCRYPTED = (TLS, TLCP, SSH, IPSEC, WIREGUARD, DTLS, QUIC)
HEAD = 8
TCP, UDP, ESP = 6, 17, 50
MAX_RECORD = (1 << 14) + 2048
QUIC_VERSIONS = (0x00000001, 0x6B3343CF, 0x00000000)   # v1, v2 (RFC 9369), negotiation
WG_LENGTHS = {1: 148, 2: 92, 3: 64}                      # type 4 (data): 32 + 16k bytes
_WG_LEN = np.full(256, -1, dtype=np.int64)
for _t, _n in WG_LENGTHS.items():
    _WG_LEN[_t] = _n
_SSH = int.from_bytes(b"SSH-", "little")
# the same, as arrays for the compiled loop (payload_kernels.classify)
_CODES = np.array([TLS, TLCP, SSH, IPSEC, WIREGUARD, DTLS, QUIC], dtype=np.int8)
_PROTOCOLS = np.array([TCP, UDP, ESP], dtype=np.int64)
_QUIC = np.array(QUIC_VERSIONS, dtype=np.int64)


def name(code: int) -> str:
    return CLASSES[code - 1] if 1 <= code <= len(CLASSES) else "none"


def recognise(first: np.ndarray, plen: np.ndarray, proto: np.ndarray, sport: np.ndarray,
              dport: np.ndarray) -> np.ndarray:
    """The class each payload's own first bytes show (0: none; plaintext is never shown).
    `first`: the first HEAD bytes of each payload, (n, HEAD) uint8, zero past the end."""
    n = len(plen)
    out = np.zeros(n, dtype=np.int8)
    if not n:
        return out
    first = np.ascontiguousarray(first[:, :HEAD])
    b0, b1, b2 = first[:, 0], first[:, 1], first[:, 2]
    tcp, udp = proto == TCP, proto == UDP
    if tcp.any():
        reclen = (first[:, 3].astype(np.int32) << 8) | first[:, 4]
        record = tcp & (plen >= 5) & (reclen > 0) & (reclen <= MAX_RECORD) & (b0 >= 20)
        out[record & (b0 <= 24) & (b1 == 3) & (b2 <= 4)] = TLS
        out[record & (b0 <= 23) & (b1 == 1) & (b2 == 1)] = TLCP
        out[tcp & (plen >= 4) & (first.view("<u4")[:, 0] == _SSH)] = SSH
    if udp.any():
        out[udp & (plen >= 13) & (b0 >= 20) & (b0 <= 25) & (b1 == 0xFE)
            & ((b2 == 0xFF) | (b2 == 0xFD) | (b2 == 0xFC))] = DTLS
        long_header = np.flatnonzero(udp & (plen >= 7) & ((b0 & 0xC0) == 0xC0))
        if long_header.size:
            v = first[long_header, 1:5].astype(np.int64)
            version = (v[:, 0] << 24) | (v[:, 1] << 16) | (v[:, 2] << 8) | v[:, 3]
            known = (version == QUIC_VERSIONS[0]) | (version == QUIC_VERSIONS[1]) | \
                (version == QUIC_VERSIONS[2]) | ((version >> 8) == 0xFF0000)    # drafts
            out[long_header[known]] = QUIC
        wg = np.flatnonzero(udp & (b0 >= 1) & (b0 <= 4) & (b1 == 0) & (b2 == 0)
                            & (first[:, 3] == 0))
        if wg.size:
            t, ln = first[wg, 0], plen[wg]
            ok = (ln == _WG_LEN[t]) | ((t == 4) & (ln >= 32) & (ln % 16 == 0))
            out[wg[ok]] = WIREGUARD
        out[udp & ((sport == 500) | (sport == 4500) | (dport == 500) | (dport == 4500))] = IPSEC
    out[proto == ESP] = IPSEC
    return out


class PayloadClasses:
    """Classifies every payload of a batch and keeps, per flow, the last encrypted class."""

    def __init__(self):
        self.key = np.zeros(0, dtype=np.uint64)      # the flow key each slot's state is for
        self.last = np.zeros(0, dtype=np.int8)       # last encrypted class shown (0: none)
        self.bytes = np.zeros(len(CLASSES) + 1, dtype=np.int64)
        self.flows = np.zeros(len(CLASSES) + 1, dtype=np.int64)

    def _grow(self, top: int) -> None:
        if top < len(self.key):
            return
        size = max(top + 1, 2 * len(self.key), 1024)
        self.key = np.concatenate([self.key, np.zeros(size - len(self.key), np.uint64)])
        self.last = np.concatenate([self.last, np.zeros(size - len(self.last), np.int8)])

    def classify(self, ctx) -> np.ndarray:
        """Each row's class (0 for rows without user IP or without payload)."""
        t = ctx.t
        cls = np.zeros(t.n, dtype=np.int8)
        rows = np.flatnonzero(ctx.has_ip & (t.payload_len > 0))
        if not rows.size:
            return cls
        if ctx.flow is not None and compiled.on() and self._classify_compiled(ctx, rows, cls):
            return cls
        own = recognise(head(t, rows, HEAD), t.payload_len[rows], t.proto[rows],
                        t.sport[rows], t.dport[rows])
        flow = ctx.flow[rows] if ctx.flow is not None else np.full(len(rows), -1)
        tracked = flow >= 0
        result = own.copy()
        if tracked.any():
            trows, tflow, town = rows[tracked], flow[tracked], own[tracked]
            keys = ctx.flow_keys[trows]
            self._grow(int(tflow.max()))
            # by flow, then arrival: the batch's rows grouped by flow, narrowed to these
            order = ctx.groups.narrow(trows)
            f, o, k = tflow[order], town[order], keys[order]
            pos = np.arange(len(f))
            starts = np.ones(len(f), dtype=bool)
            starts[1:] = f[1:] != f[:-1]
            group_start = np.maximum.accumulate(np.where(starts, pos, 0))
            seen = np.maximum.accumulate(np.where(o > 0, pos, -1))   # last shown so far
            have = seen >= group_start
            known = self.key[f] == k
            before = np.where(known, self.last[f], 0)
            filled = np.where(o > 0, o, np.where(have, o[np.maximum(seen, 0)], before))
            result[np.flatnonzero(tracked)[order]] = filled
            # the new state: the last class each flow showed, for its slot
            ends = np.append(np.flatnonzero(starts)[1:] - 1, len(f) - 1)
            gs = np.flatnonzero(starts)
            new_flow = ~known[gs]
            shown = np.where(have[ends], o[np.maximum(seen[ends], 0)], before[ends])
            self.key[f[gs]] = k[gs]
            self.last[f[gs]] = shown
            first_cls = np.where(filled[gs] > 0, filled[gs], PLAINTEXT)
            self.flows += np.bincount(first_cls[new_flow], minlength=len(self.flows))
        untracked_first = ~tracked & (result == 0)
        result[untracked_first] = PLAINTEXT
        result[result == 0] = PLAINTEXT
        cls[rows] = result
        self.bytes += np.bincount(result, weights=t.payload_len[rows],
                                  minlength=len(self.bytes)).astype(np.int64)
        return cls

    def _classify_compiled(self, ctx, rows: np.ndarray, cls: np.ndarray) -> bool:
        """classify with one numba loop (payload_kernels.classify) that reads each payload's
        first bytes from the table's shared heads and follows the flows in the batch's flow
        grouping: the same classes, state and counters; False where the loop cannot run."""
        t = ctx.t
        top = int(ctx.flow[rows].max())
        if top >= 0:
            self._grow(top)
        n = len(rows)
        done = compiled.call(
            "classify", rows, ctx.groups.order, every_head(t), t.payload_len, t.proto,
            t.sport, t.dport, ctx.flow, ctx.flow_keys, self.key, self.last, _CODES, _PROTOCOLS, MAX_RECORD, _SSH, _QUIC, _WG_LEN, PLAINTEXT,
            np.zeros(t.n, np.int8), np.empty(n, np.int64), np.empty(n, np.int8), cls,
            self.flows, self.bytes)
        return done is not None

    def metric_families(self):
        from prometheus_client.core import CounterMetricFamily
        octets = CounterMetricFamily("ybsensor_payload_bytes", "Payload bytes of IP packets, by "
                                     "payload class (encrypted protocols, or plaintext)",
                                     labels=["class"])
        flows = CounterMetricFamily("ybsensor_flows_by_payload_class", "Flows by the payload "
                                    "class of their first payload", labels=["class"])
        for code, label in enumerate(CLASSES, 1):
            octets.add_metric([label], int(self.bytes[code]))
            flows.add_metric([label], int(self.flows[code]))
        yield octets
        yield flows
