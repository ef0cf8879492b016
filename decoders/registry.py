"""The protocols the decoders know, one module each. Adding a protocol is adding its module
(which declares its `PROTOCOL`: layers, routes, line kinds, tunnel kinds, faults) and its
name here; the dispatch tables, line kinds, tunnel fields and fault names follow."""
import importlib

MODULES = (
    "link", "ethernet", "ipv4", "ipv6", "tcp", "udp", "icmp", "nonip", "ppp", "pppoe", "mpls",
    "gre", "erspan", "l2tp", "vxlan", "ipip", "cmd",
    "geneve",
    "teredo",
    "gtp",
)
PROTOCOLS = [importlib.import_module(f"{__package__}.{name}").PROTOCOL for name in MODULES]
