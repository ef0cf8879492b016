"""JL art.28: no remote-control software or hardware. RDP, VNC, TeamViewer, AnyDesk,
Sunlogin (向日葵) and ToDesk are recognised by protocol signature on any port, by the TLS
server name they ask for, by a DNS query for their services' names, and — the weakest
evidence — by their well-known ports."""
from __future__ import annotations

import numpy as np

from .base import Detector, Finding
from . import compiled, first_messages, names
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

    def __init__(self, config, plan):
        super().__init__(config, plan)
        self.first_messages = first_messages.FirstMessages.shared(self)

    def metric_families(self):
        yield from self.first_messages.families_for(self)

    def detect(self, ctx) -> list[Finding]:
        rows, tool, strength, ask = self.marks(ctx)
        # TLS ClientHellos and DNS queries naming the tools' services: parsed for the few
        # rows the pre-filters selected, and read on where they span segments
        asking = np.flatnonzero(ask > 0)
        tcp = ctx.t.proto[rows[asking]] == TCP
        kinds = [first_messages.TLS_SNI if a == SNI else first_messages.DNS_TCP if on_tcp
                 else first_messages.DNS for a, on_tcp in zip(ask[asking].tolist(), tcp.tolist())]
        named = self.first_messages.read(ctx, self.name, rows[asking], kinds)
        late = np.array(sorted(set(named) - set(rows.tolist())), dtype=np.int64)
        if late.size:       # rows that completed a message begun earlier
            zeros = np.zeros(len(late), dtype=np.int64)
            order = np.argsort(np.concatenate([rows, late]), kind="stable")
            rows, tool, strength = (np.concatenate([c, x])[order] for c, x in
                                    ((rows, late), (tool, zeros), (strength, zeros)))
        seen: dict[int, str] = {}
        for row, (kind, server) in named.items():
            how = SNI if kind == first_messages.TLS_SNI else DNS
            which = tool_of_name(server)
            k = int(np.searchsorted(rows, row))
            if which and strength[k] < how:
                tool[k], strength[k] = which, how
                seen[row] = server
        hit = tool > 0
        rows, tool, strength = rows[hit], tool[hit], strength[hit]
        if not rows.size:
            return []
        # one verdict per flow: every packet of a flow that shows a signature somewhere is
        # reported with it, not as a bare port hit
        _, per_flow = np.unique(ctx.flow_keys[rows], return_inverse=True)
        best = np.zeros(per_flow.max() + 1, dtype=np.int64)
        np.maximum.at(best, per_flow, strength)
        carrier = np.full(len(best), len(rows), dtype=np.int64)  # a row that shows the best
        shows_best = np.flatnonzero(strength == best[per_flow])
        np.minimum.at(carrier, per_flow[shows_best], shows_best)
        carrier_row = rows[carrier[per_flow]]
        strength, tool = best[per_flow], tool[carrier[per_flow]]

        def explain(row: int) -> dict:
            k = int(np.searchsorted(rows, row))
            evidence = {"tool": TOOLS[tool[k]], "evidence": EVIDENCE[strength[k]]}
            name = seen.get(int(carrier_row[k]))
            if name:  # a service's name is not personal data
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
        ask[tcp & names.looks_like_dns_query(first, plen, sport, dport, 2)] = DNS
        ask[tcp & names.looks_like_client_hello(first, plen)] = SNI
        keep = (tool > 0) | (ask > 0)
        return cand[keep], tool[keep], strength[keep], ask[keep]
