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
KEY_SPACE = 1 << 16   # values a namespace holds: the dispatch's flat table has one slot each

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

# Line kinds, tunnel kinds and fault names are declared by the protocols (protocol.py);
# the capture interface itself is line kind LINE_IF.
from .protocol import LINE_IF  # noqa: E402,F401

# how a row ends when its next key is not in the dispatch table: ok where the namespace
# names payloads (an IP protocol or UDP port we do not decode further), unsupported where it
# names a carrier
MISS_STATUS = {LINKTYPE: UNSUPPORTED, ETHERTYPE: UNSUPPORTED, PPP: UNSUPPORTED,
               INTERNAL: UNSUPPORTED, IPPROTO: OK, UDP: OK}
