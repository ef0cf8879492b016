"""The flow log: one record (a JSON line, or a Parquet row) per flow when it leaves the
flow table, the connection summary an analyst pivots on from an alert (Zeek's conn.log,
Suricata's eve `flow`).

A record carries the alerts' identity fields (`line`, `institution`, `community_id`,
`sensor`), so an alert's flow is found by its community ID:

    {"event_type": "flow", "timestamp": "2025-01-02T01:12:00.000000Z", "ts": 1735780320.0,
     "sensor": "edge-1", "line": "vlan:100", "institution": "H22010200001",
     "community_id": "1:...", "src": "10.1.2.77", "sport": 52011, "dst": "203.0.113.80",
     "dport": 443, "proto": 6, "start": 1735780320.0, "end": 1735780320.05,
     "duration": 0.05, "orig_packets": 6, "orig_bytes": 742, "orig_payload_bytes": 517,
     "resp_packets": 5, "resp_bytes": 1423, "resp_payload_bytes": 1107,
     "orig_tcp_flags": "SAPF", "resp_tcp_flags": "SAPF", "tcp_close": "fin",
     "end_reason": "idle", "first_frame": 1412}

`src`/`sport` are the originator's (the first packet's sender); bytes are on the wire,
payload bytes above the transport header (retransmissions included); TCP flags are those
seen from each side (S SYN, A ACK, P PSH, F FIN, R RST, U URG, E ECE, C CWR);
`tcp_close` is `rst` where either side reset, `fin` where both sent FIN, else null;
`end_reason` is why the flow left the table: `idle` (no packet for `flows.idle_seconds`),
`evicted` (the table was full), `shutdown` (the capture ended). ICMP's `sport`/`dport` are
its type and the counterpart type (or code), as in the flow key.
"""
from __future__ import annotations


import numpy as np
from prometheus_client.core import CounterMetricFamily

from ybsensor.core.addresses import address_texts
from ybsensor.decoders.tcp import ACK, CWR, ECE, FIN, PSH, RST, SYN, URG
from ybsensor.decoders.view import line_key
from ybsensor.core.community_id import community_ids
from ybsensor.core.timestamps import micros, rfc3339_column

from .tables import Coded, Micros, RecordFile, Texts

TCP = 6
FLAG_LETTERS = ((SYN, "S"), (ACK, "A"), (PSH, "P"), (FIN, "F"), (RST, "R"), (URG, "U"),
                (ECE, "E"), (CWR, "C"))
NO_OWNER = -1
TCP_CLOSE = [None, "rst", "fin"]        # tcp_close by its code

# the fields every event record opens with (the alerts' identity fields)
EVENT_FIELDS = {"event_type": "str", "timestamp": "str", "ts": "float", "sensor": "str",
                "line": "str", "institution": "str", "community_id": "str", "src": "str",
                "sport": "int", "dst": "str", "dport": "int", "proto": "int"}
FIELDS = EVENT_FIELDS | {
    "start": "float", "end": "float", "duration": "float", "orig_packets": "int",
    "orig_bytes": "int", "orig_payload_bytes": "int", "resp_packets": "int",
    "resp_bytes": "int", "resp_payload_bytes": "int", "orig_tcp_flags": "str",
    "resp_tcp_flags": "str", "tcp_close": "str", "end_reason": "str", "first_frame": "int"}


def flag_letters(flags: int) -> str:
    return "".join(letter for bit, letter in FLAG_LETTERS if flags & bit)


def _letters(flags: np.ndarray, tcp: np.ndarray) -> Coded:
    """`flag_letters` of each TCP flow's flags (None for other protocols), once per value."""
    values, at = np.unique(np.where(tcp, flags.astype(np.int64), -1), return_inverse=True)
    return Coded([flag_letters(v) if v >= 0 else None for v in values.tolist()], at)


def _distinct(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first row of each distinct row of `columns`, and each row's distinct one."""
    order = np.lexsort(columns[::-1])
    begins = np.zeros(len(order), dtype=bool)
    begins[0] = True
    for column in columns:
        ordered = column[order]
        begins[1:] |= ordered[1:] != ordered[:-1]
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.cumsum(begins) - 1
    return order[begins], inverse


class FlowLog:
    """Writes the flows a FlowTable ends (its `on_end`); `plan` names lines' and addresses'
    institutions, `sensor` this sensor."""

    def __init__(self, path: str, plan, sensor: str = ""):
        self.path = path
        self.plan = plan
        self.sensor = sensor
        self.interfaces: list[str] = ["0"]      # the capture's, for `if:` lines
        self.file = RecordFile(path, FIELDS)     # JSON lines, or Parquet
        self.written = 0

    def ended(self, table, ids: np.ndarray, reason: str) -> None:
        ids = ids[ids < table.capacity]
        if not ids.size:
            return
        self.file.write_columns(self.columns(table, ids, reason), len(ids))
        self.written += len(ids)

    def columns(self, table, ids: np.ndarray, reason: str) -> dict:
        """The records of the flows `ids` as columns in FIELDS' order: numpy and compiled
        loops for the numbers, addresses, timestamps and community IDs, one call per
        distinct line, institution and flag set."""
        plan, interfaces = self.plan, self.interfaces
        src_hi, src_lo = table.src_hi[ids], table.src_lo[ids]
        dst_hi, dst_lo = table.dst_hi[ids], table.dst_lo[ids]
        kind, line_a, line_b = table.line_kind[ids], table.line_a[ids], table.line_b[ids]
        owner = plan.lines.owner(kind, line_a, line_b, interfaces)
        for hi, lo in ((src_hi, src_lo), (dst_hi, dst_lo)):
            owner = np.where(owner >= 0, owner, plan.owner(hi, lo))
        line_first, line_of = _distinct(kind, line_a, line_b)
        owners, owner_of = np.unique(owner, return_inverse=True)
        proto, sport, dport = table.proto[ids], table.sport[ids], table.dport[ids]
        tcp = proto == TCP
        fo, fr = table.orig_flags[ids], table.resp_flags[ids]
        close = np.where(tcp & (((fo | fr) & RST) != 0), 1,
                         np.where(tcp & ((fo & fr & FIN) != 0), 2, 0))     # TCP_CLOSE
        start, end = table.first_ns[ids] / 1e9, table.last_ns[ids] / 1e9
        started = Micros(micros(start))
        packets, octets = table.packets[ids], table.bytes[ids]
        orig_packets, orig_bytes = table.orig_packets[ids], table.orig_bytes[ids]
        return {
            "event_type": "flow", "timestamp": rfc3339_column(start), "ts": started,
            "sensor": self.sensor,
            "line": Coded([line_key(k, a, b, interfaces) for k, a, b in zip(
                kind[line_first].tolist(), line_a[line_first].tolist(),
                line_b[line_first].tolist())], line_of),
            "institution": Coded([plan.code(i) for i in owners.tolist()], owner_of),
            "community_id": community_ids(src_hi, src_lo, dst_hi, dst_lo, proto, sport, dport),
            "src": Texts(*address_texts(src_hi, src_lo)), "sport": sport,
            "dst": Texts(*address_texts(dst_hi, dst_lo)), "dport": dport,
            "proto": proto, "start": started, "end": Micros(micros(end)),
            "duration": Micros(micros(end - start)),
            "orig_packets": orig_packets, "orig_bytes": orig_bytes,
            "orig_payload_bytes": table.orig_payload[ids],
            "resp_packets": packets - orig_packets, "resp_bytes": octets - orig_bytes,
            "resp_payload_bytes": table.resp_payload[ids],
            "orig_tcp_flags": _letters(fo, tcp), "resp_tcp_flags": _letters(fr, tcp),
            "tcp_close": Coded(TCP_CLOSE, close), "end_reason": reason,
            "first_frame": table.first_frame[ids],
        }

    def continue_from(self, old: "FlowLog") -> None:
        """A reloaded configuration's log: the same path's file goes on (the one this made
        is dropped unwritten); a log moved elsewhere closes the old one."""
        if old.path == self.path:
            self.file.discard()
            self.file, self.written = old.file, old.written
        else:
            old.close()

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()

    def metric_families(self):
        yield CounterMetricFamily("ybsensor_flow_records", "Flows written to the flow log",
                                  value=self.written)
