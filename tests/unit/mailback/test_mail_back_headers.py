"""Who a reply goes to, and what a hostile header can do to it: pure checks, no batch, no server.

``grader.batch.intake.mail.reply_to`` reads the From of a mail as a structured header; the reply is
built by ``grader.mailback.compose``. Each case is a header a student (or someone posing as
one) can write.
"""
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.headerregistry import Address
from pathlib import Path

import pytest

from grader.batch.intake import mail
from grader.mailback import _warnings as mail_back_warnings
from grader.mailback import compose, recipients, teacher_address
from grader.results import CheckResult, QuestionResult, Report


def reply_to(headers: bytes) -> dict:
    return mail.reply_to(message_from_bytes(headers + b"\nSubject: s\n\nbody\n", policy=policy.default))


@pytest.mark.parametrize("header, address", [
    (b"From: John Doe <john@etu.example>", "john@etu.example"),
    (b"From: john@etu.example", "john@etu.example"),
    (b'From: "bob@etu.example" <mallory@evil.example>', "mallory@evil.example"),     # a name that looks like bob
    # An encoded name holding another address: the parser keeps it in the name.
    (b"From: =?utf-8?q?bob=40etu=2Eexample_=3Cbob=40etu=2Eexample=3E?= <mallory@evil.example>",
     "mallory@evil.example"),
    (b"From: John Q. Public <john@etu.example>", "john@etu.example"),                # obsolete but common
    (b"From: <mallory@evil.example>\nReply-To: bob@etu.example", "mallory@evil.example"),   # Reply-To never read
    (b"From: <mallory@evil.example>\nSender: bob@etu.example", "mallory@evil.example"),
])
def test_the_reply_goes_to_the_one_from_address(header, address):
    found = reply_to(header)
    assert (found["address"], found["problem"]) == (address, "")


@pytest.mark.parametrize("header, why", [
    (b"From: bob@etu.example <mallory@evil.example>", "not one clean address"),   # parsed as bob, with a defect
    (b"From: a@etu.example, b@etu.example", "not one clean address"),
    (b"From: Group: a@etu.example, b@etu.example;", "not one clean address"),
    (b"From: mallory@evil.example\nFrom: bob@etu.example", "2 From headers"),
    (b"To: teacher@univ.example", "no From header"),
    (b"From: garbage <<<", "not one clean address"),
])
def test_a_from_that_could_redirect_gets_no_address(header, why):
    found = reply_to(header)
    assert found["address"] == "" and why in found["problem"]


def test_a_forwarded_archive_is_answered_to_the_mail_received(tmp_path):
    inner = (b"From: Student <student@etu.example>\nSubject: DLCV-thursday: DOE John Lab2\n"
             b"Date: Thu, 10 Dec 2026 20:00:00 +0100\nMessage-ID: <inner@etu.example>\n"
             b"Content-Type: application/octet-stream; name=\"DOE John Lab2 DLCV.tar.bz2\"\n"
             b"Content-Disposition: attachment; filename=\"DOE John Lab2 DLCV.tar.bz2\"\n"
             b"Content-Transfer-Encoding: base64\n\nQlpoOTFBWSZTWQ==\n")
    outer = (b"From: Friend <friend@etu.example>\nTo: teacher@univ.example\nSubject: Fwd: my lab\n"
             b"Date: Fri, 11 Dec 2026 09:00:00 +0100\nMessage-ID: <outer@etu.example>\nMIME-Version: 1.0\n"
             b"Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nsee attached\n"
             b"--b\nContent-Type: message/rfc822\n\n" + inner + b"--b--\n")
    (tmp_path / "m.eml").write_bytes(outer)
    records, _ = mail.collect(tmp_path / "m.eml", "eml", tmp_path / "incoming")
    assert len(records) == 1 and records[0].path is not None
    reply = records[0].reply
    assert (reply["address"], reply["message_id"], reply["subject"]) == ("friend@etu.example", "<outer@etu.example>",
                                                                        "Fwd: my lab")


def student(**change) -> recipients.Student:
    fields = dict(key="DOE_John", folder=Path("."), address="john@etu.example", name="John Doe",
                  message_id="<m@etu.example>", references=[], subject="DLCV: DOE John Lab2",
                  row={"last_name": "DOE", "first_name": "John", "file": "DOE John Lab2 DLCV.tar.bz2",
                       "status": "graded", "total": "12", "bonus": "0", "received": ""},
                  points={}, report=Report(student="DOE John", submission="x", total_max=20), feedback=b"# fb\n")
    fields.update(change)
    return recipients.Student(**fields)


def test_cr_lf_in_a_name_or_a_subject_adds_no_header():
    hostile = student(name="John\r\nBcc: victim@etu.example", subject="Lab2\r\nBcc: victim@etu.example\r\n\r\nbody",
                      row={**student().row, "file": "x\r\nBcc: victim@etu.example", "last_name": "DOE\nX-A: 1"})
    msg = compose.reply(hostile, teacher_address("teacher@univ.example"), datetime(2026, 12, 12, tzinfo=timezone.utc))
    data = msg.as_bytes()
    head = data.split(b"\n\n", 1)[0]
    parsed = message_from_bytes(data, policy=policy.default)
    assert "Bcc" not in parsed and "X-A" not in parsed and b"\nBcc:" not in head
    assert [a.addr_spec for a in parsed["To"].addresses] == ["john@etu.example"]
    assert parsed["Subject"] == "Re: Lab2 Bcc: victim@etu.example body"


def test_the_identity_follows_the_grade_not_the_run():
    a, b = student(), student()
    assert compose.identity(a) == compose.identity(b)
    assert compose.identity(student(row={**a.row, "total": "13"})) != compose.identity(a)
    assert compose.identity(student(feedback=b"# fb, revised\n")) != compose.identity(a)
    assert compose.identity(student(message_id="<other@etu.example>")) != compose.identity(a)
    assert compose.message_id(a, Address(addr_spec="t@univ.example")) == f"<lab2.{compose.identity(a)}@univ.example>"


@pytest.mark.parametrize("address, ok", [("john@etu.example", True), ("a@b", False), ("a@[10.0.0.1]", False),
                                         ('"a b"@etu.example', False), ("zoé@etu.example", False),
                                         ("a..b@etu.example", False), ("a@etu.example\r\nBcc: x@y.example", False)])
def test_only_plain_addresses_are_sent_to(address, ok):
    assert recipients.deliverable(address) is ok


def test_the_body_gives_the_total_the_points_the_mistakes_and_the_lateness():
    wrong = CheckResult("loss: values", False, 0.0, 1.0, mistake="no-clipping")
    q = QuestionResult("q1_3", "loss", 1.0, checks=[wrong])
    report = Report(student="DOE John", submission="x", total_max=20, questions=[q],
                    lateness="Submission received 2026-12-11T10:00:00+01:00, deadline 2026-12-10T23:59:00+01:00: "
                             "1 started day late: late penalty -2.")
    text = compose.body(student(report=report, points={"q1_3": "0"}))
    lines = text.splitlines()
    assert "Total: 12 / 20" in lines and report.lateness in lines
    assert any(line.split() == ["q1_3", "loss", "0", "/", "1"] for line in lines)
    assert any(line.startswith("  - no-clipping: ") and len(line) > 20 for line in lines)


def test_an_address_that_sent_for_two_students_and_a_name_sent_from_two_addresses_are_warned():
    found = mail_back_warnings([student(also_from=["mallory@evil.example"]),
                                student(key="EVIL_Mallory", address="John@etu.example")])
    assert any("DOE_John: mail read as this student also came from mallory@evil.example" in w for w in found)
    assert any("john@etu.example sent the archives graded as DOE_John, EVIL_Mallory" in w for w in found)
