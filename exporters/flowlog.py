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

import datetime

import numpy as np
from prometheus_client.core import CounterMetricFamily

from ybsensor.decoders.view import line_key, packed_column, texts
from ybsensor.core.community_id import community_id

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


def rfc3339(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc) \
        .isoformat(timespec="microseconds").replace("+00:00", "Z")


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
        self.file.write(self.records(table, ids, reason))
        self.written += len(ids)

    def records(self, table, ids: np.ndarray, reason: str) -> list[dict]:
        plan, interfaces = self.plan, self.interfaces
        src_raw = packed_column(table.src_hi[ids], table.src_lo[ids])
        dst_raw = packed_column(table.dst_hi[ids], table.dst_lo[ids])
        owner = plan.lines.owner(table.line_kind[ids], table.line_a[ids], table.line_b[ids],
                                 interfaces)
        for ends in ((table.src_hi, table.src_lo), (table.dst_hi, table.dst_lo)):
            owner = np.where(owner >= 0, owner, plan.owner(ends[0][ids], ends[1][ids]))
        packets, octets = table.packets[ids], table.bytes[ids]
        orig_packets, orig_bytes = table.orig_packets[ids], table.orig_bytes[ids]
        flags_o, flags_r = table.orig_flags[ids].tolist(), table.resp_flags[ids].tolist()
        out = []
        for (kind, a, b, inst, s_raw, d_raw, s, d, proto, sp, dp, first, last, frame, n, nb,
             on, ob, op, rp, fo, fr) in zip(
                table.line_kind[ids].tolist(), table.line_a[ids].tolist(),
                table.line_b[ids].tolist(), owner.tolist(), src_raw, dst_raw, texts(src_raw),
                texts(dst_raw), table.proto[ids].tolist(), table.sport[ids].tolist(),
                table.dport[ids].tolist(), table.first_ns[ids].tolist(),
                table.last_ns[ids].tolist(), table.first_frame[ids].tolist(), packets.tolist(),
                octets.tolist(), orig_packets.tolist(), orig_bytes.tolist(),
                table.orig_payload[ids].tolist(), table.resp_payload[ids].tolist(),
                flags_o, flags_r):
            start, end = first / 1e9, last / 1e9
            tcp = proto == TCP
            close = None
            if tcp and (fo | fr) & RST:
                close = "rst"
            elif tcp and fo & FIN and fr & FIN:
                close = "fin"
            out.append({
                "event_type": "flow", "timestamp": rfc3339(start), "ts": round(start, 6),
                "sensor": self.sensor, "line": line_key(kind, a, b, interfaces),
                "institution": plan.code(inst),
                "community_id": community_id(s_raw, d_raw, proto, sp, dp),
                "src": s, "sport": sp, "dst": d, "dport": dp, "proto": proto,
                "start": round(start, 6), "end": round(end, 6),
                "duration": round(end - start, 6),
                "orig_packets": on, "orig_bytes": ob, "orig_payload_bytes": op,
                "resp_packets": n - on, "resp_bytes": nb - ob, "resp_payload_bytes": rp,
                "orig_tcp_flags": flag_letters(fo) if tcp else None,
                "resp_tcp_flags": flag_letters(fr) if tcp else None,
                "tcp_close": close, "end_reason": reason, "first_frame": frame,
            })
        return out

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
