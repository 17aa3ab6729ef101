"""The grader's Python API; the CLI (``grader/cli.py``) is a thin layer over it.

``grade(path)`` grades one submission (a folder holding ``lab2/`` anywhere beneath it, or a
submission archive) and returns a ``Report``. Teacher mistakes (a wrong path, a bad rubric, a
broken archive given to ``grade``) raise ``UsageError`` with one line; failures of the grader
itself come back as a report with status ``internal-error``, never as a student's zero.
"""
import os
import tempfile
import time
import traceback
from pathlib import Path

from grader import RUBRIC, manual, names
from grader import rubric as rubric_mod
from grader.answers import cache as answers_cache
from grader.errors import UsageError
from grader.results import Report, RowStatus
from grader.rubric import Rubric
from grader.submission import figure
from grader.submission.archive import ArchiveError, extract, scratch_parent
from grader.submission.grade import grade_folder
from grader.submission.locate import PackageError, find_package
from lab2check import questions


def load_rubric(path: str | Path | None = None) -> Rubric:
    return rubric_mod.load(path or RUBRIC)


def student_name(path: Path) -> str:
    """The display name read from an archive's file name, else the file or folder name."""
    parsed = names.parse_name(path.name)
    return f"{parsed.last} {parsed.first}".strip() if parsed else path.name


def _keep_figure(root, report: Report, folder) -> None:
    if folder is None or not report.questions:
        return
    try:  # the written answers, for grader.review: beside the feedback, like the figure
        figure.keep_report(find_package(root).report, folder)
    except (OSError, PackageError) as err:
        report.warnings.append(f"REPORT.md could not be copied beside the feedback: {err}")
    if not any(questions.get(q.id).figure for q in report.questions):
        return
    try:
        report.figure_file = figure.keep(root, folder)
    except OSError as err:  # a figure the teacher cannot see inline must not cost the grade
        report.warnings.append(f"the figure could not be copied beside the feedback: {err.strerror or err}")


def grade(path: str | Path, rubric: Rubric | None = None, *, answers=None, concurrency=2, manual_csv=None,
          slots=(None, None), progress=None, workdir=None, figure_to=None) -> Report:
    """Grade one submission folder or archive; see the module docstring for errors.

    An archive is unpacked in a private temporary folder inside ``workdir`` (default: the
    system's temporary folder); batch grading passes its own so that a killed worker's
    leftovers stay where the batch cleans them up. A ``workdir`` whose path is too long for
    the deepest archive ``grader.submission.archive`` accepts is replaced by the system's temporary folder
    (``archive.scratch_parent``), so an archive is accepted or refused wherever it is graded.
    With ``figure_to`` (a folder), Q3.1's figure, when the submission has an image file, is copied
    there (``grader.submission.figure.keep``) and named in ``report.figure_file``, and so is REPORT.md
    (``grader.submission.figure.keep_report``: the written answers ``grader.review`` shows).
    """
    path = Path(path)
    rubric = rubric or load_rubric()
    if not path.exists():
        raise UsageError(f"no such submission: {path}")
    entries = manual.load_manual(manual_csv) if manual_csv else None  # a bad CSV stops us before grading
    started = time.monotonic()
    try:
        answers = answers or answers_cache.load(rubric, progress)
        if path.is_dir():
            report = grade_folder(path, rubric, answers, student=student_name(path),
                                            submission=str(path), concurrency=concurrency, slots=slots)
            _keep_figure(path, report, figure_to)
        else:
            # A parent short enough for every archive extract accepts: grade and batch agree.
            with tempfile.TemporaryDirectory(prefix="lab2-submission-", dir=scratch_parent(workdir)) as tmp:
                extracted = extract(path, Path(tmp) / "unpacked", rubric.archive)
                # extract makes the folder 0o700; the sandboxed child runs as another uid and must
                # enter it when lab2/ lies at its top (an archive without a wrapping folder). The
                # private temporary folder around it still keeps everyone else out.
                os.chmod(extracted.root, 0o755)
                report = grade_folder(extracted.root, rubric, answers, student=student_name(path),
                                                submission=path.name, concurrency=concurrency, slots=slots)
                report.warnings += list(getattr(extracted, "warnings", []))
                _keep_figure(extracted.root, report, figure_to)
    except (ArchiveError, PackageError):
        raise
    except UsageError:
        raise
    except Exception as err:  # noqa: BLE001 - the grader's own failure: say so, never a zero
        report = Report(student=student_name(path), submission=str(path), status=RowStatus.INTERNAL_ERROR,
                        error=f"{type(err).__name__}: {err}", total_max=rubric.total, rubric_sha256=rubric.sha256)
        report.warnings.append(traceback.format_exc(limit=5))
    report.seconds = round(time.monotonic() - started, 3)
    if entries is not None and report.status != RowStatus.INTERNAL_ERROR:
        report.warnings += manual.apply_manual(report, entries)
    return report
