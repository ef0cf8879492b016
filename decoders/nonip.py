"""Protocols we recognise and that carry no IP: the row ends, status non-ip."""
from .keys import NON_IP


def decode(f, rows) -> None:
    f.fail(rows, NON_IP)
