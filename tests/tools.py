"""Helpers the tests share: where things are, outside tools, and tshark's view of a capture.

`require_tool` / `require_module` skip a test when a tool is missing, and fail it instead
under `CI=true` (DESIGN.md, Tests: under CI a missing tool is a failure, not a skip).
"""
from __future__ import annotations

import hashlib
import importlib
import ipaddress
import json
import os
import shutil
import struct
import sys
import subprocess
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest

REPO = Path(__file__).resolve().parents[1]
PCAPS = REPO / "pcaps"
# tcpdump's own test captures, shared between checkouts; read in place, never copied here
CORPUS = REPO.parent / "shared" / "corpus" / "tcpdump"


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _missing(what: str) -> None:
    message = f"{what} is not installed (scripts/install-tools.sh installs it)"
    if under_ci():
        pytest.fail(f"{message}; under CI=true a missing tool is a failure", pytrace=False)
    pytest.skip(message)


def require_tool(name: str) -> str:
    """The path of the outside program `name`; skips the test if it is missing (fails under CI)."""
    path = shutil.which(name)
    if path is None:
        _missing(f"{name!r}")
    return path


def require_module(name: str):
    """The Python module `name`; skips the test if it cannot be imported (fails under CI)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        _missing(f"Python module {name!r}")


def capture_files(directory: Path) -> list[Path]:
    """Every pcap and pcapng file under `directory`, sorted (empty if it does not exist)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*")
                  if p.is_file() and p.suffix in (".pcap", ".pcapng", ".cap"))


# ---------------------------------------------------------------------------------------
# What ybsensor says about a file (in-process, the same code as `ybsensor decode`).

def our_rows(path: Path) -> dict[int, dict]:
    """frame number -> the `ybsensor decode --format jsonl` row."""
    from ybsensor.decoders import view
    from ybsensor.sensor.pipeline import Pipeline

    pipeline = Pipeline()
    names = pipeline.dispatch.layer_names
    rows: dict[int, dict] = {}
    refused = []
    for _, table in pipeline.run_files([path], lambda msg: None, refused.append):
        for row in view.rows(table, names):
            rows[row["frame"]] = row
    if refused:
        raise refused[0]
    return rows


def capture_linktypes(path: Path) -> set[int] | None:
    """The link types of a capture's frames, as our reader sees them; None if it refuses."""
    import numpy as np

    from ybsensor.sensor.sources import CaptureError, read_capture

    try:
        found: set[int] = set()
        for batch in read_capture(path):
            found.update(np.unique(batch.linktype).tolist())
        return found
    except CaptureError:
        return None


def decodable(path: Path) -> bool:
    """A capture we read whose every link type has a decoder (the pipeline refuses others)."""
    import numpy as np

    from ybsensor.decoders.dispatch import DEFAULT
    from ybsensor.decoders.keys import LINKTYPE

    linktypes = capture_linktypes(path)
    if not linktypes:
        return False
    return bool(DEFAULT.known(LINKTYPE, np.array(sorted(linktypes))).all())


# ---------------------------------------------------------------------------------------
# What tshark says about a file.
#
# A frame is its list of top-level protocol layers, in order; each layer keeps every field
# under it (nested protocols included, as pyshark's XmlLayer does: an ICMP error's quoted IP
# header shows up as ip.* fields inside the icmp layer), field name -> displayed values.

@dataclass
class Layer:
    name: str
    fields: dict[str, list[str]]

    def first(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return self.fields.get(name, [])



# Preferences that make tshark's dissection comparable with a per-frame decoder; each says why.
TSHARK_PREFS = {
    # We decode each frame on its own: a first fragment carries the transport header and its
    # ports, later fragments none. With reassembly on, tshark would show the transport of the
    # whole datagram on the last fragment and none on the first.
    "ip.defragment": "FALSE",
    "ipv6.defragment": "FALSE",
    # Stream reassembly does not move ports, but it hangs reassembled PDUs (and their layers)
    # on a later frame; off, each frame shows only its own bytes. Also faster.
    "tcp.desegment_tcp_streams": "FALSE",
    # IPv4 total length 0 (left by segmentation offload) means "the frame is the packet", as
    # our ipv4 decoder reads it; this is tshark's default, stated so that it cannot drift.
    "ip.tso_support": "TRUE",
}

# Dissectors switched off: each decodes an IP packet from inside something that ybsensor
# deliberately does not decode (DESIGN.md lists the access encapsulations we do decode), so
# tshark's innermost IP would be one we never look for. Switched off, tshark stops where we
# stop and the rest of the frame still gets compared.
TSHARK_DISABLED = {
    "pim": "PIM Register messages carry a multicast data packet between routers: routing "
           "signalling, not an access tunnel; we stop at IP protocol 103",
    "nsh": "Network Service Header (EtherType 0x894F, VXLAN-GPE) is service chaining inside a "
           "data centre; we do not decode it",
    "avsp": "Arista vendor-specific EtherType 0xD28B (switch timestamps) is not decoded; the "
            "frame ends unsupported:eth",
    "macsec": "MACsec (802.1AE) frames are non-IP for us by design (their payload is normally "
              "encrypted); tshark decodes the IP inside integrity-only frames",
}

# Decode-as rules: where the wire does not say what comes next, tell tshark what we assume.
TSHARK_DECODE_AS = {
    # L2TPv3 data messages do not name their pseudowire type (control messages agree on it,
    # and a sensor rarely sees them): tshark shows "data" for a session it has no control
    # messages for (pw_type 0); decoders/l2tp.py takes the pseudowire to be Ethernet.
    "l2tp.pw_type==0": "eth",
}

IP_LAYERS = ("ip", "ipv6")
ICMP_LAYERS = ("icmp", "icmpv6")
# IPv6 extension headers: next-header value -> tshark's field for their own next header
# (tshark dissects AH after IPv6 as part of the ipv6 layer, hence ah.next_header here)
IPV6_EXT_NEXT = {0: "ipv6.hopopts.nxt", 43: "ipv6.routing.nxt", 44: "ipv6.fraghdr.nxt",
                 60: "ipv6.dstopts.nxt", 51: "ah.next_header"}


def tshark_env(config_dir: Path) -> dict[str, str]:
    """The environment for tshark: an empty configuration directory, so that a user's own
    preferences (decode-as rules, disabled protocols) cannot change what it shows."""
    return {**os.environ, "WIRESHARK_CONFIG_DIR": str(config_dir)}


def tshark_args() -> list[str]:
    args = ["-n"]  # no name resolution: addresses and ports stay numbers, and no DNS look-ups
    for name, value in TSHARK_PREFS.items():
        args += ["-o", f"{name}:{value}"]
    for proto in TSHARK_DISABLED:
        args += ["--disable-protocol", proto]
    for criterion, proto in TSHARK_DECODE_AS.items():
        args += ["-d", f"{criterion},{proto}"]
    return args


# The fields the comparison reads (tools.py and the rules of test_tshark_agreement.py); the
# others are dropped as tshark's output is read. A rule that needs another field adds it here.
FIELDS_USED = frozenset({
    "ip.version", "ip.src", "ip.dst", "ip.proto",
    "ipv6.src", "ipv6.dst", "ipv6.nxt", "ipv6.plen", "ipv6.opt.jumbo", *IPV6_EXT_NEXT.values(),
    "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "udp.length",
    "pppoe.version", "pppoe.type",
    "ip.flags.mf", "ip.frag_offset", "ipv6.fragment.more", "ipv6.fragment.offset",
})


def tshark_version(tshark: str) -> str:
    return subprocess.run([tshark, "--version"], capture_output=True, text=True,
                          timeout=60).stdout.splitlines()[0]


def tshark_frames(path: Path, tshark: str, env: dict[str, str] | None = None,
                  cache: Path | None = None, version: str = "",
                  timeout: float = 120) -> dict[int, list[Layer]]:
    """frame number -> layers, from one `tshark -T pdml` run over the file.

    tshark exits non-zero on a damaged file after printing the frames before the damage;
    those frames are kept (our reader keeps them too). With `cache` (a directory), the answer
    is kept there under a digest of the file's bytes, tshark's version and arguments and
    FIELDS_USED, and read back instead of running tshark again."""
    args = [*tshark_args(), "-T", "pdml"]
    stored = None
    if cache is not None:
        key = hashlib.sha256("\0".join([version, *args, *sorted(FIELDS_USED)]).encode()
                             + path.read_bytes()).hexdigest()
        stored = cache / f"{key}.json"
        if stored.exists():
            try:
                return {int(k): [Layer(name, fields) for name, fields in v]
                        for k, v in json.loads(stored.read_text()).items()}
            except (ValueError, TypeError):
                pass  # a damaged entry: ask tshark again
    proc = subprocess.run([tshark, *args, "-r", str(path)],
                          capture_output=True, timeout=timeout, env=env)
    frames = parse_pdml(proc.stdout)
    if stored is not None:
        tmp = stored.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({k: [[layer.name, layer.fields] for layer in v]
                                   for k, v in frames.items()}))
        tmp.replace(stored)
    return frames


def parse_pdml(xml: bytes) -> dict[int, list[Layer]]:
    frames: dict[int, list[Layer]] = {}
    if not xml.strip():
        return frames
    # a damaged file can leave the document unclosed: close it after the last whole packet
    if b"</pdml>" not in xml[-64:]:
        cut = xml.rfind(b"</packet>")
        if cut < 0:
            return frames
        xml = xml[: cut + len(b"</packet>")] + b"\n</pdml>\n"
    root = ElementTree.fromstring(xml)
    for packet in root.iter("packet"):
        number = None
        layers = []
        for proto in packet.findall("proto"):
            name = proto.get("name")
            if name == "geninfo":
                number = int(proto.find("field[@name='num']").get("show"))
            elif name != "frame":
                layers.append(_layer(name, proto))
        frames[number] = layers
    return frames


def _layer(name: str, proto) -> Layer:
    # every field under the protocol, nested protocols included, as pyshark's XmlLayer does
    fields: dict[str, list[str]] = {}
    for field in proto.iter("field"):
        fname, show = field.get("name"), field.get("show")
        if fname in FIELDS_USED and show is not None:
            fields.setdefault(fname, []).append(show)
    return Layer(name, fields)


def pyshark_frames(path: Path) -> dict[int, list[Layer]]:
    """The same as `tshark_frames`, read through pyshark (FileCapture, keep_packets=False)."""
    require_module("pyshark")
    from pyshark.capture.capture import TSharkCrashException
    try:
        # pyshark's close() now and then reports tshark as crashed (status 255) when it
        # stops the process while tshark is still flushing, under load; a real crash would
        # repeat, so the whole read is tried again before a failure is reported
        for attempt in range(3):
            try:
                return _pyshark_frames(path)
            except TSharkCrashException:
                if attempt == 2:
                    raise
    finally:
        _drop_safe_child_watcher()


def _drop_safe_child_watcher() -> None:
    """pyshark installs asyncio's SafeChildWatcher for the main thread: its SIGCHLD handler
    stays behind and, with the event loop idle, trips (BlockingIOError) on every other child
    process the tests start. Put the default watcher back."""
    import asyncio
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        watcher = asyncio.get_child_watcher()
        if isinstance(watcher, asyncio.SafeChildWatcher):
            watcher.close()
            asyncio.set_child_watcher(asyncio.ThreadedChildWatcher())


def _pyshark_frames(path: Path) -> dict[int, list[Layer]]:
    import pyshark

    disabled = [arg for proto in TSHARK_DISABLED for arg in ("--disable-protocol", proto)]
    cap = pyshark.FileCapture(str(path), keep_packets=False, override_prefs=dict(TSHARK_PREFS),
                              decode_as=dict(TSHARK_DECODE_AS),
                              custom_parameters=disabled)  # pyshark itself passes -n
    frames: dict[int, list[Layer]] = {}
    try:
        for pkt in cap:
            layers = []
            for layer in pkt.layers:
                fields = {name: [f.show for f in container.all_fields if f.show is not None]
                          for name, container in layer._all_fields.items()
                          if name in FIELDS_USED}
                layers.append(Layer(layer.layer_name, fields))
            frames[int(pkt.number)] = layers
    finally:
        cap.close()
    return frames


@dataclass
class TsharkIP:
    """One IP header tshark found in a frame, with the protocol and ports that follow it."""
    family: str            # "ip" or "ipv6"
    src: str
    dst: str
    proto: int | None      # after IPv6 extension headers and AH
    sport: int | None
    dport: int | None
    layer: Layer           # the tshark layer it came from
    quoted: bool = False   # the packet that an ICMP error quotes, not one that was sent


def ip_headers(layers: list[Layer]) -> list[TsharkIP]:
    """Every IP header of the frame in order, as tshark shows them. The last one is what
    `tshark -T fields -E occurrence=l -e ip.src -e ipv6.src` calls the frame's address.
    Headers without both addresses (cut short) do not count."""
    found = []
    for i, layer in enumerate(layers):
        if layer.name in IP_LAYERS:
            ip = _ip_of(layer, layer.name, layers[i + 1:])
            if ip:
                found.append(ip)
        elif layer.name in ICMP_LAYERS:
            # an ICMP error quotes the offending packet; tshark nests its headers in the
            # icmp layer: the quoted header's fields are the last of their name there
            for family in IP_LAYERS:
                if layer.all(f"{family}.src"):
                    ip = _ip_of(layer, family, [], quoted=True)
                    if ip:
                        found.append(ip)
    return found


def _ip_of(layer: Layer, family: str, after: list[Layer], quoted: bool = False) -> TsharkIP | None:
    def pick(name):
        values = layer.all(name)
        return (values[-1] if quoted else values[0]) if values else None

    src, dst = pick(f"{family}.src"), pick(f"{family}.dst")
    if src is None or dst is None:
        return None
    sport = dport = None
    if family == "ip":
        proto = _int(pick("ip.proto"))
    else:
        proto = _int(pick("ipv6.nxt"))
        used: dict[str, int] = {}
        while proto in IPV6_EXT_NEXT:  # follow the extension headers to the last next header
            name = IPV6_EXT_NEXT[proto]
            values = layer.all(name)
            k = used.get(name, 0)
            if k >= len(values):
                break  # the extension header is cut short: tshark shows no next header
            used[name] = k + 1
            proto = _int(values[k])
    if quoted:
        for t in ("tcp", "udp"):
            if layer.all(f"{t}.srcport"):
                sport, dport = _int(pick(f"{t}.srcport")), _int(pick(f"{t}.dstport"))
    else:
        for nxt in after:
            if nxt.name == "ah" and proto == 51:  # AH after IPv4 is a layer of its own
                proto = _int(nxt.first("ah.next_header"))
                continue
            if nxt.name in ("tcp", "udp"):
                sport, dport = _int(nxt.first(f"{nxt.name}.srcport")), _int(nxt.first(f"{nxt.name}.dstport"))
            break
    return TsharkIP(family, src, dst, proto, sport, dport, layer, quoted)


def _int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value, 0)
    except ValueError:
        return None


def same_address(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a == b
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


# ---------------------------------------------------------------------------------------
# Captures written by hand, byte by byte, for tests of the readers and the CLI.

def pcap_bytes(frames: list[bytes], linktype: int = 1, order: str = "<", nanos: bool = False,
               ts: list[tuple[int, int]] | None = None, wirelen: list[int] | None = None,
               snaplen: int = 65535) -> bytes:
    """A classic pcap file: `ts` holds (seconds, fraction in µs or ns) per frame."""
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for i, frame in enumerate(frames):
        sec, frac = ts[i] if ts else (1_700_000_000 + i, 0)
        orig = wirelen[i] if wirelen else len(frame)
        out.append(struct.pack(order + "IIII", sec, frac, len(frame), orig) + frame)
    return b"".join(out)


def write_pcap(path: Path, frames: list[bytes], **kw) -> Path:
    path.write_bytes(pcap_bytes(frames, **kw))
    return path


def ybsensor_cmd() -> list[str]:
    """The command line that starts the installed console script (or the module, if the
    script is not installed next to this interpreter)."""
    script = Path(sys.executable).with_name("ybsensor")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ybsensor.sensor.cli"]


# The plan most sensor tests need: one hospital on VLAN 100 beside the platform, 10/8 private.
ONE_HOSPITAL = """
[network]
private  = ["10.0.0.0/8"]
platform = ["10.200.0.0/16"]

[[institution]]
code = "H1"
ranges = ["10.1.2.0/24"]
lines = ["vlan:100"]
"""


def forked(fn, parts: int, timeout: float = 600) -> list:
    """fn(k) for k in range(parts), each in a process forked from this one (as the workers
    of `replay --jobs` are), all at once: their results, in order of k."""
    import multiprocessing
    fork = multiprocessing.get_context("fork")
    out = fork.Queue()
    workers = [fork.Process(target=lambda k: out.put((k, fn(k))), args=(k,))
               for k in range(parts)]
    for w in workers:
        w.start()
    got = dict(out.get(timeout=timeout) for _ in workers)
    for w in workers:
        w.join()
    return [got[k] for k in range(parts)]
