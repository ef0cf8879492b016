"""L2TPv2 sessions as one access line in both directions.

Each end of an L2TPv2 tunnel names the tunnel and each session with ids of its own, and a
header carries the *receiver's* ids (RFC 2661 §3.1): the LAC-to-LNS packets of a session say
`l2tp:TB/SB`, the LNS-to-LAC packets `l2tp:TA/SA`. An institution's config names one of
the two. This stage learns the pairs from the session set-up the sensor sees:

- ICRQ or OCRQ from A to B: header tunnel TB; Assigned Session ID AVP: SA;
- ICRP or OCRP from B to A: header TA/SA; Assigned Session ID AVP: SB.

Matched by the endpoints' addresses and SA, they pair `l2tp:TA/SA` with `l2tp:TB/SB`. Where
exactly one of the two is a configured line (an exact key or a `l2tp:T/*` wildcard), rows
on the other get the configured line before flows and detectors see them, so both
directions are one line and one flow. CDN (session torn down) and StopCCN (tunnel torn
down) forget the pairs they end, since ids are reused. Sessions set up before the capture
began stay as they are on the wire: list both keys, or use `l2tp:T/*`, for those.

Control messages are rare: they are parsed one at a time in Python (the AVPs after the
header, which is where decoding leaves them). Hidden AVPs (H bit) cannot be read and are
skipped. Pairs and pending requests are bounded.
"""
from __future__ import annotations

import struct
from collections import OrderedDict

import numpy as np

from ybsensor.decoders import dispatch as dispatch_mod
from ybsensor.decoders.keys import OK
from ybsensor.decoders.l2tp import LINE as L2TP_LINE
from ybsensor.decoders.table import PacketTable

from ybsensor.core.plan import LineOwners

MESSAGE_TYPE, ASSIGNED_SESSION = 0, 14
STOP_CCN, OCRQ, OCRP, ICRQ, ICRP, CDN = 4, 7, 8, 10, 11, 14
HIDDEN = 0x4000
AVP_HEADER = struct.Struct("!HHH")
MAX_PAIRS = 65536      # session pairs remembered (least recently made dropped first)
MAX_PENDING = 4096     # requests waiting for their reply


def avps(body: bytes) -> dict[int, bytes]:
    """The IETF AVPs of a control message body (attribute type -> value), up to the first
    malformed one; hidden values are left out."""
    found: dict[int, bytes] = {}
    at = 0
    while at + AVP_HEADER.size <= len(body):
        bits, vendor, attr = AVP_HEADER.unpack_from(body, at)
        length = bits & 0x3FF
        if length < AVP_HEADER.size or at + length > len(body):
            break
        if vendor == 0 and not bits & HIDDEN:
            found.setdefault(attr, body[at + AVP_HEADER.size: at + length])
        at += length
    return found


def _u16(value: bytes | None) -> int | None:
    return int.from_bytes(value, "big") if value is not None and len(value) == 2 else None


class L2tpSessions:
    """A pipeline stage between decoding and flows: learns session pairs from control
    messages and rewrites the unconfigured side of a pair to the configured line."""

    def __init__(self, lines: LineOwners, dispatch=dispatch_mod.DEFAULT):
        self.lines = lines
        self.l2tp_layer = dispatch.id("l2tp")
        # (requester's address pair, its session id) -> the tunnel id its request went to
        self.pending: OrderedDict[tuple, int] = OrderedDict()
        self.partner: OrderedDict[int, int] = OrderedDict()  # line code <-> line code
        self.alias: dict[int, int] = {}                      # unconfigured -> configured
        self._from = np.zeros(0, dtype=np.int64)             # alias, sorted, as arrays
        self._to = np.zeros(0, dtype=np.int64)
        self.learned = 0      # pairs learned
        self.rewritten = 0    # rows given their session's configured line

    @staticmethod
    def code(tunnel: int, session: int) -> int:
        return (int(tunnel) << 16) | int(session)

    def process(self, t: PacketTable) -> None:
        if not t.n:
            return
        on_l2tp = t.line_kind == L2TP_LINE.id
        if not on_l2tp.any():
            return
        # a control message is a row that ends, ok, at the L2TP header (data goes on to PPP)
        last = t.layers[np.arange(t.n), np.maximum(t.nlayers.astype(np.int64) - 1, 0)]
        control = np.flatnonzero(on_l2tp & (t.status == OK) & (last == self.l2tp_layer)
                                 & (t.payload_len >= AVP_HEADER.size + 2))
        rows = np.flatnonzero(on_l2tp)
        # in capture order: the rows before a control message see the pairs as they were,
        # the message's own row and those after it the pairs as it leaves them
        start = 0
        for row in control.tolist():
            at = int(np.searchsorted(rows, row))
            self._rewrite(t, rows[start:at])
            start = at
            if self._control(t, row):
                keys = np.array(sorted(self.alias), dtype=np.int64)
                self._from = keys
                self._to = np.array([self.alias[k] for k in keys.tolist()], dtype=np.int64)
        self._rewrite(t, rows[start:])

    # --- control messages -------------------------------------------------------------

    def _control(self, t: PacketTable, row: int) -> bool:
        off, n = int(t.payload_off[row]), int(t.payload_len[row])
        found = avps(t.batch.data[off: off + n].tobytes())
        kind = _u16(found.get(MESSAGE_TYPE))
        tunnel, session = int(t.line_a[row]), int(t.line_b[row])
        ends = (int(t.outer_src_hi[row]), int(t.outer_src_lo[row]),
                int(t.outer_dst_hi[row]), int(t.outer_dst_lo[row]))
        assigned = _u16(found.get(ASSIGNED_SESSION))
        if kind in (ICRQ, OCRQ) and assigned is not None:
            self.pending[(ends, assigned)] = tunnel
            self.pending.move_to_end((ends, assigned))
            while len(self.pending) > MAX_PENDING:
                self.pending.popitem(last=False)
            return False
        if kind in (ICRP, OCRP) and assigned is not None:
            # the reply goes back to the requester: its ends reversed, its session in the header
            back = (ends[2], ends[3], ends[0], ends[1])
            peer_tunnel = self.pending.pop((back, session), None)
            if peer_tunnel is None:
                return False
            return self._pair(self.code(tunnel, session), self.code(peer_tunnel, assigned))
        if kind == CDN:
            return self._forget([self.code(tunnel, session)])
        if kind == STOP_CCN:
            return self._forget([c for c in self.partner if c >> 16 == tunnel])
        return False

    def _pair(self, a: int, b: int) -> bool:
        self._forget([a, b])
        self.partner[a], self.partner[b] = b, a
        self.learned += 1
        while len(self.partner) > 2 * MAX_PAIRS:
            oldest = next(iter(self.partner))
            self._forget([oldest])
        kind = np.full(2, L2TP_LINE.id, dtype=np.int64)
        owner = self.lines.match(kind, np.array([a >> 16, b >> 16]),
                                 np.array([a & 0xFFFF, b & 0xFFFF]), [])
        if (owner[0] >= 0) != (owner[1] >= 0):   # exactly one side is a configured line
            configured, other = (a, b) if owner[0] >= 0 else (b, a)
            self.alias[other] = configured
        return True

    def _forget(self, codes) -> bool:
        changed = False
        for c in list(codes):
            peer = self.partner.pop(c, None)
            if peer is None:
                continue
            self.partner.pop(peer, None)
            for x in (c, peer):
                changed |= self.alias.pop(x, None) is not None
        return changed

    # --- data -------------------------------------------------------------------------

    def _rewrite(self, t: PacketTable, rows: np.ndarray) -> None:
        if not self._from.size or not rows.size:
            return
        code = (t.line_a[rows] << 16) | t.line_b[rows]
        at = np.minimum(np.searchsorted(self._from, code), len(self._from) - 1)
        hit = self._from[at] == code
        if not hit.any():
            return
        rows, to = rows[hit], self._to[at[hit]]
        t.line_a[rows] = to >> 16
        t.line_b[rows] = to & 0xFFFF
        self.rewritten += len(rows)

    def metric_families(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        yield GaugeMetricFamily("ybsensor_l2tp_session_pairs", "L2TPv2 sessions whose two "
                                "directions' ids the sensor paired from ICRQ/ICRP or OCRQ/OCRP",
                                value=len(self.partner) // 2)
        yield CounterMetricFamily("ybsensor_l2tp_rows_rewritten", "Frames given their L2TPv2 "
                                  "session's configured line (the other direction's ids)",
                                  value=self.rewritten)
