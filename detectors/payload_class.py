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
from .content import every_head

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
# the same, as arrays for the compiled loop (payload_kernels._recognise)
_CODES = np.array([TLS, TLCP, SSH, IPSEC, WIREGUARD, DTLS, QUIC], dtype=np.int8)
_PROTOCOLS = np.array([TCP, UDP, ESP], dtype=np.int64)
_QUIC = np.array(QUIC_VERSIONS, dtype=np.int64)


def name(code: int) -> str:
    return CLASSES[code - 1] if 1 <= code <= len(CLASSES) else "none"


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
        """Each row's class (0 for rows without user IP or without payload): a row's own
        header, else the last one its flow showed before it (in this batch or before),
        plaintext where none; the flows' state and the counters follow. One compiled loop
        (payload_kernels.classify) reads each payload's first bytes from the table's
        shared heads and follows the flows in the batch's flow grouping."""
        t = ctx.t
        cls = np.zeros(t.n, dtype=np.int8)
        rows = np.flatnonzero(ctx.has_ip & (t.payload_len > 0))
        if not rows.size:
            return cls
        flow = ctx.flow if ctx.flow is not None else np.full(t.n, -1, dtype=np.int64)
        top = int(flow[rows].max())
        if top >= 0:
            self._grow(top)
        n = len(rows)
        compiled.call(
            "classify", rows, ctx.groups.order, every_head(t), t.payload_len, t.proto,
            t.sport, t.dport, flow, ctx.flow_keys, self.key, self.last, _CODES, _PROTOCOLS,
            MAX_RECORD, _SSH, _QUIC, _WG_LEN, PLAINTEXT,
            np.zeros(t.n, np.int8), np.empty(n, np.int64), np.empty(n, np.int8), cls,
            self.flows, self.bytes)
        return cls

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
