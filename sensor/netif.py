"""Capture interfaces, found and checked through netlink (pyroute2): present, up, of a
link type we decode. Link state is read again for the `ybsensor_interface_up` metric."""
from __future__ import annotations

from dataclasses import dataclass

from .sources.errors import CaptureError

IFF_UP = 0x1
# ARPHRD_* (the kernel's hardware type) -> the link type of what a packet socket reads
LINKTYPE_OF_ARPHRD = {
    1: 1,        # ARPHRD_ETHER: Ethernet (also veth, bridges, bonds, VLAN devices)
    772: 1,      # ARPHRD_LOOPBACK: Ethernet framing with zero addresses
    6: 1,        # ARPHRD_IEEE802
    65534: 101,  # ARPHRD_NONE (tun, wireguard): raw IP
    512: 101,    # ARPHRD_PPP: raw IP
    768: 101,    # ARPHRD_TUNNEL (ipip)
    769: 101,    # ARPHRD_TUNNEL6
    776: 101,    # ARPHRD_SIT
}
# an interface counts as up when the administrator set it up and the kernel says it can
# pass traffic (UNKNOWN: drivers that do not report an operational state, such as lo, tun)
UP_STATES = ("UP", "UNKNOWN")


class InterfaceError(CaptureError):
    """A capture interface that is missing, down or of a link type we do not read;
    `transient` where waiting may cure it (missing or down, not the wrong kind)."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


@dataclass
class Link:
    name: str
    index: int
    admin_up: bool
    operstate: str
    arphrd: int
    mtu: int

    @property
    def up(self) -> bool:
        return self.admin_up and self.operstate in UP_STATES

    @property
    def linktype(self) -> int | None:
        return LINKTYPE_OF_ARPHRD.get(self.arphrd)


def _iproute():
    from pyroute2 import IPRoute
    return IPRoute()


def _link(msg) -> Link:
    return Link(name=msg.get_attr("IFLA_IFNAME"), index=msg["index"],
                admin_up=bool(msg["flags"] & IFF_UP),
                operstate=msg.get_attr("IFLA_OPERSTATE") or "UNKNOWN",
                arphrd=msg["ifi_type"], mtu=msg.get_attr("IFLA_MTU") or 0)


def links() -> dict[str, Link]:
    """Every interface of this network namespace, by name."""
    with _iproute() as ipr:
        return {link.name: link for link in map(_link, ipr.get_links())}


def lookup(name: str) -> Link | None:
    with _iproute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return None
        return _link(ipr.get_links(found[0])[0])


def check(name: str) -> Link:
    """The interface `name`, ready for capture; InterfaceError saying why not."""
    everything = links()
    link = everything.get(name)
    if link is None:
        known = ", ".join(sorted(everything)) or "none"
        raise InterfaceError(f"interface {name!r} does not exist (interfaces here: {known})",
                             transient=True)
    if not link.admin_up:
        raise InterfaceError(f"interface {name!r} is down (bring it up: ip link set {name} up)",
                             transient=True)
    if link.operstate not in UP_STATES:
        raise InterfaceError(f"interface {name!r} is up but has no link (state "
                             f"{link.operstate}): check the cable or the span port",
                             transient=True)
    if link.linktype is None:
        raise InterfaceError(f"interface {name!r} has hardware type {link.arphrd}, which "
                             f"ybsensor does not capture (Ethernet, loopback, PPP, tunnels)")
    return link


def state(names) -> dict[str, bool]:
    """name -> up, for the `ybsensor_interface_up` metric (a missing interface is down)."""
    try:
        everything = links()
    except OSError:
        return {name: False for name in names}
    return {name: bool(everything.get(name) and everything[name].up) for name in names}
