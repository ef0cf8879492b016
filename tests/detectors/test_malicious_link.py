"""malicious_link (CQ annex 7): indicator files (form, errors, reload, metric) and the
names and endpoints they are matched against, end to end through the Alerter."""
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ybsensor.detectors import indicators as intel
from ybsensor.detectors.malicious_link import MaliciousLink, http_target
from ybsensor.sensor.config import ConfigError, load
from test_detectors_names import CONFIG, PROXY, RESOLVER, alerts, dns, http, request, tcp
from test_names import client_hello

INDICATORS = """\
# a blocklist
evil.example            high      cert-cn
203.0.113.0/24          critical
198.51.100.7
2001:db8:bad::/48       medium
http://phish.example/login?x=1
"""
CSV = "indicator,severity,source\nbad.example,low,feed-a\n\"http://dl.example/a.exe\",high,feed-b\n"


@pytest.fixture
def cfg(tmp_path):
    (tmp_path / "intel").mkdir()
    (tmp_path / "intel" / "list.txt").write_text(INDICATORS)
    (tmp_path / "feed.csv").write_text(CSV)
    path = tmp_path / "sensor.toml"
    path.write_text(CONFIG + '\n[detectors.malicious_link]\npaths = ["intel/list.txt", "feed.csv"]\n')
    return load(path)


def found(cfg, frames):
    return alerts(cfg, frames, detectors=(MaliciousLink,))


def test_dns_question_for_a_subdomain_of_a_listed_domain(cfg):
    got = found(cfg, [dns("cdn.evil.example"), dns("evil.example.org"), dns("notevil.example")])
    assert [(a["severity"], a["rule"], a["evidence"]) for a in got] == [
        ("high", "CQ annex 7", {"reason": "listed_name", "matched": "dns", "name": "cdn.evil.example",
                                "indicator": "evil.example", "source": "cert-cn",
                                "list": "list.txt"})]


def test_tls_server_name_and_http_host(cfg):
    got = found(cfg, [tcp(client_hello("www.bad.example"), PROXY, 443),
                      http("evil.example", target=b"/index.html")])
    assert sorted((a["severity"], a["evidence"]["matched"], a["evidence"]["source"]) for a in got) == [
        ("high", "http_host", "cert-cn"), ("low", "tls_sni", "feed-a")]


def test_http_url_with_and_without_its_query(cfg):
    got = found(cfg, [http("phish.example", target=b"/login?x=1"),
                      http("dl.example", target=b"/a.exe?session=7", dport=8080),
                      http("dl.example", target=b"/b.exe", dport=8081),
                      http("phish.example", target=b"/login?x=2", dport=8082)])
    assert sorted((a["evidence"]["indicator"], a["dport"]) for a in got) == [
        ("dl.example/a.exe", 8080), ("phish.example/login?x=1", 80)]
    assert {a["evidence"]["matched"] for a in got} == {"http_url"}


def test_a_listed_url_in_a_pipelined_request(cfg):
    pipelined = request("portal.example") + request("phish.example", b"/login?x=1")
    got = found(cfg, [tcp(pipelined, "10.200.1.1", 80)])
    assert [a["evidence"]["indicator"] for a in got] == ["phish.example/login?x=1"]


def test_a_listed_name_asked_of_a_socks_proxy(cfg):
    from test_detectors_names import socks_exchange
    name = b"cdn.evil.example"
    got = found(cfg, socks_exchange(b"\x05\x01\x00\x03" + bytes((len(name),)) + name + b"\x01\xbb"))
    assert [(a["evidence"]["matched"], a["evidence"]["indicator"]) for a in got] == \
        [("socks", "evil.example")]


def test_flow_to_a_listed_network_or_address(cfg):
    got = found(cfg, [tcp(b"x", "203.0.113.9", 443), tcp(b"y", "203.0.113.9", 443),
                      tcp(b"z", "198.51.100.7", 25), tcp(b"w", "198.51.100.8", 25)])
    assert sorted((a["dst"], a["severity"], a["packets"], a["evidence"]["indicator"],
                   a["evidence"]["matched"]) for a in got) == [
        ("198.51.100.7", "high", 1, "198.51.100.7", "dst"),
        ("203.0.113.9", "critical", 2, "203.0.113.0/24", "dst")]


def test_nothing_listed_raises_nothing(cfg):
    assert found(cfg, [dns("www.example.com"), tcp(b"x", RESOLVER, 443),
                       http("example.org", target=b"/login?x=1")]) == []


def test_longest_prefix_wins(tmp_path):
    path = tmp_path / "l.txt"
    path.write_text("10.0.0.0/8 low a\n10.1.0.0/16 high b\n10.1.2.3 critical c\n")
    store = intel.load([path])
    mapped = int(intel.IPV4_MAPPED)
    addrs = [0x0A010203, 0x0A010204, 0x0A020000, 0x0B000000]
    ids = store.addresses(np.zeros(4, np.uint64), np.array([mapped | a for a in addrs], np.uint64))
    assert [store.sources[store.source[i]] if i >= 0 else None for i in ids] == ["c", "b", "a", None]


HOSTS_FILE = """\
# a hosts-format blocklist, as published
127.0.0.1 localhost
127.0.0.1 localhost.localdomain
::1 ip6-localhost ip6-loopback
0.0.0.0 cdn.bad.example tracker.bad.example # seen 2026-11
||phish.example^
198.51.100.9 low
"""


def test_hosts_files_and_adblock_rules_are_read_as_domains(tmp_path):
    """Blocklists as they are published: a hosts file (its sink address first, several
    names a line, a trailing comment; its own localhost names are no indicators) and an
    Adblock-style domain rule. An address with a severity is still an address."""
    path = tmp_path / "hosts"
    path.write_text(HOSTS_FILE)
    store = intel.load([path])
    assert sorted(store.domains) == ["cdn.bad.example", "phish.example", "tracker.bad.example"]
    assert store.domain("www.phish.example")[1] == "phish.example"
    assert store.domain("localhost")[0] == intel.NONE
    mapped = int(intel.IPV4_MAPPED)
    (found,) = store.addresses(np.zeros(1, np.uint64), np.array([mapped | 0xC6336409], np.uint64))
    assert found >= 0 and store.severity[found] == intel.LEVELS["low"]
    assert len(store.severity) == 4


@pytest.mark.parametrize("line, why", [
    ("10.0.0.1/8", "is not an address"), ("evil.example extreme", "severity"),
    ("x.example high src extra", "4 fields"), ("ftp://x.example/", "is not an address")])
def test_bad_lines_are_config_errors_with_file_and_line(tmp_path, line, why):
    (tmp_path / "l.txt").write_text("# ok\nok.example\n" + line + "\n")
    path = tmp_path / "sensor.toml"
    path.write_text(CONFIG + '\n[detectors.malicious_link]\npaths = ["l.txt"]\n')
    with pytest.raises(ConfigError) as err:
        load(path)
    assert str(err.value).startswith(f"{tmp_path / 'l.txt'}:3: ") and why in str(err.value)


def test_missing_file_names_the_config_key(tmp_path):
    path = tmp_path / "sensor.toml"
    text = CONFIG + '\n[detectors.malicious_link]\npaths = ["nowhere.txt"]\n'
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load(path)
    line = text.splitlines().index('paths = ["nowhere.txt"]') + 1
    assert f"{path}:{line}: detectors.malicious_link.paths: cannot read" in str(err.value)


def test_reload_when_a_file_changes_and_metric_per_source(cfg, tmp_path):
    det = MaliciousLink(cfg, None)
    counts = {s.labels["source"]: s.value for fam in det.metric_families()
              if fam.name == "ybsensor_indicators" for s in fam.samples}
    assert counts == {"list.txt": 5, "feed.csv": 2}
    listed = tmp_path / "intel" / "list.txt"
    listed.write_text(INDICATORS + "new.example\n")
    os.utime(listed, ns=(1, 1))      # a new stamp whatever the clock's resolution
    assert not det.refresh(det.checked + 1, wait=True)   # not looked at yet
    assert det.refresh(det.checked + 10, wait=True)
    assert det.intel.domain("www.new.example")[1] == "new.example"
    listed.write_text("not an indicator\n")
    os.utime(listed, ns=(2, 2))
    assert not det.refresh(det.checked + 10, wait=True) and det.reload_failures == 1
    assert det.intel.domain("www.new.example")[1] == "new.example"   # kept


def test_http_target():
    assert http_target(b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n") == "/a?b=1"
    assert http_target(b"GET http://x.example/p HTTP/1.1\r\n") == "/p"
    assert http_target(b"CONNECT x:443 HTTP/1.1\r\n") is None
    assert http_target(b"GET /cut") is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text("ab1-_.", min_size=1, max_size=6), min_size=1, max_size=4).map(".".join))
def test_the_plain_domain_shortcut_agrees_with_the_parser(word):
    if intel._PLAIN_DOMAIN.fullmatch(word):
        assert intel.parse_indicator(word) == (intel.DOMAIN, word)


def test_dns_answer_with_a_listed_address(cfg):
    from scapy.layers.dns import DNS, DNSQR, DNSRR
    from scapy.layers.inet import IP, UDP
    from test_detectors_names import CLIENT, eth

    def answer(name, *addresses):
        records = None
        for a in addresses:
            rr = DNSRR(rrname=name, type="A", rdata=a)
            records = rr if records is None else records / rr
        return eth() / IP(src=RESOLVER, dst=CLIENT) / UDP(sport=53, dport=40000) / \
            DNS(id=1, qr=1, qd=DNSQR(qname=name), ancount=len(addresses), an=records)

    got = found(cfg, [answer("cdn.example.net", "192.0.2.1", "203.0.113.44"),
                      answer("www.example.org", "192.0.2.2")])
    assert [(a["severity"], a["src"], a["evidence"]) for a in got] == [
        ("critical", RESOLVER, {"reason": "listed_address", "matched": "dns_answer",
                                "address": "203.0.113.44", "name": "cdn.example.net",
                                "indicator": "203.0.113.0/24", "source": "list.txt",
                                "list": "list.txt"})]


def test_dns_answer_addresses_never_raise():
    from ybsensor.detectors.malicious_link import dns_answer_addresses
    good = bytes.fromhex("0001818000010001000000000378797a000001000"
                         "1c00c000100010000003c0004cb00712c")
    assert [str(a) for a in dns_answer_addresses(good)] == ["203.0.113.44"]
    for cut in range(len(good)):
        assert dns_answer_addresses(good[:cut]) in ([], dns_answer_addresses(good))
    assert dns_answer_addresses(good[:12] + b"\x40" + good[13:]) == []   # reserved label type


def test_a_csv_field_past_the_reader_s_limit_is_a_config_error(tmp_path):
    (tmp_path / "l.csv").write_text('ok.example\n"' + "b" * 200_000 + '",high\n')
    path = tmp_path / "sensor.toml"
    path.write_text(CONFIG + '\n[detectors.malicious_link]\npaths = ["l.csv"]\n')
    with pytest.raises(ConfigError) as err:
        load(path)
    assert str(err.value).startswith(f"{tmp_path / 'l.csv'}:2: not CSV")


def _sensor(cfg_path):
    from ybsensor.sensor.sensor import Sensor
    return Sensor(load(cfg_path), alerts_path="")


def _listed(s) -> list[tuple]:
    return [(a["first_frame"], a["evidence"]["matched"], a["evidence"]["name"])
            for a in s.last_alerts if a["detector"] == "malicious_link"]


def test_a_listed_server_name_in_the_second_segment_of_a_client_hello(cfg, tmp_path):
    """A 1.8 KB ClientHello whose server name lies past its first segment (issue #13 item
    4): read through first_messages, found on the segment that completes it, in a later
    batch too."""
    from ybsensor.decoders import Batch
    from test_first_messages import hello_with_padding, seg
    hello = hello_with_padding("cdn.evil.example")
    cut = 1300
    assert len(hello) > 1400 and hello.index(b"cdn.evil.example") > cut
    s = _sensor(tmp_path / "sensor.toml")
    s.pipeline.process(Batch.from_frames([seg(hello[:cut], 1000)]))
    assert _listed(s) == []
    s.pipeline.process(Batch.from_frames([seg(hello[cut:], 1000 + cut)], first_frame=2))
    assert _listed(s) == [(2, "tls_sni", "cdn.evil.example")]


def test_a_listed_url_whose_host_header_is_in_the_next_segment(cfg, tmp_path):
    """The request line in one segment, the Host header in the next: the URL is matched
    from the message the two make."""
    from ybsensor.decoders import Batch
    from test_first_messages import seg
    request = b"GET /login?x=1 HTTP/1.1\r\nUser-Agent: x\r\nHost: phish.example\r\n\r\n"
    cut = request.index(b"Host")
    s = _sensor(tmp_path / "sensor.toml")
    s.pipeline.process(Batch.from_frames([seg(request[:cut], 1000), seg(request[cut:], 1000 + cut)]))
    assert _listed(s) == [(2, "http_url", "phish.example")]
