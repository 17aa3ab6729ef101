"""Hand-given points for the written parts, from a CSV a teacher fills in a spreadsheet.

Two forms, a header row required (column names in any case and order; extra columns ignored):
- one student (``grade --manual``): ``question, points, comment``;
- a class (``batch --manual``): ``student, question, points, comment``.
``comment`` is optional. Accepted as spreadsheets export them: UTF-8 with or without a BOM,
``,`` or ``;`` (or tab) separated, decimal commas ("1,5"), CRLF. A question may be written
``q1_2``, ``Q1.2`` or ``1.2``. A row whose points cell is empty is skipped (that part stays
pending), so a half-filled sheet can be merged as it goes.

Students (batch form) are matched by ``student_key``: case, accents, ``_``/``-``/extra spaces
and word order do not matter, so "Doe John", "DOE_John" and "john doe" are the same student.
``load_batch`` checks a class file against the rubric at once; ``grader.batch.rows.Rows`` merges each
student's entries into the row whose name (or file name, or folder key) has the same key.

Every problem raises ``grader.errors.UsageError`` with one line naming the CSV file and line.
"""
import csv
import io
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from grader import read_input
from grader.errors import UsageError
from grader.results import QuestionResult, Report
from grader.rubric import Rubric
from lab2check import questions

# Header names a teacher may use for each column (compared case-insensitively).
COLUMNS = {
    "student": ("student", "name", "etudiant", "étudiant"),
    "question": ("question", "question_id"),
    "points": ("points", "score", "note"),
    "comment": ("comment", "comments", "commentaire"),
}


@dataclass(frozen=True)
class ManualEntry:
    """One row: points for one question's written part, and where they came from."""
    question: str
    points: float
    comment: str
    line: int          # the CSV line number (1 is the header), for error messages
    source: str        # the CSV file name
    student: str = ""  # the student as written in the CSV (batch form)

    def where(self) -> str:
        return f"{self.source} line {self.line}"


def student_key(name: str) -> str:
    """A name reduced to what identifies the student: no case, accents, separators or word order."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    words = re.split(r"[\s_\-.,]+", text)
    return " ".join(sorted(w for w in words if w))


def question_id(text: str) -> str | None:
    """'q1_2', 'Q1.2', '1.2', 'q1-2' -> 'q1_2'; 'report' -> 'report'; None when not a question id."""
    t = text.strip().lower().replace(".", "_").replace("-", "_").replace(" ", "")
    if re.fullmatch(r"\d_\d", t):
        t = "q" + t
    return t if t in questions.ids() else None


def parse_points(text: str) -> float:
    """'1', '1.5', '1,5', ' 2 ' -> float; ValueError otherwise (NaN and infinities included)."""
    t = text.strip().replace("\u00a0", "").replace(" ", "")
    if t.count(",") == 1 and "." not in t:
        t = t.replace(",", ".")  # a French decimal comma
    value = float(t)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _read_text(path: Path) -> str:
    raw = read_input(path, "the manual points file")
    try:
        return raw.decode("utf-8-sig")  # strips a BOM when there is one
    except UnicodeDecodeError:
        raise UsageError(f"{path.name}: not UTF-8 text (save the sheet as CSV UTF-8)") from None


def _delimiter(header: str) -> str:
    """The separator that splits the header into the most known column names."""
    known = {name for names in COLUMNS.values() for name in names}

    def score(sep):
        return sum(1 for cell in header.split(sep) if cell.strip().strip('"').lower() in known)
    return max((";", ",", "\t"), key=score)


def _columns(header: list[str], batch: bool, source: str) -> dict[str, int]:
    names = [h.strip().lower() for h in header]
    found: dict[str, int] = {}
    for column, aliases in COLUMNS.items():
        for i, name in enumerate(names):
            if name in aliases:
                found.setdefault(column, i)
    required = ["student", "question", "points"] if batch else ["question", "points"]
    missing = [col for col in required if col not in found]
    if missing:
        form = "student, question, points, comment" if batch else "question, points, comment"
        raise UsageError(f"{source} line 1: the header has no {' or '.join(missing)} column "
                         f"(expected: {form})")
    return found


def load_manual(path, *, batch: bool = False) -> dict:
    """Read a CSV of hand-given points.

    Returns ``{question_id: ManualEntry}``, or with ``batch=True``
    ``{student_key: {question_id: ManualEntry}}``. Unknown question ids, non-numbers and a
    question given twice (for one student) raise ``UsageError`` naming the line.
    """
    path = Path(path)
    source = path.name
    text = _read_text(path)
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise UsageError(f"{source}: empty file, a header row is required")
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(lines[0]))
    columns = _columns(next(rows), batch, source)
    entries: dict = {}
    for row in rows:
        line = rows.line_num  # counts physical lines, so a quoted multi-line comment stays right

        def cell(name, row=row):
            i = columns.get(name)
            return row[i].strip() if i is not None and i < len(row) else ""
        if not any(field.strip() for field in row):
            continue  # blank line
        if not cell("points"):
            continue  # not graded yet: the part stays pending
        qid = question_id(cell("question"))
        if qid is None:
            raise UsageError(f"{source} line {line}: unknown question {cell('question')!r} "
                             f"(known: {', '.join(questions.ids())})")
        try:
            points = parse_points(cell("points"))
        except ValueError:
            raise UsageError(f"{source} line {line}: points {cell('points')!r} is not a number") from None
        student = cell("student") if batch else ""
        if batch and not student_key(student):
            raise UsageError(f"{source} line {line}: no student name")
        entry = ManualEntry(qid, points, cell("comment"), line, source, student)
        bucket = entries.setdefault(student_key(student), {}) if batch else entries
        if qid in bucket:
            raise UsageError(f"{source} line {line}: {qid} is given twice"
                             + (f" for {student}" if batch else "") + f" (first on line {bucket[qid].line})")
        bucket[qid] = entry
    return entries


def apply_manual(report: Report, entries: dict) -> list[str]:
    """Set ``manual_points``/``manual_comment`` from ``entries``; returns warnings.

    Everything is checked before anything is changed, so an error leaves the report as it was.
    Applying the same entries twice gives the same report (idempotent).
    """
    by_id = {q.id: q for q in report.questions}
    for entry in entries.values():
        q = by_id.get(entry.question)
        if q is None:
            raise UsageError(f"{entry.where()}: question {entry.question} is not in this report")
        if q.max_manual <= 0:
            raise UsageError(f"{entry.where()}: {entry.question} has no written part graded by hand")
        if entry.points < 0:
            raise UsageError(f"{entry.where()}: {entry.question}: negative points ({entry.points:g})")
        if entry.points > q.max_manual + 1e-9:
            raise UsageError(f"{entry.where()}: {entry.question}: {entry.points:g} points, "
                             f"more than its written part's {q.max_manual:g}")
    warnings = []
    for entry in entries.values():
        q = by_id[entry.question]
        if q.manual_points is not None and abs(q.manual_points - entry.points) > 1e-9:
            warnings.append(f"{q.id}: hand-given points changed from {q.manual_points:g} "
                            f"to {entry.points:g} ({entry.where()})")
        q.manual_points = entry.points
        q.manual_comment = entry.comment
    pending = [q.id for q in report.questions if q.manual_pending]
    if pending:
        warnings.append(f"written parts still to grade by hand: {', '.join(pending)}")
    return warnings


def load_batch(path, rubric: Rubric) -> dict:
    """The batch manual file (``load_manual(batch=True)``), every entry checked now against the
    rubric's questions: a mistake in it stops the batch before any grading, not half-way."""
    template = Report(student="", submission="",
                      questions=[QuestionResult.of_rubric(qid, spec) for qid, spec in rubric.questions.items()])
    entries = load_manual(path, batch=True)
    for per_student in entries.values():
        apply_manual(template, per_student)
    return entries
