"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    CRED_SECRETS, HOSP, HOSP_C, HOSP_CODE, L2TP_HOSP, RULE_CRED, Case, IpIds, Line, PiiCase,
    TcpConn, cred_ev, write_here)


def build(name: str, line: Line) -> Case:
    c = PiiCase(name, f"The hospital's {HOSP} logs in by Telnet to a device at {HOSP_C}:23, "
                   f"{line.describe}: option negotiation, the `login:` prompt, the user name "
                   f"typed a key a packet (echoed), the `Password:` prompt, the password typed "
                   f"a key a packet (not echoed), then Enter. Rule: {RULE_CRED}. Expected: one "
                   f"high alert, its packet the Enter.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 51440, HOSP_C, 23)
    pkts = conn.handshake() + [conn.s2c(b"\xff\xfd\x18\xff\xfd\x20\xff\xfb\x01\xff\xfb\x03"),
                               conn.c2s(b"\xff\xfb\x18\xff\xfc\x20\xff\xfd\x01\xff\xfd\x03"),
                               conn.s2c(b"\r\nUbuntu 22.04 LTS\r\nlogin: ")]
    for ch in b"opr":
        pkts += [conn.c2s(bytes((ch,))), conn.s2c(bytes((ch,)))]
    pkts += [conn.c2s(b"\r\n"), conn.s2c(b"\r\nPassword: ")]
    for ch in CRED_SECRETS["telnet"].encode():
        pkts.append(conn.c2s(bytes((ch,))))
    enter = len(pkts)
    pkts.append(conn.c2s(b"\r\n"))
    pkts += [conn.s2c(b"\r\nLast login: Thu Jan  2 07:58:01 2025\r\n$ "),
             conn.c2s(b"exit\r\n")] + conn.close()
    frames = c.send(line, pkts)
    c.expect("cleartext_credentials", "high", line.key, HOSP_CODE, [frames[enter]],
             cred_ev("telnet", "login", "opr"))
    return c


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
