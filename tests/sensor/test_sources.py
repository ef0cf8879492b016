"""sensor/sources: pcap and pcapng files written here byte by byte, read back exactly."""
from __future__ import annotations

import struct
import subprocess
import sys

import numpy as np
import pytest

from ybsensor.sensor.sources import CaptureError, read_capture
from tools import REPO, pcap_bytes, write_pcap
from frames import udp_frame

FRAMES = [udp_frame(sport=40000 + i, payload=bytes([i]) * (5 + i)) for i in range(3)]


def read_all(path, **kw):
    """Every frame of a capture: (bytes, wirelen, ts_ns, linktype, interface name, frame no.)."""
    out = []
    for batch in read_capture(path, **kw):
        for i in range(len(batch)):
            off, cap = int(batch.offset[i]), int(batch.caplen[i])
            out.append((bytes(batch.data[off:off + cap]), int(batch.wirelen[i]),
                        int(batch.ts_ns[i]), int(batch.linktype[i]),
                        batch.interfaces[int(batch.iface[i])], batch.first_frame + i))
    return out


# ---------------------------------------------------------------------------------------
# Classic pcap

@pytest.mark.parametrize("order", ["<", ">"], ids=["little-endian", "big-endian"])
@pytest.mark.parametrize("nanos", [False, True], ids=["micro", "nano"])
def test_classic_pcap(tmp_path, order, nanos):
    fracs = [0, 999_999_999, 123_456_789] if nanos else [0, 999_999, 123_456]
    ts = [(1_700_000_000 + i, frac) for i, frac in enumerate(fracs)]
    path = write_pcap(tmp_path / "f.pcap", FRAMES, order=order, nanos=nanos, ts=ts,
                      wirelen=[len(f) + 100 for f in FRAMES])
    got = read_all(path)
    assert [g[0] for g in got] == FRAMES
    assert [g[1] for g in got] == [len(f) + 100 for f in FRAMES]
    scale = 1 if nanos else 1000
    assert [g[2] for g in got] == [s * 1_000_000_000 + f * scale for s, f in ts]
    assert {g[3] for g in got} == {1}
    assert [g[5] for g in got] == [1, 2, 3]


def test_classic_pcap_link_type_from_header(tmp_path):
    path = write_pcap(tmp_path / "raw.pcap", [FRAMES[0][14:]], linktype=101)
    assert read_all(path)[0][3] == 101


def test_frames_keep_their_numbers_across_batches(tmp_path):
    frames = [udp_frame(sport=1000 + i) for i in range(7)]
    path = write_pcap(tmp_path / "many.pcap", frames)
    batches = list(read_capture(path, batch_frames=3))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [b.first_frame for b in batches] == [1, 4, 7]
    assert [g[0] for g in read_all(path, batch_frames=3)] == frames


def test_truncated_last_record_is_warned_and_the_frames_before_kept(tmp_path):
    whole = pcap_bytes(FRAMES)
    path = tmp_path / "cut.pcap"
    path.write_bytes(whole[:-3])  # the last frame loses its last 3 bytes
    warnings = []
    got = read_all_warn(path, warnings)
    assert [g[0] for g in got] == FRAMES[:2]
    assert len(warnings) == 1 and "record 3" in warnings[0] and "cut short" in warnings[0]


def test_record_header_cut_short_is_warned(tmp_path):
    path = tmp_path / "cut.pcap"
    path.write_bytes(pcap_bytes(FRAMES[:1]) + b"\x00" * 7)  # 7 bytes of a 16-byte header
    warnings = []
    assert [g[0] for g in read_all_warn(path, warnings)] == FRAMES[:1]
    assert len(warnings) == 1 and "7 bytes" in warnings[0]


def test_impossible_record_length_stops_with_a_warning(tmp_path):
    bad = struct.pack("<IIII", 1, 0, 1 << 30, 1 << 30)  # claims a 1 GiB record
    path = tmp_path / "huge.pcap"
    path.write_bytes(pcap_bytes(FRAMES[:1]) + bad + b"x" * 32)
    warnings = []
    assert [g[0] for g in read_all_warn(path, warnings)] == FRAMES[:1]
    assert len(warnings) == 1 and "damaged" in warnings[0]


def read_all_warn(path, warnings):
    return read_all(path, warn=warnings.append)


def test_header_only_pcap_has_no_frames(tmp_path):
    path = write_pcap(tmp_path / "none.pcap", [])
    assert read_all(path) == []


@pytest.mark.parametrize("content", [b"", b"hello, this is a text file\n", b"\xd4\xc3\xb2\xa1\x02"],
                         ids=["empty", "text", "pcap-header-cut-short"])
def test_not_a_capture(tmp_path, content):
    path = tmp_path / "notes.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureError, match="notes.pcap"):
        list(read_capture(path))


def test_missing_file(tmp_path):
    with pytest.raises(CaptureError, match="cannot read"):
        list(read_capture(tmp_path / "nowhere.pcap"))


def test_unsupported_link_type_is_refused_by_decode(tmp_path):
    path = write_pcap(tmp_path / "usb.pcap", [b"\x00" * 40], linktype=189)  # USB Linux
    proc = subprocess.run([sys.executable, "-m", "ybsensor.sensor.cli", "decode", str(path)],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "link type 189" in proc.stderr and "not supported" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_no_jit_allowed_stops_reading_a_file_with_exit_2(tmp_path, kind):
    """The record walk is compiled, with no interpreted twin: under a W^X policy (here the
    kernel's own PR_SET_MDWE) decoding a file stops with a message naming the cause and exit
    status 2, even where the decoders may fall back to their generic form."""
    path = write_pcap(tmp_path / "f.pcap", FRAMES)
    if kind == "pcapng":
        path = tmp_path / "f.pcapng"
        path.write_bytes(shb("<") + idb("<", 1) + b"".join(epb("<", 0, 0, f) for f in FRAMES))
    code = ("import ctypes, sys;"
            "ok = ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) == 0;"  # PR_SET_MDWE
            "print(ok, flush=True);"
            "sys.argv = ['ybsensor', 'decode', sys.argv[1]];"
            "from ybsensor.sensor.cli import main; main()")
    env = {**__import__("os").environ, "YBSENSOR_DECODE_KERNEL": "auto",
           "NUMBA_CACHE_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, cwd=REPO, timeout=120, env=env)
    if proc.stdout.startswith("False"):
        pytest.skip("this kernel has no PR_SET_MDWE (Linux 6.3+)")
    assert proc.returncode == 2, proc.stderr
    assert "numba cannot compile here" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------
# pcapng

def _pad(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def block(order: str, btype: int, body: bytes) -> bytes:
    body = _pad(body)
    length = 12 + len(body)
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def options(order: str, opts: list[tuple[int, bytes]]) -> bytes:
    if not opts:
        return b""
    out = b"".join(struct.pack(order + "HH", code, len(v)) + _pad(v) for code, v in opts)
    return out + struct.pack(order + "HH", 0, 0)


def shb(order: str) -> bytes:
    return block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(order: str, linktype: int, name: str | None = None, tsresol: int | None = None,
        tsoffset: int | None = None, snaplen: int = 0) -> bytes:
    opts = []
    if name:
        opts.append((2, name.encode()))
    if tsresol is not None:
        opts.append((9, bytes([tsresol])))
    if tsoffset is not None:
        opts.append((14, struct.pack(order + "q", tsoffset)))
    return block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen) + options(order, opts))


def epb(order: str, ifid: int, ts: int, data: bytes, wirelen: int | None = None) -> bytes:
    hdr = struct.pack(order + "IIIII", ifid, ts >> 32, ts & 0xFFFFFFFF, len(data),
                      len(data) if wirelen is None else wirelen)
    return block(order, 6, hdr + data)


def spb(order: str, data: bytes) -> bytes:
    return block(order, 3, struct.pack(order + "I", len(data)) + data)


def pb(order: str, ifid: int, ts: int, data: bytes) -> bytes:
    hdr = struct.pack(order + "HHIIII", ifid, 0, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data))
    return block(order, 2, hdr + data)


SEC = 1_700_000_000


@pytest.mark.parametrize("order", ["<", ">"], ids=["little-endian", "big-endian"])
def test_pcapng_two_interfaces_epb_spb(tmp_path, order):
    raw_ip = FRAMES[1][14:]
    content = (shb(order)
               + idb(order, 1, name="eth1", tsresol=9)             # Ethernet, nanoseconds
               + idb(order, 101, name="tun0", tsresol=0x80 | 10)   # raw IP, 2^-10 seconds
               + epb(order, 0, SEC * 10**9 + 123_456_789, FRAMES[0], wirelen=1500)
               + epb(order, 1, (SEC << 10) | 384, raw_ip)         # 384/1024 = 0.375 s
               + epb(order, 1, (SEC << 10) | 1, raw_ip)           # 1/1024 s = 976562.5 ns
               + spb(order, FRAMES[2]))                          # first interface, no time
    path = tmp_path / "two.pcapng"
    path.write_bytes(content)
    got = read_all(path)
    assert [g[0] for g in got] == [FRAMES[0], raw_ip, raw_ip, FRAMES[2]]
    assert [g[1] for g in got] == [1500, len(raw_ip), len(raw_ip), len(FRAMES[2])]
    assert [g[2] for g in got] == [SEC * 10**9 + 123_456_789, SEC * 10**9 + 375_000_000,
                                   SEC * 10**9 + 976_562, 0]
    assert [g[3] for g in got] == [1, 101, 101, 1]
    assert [g[4] for g in got] == ["eth1", "tun0", "tun0", "eth1"]
    assert [g[5] for g in got] == [1, 2, 3, 4]


def test_pcapng_default_resolution_is_microseconds_and_tsoffset_adds_seconds(tmp_path):
    content = (shb("<") + idb("<", 1) + idb("<", 1, tsoffset=100)
               + epb("<", 0, SEC * 10**6 + 654_321, FRAMES[0])
               + epb("<", 1, SEC * 10**6 + 1, FRAMES[1]))
    path = tmp_path / "us.pcapng"
    path.write_bytes(content)
    got = read_all(path)
    assert [g[2] for g in got] == [SEC * 10**9 + 654_321_000, (SEC + 100) * 10**9 + 1000]
    assert [g[4] for g in got] == ["0", "1"]  # unnamed interfaces go by their index


def test_pcapng_obsolete_packet_block(tmp_path):
    content = shb("<") + idb("<", 1, tsresol=9) + pb("<", 0, SEC * 10**9 + 5, FRAMES[0])
    path = tmp_path / "pb.pcapng"
    path.write_bytes(content)
    assert [(g[0], g[2]) for g in read_all(path)] == [(FRAMES[0], SEC * 10**9 + 5)]


def test_pcapng_two_sections_of_different_byte_order(tmp_path):
    sll = (struct.pack("!HHHQH", 0, 1, 6, 0, 0x0800)) + FRAMES[1][14:]  # Linux cooked (SLL)
    content = (shb("<") + idb("<", 1, name="a", tsresol=9)
               + epb("<", 0, SEC * 10**9 + 1, FRAMES[0])
               + shb(">") + idb(">", 113, name="b", tsresol=6)
               + epb(">", 0, SEC * 10**6 + 2, sll))                    # id 0 of this section
    path = tmp_path / "sections.pcapng"
    path.write_bytes(content)
    got = read_all(path)
    assert [g[0] for g in got] == [FRAMES[0], sll]
    assert [g[2] for g in got] == [SEC * 10**9 + 1, SEC * 10**9 + 2000]
    assert [g[3] for g in got] == [1, 113]
    assert [g[4] for g in got] == ["a", "b"]


def test_pcapng_truncated_last_block_is_warned_and_the_frames_before_kept(tmp_path):
    content = (shb("<") + idb("<", 1) + epb("<", 0, 1, FRAMES[0]) + epb("<", 0, 2, FRAMES[1]))
    path = tmp_path / "cut.pcapng"
    path.write_bytes(content[:-10])
    warnings = []
    got = read_all_warn(path, warnings)
    assert [g[0] for g in got] == FRAMES[:1]
    assert len(warnings) == 1 and "cut short" in warnings[0] and "kept the 1 frames" in warnings[0]


def test_pcapng_packet_naming_a_missing_interface_is_skipped_with_a_warning(tmp_path):
    content = (shb("<") + idb("<", 1) + epb("<", 5, 1, FRAMES[0]) + epb("<", 0, 2, FRAMES[1]))
    path = tmp_path / "noif.pcapng"
    path.write_bytes(content)
    warnings = []
    assert [g[0] for g in read_all_warn(path, warnings)] == FRAMES[1:2]
    assert len(warnings) == 1 and "missing interface" in warnings[0]


@pytest.mark.parametrize("content", [
    b"\x0a\x0d\x0d\x0a" + b"\x00" * 8,                                  # zero block length
    b"\x0a\x0d\x0d\x0a" + struct.pack("<I", 28) + b"\xde\xad\xbe\xef" + b"\x00" * 16,  # bad magic
], ids=["impossible-length", "bad-byte-order-magic"])
def test_pcapng_bad_section_header(tmp_path, content):
    path = tmp_path / "bad.pcapng"
    path.write_bytes(content)
    with pytest.raises(CaptureError, match="bad.pcapng"):
        list(read_capture(path))


def test_pcapng_frames_decode_with_their_own_link_type(tmp_path):
    """Frames of two link types in one file go through the pipeline in one batch."""
    from ybsensor.sensor.pipeline import Pipeline

    raw_ip = FRAMES[1][14:]
    content = (shb("<") + idb("<", 1, tsresol=9) + idb("<", 101, tsresol=9)
               + epb("<", 0, 1, FRAMES[0]) + epb("<", 1, 2, raw_ip))
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(content)
    tables = [t for _, t in Pipeline().run_files([path], lambda m: None, pytest.fail)]
    assert len(tables) == 1
    t = tables[0]
    assert np.array_equal(t.sport, [40000, 40001])
    assert np.array_equal(t.linktype, [1, 101])


def test_a_pipe_read_gives_no_more_than_asked():
    """framing.Stream.read(n) gives n bytes (fewer only at the end), also after a larger
    read left its buffer larger: gzip's header reader unpacks exactly what it asked for."""
    import os

    from ybsensor.sensor.sources.framing import Stream

    r, w = os.pipe()
    os.write(w, bytes(range(200)))
    os.close(w)
    with os.fdopen(r, "rb", buffering=0) as fh:
        stream = Stream(fh)
        assert stream.read(64) == bytes(range(64))
        assert stream.read(8) == bytes(range(64, 72))
        assert stream.read(-1) == bytes(range(72, 200))
