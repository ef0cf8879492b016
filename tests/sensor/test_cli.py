"""The command line: `ybsensor decode` (the jsonl row contract of DESIGN.md, the table) and
`ybsensor replay`, on captures written here by hand; bad input exits 2 with a message."""
from __future__ import annotations

import json
import struct
import subprocess

import pytest
from click.testing import CliRunner

from ybsensor.sensor.cli import cli
from tools import PCAPS, REPO, write_pcap, ybsensor_cmd
from frames import udp_frame

# DESIGN.md, Contracts: the row of `ybsensor decode PCAP --format jsonl`
ROW_TYPES = {
    "frame": int, "ts": float, "len": int, "encap": str, "line": str,
    "outer_src": (str, type(None)), "outer_dst": (str, type(None)), "tunnels": list,
    "src": (str, type(None)), "dst": (str, type(None)), "proto": (int, type(None)),
    "sport": (int, type(None)), "dport": (int, type(None)), "payload_len": int, "status": str,
}
TABLE_COLUMNS = ["frame", "ts", "len", "encap", "line", "src", "sport", "dst", "dport", "proto",
                 "status"]

ARP = bytes.fromhex("ffffffffffff0025900a0b01" "0806" "0001080006040001" "0025900a0b01"
                    "0a010203" "000000000000" "0a010201")


def run(*args, timeout=60) -> subprocess.CompletedProcess:
    """The real console script in a process of its own."""
    return subprocess.run([*ybsensor_cmd(), *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=timeout)


@pytest.fixture
def capture(tmp_path):
    """A UDP frame, an ARP frame and a TCP-less truncated IPv4 frame (cut after 20 bytes of IP)."""
    cut = udp_frame(sport=40001)[:14 + 20]
    return write_pcap(tmp_path / "three.pcap", [udp_frame(payload=b"hello"), ARP, cut],
                      ts=[(1_700_000_000, 250_000), (1_700_000_001, 0), (1_700_000_002, 999_999)],
                      wirelen=[47, len(ARP), 47])


def test_jsonl_row_schema(capture):
    proc = run("decode", capture, "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert set(row) == set(ROW_TYPES), row
        for key, kind in ROW_TYPES.items():
            # bool is an int in Python: no field of the contract is a bool
            assert isinstance(row[key], kind) and not isinstance(row[key], bool), (key, row[key])
        for tunnel in row["tunnels"]:
            assert isinstance(tunnel["type"], str)
    udp, arp, cut = rows
    assert udp == {"frame": 1, "ts": 1_700_000_000.25, "len": 47, "encap": "eth/ipv4/udp",
                   "line": "if:0", "outer_src": "10.1.2.3", "outer_dst": "10.200.0.1",
                   "tunnels": [], "src": "10.1.2.3", "dst": "10.200.0.1", "proto": 17,
                   "sport": 40000, "dport": 53, "payload_len": 5, "status": "ok"}
    assert arp["frame"] == 2 and arp["status"] == "non-ip:arp"
    assert arp["src"] is arp["dst"] is arp["proto"] is arp["sport"] is arp["dport"] is None
    assert arp["outer_src"] is None and arp["payload_len"] == 0
    assert cut["frame"] == 3 and cut["ts"] == 1_700_000_002.999999
    assert cut["status"] == "truncated:udp" and cut["sport"] is None


def test_jsonl_tunnel_objects():
    """Tunnel objects carry a type and integer ids, on whichever sample has tunnels."""
    samples = sorted(PCAPS.glob("*.pcap*"))
    if not samples:
        pytest.skip("no sample pcaps under pcaps/")
    result = CliRunner().invoke(cli, ["decode", "--format", "jsonl", *map(str, samples)])
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    tunnels = [t for row in rows for t in row["tunnels"]]
    if not tunnels:
        pytest.skip("no sample frame has a tunnel yet")
    for tunnel in tunnels:
        assert isinstance(tunnel.pop("type"), str)
        assert all(isinstance(v, int) and not isinstance(v, bool) for v in tunnel.values())


def test_table_format(capture):
    proc = run("decode", capture)  # the table is the default
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == TABLE_COLUMNS
    assert len(lines) == 4
    first = lines[1].split()
    assert first[:4] == ["1", "1700000000.250000", "47", "eth/ipv4/udp"]
    assert first[-1] == "ok"
    assert lines[2].split()[5] == "-"  # ARP: no source address


def test_nonexistent_file_exits_2(tmp_path):
    proc = run("decode", tmp_path / "nowhere.pcap")
    assert proc.returncode == 2
    assert "nowhere.pcap" in proc.stderr and "No such file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_not_a_capture_exits_2(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not a capture\n")
    proc = run("decode", notes)
    assert proc.returncode == 2
    assert "notes.txt" in proc.stderr and "not a pcap or pcapng" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_bad_file_does_not_stop_the_others(tmp_path, capture):
    notes = tmp_path / "notes.txt"
    notes.write_text("this is not a capture\n")
    proc = run("decode", notes, capture, "--format", "jsonl")
    assert proc.returncode == 2
    assert len(proc.stdout.splitlines()) == 3  # the good file's frames are all there
    assert "notes.txt" in proc.stderr


def test_truncated_capture_warns_and_exits_0(tmp_path):
    path = write_pcap(tmp_path / "cut.pcap", [udp_frame(), udp_frame()])
    path.write_bytes(path.read_bytes()[:-4])
    proc = run("decode", path, "--format", "jsonl")
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == 1
    assert "warning" in proc.stderr and "cut short" in proc.stderr


def test_unknown_format_exits_2(capture):
    proc = run("decode", capture, "--format", "xml")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("fmt", ["jsonl", "table"])
def test_decode_into_a_closed_pipe(tmp_path, fmt):
    """`ybsensor decode f | head -1`: the reader goes away, no traceback."""
    frames = [udp_frame(sport=1 + i % 60000) for i in range(20000)]  # far more than a pipe holds
    path = write_pcap(tmp_path / "many.pcap", frames)
    decode = subprocess.Popen([*ybsensor_cmd(), "decode", str(path), "--format", fmt],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    head = subprocess.run(["head", "-1"], stdin=decode.stdout, capture_output=True, timeout=60)
    decode.stdout.close()  # only head reads it
    _, err = decode.communicate(timeout=60)
    assert head.stdout.count(b"\n") == 1
    assert b"Traceback" not in err and b"Exception ignored" not in err, err.decode()
    # the reader had what it wanted: not an error, never a crash or a signal
    assert decode.returncode == 0, (decode.returncode, err.decode())


def test_replay_prints_a_summary(capture):
    proc = run("replay", capture)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("3 frames in ")
    assert "frames/s" in proc.stdout
    assert "eth/ipv4/udp" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_replay_counts_every_file_and_exits_2_on_a_refused_one(tmp_path, capture):
    other = write_pcap(tmp_path / "one.pcap", [udp_frame()])
    usb = write_pcap(tmp_path / "usb.pcap", [b"\x00" * 40], linktype=189)
    proc = run("replay", capture, usb, other)
    assert proc.returncode == 2
    assert proc.stdout.splitlines()[0].startswith("4 frames in ")
    assert "usb.pcap" in proc.stderr and "link type 189" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_in_process_decode_matches_the_console_script(capture):
    """The CliRunner path that test_corpus.py relies on prints what the real script prints."""
    result = CliRunner().invoke(cli, ["decode", str(capture), "--format", "jsonl"])
    assert result.exit_code == 0 and result.exception is None
    assert result.output == run("decode", capture, "--format", "jsonl").stdout


def test_version():
    proc = run("--version")
    assert proc.returncode == 0 and "version" in proc.stdout


def test_struct_helper_is_big_endian():
    """The hand-written frames really are what the tests say (a self-check of tools.py)."""
    frame = udp_frame(sport=0x1234, dport=0x5678)
    assert struct.unpack("!HH", frame[34:38]) == (0x1234, 0x5678)
