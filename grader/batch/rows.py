"""A batch's rows: ``Row`` (one archive's line of ``grades.csv``), ``Rows`` (the rows of one
run, written as each arrives) and what reads a row back from its student folder.

A row is written as its student folder's files (``write_student``: ``report.json``,
``results.json``, ``feedback.md``, ``mail.json`` and, last, the marker ``archive.json``; every
name from ``grader.batch.outdir``) and its line of ``grades.csv`` (``Rows.write_csv``: the whole
file again, atomically). ``previous`` rebuilds an up-to-date archive's row from the folder an
earlier run wrote. The review app's export (``grader.review.export``) uses the same ``Rows``, so
its merge of hand grades writes what a batch would. The order of a run (intake, plan, engine,
the end) is ``grader.batch.run``'s; this module grades nothing.

``Row.status`` is the report's ``RowStatus``: the status of one whole submission's grading, a
batch row's or ``python -m grader grade``'s alike (``grader.results``).
"""
import contextlib
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from grader import fsutil, manual
from grader.batch import lateness, outdir
from grader.batch.intake.worksheet import Worksheet
from grader.batch.outdir import OutDir
from grader.batch.plan import Archive
from grader.batch.task import not_graded
from grader.errors import UsageError
from grader.manual import ManualEntry
from grader.render import moodle, render_markdown, summary_md, to_gradescope
from grader.render import neutralise as N
from grader.render.common import pts
from grader.results import QuestionStatus, Report, RowStatus
from grader.rubric import Rubric
from grader.submission import figure
from grader.submission.archive import claimed_format, detect_format

# ``manual.load_batch``'s: the student's key (``manual.student_key``) -> question -> its entry
ManualEntries = dict[str, dict[str, ManualEntry]]


@dataclass
class Row:
    """One archive's line in ``grades.csv``: where it came from, and its grade."""
    file: str                  # the archive's file name in SOURCE
    sha256: str                # of the archive's bytes ("" when it could not be read)
    key: str                   # its folder under OUT/students
    last: str                  # "" when the file name could not be read
    first: str
    report: Report
    fingerprint: dict = field(default_factory=dict)   # grader.batch.similarity.fingerprint.fingerprint of lab2/
    notes: list[str] = field(default_factory=list)    # this run's warnings: duplicates, hand-given points
    up_to_date: bool = False   # rebuilt from an earlier run's report.json, not regraded
    similar_to: list[str] = field(default_factory=list)   # set at the end by grader.batch.similarity.compare
    source: str = "folder"     # where it arrived: folder | mail | moodle (grader.batch.intake)
    group: str = ""            # the group whose deadline applies ("" when none was found)
    received: str = ""         # ISO 8601, "" when unknown
    participant: str = ""      # Moodle's participant id
    moodle_folder: str = ""    # the participant's folder in Moodle's download
    mail: dict = field(default_factory=dict)   # a mail's reply envelope (intake.mail.reply_to), for mail-back

    @property
    def late_days(self) -> int | None:
        return self.report.late_days

    @property
    def status(self) -> RowStatus:
        return self.report.status

    @property
    def reason(self) -> str:
        """Why it was not graded normally, in one line ("" when it was)."""
        if self.report.error:
            return self.report.error
        if self.status != RowStatus.GRADED:  # import-error, timeout: the questions say what stopped them
            return next((q.summary for q in self.report.questions
                         if q.status not in (QuestionStatus.PASSED, QuestionStatus.MANUAL)
                         and q.summary), "")
        return ""

    @property
    def warnings(self) -> list[str]:
        """What the CSV's warnings cell lists: why it was not graded, then every warning."""
        reason = [f"{self.status}: {self.reason}"] if self.reason else []
        return reason + list(self.report.warnings) + list(self.notes)


# --- a student's folder -------------------------------------------------------------------------

def write_student(folder: Path, row: Row, notes: list[str] | None = None) -> None:
    """The student's outputs; the marker last, so that a folder with a marker is complete.
    The marker also keeps where the archive came from and ``notes`` (the row's notes but those
    of the hand-given points), so that ``grader.review``'s export rebuilds the row without SOURCE."""
    folder.mkdir(parents=True, exist_ok=True)
    report = row.report
    fsutil.atomic_write(folder / outdir.REPORT_JSON, N.json_dumps(report.to_dict(), indent=1) + "\n",
                        if_changed=True)
    fsutil.atomic_write(folder / outdir.RESULTS_JSON, N.json_dumps(to_gradescope(report), indent=2) + "\n",
                        if_changed=True)
    fsutil.atomic_write(folder / outdir.FEEDBACK_MD, render_markdown(report), if_changed=True)
    if not report.questions:
        (folder / outdir.LOSS_CURVES).unlink(missing_ok=True)  # an earlier version's curves would mislead
    if not report.figure_file:
        for name in figure.NAMES:  # nor an earlier version's figure
            (folder / name).unlink(missing_ok=True)
    if row.mail:   # what grader.mailback answers: the message this archive came from
        fsutil.atomic_write(folder / outdir.MAIL_JSON, N.json_dumps(row.mail, indent=1) + "\n", if_changed=True)
    else:
        (folder / outdir.MAIL_JSON).unlink(missing_ok=True)
    marker = {"file": row.file, "sha256": row.sha256, "rubric_sha256": report.rubric_sha256, "key": row.key,
              "last_name": row.last, "first_name": row.first, "status": report.status,
              "fingerprint": row.fingerprint,
              "origin": {"source": row.source, "group": row.group, "received": row.received,
                         "participant": row.participant, "moodle_folder": row.moodle_folder},
              "notes": list(row.notes if notes is None else notes)}
    # "file" as neutralise.text shows it
    fsutil.atomic_write(folder / outdir.ARCHIVE_JSON, N.json_dumps(marker, indent=1) + "\n", if_changed=True)


# --- resumption ---------------------------------------------------------------------------------

def previous(folder: Path, a: Archive, rubric: Rubric) -> Row | None:
    """The earlier run's row for ``a`` when it is complete and still valid, else None."""
    try:
        meta = N.json_loads((folder / outdir.ARCHIVE_JSON).read_text(encoding="utf-8"))
        report = Report.from_dict(N.json_loads((folder / outdir.REPORT_JSON).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if (not a.sha256 or meta.get("sha256") != a.sha256 or meta.get("file") != N.text(a.file)
            or report.rubric_sha256 != rubric.sha256 or report.status == RowStatus.INTERNAL_ERROR):
        return None
    late(report, a, rubric)
    return Row(a.file, a.sha256, a.key, meta.get("last_name", ""), meta.get("first_name", ""), report,
               meta.get("fingerprint") or {}, list(a.notes), up_to_date=True, **a.origin())


def late(report: Report, a: Archive, rubric: Rubric) -> None:
    """The rubric's lateness, applied again at every run (a new deadline needs no regrading)."""
    r = a.record
    received = r.received if r else None
    found = lateness.assess(rubric.lateness, r.group if r else "", received)
    report.lateness, report.late_days, report.late_penalty = found.line(received), found.late_days, found.penalty


# --- failures -----------------------------------------------------------------------------------

def failed_report(report: Report, why: str, rubric: Rubric) -> Report:
    """An ``internal-error`` report in place of ``report``, for a failure after the grading."""
    failed = not_graded(report.student, report.submission, RowStatus.INTERNAL_ERROR, why, rubric, report.sandbox)
    failed.warnings = list(report.warnings) + [traceback.format_exc(limit=5)]
    return failed


# --- the rows of one run --------------------------------------------------------------------------

class Rows:
    """The rows of one run so far, by folder key, and how to write them (each student folder and
    ``grades.csv``). ``entries``: the hand-given points merged into every row (``manual_csv``),
    None to keep those merged last time."""

    def __init__(self, out: Path, rubric: Rubric, entries: ManualEntries | None):
        self.out, self.rubric, self.entries = OutDir(out), rubric, entries
        self.rows: dict[str, Row] = {}
        self.matched: set[str] = set()   # manual-file students found in some row
        self.graded = 0

    def merge_manual(self, row: Row) -> None:
        if self.entries is None:
            return
        report = row.report
        found_key = next((manual.student_key(n) for n in (f"{row.last} {row.first}", row.file, row.key)
                          if n.strip() and manual.student_key(n) in self.entries), None)
        if found_key:
            self.matched.add(found_key)
        if not report.questions:
            if found_key:
                row.notes.append("hand-given points in the manual file not merged: nothing was graded")
            return
        for q in report.questions:  # the file is the whole truth about hand-given points
            q.manual_points, q.manual_comment = None, ""
        try:
            row.notes += manual.apply_manual(report, self.entries.get(found_key, {}) if found_key else {})
        except UsageError as err:  # checked at load; kept as a row warning should a report differ
            row.notes.append(str(err))

    def add(self, row: Row, csv: bool = True) -> None:
        """Keep ``row`` and write its outputs (and ``grades.csv`` unless ``csv`` is False); when
        they cannot be written the row says so (``internal-error``, retried next run) and the
        batch goes on."""
        try:
            before = list(row.notes)
            self.merge_manual(row)
            write_student(self.out.student(row.key), row, before)
        except Exception as err:  # noqa: BLE001 - one archive's files, never the whole batch
            row.report = failed_report(row.report, f"its results could not be written: {type(err).__name__}: {err}",
                                       self.rubric)
            with contextlib.suppress(OSError):
                self.out.student(row.key, outdir.ARCHIVE_JSON).unlink(missing_ok=True)
        self.rows[row.key] = row
        if csv:
            self.write_csv()

    def write_csv(self) -> None:
        fsutil.atomic_write(self.out.grades_csv, summary_md.grades_csv(self.rows.values(), self.rubric),
                            if_changed=True)

    def finish(self, a: Archive, result: dict | None, death: str | None) -> Row:
        """The row of an archive graded now (or whose worker died, or that failed before)."""
        try:
            row = self._row(a, result, death)
        except Exception as err:  # noqa: BLE001 - the row still exists, and says what failed
            report = not_graded(N.line(a.file), N.line(a.file), RowStatus.INTERNAL_ERROR,
                                f"{type(err).__name__}: {err}", self.rubric)
            row = Row(a.file, a.sha256, a.key, "", "", report, {}, list(a.notes), **a.origin())
        if not a.refused:      # a refused file or a mail without an archive: nothing was graded
            self.graded += 1
        self.add(row)
        return row

    def _row(self, a: Archive, result: dict | None, death: str | None) -> Row:
        fingerprint: dict = {}
        if result is None and a.failed:
            report = not_graded(a.student, a.file, RowStatus.INTERNAL_ERROR, a.failed, self.rubric)
        elif result is None:
            report = not_graded(a.student, a.file, RowStatus.INTERNAL_ERROR, death or a.refused, self.rubric)
            if a.refused:
                report.status = a.status
                report.sandbox = ("student code was not run: the archive was refused" if a.path is not None
                                  else "student code was not run: no archive")
        else:
            report, fingerprint = Report.from_dict(result["report"]), result["fingerprint"]
        report.student = a.student
        report.warnings[:0] = self._archive_warnings(a)
        if a.misnamed:
            report.penalty = self.rubric.naming_penalty
        late(report, a, self.rubric)
        return Row(a.file, a.sha256, a.key, a.name.last if a.name else "", a.name.first if a.name else "",
                   report, fingerprint, list(a.notes), **a.origin())

    def _archive_warnings(self, a: Archive) -> list[str]:
        """Warnings about the archive itself, kept in its report (the student sees them too)."""
        out = []
        if a.misnamed:
            penalty = self.rubric.naming_penalty
            out.append("the file name does not read as 'LASTNAME firstname Lab2 DLCV.tar.bz2': graded as "
                       f"{a.key}" + (f", naming penalty -{pts(penalty)}" if penalty else ""))
        if not a.refused and not a.failed and a.path is not None:
            try:
                claimed, found = claimed_format(a.file), detect_format(a.path)
            except OSError:
                return out   # the grading itself said why the file could not be read
            if claimed and found not in ("empty", "unknown") and claimed != found:
                out.append(f"the file is a {found} archive although its name says {claimed}")
        return out

    def unmatched_manual(self) -> list[str]:
        if not self.entries:
            return []
        out = []
        for key, per in sorted(self.entries.items()):
            if key not in self.matched:
                first = min(per.values(), key=lambda e: e.line)
                out.append(f"{first.where()}: no archive for the student {first.student!r} (points not merged)")
        return out


def write_moodle(rows: Iterable[Row], sheet: Worksheet | None, rubric: Rubric, out: Path) -> list[str]:
    """``OUT/moodle/``: feedback-files.zip, and the filled worksheet under its own file name."""
    files, notes = moodle.export(rows, sheet, rubric)
    folder = OutDir(out).moodle
    folder.mkdir(exist_ok=True)
    for name, data in files.items():
        fsutil.atomic_write(folder / name, data, if_changed=True)
    return notes
