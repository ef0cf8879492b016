"""detectors/pii_mask.py: the identifier rules and the masked forms (JL art.32, 33).
Every identifier here comes from tests/pii.py: synthetic, with valid check digits."""
from __future__ import annotations

import datetime
import random

from hypothesis import given, settings, strategies as st

import pii
from ybsensor.detectors.pii_mask import (BANK_CARD, MOBILE, RESIDENT_ID, find_identifiers, mask_payload,
                                mask_text, mask_value, resident_id_valid)

RNG = random.Random(3201)
IDS = [pii.resident_id(RNG) for _ in range(200)]
CARDS = [pii.bank_card(RNG) for _ in range(50)] + \
        [pii.bank_card(RNG, prefix="4", length=16) for _ in range(20)]


def kinds(data: bytes) -> list[str]:
    return [f.kind for f in find_identifiers(data)]


def test_masked_forms_by_hand():
    # 220102197001010018: worked by hand in tests/pii.py (check digit 8)
    assert mask_value(RESIDENT_ID, "22010219700101051X") == "220102********051X"
    assert mask_payload(b"certno=22010219700101051X&x=1") == b"certno=220102********051X&x=1"
    assert mask_payload(b'{"tel":"13812345678"}') == b'{"tel":"138****5678"}'
    card = "6200000000000000000"[:18] + pii.luhn_check_digit("620000000000000000")
    assert card == "6200000000000000000"
    assert mask_payload(card.encode()) == b"620000*********0000"
    assert mask_text("姓名 张三 手机 13812345678 证件 220102197001010018") == \
        "姓名 张三 手机 138****5678 证件 220102********0018"


def test_same_length_and_nothing_whole_left():
    for ident in IDS + CARDS:
        data = f"a={ident};".encode()
        out = mask_payload(data)
        assert len(out) == len(data)
        assert ident.encode() not in out
        assert out.count(b"*") == len(ident) - 10


def test_ids_with_lowercase_x_and_gbk_labels():
    xs = [i for i in IDS if i.endswith("X")]
    assert xs
    data = "身份证号：".encode("gbk") + xs[0].lower().encode() + "手机号".encode("gb18030") + \
        b"15912345678"
    assert kinds(data) == [RESIDENT_ID, MOBILE]
    out = mask_payload(data)
    assert xs[0].lower()[:6].encode() + b"********" + xs[0].lower()[-4:].encode() in out
    assert b"159****5678" in out


def test_near_miss_ids_are_not_ids():
    ident = IDS[0]
    wrong_check = ident[:17] + ("0" if ident[17] != "0" else "1")
    assert not resident_id_valid(wrong_check.encode())
    assert kinds(wrong_check.encode()) in ([], [BANK_CARD])  # 18 digits may still pass Luhn
    # a valid check digit but no such date (30 February) or no such province (99)
    for first17 in ("22010219700230001", "99010219700101001", "22010218000101001",
                    "22010230000101001"):
        s = first17 + pii.id_check_digit(first17)
        assert not resident_id_valid(s.encode()), s
    # one digit more or less around a valid ID: a longer run is not an ID
    assert RESIDENT_ID not in kinds(("1" + ident).encode())
    assert RESIDENT_ID not in kinds((ident + "1").encode()) or ident.endswith("X")


def test_mobile_rule():
    assert kinds(b"13812345678") == [MOBILE]
    assert kinds(b"x19912345678y") == [MOBILE]
    assert kinds(b"12812345678") == []                     # 12x is no mobile network
    assert kinds(b"138123456789") == []                    # inside a longer run
    assert kinds(b"0138123456789") == []
    assert kinds(b"+8613812345678") == [MOBILE]
    assert mask_payload(b"+8613812345678") == b"+86138****5678"
    assert kinds(b"8613812345678") == []                   # no +: just a 13-digit run


def test_card_rule():
    for card in CARDS:
        assert kinds(card.encode()) == [BANK_CARD], card
        bad = card[:-1] + str((int(card[-1]) + 1) % 10)
        assert kinds(bad.encode()) == [], bad
    assert kinds(b"0000000000000000") == []                # one digit repeated: padding
    assert kinds(b"4111111111111111") == [BANK_CARD]       # Luhn-valid test number
    assert kinds(b"41111111111111110000") == []            # 20 digits: too long


def test_edges_cut_identifiers():
    ident = IDS[1]
    for cut in range(1, 18):
        a = b"certno=" + ident[:cut].encode()
        b = ident[cut:].encode() + b"&end"
        joined = mask_payload(a, edges=True) + mask_payload(b, edges=True)
        assert ident.encode() not in joined
        assert len(joined) == len(a) + len(b)
    # three segments
    a, b, c = b"id=" + ident[:5].encode(), ident[5:12].encode(), ident[12:].encode() + b"&"
    joined = b"".join(mask_payload(x, edges=True) for x in (a, b, c))
    assert ident.encode() not in joined and b"*" in joined
    assert mask_payload(b"no digits at the edges 12345 here") == \
        mask_payload(b"no digits at the edges 12345 here", edges=True)


def test_birth_date_not_in_future():
    today = datetime.date.today()
    future = pii.resident_id(random.Random(1), born=today + datetime.timedelta(days=400))
    assert not resident_id_valid(future.encode())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 199), st.sampled_from(IDS + CARDS))
def test_planted_identifier_never_survives(noise, at, ident):
    at = min(at, len(noise))
    # separate the identifier from the noise so that it stands as its own run
    data = noise[:at] + b" " + ident.encode() + b" " + noise[at:]
    out = mask_payload(data)
    assert len(out) == len(data)
    assert ident.encode() not in out
    assert mask_payload(out) == out                        # masking is idempotent


def test_passwords_are_masked_whole():
    from ybsensor.detectors.pii_mask import mask_credentials
    cases = {
        b"USER a\r\nPASS s3cret word\r\n": b"USER a\r\nPASS ***********\r\n",
        b'a001 LOGIN nurse07 "W4rd!7"\r\n': b"a001 LOGIN nurse07 ********\r\n",
        b"GET / HTTP/1.1\r\nAuthorization: Basic YWRtaW46eA==\r\n":
            b"GET / HTTP/1.1\r\nAuthorization: Basic ************\r\n",
        b"AUTH PLAIN AGEAYg==\r\n": b"AUTH PLAIN ********\r\n",
        b"user=a&password=xx&b=1": b"user=a&password=**&b=1",
        b'{"pwd": "x\\"y"}': b'{"pwd": "****"}',
        b"<pwd>abc</pwd>": b"<pwd>***</pwd>",
        b"nothing to see": b"nothing to see",
    }
    for data, want in cases.items():
        assert mask_credentials(data) == want
        assert mask_payload(data) == want                      # mask_payload does it too
    assert mask_payload(b"PASS x1", credentials=False) == b"PASS x1"


def test_text_with_identifiers_written_wide_is_masked():
    """A string copied from the wire whose identifier is written wide (full-width digits, JSON
    escapes) leaves mask_text masked as mask_payload masks its bytes, not whole."""
    for ident in IDS[:20] + CARDS[:10]:
        full = "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in ident)
        escaped = "".join(f"\\u{ord(c):04x}" for c in ident)
        encoded = "".join(f"%{ord(c):02X}" for c in ident)
        for text in (f"host-{full}.example", f"q={escaped}&x=1", f"/q?sfzh={encoded}&x=%3A",
                     f"/q?sfzh={ident[:3]}{encoded[9:]}"):   # a few digits plain, the rest not
            masked = mask_text(text)
            assert masked == mask_payload(text.encode()).decode(), text
            assert full not in masked and escaped not in masked and encoded[9:-6] not in masked


def _grouped(ident: str, sep: str, widths: tuple[int, ...]) -> str:
    out, at = [], 0
    for w in widths:
        out.append(ident[at:at + w])
        at += w
    return sep.join(out)


def test_identifiers_in_digit_groups_are_found_and_masked():
    """Numbers written to be read (`138 0013 8000`; an ID 6-8-4; a card in fours): found as
    identifiers and masked digit by digit, the separators kept; a number in other groups
    (a date, a list) is none."""
    mobile = "13812345678"
    written = [(IDS[2], " ", (6, 8, 4)), (IDS[3], "-", (6, 4, 4, 4)), (CARDS[0], " ", (4,) * 5),
               (CARDS[-1], "-", (4,) * 4), (mobile, " ", (3, 4, 4)), (mobile, "-", (3, 4, 4)),
               (IDS[5], "+", (6, 8, 4))]
    for ident, sep, widths in written:
        text = _grouped(ident, sep, widths)
        data = f"no.: {text}; ".encode()
        out = mask_payload(data)
        assert len(out) == len(data) and text.encode() not in out
        assert out.count(sep.encode()) == data.count(sep.encode())        # separators kept
        digits = "".join(ch for ch in out.decode() if ch.isdigit() or ch in "Xx*")
        first, last = (3, 4) if ident == mobile else (6, 4)
        assert digits == ident[:first] + "*" * (len(ident) - first - last) + ident[-last:]
        assert mask_text(data.decode()) == out.decode()
    assert mask_payload(b"+86 138 1234 5678") == b"+86 138 **** 5678"
    for plain in (b"2026-12-08 00:21:05", b"1 3 8 1 2 3 4 5 6 7 8", b"138 1234 5678 9",
                  b"12 138 1234 5678", b"138 1234-5678"):
        assert mask_payload(plain) == plain, plain


def test_edges_cut_identifiers_in_digit_groups():
    """An ID written in groups and cut by segment edges anywhere: the masked segments,
    joined, never hold it whole, nor its digits in order."""
    ident = IDS[4]
    text = _grouped(ident, " ", (6, 8, 4)).encode()
    for cut in range(1, len(text)):
        a, b = b"id: " + text[:cut], text[cut:] + b" end"
        joined = mask_payload(a, edges=True) + mask_payload(b, edges=True)
        assert len(joined) == len(a) + len(b)
        assert ident.encode() not in joined.replace(b" ", b""), cut


def _decodes_to(data: bytes, ident: bytes) -> bool:
    """Whether any run of base64 (or base64url) characters in `data`, at any alignment,
    decodes to bytes holding `ident`."""
    import base64
    import re
    for m in re.finditer(rb"[A-Za-z0-9+/_-]{8,}", data):
        run = m.group().replace(b"-", b"+").replace(b"_", b"/")
        for k in range(4):
            part = run[k:][: (len(run) - k) // 4 * 4]
            if ident in base64.b64decode(part):
                return True
    return False


def test_identifiers_in_base64_inside_text_are_masked():
    """A message wrapped in base64 (a JSON value, a token's claims): its identifiers masked
    in the base64 itself, so that no alignment of what is left decodes to one."""
    import base64
    for ident in IDS[5:25] + CARDS[5:10] + ["13812345678"]:
        for lead in range(3):
            inner = b'{"n":"' + b"x" * lead + ident.encode() + b'","k":1}'
            for enc in (base64.b64encode, base64.urlsafe_b64encode):
                data = b'{"data":"' + enc(inner) + b'"}'
                assert _decodes_to(data, ident.encode())
                out = mask_payload(data)
                assert len(out) == len(data) and not _decodes_to(out, ident.encode()), ident
                assert mask_text(data.decode()) == out.decode()
    plain = base64.b64encode(b"no identifier 2026-12-07 12:00")
    assert mask_payload(plain) == plain
