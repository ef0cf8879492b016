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
import re
from dataclasses import dataclass
from json.encoder import encode_basestring

import numpy as np

from . import table_kernels
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


@dataclass(frozen=True)
class Coded:
    """A column of few distinct values: row i's value is values[codes[i]]."""
    values: list
    codes: np.ndarray


@dataclass(frozen=True)
class Texts:
    """A column of ASCII strings one after another: row i's is data[offsets[i]:
    offsets[i + 1]] (core.addresses.address_texts gives addresses so)."""
    data: np.ndarray
    offsets: np.ndarray

    def strings(self) -> list[str]:
        joined = self.data.tobytes().decode("ascii")
        return [joined[a:b] for a, b in zip(self.offsets[:-1].tolist(),
                                            self.offsets[1:].tolist())]


@dataclass(frozen=True)
class Micros:
    """A float column of seconds rounded to the microsecond (core/timestamps.micros), held
    as int64 microseconds: JSON writes each as repr of its float, Parquet the float."""
    values: np.ndarray


def _json_text(value, kind: str) -> str:
    """One value as json.dumps(ensure_ascii=False) writes it."""
    if value is None:
        return "null"
    if kind == "str":
        return encode_basestring(value)
    if kind == "float":
        return float.__repr__(value)
    if kind == "bool":
        return "true" if value else "false"
    return str(value)


_PLAIN = re.compile(r'[\x00-\x1f"\\]')     # what JSON escapes in ASCII


def _dictionary(values: list, kind: str):
    """The JSON texts of distinct values as (bytes, offsets)."""
    if kind == "str" and None not in values:
        plain = "".join(values)
        if plain.isascii() and not _PLAIN.search(plain):
            joined = '"' + '""'.join(values) + '"'
            off = np.zeros(len(values) + 1, dtype=np.int64)
            np.cumsum(np.fromiter(map(len, values), np.int64, len(values)) + 2, out=off[1:])
            return np.frombuffer(joined.encode("ascii"), dtype=np.uint8), off
    texts = [_json_text(v, kind).encode("utf-8") for v in values]
    off = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in texts], out=off[1:])
    return np.frombuffer(b"".join(texts), dtype=np.uint8), off


def _ascii_plain(column: np.ndarray) -> bool:
    """An `S` column (or bytes) whose every byte is printable ASCII that JSON writes as
    itself."""
    raw = np.ascontiguousarray(column).view(np.uint8)
    return not ((raw < 0x20) | (raw >= 0x7F) | (raw == 0x22) | (raw == 0x5C)).any()


def _column_cells(column, kind: str, n: int):
    """How a column is written: (TEXT, its texts' bytes, their offsets, each row's text,
    quoted or not), or (INT or MICROS, None, None, each row's number, False). Numbers and
    ASCII string arrays are written by the compiled loop; a list's distinct values once."""
    if isinstance(column, Coded):
        return (table_kernels.TEXT, *_dictionary(column.values, kind), column.codes, False)
    if isinstance(column, Micros):
        return table_kernels.MICROS, None, None, column.values, False
    if isinstance(column, Texts):
        if _ascii_plain(column.data):
            return table_kernels.TEXT, column.data, column.offsets, np.arange(n), True
        column = column.strings()
    if isinstance(column, np.ndarray) and column.dtype.kind == "S" and _ascii_plain(column):
        width = column.dtype.itemsize
        return (table_kernels.TEXT, np.ascontiguousarray(column).view(np.uint8),
                np.arange(n + 1, dtype=np.int64) * width, np.arange(n), True)
    if isinstance(column, np.ndarray) and kind == "int" and column.dtype.kind in "iu":
        return table_kernels.INT, None, None, column, False
    if isinstance(column, np.ndarray):
        column = [v.decode("utf-8") for v in column.tolist()] if column.dtype.kind == "S" \
            else column.tolist()
    seen: dict = {}
    codes = np.fromiter((seen.setdefault(v, len(seen)) for v in column), dtype=np.int64,
                        count=n)
    return (table_kernels.TEXT, *_dictionary(list(seen), kind), codes, False)


def json_bytes(columns: dict, fields: dict[str, str], n: int) -> np.ndarray:
    """`n` records given as columns (`{name: column or one value}`, in `fields`' order; a
    column: a list, a numpy array, `Coded`, `Texts` or `Micros`) as JSON lines in UTF-8 (a uint8
    array), the text json.dumps(record, ensure_ascii=False, separators=(",", ":")) gives
    each record. One value is part of the lines' template; a compiled loop writes the
    columns' cells between its pieces."""
    pieces, kinds, cells, texts, made = [], [], [], [], {}
    piece, size, base = "{", 0, 0
    for name, column in columns.items():
        kind = fields[name]
        piece += ("," if piece != "{" else "") + encode_basestring(name) + ":"
        if not isinstance(column, (list, np.ndarray, Coded, Micros, Texts)):
            piece += _json_text(column, kind)
            continue
        if id(column) not in made:      # a column given twice (`ts` and `start`): once
            how, buf, off, rows, quoted = _column_cells(column, kind, n)
            if how == table_kernels.TEXT:
                texts.append((buf, off))
                rows, width = rows + base, int((off[1:] - off[:-1])[rows].sum())
                base += len(off)
            else:
                width = n * table_kernels.WIDTH[how]
            made[id(column)] = how, rows, quoted, width
        how, rows, quoted, width = made[id(column)]
        pieces.append(piece + ('"' if quoted else ""))
        piece = '"' if quoted else ""
        kinds.append(how)
        cells.append(rows)
        size += width
    pieces.append(piece + "}\n")
    if not kinds:
        return np.frombuffer(pieces[0].encode("utf-8") * n, dtype=np.uint8)
    encoded = [p.encode("utf-8") for p in pieces]
    piece_off = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in encoded], out=piece_off[1:])
    matrix = np.empty((n, len(cells)), dtype=np.int64)
    for j, column in enumerate(cells):
        matrix[:, j] = column
    starts = np.cumsum([0] + [int(off[-1]) for _, off in texts[:-1]])
    text_off = np.concatenate([off + start for (_, off), start in zip(texts, starts)]) \
        if texts else np.zeros(1, dtype=np.int64)
    text_buf = np.concatenate([buf[:off[-1]] for buf, off in texts]) if texts \
        else np.zeros(0, dtype=np.uint8)
    out = np.empty(size + n * int(piece_off[-1]), dtype=np.uint8)
    written = table_kernels.write_lines(np.frombuffer(b"".join(encoded), dtype=np.uint8),
                                        piece_off, np.array(kinds, dtype=np.int64), matrix,
                                        text_buf, text_off, out)
    return out[:written]


def json_lines(columns: dict, fields: dict[str, str], n: int) -> str:
    """`json_bytes` as text."""
    return json_bytes(columns, fields, n).tobytes().decode("utf-8")


def arrow_columns(columns: dict, fields: dict[str, str], n: int):
    """`n` records given as columns (as `json_bytes` takes them) as an Arrow table of
    `fields`, each column made from its array as a whole."""
    import pyarrow as pa

    schema = arrow_schema(fields)
    arrays = []
    for name, column in columns.items():
        kind = schema.field(name).type
        if isinstance(column, Coded):
            array = pa.array(column.values, kind).take(pa.array(column.codes))
        elif isinstance(column, Micros):
            array = pa.array(column.values / 1e6, kind)
        elif isinstance(column, Texts):
            array = pa.StringArray.from_buffers(
                n, pa.py_buffer(column.offsets.astype(np.int32)), pa.py_buffer(column.data))
        elif isinstance(column, np.ndarray) and column.dtype.kind == "S":
            width = column.dtype.itemsize
            array = pa.StringArray.from_buffers(
                n, pa.py_buffer(np.arange(n + 1, dtype=np.int32) * width),
                pa.py_buffer(np.ascontiguousarray(column).view(np.uint8))) \
                if _ascii_plain(column) else pa.array(np.char.decode(column, "utf-8"), kind)
        elif isinstance(column, (list, np.ndarray)):
            array = pa.array(column, kind)
        else:
            array = pa.repeat(pa.scalar(column, kind), n)
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=schema)


class RecordFile:
    """A log of records at `path` with the columns `fields`: JSON lines appended, or a
    Parquet file when the path ends `.parquet`. Opened as the alert log is (a link or a
    device is refused, never followed)."""

    def __init__(self, path: str, fields: dict[str, str]):
        self.path = str(path)
        self.fields = fields
        self.parquet = self.path.endswith(PARQUET)
        self.held: list = []            # Parquet: Arrow tables not yet in a row group
        self.held_rows = 0
        self.writer = None
        # Parquet: the file is emptied when its writer starts (the first row group, or the
        # close), not here: a configuration reloaded beside it may hand it on (`discard`)
        flags = os.O_WRONLY | os.O_CREAT | (0 if self.parquet else os.O_APPEND)
        self.file = os.fdopen(open_regular(self.path, flags), "wb")

    def write(self, records: list[dict]) -> None:
        if not records:
            return
        if not self.parquet:
            self.file.write("".join(json.dumps(r, ensure_ascii=False, separators=(",", ":"))
                                    + "\n" for r in records).encode("utf-8"))
            return
        self._hold(arrow_table(records, self.fields))

    def write_lines(self, lines: list[str]) -> None:
        """Records another writer of these fields wrote as JSON lines (without their line
        ends): appended as they are, or read into the Parquet file."""
        if not lines:
            return
        if not self.parquet:
            self.file.write("".join(line + "\n" for line in lines).encode("utf-8"))
            return
        for at in range(0, len(lines), ROW_GROUP):
            self._hold(arrow_table([json.loads(line) for line in lines[at:at + ROW_GROUP]],
                                   self.fields))

    def write_columns(self, columns: dict, n: int) -> None:
        """`n` records as columns (as `json_bytes` takes them, every field of the file, in
        its order): what `write` of the records would write, without a dict per record."""
        if not n:
            return
        if not self.parquet:
            self.file.write(json_bytes(columns, self.fields, n))
            return
        self._hold(arrow_columns(columns, self.fields, n))

    def _hold(self, table) -> None:
        self.held.append(table)
        self.held_rows += table.num_rows
        if self.held_rows >= ROW_GROUP:
            self._row_group()

    def _row_group(self) -> None:
        if self.writer is None:
            import pyarrow.parquet as pq

            self.file.truncate(0)
            self.writer = pq.ParquetWriter(self.file, arrow_schema(self.fields))
        if self.held:
            import pyarrow as pa

            self.writer.write_table(pa.concat_tables(self.held))
            self.held, self.held_rows = [], 0

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
        self.held, self.held_rows = [], 0
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
