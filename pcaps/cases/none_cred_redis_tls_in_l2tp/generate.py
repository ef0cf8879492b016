"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import HOSP, L2TP_HOSP, PLATFORM, IpIds, PiiCase, TcpConn, write_here  # noqa: E402
from casegen.credentials import RULE  # noqa: E402


def build(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"The same Redis login {line.describe}, with TLS on port 6379: the "
                      f"AUTH command inside TLS records. Rule: {RULE}. Expected: no alert.")
    c.send(line, mc.tls_session(TcpConn(IpIds(), HOSP, 51521, PLATFORM, 6379), "redis-tls"))
    return c


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
