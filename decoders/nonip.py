"""Protocols we recognise and that carry no IP: the row ends, status non-ip."""
from .ethernet import LLC_KEY
from .keys import ETHERTYPE, NON_IP
from .protocol import Protocol


def decode(f, rows) -> None:
    f.fail(rows, NON_IP)


# layer name -> the EtherTypes that name it
ETHERTYPES = {
    "arp": (0x0806, 0x8035),        # ARP, RARP
    "llc": (LLC_KEY,),              # an 802.3 length field: LLC follows
    "lldp": (0x88CC,),
    "slow": (0x8809,),              # LACP, marker, OAM
    "eapol": (0x888E,),
    "ipx": (0x8137,),
    "aoe": (0x88A2,),
    "cfm": (0x8902,),
    "ptp": (0x88F7,),
    "loopback": (0x9000,),
    "macsec": (0x88E5,),
    "pppoe-discovery": (0x8863,),
    "nhrp": (0x2001,),              # NHRP (RFC 2332) in GRE: DMVPN's control protocol
}
PROTOCOL = Protocol(layers={name: decode for name in ETHERTYPES},
                    routes=[(ETHERTYPE, t, name) for name, types in ETHERTYPES.items()
                            for t in types])
