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
    """zstd frames one after another, inflated; a stream that ends inside a frame is an
    EOFError (zstandard's own stream reader ends there quietly)."""

    def __init__(self, raw, chunk: int = 1 << 20):
        import zstandard  # only where a zstd capture is read

        self.zstd, self.raw, self.chunk = zstandard, raw, chunk
        self.frame = zstandard.ZstdDecompressor().decompressobj()
        self.started = False  # the current frame has had input

    def read(self, size: int = -1) -> bytes:
        while True:
            data = self.raw.read(self.chunk)
            if not data:
                if self.started and not self.frame.eof:
                    raise EOFError("the stream ends inside a zstd frame")
                return b""
            out = b""
            while data:
                if self.frame.eof:  # the next frame
                    self.frame = self.zstd.ZstdDecompressor().decompressobj()
                self.started = True
                out += self.frame.decompress(data)
                data = self.frame.unused_data if self.frame.eof else b""
            if out:
                return out


def damage(name: str) -> tuple[type[BaseException], ...]:
    """What a damaged stream of this format raises while it is read."""
    if name == "zstd":
        import zstandard
        return (zstandard.ZstdError, EOFError)
    return (EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile)

