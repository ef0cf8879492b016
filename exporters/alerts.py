"""Alerts as JSON lines, appended, flushed once per batch, fsynced on close."""
from __future__ import annotations

import json
import os
from pathlib import Path


class AlertLog:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")
        self.written = 0

    def write(self, alerts: list[dict]) -> None:
        if not alerts:
            return
        self._fh.write("".join(json.dumps(a, ensure_ascii=False, separators=(",", ":")) + "\n"
                               for a in alerts))
        self._fh.flush()
        self.written += len(alerts)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
