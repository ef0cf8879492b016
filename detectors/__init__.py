"""Detectors: PacketTable + flows + address plan -> findings, one module per rule.
The table below is the registry: the name DESIGN.md fixes, and the class that enforces it."""
from .base import BatchContext, Detector, Finding
from .internet_bound import InternetBound
from .internet_vpn import InternetVpn
from .lateral_traffic import LateralTraffic
from .malicious_link import MaliciousLink
from .plaintext_pii import PlaintextPii
from .cleartext_credentials import CleartextCredentials
from .remote_control import RemoteControl
from .shared_line import SharedLine
from .tunnel_evasion import TunnelEvasion
from .unauthorized_source import UnauthorizedSource

REGISTRY: dict[str, type[Detector]] = {
    cls.name: cls for cls in (InternetBound, UnauthorizedSource, SharedLine, LateralTraffic,
                              InternetVpn, RemoteControl, PlaintextPii, CleartextCredentials,
                              MaliciousLink, TunnelEvasion)
}

__all__ = ["BatchContext", "Detector", "Finding", "REGISTRY"]
