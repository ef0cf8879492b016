"""cleartext_credentials on Zeek's test traces (../shared/corpus/zeek): real LDAP, SNMP, Redis,
POP3, SMTP, FTP and HTTP logins are found, and real PostgreSQL and MySQL logins that send no
cleartext password (MD5, SCRAM, native, caching_sha2), LDAP over SASL or StartTLS, are left
alone. Where tshark dissects the protocol, what a login holds is taken from tshark, not
written down from our output; the other facts were read from the traces (and agree with
Zeek's own logs of them, testing/btest/Baseline)."""
from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from tools import CORPUS, PCAPS, require_tool

ZEEK = CORPUS.parent / "zeek"
pytestmark = pytest.mark.skipif(not ZEEK.is_dir(), reason="no Zeek corpus here")


def alerts(path: Path, tmp_path: Path) -> list[dict]:
    """The cleartext_credentials alerts of a replay through the example config."""
    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
    from ybsensor.sensor.sources import read_capture
    cfg = dataclasses.replace(load(PCAPS / "example.toml"),
                              evidence_dir=str(tmp_path / "evidence"))
    s = Sensor(cfg, alerts_path=str(tmp_path / "alerts.jsonl"))
    for batch in read_capture(path, batch_frames=4096):
        s.pipeline.process(batch)
    s.close()
    log = tmp_path / "alerts.jsonl"
    got = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    return [a for a in got if a["detector"] == "cleartext_credentials"]


def tshark_fields(path: Path, display_filter: str, *fields: str, decode_as: str = "") -> list[list[str]]:
    tshark = require_tool("tshark")
    args = [tshark, "-r", str(path), "-Y", display_filter, "-T", "fields", "-E", "separator=\t"]
    if decode_as:
        args += ["-d", decode_as]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(args, capture_output=True, check=True, timeout=120).stdout.decode()
    return [line.split("\t") for line in out.splitlines() if line.strip()]


@pytest.mark.parametrize("name,decode_as", [
    ("simpleauth.pcap", ""), ("simpleauth-diff-port.pcap", "tcp.port==32681,ldap"),
    ("ldap-add.pcap", ""), ("ldap-who-am-i.pcap", ""), ("ldap_escaping_test.pcapng", "")])
def test_ldap_simple_binds(name, decode_as, tmp_path):
    path = ZEEK / "ldap" / name
    binds = tshark_fields(path, "ldap.protocolOp == 0", "ldap.name", "ldap.simple",
                          decode_as=decode_as)
    with_password = [b for b in binds if len(b) > 1 and b[1]]
    assert with_password, "the trace holds simple binds"
    got = alerts(path, tmp_path)
    assert {a["evidence"]["method"] for a in got} == {"simple_bind"}
    assert sum(a["evidence"]["credentials"] for a in got) == len(with_password)
    shown = {u for a in got for u in a["evidence"].get("users", [a["evidence"]["user"]])}
    assert shown == {b[0][:1] + "***" for b in with_password}
    for b in with_password:       # (the whole alert names the file: .../zeek/..., a password)
        assert all(b[1] not in json.dumps(a["evidence"]) for a in got)


@pytest.mark.parametrize("name", ["snmpv1_get.pcap", "snmpv2_get.pcap", "snmpv2_get_next.pcap",
                                  "snmpv1_trap.pcap", "leak_test.pcapng"])
def test_snmp_communities(name, tmp_path):
    path = ZEEK / "snmp" / name
    # requests and traps: every PDU but a response (get-response is PDU 2)
    sent = {row[0] for row in tshark_fields(path, "snmp && !(snmp.data == 2)", "snmp.community")
            if row and row[0]}
    want = {"default_snmp_community" if c in ("public", "private") else "cleartext_password"
            for c in sent}
    got = alerts(path, tmp_path)
    assert {a["evidence"]["reason"] for a in got} == want
    for a in got:
        assert a["severity"] == ("medium" if a["evidence"]["reason"] == "default_snmp_community"
                                 else "high")
        assert a["dport"] in (161, 162)
        assert all(c not in json.dumps(a) for c in sent - {"public", "private"})


def test_snmpv3_has_no_community(tmp_path):
    assert alerts(ZEEK / "snmp" / "snmpv3_get_next.pcap", tmp_path) == []


def test_redis_auth(tmp_path):
    """Three AUTH commands, users notauser, default and noone: Zeek's baseline of this trace
    (testing/btest/Baseline/scripts.base.protocols.redis.auth/output) lists the same."""
    got = alerts(ZEEK / "redis" / "auth.pcap", tmp_path)
    assert len(got) == 1 and got[0]["evidence"]["protocol"] == "redis"
    assert got[0]["evidence"]["credentials"] == 3
    assert got[0]["evidence"]["users"] == ["n***", "d***", "n***"]
    assert b"notapassword" not in json.dumps(got).encode()


@pytest.mark.parametrize("path,protocol,method", [
    ("pop3/pop3.pcap", "pop3", "auth_plain"), ("smtp.pcap", "smtp", "auth_login"),
    ("ftp/ftp-password-pass-command.pcap", "ftp", "user_pass"),
    ("http/basic-auth-with-colon.pcap", "http", "basic"),
    ("http/basic-auth-with-extra-space.pcap", "http", "basic")])
def test_text_logins(path, protocol, method, tmp_path):
    got = alerts(ZEEK / path, tmp_path)
    assert got and {(a["evidence"]["protocol"], a["evidence"]["method"]) for a in got} == \
        {(protocol, method)}


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ZEEK)) for d in ("postgresql", "mysql")
                                        for p in (ZEEK / d).glob("*.pcap*")
                                        if not p.name.endswith((".gz", ".py")))
                         + ["ldap/ldap-starttls.pcap", "ldap/sasl-ntlm.pcap",
                            "ldap/sasl-scram-sha-512.pcap", "ldap/aduser1.pcap",
                            "ftp/ipv4.pcap", "ftp/ftp-auth-tls.pcap"]
                         if ZEEK.is_dir() else [])
def test_no_cleartext_password_there(path, tmp_path):
    """PostgreSQL with MD5 / SCRAM / trust (Zeek's postgresql.log baselines say SASL for the
    psql-login traces), MySQL with native or caching_sha2 scrambles
    (tshark: pgsql.authtype 0, 5, 10-12; no mysql_clear_password), LDAP with SASL or StartTLS,
    anonymous FTP and FTP over TLS: no password goes in clear."""
    assert alerts(ZEEK / path, tmp_path) == []
