"""The configuration file: a valid one loads; each kind of mistake names file, line, key
and makes the CLI exit 2."""
import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest

from ybsensor.sensor.config import ConfigError, load

ROOT = Path(__file__).resolve().parents[2]
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

[[allocations]]
path = "alloc.csv"

[detectors.plaintext_pii]
enabled = false

[alerts]
path = "alerts.jsonl"
dedup_seconds = 60
"""
CSV = "code,name,cidr,line,access\nH2,Clinic,10.1.3.0/24,qinq:10.200,dedicated\n" \
      "H2,Clinic,fd00:1::/48,qinq:10.200,dedicated\n"


def write(tmp_path, text, csv=CSV):
    (tmp_path / "alloc.csv").write_text(csv)
    path = tmp_path / "sensor.toml"
    path.write_text(text)
    return path


def test_good_config_loads_everything(tmp_path):
    cfg = load(write(tmp_path, GOOD))
    assert cfg.private == [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]
    assert cfg.platform == [ipaddress.ip_network("10.200.0.0/16")]
    codes = {i.code: i for i in cfg.institutions}
    assert set(codes) == {"H1", "H2"}
    assert codes["H1"].lines == ["vlan:100", "l2tp:7/*"] and codes["H1"].access == "vpdn"
    assert [str(r) for r in codes["H2"].ranges] == ["10.1.3.0/24", "fd00:1::/48"]
    assert codes["H2"].lines == ["qinq:10.200"]
    assert not cfg.detector_enabled("plaintext_pii") and cfg.detector_enabled("internet_bound")
    assert cfg.dedup_seconds == 60 and cfg.alerts_path == "alerts.jsonl"


@pytest.mark.parametrize("change, where, words", [
    (('private  = ["10.0.0.0/8", "fd00::/8"]', 'private  = ["10.0.0.0/33"]'), ":2:", "network.private"),
    (('private  = ["10.0.0.0/8", "fd00::/8"]', 'private  = ["10.0.0.1/8"]'), ":2:", "host bits"),
    (('private  = ["10.0.0.0/8", "fd00::/8"]', 'private  = ["fd00::/129"]'), ":2:", "network.private"),
    (('platform = ["10.200.0.0/16"]', 'platform = ["10.200.0.0/16"]\nplatfrom = []'), ":4:", "unknown key"),
    (('lines  = ["vlan:100", "l2tp:7/*"]', 'lines  = ["vlan:100", "wifi:3"]'), ":9:", "unknown line kind"),
    (('lines  = ["vlan:100", "l2tp:7/*"]', 'lines  = ["vlan:abc"]'), ":9:", "not a vlan line key"),
    (('access = "vpdn"', 'access = "satellite"'), ":10:", "institution.access"),
    (('dedup_seconds = 60', 'dedup_seconds = "soon"'), ":20:", "alerts.dedup_seconds"),
    (('[detectors.plaintext_pii]', '[detectors.pii]'), ":15:", "unknown detector"),
    (('[alerts]', '[alert]'), ":18:", "unknown table"),
    (('[alerts]', '[decoders]\nl2tpv3_l2_specific = "atm"\n[alerts]'), ":19:", "decoders.l2tpv3_l2_specific"),
])
def test_each_mistake_names_line_and_key(tmp_path, change, where, words):
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as err:
        load(path)
    message = str(err.value)
    assert message.startswith(str(path) + where), message
    assert words in message


def test_two_institutions_may_not_share_addresses(tmp_path):
    overlapping = CSV + "H3,Pharmacy,10.1.2.128/25,vlan:300,dedicated\n"
    with pytest.raises(ConfigError, match=r"10.1.2.128/25 of H3 overlaps 10.1.2.0/24 of H1"):
        load(write(tmp_path, GOOD, overlapping))


def test_overlap_hidden_behind_a_nested_range_is_found(tmp_path):
    text = GOOD.replace('ranges = ["10.1.2.0/24"]', 'ranges = ["10.1.0.0/16", "10.1.0.0/24"]')
    # H2's 10.1.3.0/24 sorts after H1's /24 but lies inside H1's /16
    with pytest.raises(ConfigError, match="overlaps 10.1.0.0/16 of H1"):
        load(write(tmp_path, text))


@pytest.mark.parametrize("row, words", [
    ("H3,Pharmacy,10.1.9.0/24,vlan:3", "4 fields, expected 5"),
    ("H3,Pharmacy,10.1.9.0/24,vlan:3,dedicated,extra", "6 fields"),
    ("H3,Pharmacy,10.1.9.300/24,vlan:3,dedicated", "cidr"),
    ("H3,Pharmacy,10.1.9.0/24,fiber:3,dedicated", "line"),
])
def test_csv_rows_are_checked_with_their_line(tmp_path, row, words):
    path = write(tmp_path, GOOD, CSV + row + "\n")
    with pytest.raises(ConfigError) as err:
        load(path)
    assert str(err.value).startswith(f"{tmp_path / 'alloc.csv'}:4:")
    assert words in str(err.value)


def test_not_toml_at_all(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(write(tmp_path, "[network\nprivate = 1"))


def test_cli_check_config_exit_status(tmp_path):
    good = write(tmp_path, GOOD)
    run = lambda p: subprocess.run([sys.executable, "-m", "ybsensor.sensor.cli", "check-config", str(p)],  # noqa: E731
                                   capture_output=True, text=True, cwd=ROOT)
    ok = run(good)
    assert ok.returncode == 0 and "institutions     : 2 (3 ranges" in ok.stdout
    bad = write(tmp_path, GOOD.replace('access = "vpdn"', 'access = "x"'))
    res = run(bad)
    assert res.returncode == 2
    assert "institution.access" in res.stderr and "Traceback" not in res.stderr


def test_bundled_example_config_is_valid():
    cfg = load(ROOT / "pcaps" / "example.toml")
    assert cfg.institutions and cfg.private and cfg.platform
