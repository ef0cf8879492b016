"""The alert log's hash chain (JL art.34-36) and `ybsensor verify-log`: an intact log
verifies; a record changed, removed, reordered, duplicated or cut off is named by its line;
the chain runs on through rotated files and across restarts; a file that cannot be read
exits 2."""
from __future__ import annotations

import errno
import hashlib
import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from ybsensor.exporters import alerts as alerts_mod
from ybsensor.exporters.alerts import GENESIS, AlertLog, chain_path
from ybsensor.sensor.audit import verify
from ybsensor.sensor.cli import cli


def alert(i: int) -> dict:
    return {"ts": 1_735_689_600.0 + i, "detector": "internet_bound", "severity": "high",
            "rule": "JL art.7", "line": "vlan:100", "institution": "H1",
            "src": "10.1.2.3", "dst": f"203.0.113.{i % 250 + 1}", "proto": 6,
            "sport": 40000 + i, "dport": 443, "community_id": "1:x", "packets": 1,
            "bytes": 60, "first_frame": i + 1, "source": "t.pcap",
            "evidence": {"reason": "address_outside_private", "note": "医保"}}


def make_log(path: Path, n: int = 20, batch: int = 3, **kw) -> AlertLog:
    log = AlertLog(path, **kw)
    for start in range(0, n, batch):
        log.write([alert(i) for i in range(start, min(start + batch, n))])
    log.close()
    return log


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def put(path: Path, rows: list[bytes]) -> None:
    path.write_bytes(b"".join(r + b"\n" for r in rows))


def edit(row: bytes, **changes) -> bytes:
    rec = json.loads(row)
    rec.update(changes)
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode()


def set_head(path: Path, seq: int) -> None:
    """FILE.head as the sensor writes it, at record `seq` of the file."""
    row = lines(path)[seq - 1]
    head = {"version": 1, "log": path.name, "seq": seq, "hash": hashlib.sha256(row).hexdigest()}
    alerts_mod.head_path(path).write_text(json.dumps(head))


def verify_log(*paths) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["verify-log", *map(str, paths)])
    return result.exit_code, result.output


@pytest.fixture
def log(tmp_path) -> Path:
    path = tmp_path / "alerts.jsonl"
    make_log(path)
    return path


# --- the format ------------------------------------------------------------------------

def test_each_record_holds_the_hash_of_the_line_before(log):
    rows = lines(log)
    assert len(rows) == 20
    recs = [json.loads(r) for r in rows]
    assert [r["seq"] for r in recs] == list(range(1, 21))
    # the first chains to the genesis value; each next to SHA-256 of the previous line's bytes
    assert recs[0]["prev_hash"] == GENESIS == hashlib.sha256(b"ybsensor alert log v1").hexdigest()
    for before, rec in zip(rows, recs[1:]):
        assert rec["prev_hash"] == hashlib.sha256(before).hexdigest()
    # the alert itself is there unchanged, UTF-8 as written
    assert {k: v for k, v in recs[4].items() if k not in ("seq", "prev_hash")} == alert(4)
    assert "医保".encode() in rows[0]
    chain = json.loads(chain_path(log).read_text())
    assert (chain["first_seq"], chain["first_prev_hash"]) == (1, GENESIS)
    assert (chain["last_seq"], chain["last_hash"]) == (20, hashlib.sha256(rows[-1]).hexdigest())


def canonical(alert: dict, seq: int, prev_hash: str, dropped: int = 0) -> bytes:
    """A record's line as the chain defines it: the alert less the log's own keys, then
    `dropped_before` (if any), `seq`, `prev_hash`; compact JSON, UTF-8 (ASCII escapes if
    it holds a lone surrogate)."""
    rec = {k: v for k, v in alert.items() if k not in ("seq", "prev_hash", "dropped_before")}
    if dropped:
        rec["dropped_before"] = dropped
    rec["seq"], rec["prev_hash"] = seq, prev_hash
    try:
        return json.dumps(rec, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(rec, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def test_each_line_is_the_canonical_json_of_its_record(tmp_path, monkeypatch):
    path = tmp_path / "alerts.jsonl"
    log = AlertLog(path, max_backlog=3)
    odd = [{}, {**alert(5), "seq": 99, "prev_hash": "x", "dropped_before": 7},
           {"name": "\ud800", "n": None, "yes": True, "f": 1.5e-07, "list": [1, "二", None]},
           {"ts": float("nan"), 3: "int key"}]
    log.write([alert(0), odd[0]])

    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(alerts_mod, "write_all", full)
    log.write([alert(1), alert(2), alert(3), alert(4)])   # three wait, one is dropped
    monkeypatch.undo()
    log.write(odd[1:])
    log.close()
    written = [alert(0), odd[0], alert(1), alert(2), alert(3)] + odd[1:]
    dropped = [0, 0, 0, 0, 0, 1, 0, 0]          # the first record after the drop says so
    want, prev = [], GENESIS
    for seq, (rec, d) in enumerate(zip(written, dropped), 1):
        want.append(canonical(rec, seq, prev, d))
        prev = hashlib.sha256(want[-1]).hexdigest()
    assert lines(path) == want
    assert b"\\ud800" in want[-2] and "二".encode() not in want[-2]


def test_intact_log_verifies(log):
    code, out = verify_log(log)
    assert code == 0, out
    assert "20 records, seq 1..20" in out and "chain intact" in out
    assert hashlib.sha256(lines(log)[-1]).hexdigest() in out  # the head, to keep elsewhere


# --- tampering -------------------------------------------------------------------------

def test_a_changed_record_is_named(log):
    rows = lines(log)
    rows[6] = edit(rows[6], dst="198.51.100.9")          # line 7
    put(log, rows)
    code, out = verify_log(log)
    assert code == 1
    assert f"{log}:7: changed" in out, out


def test_a_changed_prev_hash_is_named(log):
    rows = lines(log)
    rows[6] = edit(rows[6], prev_hash=hashlib.sha256(b"forged").hexdigest())
    put(log, rows)
    code, out = verify_log(log)
    assert code == 1 and f"{log}:7: changed" in out, out


def test_one_changed_byte_is_enough(log):
    rows = lines(log)
    rows[11] = rows[11].replace(b'"packets":1', b'"packets":2')
    put(log, rows)
    code, out = verify_log(log)
    assert code == 1 and f"{log}:12: changed" in out, out


def test_a_changed_last_record_shows_against_the_chain_file(log):
    rows = lines(log)
    rows[-1] = edit(rows[-1], severity="low")
    put(log, rows)
    code, out = verify_log(log)
    assert code == 1 and f"{log}:20: changed" in out and ".chain" in out, out


def test_a_changed_first_record_is_named(log):
    rows = lines(log)
    rows[0] = edit(rows[0], src="10.9.9.9")
    put(log, rows)
    code, out = verify_log(log)
    assert code == 1 and f"{log}:1: changed" in out, out


def test_a_removed_record_is_named(log):
    rows = lines(log)
    del rows[9]                                         # seq 10
    put(log, rows)
    code, out = verify_log(log)
    assert code == 1
    assert f"{log}:10: removed: seq 10 missing" in out, out


def test_removed_records_are_counted(log):
    rows = lines(log)
    del rows[4:8]                                       # seq 5..8
    put(log, rows)
    code, out = verify_log(log)
    assert code == 1 and "removed: seq 5..8 missing" in out and "(4 records)" in out, out


def test_records_removed_from_the_start_show_against_the_chain_file(log):
    rows = lines(log)
    put(log, rows[2:])
    code, out = verify_log(log)
    assert code == 1 and f"{log}:1:" in out and "seq 1..2 were removed from its start" in out, out


def test_reordered_records_are_named(log):
    rows = lines(log)
    rows[4], rows[5] = rows[5], rows[4]                 # seq 6 now on line 5
    put(log, rows)
    code, out = verify_log(log)
    assert code == 1
    assert f"{log}:5: out of order: seq 6 where 5 was expected; seq 5 comes later (line 6)" \
        in out, out


def test_a_record_moved_far_back_is_named(log):
    rows = lines(log)
    rows.insert(15, rows.pop(3))                        # seq 4 moved after seq 16
    put(log, rows)
    code, out = verify_log(log)
    assert code == 1 and f"{log}:4: out of order" in out and "line 16" in out, out


def test_a_duplicated_record_is_named(log):
    rows = lines(log)
    rows.insert(8, rows[7])
    put(log, rows)
    code, out = verify_log(log)
    assert code == 1 and f"{log}:9: out of order: seq 8 after seq 8" in out, out


def test_a_torn_last_line_is_named(log):
    data = log.read_bytes()
    log.write_bytes(data[:-40])                         # a write cut short
    code, out = verify_log(log)
    assert code == 1 and f"{log}:20: cut short" in out, out


def test_records_cut_from_the_end_show_against_the_chain_file(log):
    rows = lines(log)
    put(log, rows[:17])
    code, out = verify_log(log)
    assert code == 1 and "ends at seq 17" in out and "truncated" in out, out


def test_an_emptied_file_shows_against_the_chain_file(log):
    log.write_bytes(b"")
    code, out = verify_log(log)
    assert code == 1 and "its records were removed" in out, out


def test_a_line_that_is_no_record_is_named(log):
    rows = lines(log)
    rows[2] = b"this is not json"
    put(log, rows)
    code, out = verify_log(log)
    assert code == 1 and f"{log}:3: not a JSON record" in out, out


def test_a_record_without_chain_fields_is_named(log):
    rows = lines(log)
    rec = json.loads(rows[2])
    del rec["seq"]
    rows[2] = json.dumps(rec).encode()
    put(log, rows)
    code, out = verify_log(log)
    assert code == 1 and f"{log}:3: no seq or prev_hash" in out, out


def test_without_the_chain_file_only_the_links_speak(log):
    """Deleting FILE.chain too hides records cut from the ends (noted), not changes inside."""
    chain_path(log).unlink()
    code, out = verify_log(log)
    assert code == 0 and "no .chain file" in out, out
    rows = lines(log)
    rows[3] = edit(rows[3], dport=80)
    put(log, rows)
    code, out = verify_log(log)
    assert code == 1 and f"{log}:4: changed" in out, out


# --- rotation and restarts --------------------------------------------------------------

def rotated(tmp_path: Path, n: int = 60, keep: int = 20) -> list[Path]:
    path = tmp_path / "alerts.jsonl"
    log = make_log(path, n=n, batch=2, rotate_bytes=2000, keep=keep)
    assert log.rotations >= 3
    files = sorted(tmp_path.glob("alerts.jsonl*"))
    return [p for p in files if not p.name.endswith(alerts_mod.STATE_SUFFIXES)]


def test_the_chain_runs_on_through_rotated_files(tmp_path):
    files = rotated(tmp_path)
    assert all(p.stat().st_size <= 2000 for p in files)
    # FILE.1 is older than FILE; the newest rotated file's first record chains to the end of
    # the one before it
    newest, previous = tmp_path / "alerts.jsonl", tmp_path / "alerts.jsonl.1"
    assert json.loads(lines(newest)[0])["prev_hash"] == \
        hashlib.sha256(lines(previous)[-1]).hexdigest()
    shuffled = files[:]
    random.Random(4).shuffle(shuffled)                  # any order: sorted by seq
    code, out = verify_log(*shuffled)
    assert code == 0 and "60 records in" in out, out
    # a glob picks up the .chain files too: they are skipped
    code, out = verify_log(*tmp_path.glob("alerts.jsonl*"))
    assert code == 0, out


def test_a_rotated_file_missing_from_the_middle_is_named(tmp_path):
    files = rotated(tmp_path)
    middle = tmp_path / "alerts.jsonl.2"
    first_missing = json.loads(lines(middle)[0])["seq"]
    code, out = verify_log(*[p for p in files if p != middle])
    assert code == 1 and f"removed: seq {first_missing}.." in out and "between" in out, out


def test_a_change_at_the_end_of_a_rotated_file_is_named(tmp_path):
    files = rotated(tmp_path)
    older = tmp_path / "alerts.jsonl.2"
    rows = lines(older)
    rows[-1] = edit(rows[-1], dst="192.0.2.1")
    put(older, rows)
    code, out = verify_log(*files)
    assert code == 1 and f"{older}:{len(rows)}: changed" in out, out


def test_rotation_keeps_n_files_and_the_rest_still_verifies(tmp_path):
    files = rotated(tmp_path, n=60, keep=2)
    assert [p.name for p in files] == ["alerts.jsonl", "alerts.jsonl.1", "alerts.jsonl.2"]
    code, out = verify_log(*files)
    assert code == 0 and "the chain starts at seq" in out, out   # older files rotated away


def test_a_restart_continues_the_chain(tmp_path):
    path = tmp_path / "alerts.jsonl"
    make_log(path, n=5)
    make_log(path, n=5)                                  # the sensor started again
    recs = [json.loads(r) for r in lines(path)]
    assert [r["seq"] for r in recs] == list(range(1, 11))
    assert verify_log(path)[0] == 0


def test_a_restart_after_a_rotation_continues_from_the_rotated_file(tmp_path):
    path = tmp_path / "alerts.jsonl"
    log = AlertLog(path, rotate_bytes=1500)
    for i in range(0, 12, 2):
        log.write([alert(i), alert(i + 1)])
    log.rotate()                                         # FILE is empty now
    log.close()
    path.unlink()                                        # and gone, as after a crash
    make_log(path, n=4)
    assert json.loads(lines(path)[0])["seq"] == 13
    files = [p for p in tmp_path.glob("alerts.jsonl*")
             if not p.name.endswith(alerts_mod.STATE_SUFFIXES)]
    code, out = verify_log(*files)
    assert code == 0, out


def test_a_restart_after_a_torn_write_keeps_the_chain_and_names_the_torn_line(tmp_path):
    path = tmp_path / "alerts.jsonl"
    make_log(path, n=6)
    data = path.read_bytes()
    path.write_bytes(data[:-30])                         # a crash cut the last line short,
    set_head(path, 5)                                    # before the sync that anchors it
    make_log(path, n=3)                                  # the next run appends after it
    rows = lines(path)
    assert len(rows) == 9 and json.loads(rows[6])["prev_hash"] == hashlib.sha256(rows[5]).hexdigest()
    code, out = verify_log(path)
    assert code == 1 and f"{path}:6: not a JSON record" in out, out


# --- exit 2 ----------------------------------------------------------------------------

def test_a_missing_file_exits_2(tmp_path, log):
    code, out = verify_log(log, tmp_path / "nope.jsonl")
    assert code == 2 and "cannot read" in out


def test_a_directory_exits_2(tmp_path):
    code, out = verify_log(tmp_path)
    assert code == 2 and "directory" in out


def test_verify_reports_for_programs(log):
    report = verify([log])
    assert report.ok and report.records == 20 and report.files[0].last_seq == 20


# --- a tail cut while the sensor was not looking (FILE.head, --head) ---------------------

def test_a_deleted_newest_file_is_not_reused_after_a_restart(tmp_path):
    files = rotated(tmp_path)
    newest = tmp_path / "alerts.jsonl"
    last = json.loads(lines(newest)[-1])["seq"]
    first_gone = json.loads(lines(newest)[0])["seq"]
    newest.unlink()
    chain_path(newest).unlink()
    log = make_log(newest, n=2)                          # the sensor starts again
    assert log.cuts == 1 and f"written up to seq {last}" in log.cut
    assert [json.loads(r)["seq"] for r in lines(newest)] == [last + 1, last + 2]
    code, out = verify_log(*[p for p in tmp_path.glob("alerts.jsonl*")
                             if not p.name.endswith(alerts_mod.STATE_SUFFIXES)])
    assert code == 1 and f"removed: seq {first_gone}..{last} missing" in out, out


def test_a_cut_tail_without_its_chain_file_shows_against_the_head_file(log):
    put(log, lines(log)[:15])
    chain_path(log).unlink()
    code, out = verify_log(log)
    assert code == 1 and "does not reach the head alerts.jsonl.head names (seq 20" in out, out


def test_every_break_is_reported_past_a_torn_line(log):
    rows = lines(log)
    rows[4] = rows[4][:50]                               # torn in the middle of the log
    rows[11] = edit(rows[11], dst="198.51.100.7")        # and a record changed later
    put(log, rows)
    code, out = verify_log(log)
    assert code == 1 and f"{log}:5: " in out and f"{log}:12: changed" in out, out
    assert out.count("BROKEN:") == 2, out


def test_a_record_changed_is_one_break_not_two(log):
    rows = lines(log)
    rows[6] = edit(rows[6], prev_hash=hashlib.sha256(b"forged").hexdigest())
    put(log, rows)
    code, out = verify_log(log)
    assert code == 1 and out.count("BROKEN:") == 1, out


def test_verify_against_a_head_kept_elsewhere(log):
    kept = hashlib.sha256(lines(log)[-1]).hexdigest()
    assert verify_log(log, "--head", kept)[0] == 0
    assert verify_log(log, "--head", kept[:16], "--head-seq", "20")[0] == 0
    assert verify_log(log, "--head", kept[:16], "--head-seq", "19")[0] == 1
    put(log, lines(log)[:18])                            # the tail cut, and every file
    chain_path(log).unlink()                             # beside it that could tell
    alerts_mod.head_path(log).unlink()
    code, out = verify_log(log, "--head", kept[:16])
    assert code == 1 and "does not reach the head --head names" in out, out
    code, out = verify_log(log, "--head", "not-hex")
    assert code == 2, out


def test_the_head_is_published_as_metrics(tmp_path):
    path = tmp_path / "alerts.jsonl"
    log = make_log(path, n=7)
    values = {(s.name, s.labels.get("hash")): s.value
              for fam in log.metric_families() for s in fam.samples}
    assert values[("ybsensor_alert_log_head_seq", None)] == 7
    digest = hashlib.sha256(lines(path)[-1]).hexdigest()
    assert values[("ybsensor_alert_log_head_info", digest[:16])] == 1


def test_two_records_swapped_are_two_breaks(log):
    rows = lines(log)
    rows[4], rows[5] = rows[5], rows[4]
    put(log, rows)
    code, out = verify_log(log)
    assert code == 1 and out.count("BROKEN:") == 2 and f"{log}:5: out of order" in out \
        and f"{log}:6: out of order" in out, out


# --- links and special files are not followed -------------------------------------------

def test_the_log_never_appends_through_a_symbolic_link(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    (tmp_path / "alerts.jsonl").symlink_to(victim)
    with pytest.raises(alerts_mod.NotRegular, match="symbolic link"):
        AlertLog(tmp_path / "alerts.jsonl")
    assert victim.read_bytes() == b"precious\n"


@pytest.mark.parametrize("name", ["alerts.jsonl.chain.tmp", "alerts.jsonl.head.tmp"])
def test_a_planted_temporary_link_truncates_nothing(tmp_path, name):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    (tmp_path / name).symlink_to(victim)
    path = tmp_path / "alerts.jsonl"
    make_log(path, n=4)
    assert victim.read_bytes() == b"precious\n"
    assert alerts_mod.read_chain(path)["last_seq"] == 4 and alerts_mod.read_head(path)[0] == 4


def test_a_device_is_no_alert_log():
    with pytest.raises(alerts_mod.NotRegular, match="not a regular file"):
        AlertLog("/dev/null")


def test_a_just_rotated_log_alone_still_verifies(tmp_path):
    path = tmp_path / "alerts.jsonl"
    log = AlertLog(path)
    log.write([alert(i) for i in range(5)])
    log.rotate()                                         # the head is in alerts.jsonl.1 now
    log.close()
    code, out = verify_log(path)
    assert code == 0 and "in files not given" in out, out
    code, out = verify_log(path, path.with_name("alerts.jsonl.1"))
    assert code == 0 and "5 records" in out, out


def test_the_newest_file_deleted_shows_against_the_head_file(tmp_path):
    files = rotated(tmp_path)
    newest = tmp_path / "alerts.jsonl"
    newest.unlink()
    chain_path(newest).unlink()
    code, out = verify_log(*[p for p in files if p != newest])
    assert code == 1 and "does not reach the head alerts.jsonl.head names" in out, out


def test_the_flow_log_never_appends_through_a_link(tmp_path):
    from ybsensor.exporters.flowlog import FlowLog

    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "flows.jsonl").symlink_to(victim)
    with pytest.raises(alerts_mod.NotRegular):
        FlowLog(str(tmp_path / "flows.jsonl"), plan=None)
    assert victim.read_text() == "precious\n"
