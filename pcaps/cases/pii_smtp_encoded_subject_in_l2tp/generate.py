"""This case's frames and, from the rule, its expected alerts."""

import sys
from email.header import Header
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # pcaps/, for casegen
import casegen as mc  # noqa: E402
from casegen import HOSP_B, HOSP_CODE, L2TP_HOSP, PiiCase, write_here  # noqa: E402
from casegen.normalisation import PERSON, RULE, _smtp, shown  # noqa: E402

SUBJECT = f"转诊单 患者身份证号：{PERSON} 请核对"


def message() -> bytes:
    """The mail as a mail client writes it: the Chinese subject in UTF-8 base64 encoded
    words (RFC 2047), which the standard `email` package cuts at 60 characters a line, here
    inside the identifier; a plain-text body with nothing personal."""
    subject = Header(SUBJECT, "utf-8", maxlinelen=60).encode(linesep="\r\n")
    return (b"From: his@hospital\r\nTo: claims@platform\r\nSubject: " + subject.encode()
            + b"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 7bit\r\n\r\nsee the attached referral\r\n.\r\n")


def build(name, line):
    mail = message()
    unfolded = mail.replace(b"?=\r\n =?utf-8?b?", b"")
    assert b"?=\r\n =?" in mail and PERSON.encode() not in mail
    assert mc.identifiers_by_rule(mail) == [] and PERSON.encode() not in unfolded
    c = PiiCase(name, f"The hospital's mail client ({HOSP_B}) sends a referral to the "
                      f"platform's relay ({mc.PLATFORM_MAIL}:25) by SMTP, {line.describe}. Its "
                      f"subject names a patient's ID number; being Chinese it travels as UTF-8 "
                      f"base64 encoded words (RFC 2047), folded over two lines, the ID cut "
                      f"between two words, as mail clients write it; a mail reader joins the "
                      f"words and shows the ID whole. The body holds nothing personal. {RULE} "
                      f"Expected: one high alert, its packet the DATA segment: kinds "
                      f"resident_id 1, the label 身份证号 in UTF-8, decoded [base64], offset 0.")
    frame = _smtp(c, line, name, mail)
    c.expect("plaintext_pii", "high", line.key, HOSP_CODE, [frame],
             mc.ev("personal_data_in_plaintext", kinds={"resident_id": 1},
                   **shown(("resident_id", PERSON)), offset=0, labels=["身份证号"],
                   encodings=["utf-8"], decoded=["base64"]))
    return c


LINE = L2TP_HOSP

if __name__ == "__main__":
    write_here(__file__, build, LINE)
