"""What a protocol module declares about itself, and the tables built from the declarations.

A protocol module holds one `Protocol`: its layers (name -> decode function), the routes it
registers ((namespace, value, layer): the keys that lead to its layers), the `Line`
kinds, `Tunnel` kinds and `Faults` it names, and the compiled loop's steps for the layers
that loop passes (`fused`; kernel.py says what a step is). Declaring a Line, Tunnel or
Faults gives it its id at once, so the module's decode functions write that id; dispatch.py
builds the routing tables from every registered Protocol (registry.py lists them), and the
config's line kinds, the decode view's line keys and tunnel fields and the fault names are
read from the tables here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable


class Line(int):
    """An access line kind, its id as an int (the compiled loop reads it as one): its name in
    line keys ("vxlan:5000") and the largest id its wire field holds; two ids joined by `sep`
    where the kind has two (the second may be `*`)."""

    def __new__(cls, name: str, most: int | None, sep: str | None = None,
                pattern: str | None = None):
        self = super().__new__(cls, len(LINES))
        if pattern is None:
            one = rf"\d{{1,{len(str(most))}}}"
            pattern = one if sep is None else rf"{one}{re.escape(sep)}({one}|\*)"
        self.name, self.most, self.sep, self.pattern = name, most, sep, pattern
        LINES.append(self)
        return self

    id = property(int)

    def key(self, a: int, b: int) -> str:
        return f"{self.name}:{a}" if self.sep is None else f"{self.name}:{a}{self.sep}{b}"


class Tunnel(int):
    """A tunnel kind recorded per frame, its id as an int, with the names of its up to two
    ids; `vpn`: the name internet_vpn gives it where its outer endpoint is public (None: not
    a VPN over the internet, e.g. the capture side of a monitoring session)."""

    def __new__(cls, name: str, a: str | None = None, b: str | None = None,
                vpn: str | None = None):
        self = super().__new__(cls, len(TUNNELS))
        self.name, self.a, self.b, self.vpn = name, a, b, vpn
        TUNNELS.append(self)
        return self

    id = property(int)


class Faults:
    """A decoder's named reasons for `malformed`, each an id (attribute of this object) that
    `Frames.fail(rows, MALFORMED, fault=...)` records; the status text is then
    "malformed:<layer>.<fault>" ("malformed:gre.routing")."""

    def __init__(self, *names: str):
        for name in names:
            setattr(self, name, len(FAULT_NAMES))
            FAULT_NAMES.append(name)


@dataclass
class Protocol:
    layers: dict[str, Callable | tuple[Callable, bool]]   # (fn, False): not in the chain
    routes: list[tuple[int, int, str]] = field(default_factory=list)
    lines: tuple[Line, ...] = ()
    tunnels: tuple[Tunnel, ...] = ()
    faults: Faults | None = None
    fused: dict[str, Callable] = field(default_factory=dict)   # layer -> compiled step


LINES: list[Line] = []
TUNNELS: list[Tunnel | None] = [None]        # kind 0: no tunnel
FAULT_NAMES: list[str] = [""]                # fault 0: none named

# the capture interface itself names a line where no header does
LINE_IF = Line("if", None, pattern=r"[A-Za-z0-9_.\-]+")


def line_named(name: str) -> Line | None:
    """The declared line kind of that name (the registry imported: every protocol's)."""
    from . import registry  # noqa: F401
    return next((line for line in LINES if line.name == name), None)
