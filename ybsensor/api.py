"""The Python API (`import ybsensor`), for notebooks: a capture as an Arrow table, and a
replay's alerts, flows and events. A thin layer over the sensor the command line runs:

    >>> import ybsensor
    >>> frames = ybsensor.read("pcaps/demo.pcap")          # what `decode` prints, as columns
    >>> result = ybsensor.replay(["pcaps/demo.pcap"], "pcaps/example.toml")
    >>> result.alerts[0]["community_id"]                     # alert records (dicts)
    >>> result.flows.to_pandas()                             # the flow log (Arrow)
    >>> result.events["dns"]                                 # the dns, tls, http logs (Arrow)

A capture we cannot read raises ybsensor.CaptureError; a configuration mistake
ybsensor.ConfigError (their messages are the command line's).
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ybsensor.decoders import view
from ybsensor.exporters import tables
from ybsensor.exporters.events import FIELDS as EVENT_FIELDS
from ybsensor.sensor import config as config_mod
from ybsensor.sensor.config import ConfigError
from ybsensor.sensor.pipeline import Pipeline
from ybsensor.sensor.sensor import Sensor
from ybsensor.sensor.sources import CaptureError

__all__ = ["read", "replay", "Replay", "CaptureError", "ConfigError"]


def _refuse(exc: CaptureError) -> None:
    raise exc


def _ignore(message: str) -> None:
    pass


def read(path: str | os.PathLike) -> pa.Table:
    """Every frame of a capture decoded: the columns of `ybsensor decode` (its JSONL fields;
    `tunnels` as JSON text)."""
    pipeline = Pipeline()
    parts = [tables.decode_table(view.rows(table, pipeline.dispatch.layer_names))
             for _, table in pipeline.run_files([path], _ignore, _refuse)]
    return pa.concat_tables(parts) if parts else \
        tables.arrow_schema(tables.DECODE_FIELDS).empty_table()


@dataclass
class Replay:
    """What a replay found: `alerts` (the alert records, in order), `flows` (the flow log)
    and `events` ({"dns"|"tls"|"http": its log}), as `ybsensor replay` would write them."""
    alerts: list[dict] = field(default_factory=list)
    flows: pa.Table | None = None
    events: dict[str, pa.Table] = field(default_factory=dict)
    frames: int = 0


def replay(paths, config) -> Replay:
    """Run the whole sensor over `paths` (a capture or several) with `config` (a TOML
    file's path, or a loaded sensor.config.Config). Nothing is written where the
    configuration says (alert log, flow and event logs); evidence pcaps are, if its
    [evidence] dir names a place."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    cfg = config if isinstance(config, config_mod.Config) else config_mod.load(config)
    with tempfile.TemporaryDirectory(prefix="ybsensor-") as tmp:
        logs = {kind: str(Path(tmp, f"{kind}.parquet")) for kind in ("flow", *EVENT_FIELDS)}
        sensor = Sensor(cfg, alerts_path="", flow_log=logs.pop("flow"), sinks=False,
                        event_logs=logs)
        result = Replay()
        try:
            for _ in sensor.pipeline.run_files(paths, _ignore, _refuse):
                result.alerts += sensor.last_alerts
        finally:
            sensor.close()
        result.frames = sensor.stats.frames
        result.flows = pq.read_table(Path(tmp, "flow.parquet"))
        result.events = {kind: pq.read_table(path) for kind, path in logs.items()}
    return result
