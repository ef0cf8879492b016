"""Configuration files wrong in every way the schema allows (sensor/config.py: SCHEMA,
TOP_LEVEL, line kinds and their id ranges, CSV rows, overlapping allocations, one owner per
line, types, negative numbers, the listen address, detector names...). Each must give one
clear message that names the file, the line and the key, and exit status 2 — never a
traceback. `ybsensor check-config` runs in this process (sensor.cli.main, as the console
script calls it) for every case, and as a real subprocess for a handful.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from ybsensor.sensor import cli as cli_mod
from tools import REPO, ybsensor_cmd

GOOD = """\
[network]
private  = ["10.0.0.0/8", "fd00::/8"]
platform = ["10.200.0.0/16"]

[[institution]]
code   = "H1"
name   = "Hospital One"
ranges = ["10.1.2.0/24"]
lines  = ["vlan:100", "l2tp:7/*"]
access = "vpdn"

[[institution]]
code   = "H2"
name   = "Hospital Two"
ranges = ["10.1.3.0/24"]
lines  = ["mpls:1000"]

[[allocations]]
path = "alloc.csv"

[detectors.internet_bound]
enabled = true
internal_domains = ["ybj.example.cn"]

[detectors.plaintext_pii]
enabled = false

[alerts]
path = "alerts.jsonl"
dedup_seconds = 60
max_per_second = 10

[metrics]
listen = "127.0.0.1:9108"

[flows]
max_flows = 1000
idle_seconds = 60

[decoders]
l2tpv3_cookie_len = "detect"
l2tpv3_l2_specific = "detect"
"""
CSV = ("code,name,cidr,line,access\n"
       "H3,Clinic,10.1.4.0/24,qinq:10.200,dedicated\n"
       "H3,Clinic,fd00:1::/48,qinq:10.200,dedicated\n")
MINIMAL = '[network]\nprivate = ["10.0.0.0/8"]\n'


def sub(old, new):
    return lambda text: _replace(text, old, new)


def _replace(text, old, new):
    assert old in text, old
    return text.replace(old, new, 1)


def whole(new_text):
    return lambda text: new_text


# (id, edit of GOOD, edit of CSV, where, words the message must hold); where is ("toml",
# text on the line the message names) / ("csv", row) / ("toml", None): the file alone /
# ("toml-at", text): a TOML syntax error, "(at line N, ...)" as tomllib says it
T, C = "toml", "csv"
CASES = [
    # not TOML at all, or TOML that tomllib refuses
    ("toml-syntax", sub("[network]", "[network"), None, ("toml-at", "[network"),
     ["not valid TOML"]),
    ("toml-duplicate-key", sub("max_flows = 1000", "max_flows = 1000\nmax_flows = 2000"), None,
     ("toml-at", "max_flows = 2000"), ["not valid TOML"]),
    ("toml-bad-value", sub("dedup_seconds = 60", "dedup_seconds = 6 0"), None,
     ("toml-at", "dedup_seconds = 6 0"), ["not valid TOML"]),
    ("not-utf8", lambda text: "\udcff", None, (T, None), ["cannot read"]),
    # tables
    ("unknown-table", sub("[alerts]", "[alert]"), None, (T, "[alert]"), ["alert", "unknown table"]),
    ("unknown-top-level-key", lambda text: "verbose = true\n" + text, None, (T, "verbose"),
     ["verbose", "unknown table"]),
    ("network-not-a-table", whole("network = 5\n"), None, (T, "network = 5"),
     ["network", "must be a table"]),
    ("institution-not-an-array", whole(MINIMAL + '[institution]\ncode = "H1"\n'
                                       'ranges = ["10.1.0.0/24"]\n'), None, (T, "[institution]"),
     ["institution", "array of tables"]),
    ("allocations-not-an-array", whole(MINIMAL + '[allocations]\npath = "alloc.csv"\n'), None,
     (T, "[allocations]"), ["allocations", "array of tables"]),
    ("detectors-not-a-table", whole("detectors = 5\n" + MINIMAL), None, (T, "detectors = 5"),
     ["detectors", "must be a table"]),
    ("detector-not-a-table", whole(MINIMAL + "[detectors]\nplaintext_pii = true\n"), None,
     (T, "plaintext_pii = true"), ["detectors.plaintext_pii", "must be a table"]),
    ("alerts-not-a-table", whole("alerts = 1\n" + MINIMAL), None, (T, "alerts = 1"),
     ["alerts", "must be a table"]),
    # unknown keys, in every table
    *[(f"unknown-key-{table}", sub(anchor, anchor + "\n" + bad), None, (T, bad),
       [f"{table}.{bad.split()[0]}", "unknown key"]) for table, anchor, bad in [
        ("network", 'platform = ["10.200.0.0/16"]', "platfrom = []"),
        ("institution", 'access = "vpdn"', 'adress = "x"'),
        ("allocations", 'path = "alloc.csv"', 'file = "x.csv"'),
        ("alerts", "max_per_second = 10", "dedup = 5"),
        ("metrics", 'listen = "127.0.0.1:9108"', "port = 9108"),
        ("flows", "idle_seconds = 60", "max_flow = 5"),
        ("decoders", 'l2tpv3_l2_specific = "detect"', "cookie = 4"),
        ("detectors.plaintext_pii", "enabled = false", "threshold = 3"),
        ("detectors.internet_bound", 'internal_domains = ["ybj.example.cn"]', "internal = []"),
    ]],
    # types
    *[(f"type-{key}-{new.split('=')[1].strip()}", sub(old, new), None, (T, new), [key, "must be a"])
      for key, old, new in [
        ("network.private", 'private  = ["10.0.0.0/8", "fd00::/8"]', 'private = "10.0.0.0/8"'),
        ("network.platform", 'platform = ["10.200.0.0/16"]', "platform = 5"),
        ("institution.code", 'code   = "H1"', "code = 5"),
        ("institution.name", 'name   = "Hospital One"', "name = 1.5"),
        ("institution.ranges", 'ranges = ["10.1.2.0/24"]', 'ranges = "10.1.2.0/24"'),
        ("institution.lines", 'lines  = ["vlan:100", "l2tp:7/*"]', 'lines = "vlan:100"'),
        ("institution.access", 'access = "vpdn"', "access = 1"),
        ("allocations.path", 'path = "alloc.csv"', "path = 7"),
        ("alerts.path", 'path = "alerts.jsonl"', "path = false"),
        ("alerts.dedup_seconds", "dedup_seconds = 60", 'dedup_seconds = "soon"'),
        ("alerts.max_per_second", "max_per_second = 10", "max_per_second = true"),
        ("metrics.listen", 'listen = "127.0.0.1:9108"', "listen = 9108"),
        ("flows.max_flows", "max_flows = 1000", "max_flows = 1.5"),
        ("flows.max_flows", "max_flows = 1000", 'max_flows = "1000"'),
        ("flows.max_flows", "max_flows = 1000", "max_flows = true"),
        ("flows.idle_seconds", "idle_seconds = 60", 'idle_seconds = "long"'),
        ("flows.memory_mb", "idle_seconds = 60", 'memory_mb = "64M"'),
        ("decoders.l2tpv3_cookie_len", 'l2tpv3_cookie_len = "detect"', "l2tpv3_cookie_len = 4.0"),
        ("decoders.l2tpv3_l2_specific", 'l2tpv3_l2_specific = "detect"', "l2tpv3_l2_specific = 4"),
        ("detectors.plaintext_pii.enabled", "enabled = false", 'enabled = "no"'),
        ("detectors.internet_bound.internal_domains", 'internal_domains = ["ybj.example.cn"]',
         'internal_domains = "ybj.example.cn"'),
    ]],
    # addresses
    *[(f"cidr-{name}", sub(old, new), None, (T, new), [key, words])
      for name, key, old, new, words in [
        ("prefix-too-long", "network.private", 'private  = ["10.0.0.0/8", "fd00::/8"]',
         'private = ["10.0.0.0/33"]', "not a network"),
        ("host-bits", "network.private", 'private  = ["10.0.0.0/8", "fd00::/8"]',
         'private = ["10.0.0.1/8"]', "host bits"),
        ("v6-prefix", "network.private", 'private  = ["10.0.0.0/8", "fd00::/8"]',
         'private = ["fd00::/129"]', "not a network"),
        ("not-an-address", "network.platform", 'platform = ["10.200.0.0/16"]',
         'platform = ["platform.example"]', "not a network"),
        ("number", "network.private", 'private  = ["10.0.0.0/8", "fd00::/8"]',
         "private = [10]", "not a network"),
        ("range", "institution.ranges", 'ranges = ["10.1.3.0/24"]',
         'ranges = ["10.1.3.0/24", "10.1.3/24"]', "not a network"),
    ]],
    # line keys
    *[(f"line-{name}", sub('lines  = ["mpls:1000"]', f"lines = [{value}]"), None,
       (T, f"lines = [{value}]"), ["institution.lines", words]) for name, value, words in [
        ("unknown-kind", '"wifi:3"', "unknown line kind"),
        ("not-a-number", '"vlan:abc"', "not a vlan line key"),
        ("vlan-too-long", '"vlan:99999"', "not a vlan line key"),
        ("vlan-over-4095", '"vlan:5000"', "vlan ids go up to 4095"),
        ("qinq-one-tag", '"qinq:10"', "not a qinq line key"),
        ("qinq-over-4095", '"qinq:10.4096"', "qinq ids go up to 4095"),
        ("l2tp-no-session", '"l2tp:7"', "not a l2tp line key"),
        ("l2tp-over-65535", '"l2tp:70000/1"', "l2tp ids go up to 65535"),
        ("mpls-over-20-bits", '"mpls:2000000"', "mpls ids go up to 1048575"),
        ("erspan-over-10-bits", '"erspan:1024"', "erspan ids go up to 1023"),
        ("vxlan-over-24-bits", '"vxlan:16777216"', "vxlan ids go up to 16777215"),
        ("gre-over-32-bits", '"gre:4294967296"', "gre ids go up to 4294967295"),
        ("number", "5", "unknown line kind"),
        ("no-kind", '":5"', "unknown line kind"),
    ]],
    ("access", sub('access = "vpdn"', 'access = "satellite"'), None, (T, 'access = "satellite"'),
     ["institution.access", "not one of"]),
    ("institution-without-code", sub('code   = "H2"\n', ""), None,
     (T, "[[institution]]\nname   = \"Hospital Two\""),
     ["institution", "needs code"]),
    ("institution-without-ranges", sub('ranges = ["10.1.3.0/24"]\n', ""), None,
     (T, '[[institution]]\ncode   = "H2"'), ["institution", "needs ranges"]),
    # allocations and their CSV
    ("allocations-without-path", sub('path = "alloc.csv"', 'comment = "x"'), None,
     (T, 'comment = "x"'), ["allocations", "unknown key"]),
    ("allocations-empty", sub('path = "alloc.csv"', ""), None, (T, "[[allocations]]"),
     ["allocations", "needs a path"]),
    ("allocations-missing-file", sub('path = "alloc.csv"', 'path = "nowhere.csv"'), None,
     (T, 'path = "nowhere.csv"'), ["allocations.path", "cannot read"]),
    *[(f"csv-{name}", None, lambda csv, row=row: csv + row + "\n", (C, 4), words)
      for name, row, words in [
          ("four-fields", "H4,Pharmacy,10.1.9.0/24,vlan:3", ["4 fields, expected 5"]),
          ("six-fields", "H4,Pharmacy,10.1.9.0/24,vlan:3,dedicated,x", ["6 fields"]),
          ("bad-cidr", "H4,Pharmacy,10.1.9.300/24,vlan:3,dedicated", ["cidr", "not a network"]),
          ("host-bits", "H4,Pharmacy,10.1.9.1/24,vlan:3,dedicated", ["cidr", "host bits"]),
          ("bad-line", "H4,Pharmacy,10.1.9.0/24,fiber:3,dedicated", ["line", "unknown line kind"]),
          ("line-out-of-range", "H4,Pharmacy,10.1.9.0/24,vlan:4096,dedicated",
           ["line", "vlan ids go up to 4095"]),
          ("bad-access", "H4,Pharmacy,10.1.9.0/24,vlan:3,wireless", ["access", "not one of"]),
      ]],
    # one address, one institution; one line, one institution
    ("overlap-two-institutions", sub('ranges = ["10.1.3.0/24"]', 'ranges = ["10.1.2.128/25"]'),
     None, (T, 'ranges = ["10.1.2.128/25"]'),
     ["ranges", "10.1.2.128/25 of H2 overlaps 10.1.2.0/24 of H1"]),
    ("overlap-nested", sub('ranges = ["10.1.2.0/24"]', 'ranges = ["10.1.0.0/16"]'), None,
     (T, 'ranges = ["10.1.3.0/24"]'), ["ranges", "overlaps 10.1.0.0/16 of H1"]),
    ("overlap-csv", None, lambda csv: csv + "H4,Pharmacy,10.1.2.128/25,vlan:3,dedicated\n", (C, 4),
     ["ranges", "10.1.2.128/25 of H4 overlaps 10.1.2.0/24 of H1"]),
    ("duplicate-line", sub('lines  = ["mpls:1000"]', 'lines  = ["mpls:1000", "vlan:100"]'), None,
     (T, 'lines  = ["mpls:1000", "vlan:100"]'),
     ["lines", "'vlan:100' of H2 is already the line of H1"]),
    ("duplicate-line-csv", None, lambda csv: csv + "H4,Pharmacy,10.1.9.0/24,mpls:1000,dedicated\n",
     (C, 4), ["lines", "'mpls:1000' of H4 is already the line of H2"]),
    # numbers out of range
    *[(f"number-{key}-{value}", sub(old, f"{key.split('.')[1]} = {value}"), None,
       (T, f"{key.split('.')[1]} = {value}"), [key, words]) for key, old, value, words in [
        ("alerts.dedup_seconds", "dedup_seconds = 60", "-1", "must not be negative"),
        ("alerts.max_per_second", "max_per_second = 10", "0", "must be positive"),
        ("alerts.max_per_second", "max_per_second = 10", "-5", "must be positive"),
        ("flows.max_flows", "max_flows = 1000", "0", "must be positive"),
        ("flows.max_flows", "max_flows = 1000", "-1", "must be positive"),
        ("flows.idle_seconds", "idle_seconds = 60", "0", "must be positive"),
        ("flows.idle_seconds", "idle_seconds = 60", "-30", "must be positive"),
        ("flows.memory_mb", "idle_seconds = 60", "0", "at least one flow"),
        ("flows.memory_mb", "idle_seconds = 60", "-64", "at least one flow"),
        # a table bigger than any machine's memory (10^12 flows: about 180 TiB)
        ("flows.max_flows", "max_flows = 1000", "1_000_000_000_000", "more than this machine's"),
        ("decoders.l2tpv3_cookie_len", 'l2tpv3_cookie_len = "detect"', "3", "must be 0, 4, 8"),
        ("decoders.l2tpv3_cookie_len", 'l2tpv3_cookie_len = "detect"', '"auto"', "must be 0, 4, 8"),
        ("decoders.l2tpv3_l2_specific", 'l2tpv3_l2_specific = "detect"', '"weird"', "must be"),
        # not a number at all, or one that breaks what it becomes (int(nan), int64 ns...)
        *[(key, old, value, "must be a finite number") for value in ("nan", "inf", "-inf")
          for key, old in [("alerts.dedup_seconds", "dedup_seconds = 60"),
                           ("alerts.max_per_second", "max_per_second = 10"),
                           ("alerts.fsync_seconds", "max_per_second = 10"),
                           ("flows.idle_seconds", "idle_seconds = 60"),
                           ("flows.memory_mb", "idle_seconds = 60")]],
        ("alerts.fsync_seconds", "max_per_second = 10", "-1", "must not be negative"),
        ("alerts.rotate_bytes", "max_per_second = 10", "-1", "must not be negative"),
        ("alerts.keep", "max_per_second = 10", "0", "must be at least 1"),
        ("alerts.keep", "max_per_second = 10", "1_000_000_000", "must be at most"),
        ("alerts.max_backlog", "max_per_second = 10", "9223372036854775807", "must be at most"),
        ("alerts.dedup_seconds", "dedup_seconds = 60", "1e300", "must be at most"),
        ("flows.idle_seconds", "idle_seconds = 60", "1e300", "must be at most"),
        ("flows.memory_mb", "idle_seconds = 60", "1e300", "must be at most"),
        ("alerts.max_per_second", "max_per_second = 10", "1e300", "must be at most"),
    ]],
    # outputs the sensor could not write: refused now, not at the first alert or a reload
    *[(f"alerts-path-{name}", sub('path = "alerts.jsonl"', f'path = "{value}"'), None,
       (T, f'path = "{value}"'), ["alerts.path", words]) for name, value, words in [
        ("in-proc", "/proc/nonexistent/a.jsonl", "cannot create /proc/nonexistent"),
        ("a-device", "/dev/null", "/dev/null is not a regular file"),
        ("a-directory", "/tmp", "/tmp is not a regular file"),
        ("under-a-file", "/etc/hostname/alerts.jsonl", "Not a directory"),
    ]],
    ("alerts-path-the-config", sub('path = "alerts.jsonl"', 'path = "{config}"'), None,
     (T, 'path = "{config}"'), ["alerts.path", "is this configuration"]),
    ("alerts-path-the-csv", sub('path = "alerts.jsonl"', 'path = "{dir}/alloc.csv"'), None,
     (T, 'path = "{dir}/alloc.csv"'), ["alerts.path", "is an allocations file"]),
    *[(f"check-seconds-{value}", lambda text, v=value: text + "\n[detectors.malicious_link]\n"
       f"paths = []\ncheck_seconds = {v}\n", None, (T, f"check_seconds = {value}"),
       ["detectors.malicious_link.check_seconds", "must be a finite number"])
      for value in ("nan", "inf")],
    ("alerts-path-blank", sub('path = "alerts.jsonl"', 'path = " "'), None,
     (T, 'path = " "'), ["alerts.path", "is blank"]),
    ("alerts-path-nul", sub('path = "alerts.jsonl"', 'path = "alerts\\u0000.jsonl"'), None,
     (T, 'path = "alerts\\u0000.jsonl"'), ["alerts.path", "NUL"]),
    ("evidence-dir-in-proc", lambda text: text + '\n[evidence]\ndir = "/proc/nonexistent/ev"\n',
     None, (T, 'dir = "/proc/nonexistent/ev"'), ["evidence.dir", "cannot create"]),
    ("evidence-dir-a-file", lambda text: text + '\n[evidence]\ndir = "/etc/hostname"\n',
     None, (T, 'dir = "/etc/hostname"'), ["evidence.dir", "not a directory"]),
    ("evidence-packets-a-float", lambda text: text + '\n[evidence]\npackets_per_flow = 1e9\n',
     None, (T, "packets_per_flow = 1e9"), ["evidence.packets_per_flow", "must be a int"]),
    # the metrics listen address
    *[(f"listen-{name}", sub('listen = "127.0.0.1:9108"', f'listen = "{value}"'), None,
       (T, f'listen = "{value}"'), ["metrics.listen", words]) for name, value, words in [
        ("no-port", "localhost", "HOST:PORT"),
        ("empty-port", "127.0.0.1:", "HOST:PORT"),
        ("no-host", ":9108", "HOST:PORT"),
        ("space", "exa mple:80", "HOST:PORT"),
        ("bracket", "[::1:9108", "HOST:PORT"),
        ("port-too-big", "127.0.0.1:99999", "port must be 1..65535"),
        ("port-zero", "127.0.0.1:0", "port must be 1..65535"),
    ]],
    # detectors
    ("unknown-detector", sub("[detectors.plaintext_pii]", "[detectors.pii]"), None,
     (T, "[detectors.pii]"), ["detectors.pii", "unknown detector"]),
    ("bad-domain",
     sub('internal_domains = ["ybj.example.cn"]', 'internal_domains = ["not a domain!"]'), None,
     (T, 'internal_domains = ["not a domain!"]'),
     ["detectors.internet_bound.internal_domains", "not a domain name"]),
]
IDS = [c[0] for c in CASES]
assert len(set(IDS)) == len(IDS), "case ids must be unique"
# these also go through the real console script, in a process of their own
SUBPROCESS = {"toml-syntax", "unknown-key-flows", "cidr-host-bits", "csv-bad-cidr",
              "overlap-two-institutions", "duplicate-line", "listen-port-too-big",
              "line-vlan-over-4095"}


@pytest.mark.parametrize("content, words", [
    ("not hex at all\n", "does not hold a key"), ("abc\n", "does not hold a key"),
    (b"\xff\xfe", "cannot read"), ("", "does not hold a key")])
def test_a_bad_hash_key_file_is_refused_by_check_config(tmp_path, capsys, monkeypatch,
                                                       content, words):
    key = tmp_path / "hash.key"
    key.write_bytes(content if isinstance(content, bytes) else content.encode())
    text = sub("[detectors.plaintext_pii]\nenabled = false",
               '[detectors.plaintext_pii]\nenabled = true\nhash_key_file = "hash.key"')(GOOD)
    path, _ = write_case(tmp_path, lambda _: text, None)
    code, out, err = run_in_process(["check-config", str(path)], capsys, monkeypatch)
    check_message(("hash-key", None, None, (T, 'hash_key_file = "hash.key"'),
                   ["detectors.plaintext_pii.hash_key_file", words]),
                  tmp_path, path, text, code, out, err)


def test_an_alert_path_that_is_a_link_is_refused(tmp_path, capsys, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "alerts.jsonl").symlink_to(victim)
    new = f'path = "{tmp_path / "alerts.jsonl"}"'
    path, text = write_case(tmp_path, sub('path = "alerts.jsonl"', new), None)
    code, out, err = run_in_process(["check-config", str(path)], capsys, monkeypatch)
    check_message(("link", None, None, (T, new), ["alerts.path", "symbolic link"]),
                  tmp_path, path, text, code, out, err)
    # and through --alerts, which no configuration checks
    path, _ = write_case(tmp_path, sub('path = "alerts.jsonl"', f'path = "{tmp_path / "a.jsonl"}"'),
                         None)
    pcap = REPO / "pcaps" / "vlan.pcap"
    for alerts in (tmp_path / "alerts.jsonl", "/dev/null"):
        code, out, err = run_in_process(["replay", "--no-progress", "--config", str(path),
                                         "--alerts", str(alerts), str(pcap)], capsys, monkeypatch)
        assert code == 2 and "Traceback" not in err and "cannot be the alert log" in err, err
    assert victim.read_text() == "precious\n" and not (tmp_path / "evidence").exists()


def write_case(tmp_path, edit_toml, edit_csv):
    text = edit_toml(GOOD) if edit_toml else GOOD
    csv = edit_csv(CSV) if edit_csv else CSV
    (tmp_path / "alloc.csv").write_text(csv)
    path = tmp_path / "sensor.toml"
    text = text.replace("{config}", str(path)).replace("{dir}", str(tmp_path))
    if text == "\udcff":
        path.write_bytes(b"[network]\nprivate = [\"\xff\xfe\"]\n")
    else:
        path.write_text(text)
    return path, text


def expected_place(tmp_path, path, text, where) -> str | None:
    """`FILE:LINE:` the message must start with (None: the file alone)."""
    kind, what = where
    if isinstance(what, str):
        what = what.replace("{config}", str(path)).replace("{dir}", str(tmp_path))
    if kind == C:
        return f"{tmp_path / 'alloc.csv'}:{what}:"
    if what is None or kind == "toml-at":
        return None
    return f"{path}:{line_of(text, what)}:"


def line_of(text: str, what: str) -> int:
    return text.count("\n", 0, text.index(what)) + 1


def run_in_process(args, capsys, monkeypatch) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["ybsensor", *args])
    try:
        cli_mod.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def check_message(case, tmp_path, path, text, code, out, err) -> None:
    name, _, _, where, words = case
    assert "Traceback" not in err and "Traceback" not in out, err
    assert code == 2, (name, code, out, err)
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, f"{name}: one message, not {len(lines)}:\n{err}"
    message = lines[0]
    assert message.startswith("ybsensor: error: "), message
    body = message[len("ybsensor: error: "):]
    place = expected_place(tmp_path, path, text, where)
    if place is not None:
        assert body.startswith(place), f"{name}: {body!r} should start with {place!r}"
    else:
        assert body.startswith(str(path)), body
        if where[0] == "toml-at":
            assert f"(at line {line_of(text, where[1])}," in body, body
    for word in words:
        assert word in body, f"{name}: {word!r} not in {body!r}"
    assert not out.strip(), out


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_each_mistake_one_message_with_file_line_key(case, tmp_path, capsys, monkeypatch):
    path, text = write_case(tmp_path, case[1], case[2])
    code, out, err = run_in_process(["check-config", str(path)], capsys, monkeypatch)
    check_message(case, tmp_path, path, text, code, out, err)


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in SUBPROCESS],
                         ids=[c[0] for c in CASES if c[0] in SUBPROCESS])
def test_console_script_exits_2_with_the_message(case, tmp_path):
    path, text = write_case(tmp_path, case[1], case[2])
    proc = subprocess.run([*ybsensor_cmd(), "check-config", str(path)], capture_output=True,
                          text=True, cwd=REPO, timeout=60)
    check_message(case, tmp_path, path, text, proc.returncode, proc.stdout, proc.stderr)


def test_replay_refuses_a_bad_config_the_same_way(tmp_path, capsys, monkeypatch):
    case = next(c for c in CASES if c[0] == "duplicate-line")
    path, text = write_case(tmp_path, case[1], case[2])
    pcap = REPO / "pcaps" / "vlan.pcap"
    code, out, err = run_in_process(["replay", "--no-progress", "--config", str(path), str(pcap)],
                                    capsys, monkeypatch)
    check_message(case, tmp_path, path, text, code, out, err)


def test_the_good_config_is_good(tmp_path, capsys, monkeypatch):
    path, _ = write_case(tmp_path, None, None)
    code, out, err = run_in_process(["check-config", str(path)], capsys, monkeypatch)
    assert code == 0 and not err, err
    assert "institutions     : 3 (4 ranges, 4 lines)" in out, out
