"""Grade every submission of SOURCE into OUT: one row per archive, whatever happens.

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
   with one key get ``<key>-<sha256 prefix>`` each; a folder's name is at most
   ``plan.MAX_FOLDER`` ASCII bytes: a name key of at most ``names.MAX_KEY`` and its suffixes). An
   archive whose folder already holds a complete result for the same sha256, file name and
   rubric is *up to date*: its row is rebuilt from ``report.json`` and it is not regraded
   (``force`` regrades all; an ``internal-error`` row, the grader's own failure, is always retried;
   ``grader.batch.rows.previous``).
2. the reference cache is built here, once, before any worker starts: workers only load it.
3. an engine (``grader.batch.engines``) grades the others with ``grader.batch.task.grade_archive``,
   one archive at a time per worker, each running one sandboxed child: ``jobs`` local worker
   processes (``grader.batch.engines.local``; a worker that dies costs its own archive only: that row
   says so, ``internal-error``) or a Dask cluster (``grader.batch.engines.dask_engine``); the rows are
   written here either way, as each result arrives. Planning is ``grader.batch.plan``.
4. as soon as an archive is done its outputs are written, each file atomically, and
   ``grades.csv`` is rewritten (``grader.batch.rows``): an interrupted batch (Ctrl-C, a kill)
   keeps every finished row, and running the same command again finishes the rest.
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
``grader.batch.outdir``, and every path into OUT is taken from its ``OutDir``.

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
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from grader import fsutil, manual
from grader.answers import cache as answers_cache
from grader.batch import intake, outdir
from grader.batch.engines import Engine
from grader.batch.engines.local import LocalEngine
from grader.batch.intake import Intake
from grader.batch.intake.worksheet import read as read_worksheet
from grader.batch.outdir import OutDir
from grader.batch.plan import Archive, plan, stale_folders, subfolders
from grader.batch.rows import ManualEntries, Row, Rows, previous, write_moodle
from grader.batch.similarity import compare
from grader.errors import EngineLost, UsageError
from grader.render import neutralise as N
from grader.render import plots, summary_md
from grader.results import RowStatus
from grader.rubric import Rubric
from grader.sandbox.process import REQUEST_OVERHEAD_SECONDS
from lab2check import questions

# ``run``'s ``progress``: True (a bar when stderr is a terminal), "force" (always), False (never)
Progress = bool | Literal["force"]


@dataclass
class BatchResult:
    rows: list[Row]
    internal_errors: list[str]   # the files whose grading failed on the grader's side
    skipped: int                 # archives up to date, not regraded
    graded: int                  # archives graded by this run


GRADER_SECONDS = 120.0  # the grader's own work on one archive: unpacking, judging, REPORT.md, the plots


def time_budget(rubric: Rubric) -> float:
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


def _lock(out: OutDir) -> contextlib.AbstractContextManager:
    return fsutil.locked(out.lock, exclusive=True,
                         busy=f"another batch is writing to {out.root}: wait for it, or choose another --out")


def _progress_bar(total: int, up_to_date: int, progress: Progress) -> Any:
    from tqdm import tqdm
    show = progress == "force" or (bool(progress) and sys.stderr.isatty())
    return tqdm(total=total, desc="grading", unit="archive", file=sys.stderr, disable=not show,
                dynamic_ncols=True, smoothing=0.1,
                postfix=f"{up_to_date} up to date" if up_to_date else None)


def run(source: str | Path, out: str | Path, rubric: Rubric, *, jobs: int, force: bool = False,
        manual_csv: str | Path | None = None, progress: Progress = True, compare_with: str | Path | None = None,
        worksheet: str | Path | None = None, engine: Engine | None = None) -> BatchResult:
    """Grade every archive of ``source`` (any SOURCE ``grader.batch.intake`` reads: a folder of
    archives, a mailbox, a Moodle download) into ``out``; see the module docstring.

    ``worksheet``: Moodle's grading worksheet, filled into ``out/moodle/``. ``compare_with``: a
    folder of earlier years' submissions for the near-duplicate report. ``progress``: True shows
    a progress bar on stderr when it is a terminal, ``"force"`` always, False never; the final
    one-line summary is always printed. ``engine``: where the archives are graded
    (``grader.batch.engines``; None: ``jobs`` local worker processes). Raises ``UsageError`` for a wrong
    source, worksheet or manual file (before any grading), ``KeyboardInterrupt`` and
    ``EngineLost`` (a cluster gone away) after writing what was done.
    """
    source, out = Path(source), Path(out)
    fmt = intake.detect(source)
    if source.is_dir() and out.resolve() == source.resolve():
        # Its grades.csv and summary.md would be taken for archives on the next run.
        raise UsageError(f"--out {out} is the submissions folder itself: choose another output folder")
    sheet = read_worksheet(worksheet) if worksheet else None
    if sheet is not None and fmt != "moodle":
        raise UsageError(f"--moodle-worksheet needs a Moodle download as SOURCE, and {source} is a {fmt} "
                         "(students are matched by Moodle's participant id, never by name)")
    entries = manual.load_batch(manual_csv, rubric) if manual_csv else None
    earlier = compare.check_compare_with(compare_with)
    out.mkdir(parents=True, exist_ok=True)
    layout = OutDir(out)
    with _lock(layout):
        engine = engine if engine is not None else LocalEngine(jobs)
        engine.check(rubric, out, source)   # workers that cannot grade: one line, before anything is read or written
        found = intake.collect(source, layout.incoming, rubric, sheet)
        return _run(found, source, layout, rubric, force, entries, progress, earlier, engine)


def _run(found: Intake, source: Path, out: OutDir, rubric: Rubric, force: bool, entries: ManualEntries | None,
         progress: Progress, compare_with: Path | None, engine: Engine) -> BatchResult:
    started = time.monotonic()
    batch = Rows(out.root, rubric, entries)
    archives = plan(found.records)
    todo: list[Archive] = []
    for a in archives:
        earlier: Row | None
        try:
            earlier = None if force else previous(out.student(a.key), a, rubric)
        except Exception as err:  # noqa: BLE001 - then it is graded again
            earlier, a.notes = None, a.notes + [f"its earlier results could not be read: {type(err).__name__}: {err}"]
        if earlier is not None:
            batch.add(earlier, csv=False)   # grades.csv is written once, below
        elif a.refused or a.failed:
            batch.finish(a, None, None)
        else:
            todo.append(a)
    skipped = sum(1 for r in batch.rows.values() if r.up_to_date)
    batch.write_csv()
    work = out.work
    shutil.rmtree(work, ignore_errors=True)  # a killed run's extraction folders
    interrupted, lost = False, None
    if todo:
        # Build the reference cache once, here, before the workers read it.
        answers_cache.load(rubric, (lambda line: print(line, file=sys.stderr, flush=True)) if progress else None)
        work.mkdir(mode=0o700)
        for a in list(todo):  # a folder without its marker is never taken as complete, whatever it holds
            try:
                out.student(a.key, outdir.ARCHIVE_JSON).unlink(missing_ok=True)
            except OSError as err:
                a.failed = f"its folder {outdir.STUDENTS}/{a.key} cannot be used: {err.strerror or err}"
                todo.remove(a)
                batch.finish(a, None, None)
        by_path = {str(a.path): a for a in todo}
        pool = engine.pool(rubric, work, time_budget(rubric))
        bar = _progress_bar(len(todo), skipped, progress)
        statuses: Counter[RowStatus] = Counter()

        def done(task: dict, result: dict | None, death: str | None) -> None:
            row = batch.finish(by_path[task["path"]], result, death)
            statuses[row.status] += 1
            bar.set_postfix_str(", ".join(f"{n} {s}" for s, n in sorted(statuses.items())), refresh=False)
            bar.update(1)

        try:
            pool.run([{"path": str(a.path), "folder": str(out.student(a.key))} for a in todo], done)
        except KeyboardInterrupt:
            interrupted = True
        except EngineLost as err:   # the rows written stay, as for an interruption
            lost = err
        finally:
            pool.close(kill=interrupted)
            bar.close()
            shutil.rmtree(work, ignore_errors=True)
    rows = sorted(batch.rows.values(), key=summary_md.sort_key)
    notes = (subfolders(source) if found.format == "folder" else []) + found.notes + batch.unmatched_manual() \
        + stale_folders(out.root, archives)
    if found.source == "moodle":
        notes += write_moodle(rows, found.worksheet, rubric, out.root)
        batch.write_csv()      # with the rows' notes about the worksheet
    if interrupted or lost:
        notes.insert(0, f"{lost or 'interrupted'}: {len(archives) - len(rows)} of {len(archives)} archives not "
                        "graded yet; run the same command again to finish")
    similar = _similarity(rows, out.root, source, rubric, compare_with, notes)
    batch.write_csv()   # with the similar_to column filled in
    _write_summary(rows, rubric, out, source.name, notes, similar)
    for note in notes:
        print(f"warning: {N.terminal(note, newlines=False)}", file=sys.stderr)
    counts = Counter(r.status for r in rows)
    line = ", ".join(f"{counts[s]} {s}" for s in RowStatus if counts[s])
    print(f"{len(rows)} of {len(archives)} archives: {line or 'none'}; {batch.graded} graded now, {skipped} up to "
          f"date, {time.monotonic() - started:.0f} s -> {out.grades_csv}, {out.summary_md}")
    if interrupted:
        raise KeyboardInterrupt
    if lost:
        raise EngineLost(f"{lost}: {len(archives) - len(rows)} of {len(archives)} archives not graded yet (every row "
                         "written is kept); run the same command again to finish")
    return BatchResult(rows, [r.file for r in rows if r.status == RowStatus.INTERNAL_ERROR], skipped, batch.graded)


def _similarity(rows: list[Row], out: Path, source: Path, rubric: Rubric, compare_with: Path | None,
                notes: list[str]) -> compare.Result | None:
    """The near-duplicate report; its failure is a note, never a lost grade (grades.csv is written)."""
    try:
        similar = compare.for_batch(rows, out, source, rubric, compare_with)
    except Exception as err:  # noqa: BLE001 - a hint for the teacher must not cost the batch
        notes.append(f"the similarity report could not be made: {type(err).__name__}: {err}")
        return None
    notes += similar.notes
    return similar


def _write_summary(rows: list[Row], rubric: Rubric, out: OutDir, title: str, notes: list[str],
                   similar: compare.Result | None = None) -> None:
    graded = [r for r in rows if r.status == RowStatus.GRADED]
    caption = "Totals of the graded archives" + (
        "" if summary_md.has_hand_points(graded) else " (automatic points only)")
    png = io.BytesIO()
    plots.histogram_png([r.report.total for r in graded], png, rubric.total, title=caption)
    fsutil.atomic_write(out.histogram, png.getvalue(), if_changed=True)
    fsutil.atomic_write(out.summary_md, summary_md.summary_markdown(rows, rubric, title=title, notes=notes,
                                                                    similar=similar), if_changed=True)
