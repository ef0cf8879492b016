"""Capture link types that are not Ethernet: Linux cooked (SLL, SLL2), BSD loopback
(NULL, LOOP) and raw IP (chosen by the version nibble)."""
from __future__ import annotations

import numpy as np

from .keys import ETHERTYPE, INTERNAL, IP_BY_VERSION, LINKTYPE, MALFORMED
from .ethernet import LLC_KEY
from .layout import Field, Layout
from .protocol import Faults, Protocol

SLL = Layout("sll", 16, {"pkttype": Field(0, 2), "hatype": Field(2, 2), "proto": Field(14, 2)})
SLL2 = Layout("sll2", 20, {"proto": Field(0, 2), "ifindex": Field(4, 4), "hatype": Field(8, 2)})
NULL_LE = Layout("null", 4, {"family": Field(0, 4)}, little=True)
NULL_BE = Layout("loop", 4, {"family": Field(0, 4)})
IP_VERSION = Layout("ip", 1, {"version": Field(0, 1, shift=4)})

# BSD address families for IP (values differ between systems)
AF_INET = 2
AF_INET6 = (24, 28, 30, 10)
FAULTS = Faults("family", "version")


def _decode_sll(f, rows: np.ndarray, layout: Layout) -> None:
    rows, pos, blk = f.header(rows, layout)
    proto = layout.cut(blk, "proto")
    # protocol values below 0x0600 are Linux's own (802.2 LLC, 802.3 raw...): not IP
    f.goto(rows, pos + layout.min_len, ETHERTYPE, np.where(proto < 0x0600, LLC_KEY, proto))


def decode_sll(f, rows: np.ndarray) -> None:
    _decode_sll(f, rows, SLL)


def decode_sll2(f, rows: np.ndarray) -> None:
    _decode_sll(f, rows, SLL2)


def _decode_family(f, rows: np.ndarray, layout: Layout) -> None:
    rows, pos, blk = f.header(rows, layout)
    family = layout.cut(blk, "family")
    # NULL is in the capturing host's byte order: a family too big for one is the other
    other = (NULL_BE if layout is NULL_LE else NULL_LE).read(f.buf, pos, "family")
    family = np.where(family > 0xFFFF, other, family)
    is_ip = (family == AF_INET) | np.isin(family, AF_INET6)
    f.fail(rows[~is_ip], MALFORMED, fault=FAULTS.family)
    rows, pos = rows[is_ip], pos[is_ip]
    f.goto(rows, pos + 4, INTERNAL, IP_BY_VERSION)


def decode_null(f, rows: np.ndarray) -> None:
    _decode_family(f, rows, NULL_LE)


def decode_loop(f, rows: np.ndarray) -> None:
    _decode_family(f, rows, NULL_BE)


def decode_ip_by_version(f, rows: np.ndarray) -> None:
    """Raw IP: the version nibble says which IP header this is."""
    rows = f.need(rows, 1)
    version = IP_VERSION.read(f.buf, f.pos[rows], "version")
    ether = np.select([version == 4, version == 6], [0x0800, 0x86DD], -1)
    bad = ether < 0
    f.fail(rows[bad], MALFORMED, fault=FAULTS.version)
    f.goto(rows[~bad], f.pos[rows[~bad]], ETHERTYPE, ether[~bad])


PROTOCOL = Protocol(
    layers={"sll": decode_sll, "sll2": decode_sll2, "null": decode_null, "loop": decode_loop,
            "ip": (decode_ip_by_version, False)},
    routes=[(LINKTYPE, 0, "null"),          # BSD loopback, host byte order
            (LINKTYPE, 101, "ip"),          # raw IP
            (LINKTYPE, 108, "loop"),        # OpenBSD loopback, network byte order
            (LINKTYPE, 113, "sll"), (LINKTYPE, 276, "sll2"),
            (INTERNAL, IP_BY_VERSION, "ip")],
    faults=FAULTS)
