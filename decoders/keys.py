"""The shared vocabulary of decoding: dispatch namespaces, row status codes, line and
tunnel kinds. Decoders name the next protocol as (namespace, value); `dispatch.py` maps
that key to a decoder."""

# Dispatch namespaces: what kind of number names the next protocol.
LINKTYPE = 0   # pcap LINKTYPE_*
ETHERTYPE = 1  # EtherType (also GRE protocol type)
PPP = 2        # PPP protocol number
IPPROTO = 3    # IP protocol / IPv6 next header
UDP = 4        # UDP port
INTERNAL = 5   # keys that no wire field carries; values below
NAMESPACES = 6

# Values the tunnel decoders name often: Ethernet after a tunnel, the IP in an MPLS stack.
LINKTYPE_ETHERNET = 1
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD

# INTERNAL values: a decoder that knows more than a wire number can say.
PW_ETH_CW = 1      # MPLS pseudowire: control word, then Ethernet
ERSPAN_I = 2       # GRE 0x88BE without sequence number: type I, no ERSPAN header
IP_BY_VERSION = 3  # an IP header of either version; look at the first nibble
L2TP_CONTROL = 4   # L2TP control message: counted, not decoded further
ETH_NO_CW = 5      # MPLS pseudowire without control word

# Row status: why decoding of a frame stopped.
OK = 0
TRUNCATED = 1     # a header runs past the captured bytes
MALFORMED = 2     # a header field is impossible (bad version, length too short...)
UNSUPPORTED = 3   # the next protocol has no decoder
NON_IP = 4        # a protocol we know and that carries no IP (ARP, LLDP, STP...)
DEPTH = 5         # more nested layers than the depth limit
STATUS_NAMES = ["ok", "truncated", "malformed", "unsupported", "non-ip", "depth"]

# Access line kinds (DESIGN.md: the line key); `if` is the capture interface itself.
LINE_IF, LINE_VLAN, LINE_QINQ, LINE_MPLS, LINE_L2TP, LINE_L2TPV3, LINE_GRE, \
    LINE_ERSPAN, LINE_VXLAN, LINE_PPPOE = range(10)
LINE_NAMES = ["if", "vlan", "qinq", "mpls", "l2tp", "l2tpv3", "gre", "erspan", "vxlan", "pppoe"]

# Tunnel kinds recorded per frame, with up to two ids each.
TUN_GRE, TUN_PPTP, TUN_L2TP, TUN_L2TPV3, TUN_ERSPAN, TUN_VXLAN, TUN_PPPOE, TUN_IPIP, \
    TUN_MPLS = range(1, 10)
# name, and the names of its ids (None where the kind has no such id)
TUNNEL_FIELDS = {
    TUN_GRE: ("gre", "key", None),
    TUN_PPTP: ("pptp", "call_id", None),
    TUN_L2TP: ("l2tp", "tunnel_id", "session_id"),
    TUN_L2TPV3: ("l2tpv3", "session_id", None),
    TUN_ERSPAN: ("erspan", "session_id", None),
    TUN_VXLAN: ("vxlan", "vni", None),
    TUN_PPPOE: ("pppoe", "session_id", None),
    TUN_IPIP: ("ipip", None, None),
    TUN_MPLS: ("mpls", "label", None),
}
