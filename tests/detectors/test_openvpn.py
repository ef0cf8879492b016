"""OpenVPN to the internet off its port, as a user would run it to pass a firewall: a real
OpenVPN 2.6 client and server (Debian's `openvpn`, `--dev null`: no tun device needed)
between two network namespaces, a hospital host at 10.1.2.10 and a server at 203.0.113.5
(public in the example configuration), each session to the end of its TLS handshake:

- TCP 443, TLS mode without a control-channel key;
- UDP 1195 with `--tls-auth` (an HMAC before the packet id);
- TCP 8443 with `--tls-crypt` (the control channel encrypted);

and, beside them, a TLS session of openssl's own to 203.0.113.5:4443, which is no VPN.

The rule (JL art.14): a VPN with a public endpoint is `internet_vpn`, whatever its port;
the TLS session is only `internet_bound`. The capture is also replayed a frame a batch,
so that a client's opening and its server's answer meet across batches.
"""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

import livenet
from tools import PCAPS, require_tool, ybsensor_cmd

HOST, SERVER = "10.1.2.10", "203.0.113.5"
SESSIONS = [("tcp", 443, []), ("udp", 1195, ["--tls-auth", "ta.key"]),
            ("tcp", 8443, ["--tls-crypt", "ta.key"])]
TLS_PORT = 4443


def _key_direction(options: list[str], server: bool) -> list[str]:
    # tls-auth takes the key's direction: the server's and the client's differ
    return options + (["0" if server else "1"] if options[:1] == ["--tls-auth"] else [])


def _wait_for(path: Path, text: str, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    livenet.require_root()
    openvpn = require_tool("openvpn")
    openssl = require_tool("openssl")
    require_tool("tcpdump")
    tmp = tmp_path_factory.mktemp("openvpn")
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=vpn.example", "-keyout", "key.pem", "-out", "cert.pem"],
                   cwd=tmp, check=True, capture_output=True)
    subprocess.run([openvpn, "--genkey", "secret", "ta.key"], cwd=tmp, check=True,
                   capture_output=True)
    pair = livenet.VethPair()
    procs = []
    try:
        from pyroute2 import NetNS
        for ns, ifname, mine, peer in ((pair.cap, pair.cap_if, HOST, SERVER),
                                       (pair.gen, pair.gen_if, SERVER, HOST)):
            with NetNS(ns) as nsr:
                index = nsr.link_lookup(ifname=ifname)[0]
                nsr.link("set", index=index, mtu=1500)
                nsr.addr("add", index=index, address=mine, prefixlen=32)
                nsr.route("add", dst=f"{peer}/32", oif=index)
        pcap = tmp / "openvpn.pcap"
        dump = subprocess.Popen(pair.exec(pair.cap, ["tcpdump", "-i", pair.cap_if, "-s", "0",
                                                     "--immediate-mode", "-U", "-w", str(pcap)]),
                                stderr=subprocess.PIPE, text=True)
        procs.append(dump)
        while "listening" not in dump.stderr.readline():
            pass
        common = ["--dev", "null", "--ca", "cert.pem", "--cert", "cert.pem", "--key",
                  "key.pem", "--dh", "none", "--verb", "3"]
        for proto, port, options in SESSIONS:
            server_log, client_log = tmp / f"server-{port}.log", tmp / f"client-{port}.log"
            procs.append(subprocess.Popen(
                pair.exec(pair.gen, [openvpn, "--tls-server", "--proto",
                                     "tcp-server" if proto == "tcp" else "udp", "--local",
                                     SERVER, "--lport", str(port), *common,
                                     *_key_direction(options, True)]),
                cwd=tmp, stdout=server_log.open("w"), stderr=subprocess.STDOUT))
            assert _wait_for(server_log, "link local (bound)" if proto == "udp"
                             else "Listening for incoming TCP connection"), \
                server_log.read_text()
            procs.append(subprocess.Popen(
                pair.exec(pair.cap, [openvpn, "--tls-client", "--proto",
                                     "tcp-client" if proto == "tcp" else "udp", "--remote",
                                     SERVER, str(port), "--nobind", *common,
                                     *_key_direction(options, False)]),
                cwd=tmp, stdout=client_log.open("w"), stderr=subprocess.STDOUT))
            assert _wait_for(client_log, "Initialization Sequence Completed"), \
                client_log.read_text()
        tls = subprocess.Popen(pair.exec(pair.gen, [openssl, "s_server", "-quiet", "-accept",
                                                    f"{SERVER}:{TLS_PORT}", "-cert", "cert.pem",
                                                    "-key", "key.pem"]),
                               cwd=tmp, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        procs.append(tls)
        time.sleep(0.5)
        subprocess.run(pair.exec(pair.cap, [openssl, "s_client", "-connect",
                                            f"{SERVER}:{TLS_PORT}", "-servername", "vpn.example"]),
                       input=b"hello\n", capture_output=True, timeout=30)
        time.sleep(0.5)   # the last answers reach the capture
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        pair.close()
    return pcap


def _alerts(pcap: Path, tmp: Path, *extra: str) -> list[dict]:
    run = subprocess.run([*ybsensor_cmd(), "replay", str(pcap), "--config",
                          str(PCAPS / "example.toml"), "--alerts", str(tmp / "alerts.jsonl"),
                          "--no-progress", *extra], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in (tmp / "alerts.jsonl").read_text().splitlines()]


def _vpn_sessions(alerts: list[dict]) -> dict[tuple[int, int], str]:
    """(protocol, server port) -> the VPN named, of the internet_vpn alerts."""
    out = {}
    for alert in alerts:
        if alert["detector"] == "internet_vpn":
            port = alert["sport"] if alert["src"] == SERVER else alert["dport"]
            out[(alert["proto"], port)] = alert["evidence"]["vpn"]
            assert alert["evidence"]["public_endpoint"] == SERVER
    return out


def test_openvpn_off_its_port_is_a_vpn_over_the_internet(capture, tmp_path):
    alerts = _alerts(capture, tmp_path)
    assert _vpn_sessions(alerts) == {(6, 443): "openvpn", (17, 1195): "openvpn",
                                     (6, 8443): "openvpn"}
    # the TLS session to the same server is internet-bound, and no VPN
    tls = [a for a in alerts if TLS_PORT in (a["sport"], a["dport"])]
    assert tls and {a["detector"] for a in tls} == {"internet_bound"}


def test_an_opening_and_its_answer_meet_across_batches(capture, tmp_path):
    """One frame a batch (the sources' smallest batches, as a quiet live link gives them):
    the client's reset is remembered until the server's comes."""
    from ybsensor.sensor.config import load
    from ybsensor.sensor.sensor import Sensor
    from ybsensor.sensor.sources import read_capture
    sensor = Sensor(load(PCAPS / "example.toml"), alerts_path=str(tmp_path / "a.jsonl"))
    for batch in read_capture(capture, batch_frames=1):
        sensor.pipeline.process(batch)
    sensor.close()
    alerts = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert _vpn_sessions(alerts) == {(6, 443): "openvpn", (17, 1195): "openvpn",
                                     (6, 8443): "openvpn"}
    vpn = next(d for d in sensor.alerter.detectors if d.name == "internet_vpn")
    assert not vpn.openings and vpn.openings_dropped == 0
