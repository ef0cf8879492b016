"""internet_bound's name rule and remote_control's names, end to end: frames built with
scapy, decoded, given flows and the address plan, through the detectors and the Alerter."""
import numpy as np
import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6

from frames import link

from ybsensor.decoders import Batch, decode
from ybsensor.detectors import BatchContext, names, quic
from ybsensor.detectors.internet_bound import InternetBound
from ybsensor.detectors.remote_control import RemoteControl
from ybsensor.sensor.alerting import Alerter
from ybsensor.sensor.config import ConfigError, load
from ybsensor.core.flows import FlowTable
from ybsensor.core.plan import AddressPlan
from test_names import client_hello

CONFIG = """\
[network]
private  = ["10.0.0.0/8", "fd00::/8"]
platform = ["10.200.0.0/16"]

[[institution]]
code   = "H22010200001"
name   = "Example Hospital"
ranges = ["10.1.2.0/24", "fd00:1::/48"]
lines  = ["vlan:100"]

[detectors.internet_bound]
internal_domains = ["ybj.jl.gov.cn", "HSIP.gov.cn."]
"""
CLIENT, RESOLVER, PROXY, WEB = "10.1.2.3", "10.200.0.53", "10.200.0.8", "10.200.1.1"


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "sensor.toml"
    path.write_text(CONFIG)
    return load(path)


def eth():
    return link(100)


def dns(name, src=CLIENT, dst=RESOLVER, sport=40000):
    return eth() / IP(src=src, dst=dst) / UDP(sport=sport, dport=53) / \
        DNS(id=1, rd=1, qd=DNSQR(qname=name))


def dns_answer(name, src=RESOLVER, dst=CLIENT):
    return eth() / IP(src=src, dst=dst) / UDP(sport=53, dport=40000) / \
        DNS(id=1, qr=1, qd=DNSQR(qname=name), an=DNSRR(rrname=name, rdata="1.2.3.4"))


def tcp(payload, dst, dport, src=CLIENT, sport=50000):
    return eth() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags="PA") / payload


def request(host, target=b"/", method=b"GET"):
    return method + b" " + target + b" HTTP/1.1\r\nHost: " + host.encode() + b"\r\nAccept: */*\r\n\r\n"


def http(host, dst=WEB, dport=80, method=b"GET", target=b"/"):
    return tcp(request(host, target, method), dst, dport)


def alerts(cfg, frames, detectors=(InternetBound, RemoteControl), dedup=300):
    t = decode(Batch.from_frames([bytes(f) for f in frames],
                                 ts_ns=[i * 1_000_000 for i in range(len(frames))]))
    plan = AddressPlan(cfg)
    ctx = BatchContext(t, FlowTable(1024).update(t), plan, cfg)
    return Alerter([cls(cfg, plan) for cls in detectors], dedup).process(ctx)


def only(found, detector):
    return [a for a in found if a["detector"] == detector]


def test_dns_query_for_a_public_name_to_an_internal_resolver(cfg):
    found = alerts(cfg, [dns("www.baidu.com")])
    assert len(found) == 1
    a = found[0]
    assert a["detector"] == "internet_bound" and a["severity"] == "high"
    assert a["src"] == CLIENT and a["dst"] == RESOLVER and a["dport"] == 53
    assert a["institution"] == "H22010200001" and a["line"] == "vlan:100"
    assert a["evidence"] == {"reason": "public_name", "name_source": "dns", "name": "www.baidu.com"}


@pytest.mark.parametrize("name", ["his.ybj.jl.gov.cn", "ybj.jl.gov.cn", "api.hsip.gov.cn",
                                  "printer", "nas.local", "fileserver.lan", "db.internal",
                                  "3.2.1.10.in-addr.arpa", "10.1.2.9", "wpad",
                                  "_dns.resolver.arpa", "ipv4only.arpa",
                                  "_ldap._tcp.dc._msdcs.hosp.local"])
def test_dns_query_for_an_internal_name(cfg, name):
    assert alerts(cfg, [dns(name)]) == []


@pytest.mark.parametrize("host", ["239.255.255.250:1900", "169.254.7.9", "[fe80::1]:80",
                                  "10.1.2.255"])
def test_http_host_of_a_link_scope_address_is_internal(cfg, host):
    """A UPnP or device page named by a link-scope address never leaves the link."""
    assert alerts(cfg, [http(host, dst="10.1.2.40")]) == []


def test_tls_client_hello_for_a_public_name_to_a_private_proxy(cfg):
    found = alerts(cfg, [tcp(client_hello("api.weixin.qq.com"), PROXY, 443)])
    assert [(a["detector"], a["dst"], a["evidence"]) for a in found] == [
        ("internet_bound", PROXY,
         {"reason": "public_name", "name_source": "tls_sni", "name": "api.weixin.qq.com"})]


def test_tls_client_hello_for_an_internal_name(cfg):
    assert alerts(cfg, [tcp(client_hello("api.ybj.jl.gov.cn"), PROXY, 443)]) == []
    assert alerts(cfg, [tcp(client_hello(None), PROXY, 443)]) == []


def test_http_host(cfg):
    assert alerts(cfg, [http("10.200.1.1")]) == []
    assert alerts(cfg, [http("10.200.1.1:8080")]) == []
    found = alerts(cfg, [http("example.com")])
    assert [a["evidence"] for a in found] == [
        {"reason": "public_name", "name_source": "http_host", "name": "example.com"}]
    # an IP literal outside the private plan, asked of a proxy inside it, is public too
    found = alerts(cfg, [http("203.0.113.7", dst=PROXY, dport=3128,
                              target=b"http://203.0.113.7/")])
    assert [a["evidence"]["name"] for a in found] == ["203.0.113.7"]
    found = alerts(cfg, [tcp(b"CONNECT www.qq.com:443 HTTP/1.1\r\n\r\n", PROXY, 3128)])
    assert [a["evidence"]["name"] for a in found] == ["www.qq.com"]


def test_requests_a_client_pipelines_are_each_read(cfg):
    """Several requests in one segment (HTTP/1.1 pipelining, or a proxy's connection): an
    internal request first does not hide the public names after it."""
    first = request("his.ybj.jl.gov.cn", b"http://his.ybj.jl.gov.cn/")
    later = [request(name, f"http://{name}/".encode()) for name in ("www.example.com", "www.qq.com")]
    found = alerts(cfg, [tcp(first + b"".join(later), PROXY, 3128)])
    assert sorted(a["evidence"]["name"] for a in found) == ["www.example.com", "www.qq.com"]
    assert {a["first_frame"] for a in found} == {1}
    # the same requests one a segment, as a keep-alive connection sends them
    found = alerts(cfg, [tcp(p, PROXY, 3128) for p in [first] + later])
    assert sorted((a["first_frame"], a["evidence"]["name"]) for a in found) == [
        (2, "www.example.com"), (3, "www.qq.com")]


def socks_exchange(connect: bytes, proxy=PROXY, sport=51000) -> list:
    """A SOCKS5 client and a proxy inside the network: the greeting (no authentication),
    the proxy's choice, then the CONNECT request, each in its own segment."""
    up = eth() / IP(src=CLIENT, dst=proxy)
    back = eth() / IP(src=proxy, dst=CLIENT)
    return [up / TCP(sport=sport, dport=1080, flags="PA", seq=1000, ack=5000) / b"\x05\x01\x00",
            back / TCP(sport=1080, dport=sport, flags="PA", seq=5000, ack=1003) / b"\x05\x00",
            up / TCP(sport=sport, dport=1080, flags="PA", seq=1003, ack=5002) / connect]


def test_a_socks_proxy_asked_for_a_public_name(cfg):
    """A proxy inside the network reaching the internet for the terminal (RFC 1928 CONNECT,
    a name or an address; SOCKS4a): the name it is asked for is judged as a Host is."""
    name = b"www.qq.com"
    found = alerts(cfg, socks_exchange(b"\x05\x01\x00\x03" + bytes((len(name),)) + name +
                                       b"\x01\xbb"))
    assert [(a["first_frame"], a["evidence"]) for a in found] == [
        (3, {"reason": "public_name", "name_source": "socks", "name": "www.qq.com"})]
    found = alerts(cfg, socks_exchange(b"\x05\x01\x00\x01" + bytes((203, 0, 113, 7)) + b"\x00\x50"))
    assert [a["evidence"]["name"] for a in found] == ["203.0.113.7"]
    found = alerts(cfg, [tcp(b"\x04\x01\x00\x50\x00\x00\x00\x01clerk\x00api.weixin.qq.com\x00",
                             PROXY, 1080)])
    assert [a["evidence"]["name"] for a in found] == ["api.weixin.qq.com"]
    # an internal name, or an address inside the plan: nothing
    inside = b"his.ybj.jl.gov.cn"
    assert alerts(cfg, socks_exchange(b"\x05\x01\x00\x03" + bytes((len(inside),)) + inside +
                                      b"\x01\xbb")) == []
    assert alerts(cfg, socks_exchange(b"\x05\x01\x00\x01" + bytes((10, 200, 1, 1)) + b"\x00\x50")) == []


def test_socks_targets_agree_with_tshark(tmp_path):
    """The name or address each SOCKS CONNECT asks for, read by names.socks_target and by
    Wireshark's SOCKS dissector on the same connections."""
    import subprocess

    from scapy.utils import wrpcap

    from tools import require_tool
    requests = [b"\x05\x01\x00\x03\x0awww.qq.com\x01\xbb",
                b"\x05\x01\x00\x01" + bytes((203, 0, 113, 7)) + b"\x00\x50",
                b"\x05\x01\x00\x03\x11api.weixin.qq.com\x01\xbb"]
    pkts = [p for k, r in enumerate(requests) for p in socks_exchange(r, sport=51000 + k)]
    for k, p in enumerate(pkts):
        p.time = 1735776000 + k * 0.01
    pcap = tmp_path / "socks.pcap"
    wrpcap(str(pcap), pkts)
    out = subprocess.run([require_tool("tshark"), "-r", str(pcap), "-Y", "socks.command == 1",
                          "-T", "fields", "-e", "socks.remote_name", "-e", "socks.dst"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    theirs = [name or address for name, address in
              (line.split("\t") for line in out.splitlines())]
    assert theirs == [names.socks_target(r) for r in requests] == \
        ["www.qq.com", "203.0.113.7", "api.weixin.qq.com"]


@pytest.mark.parametrize("trace, port", [("socks.pcap", 8124), ("socks-auth.pcap", 1080),
                                         ("socks-with-ssl.pcap", 1080),
                                         ("socks-auth-10080.pcap", 10080)])
def test_socks_targets_of_zeek_s_traces_agree_with_tshark(trace, port):
    """Real SOCKS clients (Zeek's test traces, a proxy on any port): the frames holding a
    CONNECT and what each asks for, read by names.socks_target from every TCP payload and
    by Wireshark's dissector told the port."""
    import subprocess
    from pathlib import Path

    from tools import require_tool
    from ybsensor.sensor.sources import read_capture
    pcap = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "zeek" / trace
    if not pcap.exists():
        pytest.skip(f"{pcap} is not here")
    out = subprocess.run([require_tool("tshark"), "-r", str(pcap), "-d", f"tcp.port=={port},socks",
                          "-Y", "socks.command == 1", "-T", "fields", "-e", "frame.number",
                          "-e", "socks.remote_name", "-e", "socks.dst", "-e", "socks.v4a_dns_name"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    theirs = {int(frame): next(v for v in values if v)
              for frame, *values in (line.split("\t") for line in out.splitlines()) if any(values)}
    ours = {}
    for batch in read_capture(pcap):
        t = decode(batch)
        for row in np.flatnonzero((t.proto == 6) & (t.payload_len > 0)).tolist():
            at = int(t.payload_off[row])
            got = names.socks_target(batch.data[at: at + int(t.payload_len[row])].tobytes())
            if got is not None:
                ours[int(t.frame[row])] = got
    assert theirs and ours == theirs


def test_remote_control_dns_query(cfg):
    found = alerts(cfg, [dns("client.oray.com")])
    rc = only(found, "remote_control")
    assert [(a["severity"], a["evidence"]) for a in rc] == [
        ("high", {"reason": "dns", "tool": "sunlogin", "evidence": "dns", "name": "client.oray.com"})]
    # the same query names a public service, so internet_bound reports it as well
    assert [a["evidence"]["name"] for a in only(found, "internet_bound")] == ["client.oray.com"]


@pytest.mark.parametrize("name, tool", [("api.todesk.cn", "todesk"), ("todesk.com", "todesk"),
                                        ("relay-1.net.anydesk.com", "anydesk"),
                                        ("master1.teamviewer.com", "teamviewer"),
                                        ("x.sunlogin.net", "sunlogin"), ("oray.net", "sunlogin")])
def test_remote_control_names(cfg, name, tool):
    frames = [dns(name, dst="8.8.8.8"),                  # to a public resolver, too
              tcp(client_hello(name), "10.200.0.9", 443)]
    rc = only(alerts(cfg, frames, detectors=(RemoteControl,)), "remote_control")
    assert sorted((a["evidence"]["evidence"], a["evidence"]["tool"]) for a in rc) == \
        [("dns", tool), ("tls_sni", tool)]
    assert {a["severity"] for a in rc} == {"high"}


def test_remote_control_ignores_other_names(cfg):
    frames = [dns("www.notoray.com"), tcp(client_hello("anydesk.com.evil.cn"), PROXY, 443)]
    assert alerts(cfg, frames, detectors=(RemoteControl,)) == []


def test_address_rule_is_kept_and_not_doubled(cfg):
    # a query straight to a public resolver breaks the address rule; the name rule is for
    # flows inside the private network only
    found = alerts(cfg, [dns("www.baidu.com", dst="8.8.8.8")])
    assert [a["evidence"] for a in found] == [
        {"reason": "address_outside_private", "outside": "dst", "address": "8.8.8.8"}]


def test_responses_and_other_traffic_name_nothing(cfg):
    frames = [dns_answer("www.baidu.com"),
              tcp(b"HTTP/1.1 200 OK\r\nHost: example.com\r\n\r\n", CLIENT, 50000, src=WEB, sport=80),
              tcp(b"\x16\x03\x03\x00\x30\x02" + b"\x00" * 60, CLIENT, 50000, src=PROXY, sport=443),
              eth() / IP(src=CLIENT, dst=RESOLVER) / UDP(sport=40000, dport=5353) /
              DNS(qd=DNSQR(qname="www.baidu.com")),
              tcp(b"GET / HTTP/1.1\r\nHost: exam", WEB, 80)]   # Host cut off by the segment
    assert alerts(cfg, frames) == []


def test_one_alert_per_client_and_name(cfg):
    frames = [dns("www.baidu.com", sport=40000 + i) for i in range(5)] + \
        [dns("www.qq.com", sport=41000), dns("www.baidu.com", src="10.1.2.4", sport=40000)]
    found = alerts(cfg, frames)
    assert sorted((a["src"], a["evidence"]["name"], a["packets"]) for a in found) == [
        ("10.1.2.3", "www.baidu.com", 5), ("10.1.2.3", "www.qq.com", 1),
        ("10.1.2.4", "www.baidu.com", 1)]


def test_ipv6_and_mixed_batch(cfg):
    v6 = link(100) / IPv6(src="fd00:1::3", dst="fd00:200::53") / \
        UDP(sport=40000, dport=53) / DNS(rd=1, qd=DNSQR(qname="www.bing.com", qtype="AAAA"))
    noise = [tcp(b"\x00" * 100, WEB, 8080), eth() / IP(src=CLIENT, dst=WEB) / UDP(dport=53) / b"x"]
    found = alerts(cfg, noise + [v6, http("example.com"), dns("his.ybj.jl.gov.cn")])
    assert sorted((a["src"], a["evidence"]["name"]) for a in found) == [
        ("10.1.2.3", "example.com"), ("fd00:1::3", "www.bing.com")]


def test_only_prefiltered_rows_are_parsed(cfg, monkeypatch):
    """Per-row Python runs for the rows the vectorized pre-filters picked, and no others."""
    calls = []

    def spy(parse):
        return lambda payload: calls.append(parse.__name__) or parse(payload)

    for fn in ("dns_query_name", "tls_server_name", "http_host"):
        monkeypatch.setattr(names, fn, spy(getattr(names, fn)))
    monkeypatch.setattr(quic, "server_name", spy(quic.server_name))
    # QUIC's short-header packets (the bulk of a QUIC connection) and a version it does
    # not know: no Initial of a known version to read
    unknown = b"\xc0\x0a\x0a\x0a\x0a" + bytes(1250)
    bulk = [tcp(b"\x00" * 200, WEB, 8080, sport=50000 + i) for i in range(200)] + \
        [eth() / IP(src=CLIENT, dst=WEB) / UDP(sport=40000 + i, dport=9999) / (b"\x01" * 64)
         for i in range(200)] + \
        [eth() / IP(src=CLIENT, dst=WEB) / UDP(sport=30000 + i, dport=443) /
         (b"\x4b" + bytes(1250) if i % 2 else unknown) for i in range(200)]
    found = alerts(cfg, bulk + [dns("www.baidu.com"), http("example.com")],
                   detectors=(InternetBound,))
    assert len(found) == 2
    assert sorted(calls) == ["dns_query_name", "http_host"]


def test_no_internal_domains_configured(cfg):
    cfg.detectors.pop("internet_bound")
    assert [a["evidence"]["name"] for a in alerts(cfg, [dns("his.ybj.jl.gov.cn")])] == \
        ["his.ybj.jl.gov.cn"]


# --- configuration ------------------------------------------------------------------------


def write(tmp_path, text):
    path = tmp_path / "sensor.toml"
    path.write_text(text)
    return path


def test_internal_domains_are_loaded(cfg):
    assert cfg.detectors["internet_bound"]["internal_domains"] == ["ybj.jl.gov.cn", "HSIP.gov.cn."]
    assert cfg.detector_enabled("internet_bound")


@pytest.mark.parametrize("change, words", [
    ('internal_domains = ["ybj.jl.gov.cn", "HSIP.gov.cn."]', "must be a list"),
    ('internal_domains = ["ybj.jl.gov.cn", "bad domain"]', "not a domain name"),
    ('internal_domains = ["ybj.jl.gov.cn", 7]', "not a domain name"),
    ('internal_domains = ["ybj.jl.gov.cn", ""]', "not a domain name"),
    ('internal_domains = ["ybj.jl.gov.cn", "HSIP.gov.cn."]\ninternal_domain = []', "unknown key"),
])
def test_internal_domains_mistakes(tmp_path, change, words):
    old = 'internal_domains = ["ybj.jl.gov.cn", "HSIP.gov.cn."]'
    new = change if words != "must be a list" else 'internal_domains = "ybj.jl.gov.cn"'
    path = write(tmp_path, CONFIG.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load(path)
    message = str(err.value)
    assert message.startswith(f"{path}:"), message
    assert "detectors.internet_bound.internal_domain" in message and words in message


def test_internal_domains_belong_to_internet_bound_only(tmp_path):
    text = CONFIG.replace("[detectors.internet_bound]", "[detectors.remote_control]")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load(path)
    assert ":12:" in str(err.value) and "remote_control.internal_domains: unknown key" in str(err.value)


def test_remote_control_ports_and_teamviewer_signature(cfg):
    """A port alone is medium evidence of its tool; where both ports are tools' the one
    listed first in the catalogue names it; TeamViewer's command header counts only on
    its port."""
    tv_head = b"\x17\x24\x0a\x20\x00\x00\x00\x00"
    frames = [tcp(b"x", "10.200.0.9", 3389, sport=5900),     # RDP and VNC ports: RDP
              tcp(b"x", "10.200.0.10", 5901),                # VNC
              tcp(b"x", "10.200.0.11", 7070),                # AnyDesk
              tcp(b"x", "10.200.0.12", 35600),               # ToDesk
              tcp(tv_head, "10.200.0.13", 5938),             # TeamViewer's header on its port
              tcp(tv_head, "10.200.0.14", 8443),             # the header elsewhere: nothing
              tcp(b"x", "10.200.0.15", 5939)]                # no tool's port
    rc = only(alerts(cfg, frames, detectors=(RemoteControl,)), "remote_control")
    assert sorted((a["dst"], a["severity"], a["evidence"]["tool"], a["evidence"]["evidence"])
                  for a in rc) == [
        ("10.200.0.10", "medium", "vnc", "port"), ("10.200.0.11", "medium", "anydesk", "port"),
        ("10.200.0.12", "medium", "todesk", "port"), ("10.200.0.13", "high", "teamviewer", "signature"),
        ("10.200.0.9", "medium", "rdp", "port")]
