"""What the detectors that read payloads share (plaintext_pii, cleartext_credentials): the
sensor's one payload engine (streams.Engine), and the key that the identifiers they show are
hashed with.

The hash key (one per sensor installation, so that hashes agree across restarts):
`[detectors.plaintext_pii] hash_key = "..."` (the key itself), else `hash_key_file = PATH`
(relative to the configuration file; read as hex, or created with 32 random bytes, mode
0600, if missing), else a file
`ybsensor-hash.key` beside `[alerts] path` (created the same way), else — no configured
alert log — a random key for this process only (hashes then agree within one run only).
`cleartext_credentials` uses the same key (plaintext_pii's settings, under its own) for
user names.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from .base import Detector
from .streams import Engine

KEY_FILE = "ybsensor-hash.key"

_process_key: bytes | None = None


def hash_key(config, settings: dict) -> bytes:
    """The HMAC key for identifiers (see the module's docstring for where it comes from)."""
    global _process_key
    if settings.get("hash_key"):
        return str(settings["hash_key"]).encode("utf-8")
    path = settings.get("hash_key_file")
    if not path and config is not None and getattr(config, "alerts_path", None):
        path = Path(config.alerts_path).parent / KEY_FILE
    if path:
        if config is not None and getattr(config, "path", None) and not Path(path).is_absolute() \
                and settings.get("hash_key_file"):
            path = Path(config.path).parent / path
        try:
            return _key_file(Path(path))
        except OSError:
            pass      # an unwritable place: fall back to a key for this process
    if _process_key is None:
        _process_key = secrets.token_bytes(32)
    return _process_key


def _key_file(path: Path) -> bytes:
    try:
        text = path.read_text().strip()
        if text:
            return bytes.fromhex(text)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")
    return key


def keyed_hash(key: bytes, kind: str, value: str) -> str:
    return hmac.new(key, f"{kind}:{value.upper()}".encode(), hashlib.sha256).hexdigest()[:32]


class PayloadDetector(Detector):
    """A detector that reads payloads through the shared engine and hashes identifiers."""

    def __init__(self, config, plan):
        super().__init__(config, plan)
        self.engine = Engine.shared(self)
        self._key: bytes | None = None

    @property
    def key(self) -> bytes:
        """The hash key: plaintext_pii's settings, under this detector's own."""
        if self._key is None:
            pii = self.config.detectors.get("plaintext_pii", {}) if self.config else {}
            self._key = hash_key(self.config, {**pii, **self.settings})
        return self._key

    def metric_families(self):
        """The engine's metrics, from the one detector that publishes them."""
        if self.engine.publisher is self:
            yield from self.engine.metric_families()
