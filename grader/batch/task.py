"""What an engine's worker does with one archive of a batch: ``grade_archive``.

Every engine (``grader.batch.engines``: the local worker processes, a Dask cluster) runs this
function, one archive per call, and hands its result back to the batch (``grader.batch.run``),
which writes the rows (``grader.batch.rows``). It grades the archive in its sandboxed child
(``api.grade(..., concurrency=1)``), draws the loss curves into the student's folder and takes
the code's fingerprint for the near-duplicate report. It never raises: every outcome is a
report, the grader's own failure (``internal-error``) included. It does not write
``report.json`` and the other outputs: the batch does, as each result arrives.
"""
import contextlib
import hashlib
import io
import tempfile
import traceback
from pathlib import Path

from grader import api, fsutil
from grader.batch import outdir
from grader.batch.similarity import fingerprint, near_duplicates
from grader.render import neutralise as N
from grader.render import plots
from grader.results import Report, RowStatus
from grader.rubric import Rubric
from grader.submission.archive import ArchiveError, extract, scratch_parent
from grader.submission.locate import PackageError, find_package


def draw_curves(report: Report, path: Path) -> None:
    png = io.BytesIO()
    plots.loss_curves_png(report, png)
    fsutil.atomic_write(path, png.getvalue(), if_changed=True)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def not_graded(student: str, file: str, status: RowStatus, error: str, rubric: Rubric, sandbox: str = "") -> Report:
    return Report(student=student, submission=file, status=status, error=error, total_max=rubric.total,
                  rubric_sha256=rubric.sha256, sandbox=sandbox)


def _fingerprint(path: Path, rubric: Rubric, workdir, folder: Path) -> dict:
    """The normalised hashes of the archive's ``lab2/`` (unpacked again: ``api.grade`` keeps its
    folder private; a few kB, milliseconds); its code is kept in ``folder/code.json`` for the
    near-duplicate report at the end (``grader.batch.similarity.compare``)."""
    try:
        with tempfile.TemporaryDirectory(prefix="lab2-fingerprint-", dir=scratch_parent(workdir)) as tmp:
            unpacked = extract(path, Path(tmp) / "unpacked", rubric.archive)
            package = find_package(unpacked.root).package
            with contextlib.suppress(OSError):
                near_duplicates.save_code(package, folder, file_sha256(path))
            return fingerprint.fingerprint(package)
    except Exception:  # noqa: BLE001 - the fingerprint is a hint for the teacher, never worth a row
        return {}


def grade_archive(path: Path, folder: Path, rubric: Rubric, answers, workdir) -> dict:
    """Grade one archive: ``{"report": Report.to_dict(), "fingerprint": {...}}``; draws its curves.

    Every outcome is a report: a refused archive (``bad-archive``, ``no-package``) and the
    grader's own failure (``internal-error``) included; this function does not raise.
    """
    try:
        return _grade_archive(path, folder, rubric, answers, workdir)
    except Exception as err:  # noqa: BLE001 - a bug around one archive costs that archive's row only
        report = not_graded(N.line(path.name), N.line(path.name), RowStatus.INTERNAL_ERROR,
                             f"{type(err).__name__}: {err}", rubric)
        report.warnings.append(traceback.format_exc(limit=5))
        return {"report": report.to_dict(), "fingerprint": {}}


def _grade_archive(path: Path, folder: Path, rubric: Rubric, answers, workdir) -> dict:
    student = api.student_name(path)
    refused = "student code was not run: the archive was refused"
    try:
        if answers is None:
            raise RuntimeError("the reference cache could not be loaded in this worker")
        report = api.grade(path, rubric, answers=answers, concurrency=1, workdir=workdir, figure_to=folder)
    except ArchiveError as err:
        report = not_graded(student, path.name, RowStatus.BAD_ARCHIVE, str(err), rubric, refused)
    except PackageError as err:
        report = not_graded(student, path.name, RowStatus.NO_PACKAGE, str(err), rubric, refused)
    except Exception as err:  # noqa: BLE001 - the grader's failure, never the student's zero
        report = not_graded(student, path.name, RowStatus.INTERNAL_ERROR, f"{type(err).__name__}: {err}", rubric)
        report.warnings.append(traceback.format_exc(limit=5))
    hashes: dict = {}
    if report.questions:
        hashes = _fingerprint(path, rubric, workdir, folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            draw_curves(report, folder / outdir.LOSS_CURVES)
        except Exception as err:  # noqa: BLE001 - a missing picture must not cost the grade
            report.warnings.append(f"the loss curves could not be drawn: {type(err).__name__}: {err}")
    return {"report": report.to_dict(), "fingerprint": hashes}

