"""The intake (``grader.batch.intake``): mailboxes, Moodle downloads and worksheets read into records.

Fast and pure: archives here are a few bytes of tar, never graded. Inputs are built at test time
(``teacher_inputs``). Lateness rules (``grader.batch.lateness``) and the rubric's ``lateness`` section
are tested here too.
"""
import hashlib
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from builders import archives
from builders import teacher_inputs as ti

from grader.batch import intake, lateness, plan
from grader.batch.intake import files, mail, worksheet
from grader.errors import UsageError
from grader.rubric import load as load_rubric

RUBRIC_PATH = Path(__file__).parents[2] / "files" / "rubric_small.yaml"
CET = timezone(timedelta(hours=1))
THURSDAY = datetime(2026, 12, 10, 23, 59, tzinfo=CET)


def tar(tmp_path: Path, tag: str) -> bytes:
    """A tiny, distinct tar.bz2 (its content is never graded here)."""
    return archives.write_tar(tmp_path / f"_{tag}.tar.bz2", {f"{tag}/lab2/__init__.py": tag.encode()}).read_bytes()


def rubric_with(tmp_path: Path, section: dict):
    data = yaml.safe_load(RUBRIC_PATH.read_text())
    data["lateness"] = section
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_rubric(path)


@pytest.fixture
def mails(tmp_path):
    """The class's mail: two from one student (one after the deadline), one without an
    attachment, one misnamed, one with an RFC 2047 subject, one forwarded, one hostile name."""
    a = {tag: tar(tmp_path, tag) for tag in ("doe1", "doe2", "muller", "lee", "dupont", "evil")}
    return [
        ti.Mail("DLCV-thursday: DOE John Lab2", "John Doe <john.doe@etu.example>",
                datetime(2026, 12, 10, 20, 0, tzinfo=CET),
                [("DOE John Lab2 DLCV.tar.bz2", a["doe1"]), ("architecture.png", archives.png())]),
        ti.Mail("Re: DLCV-thursday: DOE John Lab2", "John Doe <john.doe@etu.example>",
                datetime(2026, 12, 11, 9, 30, tzinfo=CET), [("DOE John Lab2 DLCV.tar.bz2", a["doe2"])]),
        ti.Mail("DLCV-friday: MARTIN Alice Lab2", "alice@etu.example", datetime(2026, 12, 10, 21, 0, tzinfo=CET),
                [("architecture.png", archives.png())]),
        ti.Mail("", "Jürgen Müller <jm@etu.example>", datetime(2026, 12, 10, 22, 0, tzinfo=CET),
                [("MÜLLER Jürgen Lab2 DLCV.tar.bz2", a["muller"])],
                raw_subject="=?utf-8?q?DLCV-thursday=3A_M=C3=9CLLER_J=C3=BCrgen_Lab2?="),
        ti.Mail("Fwd: DLCV-friday: LEE Min-Ho Lab2", "A Colleague <colleague@univ.example>",
                datetime(2026, 12, 10, 22, 30, tzinfo=CET), [("LEE Min-Ho Lab2 DLCV.tar.bz2", a["lee"])]),
        ti.Mail("dlcv friday : DUPONT Marie lab2", "marie@etu.example", datetime(2026, 12, 10, 23, 0, tzinfo=CET),
                [("DURAND Paul Lab2 DLCV.tar.bz2", a["dupont"])]),
        ti.Mail("DLCV-friday: EVIL Eve Lab2", "eve@etu.example", datetime(2026, 12, 10, 23, 5, tzinfo=CET),
                [("../../.." + "/x" * 40 + "/." + "é" * 300 + ".tar.bz2", a["evil"])]),
    ]


def by_key(records) -> dict:
    return {r.key: r for r in records}


def summary_of(records) -> dict:
    """What must not depend on the mailbox format: who, which archive (by content), group, time, status."""
    return {r.key: (r.group, r.received, r.status, r.file,
                    hashlib.sha256(r.path.read_bytes()).hexdigest() if r.path else None) for r in records}


# --- detect ---------------------------------------------------------------------------------------

def test_detect_reads_the_kind_from_the_content(tmp_path, mails):
    folder = tmp_path / "archives"
    folder.mkdir()
    archives.good_flat(folder)
    assert intake.detect(folder) == "folder"
    assert intake.detect(ti.write_mbox(tmp_path / "Inbox", mails)) == "mbox"       # Thunderbird: no extension
    assert intake.detect(ti.write_maildir(tmp_path / "maildir", mails)) == "maildir"
    emls = ti.write_eml_folder(tmp_path / "emls", mails)
    assert intake.detect(emls) == "eml"
    assert intake.detect(next(emls.iterdir())) == "eml"
    people = [ti.Participant(11, "John Doe", {"DOE John Lab2 DLCV.tar.bz2": b"x"})]
    assert intake.detect(ti.write_moodle_zip(tmp_path / "DLCV-Lab2-42.zip", people)) == "moodle"
    assert intake.detect(ti.write_moodle_folder(tmp_path / "unpacked", people)) == "moodle"


def test_a_folder_of_eml_and_archives_is_refused(tmp_path, mails):
    folder = ti.write_eml_folder(tmp_path / "mixed", mails[:1])
    archives.good_flat(folder)
    with pytest.raises(UsageError, match=r"mixed holds both \.eml messages and archives \(MARTIN Alice"):
        intake.detect(folder)


def test_detect_refuses_what_is_none_of_them_in_one_line(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("grades of last year\n")
    with pytest.raises(UsageError, match=r"notes\.txt is not a folder of archives, an mbox"):
        intake.detect(text)
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(UsageError, match="is empty"):
        intake.detect(tmp_path / "empty")
    with pytest.raises(UsageError, match="no such folder or file"):
        intake.detect(tmp_path / "missing")


# --- subjects -------------------------------------------------------------------------------------

@pytest.mark.parametrize("subject, group, key", [
    ("DLCV-thursday: DOE John Lab2", "thursday", "DOE_John"),
    ("Fwd: DLCV-friday: MARTIN Alice Lab2", "friday", "MARTIN_Alice"),
    ("RE: Re:  dlcv - Thursday :doe john lab2", "thursday", "DOE_John"),
    ("TR: [cours] DLCV–jeudi: DE LA FONTAINE Jean-Baptiste Lab2", "jeudi", "DE-LA-FONTAINE_Jean-Baptiste"),
    ("DLCV-thursday DOE John Lab2", "thursday", "DOE_John"),
    ("DLCV: DOE John Lab2", "", "DOE_John"),
    ("DOE John Lab2", "", "DOE_John"),
    ("DLCV-thursday:", "thursday", None),
    ("my lab", "", None),
])
def test_subjects_are_read_tolerantly(subject, group, key):
    found_group, name = mail.parse_subject(subject)
    assert (found_group, name.key if name else None) == (group, key)


# --- an mbox --------------------------------------------------------------------------------------

def test_an_mbox_gives_one_record_per_student_and_lists_the_rest(tmp_path, mails):
    rubric = rubric_with(tmp_path, {"deadlines": {"thursday": THURSDAY.isoformat()}})
    found = intake.collect(ti.write_mbox(tmp_path / "Inbox", mails), tmp_path / "out" / "incoming", rubric)
    assert (found.format, found.source) == ("mbox", "mail")
    records = by_key(found.records)
    assert sorted(records) == ["DOE_John", "DUPONT_Marie", "EVIL_Eve", "LEE_Min-Ho", "MARTIN_Alice", "MULLER_Jurgen"]
    assert [r.key for r in found.records] == sorted(records)        # sorted, whatever the mailbox order

    doe = records["DOE_John"]            # the latest *before* the deadline, the later one listed
    assert doe.received == datetime(2026, 12, 10, 20, 0, tzinfo=CET) and doe.group == "thursday"
    assert doe.path.read_bytes() == tar(tmp_path, "doe1")
    assert doe.sender == "John Doe <john.doe@etu.example>" and doe.subject == "DLCV-thursday: DOE John Lab2"
    assert any("also received, not graded: DOE John Lab2 DLCV.tar.bz2 at 2026-12-11T09:30:00+01:00" in w
               and "too late" in w for w in doe.warnings)

    martin = records["MARTIN_Alice"]     # a picture is not an archive
    assert (martin.status, martin.path) == ("no-archive", None)
    assert "no archive attached (attachments: architecture.png)" in martin.reason and martin.group == "friday"

    muller = records["MULLER_Jurgen"]    # RFC 2047 subject and RFC 2231 file name, decoded
    assert (muller.name.last, muller.name.first, muller.group) == ("MÜLLER", "Jürgen", "thursday")
    assert muller.file == "MÜLLER Jürgen Lab2 DLCV.tar.bz2"

    lee = records["LEE_Min-Ho"]          # forwarded: the subject says who, not the sender
    assert lee.group == "friday" and lee.sender.startswith("A Colleague")

    dupont = records["DUPONT_Marie"]     # the subject wins; the archive's other name is a warning
    assert dupont.file == "DURAND Paul Lab2 DLCV.tar.bz2"
    assert any("reads as DURAND Paul but the subject says DUPONT Marie" in w for w in dupont.warnings)


def test_without_deadlines_the_latest_message_is_graded(tmp_path, mails):
    found = intake.collect(ti.write_mbox(tmp_path / "Inbox", mails), tmp_path / "in", load_rubric(RUBRIC_PATH))
    doe = by_key(found.records)["DOE_John"]
    assert doe.path.read_bytes() == tar(tmp_path, "doe2")
    assert any("also received, not graded: DOE John Lab2 DLCV.tar.bz2 at 2026-12-10T20:00:00+01:00" in w
               for w in doe.warnings)


def test_hostile_attachment_names_become_bounded_names_inside_incoming(tmp_path, mails):
    incoming = tmp_path / "out" / "incoming"
    found = intake.collect(ti.write_mbox(tmp_path / "Inbox", mails), incoming, load_rubric(RUBRIC_PATH))
    evil = by_key(found.records)["EVIL_Eve"]
    assert evil.path.resolve().is_relative_to((incoming / "mail").resolve())
    assert "/" not in evil.file and not evil.file.startswith(".") and ".." not in evil.file.split("/")
    assert len(evil.file.encode()) <= files.MAX_NAME_BYTES and evil.file.endswith(".tar.bz2")
    assert any("was stored as" in w for w in evil.warnings)
    written = sorted(p.relative_to(incoming).as_posix() for p in incoming.rglob("*") if p.is_file())
    assert len(written) == 6 and all(p.startswith("mail/") and p.count("/") == 2 for p in written)


def test_archives_are_written_once(tmp_path, mails):
    box, incoming = ti.write_mbox(tmp_path / "Inbox", mails), tmp_path / "incoming"
    intake.collect(box, incoming, load_rubric(RUBRIC_PATH))
    mtimes = {p: p.stat().st_mtime_ns for p in incoming.rglob("*") if p.is_file()}
    intake.collect(box, incoming, load_rubric(RUBRIC_PATH))
    assert {p: p.stat().st_mtime_ns for p in incoming.rglob("*") if p.is_file()} == mtimes


@pytest.mark.parametrize("safe, name", [
    ("passwd", "../../etc/passwd"), ("attachment", ".."), ("attachment", ""), ("a_b.zip", "a\x00b.zip"),
    ("evil.tar.bz2", "C:\\Users\\x\\..\\evil.tar.bz2"), ("_x_.tar", "...<x>.tar"), ("DOE John.zip", "DOE  John.zip"),
])
def test_safe_name(safe, name):
    assert files.safe_name(name) == safe


# --- the same mail in a Maildir and a folder of .eml ---------------------------------------------

def test_maildir_and_eml_folder_give_the_same_records_as_the_mbox(tmp_path, mails):
    rubric = load_rubric(RUBRIC_PATH)
    results = {}
    for kind, write in (("mbox", ti.write_mbox), ("maildir", ti.write_maildir), ("eml", ti.write_eml_folder)):
        found = intake.collect(write(tmp_path / kind, mails), tmp_path / f"out-{kind}" / "incoming", rubric)
        assert found.format == kind
        results[kind] = summary_of(found.records)
    assert results["mbox"] == results["maildir"] == results["eml"]
    assert len(results["mbox"]) == 6


def test_one_eml_file_is_a_source_too(tmp_path, mails):
    folder = ti.write_eml_folder(tmp_path / "emls", mails[3:4])
    found = intake.collect(next(folder.iterdir()), tmp_path / "incoming", load_rubric(RUBRIC_PATH))
    assert [r.key for r in found.records] == ["MULLER_Jurgen"]


# --- bad mail -------------------------------------------------------------------------------------

def test_a_truncated_mbox_costs_its_last_message_only(tmp_path, mails):
    box = ti.write_mbox(tmp_path / "Inbox", mails[2:5])       # MARTIN, MÜLLER, LEE (last)
    data = box.read_bytes()
    box.write_bytes(data[: len(data) - 400])                 # cut inside LEE's attachment
    found = intake.collect(box, tmp_path / "incoming", load_rubric(RUBRIC_PATH))
    statuses = {r.key: r.status for r in found.records}
    assert statuses["MULLER_Jurgen"] == "" and statuses["MARTIN_Alice"] == "no-archive"
    bad = [r for r in found.records if r.status == "bad-message"]
    assert len(bad) == 1 and "Inbox message 3: the message is cut short" in bad[0].reason
    assert bad[0].subject == "Fwd: DLCV-friday: LEE Min-Ho Lab2"
    assert any("Inbox: its last message is cut short: the mbox file looks truncated" in n for n in found.notes)


def test_an_eml_that_is_not_mail_is_its_own_bad_row(tmp_path, mails):
    folder = ti.write_eml_folder(tmp_path / "emls", mails[:1])
    (folder / "scan.eml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    found = intake.collect(folder, tmp_path / "incoming", load_rubric(RUBRIC_PATH))
    bad = [r for r in found.records if r.status == "bad-message"]
    assert [r.reason for r in bad] == ["scan.eml: not a mail message (no From, Date or Subject header)"]
    assert [r.key for r in found.records if not r.status] == ["DOE_John"]


def test_a_mailbox_without_messages_is_a_usage_error(tmp_path):
    mailbox_dir = ti.write_maildir(tmp_path / "maildir", [])
    with pytest.raises(UsageError, match="maildir holds no message"):
        intake.collect(mailbox_dir, tmp_path / "incoming", load_rubric(RUBRIC_PATH))


def test_a_message_without_any_time_says_so(tmp_path):
    tarred = tar(tmp_path, "x")
    box = ti.write_eml_folder(tmp_path / "saved", [ti.Mail("DLCV-thursday: DOE John Lab2", "j@x", None,
                                                          [("DOE John Lab2 DLCV.tar.bz2", tarred)])])
    (record,) = intake.collect(box, tmp_path / "incoming", load_rubric(RUBRIC_PATH)).records
    assert record.received is None and any("no readable Date header: lateness unknown" in w
                                           for w in record.warnings)


# --- Moodle ---------------------------------------------------------------------------------------

@pytest.fixture
def class_(tmp_path):
    return [
        ti.Participant(123456, "John Doe", {"DOE John Lab2 DLCV.tar.bz2": tar(tmp_path, "doe")},
                       submitted="Thursday, 10 December 2026, 11:00 PM"),
        ti.Participant(123457, "Jürgen Müller", {"MÜLLER Jürgen Lab2 DLCV.tar.bz2": tar(tmp_path, "muller"),
                                                 "notes.pdf": b"%PDF-1.4"},
                       submitted="Friday, 11 December 2026, 1:15 AM"),
        ti.Participant(123458, "Alice Martin", {}, online_text="<p>I could not finish</p>", submitted="-"),
        ti.Participant(123459, "Eve Evil", {"sub/dir/submission.zip": archives.write_zip(
            tmp_path / "_e.zip", {"lab2/__init__.py": b""}).read_bytes()}),
    ]


@pytest.mark.parametrize("layout", ti.LAYOUTS)
@pytest.mark.parametrize("unpacked", [False, True], ids=["zip", "unpacked"])
def test_the_three_moodle_layouts_give_the_same_records(tmp_path, class_, layout, unpacked):
    write = ti.write_moodle_folder if unpacked else ti.write_moodle_zip
    source = write(tmp_path / ("download" if unpacked else "DLCV-Lab 2-42.zip"), class_, layout)
    found = intake.collect(source, tmp_path / "out" / "incoming", load_rubric(RUBRIC_PATH))
    assert (found.format, found.source) == ("moodle", "moodle")
    records = {r.participant: r for r in found.records}
    assert sorted(records) == ["123456", "123457", "123458", "123459"]
    doe = records["123456"]
    assert (doe.key, doe.file, doe.source) == ("DOE_John", "DOE John Lab2 DLCV.tar.bz2", "moodle")
    assert doe.path.read_bytes() == tar(tmp_path, "doe")
    folder = {"folder_": "John Doe_123456_assignsubmission_file_", "folder": "John Doe_123456_assignsubmission_file",
              "flat": "John Doe_123456_assignsubmission_file_"}[layout]
    assert doe.moodle_folder == folder
    if not unpacked:                     # no worksheet: the zip's time, in the rubric's zone, said so
        assert doe.received == datetime(*ti.ZIP_TIME, tzinfo=timezone.utc)
        assert any("submission time taken from the zip member's time (no worksheet given)" in w for w in doe.warnings)
    else:
        assert any("the file's modification time" in w for w in doe.warnings)
    muller = records["123457"]
    assert muller.key == "MULLER_Jurgen" and not any("reads as" in w for w in muller.warnings)
    assert any("other files submitted, not graded: notes.pdf" in w for w in muller.warnings)
    martin = records["123458"]
    assert martin.status == "no-archive" and "onlinetext.html" in martin.reason
    assert martin.name.last == "Alice Martin"
    eve = records["123459"]              # name unreadable: Moodle's full name; a folder inside is fine
    assert eve.file == "submission.zip" and eve.name.last == "Eve Evil"


def test_moodle_zip_members_are_written_under_the_participant_id(tmp_path, class_):
    incoming = tmp_path / "incoming"
    found = intake.collect(ti.write_moodle_zip(tmp_path / "d.zip", class_), incoming, load_rubric(RUBRIC_PATH))
    paths = sorted(r.path.relative_to(incoming).parts[:2] for r in found.records if r.path)
    assert [p[1] for p in paths] == ["123456", "123457", "123459"] and {p[0] for p in paths} == {"moodle"}


def test_a_zip_that_is_not_a_moodle_download_is_a_usage_error(tmp_path):
    zipped = archives.write_zip(tmp_path / "DOE John Lab2 DLCV.zip", archives.package_files())
    with pytest.raises(UsageError, match=r"DOE John Lab2 DLCV\.zip is not a Moodle 'Download all submissions' zip"):
        intake.collect(zipped, tmp_path / "incoming", load_rubric(RUBRIC_PATH))
    broken = tmp_path / "download.zip"
    broken.write_bytes(b"PK\x03\x04" + b"\0" * 20)
    with pytest.raises(UsageError, match="download.zip is not a readable zip"):
        intake.collect(broken, tmp_path / "incoming", load_rubric(RUBRIC_PATH))


def test_entries_of_no_participant_are_noted(tmp_path, class_):
    source = ti.write_moodle_folder(tmp_path / "download", class_)
    (source / "README.txt").write_text("downloaded on monday")
    found = intake.collect(source, tmp_path / "incoming", load_rubric(RUBRIC_PATH))
    assert any("1 entry of download belong to no participant (ignored): README.txt" in n for n in found.notes)


# --- worksheets -----------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_worksheet_gives_submission_times_and_groups(tmp_path, class_, lang):
    class_[0].submitted = ("Thursday, 10 December 2026, 11:00 PM" if lang == "en"
                           else "jeudi 10 décembre 2026, 23:00")
    class_[0].group, class_[1].group = "Thursday", "Friday"
    sheet = worksheet.read(ti.write_worksheet(tmp_path / "Grades.csv", class_, lang=lang, group=True))
    assert set(sheet.rows) == {"123456", "123457", "123458", "123459"}
    rubric = rubric_with(tmp_path, {"timezone": "Europe/Paris"})
    found = intake.collect(ti.write_moodle_zip(tmp_path / "d.zip", class_), tmp_path / "incoming", rubric, sheet)
    doe = {r.participant: r for r in found.records}["123456"]
    assert doe.received == datetime(2026, 12, 10, 23, 0, tzinfo=CET) and doe.group == "thursday"
    assert not any("submission time taken" in w for w in doe.warnings)


@pytest.mark.parametrize("text, expected", [
    ("Thursday, 10 December 2026, 11:59 PM", datetime(2026, 12, 10, 23, 59)),
    ("Friday, 11 December 2026, 12:05 AM", datetime(2026, 12, 11, 0, 5)),
    ("jeudi 10 décembre 2026, 23:59", datetime(2026, 12, 10, 23, 59)),
    ("lundi 1 mars 2027, 08:00", datetime(2027, 3, 1, 8, 0)),
    ("2026-12-10T23:59:00", datetime(2026, 12, 10, 23, 59)),
    ("-", None), ("", None), ("sometime", None),
])
def test_moodle_dates(text, expected):
    found = worksheet.parse_moodle_date(text, "Europe/Paris")
    assert (found.replace(tzinfo=None) if found else None) == expected
    if found:
        assert found.utcoffset() == timedelta(hours=1)


def test_participant_identifiers_with_and_without_the_space(tmp_path, class_):
    en = worksheet.read(ti.write_worksheet(tmp_path / "en.csv", class_, lang="en"))
    fr = worksheet.read(ti.write_worksheet(tmp_path / "fr.csv", class_, lang="fr", bom=False, newline="\r\n"))
    assert set(en.rows) == set(fr.rows) == {"123456", "123457", "123458", "123459"}
    assert fr.columns["feedback"] == len(ti.FR) - 1 and fr.max_grade() == 20.0


def test_a_worksheet_without_moodle_headers_is_a_usage_error(tmp_path, class_):
    path = tmp_path / "grades.csv"
    path.write_text("Name;Grade\nJohn Doe;12\n")
    with pytest.raises(UsageError, match=r"grades\.csv is not a Moodle grading worksheet: no 'Identifier', "
                                         r"'Grade', 'Last modified \(grade\)' column"):
        worksheet.read(path)
    path.write_bytes("Identifier,Grade\n".encode("utf-16"))
    with pytest.raises(UsageError, match="is not UTF-8"):
        worksheet.read(path)
    path.write_text('Identifier,Grade,Last modified (grade)\n"Participant 1,12,-\n')
    with pytest.raises(UsageError, match="is not valid CSV: a quote opened"):
        worksheet.read(path)


def test_a_worksheet_of_another_download_is_refused_before_grading(tmp_path, class_):
    others = [ti.Participant(999001, "Someone Else", {}, submitted="Thursday, 10 December 2026, 10:00 PM")]
    sheet = worksheet.read(ti.write_worksheet(tmp_path / "Grades-other.csv", others))
    with pytest.raises(UsageError, match=r"Grades-other\.csv does not belong to d\.zip: none of the download's "
                                         r"4 participants"):
        intake.collect(ti.write_moodle_zip(tmp_path / "d.zip", class_), tmp_path / "incoming",
                       load_rubric(RUBRIC_PATH), sheet)


def test_worksheet_participants_missing_from_the_download_are_noted(tmp_path, class_):
    extra = ti.Participant(123999, "Late Comer", {}, submitted="Friday, 11 December 2026, 9:00 AM")
    never = ti.Participant(124000, "No Show", {}, submitted="-")
    sheet = worksheet.read(ti.write_worksheet(tmp_path / "Grades.csv", class_ + [extra, never]))
    found = intake.collect(ti.write_moodle_zip(tmp_path / "d.zip", class_), tmp_path / "incoming",
                           load_rubric(RUBRIC_PATH), sheet)
    assert any("1 participant with a submission that d.zip does not have (an older download?): 123999" in n
               for n in found.notes)


def test_a_worksheet_needs_a_moodle_source(tmp_path, class_, mails):
    sheet = worksheet.read(ti.write_worksheet(tmp_path / "Grades.csv", class_))
    with pytest.raises(UsageError, match="needs a Moodle download as SOURCE"):
        intake.collect(ti.write_mbox(tmp_path / "Inbox", mails), tmp_path / "incoming", load_rubric(RUBRIC_PATH),
                       sheet)


# --- lateness -------------------------------------------------------------------------------------

def test_lateness_counts_started_days_with_grace_and_a_cap(tmp_path):
    rubric = rubric_with(tmp_path, {"deadlines": {"Thursday": THURSDAY.isoformat()},
                                    "default": "2026-12-11T23:59:00+01:00",
                                    "policy": {"per_started_day": 1.5, "max_days": 3, "grace_minutes": 10}})
    late = rubric.lateness

    def days(group, **delta):
        found = lateness.assess(late, group, THURSDAY + timedelta(**delta))
        return found.late_days, found.penalty
    assert days("thursday", minutes=10) == (0, 0)
    assert days("THURSDAY", minutes=11) == (1, 1.5)
    assert days("thursday", hours=24, minutes=10) == (1, 1.5)
    assert days("thursday", hours=24, minutes=11) == (2, 3)
    assert days("thursday", days=9) == (9, 4.5)                  # counted at most max_days
    assert days("friday", hours=23) == (0, 0)                    # the default deadline
    assert days("", hours=25) == (1, 1.5)
    assert lateness.assess(late, "thursday", None).late_days is None
    found = lateness.assess(late, "thursday", THURSDAY + timedelta(hours=30))
    assert found.line(THURSDAY + timedelta(hours=30)) == ("Submission received 2026-12-12T05:59:00+01:00, deadline "
                                                         "2026-12-10T23:59:00+01:00: 2 started days late: late "
                                                         "penalty -3.")


def test_without_deadlines_nothing_is_late(tmp_path):
    found = lateness.assess(load_rubric(RUBRIC_PATH).lateness, "thursday", datetime(2030, 1, 1, tzinfo=CET))
    assert (found.late_days, found.penalty, found.line(datetime(2030, 1, 1, tzinfo=CET))) == (None, 0, "")


@pytest.mark.parametrize("section, message", [
    ({"deadlines": {"thursday": "2026-12-10T23:59:00"}}, "lateness.deadlines.thursday: Input should have timezone"),
    ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ({"policy": {"per_started_day": -1}}, "lateness.policy.per_started_day"),
    ({"deadlines": {"a": "2026-12-10T23:59:00Z", "A": "2026-12-10T23:59:00Z"}}, "differ only in case"),
])
def test_bad_lateness_sections_are_refused_in_one_line(tmp_path, section, message):
    with pytest.raises(UsageError, match="rubric .*" + message.replace("(", r"\(").replace(")", r"\)")):
        rubric_with(tmp_path, section)


def test_hostile_moodle_member_names_stay_inside_incoming(tmp_path):
    data = tar(tmp_path, "evil")
    path = tmp_path / "download.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Eve Evil_7_assignsubmission_file/../../../../tmp/evil.tar.bz2", data)
        zf.writestr("Mal Lory_8_assignsubmission_file_" + "x" * 400 + "\x07.tar.bz2", data + b"\0")
    incoming = tmp_path / "out" / "incoming"
    found = intake.collect(path, incoming, load_rubric(RUBRIC_PATH))
    assert [r.participant for r in found.records] == ["7", "8"]
    for r in found.records:
        assert r.path.resolve().is_relative_to((incoming / "moodle" / r.participant).resolve())
        assert len(r.file.encode()) <= files.MAX_NAME_BYTES and "/" not in r.file and "\x07" not in r.file
    assert found.records[0].file == "evil.tar.bz2"
    assert not (tmp_path / "tmp").exists()


# --- who sent it and when the server got it (issue 22, finding 5) -----------------------------------

def test_a_later_mail_from_another_address_cannot_replace_a_classmates_archive(tmp_path):
    his, hers = tar(tmp_path, "his"), tar(tmp_path, "hers")
    mails = [ti.Mail("DLCV-thursday: DOE John Lab2", "John Doe <john.doe@etu.example>",
                     datetime(2026, 12, 10, 20, 0, tzinfo=CET), [("DOE John Lab2 DLCV.tar.bz2", his)]),
             ti.Mail("DLCV-thursday: DOE John Lab2", "Eve <eve@etu.example>",
                     datetime(2026, 12, 10, 22, 0, tzinfo=CET), [("DOE John Lab2 DLCV.tar.bz2", hers)])]
    rubric = rubric_with(tmp_path, {"deadlines": {"thursday": THURSDAY.isoformat()}})
    for write in (ti.write_mbox, ti.write_maildir, ti.write_eml_folder):
        records = intake.collect(write(tmp_path / write.__name__, mails), tmp_path / "in", rubric).records
        assert len(records) == 2                                       # both kept: one row each
        by_sender = {r.sender: r for r in records}
        john, eve = by_sender["John Doe <john.doe@etu.example>"], by_sender["Eve <eve@etu.example>"]
        assert john.path.read_bytes() == his and eve.path.read_bytes() == hers
        assert not any("also received, not graded" in w for w in john.warnings + eve.warnings)
        assert any("sent from john.doe@etu.example, but eve@etu.example also sent" in w for w in john.warnings)
        assert any("sent from eve@etu.example, but john.doe@etu.example also sent" in w for w in eve.warnings)
        # His row is the student's (his From reads as DOE John); hers is a row of its own.
        assert john.key == "DOE_John" and eve.key.startswith("DOE_John-from-eve-etu-example-")
        assert sorted(a.key for a in plan.plan(records)) == sorted([john.key, eve.key])


def test_the_student_is_the_sender_whose_from_reads_as_him_even_when_she_wrote_first(tmp_path):
    mails = [ti.Mail("DLCV-thursday: DOE John Lab2", "mallory@evil.example", datetime(2026, 12, 9, 12, 0, tzinfo=CET),
                     [("DOE John Lab2 DLCV.tar.bz2", tar(tmp_path, "hers"))]),
             ti.Mail("DLCV-thursday: DOE John Lab2", "jdoe@etu.example", datetime(2026, 12, 10, 20, 0, tzinfo=CET),
                     [("DOE John Lab2 DLCV.tar.bz2", tar(tmp_path, "his"))])]
    records = by_key(intake.collect(ti.write_mbox(tmp_path / "Inbox", mails), tmp_path / "in",
                                    load_rubric(RUBRIC_PATH)).records)
    # Neither From holds "doe" and "john": the earliest sender's is the plain row, the other's its own.
    assert records["DOE_John"].sender == "mallory@evil.example"
    other = next(r for k, r in records.items() if k != "DOE_John")
    assert other.path.read_bytes() == tar(tmp_path, "his") and other.key.startswith("DOE_John-from-jdoe")
    assert records["DOE_John"].also_from == ["jdoe@etu.example"]


def test_one_sender_writing_twice_still_gets_one_row(tmp_path, mails):
    rubric = rubric_with(tmp_path, {"deadlines": {"thursday": THURSDAY.isoformat()}})
    records = intake.collect(ti.write_mbox(tmp_path / "Inbox", mails), tmp_path / "in", rubric).records
    doe = by_key(records)["DOE_John"]
    assert not any("also sent mail" in w for r in records for w in r.warnings)
    assert any("also received, not graded" in w for w in doe.warnings)


ON_TIME = datetime(2026, 12, 10, 20, 0, tzinfo=CET)
TWO_DAYS_LATE = datetime(2026, 12, 12, 20, 0, tzinfo=CET)


def _one(tmp_path, mail_, write=ti.write_mbox):
    tmp_path.mkdir(parents=True, exist_ok=True)
    rubric = rubric_with(tmp_path, {"deadlines": {"thursday": THURSDAY.isoformat()}, "policy": {"per_started_day": 1}})
    (record,) = intake.collect(write(tmp_path / "box", [mail_]), tmp_path / "in", rubric).records
    return record, lateness.assess(rubric.lateness, record.group, record.received)


def test_lateness_is_the_servers_received_time_not_the_senders_date(tmp_path):
    # Two days late at the teacher's server, with a Date that claims it was on time, and a forged
    # Received header of her own below the server's.
    forged = ("from laptop by smtp.etu.example; " + "Thu, 10 Dec 2026 20:00:00 +0100")
    late = ti.Mail("DLCV-thursday: DOE John Lab2", "john@etu.example", ON_TIME,
                   [("DOE John Lab2 DLCV.tar.bz2", tar(tmp_path, "x"))], received=TWO_DAYS_LATE,
                   extra_headers=[("Received", forged)])
    for write in (ti.write_mbox, ti.write_maildir, ti.write_eml_folder):
        record, found = _one(tmp_path / write.__name__, late, write)
        assert record.received == TWO_DAYS_LATE and found.late_days == 2 and found.penalty == 2
        assert any("its Date header says 2026-12-10T20:00:00+01:00, but it was received at "
                   "2026-12-12T20:00:00+01:00" in w for w in record.warnings)
        assert not any("taken from" in w for w in record.warnings)


def test_without_received_header_the_mbox_from_line_then_maildir_then_date(tmp_path):
    x = [("DOE John Lab2 DLCV.tar.bz2", tar(tmp_path, "x"))]
    mbox = ti.Mail("DLCV-thursday: DOE John Lab2", "john@etu.example", ON_TIME, x, server=False,
                   from_line=TWO_DAYS_LATE)
    record, found = _one(tmp_path / "mbox", mbox)
    assert record.received == TWO_DAYS_LATE and found.late_days == 2        # read in UTC: the rubric's zone
    assert any("received time taken from the mbox From line" in w for w in record.warnings)

    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    unsent = ti.Mail("DLCV-thursday: DOE John Lab2", "john@etu.example", ON_TIME, x, server=False)
    (maildir / "new" / f"{int(TWO_DAYS_LATE.timestamp())}.M1P1.mx.univ.example").write_bytes(
        ti.message(unsent).as_bytes())
    (record,) = intake.collect(maildir, tmp_path / "in2", load_rubric(RUBRIC_PATH)).records
    assert record.received == TWO_DAYS_LATE
    assert any("received time taken from Maildir's delivery time" in w for w in record.warnings)

    record, found = _one(tmp_path / "eml", unsent, ti.write_eml_folder)    # only Date is left
    assert record.received == ON_TIME and found.late_days == 0
    assert any("received time taken from its Date header, which the sender writes" in w for w in record.warnings)


def test_a_forward_as_attachment_keeps_the_forwarders_sender_and_time(tmp_path):
    inner = ti.message(ti.Mail("DLCV-thursday: DOE John Lab2", "john@etu.example", ON_TIME,
                               [("DOE John Lab2 DLCV.tar.bz2", tar(tmp_path, "x"))], received=ON_TIME))
    outer = ti.message(ti.Mail("Fwd: my lab", "Eve <eve@etu.example>", TWO_DAYS_LATE, []))
    outer.add_attachment(inner)
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "fwd.eml").write_bytes(outer.as_bytes())
    (record,) = intake.collect(tmp_path / "saved", tmp_path / "in", load_rubric(RUBRIC_PATH)).records
    assert record.key == "DOE_John"                                    # who it is about: the inner subject
    assert record.sender == "Eve <eve@etu.example>" and record.received == TWO_DAYS_LATE
    assert any("forwarded by Eve <eve@etu.example> (the original from john@etu.example)" in w
               for w in record.warnings)


HOSTILE_MAILS = ti.hostile_mails()
HOSTILE_REASONS = {
    "8,000 encoded words in the Subject": "its Subject header is 167999 characters long",
    "50,000 encoded words, folded": "its Subject header is 899998 characters long (at most 8192",
    "150 encoded words in 3 KB": "its Subject header holds 150 encoded words",
    "a From of 10,000 addresses": "its From header is 168888 characters long",
    "a Content-Type of 10,000 parameters": "its Content-Type header is 88919 characters long",
    "100 parts of 6.5 KB headers": "its headers are over 65536 characters in all",
    "300 MIME parts": "it has more than 100 MIME parts",
    "MIME parts nested 200 deep": "its MIME parts are nested more than 8 deep",
}


@pytest.mark.parametrize("name", HOSTILE_REASONS)
def test_a_mail_over_the_header_and_mime_caps_costs_its_own_row_only(tmp_path, name):
    honest = ti.message(ti.Mail("DLCV-thursday: DOE John Lab2", "john@etu.example", ON_TIME,
                                [("DOE John Lab2 DLCV.tar.bz2", tar(tmp_path, "x"))])).as_bytes()
    box = ti.write_raw_mbox(tmp_path / "Inbox", [HOSTILE_MAILS[name], honest])
    records = intake.collect(box, tmp_path / "in", load_rubric(RUBRIC_PATH)).records
    (bad,) = [r for r in records if r.status == "bad-message"]
    assert bad.reason.startswith(f"Inbox message 1: not read: {HOSTILE_REASONS[name]}") and len(bad.reason) < 200
    (good,) = [r for r in records if r.status != "bad-message"]
    assert good.key == "DOE_John" and good.path is not None


def test_every_hostile_mail_is_named():
    assert set(HOSTILE_MAILS) == set(HOSTILE_REASONS)
