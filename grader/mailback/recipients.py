"""Who gets a reply: what a mail batch left in OUT (its rows), read back as one ``Student`` per
reply to write, or a ``Left`` saying why a row gets none. (Not the review app's hand grades,
``grader.review.gradebook``: this reads the batch's rows, whoever wrote them last.)

The final grade is the batch's rows: ``grades.csv`` (its status, points per question, total,
bonus and late days: what ``batch --manual`` or the review app wrote last) and each student's
``feedback.md`` (attached as it is). ``report.json`` gives what the CSV has no column for: the
questions' titles and maxima, the mistakes named, the lateness sentence, the written parts
still pending. ``mail.json`` (written by the batch from ``grader.batch.intake.mail.reply_to``) gives
the address and the message to answer.

The written parts still pending are read from ``report.json``, where ``batch --manual`` merges
hand-given points; an export that changes only ``grades.csv`` leaves them pending there, and
``mail-back --pending-ok`` is then the way to send.

A row of ``grades.csv`` is matched with its folder ``students/<key>/`` through the folder's
``archive.json`` (the same sha256, names and file name, as the CSV writes them); a row or a
folder that matches nothing, or more than one, is listed and gets no mail. Nothing here
sends or writes.
"""
import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch import outdir
from grader.batch.intake.files import shown
from grader.batch.outdir import OutDir
from grader.errors import UsageError
from grader.render import neutralise as N
from grader.results import Report, RowStatus

# Statuses with no grade: nothing was sent to mark, or the grader failed (never a zero by mail).
UNGRADED = (RowStatus.INTERNAL_ERROR, RowStatus.NO_ARCHIVE, RowStatus.BAD_MESSAGE)
_FIXED = ("last_name", "first_name", "file", "sha256", "status", "total", "bonus", "source", "group", "received",
          "late_days", "warnings", "similar_to")
# RFC 5322's msg-id, kept to printable ASCII without spaces or brackets inside: anything else a
# student's mail program put there is left out of the reply's threading headers.
_MSG_ID = re.compile(r"<[!-;=?-~]{1,250}@[!-;=?-~]{1,250}>")
# A deliverable address: ASCII, one local part and a dotted domain (no SMTPUTF8, no IP literal).
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+")
MAX_REFERENCES = 10


@dataclass
class Student:
    """One graded row of a mail batch, with what its reply needs."""
    key: str                    # the folder under OUT/students
    folder: Path
    address: str                # the From address of the mail whose archive was graded
    name: str                   # that From's display name (one line, bounded), "" when none
    message_id: str             # the student's Message-ID, "" when it had none that is valid
    references: list[str]       # the student's References (valid ids only, the last few)
    subject: str                # the student's Subject (one line)
    row: dict                   # the grades.csv row (column -> cell)
    points: dict[str, str]      # question id -> the CSV's points cell
    report: Report
    feedback: bytes             # feedback.md
    feedback_html: bytes | None = None   # feedback.html, where one was written
    also_from: list[str] = field(default_factory=list)   # other senders of mail read as this student

    @property
    def display(self) -> str:
        return " ".join(x for x in (self.row.get("last_name", ""), self.row.get("first_name", "")) if x) or self.key

    def grade(self) -> dict:
        """The grade the reply reports, as plain data: what its identity is derived from and
        what ``--resend`` compares."""
        return {"status": self.row.get("status", ""), "total": self.row.get("total", ""),
                "total_max": _pts(self.report.total_max), "bonus": self.row.get("bonus", ""),
                "late_days": self.row.get("late_days", ""), "points": dict(self.points),
                "feedback_sha256": hashlib.sha256(self.feedback + (self.feedback_html or b"")).hexdigest()}


@dataclass
class Left:
    """A row (or folder) that gets no reply, and why."""
    who: str
    why: str


def _pts(x) -> str:
    from grader.render.common import pts
    return pts(x)


def read_csv(out: Path) -> tuple[list[str], list[dict]]:
    path = OutDir(out).grades_csv
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as err:
        raise UsageError(f"{path}: {err.strerror or err} (run `python -m grader batch` into {out} first)") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8: is it the batch's {outdir.GRADES_CSV}?") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = list(reader.fieldnames or [])
    if not {"last_name", "first_name", "sha256", "status", "total"} <= set(header):
        raise UsageError(f"{path} is not a batch's {outdir.GRADES_CSV} (no last_name, status or total column)")
    return header, list(reader)


def _match_key(meta_or_row: dict, from_marker: bool) -> tuple:
    if from_marker:
        cell = N.csv_cell
        return (meta_or_row.get("sha256", ""), cell(meta_or_row.get("last_name", "")),
                cell(meta_or_row.get("first_name", "")), cell(meta_or_row.get("file", "")))
    return (meta_or_row.get("sha256", ""), meta_or_row.get("last_name", ""), meta_or_row.get("first_name", ""),
            meta_or_row.get("file", ""))


def _json(path: Path):
    return N.json_loads(path.read_text(encoding="utf-8"))


def message_ids(text: str) -> list[str]:
    """The valid msg-ids in a header's text, in order."""
    return _MSG_ID.findall(str(text))


def deliverable(address: str) -> bool:
    return bool(_ADDRESS.fullmatch(address or "")) and ".." not in address and not address.startswith(".")


def read(out: Path) -> tuple[list[Student], list[Left]]:
    """Every row of ``out/grades.csv`` as a ``Student`` to reply to, or a ``Left`` saying why not;
    both sorted by folder key. Raises ``UsageError`` when OUT holds no batch's ``grades.csv``."""
    out = Path(out)
    header, rows = read_csv(out)
    questions = [c for c in header if c not in _FIXED]
    by_row: dict[tuple, list[dict]] = {}
    for row in rows:
        by_row.setdefault(_match_key(row, False), []).append(row)
    folders: dict[tuple, list[Path]] = {}
    for folder in OutDir(out).student_folders():
        try:
            meta = _json(folder / outdir.ARCHIVE_JSON)
        except (OSError, ValueError):
            continue        # not a complete result: the batch lists it
        folders.setdefault(_match_key(meta, True), []).append(folder)
    students, left = [], []
    for match, found in sorted(by_row.items()):
        row = found[0]
        who = " ".join(x for x in (row["last_name"], row["first_name"]) if x) or row.get("file", "") or "(unnamed)"
        where = folders.get(match, [])
        if len(found) > 1 or len(where) != 1:
            left.append(Left(who, f"its row of {outdir.GRADES_CSV} matches no student folder (or several): "
                                  "re-run the batch"))
            continue
        try:
            student = _student(where[0], row, questions)
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
            left.append(Left(where[0].name, f"its results cannot be read: {type(err).__name__}: {shown(err, 120)}"))
            continue
        if isinstance(student, Left):
            left.append(student)
        else:
            students.append(student)
    return sorted(students, key=lambda s: s.key), sorted(left, key=lambda x: x.who)


def _student(folder: Path, row: dict, questions: list[str]) -> "Student | Left":
    key = folder.name
    status = row["status"]
    if status in UNGRADED or not row.get("total"):
        return Left(key, f"no grade ({status})" + (f": {shown(row.get('warnings', ''), 160)}"
                                                     if status != RowStatus.INTERNAL_ERROR else ""))
    try:
        mail = _json(folder / outdir.MAIL_JSON)
    except FileNotFoundError:
        return Left(key, f"not from mail (no {outdir.MAIL_JSON}): nothing to reply to")
    address = str(mail.get("address", ""))
    if mail.get("problem") or not deliverable(address):
        why = mail.get("problem") or f"its From address {shown(address, 120)!r} is not one this grader sends to"
        return Left(key, f"no reply: {shown(why, 200)}")
    report = Report.from_dict(_json(folder / outdir.REPORT_JSON))
    html = folder / outdir.FEEDBACK_HTML
    ids = message_ids(mail.get("message_id", ""))
    points = {q.id: row.get(q.id, "") for q in report.questions if q.id in questions}
    return Student(key, folder, address, shown(mail.get("name", ""), 120), ids[0] if len(ids) == 1 else "",
                   message_ids(mail.get("references", ""))[-MAX_REFERENCES:], shown(mail.get("subject", ""), 200),
                   row, points, report, (folder / outdir.FEEDBACK_MD).read_bytes(),
                   html.read_bytes() if html.is_file() else None,
                   [a for a in mail.get("also_from", []) if isinstance(a, str)])
