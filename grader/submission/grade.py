"""Grade one submission: find its ``lab2/`` -> run it in sandboxed children -> score -> a ``Report``.

The stages, in order: ``locate`` (the package and REPORT.md), ``reference answers`` (cached,
``grader.answers.cache``), ``run`` (imports, public cases and trainings, then hidden cases:
one record per question, ``grader.submission.run``), ``score`` (the rubric's rules on those
records, ``grader.submission.score``). A grader failure in any child is the report's
``internal-error``, never a student's zero.
"""
import time
from pathlib import Path

from grader.answers import cache
from grader.answers.cache import Answers
from grader.results import Report, RowStatus
from grader.rubric import Rubric
from grader.sandbox import sandbox_status
from grader.submission import locate, run, score


def grade_folder(root: Path | str, rubric: Rubric, answers: Answers | None = None, *, student: str | None = None,
                 submission: str | None = None, concurrency: int = 2, slots: tuple = (None, None)) -> Report:
    """Grade the submission unpacked in ``root`` (``lab2/`` anywhere beneath it)."""
    start = time.monotonic()
    root = Path(root)
    sub = locate.find_package(root)  # PackageError (a UsageError) when there is no single lab2/
    answers = answers or cache.load(rubric)
    report = Report(student=student or root.name, submission=submission or str(root),
                    sandbox=sandbox_status()[1], total_max=rubric.total, rubric_sha256=rubric.sha256)
    ran = run.run(sub.package_parent, rubric, answers, concurrency=concurrency, slots=slots)
    report.usage = ran.usage
    if ran.error:
        report.status, report.error = RowStatus.INTERNAL_ERROR, ran.error
    else:
        score.score(ran, rubric, answers, sub, report)
    report.seconds = round(time.monotonic() - start, 3)
    return report
