"""This case's frames and, from the rule, its expected alerts."""

import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import GRE_HOSP, write_here  # noqa: E402
from casegen.reassembly import RULE_NAMES, two_segments  # noqa: E402


def build(name: str, line: mc.Line) -> mc.Case:
    server = "www.example.org"
    qname = b"".join(bytes([len(x)]) + x for x in server.encode().split(b".")) + b"\x00"
    query = struct.pack("!HHHHHH", 0x4A17, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", 1, 1)
    c = mc.Case(name, f"The hospital's {mc.HOSP} asks the network's resolver ({mc.PLATFORM_B}) "
                      f"for {server} over TCP (port 53), {line.describe}; the query is cut "
                      f"inside its first label. Rule: {mc.RULE_IB}; a DNS query naming a "
                      f"public service on a flow between two private ends breaks it too. "
                      f"{RULE_NAMES}. Expected: one high alert, name source dns, at the "
                      f"second segment.")
    # its 2-byte length, the header, then the query cut inside its first label
    return two_segments(c, line, 53, 51403, struct.pack("!H", len(query)) + query,
                         2 + 12 + 5, "dns", server)


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
