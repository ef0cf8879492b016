"""Issue 12's first report, live: `ybsensor run` on a veth link whose far end has IPv6 on
(the kernel's own DAD, router solicitations and MLD reports cross it), then the hour of
pcaps/background/ replayed into it: no alert. Then one internet-bound ping: one alert,
so the quiet is the rule's, not a sensor that sees nothing.
"""
from __future__ import annotations

import json
from pathlib import Path

import livenet
from livenet import LiveSensor, total
from tools import PCAPS

EXAMPLE = PCAPS / "example.toml"
BACKGROUND = PCAPS / "background" / "background.pcap"
PING = PCAPS / "cases" / "internet_bound_vpdn_l2tp" / "input.pcap"


def test_kernel_ipv6_chatter_and_background_raise_nothing_live(tmp_path: Path):
    from pyroute2 import NetNS

    alerts = tmp_path / "alerts.jsonl"
    with livenet.veth_pair_for_replay() as pair:
        sensor = LiveSensor(pair, "--config", str(EXAMPLE), "--alerts", str(alerts), cwd=tmp_path)
        try:
            # IPv6 on at the far end, and the link bounced: the kernel sends DAD neighbour
            # solicitations from ::, router solicitations to ff02::2, MLD reports to ff02::16
            pair.sysctl(pair.gen, f"net/ipv6/conf/{pair.gen_if}/disable_ipv6", "0")
            with NetNS(pair.gen) as nsr:
                index = nsr.link_lookup(ifname=pair.gen_if)[0]
                nsr.link("set", index=index, state="down")
                nsr.link("set", index=index, state="up")
            pair.wait_up()
            sensor.wait_for(lambda m: total(m, "ybsensor_packets_total", encap="eth/ipv6/icmpv6")
                            >= 2, what="the kernel's ICMPv6")
            pair.replay(BACKGROUND, "--topspeed")
            frames = sum(1 for _ in livenet.frames_of(BACKGROUND))
            sensor.wait_for(lambda m: total(m, "ybsensor_capture_packets_total") >= frames,
                            timeout=60, what="the background's frames")
            quiet = sensor.metrics()
            assert total(quiet, "ybsensor_alerts_total") == 0
            pair.replay(PING)
            sensor.wait_for(lambda m: total(m, "ybsensor_alerts_total") > 0,
                            what="the internet-bound ping's alert")
        finally:
            sensor.stop()
    found = [json.loads(line) for line in alerts.read_text().splitlines() if line.strip()]
    assert [(a["detector"], a["dst"]) for a in found] == [("internet_bound", "198.51.100.7")], \
        found
