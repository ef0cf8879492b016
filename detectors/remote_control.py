"""JL art.28: no remote-control software or hardware. RDP, VNC, TeamViewer, AnyDesk,
Sunlogin (向日葵) and ToDesk are recognised by protocol signature on any port, by the TLS
server name they ask for, by a DNS query for their services' names, and — the weakest
evidence — by their well-known ports."""
from __future__ import annotations

import numpy as np

from .base import Detector, Finding
from . import compiled, names
from .content import every_head, first_word, head, opens_with

TCP, UDP = 6, 17
# strength of the evidence, weakest first; the strongest found for a row is reported
PORT, DNS, SNI, SIGNATURE = 1, 2, 3, 4
EVIDENCE = {PORT: "port", DNS: "dns", SNI: "tls_sni", SIGNATURE: "signature"}
TOOLS = ["", "rdp", "vnc", "teamviewer", "anydesk", "sunlogin", "todesk"]
RDP, VNC, TEAMVIEWER, ANYDESK, SUNLOGIN, TODESK = range(1, 7)
WELL_KNOWN_PORTS = {RDP: (3389,), VNC: (5900, 5901, 5902, 5903), TEAMVIEWER: (5938,),
                    ANYDESK: (7070, 6568), TODESK: (35600,)}
# each port's tool (indexed by port + 1: a missing port, -1, has none); NO_TOOL sorts last
NO_TOOL = len(TOOLS)
PORT_TOOL = np.full(65537, NO_TOOL, dtype=np.int64)
for _which, _ports in reversed(WELL_KNOWN_PORTS.items()):  # the first listed wins a port
    PORT_TOOL[np.asarray(_ports) + 1] = _which
assert all(a < b for a, b in zip(WELL_KNOWN_PORTS, list(WELL_KNOWN_PORTS)[1:])), \
    "tools are listed in the order of their ids: the lower id of two ports is the first listed"
# names of the tools' rendezvous and relay services (asked for in TLS SNI and DNS queries)
SERVER_NAMES = {ANYDESK: ("anydesk.com", "net.anydesk.com"), TEAMVIEWER: ("teamviewer.com",),
                SUNLOGIN: ("oray.com", "oray.net", "sunlogin.net", "orayimg.com"),
                TODESK: ("todesk.com", "todesk.cn")}
RFB = b"RFB 003."   # the VNC banner's first 8 bytes
RFB_WORD = np.frombuffer(RFB, dtype=np.uint8)
SUFFIX_SETS = {which: frozenset(suffixes) for which, suffixes in SERVER_NAMES.items()}


def tool_of_name(name: str | None) -> int:
    """The tool whose services `name` is, or is under; 0 for none."""
    if name:
        for which, suffixes in SUFFIX_SETS.items():
            if names.under(name, suffixes):
                return which
    return 0


class RemoteControl(Detector):
    name = "remote_control"
    rule = "JL art.28"

    def detect(self, ctx) -> list[Finding]:
        rows, tool, strength, ask = self.marks(ctx)
        # TLS ClientHellos and DNS queries naming the tools' services (parsed for the few
        # rows the pre-filters selected)
        seen: dict[int, str] = {}
        for how, parse in ((DNS, names.dns_query_name), (SNI, names.tls_server_name)):
            for k in np.flatnonzero(ask == how).tolist():
                server = parse(ctx.payload(int(rows[k])))
                which = tool_of_name(server)
                if which and strength[k] < how:
                    tool[k], strength[k] = which, how
                    seen[int(rows[k])] = server
        hit = tool > 0
        rows, tool, strength = rows[hit], tool[hit], strength[hit]
        if not rows.size:
            return []
        # each packet is judged by what it shows, as if it came alone: a flow first seen by
        # its port, then by its signature, raises a medium alert, then a high one (the
        # alerter lets a more severe one through), whatever the batches

        def explain(row: int) -> dict:
            k = int(np.searchsorted(rows, row))
            evidence = {"tool": TOOLS[tool[k]], "evidence": EVIDENCE[strength[k]]}
            name = seen.get(row)
            if name:  # masked where the alert is made, as every string from the wire
                evidence["name"] = name
            return evidence

        # a port alone is weak evidence: medium; a signature or a service's name is high
        out = []
        for how, severity in ((PORT, "medium"), (DNS, "high"), (SNI, "high"),
                              (SIGNATURE, "high")):
            sel = strength == how
            if sel.any():
                out.append(Finding(rows[sel], severity, EVIDENCE[how], explain))
        return out

    @staticmethod
    def marks(ctx) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The rows of user traffic over TCP or UDP that show a tool by port or signature,
        or ask for a name: (rows, tool, strength, ask), ask being DNS (a DNS query), SNI (a
        TLS ClientHello) or 0. One compiled pass over the rows where the compiled loops
        run (payload_kernels.remote_marks), else the numpy code below."""
        t = ctx.t
        if compiled.on():
            out = [np.empty(t.n, dtype=np.int64) for _ in range(4)]
            got = compiled.call("remote_marks", ctx.has_ip, t.proto, t.sport, t.dport,
                                t.payload_len, every_head(t), PORT_TOOL, RFB_WORD, *out)
            if got is not None:
                return tuple(column[:got] for column in out)
        cand = np.flatnonzero(ctx.has_ip & ((t.proto == TCP) | (t.proto == UDP)))
        tool = np.zeros(len(cand), dtype=np.int64)
        strength = np.zeros(len(cand), dtype=np.int64)

        def mark(mask, which, how):
            better = mask & (how > strength)
            tool[better] = which
            strength[better] = how

        sport, dport = t.sport[cand], t.dport[cand]
        # the tool of either port, from one table (the first tool listed where both have one)
        by_port = np.minimum(PORT_TOOL[sport + 1], PORT_TOOL[dport + 1])
        by_port[by_port == NO_TOOL] = 0
        tool[:] = by_port
        strength[by_port > 0] = PORT
        first = head(t, cand, names.HEAD_BYTES)
        plen = t.payload_len[cand]
        tcp = t.proto[cand] == TCP
        # RDP: TPKT version 3, then an X.224 Connection Request (code 0xE0)
        mark(tcp & (plen >= 11) & (first[:, 0] == 3) & (first[:, 1] == 0) & (first[:, 5] == 0xE0),
             RDP, SIGNATURE)
        # VNC: the RFB protocol version banner, "RFB 003.00x\n"
        mark(tcp & (plen >= 12) & opens_with(first_word(first), RFB), VNC, SIGNATURE)
        # TeamViewer: its command header 0x17 0x24 (or 0x11 0x30 on TCP) on its port
        tv_head = ((first[:, 0] == 0x17) & (first[:, 1] == 0x24)) | \
                  (tcp & (first[:, 0] == 0x11) & (first[:, 1] == 0x30))
        on_tv_port = (PORT_TOOL[sport + 1] == TEAMVIEWER) | (PORT_TOOL[dport + 1] == TEAMVIEWER)
        mark(tv_head & on_tv_port, TEAMVIEWER, SIGNATURE)
        ask = np.zeros(len(cand), dtype=np.int64)
        ask[~tcp & names.looks_like_dns_query(first, plen, sport, dport)] = DNS
        ask[tcp & names.looks_like_client_hello(first, plen)] = SNI
        keep = (tool > 0) | (ask > 0)
        return cand[keep], tool[keep], strength[keep], ask[keep]
