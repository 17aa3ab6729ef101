"""A grade function scripted by the archive itself, and archives that carry a script.

Test code only. ``grade`` has the signature of ``grader.batch.task.grade_archive`` and is given
to an engine in its place (``InProcessEngine(grade=scripted.grade)``, ``LocalEngine(1,
grade=scripted.grade)``): the batch's own logic (rows, ``grades.csv``, resumption, Moodle,
hand-given points) is then tested without starting a sandboxed child or training anything.

What is real and what is scripted:
- the archive is unpacked (``grader.submission.archive.extract``, under the rubric's caps) and
  its package located (``grader.submission.locate.find_package``) as in real grading, so a
  refused archive gets the real ``bad-archive`` or ``no-package`` report, with the real error;
- no student code runs: the report's questions are the rubric's, and their points are what the
  file ``SCRIPT`` (``scripted.json``, beside ``lab2/``) says. Its keys, all optional::

      {"points": {"q1_1": 0.5, ...},   # a question's automatic points (unlisted: every point
                                       #   when graded, none otherwise; a manual-only question has none)
       "mistakes": {"q1_1": "no-clipping"},   # the catalogue id that question's check names
       "status": "import-error",       # the row's status (default "graded")
       "error": "...",                 # the report's error line
       "warnings": ["..."],            # added to the report's warnings
       "raise": "..."}                 # raise RuntimeError(...) instead of returning: the engine's failure

Everything else is as ``grade_archive`` leaves it: no loss curves are drawn and no fingerprint
is taken (``{"report": Report.to_dict(), "fingerprint": {}}``). The same archive always gives
the same result, whichever engine runs it and whenever.

``write(folder, name, ...)`` writes such an archive (a one-module ``lab2`` package and its
script); ``run_batch(source, out, rubric, ...)`` is ``grader.batch.run.run`` as a teacher's
``batch`` calls it, through the in-process engine with ``grade``; ``without_reference_answers``
keeps a fast test from loading (or building, on a fresh checkout) the reference's answers,
which ``grade`` never reads. (Not fixtures in a ``tests/unit/batch/conftest.py``: a second
``conftest`` module would shadow the rootdir's, which test modules import by that name.)
"""
import json
import tempfile
from pathlib import Path

import pytest

from builders import archives
from grader.batch.engines.inprocess import InProcessEngine
from grader.batch.run import run
from grader.batch.task import not_graded
from grader.results import CheckResult, QuestionResult, QuestionStatus, Report, RowStatus
from grader.submission.archive import ArchiveError, extract, scratch_parent
from grader.submission.locate import PackageError, find_package

SCRIPT = "scripted.json"
SANDBOX = "scripted grading (tests/builders/scripted.py): no student code was run"
ANSWERS = object()   # what ``without_reference_answers`` gives in place of the reference's answers


def grade(path: Path, folder: Path, rubric, answers, workdir) -> dict:
    """``grade_archive``'s result for ``path`` as its script says; see the module docstring."""
    path = Path(path)
    # The file name, not names.parse_name's reading of it: the batch names every row's student
    # itself (the plan's), and a test that breaks the parser in this process must not break this.
    student = path.name
    refused = "student code was not run: the archive was refused"
    with tempfile.TemporaryDirectory(prefix="lab2-scripted-", dir=scratch_parent(workdir)) as tmp:
        try:
            unpacked = extract(path, Path(tmp) / "unpacked", rubric.archive)
            find_package(unpacked.root)
        except ArchiveError as err:
            return _result(not_graded(student, path.name, RowStatus.BAD_ARCHIVE, str(err), rubric, refused))
        except PackageError as err:
            return _result(not_graded(student, path.name, RowStatus.NO_PACKAGE, str(err), rubric, refused))
        scripts = sorted(unpacked.root.rglob(SCRIPT))
        script = json.loads(scripts[0].read_text(encoding="utf-8")) if scripts else {}
        warnings = list(getattr(unpacked, "warnings", []))
    if "raise" in script:
        raise RuntimeError(script["raise"])
    return _result(scripted_report(student, path.name, rubric, script, warnings))


def scripted_report(student: str, file: str, rubric, script: dict, warnings: list[str] = ()) -> Report:
    """The report ``script`` describes: the rubric's questions in its order, one check each."""
    status = RowStatus(script.get("status", RowStatus.GRADED))
    report = Report(student=student, submission=file, sandbox=SANDBOX, status=status, total_max=rubric.total,
                    rubric_sha256=rubric.sha256, error=script.get("error", ""),
                    warnings=list(warnings) + list(script.get("warnings", [])))
    given, mistakes = script.get("points", {}), script.get("mistakes", {})
    for qid, spec in rubric.questions.items():
        q = QuestionResult.of_rubric(qid, spec)
        if spec.auto == 0:
            q.status = QuestionStatus.MANUAL
        else:
            points = float(given.get(qid, spec.auto if status == RowStatus.GRADED else 0.0))
            passed = points >= spec.auto
            q.status = (QuestionStatus.PASSED if passed else QuestionStatus.PARTIAL if points > 0
                        else QuestionStatus.FAILED)
            q.summary = "" if passed else f"{points:g} of {spec.auto:g} (scripted)"
            q.checks = [CheckResult(f"{qid}: scripted", passed, points, spec.auto,
                                    "" if passed else f"{qid}: scripted to give {points:g}", mistake=mistakes.get(qid))]
        report.questions.append(q)
    return report


def _result(report: Report) -> dict:
    return {"report": report.to_dict(), "fingerprint": {}}


# --- archives ---------------------------------------------------------------------------------------

def files(script: dict | None = None, prefix: str = "") -> dict[str, bytes]:
    """A one-module ``lab2`` package under ``prefix`` and, unless None, its script."""
    out = {f"{prefix}lab2/__init__.py": b"", f"{prefix}lab2/single_neuron.py": b"def sigmoid(z):\n    return z\n"}
    if script is not None:
        out[f"{prefix}{SCRIPT}"] = json.dumps(script, sort_keys=True).encode()
    return out


def write(folder: Path, name: str, script: dict | None = None, **keys) -> Path:
    """``folder/name``, a tar.bz2 of ``files(script | keys)``: e.g. ``write(folder, "DOE John
    Lab2 DLCV.tar.bz2", points={"q1_1": 0.5})``."""
    return archives.write_tar(Path(folder) / name, files({**(script or {}), **keys}))


def run_batch(source, out, rubric, grade=grade, **kw):
    """``grader.batch.run.run(source, out, rubric, ...)`` in this process: the in-process engine with
    ``grade`` (the scripted one unless given), no progress bar, the reference's answers never
    loaded; ``kw`` as ``run``'s (``force``, ``manual_csv``, ``worksheet``...)."""
    kw.setdefault("progress", False)
    with pytest.MonkeyPatch.context() as patch:
        without_reference_answers(patch)
        return run(source, out, rubric, jobs=1, engine=InProcessEngine(grade=grade), **kw)


def without_reference_answers(monkeypatch) -> list:
    """Make ``grader.answers.cache.load`` give ``ANSWERS`` at once (the batch loads the answers
    before grading, the engines again for the grade function); returns the list of the rubrics
    it was asked for, one per call."""
    from grader.answers import cache as answers_cache
    asked = []

    def load(rubric, progress=None):
        asked.append(rubric)
        return ANSWERS

    monkeypatch.setattr(answers_cache, "load", load)
    return asked
