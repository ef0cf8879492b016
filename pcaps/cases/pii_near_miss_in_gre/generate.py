"""This case's frames and, from the rule, its expected alerts."""

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
from casegen import (  # noqa: E402
    GRE_HOSP, HOSP, HTTP_OK, PLATFORM, RULE_PII, Case, IpIds, Line, PiiCase, TcpConn,
    identifiers_by_rule, masked_id, masked_mobile, pii, write_here)


def build(name: str, line: Line) -> Case:
    rng = random.Random(4711)
    person = pii.resident_id(rng)
    wrong_check = person[:17] + str((int(person[17]) + 1) % 10 if person[17] != "X" else 0)
    no_such_day = "22010219700230051"                     # 30 February
    no_such_day += pii.id_check_digit(no_such_day)
    no_such_region = "99010219700101051"                  # no province 99
    no_such_region += pii.id_check_digit(no_such_region)
    card = pii.bank_card(rng)
    bad_card = card[:-1] + str((int(card[-1]) + 3) % 10)
    long_run = card + "5"                                  # 20 digits: no card
    near = [wrong_check, no_such_day, no_such_region, person[:17], person + "7",
            "7" + person, bad_card, long_run, "12812345678", "138123456789", "1381234567",
            "1735776000000", masked_id(person), masked_mobile("13800000000"),
            "220102********051X"]
    randoms = []
    while len(randoms) < 40:
        run = "".join(str(rng.randrange(10)) for _ in range(rng.choice((11, 12, 16, 17, 18, 19, 24))))
        if not identifiers_by_rule(run.encode()):
            randoms.append(run)
    body = ("note=" + ",".join(near) + "&batch=" + " ".join(randoms)).encode()
    assert identifiers_by_rule(body) == [], identifiers_by_rule(body)
    request = (b"POST /his/upload HTTP/1.1\r\nHost: 10.200.1.20:8080\r\n"
               b"Content-Type: application/x-www-form-urlencoded\r\n"
               b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    c = PiiCase(name, f"The hospital's {HOSP} posts to the platform in plaintext, "
                      f"{line.describe}, a body full of digits that are not personal data: "
                      f"ID numbers with a wrong check digit, an impossible birth date (30 "
                      f"February), a region code that does not exist, 17 and 19 digit runs "
                      f"around a valid ID (inside a longer run is no ID), a card number with a "
                      f"wrong Luhn digit, a 20-digit run, 12-digit and 10-digit numbers that "
                      f"look like mobiles, a millisecond timestamp, already masked forms, and "
                      f"forty random digit runs (11-24 digits) that happen to pass no check. "
                      f"Rule: {RULE_PII}. Expected: no alert.")
    ids = IpIds()
    conn = TcpConn(ids, HOSP, 51330, PLATFORM, 8080)
    c.send(line, conn.handshake() + [conn.c2s(request), conn.s2c(HTTP_OK)] + conn.close())
    return c


LINE = GRE_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
