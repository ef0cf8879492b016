"""GENEVE (RFC 8926) over UDP 6081: version (2 bits, 0), options length (6 bits, in 4-byte
words), O (control packet), C (critical options), the protocol type (an EtherType; 0x6558
is Ethernet) and a 24-bit VNI, then the options, then the payload. The VNI names the line,
as VXLAN's does; a control packet is decoded like any other (Wireshark does so too)."""
from __future__ import annotations

import numpy as np

from .keys import ETHERTYPE, MALFORMED, UDP
from .layout import Field, Layout
from .protocol import Faults, Line, Protocol, Tunnel

GENEVE = Layout("geneve", 8, {
    "version": Field(0, 1, shift=6), "options_len": Field(0, 1, mask=0x3F),
    "proto": Field(2, 2), "vni": Field(4, 3),
})
WORD = 4
LINE = Line("geneve", (1 << 24) - 1)
TUNNEL = Tunnel("geneve", "vni")
FAULTS = Faults("version")


def decode(f, rows: np.ndarray) -> None:
    rows, pos, blk = f.header(rows, GENEVE)
    version, options, proto, vni = (GENEVE.cut(blk, k)
                                    for k in ("version", "options_len", "proto", "vni"))
    rows, pos, options, proto, vni = f.drop(rows, version != 0, MALFORMED, pos, options, proto,
                                            vni, fault=FAULTS.version)
    hdr_len = GENEVE.min_len + WORD * options
    keep = f.enough(rows, hdr_len)
    rows, start, proto, vni = rows[keep], (pos + hdr_len)[keep], proto[keep], vni[keep]
    f.table.add_tunnel(rows, TUNNEL, vni)
    f.table.set_line(rows, LINE, vni)
    f.goto(rows, start, ETHERTYPE, proto)


PROTOCOL = Protocol(layers={"geneve": decode}, routes=[(UDP, 6081, "geneve")],
                    lines=(LINE,), tunnels=(TUNNEL,), faults=FAULTS)
