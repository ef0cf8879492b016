"""The decoder agrees with tshark on every frame that tshark decodes to IP (DESIGN.md, Tests):
the innermost source and destination address, the IP protocol and the transport ports.

tshark's innermost header is the last IP header it shows in the frame (what
`tshark -T fields -E occurrence=l -e ip.src -e ipv6.src` prints). The sample pcaps under
pcaps/ are read through pyshark; the ~570 decodable captures of tcpdump's corpus through one
`tshark -T pdml` process per file (the same dissection; pyshark would take minutes), run in
parallel. tools.py sets tshark's preferences (no IP reassembly...), its decode-as rules and
the dissectors switched off (protocols we deliberately do not decode), each with its reason.

Where tshark and we differ on purpose, or tshark is the one that is wrong, the case is in
KNOWN_RULES or KNOWN_FRAMES below with its reason, and what must hold instead is still
checked; a KNOWN_FRAMES entry that no longer differs fails too. A disagreement
that no entry explains fails the file's test, listing file, frame, field, tshark's value and
ours.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from tools import (CORPUS, IPV6_EXT_NEXT, PCAPS, Layer, TsharkIP, capture_files, decodable,
                   ip_headers, our_rows, pyshark_frames, require_module,
                   require_tool, same_address, tshark_frames, tshark_version,
                   under_ci)

FIELDS = ("src", "dst", "proto", "sport", "dport")


@dataclass
class Case:
    """One frame where tshark found IP and we said something else."""
    file: str
    frame: int
    layers: list[Layer]
    headers: list[TsharkIP]      # every IP header tshark shows, in order
    row: dict                    # our `decode --format jsonl` row
    diffs: list[tuple[str, object, object]] = field(default_factory=list)  # field, tshark, ours


def compare(theirs: TsharkIP, row: dict) -> list[tuple[str, object, object]]:
    """(field, tshark's value, ours) for every field where the two differ."""
    out = []
    for name in FIELDS:
        want, got = getattr(theirs, name), row[name]
        same = same_address(want, got) if name in ("src", "dst") else want == got
        if not same:
            out.append((name, want, got))
    return out


# ---------------------------------------------------------------------------------------
# Known, justified differences. Each entry names its case, says why, says which fields it
# lets differ, and checks what must hold instead (a list of problems; empty when it holds).

@dataclass(frozen=True)
class Known:
    name: str
    why: str
    fields: frozenset
    applies: Callable[[Case], bool]
    instead: Callable[[Case], list[str]]


def _outer_matches_first_header(case: Case) -> list[str]:
    """Where we decode deeper than tshark, the header tshark stopped in is our outermost."""
    first = case.headers[0]
    if same_address(first.src, case.row["outer_src"]) and \
            same_address(first.dst, case.row["outer_dst"]):
        return []
    return [f"our outer header {case.row['outer_src']} > {case.row['outer_dst']} is not "
            f"tshark's first {first.src} > {first.dst}"]


def _icmp_quote_applies(case: Case) -> bool:
    return case.headers[-1].quoted


def _icmp_quote_instead(case: Case) -> list[str]:
    carriers = [h for h in case.headers if not h.quoted]
    if not carriers:
        return ["tshark shows only a quoted header"]
    return [f"{name}: tshark (carrier of the ICMP error) {want!r}, ours {got!r}"
            for name, want, got in compare(carriers[-1], case.row)]


def _ipv6_plen0_applies(case: Case) -> bool:
    return any(h.family == "ipv6" and h.layer.first("ipv6.plen") == "0"
               and not h.layer.all("ipv6.opt.jumbo") for h in case.headers)


def _udp_len0_applies(case: Case) -> bool:
    return any(layer.name == "udp" and layer.first("udp.length") == "0" for layer in case.layers)


def _truncated_ext_applies(case: Case) -> bool:
    return case.row["status"] == "truncated:ipv6-ext"


def _truncated_ext_instead(case: Case) -> list[str]:
    proto = case.row["proto"]
    return [] if proto in IPV6_EXT_NEXT else [f"our proto {proto} is no extension header"]


def _ipv6_in_ipv4_applies(case: Case) -> bool:
    ip = next((layer for layer in case.layers if layer.name in ("ip", "ipv6")), None)
    return case.row["status"] == "malformed:ipv4.version" and ip is not None and (
        ip.name == "ipv6" or ip.first("ip.version") == "6")


def _pppoe_version_applies(case: Case) -> bool:
    pppoe = next((layer for layer in case.layers if layer.name == "pppoes"), None)
    return case.row["status"] == "malformed:pppoe.version" and pppoe is not None and \
        (pppoe.first("pppoe.version"), pppoe.first("pppoe.type")) != ("1", "1")


def _depth_applies(case: Case) -> bool:
    return case.row["status"].startswith("depth:")


def _depth_instead(case: Case) -> list[str]:
    """Past our depth limit we stop (tunnel_evasion reports the frame): the deepest header
    we reached must be one of the headers tshark decodes on the way in."""
    src, dst = case.row["src"], case.row["dst"]
    if any(same_address(h.src, src) and same_address(h.dst, dst) for h in case.headers[:-1]):
        return []
    return [f"our deepest header {src} > {dst} is none of tshark's on the way in"]


def _no_ip(case: Case) -> list[str]:
    return [] if case.row["src"] is None else [f"we recorded an IP header: {case.row['src']}"]


def _srv6_ethernet_instead(case: Case) -> list[str]:
    problems = _outer_matches_first_header(case)
    if case.row["proto"] != 143:
        problems.append(f"our proto {case.row['proto']}, not 143 (Ethernet)")
    return problems


def _opens_a_datagram(h: TsharkIP) -> bool:
    """The header is a first fragment: more fragments follow, its offset is 0."""
    if h.family == "ip":
        return h.layer.first("ip.flags.mf") == "1" and h.layer.first("ip.frag_offset") == "0"
    return h.layer.first("ipv6.fragment.more") in ("1", "True") and \
        h.layer.first("ipv6.fragment.offset") == "0"


def _fragment_payload_applies(case: Case) -> bool:
    return any(_opens_a_datagram(h) for h in case.headers[:-1])


def _fragment_payload_instead(case: Case) -> list[str]:
    """We end at the first fragment's transport header: its header and ports are ours."""
    first = next(h for h in case.headers[:-1] if _opens_a_datagram(h))
    return [f"{name}: tshark (the first fragment's header) {want!r}, ours {got!r}"
            for name, want, got in compare(first, case.row)
            if name in ("src", "dst", "proto") or first.proto == 17]


ALL = frozenset(FIELDS)

KNOWN_RULES = [
    Known("icmp-error-quote",
          "tshark decodes the IP header (and ports) that an ICMP error quotes, and it becomes "
          "the last ip.src of the frame; we end at the ICMP header (a quote is no tunnel, "
          "decoders/icmp.py). We must agree with the header that carries the ICMP error.",
          ALL, _icmp_quote_applies, _icmp_quote_instead),
    Known("ipv6-payload-length-0",
          "IPv6 payload length 0 with no jumbo option is what Linux BIG TCP / GSO leaves; "
          "tshark 4.0 takes the payload as empty (malformed) and stops, we take the frame as "
          "the packet (decoders/ipv6.py) and decode on. tshark's header must be our outermost.",
          ALL, _ipv6_plen0_applies, _outer_matches_first_header),
    Known("udp-length-0",
          "UDP length 0 is a jumbogram's (RFC 2675) and BIG TCP's over IPv4: the IP packet "
          "gives the length. tshark 4.0 stops at the UDP header; we go on into the payload "
          "(decoders/udp.py). tshark's header must be our outermost.",
          ALL, _udp_len0_applies, _outer_matches_first_header),
    Known("truncated-extension-header",
          "an IPv6 extension header cut short by the capture: tshark still shows its "
          "next-header byte as the protocol; we stop at the header we could not read whole, "
          "report it (routing 43, ...) as the protocol and the row as truncated:ipv6-ext.",
          frozenset({"proto"}), _truncated_ext_applies, _truncated_ext_instead),
    Known("ipv6-where-ipv4-promised",
          "an IPv6 packet behind EtherType 0x0800 or LINKTYPE_IPV4: tshark follows the version "
          "nibble and decodes IPv6; the encapsulation promised IPv4, so we report the frame "
          "malformed:ipv4.version and record no IP header.",
          ALL, _ipv6_in_ipv4_applies, _no_ip),
    Known("depth-limit",
          "tunnels nested past our depth limit (16 layers): tshark decodes to the innermost "
          "header; we stop where the limit is reached, say depth:LAYER, and tunnel_evasion "
          "raises the frame. Our deepest header must be one tshark shows on the way in.",
          ALL, _depth_applies, _depth_instead),
    Known("fragment-payload",
          "a first fragment whose datagram carries more than a transport header (a tunnel: "
          "GTP-U, L2TP, GRE...): tshark without reassembly decodes on into the tunnel, cut "
          "at the fragment's end; we end at the fragment's UDP header (or its IP header) and "
          "decode the tunnel once the datagram is whole (decoders/ipv4.py), as tshark does "
          "with reassembly on. tshark's fragmented header and its ports must be ours.",
          ALL, _fragment_payload_applies, _fragment_payload_instead),
    Known("pppoe-bad-version",
          "a PPPoE session header whose version/type is not 1/1 (RFC 2516): tshark decodes "
          "the PPP inside regardless; we report malformed:pppoe.version and go no further.",
          ALL, _pppoe_version_applies, _no_ip),
]

# (file, frame) -> the case; each must still differ, so that the table cannot go stale
KNOWN_FRAMES = {
    ("ipv6-srh-ipproto-ether.pcap", 1): Known(
        "srv6-ethernet",
        "IPv6 next header 143 (Ethernet, SRv6 L2 service, RFC 8986): tshark decodes the "
        "Ethernet frame inside; it is no access encapsulation of ours, we stop at proto 143.",
        ALL, lambda case: True, _srv6_ethernet_instead),
    **{("gtp_control_prime.pcap", frame): Known(
        "gtp-prime-port",
        "UDP 3386 is GTP' (charging data records, TS 32.295), not the user plane: we decode "
        "GTP-U on 2152 only, as Zeek does; tshark takes GTP on 3386 too and decodes the "
        "G-PDU this test capture put there.",
        ALL, lambda case: True, _outer_matches_first_header) for frame in (9, 10)},
}


def explain(case: Case) -> tuple[Known | None, list[str]]:
    """The known entry that covers the case and the problems left (empty: explained)."""
    entries = [KNOWN_FRAMES[(case.file, case.frame)]] if (case.file, case.frame) in KNOWN_FRAMES \
        else [k for k in KNOWN_RULES if k.applies(case)]
    for known in entries:
        if {name for name, _, _ in case.diffs} <= known.fields:
            return known, known.instead(case)
    return None, [f"{name}: tshark {want!r}, ours {got!r}" for name, want, got in case.diffs]


def check_file(path: Path, theirs: dict[int, list[Layer]]) -> None:
    ours = our_rows(path)
    failures, used = [], set()
    compared = 0
    for number, layers in sorted(theirs.items()):
        headers = ip_headers(layers)
        if not headers:
            continue
        compared += 1
        row = ours.get(number)
        chain = "/".join(layer.name for layer in layers)
        if row is None:
            failures.append(f"{path.name} frame {number}: tshark decodes it ({chain}), "
                            f"we have no such frame (we read {len(ours)})")
            continue
        case = Case(path.name, number, layers, headers, row)
        case.diffs = compare(headers[-1], row)
        if not case.diffs:
            continue
        known, problems = explain(case)
        if known is not None:
            used.add((path.name, number))
        for problem in problems:
            label = f" (known case {known.name}, but)" if known else ""
            failures.append(f"{path.name} frame {number}{label} {problem}  "
                            f"[tshark: {chain}; ours: {row['encap']} {row['status']}]")
    stale = [key for key in KNOWN_FRAMES if key[0] == path.name and key not in used]
    for name, number in stale:
        failures.append(f"{name} frame {number}: listed in KNOWN_FRAMES but no longer differs; "
                        f"remove the entry")
    assert not failures, f"{len(failures)} disagreements with tshark in {path.name} " \
                         f"({compared} IP frames compared):\n" + "\n".join(failures)


# ---------------------------------------------------------------------------------------
# The files.

# the background capture's hour is in the demo too (frame for frame, other times): once
SAMPLES = [p for p in capture_files(PCAPS) if decodable(p) and p.parent.name != "background"]
# Zeek's tunnel captures of the protocols tcpdump's corpus lacks or has few of
ZEEK_TUNNELS = CORPUS.parent / "zeek" / "tunnels"
TUNNEL_FILES = [p for p in capture_files(ZEEK_TUNNELS)
                if any(k in p.name.lower() for k in ("geneve", "teredo", "gtp")) and decodable(p)]
CORPUS_FILES = [p for p in capture_files(CORPUS) if decodable(p)] + TUNNEL_FILES


@pytest.fixture(scope="session")
def corpus_dissections(request, tshark_config):
    """path -> future of tshark's frames; every selected corpus file's tshark starts at once
    on a thread pool (one process per file), each test waits for its own.

    tshark's answers are kept in pytest's cache (.pytest_cache), keyed by the file's bytes,
    tshark's version and arguments, so that a second run takes seconds, not a minute or two;
    under CI=true, or with --cache-clear, tshark runs for every file."""
    tshark = require_tool("tshark")
    version = tshark_version(tshark)
    cache = None if under_ci() else request.config.cache.mkdir("tshark-pdml")
    wanted = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if callspec and "corpus_file" in callspec.params:
            wanted.append(callspec.params["corpus_file"])
    # tshark is mostly start-up (~0.15 s of CPU per file): keep every core busy
    pool = ThreadPoolExecutor(max_workers=min(16, 2 * (os.cpu_count() or 1)))
    futures = {p: pool.submit(tshark_frames, p, tshark, tshark_config, cache, version)
               for p in wanted}
    yield futures
    pool.shutdown(wait=False, cancel_futures=True)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: str(p.relative_to(PCAPS)))
def test_sample_agrees_with_tshark(sample, tshark_config, monkeypatch):
    require_tool("tshark")
    require_module("pyshark")
    monkeypatch.setenv("WIRESHARK_CONFIG_DIR", tshark_config["WIRESHARK_CONFIG_DIR"])
    check_file(sample, pyshark_frames(sample))


@pytest.mark.parametrize("corpus_file", CORPUS_FILES,
                         ids=lambda p: p.name if p.parent == CORPUS else str(p.relative_to(CORPUS.parent)))
def test_corpus_agrees_with_tshark(corpus_file, corpus_dissections):
    check_file(corpus_file, corpus_dissections[corpus_file].result(timeout=300))


# ---------------------------------------------------------------------------------------
# The comparison itself: it must see a difference, and both ways of asking tshark agree.

def _layer(name, **fields):
    return Layer(name, {k.replace("_", "."): [str(v)] for k, v in fields.items()})


def test_a_disagreement_is_reported(tmp_path):
    """A frame where tshark says other ports than ours fails the check."""
    layers = [_layer("eth"), _layer("ip", ip_src="10.0.0.1", ip_dst="10.0.0.2", ip_proto=6),
              _layer("tcp", tcp_srcport=1234, tcp_dstport=80)]
    row = {"src": "10.0.0.1", "dst": "10.0.0.2", "proto": 6, "sport": 1234, "dport": 8080,
           "status": "ok", "encap": "eth/ipv4/tcp", "outer_src": "10.0.0.1",
           "outer_dst": "10.0.0.2"}
    case = Case("x.pcap", 1, layers, ip_headers(layers), row)
    case.diffs = compare(case.headers[-1], row)
    assert case.diffs == [("dport", 80, 8080)]
    known, problems = explain(case)
    assert known is None and problems == ["dport: tshark 80, ours 8080"]


def test_icmp_quote_is_checked_against_its_carrier():
    icmp = Layer("icmp", {"icmp.type": ["3"], "ip.src": ["10.0.0.2"], "ip.dst": ["10.9.9.9"],
                          "ip.proto": ["17"], "udp.srcport": ["5000"], "udp.dstport": ["53"]})
    layers = [_layer("eth"), _layer("ip", ip_src="10.0.0.9", ip_dst="10.0.0.2", ip_proto=1), icmp]
    row = {"src": "10.0.0.9", "dst": "10.0.0.2", "proto": 1, "sport": None, "dport": None,
           "status": "ok", "encap": "eth/ipv4/icmp"}
    case = Case("x.pcap", 1, layers, ip_headers(layers), row)
    assert case.headers[-1].quoted and case.headers[-1].sport == 5000
    case.diffs = compare(case.headers[-1], row)
    known, problems = explain(case)
    assert known.name == "icmp-error-quote" and problems == []
    case.row = dict(row, dst="10.0.0.3")
    known, problems = explain(case)
    assert problems == ["dst: tshark (carrier of the ICMP error) '10.0.0.2', ours '10.0.0.3'"]


@pytest.mark.parametrize("name", ["various_gre.pcap", "icmp-rfc5837.pcap", "icmpv6-rfc7112.pcap",
                                  "OSPFv3_with_AH.pcap"])
def test_pyshark_and_pdml_see_the_same_headers(name, tshark_config, monkeypatch):
    """The corpus goes through `tshark -T pdml` for speed; pyshark must see what it sees."""
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{name} is not in the corpus")
    tshark = require_tool("tshark")
    require_module("pyshark")
    monkeypatch.setenv("WIRESHARK_CONFIG_DIR", tshark_config["WIRESHARK_CONFIG_DIR"])
    direct = tshark_frames(path, tshark, tshark_config)  # no cache: tshark itself
    through = pyshark_frames(path)
    assert direct.keys() == through.keys()
    key = lambda hs: [(h.family, h.src, h.dst, h.proto, h.sport, h.dport, h.quoted) for h in hs]  # noqa: E731
    for number in direct:
        assert key(ip_headers(direct[number])) == key(ip_headers(through[number])), number


def test_a_missing_tool_skips_but_fails_under_ci(monkeypatch):
    """DESIGN.md: with CI=true a missing tool is a failure, not a skip."""
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require_tool("ybsensor-no-such-tool")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="under CI=true"):
        require_tool("ybsensor-no-such-tool")
    with pytest.raises(pytest.fail.Exception):
        require_module("ybsensor_no_such_module")
