"""remote_control's catalogue as data: the packaged tools, the config's additions (another
file, tools inline, a tool named again), and their mistakes as file:line:key errors."""
import pytest

from ybsensor.detectors.remote_control import CATALOGUE, RemoteControl, catalogue
from ybsensor.sensor.config import ConfigError, load
from test_detectors_names import CONFIG, alerts, dns, only, tcp
from test_names import client_hello

REQUIRED = {"rdp", "vnc", "teamviewer", "anydesk", "sunlogin", "awesun", "todesk", "rustdesk",
            "uu_remote", "splashtop", "chrome_remote_desktop", "radmin", "dameware", "logmein",
            "screenconnect", "ultraviewer"}
EXTRA = """\
[[tools]]
name = "nomachine"
tcp = [4000]
[[tools.signature]]
proto = "tcp"
hex = "4e 58 44 2d ?? 2e"
"""


def config(tmp_path, text: str, extra: str | None = EXTRA):
    if extra is not None:
        (tmp_path / "extra.toml").write_text(extra)
    path = tmp_path / "sensor.toml"
    path.write_text(CONFIG + text)
    return path


def test_the_packaged_catalogue_names_the_tools():
    tools = {t.name: t for t in catalogue({})}
    assert REQUIRED <= set(tools)
    assert set(range(21115, 21120)) <= set(tools["rustdesk"].tcp)
    assert any(t.signatures for t in tools.values() if t.name in ("rdp", "vnc", "radmin"))


@pytest.mark.parametrize("name, tool", [("rs-sg.rustdesk.com", "rustdesk"),
                                        ("uuyc.163.com", "uu_remote"),
                                        ("remotedesktop-pa.googleapis.com", "chrome_remote_desktop"),
                                        ("relay.screenconnect.com", "screenconnect")])
def test_names_of_tools_beyond_the_first_six(tmp_path, name, tool):
    cfg = load(config(tmp_path, "", None))
    rc = only(alerts(cfg, [dns(name), tcp(client_hello(name), "10.200.0.9", 443)],
                     detectors=(RemoteControl,)), "remote_control")
    assert sorted((a["evidence"]["evidence"], a["evidence"]["tool"]) for a in rc) == \
        [("dns", tool), ("tls_sni", tool)]


def test_config_adds_a_catalogue_file_and_tools(tmp_path):
    cfg = load(config(tmp_path, '\n[detectors.remote_control]\ncatalogue = "extra.toml"\n\n'
                                '[[detectors.remote_control.tools]]\nname = "meshcentral"\n'
                                'tcp = [4433]\n\n[[detectors.remote_control.tools]]\n'
                                'name = "anydesk"\nudp = [50001]\n'))
    frames = [tcp(b"NXD-7.0 hello", "10.200.0.9", 14000),      # NoMachine's banner, any port
              tcp(b"x", "10.200.0.10", 4433),                   # MeshCentral's port
              tcp(b"x", "10.200.0.11", 4000, sport=40001)]      # NoMachine's port
    rc = only(alerts(cfg, frames, detectors=(RemoteControl,)), "remote_control")
    assert sorted((a["dst"], a["severity"], a["evidence"]["tool"], a["evidence"]["evidence"])
                  for a in rc) == [("10.200.0.10", "medium", "meshcentral", "port"),
                                   ("10.200.0.11", "medium", "nomachine", "port"),
                                   ("10.200.0.9", "high", "nomachine", "signature")]
    det = RemoteControl(cfg, None)
    assert 50001 in next(t for t in catalogue(cfg.detectors["remote_control"], tmp_path)
                         if t.name == "anydesk").udp
    assert det.tables.tools[:3] == ["", "rdp", "vnc"]      # the packaged tools come first


@pytest.mark.parametrize("inline, extra, where", [
    ('[[detectors.remote_control.tools]]\nname = "x"\nudp = ["7-99999"]\n', EXTRA,
     "sensor.toml:{n}: detectors.remote_control.tools.udp: '7-99999' is not a port"),
    ('[[detectors.remote_control.tools]]\ntcp = [1]\n', EXTRA,    # no name: the table's line
     "sensor.toml:{header}: detectors.remote_control.tools.name: a tool needs a name"),
    ("", EXTRA.replace('"4e 58 44 2d ?? 2e"', '"?? 58"'),
     "extra.toml:6: tools.signature.hex: '?? 58': the first byte must be given"),
    ("", EXTRA + 'min_len = 2\n', "extra.toml:7: tools.signature.min_len: min_len 2"),
    ("", EXTRA + 'colour = "red"\n', "extra.toml:7: tools.signature.colour: unknown key"),
    ("", "[[tool]]\n", "extra.toml:1: tool: unknown table"),
    ("", "[[tools]\n", "detectors.remote_control.catalogue: cannot read the catalogue"),
])
def test_mistakes_name_file_line_and_key(tmp_path, inline, extra, where):
    text = '\n[detectors.remote_control]\ncatalogue = "extra.toml"\n\n' + inline
    path = config(tmp_path, text, extra)
    with pytest.raises(ConfigError) as err:
        load(path)
    lines = (CONFIG + text).splitlines()
    n = max(i for i, line in enumerate(lines, 1) if line and not line.startswith("["))
    header = max(i for i, line in enumerate(lines, 1) if line.startswith("[["))
    assert where.format(n=n, header=header) in str(err.value)


def test_check_config_exits_2(tmp_path, capsys, monkeypatch):
    from test_config_errors import run_in_process
    path = config(tmp_path, '\n[detectors.remote_control]\ncatalogue = "extra.toml"\n',
                  EXTRA.replace("4000", "0"))
    code, out, err = run_in_process(["check-config", str(path)], capsys, monkeypatch)
    assert code == 2 and "Traceback" not in err
    assert err.strip() == f"ybsensor: error: {tmp_path / 'extra.toml'}:3: tools.tcp: 0 is not " \
                          f"a port or a range \"first-last\" of ports 1-65535"
    assert CATALOGUE.is_file()


TEAMVIEWER_HEADER = b"\x17\x24\x0a\x20\x00" + bytes(40)


def _one_batch_each(cfg, frames) -> list[dict]:
    """The remote_control alerts of `frames` replayed a frame a batch, one detector."""
    from ybsensor.core.flows import FlowTable
    from ybsensor.core.plan import AddressPlan
    from ybsensor.decoders import Batch, decode
    from ybsensor.detectors.base import BatchContext
    from ybsensor.sensor.alerting import Alerter
    plan, flows = AddressPlan(cfg), FlowTable(1024)
    alerter = Alerter([RemoteControl(cfg, plan)], 300)
    found = []
    for k, frame in enumerate(frames):
        t = decode(Batch.from_frames([bytes(frame)], ts_ns=[k * 1_000_000], first_frame=k + 1))
        found += alerter.process(BatchContext(t, flows.update(t), plan, cfg, flows.row_keys))
    return found


@pytest.mark.parametrize("packets", [3, 4])
def test_teamviewers_header_off_its_port_counts_from_four_packets(tmp_path, packets):
    """TeamViewer on TCP 443 (a firewall stops 5938): its 2-byte command header is too short
    to trust in one packet off its port; from the fourth packet of a flow opening with it
    (either way, in any batches), as nDPI counts, it is TeamViewer's signature. On 5938 one
    packet is enough."""
    cfg = load(config(tmp_path, "", None))
    server = "10.200.0.9"
    frames = [tcp(TEAMVIEWER_HEADER, server, 443) if k % 2 == 0 else
              tcp(TEAMVIEWER_HEADER, "10.1.2.3", 50000, src=server, sport=443)
              for k in range(packets)]
    for found in (alerts(cfg, frames, detectors=(RemoteControl,)), _one_batch_each(cfg, frames)):
        rc = only(found, "remote_control")
        assert [(a["first_frame"], a["evidence"]) for a in rc] == \
            ([(4, {"reason": "signature", "tool": "teamviewer", "evidence": "signature"})]
             if packets == 4 else [])
    rc = only(alerts(cfg, [tcp(TEAMVIEWER_HEADER, server, 5938)], detectors=(RemoteControl,)),
              "remote_control")
    assert [a["evidence"]["evidence"] for a in rc] == ["signature"]


@pytest.mark.parametrize("line, why", [
    ("off_ports_after = 4\n", "for a signature on_ports"),
    ("on_ports = true\noff_ports_after = 65\n", "0 (never) to 64 packets")])
def test_off_ports_after_needs_on_ports_and_a_bound(tmp_path, line, why):
    path = config(tmp_path, '\n[detectors.remote_control]\ncatalogue = "extra.toml"\n',
                  EXTRA + line)
    with pytest.raises(ConfigError) as err:
        load(path)
    assert "tools.signature.off_ports_after" in str(err.value) and why in str(err.value)


def test_teamviewers_udp_header_after_its_counter(tmp_path):
    """Over UDP TeamViewer's header follows a counter starting at 0 (nDPI reads it at byte
    11): off its port from a flow's fourth such datagram, on 5938 at once."""
    from test_detectors_names import eth
    from scapy.layers.inet import IP, UDP
    cfg = load(config(tmp_path, "", None))
    datagram = b"\x00" + bytes(10) + b"\x17\x24" + bytes(30)

    def udp(dport, n):
        return [eth() / IP(src="10.1.2.3", dst="10.200.0.9") / UDP(sport=50000, dport=dport)
                / datagram for _ in range(n)]
    for dport, n, want in ((3478, 3, []), (3478, 4, [4]), (5938, 1, [1])):
        rc = only(alerts(cfg, udp(dport, n), detectors=(RemoteControl,)), "remote_control")
        assert [a["first_frame"] for a in rc if a["evidence"]["evidence"] == "signature"] == want
