"""Records as a file an analyst's tools read: JSON lines, or Parquet (pyarrow) where the
path ends `.parquet`, so DuckDB, pandas and Spark read the flow and event logs directly.

Every log declares its fields once, as `{name: kind}` (kind: "str", "int", "float", "bool",
or a list of "strs" or "floats"); the
Parquet schema is made from them, so a column's type does not depend on the first batch.
Parquet is written in row groups of `ROW_GROUP` records; the file is readable once it is
closed (its footer is written then), which the sensor does on every way out (end of the
capture, SIGTERM/SIGINT). A Parquet file cannot be appended to: each run writes its file
anew, where JSON lines are appended.
"""
from __future__ import annotations

import json
import os
from json.encoder import encode_basestring

import numpy as np

from .alerts import open_regular

ROW_GROUP = 65536       # records held before a Parquet row group is written
PARQUET = ".parquet"


def arrow_schema(fields: dict[str, str]):
    import pyarrow as pa

    kinds = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
             "strs": pa.list_(pa.string()), "floats": pa.list_(pa.float64())}
    return pa.schema([(name, kinds[kind]) for name, kind in fields.items()])


def arrow_table(records: list[dict], fields: dict[str, str]):
    """`records` as an Arrow table of `fields`' columns (a field a record lacks: null)."""
    import pyarrow as pa

    return pa.Table.from_pylist(records, schema=arrow_schema(fields))


def _json_texts(values, kind: str, n: int) -> list[str]:
    """Each value of a column as json.dumps(ensure_ascii=False) writes it; a column that is
    not a list or an array is one value for every row."""
    if not isinstance(values, (list, np.ndarray)):
        return [_json_texts([values], kind, 1)[0]] * n
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if kind == "str":
        seen: dict = {}
        return [seen[v] if v in seen else seen.setdefault(
            v, "null" if v is None else encode_basestring(v)) for v in values]
    if kind == "float":
        return ["null" if v is None else float.__repr__(v) for v in values]
    if kind == "bool":
        return ["null" if v is None else ("true" if v else "false") for v in values]
    return ["null" if v is None else str(v) for v in values]


def json_lines(columns: dict, fields: dict[str, str], n: int) -> str:
    """`n` records given as columns (`{name: list, array or one value}`, in `fields`'
    order) as JSON lines, the text json.dumps(record, ensure_ascii=False,
    separators=(",", ":")) gives each record. One value is written into the line's
    template; an int array, and a float list without nulls, are formatted by `%` itself."""
    parts, values = [], []
    for name, column in columns.items():
        kind = fields[name]
        if not isinstance(column, (list, np.ndarray)):
            parts.append(_json_texts([column], kind, 1)[0].replace("%", "%%"))
            continue
        if kind == "int" and isinstance(column, np.ndarray):
            parts.append("%d")
            values.append(column.tolist())
        elif kind == "float" and isinstance(column, list) and None not in column:
            parts.append("%r")
            values.append(column)
        else:
            parts.append("%s")
            values.append(_json_texts(column, kind, n))
    template = "{" + ",".join(f"{encode_basestring(name).replace('%', '%%')}:{part}"
                              for name, part in zip(columns, parts)) + "}\n"
    if not values:
        return template * n
    return "".join([template % row for row in zip(*values)])


class RecordFile:
    """A log of records at `path` with the columns `fields`: JSON lines appended, or a
    Parquet file when the path ends `.parquet`. Opened as the alert log is (a link or a
    device is refused, never followed)."""

    def __init__(self, path: str, fields: dict[str, str]):
        self.path = str(path)
        self.fields = fields
        self.parquet = self.path.endswith(PARQUET)
        self.held: list[dict] = []
        self.writer = None
        # Parquet: the file is emptied when its writer starts (the first row group, or the
        # close), not here: a configuration reloaded beside it may hand it on (`discard`)
        flags = os.O_WRONLY | os.O_CREAT | (0 if self.parquet else os.O_APPEND)
        fd = open_regular(self.path, flags)
        self.file = os.fdopen(fd, "wb") if self.parquet else os.fdopen(fd, "a", encoding="utf-8")

    def write(self, records: list[dict]) -> None:
        if not records:
            return
        if not self.parquet:
            self.file.write("".join(json.dumps(r, ensure_ascii=False, separators=(",", ":"))
                                    + "\n" for r in records))
            return
        self.held.extend(records)
        if len(self.held) >= ROW_GROUP:
            self._row_group()

    def write_columns(self, columns: dict, n: int) -> None:
        """`n` records as columns (`{name: list, array or one value}`, every field of the
        file, in its order): what `write` of the records would write, without a dict per
        record."""
        if not n:
            return
        if not self.parquet:
            self.file.write(json_lines(columns, self.fields, n))
            return
        self.held.extend(dict(zip(columns, row)) for row in zip(*(
            (v.tolist() if isinstance(v, np.ndarray) else v)
            if isinstance(v, (list, np.ndarray)) else [v] * n for v in columns.values())))
        if len(self.held) >= ROW_GROUP:
            self._row_group()

    def _row_group(self) -> None:
        if self.writer is None:
            import pyarrow.parquet as pq

            self.file.truncate(0)
            self.writer = pq.ParquetWriter(self.file, arrow_schema(self.fields))
        if self.held:
            self.writer.write_table(arrow_table(self.held, self.fields))
            self.held = []

    def flush(self) -> None:
        if not self.parquet:
            self.file.flush()

    def close(self) -> None:
        """Write what is held and close (a Parquet file with no rows is still one); safe
        to call twice."""
        if self.file.closed:
            return
        try:
            if self.parquet:
                self._row_group()
                self.writer.close()
        finally:
            self.file.close()

    def discard(self) -> None:
        """Close without writing: another RecordFile of the same path goes on with it."""
        self.held = []
        self.file.close()


# `decode`'s rows (decoders/view.rows) as columns; `tunnels` as its JSON text
DECODE_FIELDS = {"frame": "int", "ts": "float", "len": "int", "encap": "str", "line": "str",
                 "outer_src": "str", "outer_dst": "str", "tunnels": "str", "src": "str",
                 "dst": "str", "proto": "int", "sport": "int", "dport": "int",
                 "payload_len": "int", "status": "str"}


def decode_table(rows):
    """Decoded rows (view.rows) as an Arrow table of DECODE_FIELDS."""
    flat = [r | {"tunnels": json.dumps(r["tunnels"], separators=(",", ":"))} for r in rows]
    return arrow_table(flat, DECODE_FIELDS)


class TableStream:
    """Arrow tables written one after another to a binary stream as one CSV (a header
    once) or one Parquet file (a row group each)."""

    def __init__(self, out, fmt: str, fields: dict[str, str]):
        self.out, self.fmt, self.schema = out, fmt, arrow_schema(fields)
        self.writer = None

    def write(self, table) -> None:
        if self.writer is None:
            if self.fmt == "parquet":
                import pyarrow.parquet as pq
                self.writer = pq.ParquetWriter(self.out, self.schema)
            else:
                import pyarrow.csv as pcsv
                self.writer = pcsv.CSVWriter(self.out, self.schema)
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is None:        # no rows: the header (or an empty file) still
            self.write(self.schema.empty_table())
        self.writer.close()
