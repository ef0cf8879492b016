"""What each stage of the payload normaliser (detectors/normalise.py) costs: one message of
each kind, fed whole to a stream parser and searched as plaintext_pii searches it.

Each kind is a JSON answer (or form, or mail) of about 4 KB holding no identifier, built
here. For each: CPU microseconds per message to parse and decode it (`Stream.feed` and
`take`: framing, content codings, media type, MIME), to make its decoded text readable
(`Readable`: text encodings), and the plain search (`PlaintextPii._search` of the
decoded text, Readable included) that every searched byte pays, raw or decoded; medians
of `--runs` runs of `--messages` messages, in one process (CPU time: the machine is
shared). The raw row is the baseline: the same answer with Content-Length only, which
the sensor searches raw and never parses.

    python bench/normalise_stages.py [--messages N] [--runs K]
"""
from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
import zlib
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ybsensor.detectors.normalise import Normaliser, Readable, Stream  # noqa: E402

try:
    import brotli
except ImportError:  # pragma: no cover - a declared dependency
    brotli = None


def _json() -> bytes:
    rows = [{"id": i, "code": f"A{i:05d}", "name": "item", "dept": "0301", "qty": i % 7,
             "price": 12.5 * i, "note": "ok"} for i in range(40)]
    return json.dumps({"infcode": 0, "output": rows}, separators=(",", ":")).encode()


def _answer(body: bytes, head: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + head + b"\r\n\r\n" + body


def _chunked(body: bytes, size: int = 1000) -> bytes:
    out = b"".join(b"%x\r\n%s\r\n" % (len(body[a:a + size]), body[a:a + size])
                   for a in range(0, len(body), size))
    return out + b"0\r\n\r\n"


def messages() -> dict[str, tuple[bytes, bool]]:
    """kind -> (one whole message, whether it is mail)."""
    body = _json()
    out = {
        "raw (Content-Length, not parsed)": (_answer(body, b"Content-Length: %d" % len(body)), False),
        "chunked": (_answer(_chunked(body), b"Transfer-Encoding: chunked"), False),
    }
    gz = gzip.compress(body, mtime=0)
    out["gzip"] = (_answer(gz, b"Content-Encoding: gzip\r\nContent-Length: %d" % len(gz)), False)
    df = zlib.compress(body)
    out["deflate"] = (_answer(df, b"Content-Encoding: deflate\r\nContent-Length: %d" % len(df)), False)
    if brotli is not None:
        br = brotli.compress(body)
        out["br"] = (_answer(br, b"Content-Encoding: br\r\nContent-Length: %d" % len(br)), False)
    gzc = _chunked(gz)
    out["gzip + chunked"] = (_answer(gzc, b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked"), False)
    form = b"&".join(b"field%d=%s" % (i, b"value%20with%20spaces%2C%20" * 3) for i in range(40))
    out["form-urlencoded"] = (b"POST /submit HTTP/1.1\r\nHost: his\r\nContent-Type: "
                              b"application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n"
                              % len(form) + form, False)
    parts = b"".join(b"--b0undary\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\n%s\r\n"
                     % (i, b"v" * 80) for i in range(40)) + b"--b0undary--\r\n"
    out["multipart/form-data"] = (b"POST /upload HTTP/1.1\r\nHost: his\r\nContent-Type: "
                                  b"multipart/form-data; boundary=b0undary\r\nContent-Length: "
                                  b"%d\r\n\r\n" % len(parts) + parts, False)
    for cte in ("base64", "quoted-printable"):
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "a@his.example", "b@his.example", "report"
        msg.set_content(body.decode() + "\n", cte=cte)
        out[f"mail, MIME {cte}"] = (msg.as_bytes().replace(b"\n", b"\r\n") + b"\r\n.\r\n", True)
    return out


def texts() -> dict[str, bytes]:
    """Readable's encodings alone: the same answer's text in each."""
    body = _json().decode()
    return {"text: plain ASCII (nothing to decode)": body.encode(),
            "text: UTF-16LE": body.encode("utf-16-le"),
            "text: JSON \\u escapes": body.replace("0", "\\u0030").encode(),
            "text: full-width digits (UTF-8)": body.translate(
                {ord(str(d)): 0xFF10 + d for d in range(10)}).encode()}


def _cpu(fn, n: int, runs: int) -> float:
    """Median CPU seconds of `runs` runs of fn() n times, per call."""
    out = []
    for _ in range(runs):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        out.append((time.process_time() - t0) / n)
    return statistics.median(out)


def measure(n: int, runs: int) -> list[tuple[str, int, float, float, float]]:
    """(kind, wire bytes, parse us, readable us, search us) per message."""
    from ybsensor.detectors.plaintext_pii import PlaintextPii, _Group
    owner = Normaliser()
    det = PlaintextPii.__new__(PlaintextPii)    # its search, without a sensor around it
    PlaintextPii.__init__(det, None, None)

    def parse(msg, mail):
        s = Stream(1, mail, owner)
        s.feed(msg, 0, 0)
        return s.take(1, final=True)

    def search(text):
        return det._search(text, lambda a, b, d: True, lambda a, b: None, _Group(), {})

    rows = []
    for kind, (msg, mail) in messages().items():
        raw = kind.startswith("raw")
        text = msg if raw else parse(msg, mail).text
        p = 0.0 if raw else _cpu(lambda: parse(msg, mail), n, runs)
        r = _cpu(lambda: Readable(text), n, runs)
        q = _cpu(lambda: search(text), n, runs)
        rows.append((kind, len(msg), p * 1e6, r * 1e6, q * 1e6))
    for kind, text in texts().items():
        r = _cpu(lambda: Readable(text), n, runs)
        q = _cpu(lambda: search(text), n, runs)
        rows.append((kind, len(text), 0.0, r * 1e6, q * 1e6))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    print(f"{'kind':40s} {'bytes':>6s} {'parse us':>9s} {'readable us':>11s} {'search us':>9s}")
    for kind, size, p, r, q in measure(args.messages, args.runs):
        print(f"{kind:40s} {size:6d} {p:9.1f} {r:11.1f} {q:9.1f}")
    print("CPU microseconds per message, medians; search includes readable")
    return 0


if __name__ == "__main__":
    sys.exit(main())
