"""Compressed captures: gzip, xz and zstd, known by their first bytes (not the name), and
inflated as a stream: memory is bounded by the reader's chunk, never the file."""
from __future__ import annotations

import gzip
import lzma
import zlib

from .errors import CaptureError

# first bytes -> format name
MAGICS = {b"\x1f\x8b": "gzip", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
HINTS = {b"BZh": "bzip2 (not read: bunzip2 -c FILE | ybsensor replay -)"}
LONGEST = max(map(len, MAGICS))


def kind(head: bytes) -> str | None:
    """The compression `head` starts with, or None."""
    return next((name for magic, name in MAGICS.items() if head.startswith(magic)), None)


def hint(head: bytes) -> str:
    """Why a file that is no capture might be one after all (for the error message)."""
    return next((f"; it looks {text}" for magic, text in HINTS.items()
                 if head.startswith(magic)), "")


class CountingReader:
    """The raw (compressed) bytes, counted as they are read (progress), with the bytes
    already read to look at the magic given back first (a pipe cannot seek)."""

    def __init__(self, fh, prefix: bytes = b""):
        self.fh, self.prefix, self.count = fh, prefix, 0

    def read(self, size: int = -1) -> bytes:
        if self.prefix:
            out, self.prefix = (self.prefix, b"") if size < 0 or size >= len(self.prefix) \
                else (self.prefix[:size], self.prefix[size:])
        else:
            out = self.fh.read(size)
        self.count += len(out)
        return out

    def readable(self) -> bool:
        return True


def inflate(name: str, raw: CountingReader):
    """A file object giving the inflated bytes of `raw`."""
    if name == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if name == "xz":
        return lzma.LZMAFile(raw, mode="rb")
    return ZstdStream(raw)


class ZstdStream:
    """zstd frames one after another, inflated by zstandard's stream reader (its output
    bounded by the size asked for); the compressed bytes walked frame by frame on their
    way in (ZstdWalk), since that reader ends quietly where a stream is cut inside a
    frame: that is an EOFError here."""

    def __init__(self, raw):
        import zstandard  # only where a zstd capture is read

        self.walk = ZstdWalk(raw)
        self.reader = zstandard.ZstdDecompressor().stream_reader(self.walk, read_across_frames=True)

    def read(self, size: int = -1) -> bytes:
        out = self.reader.read(size)
        if not out and self.walk.inside():
            raise EOFError("the stream ends inside a zstd frame")
        return out


class ZstdWalk:
    """The compressed bytes passed through, with where they end in the zstd frame format
    (RFC 8878 §3.1): frame headers, block headers and sizes, checksums, skippable frames.
    Only headers are read; what they announce is skipped by count."""

    def __init__(self, raw):
        self.raw = raw
        self.pending = b""   # header bytes not complete yet
        self.skip = 0        # bytes of block content (or a skippable frame) still to pass
        self.state = "frame" # frame: a frame starts next; block: a block header; checksum
        self.checksum = False

    def readable(self) -> bool:
        return True

    def inside(self) -> bool:
        return self.state != "frame" or self.skip > 0 or bool(self.pending)

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        view, pos = memoryview(data), 0
        while pos < len(view):
            if self.skip:
                step = min(self.skip, len(view) - pos)
                self.skip -= step
                pos += step
                continue
            need = self._header_size()
            take = min(need - len(self.pending), len(view) - pos)
            self.pending += bytes(view[pos:pos + take])
            pos += take
            if len(self.pending) == self._header_size():
                self._header()
        return data

    def _header_size(self) -> int:
        head = self.pending
        if self.state == "block":
            return 3
        if self.state == "checksum":
            return 4
        if len(head) < 5:        # magic, then the frame header descriptor
            return 5
        if 0x184D2A50 <= int.from_bytes(head[:4], "little") <= 0x184D2A5F:
            return 8             # a skippable frame: magic, size
        fhd = head[4]
        single = fhd >> 5 & 1
        fcs = (1 if single else 0, 2, 4, 8)[fhd >> 6]
        return 5 + (0 if single else 1) + (0, 1, 2, 4)[fhd & 3] + fcs

    def _header(self) -> None:
        head, self.pending = self.pending, b""
        if self.state == "block":
            word = int.from_bytes(head, "little")
            kind, size = word >> 1 & 3, word >> 3
            self.skip = 1 if kind == 1 else size  # RLE: one byte
            if word & 1:
                self.state = "checksum" if self.checksum else "frame"
        elif self.state == "checksum":
            self.state = "frame"
        elif len(head) == 8 and 0x184D2A50 <= int.from_bytes(head[:4], "little") <= 0x184D2A5F:
            self.skip = int.from_bytes(head[4:], "little")
        else:
            self.checksum = bool(head[4] >> 2 & 1)
            self.state = "block"


def damage(name: str) -> tuple[type[BaseException], ...]:
    """What a damaged stream of this format raises while it is read."""
    if name == "zstd":
        import zstandard
        return (zstandard.ZstdError, EOFError)
    return (EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile)
