"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    PHARM, PLATFORM, Case, Gre, IpIds, Line, TcpConn, tls_session, write_here)


def build(name: str, line: Line) -> Case:
    c = Case(name, f"An encrypted flow: the pharmacy's {PHARM} runs TLS 1.3 to the platform "
                   f"{PLATFORM}:443, {line.describe} (its own VPDN line). The ClientHello "
                   f"carries no server name (the client dials the platform by address). "
                   f"Encrypted, on the institution's own line, to the platform: no alert.")
    ids = IpIds()
    c.send(line, tls_session(TcpConn(ids, PHARM, 51200, PLATFORM, 443), "tls", 3))
    return c


LINE = Gre(42)

if __name__ == "__main__":
    write_here(__file__, build, LINE)
