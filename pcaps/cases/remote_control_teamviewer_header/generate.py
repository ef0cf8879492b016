"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import HOSP, HOSP_B, HOSP_CODE, VLAN100, Case, IpIds, ev, write_here  # noqa: E402
from casegen.remote_control import RULE, TEAMVIEWER_HEAD, opening  # noqa: E402


def build(name: str, line) -> Case:
    c = Case(name, f"TeamViewer between two of the hospital's machines, {HOSP} to {HOSP_B} on "
                   f"its port 5938, {line.describe}: the client's command header 0x17 0x24 "
                   f"opens the stream. Rule: {RULE}. The header counts on TeamViewer's own "
                   f"port. Each packet is judged by what it shows, in packet time: the "
                   f"handshake shows only the port (one medium alert, its 3 packets), the "
                   f"header the signature, more severe, so alerted again (high); the reply "
                   f"after it, the port alone, repeats it within the window and is counted "
                   f"with it.")
    frames = opening(c, line, IpIds(), 51000, HOSP_B, 5938, TEAMVIEWER_HEAD,
                     mc.payload("teamviewer-s", 24))
    c.expect("remote_control", "medium", line.key, HOSP_CODE, frames[:3],
             ev("port", tool="teamviewer", evidence="port"))
    c.expect("remote_control", "high", line.key, HOSP_CODE, frames[3:],
             ev("signature", tool="teamviewer", evidence="signature"))
    return c


LINE = VLAN100

if __name__ == "__main__":
    write_here(__file__, build, LINE)
