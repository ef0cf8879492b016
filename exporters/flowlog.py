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

from ybsensor.decoders.view import line_key, packed_column, texts
from ybsensor.core.community_id import community_id
from ybsensor.core.timestamps import rfc3339_column

from .tables import RecordFile

TCP = 6
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
FLAG_LETTERS = ((SYN, "S"), (ACK, "A"), (PSH, "P"), (FIN, "F"), (RST, "R"), (URG, "U"),
                (ECE, "E"), (CWR, "C"))
NO_OWNER = -1

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


def _rounded(seconds: np.ndarray) -> list[float]:
    # Python's round (correctly rounded), not numpy's (scaled, off in the last digit)
    return [round(x, 6) for x in seconds.tolist()]


def _letters(flags: np.ndarray, tcp: np.ndarray) -> list[str | None]:
    """`flag_letters` of each TCP flow's flags (None for other protocols), once per value."""
    values, at = np.unique(flags, return_inverse=True)
    letters = [flag_letters(v) for v in values.tolist()]
    return [letters[k] if t else None for k, t in zip(at.tolist(), tcp.tolist())]


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
        """The records of the flows `ids` as columns in FIELDS' order: numpy for the
        numbers, one call per distinct line, institution and flag set, Python per flow only
        for its addresses' text and community ID."""
        plan, interfaces = self.plan, self.interfaces
        src_raw = packed_column(table.src_hi[ids], table.src_lo[ids])
        dst_raw = packed_column(table.dst_hi[ids], table.dst_lo[ids])
        owner = plan.lines.owner(table.line_kind[ids], table.line_a[ids], table.line_b[ids],
                                 interfaces)
        for ends in ((table.src_hi, table.src_lo), (table.dst_hi, table.dst_lo)):
            owner = np.where(owner >= 0, owner, plan.owner(ends[0][ids], ends[1][ids]))
        lines, line_of = np.unique(np.stack([table.line_kind[ids].astype(np.int64),
                                             table.line_a[ids].astype(np.int64),
                                             table.line_b[ids].astype(np.int64)], axis=1),
                                   axis=0, return_inverse=True)
        line_names = [line_key(k, a, b, interfaces) for k, a, b in lines.tolist()]
        owners, owner_of = np.unique(owner, return_inverse=True)
        codes = [plan.code(i) for i in owners.tolist()]
        proto, sport, dport = table.proto[ids], table.sport[ids], table.dport[ids]
        tcp = proto == TCP
        fo, fr = table.orig_flags[ids], table.resp_flags[ids]
        close = np.where(tcp & (((fo | fr) & RST) != 0), "rst",
                         np.where(tcp & ((fo & fr & FIN) != 0), "fin", None))
        start, end = table.first_ns[ids] / 1e9, table.last_ns[ids] / 1e9
        rounded = _rounded(start)
        packets, octets = table.packets[ids], table.bytes[ids]
        orig_packets, orig_bytes = table.orig_packets[ids], table.orig_bytes[ids]
        return {
            "event_type": "flow", "timestamp": rfc3339_column(start), "ts": rounded,
            "sensor": self.sensor, "line": [line_names[k] for k in line_of.tolist()],
            "institution": [codes[k] for k in owner_of.tolist()],
            "community_id": [community_id(s, d, p, sp, dp) for s, d, p, sp, dp in zip(
                src_raw, dst_raw, proto.tolist(), sport.tolist(), dport.tolist())],
            "src": texts(src_raw), "sport": sport, "dst": texts(dst_raw), "dport": dport,
            "proto": proto, "start": rounded, "end": _rounded(end),
            "duration": _rounded(end - start),
            "orig_packets": orig_packets, "orig_bytes": orig_bytes,
            "orig_payload_bytes": table.orig_payload[ids],
            "resp_packets": packets - orig_packets, "resp_bytes": octets - orig_bytes,
            "resp_payload_bytes": table.resp_payload[ids],
            "orig_tcp_flags": _letters(fo, tcp), "resp_tcp_flags": _letters(fr, tcp),
            "tcp_close": close.tolist(), "end_reason": reason,
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
