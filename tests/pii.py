"""Synthetic personal identifiers for test fixtures (DESIGN.md: personal data in fixtures is
synthetic, built by a helper, never real people's).

- Resident identity card numbers (GB 11643-1999): a 6-digit administrative region code, the
  birth date YYYYMMDD, a 3-digit sequence (odd for men, even for women) and a check digit
  by ISO 7064 MOD 11-2, where the value 10 is written `X`.
- Bank card numbers: an issuer prefix, random account digits and a Luhn check digit.

Everything is drawn from a seeded `random.Random`, so a fixture is the same on every run.
The numbers are made up: well-formed, with valid check digits, taken from no one.

    rng = random.Random(7)
    resident_id(rng)            # '2201021987...' (18 characters)
    bank_card(rng)              # '62...' (19 digits, Luhn-valid)
"""
from __future__ import annotations

import datetime
import random

# ISO 7064 MOD 11-2 weights: 2^(17-i) mod 11 for i = 0..16
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# the check character for each value of (weighted sum mod 11)
ID_CHECK = "10X98765432"
# district codes of Changchun, Jilin (the region of the Jilin rules these cases enforce)
REGIONS = ("220102", "220103", "220104", "220105", "220106", "220112")


def id_check_digit(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError(f"need 17 digits, got {first17!r}")
    return ID_CHECK[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS)) % 11]


def is_valid_resident_id(number: str) -> bool:
    number = number.upper()
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        datetime.datetime.strptime(number[6:14], "%Y%m%d")
    except ValueError:
        return False
    return id_check_digit(number[:17]) == number[17]


def resident_id(rng: random.Random, region: str | None = None,
                born: datetime.date | None = None, sex: str | None = None) -> str:
    """A synthetic 18-character resident ID number with a valid check character."""
    region = region or rng.choice(REGIONS)
    if len(region) != 6 or not region.isdigit():
        raise ValueError(f"a region code is 6 digits, not {region!r}")
    if born is None:
        start = datetime.date(1940, 1, 1).toordinal()
        born = datetime.date.fromordinal(rng.randrange(start, datetime.date(2010, 12, 31).toordinal()))
    seq = rng.randrange(1, 1000)
    if sex is not None:  # the sequence's parity is the sex: odd men, even women
        want = 1 if sex == "m" else 0
        if seq % 2 != want:
            seq = seq + 1 if seq < 999 else seq - 1
    first17 = f"{region}{born:%Y%m%d}{seq:03d}"
    return first17 + id_check_digit(first17)


def luhn_check_digit(partial: str) -> str:
    """The Luhn digit to append to `partial`: doubling every second digit from the right,
    starting with the rightmost of `partial` (it will sit next to the check digit)."""
    if not partial.isdigit():
        raise ValueError(f"need digits, got {partial!r}")
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def is_luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) >= 2 and \
        luhn_check_digit(number[:-1]) == number[-1]


def bank_card(rng: random.Random, prefix: str = "62", length: int = 19) -> str:
    """A synthetic bank card number (UnionPay-style `62` prefix by default), Luhn-valid."""
    if not prefix.isdigit() or len(prefix) >= length:
        raise ValueError("the prefix must be digits, shorter than the number")
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    return body + luhn_check_digit(body)


# ---------------------------------------------------------------------------------------
# self-tests (run by tests/cases_and_corpus/test_cases.py)

def self_test_resident_id() -> None:
    # Worked by hand, a made-up number: region 220102, born 1970-01-01, sequence 001.
    #   digits   2  2  0  1  0  2  1  9  7  0  0  1  0  1  0  0  1
    #   weights  7  9 10  5  8  4  2  1  6  3  7  9 10  5  8  4  2
    #   products 14 18 0  5  0  8  2  9 42  0  0  9  0  5  0  0  2   sum 114
    #   114 mod 11 = 4 -> "10X98765432"[4] = '8'          => 220102197001010018
    assert id_check_digit("22010219700101001") == "8"
    # Sequence 051 instead: the last three products are 0*8 + 5*4 + 1*2 = 22, so the sum
    # is 112 + 22 = 134; 134 mod 11 = 2 -> 'X'           => 22010219700101051X
    assert id_check_digit("22010219700101051") == "X"
    assert is_valid_resident_id("220102197001010018")
    assert is_valid_resident_id("22010219700101051x")           # a lowercase x reads as X
    assert not is_valid_resident_id("220102197001010019")       # wrong check digit
    assert not is_valid_resident_id("220102197002300013")       # 30 February
    rng = random.Random(20250102)
    made = [resident_id(rng) for _ in range(500)]
    assert all(is_valid_resident_id(n) for n in made)
    assert any(n.endswith("X") for n in made)                    # the X case does occur
    again = random.Random(20250102)
    assert made == [resident_id(again) for _ in range(500)]      # seeded: the same each run
    assert int(resident_id(random.Random(1), sex="m")[16]) % 2 == 1
    assert int(resident_id(random.Random(1), sex="f")[16]) % 2 == 0
    # one changed digit always breaks the check (MOD 11-2 catches every single error)
    n = made[0]
    for i in range(17):
        for d in "0123456789":
            if d != n[i]:
                assert not is_valid_resident_id(n[:i] + d + n[i + 1:]), (n, i, d)


def self_test_luhn() -> None:
    # The textbook example 7992739871: from the right, 1 7 8 9 3 7 2 9 9 7 with every other
    # digit doubled (from the rightmost) -> 2 7 16 9 6 7 4 9 18 7, two-digit results have
    # their digits added -> 2 7 7 9 6 7 4 9 9 7, sum 67; (10 - 7) mod 10 = 3.
    assert luhn_check_digit("7992739871") == "3"
    assert is_luhn_valid("79927398713")
    assert not is_luhn_valid("79927398710")
    # Worked by hand, a made-up card: 62 followed by 16 zeros. From the right, the digit
    # next to the check digit is doubled: the zeros add 0, '2' (17th from the right, odd)
    # is doubled to 4, '6' (18th, even) stays 6; 4 + 6 = 10 -> check digit 0.
    assert luhn_check_digit("620000000000000000") == "0"
    rng = random.Random(62)
    cards = [bank_card(rng) for _ in range(200)]
    assert all(len(c) == 19 and c.startswith("62") and is_luhn_valid(c) for c in cards)
    # a single changed digit always breaks Luhn
    c = cards[0]
    for i in range(len(c)):
        for d in "0123456789":
            if d != c[i]:
                assert not is_luhn_valid(c[:i] + d + c[i + 1:]), (c, i, d)


if __name__ == "__main__":
    self_test_resident_id()
    self_test_luhn()
    print("ok")
