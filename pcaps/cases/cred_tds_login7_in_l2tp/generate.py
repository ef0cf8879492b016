"""This case's frames and, from the rule, its expected alerts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import (  # noqa: E402
    HOSP, L2TP_HOSP, PLATFORM, IpIds, PiiCase, TcpConn, cred_ev, write_here)
from casegen.credentials import (  # noqa: E402
    RULE, SECRETS, one_alert, tds_login7, tds_packet, tds_prelogin)


def build(name: str, line: mc.Line) -> PiiCase:
    c = PiiCase(name, f"A HIS workstation ({HOSP}) logs in to SQL Server ({PLATFORM}:1433) "
                      f"{line.describe} with SQL authentication; PRELOGIN says the client does "
                      f"not support encryption, so the Login7 packet goes in clear, its password "
                      f"only obfuscated (nibble swap, XOR 0xA5). Rule: {RULE}. Expected: one "
                      f"high alert, its packet the Login7.")
    conn = TcpConn(IpIds(), HOSP, 51550, PLATFORM, 1433)
    pkts = conn.handshake() + [conn.c2s(tds_prelogin(2)), conn.s2c(tds_prelogin(2, True)),
                               conn.c2s(tds_login7("his_report", SECRETS["tds"])),
                               conn.s2c(tds_packet(0x04, b"\xfd\x00\x00\x00\x00\x00\x00\x00\x00"))] \
        + conn.close()
    want = cred_ev("tds", "login7", "his_report")
    want["password"] = "sent obfuscated only, readable by anyone (not recorded)"
    return one_alert(c, line, pkts, 5, want)


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
