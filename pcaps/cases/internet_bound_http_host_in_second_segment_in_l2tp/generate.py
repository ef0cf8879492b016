"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import L2TP_HOSP, write_here  # noqa: E402
from casegen.reassembly import RULE_NAMES, two_segments  # noqa: E402


def build(name: str, line: mc.Line) -> mc.Case:
    server = "api.example.net"
    request = (b"GET /v2/status HTTP/1.1\r\nUser-Agent: his-agent/5.2\r\nCookie: s="
               + mc.payload("cookie", 1300).hex().encode()[:1300]
               + b"\r\nHost: " + server.encode() + b"\r\nAccept: */*\r\n\r\n")
    c = mc.Case(name, f"The hospital's {mc.HOSP} sends an HTTP request through a forward "
                      f"proxy inside the network ({mc.PLATFORM_B}:8080), {line.describe}, "
                      f"for {server}; a long cookie pushes the Host header across the "
                      f"segment boundary. Rule: {mc.RULE_IB}; an HTTP request naming a public "
                      f"service on a flow between two private ends breaks it too. "
                      f"{RULE_NAMES}. Expected: one high alert, name source http_host, at the "
                      f"second segment.")
    return two_segments(c, line, 8080, 51402, request, request.index(b"Host:") + 3,
                         "http_host", server)


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
