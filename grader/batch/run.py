"""Grade a folder of submission archives into OUT: one row per archive, whatever happens.

A run, stage by stage, and why in this order:
0. intake (``grader.batch.intake``): SOURCE is a folder of archives, a mailbox (mbox, Maildir, .eml
   files) or a Moodle download; it becomes a list of records (archive, student, source, group,
   received time), archives from mail and zips written once under ``OUT/incoming/``.
1. plan: in a folder of archives, every file is one archive, whatever its name: any length,
   script, control character, a leading ``-`` or ``=``, only dots or spaces, undecodable bytes
   (subfolders are not entered; the format is read from the bytes). Only what an operating
   system leaves beside files is skipped (``.DS_Store``, ``._*``, ``Thumbs.db``, ``desktop.ini``,
   ``.directory``, ``.~lock.*#``). Each gets its sha256, the student's name (from the file name,
   or the mail's subject, or Moodle), and its own folder ``OUT/students/<key>/`` (two archives
   with one key get ``<key>-<sha256 prefix>`` each; a key is at most 80 ASCII bytes,
   ``names.MAX_KEY`` + suffixes). An
   archive whose folder already holds a complete result for the same sha256, file name and
   rubric is *up to date*: its row is rebuilt from ``report.json`` and it is not regraded
   (``force`` regrades all; an ``internal-error`` row, the grader's own failure, is always retried).
2. the reference cache is built here, once, before any worker starts: workers only load it.
3. an engine (``grader.batch.engines``) grades the others with ``grader.batch.task.grade_archive``,
   one archive at a time per worker, each running one sandboxed child: ``jobs`` local worker
   processes (``grader.batch.engines.local``; a worker that dies costs its own archive only: that row
   says so, ``internal-error``) or a Dask cluster (``grader.batch.engines.dask_engine``); the rows are
   written here either way, as each result arrives. Planning is ``grader.batch.plan``.
4. as soon as an archive is done its outputs are written, each file atomically, and
   ``grades.csv`` is rewritten: an interrupted batch (Ctrl-C, a kill) keeps every finished row,
   and running the same command again finishes the rest.
5. at the end: ``similarity.html`` and the ``similar_to`` column (``grader.batch.similarity.compare``),
   ``summary.md`` and ``histogram.png`` (``grader.render.summary_md``), one line on stdout.

Lateness (``grader.batch.lateness``) is applied at every run too, from each record's received time and
group and the rubric's ``lateness``: a received time known later (a worksheet given on a second
run) updates the totals without regrading (editing the rubric file regrades, as always). A
Moodle source also gets ``OUT/moodle/``: ``feedback-files.zip`` and, with ``worksheet``, the
filled grading worksheet (``grader.render.moodle``).

Hand-given points (``manual_csv``, the batch form: student, question, points, comment) are
merged at every run into every matching report, graded now or up to date, so a new file updates
the totals without regrading. With a file, its entries *replace* all hand-given points (a
student it leaves out is pending again); without one, the points merged last time are kept.

OUT's layout (every folder and file this writes, and who reads each) is drawn once, in
``grader.batch.outdir``; this module still spells some of its names itself (MARKER, MAIL, WORK).

A file name that does not read as a student's name is graded under ``names.fallback_key``,
with a warning and the rubric's ``naming_penalty``.

Nothing one archive does ends the batch: an exception while planning, grading or writing one
archive (an ``OSError`` on a path, a name that does not encode...) becomes that archive's row,
``internal-error`` with the reason, and the others go on. Every file is written through
``grader.render.neutralise``: ``report.json``, ``results.json`` and ``archive.json`` are strict
JSON, ``grades.csv`` and the Markdown files hold no formula, HTML or control character a student
typed, and the lines printed show control characters escaped.

Archives are unpacked (``api.grade``) below ``OUT/.work`` when that path is short enough for
every archive ``grader.submission.archive`` accepts (``archive.scratch_parent``), else in the system's
temporary folder: ``grade`` and ``batch`` accept exactly the same archives.
"""
import contextlib
import io
import shutil
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from grader import fsutil, manual
from grader.answers import cache as answers_cache
from grader.batch import intake, lateness
from grader.batch.engines.local import LocalEngine
from grader.batch.intake import worksheet as moodle_worksheet
from grader.batch.plan import Archive, plan, stale_folders, subfolders
from grader.batch.similarity import compare
from grader.batch.task import PNG, not_graded
from grader.errors import EngineLost, UsageError
from grader.render import moodle as moodle_export
from grader.render import neutralise as N
from grader.render import plots, render_markdown, to_gradescope
from grader.render import summary_md as summary
from grader.render.common import pts
from grader.results import QuestionStatus, Report, RowStatus
from grader.sandbox.process import REQUEST_OVERHEAD_SECONDS
from grader.submission import figure
from grader.submission.archive import claimed_format, detect_format
from lab2check import questions

MARKER = "archive.json"
MAIL = "mail.json"
WORK = ".work"


@dataclass
class Row:
    """One archive's line in ``grades.csv``: where it came from, and its grade."""
    file: str                  # the archive's file name in FOLDER
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


@dataclass
class BatchResult:
    rows: list[Row]
    internal_errors: list[str]   # the files whose grading failed on the grader's side
    skipped: int                 # archives up to date, not regraded
    graded: int                  # archives graded by this run


# --- writing ------------------------------------------------------------------------------------

def _write_student(folder: Path, row: Row, notes: list[str] | None = None) -> None:
    """The student's outputs; the marker last, so that a folder with a marker is complete.
    The marker also keeps where the archive came from and ``notes`` (the row's notes but those
    of the hand-given points), so that ``grader.review``'s export rebuilds the row without SOURCE."""
    folder.mkdir(parents=True, exist_ok=True)
    report = row.report
    fsutil.atomic_write(folder / "report.json", N.json_dumps(report.to_dict(), indent=1) + "\n", if_changed=True)
    fsutil.atomic_write(folder / "results.json", N.json_dumps(to_gradescope(report), indent=2) + "\n", if_changed=True)
    fsutil.atomic_write(folder / "feedback.md", render_markdown(report), if_changed=True)
    if not report.questions:
        (folder / PNG).unlink(missing_ok=True)  # an earlier version's curves would mislead
    if not report.figure_file:
        for name in figure.NAMES:  # nor an earlier version's figure
            (folder / name).unlink(missing_ok=True)
    if row.mail:   # what grader.mailback answers: the message this archive came from
        fsutil.atomic_write(folder / MAIL, N.json_dumps(row.mail, indent=1) + "\n", if_changed=True)
    else:
        (folder / MAIL).unlink(missing_ok=True)
    marker = {"file": row.file, "sha256": row.sha256, "rubric_sha256": report.rubric_sha256, "key": row.key,
              "last_name": row.last, "first_name": row.first, "status": report.status,
              "fingerprint": row.fingerprint,
              "origin": {"source": row.source, "group": row.group, "received": row.received,
                         "participant": row.participant, "moodle_folder": row.moodle_folder},
              "notes": list(row.notes if notes is None else notes)}
    # "file" as neutralise.text shows it
    fsutil.atomic_write(folder / MARKER, N.json_dumps(marker, indent=1) + "\n", if_changed=True)


# --- resumption ---------------------------------------------------------------------------------

def _previous(folder: Path, a: Archive, rubric) -> Row | None:
    """The earlier run's row for ``a`` when it is complete and still valid, else None."""
    try:
        meta = N.json_loads((folder / MARKER).read_text(encoding="utf-8"))
        report = Report.from_dict(N.json_loads((folder / "report.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if (not a.sha256 or meta.get("sha256") != a.sha256 or meta.get("file") != N.text(a.file)
            or report.rubric_sha256 != rubric.sha256 or report.status == RowStatus.INTERNAL_ERROR):
        return None
    _late(report, a, rubric)
    return Row(a.file, a.sha256, a.key, meta.get("last_name", ""), meta.get("first_name", ""), report,
               meta.get("fingerprint") or {}, list(a.notes), up_to_date=True, **a.origin())


def _late(report: Report, a: Archive, rubric) -> None:
    """The rubric's lateness, applied again at every run (a new deadline needs no regrading)."""
    r = a.record
    received = r.received if r else None
    found = lateness.assess(rubric.lateness, r.group if r else "", received)
    report.lateness, report.late_days, report.late_penalty = found.line(received), found.late_days, found.penalty


# --- failures -----------------------------------------------------------------------------------

def _failed_report(report: Report, why: str, rubric) -> Report:
    """An ``internal-error`` report in place of ``report``, for a failure after the grading."""
    failed = not_graded(report.student, report.submission, RowStatus.INTERNAL_ERROR, why, rubric, report.sandbox)
    failed.warnings = list(report.warnings) + [traceback.format_exc(limit=5)]
    return failed


# --- the batch ------------------------------------------------------------------------------------

GRADER_SECONDS = 120.0  # the grader's own work on one archive: unpacking, judging, REPORT.md, the plots


def time_budget(rubric) -> float:
    """Seconds after which a worker still grading one archive is taken as stuck (a grader bug).

    The longest the sandbox lets a submission inside its limits take, every request run one
    after the other to its wall-clock limit (the same limits ``grader.submission.grade`` gives them): each
    module imported in each of the two children (``import_seconds``), each unit question
    (``call_seconds`` for all its cases), each training (``wall_factor`` times ``train_seconds``:
    a ``train`` that sleeps uses no CPU time) and its ``predict`` (``wall_factor`` times
    ``call_seconds``); each request may add a fresh process's start and a failed one's stop
    (``REQUEST_OVERHEAD_SECONDS``); then ``GRADER_SECONDS`` of the grader's own work.
    """
    limits, overhead = rubric.limits, REQUEST_OVERHEAD_SECONDS
    imports = 2 * len(questions.modules()) * (limits.import_seconds + overhead)
    units = len(questions.unit_questions()) * (limits.call_seconds + overhead)
    trainings = len(questions.training_questions()) * (
        limits.wall_factor * limits.train_seconds + overhead + limits.wall_factor * limits.call_seconds + overhead)
    return imports + units + trainings + GRADER_SECONDS


def _lock(out: Path):
    return fsutil.locked(out / ".batch.lock", exclusive=True,
                         busy=f"another batch is writing to {out}: wait for it, or choose another --out")


class _Batch:
    """The state of one run: the rows so far, and how to write them."""

    def __init__(self, folder: Path, out: Path, rubric, entries: dict | None):
        self.folder, self.out, self.rubric, self.entries = folder, out, rubric, entries
        self.rows: dict[str, Row] = {}
        self.matched: set[str] = set()   # manual-file students found in some row
        self.graded = 0

    def student_folder(self, key: str) -> Path:
        return self.out / "students" / key

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
            row.notes += manual.apply_manual(report, self.entries.get(found_key, {}))
        except UsageError as err:  # checked at load; kept as a row warning should a report differ
            row.notes.append(str(err))

    def add(self, row: Row, csv: bool = True) -> None:
        """Keep ``row`` and write its outputs (and ``grades.csv`` unless ``csv`` is False); when
        they cannot be written the row says so (``internal-error``, retried next run) and the
        batch goes on."""
        try:
            before = list(row.notes)
            self.merge_manual(row)
            _write_student(self.student_folder(row.key), row, before)
        except Exception as err:  # noqa: BLE001 - one archive's files, never the whole batch
            row.report = _failed_report(row.report, f"its results could not be written: {type(err).__name__}: {err}",
                                        self.rubric)
            with contextlib.suppress(OSError):
                (self.student_folder(row.key) / MARKER).unlink(missing_ok=True)
        self.rows[row.key] = row
        if csv:
            self.write_csv()

    def write_csv(self) -> None:
        fsutil.atomic_write(self.out / "grades.csv", summary.grades_csv(self.rows.values(), self.rubric),
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
        if result is None and a.failed:
            report = not_graded(a.student, a.file, RowStatus.INTERNAL_ERROR, a.failed, self.rubric)
            fingerprint = {}
        elif result is None:
            report = not_graded(a.student, a.file, RowStatus.INTERNAL_ERROR, death or a.refused, self.rubric)
            if a.refused:
                report.status = RowStatus(a.status)
                report.sandbox = ("student code was not run: the archive was refused" if a.path is not None
                                  else "student code was not run: no archive")
            fingerprint = {}
        else:
            report, fingerprint = Report.from_dict(result["report"]), result["fingerprint"]
        report.student = a.student
        report.warnings[:0] = self._archive_warnings(a)
        if a.misnamed:
            report.penalty = self.rubric.naming_penalty
        _late(report, a, self.rubric)
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


def _progress_bar(total: int, up_to_date: int, progress):
    from tqdm import tqdm
    show = progress == "force" or (bool(progress) and sys.stderr.isatty())
    return tqdm(total=total, desc="grading", unit="archive", file=sys.stderr, disable=not show,
                dynamic_ncols=True, smoothing=0.1,
                postfix=f"{up_to_date} up to date" if up_to_date else None)


def run(folder, out, rubric, *, jobs: int, force: bool = False, manual_csv=None, progress=True,
        compare_with=None, worksheet=None, engine=None) -> BatchResult:
    """Grade every archive of ``folder`` (any SOURCE ``grader.batch.intake`` reads: a folder of archives,
    a mailbox, a Moodle download) into ``out``; see the module docstring.

    ``worksheet``: Moodle's grading worksheet, filled into ``out/moodle/``. ``compare_with``: a
    folder of earlier years' submissions for the near-duplicate report. ``progress``: True shows
    a progress bar on stderr when it is a terminal, ``"force"`` always, False never; the final
    one-line summary is always printed. ``engine``: where the archives are graded
    (``grader.batch.engines``; None: ``jobs`` local worker processes). Raises ``UsageError`` for a wrong
    source, worksheet or manual file (before any grading), ``KeyboardInterrupt`` and
    ``EngineLost`` (a cluster gone away) after writing what was done.
    """
    folder, out = Path(folder), Path(out)
    fmt = intake.detect(folder)
    if folder.is_dir() and out.resolve() == folder.resolve():
        # Its grades.csv and summary.md would be taken for archives on the next run.
        raise UsageError(f"--out {out} is the submissions folder itself: choose another output folder")
    sheet = moodle_worksheet.read(worksheet) if worksheet else None
    if sheet is not None and fmt != "moodle":
        raise UsageError(f"--moodle-worksheet needs a Moodle download as SOURCE, and {folder} is a {fmt} "
                         "(students are matched by Moodle's participant id, never by name)")
    entries = manual.load_batch(manual_csv, rubric) if manual_csv else None
    compare_with = compare.check_compare_with(compare_with)
    out.mkdir(parents=True, exist_ok=True)
    with _lock(out):
        engine = engine if engine is not None else LocalEngine(jobs)
        engine.check(rubric, out, folder)   # workers that cannot grade: one line, before anything is read or written
        found = intake.collect(folder, out / "incoming", rubric, sheet)
        return _run(found, folder, out, rubric, force, entries, progress, compare_with, engine)


def _run(found, folder, out, rubric, force, entries, progress, compare_with, engine) -> BatchResult:
    started = time.monotonic()
    batch = _Batch(folder, out, rubric, entries)
    archives = plan(found.records)
    todo = []
    for a in archives:
        try:
            previous = None if force else _previous(batch.student_folder(a.key), a, rubric)
        except Exception as err:  # noqa: BLE001 - then it is graded again
            previous, a.notes = None, a.notes + [f"its earlier results could not be read: {type(err).__name__}: {err}"]
        if previous is not None:
            batch.add(previous, csv=False)   # grades.csv is written once, below
        elif a.refused or a.failed:
            batch.finish(a, None, None)
        else:
            todo.append(a)
    skipped = sum(1 for r in batch.rows.values() if r.up_to_date)
    batch.write_csv()
    work = out / WORK
    shutil.rmtree(work, ignore_errors=True)  # a killed run's extraction folders
    interrupted, lost = False, None
    if todo:
        # Build the reference cache once, here, before the workers read it.
        answers_cache.load(rubric, (lambda line: print(line, file=sys.stderr, flush=True)) if progress else None)
        work.mkdir(mode=0o700)
        for a in list(todo):  # a folder without its marker is never taken as complete, whatever it holds
            try:
                (batch.student_folder(a.key) / MARKER).unlink(missing_ok=True)
            except OSError as err:
                a.failed = f"its folder students/{a.key} cannot be used: {err.strerror or err}"
                todo.remove(a)
                batch.finish(a, None, None)
        by_path = {str(a.path): a for a in todo}
        pool = engine.pool(rubric, work, time_budget(rubric))
        bar = _progress_bar(len(todo), skipped, progress)
        statuses = Counter()

        def done(task, result, death):
            row = batch.finish(by_path[task["path"]], result, death)
            statuses[row.status] += 1
            bar.set_postfix_str(", ".join(f"{n} {s}" for s, n in sorted(statuses.items())), refresh=False)
            bar.update(1)

        try:
            pool.run([{"path": str(a.path), "folder": str(batch.student_folder(a.key))} for a in todo], done)
        except KeyboardInterrupt:
            interrupted = True
        except EngineLost as err:   # the rows written stay, as for an interruption
            lost = err
        finally:
            pool.close(kill=interrupted)
            bar.close()
            shutil.rmtree(work, ignore_errors=True)
    rows = sorted(batch.rows.values(), key=summary.sort_key)
    notes = (subfolders(folder) if found.format == "folder" else []) + found.notes + batch.unmatched_manual() \
        + stale_folders(out, archives)
    if found.source == "moodle":
        notes += _write_moodle(rows, found.worksheet, rubric, out)
        batch.write_csv()      # with the rows' notes about the worksheet
    if interrupted or lost:
        notes.insert(0, f"{lost or 'interrupted'}: {len(archives) - len(rows)} of {len(archives)} archives not "
                        "graded yet; run the same command again to finish")
    similar = _similarity(rows, out, folder, rubric, compare_with, notes)
    batch.write_csv()   # with the similar_to column filled in
    _write_summary(rows, rubric, out, folder.name, notes, similar)
    for note in notes:
        print(f"warning: {N.terminal(note, newlines=False)}", file=sys.stderr)
    counts = Counter(r.status for r in rows)
    line = ", ".join(f"{counts[s]} {s}" for s in RowStatus if counts[s])
    print(f"{len(rows)} of {len(archives)} archives: {line or 'none'}; {batch.graded} graded now, {skipped} up to "
          f"date, {time.monotonic() - started:.0f} s -> {out / 'grades.csv'}, {out / 'summary.md'}")
    if interrupted:
        raise KeyboardInterrupt
    if lost:
        raise EngineLost(f"{lost}: {len(archives) - len(rows)} of {len(archives)} archives not graded yet (every row "
                         "written is kept); run the same command again to finish")
    return BatchResult(rows, [r.file for r in rows if r.status == RowStatus.INTERNAL_ERROR], skipped, batch.graded)


def _similarity(rows, out: Path, folder: Path, rubric, compare_with, notes: list[str]):
    """The near-duplicate report; its failure is a note, never a lost grade (grades.csv is written)."""
    try:
        similar = compare.for_batch(rows, out, folder, rubric, compare_with)
    except Exception as err:  # noqa: BLE001 - a hint for the teacher must not cost the batch
        notes.append(f"the similarity report could not be made: {type(err).__name__}: {err}")
        return None
    notes += similar.notes
    return similar


def _write_moodle(rows, sheet, rubric, out: Path) -> list[str]:
    """``OUT/moodle/``: feedback-files.zip, and the filled worksheet under its own file name."""
    files, notes = moodle_export.export(rows, sheet, rubric)
    (out / "moodle").mkdir(exist_ok=True)
    for name, data in files.items():
        fsutil.atomic_write(out / "moodle" / name, data, if_changed=True)
    return notes


def _write_summary(rows, rubric, out: Path, title: str, notes: list[str], similar=None) -> None:
    graded = [r for r in rows if r.status == RowStatus.GRADED]
    caption = "Totals of the graded archives" + ("" if summary.has_hand_points(graded) else " (automatic points only)")
    png = io.BytesIO()
    plots.histogram_png([r.report.total for r in graded], png, rubric.total, title=caption)
    fsutil.atomic_write(out / summary.HISTOGRAM, png.getvalue(), if_changed=True)
    fsutil.atomic_write(out / "summary.md", summary.summary_markdown(rows, rubric, title=title, notes=notes,
                                                              similar=similar), if_changed=True)
