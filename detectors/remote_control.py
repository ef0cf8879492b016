"""JL art.28: no remote-control software or hardware. RDP, VNC, TeamViewer, AnyDesk,
Sunlogin (向日葵) and ToDesk are recognised by protocol signature on any port, by the TLS
server name they ask for, and — the weakest evidence — by their well-known ports."""
from __future__ import annotations

import numpy as np

from .base import Detector, Finding
from .content import head, port_in
from . import names

TCP, UDP = 6, 17
# strength of the evidence, weakest first; the strongest found for a row is reported
PORT, SNI, SIGNATURE = 1, 2, 3
EVIDENCE = {PORT: "port", SNI: "tls_sni", SIGNATURE: "signature"}
TOOLS = ["", "rdp", "vnc", "teamviewer", "anydesk", "sunlogin", "todesk"]
RDP, VNC, TEAMVIEWER, ANYDESK, SUNLOGIN, TODESK = range(1, 7)
WELL_KNOWN_PORTS = {RDP: (3389,), VNC: (5900, 5901, 5902, 5903), TEAMVIEWER: (5938,),
                    ANYDESK: (7070, 6568), TODESK: (35600,)}
# TLS server names of the tools' rendezvous and relay services
SERVER_NAMES = {ANYDESK: ("anydesk.com", "net.anydesk.com"), TEAMVIEWER: ("teamviewer.com",),
                SUNLOGIN: ("oray.com", "oray.net", "sunlogin.net", "orayimg.com"),
                TODESK: ("todesk.com", "todesk.cn")}


class RemoteControl(Detector):
    name = "remote_control"
    rule = "JL art.28"

    def detect(self, ctx) -> list[Finding]:
        t = ctx.t
        cand = np.flatnonzero(ctx.has_ip & ((t.proto == TCP) | (t.proto == UDP)))
        if not cand.size:
            return []
        tool = np.zeros(len(cand), dtype=np.int64)
        strength = np.zeros(len(cand), dtype=np.int64)

        def mark(mask, which, how):
            better = mask & (how > strength)
            tool[better] = which
            strength[better] = how

        for which, ports in WELL_KNOWN_PORTS.items():
            mark(port_in(t, cand, ports), which, PORT)
        first = head(t, cand, 8)
        plen = t.payload_len[cand]
        tcp = t.proto[cand] == TCP
        # RDP: TPKT version 3, then an X.224 Connection Request (code 0xE0)
        mark(tcp & (plen >= 11) & (first[:, 0] == 3) & (first[:, 1] == 0) & (first[:, 5] == 0xE0),
             RDP, SIGNATURE)
        # VNC: the RFB protocol version banner, "RFB 003.00x\n"
        mark(tcp & (plen >= 12) & (first == np.frombuffer(b"RFB 003.", np.uint8)).all(axis=1),
             VNC, SIGNATURE)
        # TeamViewer: its command header 0x17 0x24 (or 0x11 0x30 on TCP) on its port
        tv_head = ((first[:, 0] == 0x17) & (first[:, 1] == 0x24)) | \
                  (tcp & (first[:, 0] == 0x11) & (first[:, 1] == 0x30))
        mark(tv_head & port_in(t, cand, WELL_KNOWN_PORTS[TEAMVIEWER]), TEAMVIEWER, SIGNATURE)
        # TLS ClientHellos naming the tools' services (parsed for the few candidates)
        hello = np.flatnonzero(tcp & names.looks_like_client_hello(first, plen))
        for k in hello.tolist():
            server = names.tls_server_name(ctx.payload(int(cand[k])))
            for which, suffixes in SERVER_NAMES.items():
                if server and names.under(server, suffixes) and strength[k] < SNI:
                    tool[k], strength[k] = which, SNI
        hit = tool > 0
        rows, tool, strength = cand[hit], tool[hit], strength[hit]
        if not rows.size:
            return []

        def explain(row: int) -> dict:
            k = int(np.searchsorted(rows, row))
            return {"tool": TOOLS[tool[k]], "evidence": EVIDENCE[strength[k]]}

        # a port alone is weak evidence: medium; a signature or server name is high
        out = []
        for how, severity in ((PORT, "medium"), (SNI, "high"), (SIGNATURE, "high")):
            sel = strength == how
            if sel.any():
                out.append(Finding(rows[sel], severity, EVIDENCE[how], explain))
        return out
