"""systemd's service notifications (sd_notify(3)) without libsystemd: one datagram to the
socket in $NOTIFY_SOCKET. Outside systemd (no socket) every call does nothing."""
from __future__ import annotations

import os
import socket


def notify(*fields: str) -> bool:
    """Send `READY=1`, `STATUS=...`, `WATCHDOG=1`, `RELOADING=1`, `STOPPING=1`...; whether
    a service manager was there to tell."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):                  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(fields).encode(), address)
    except OSError:
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between `WATCHDOG=1` pings (half of what the unit's WatchdogSec= allows), or
    None where no watchdog is asked of this process."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(int(usec) / 2e6, 0.1)
    except ValueError:
        return None
