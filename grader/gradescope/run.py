"""Grade one submission the way Gradescope runs an autograder: ``python -m grader.gradescope.run``.

Called by the bundle's ``run_autograder`` (``grader.gradescope.bundle``) with ``--root ROOT``
(``$AUTOGRADER_ROOT``, Gradescope's ``/autograder``): grades ``ROOT/submission`` and writes
``ROOT/results/results.json`` through ``grader.render.gradescope.to_gradescope``. ``--prepare``
(run once by ``setup.sh``) builds the reference's answers for the bundle's rubric.

What Gradescope hands over is whatever the student uploaded: the files of ``lab2/`` and
REPORT.md (a zip upload is unpacked by Gradescope), or one archive as the lab asks
(``DOE John Lab2 DLCV.tar.bz2``, which Gradescope leaves packed). So the submission folder is
graded when ``lab2/`` is anywhere in it, else its one archive, else it is a ``no-package``
result. Every outcome is a results.json: a refused archive (``bad-archive``) and a missing
package (``no-package``) score 0 with the reason in ``output``; the grader's own failure has no
score (``to_gradescope``), so Gradescope shows an autograder failure rather than a zero.

Gradescope runs this as root, and Docker may refuse bubblewrap's namespaces: student code then
runs with resource limits only, as a dedicated uid that sees the container's files. So
``source/`` (the reference, the rubric, the grader, the cached answers) is made root's alone
(0700) before anything is graded, besides the ACL entry every such child's group is denied
(``grader.sandbox.hiding``, which a file system without ACLs would not keep): the child reaches
the Python environment and the data it needs there through descriptors opened while root.

Not here: lateness (Gradescope applies its own late policy) and hand-given points (Gradescope's
manual questions); one child at a time (``concurrency=1``: Gradescope's default container has
half a CPU and 768 MB).
"""
import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

from grader import api, fsutil
from grader.answers import cache as answers_cache
from grader.answers import data as answers_data
from grader.render import neutralise as N
from grader.render.gradescope import to_gradescope
from grader.results import Report, RowStatus
from grader.rubric import Rubric
from grader.submission.archive import ArchiveError, detect_format
from grader.submission.locate import PackageError, find_package

REFUSED = "student code was not run: the archive was refused"


def target(submission: Path) -> Path:
    """The folder itself when it holds ``lab2/``; else its one archive; else the folder."""
    try:
        find_package(submission)
        return submission
    except PackageError:
        pass
    files = [p for p in sorted(submission.iterdir()) if p.is_file() and not p.name.startswith(".")
             and p.name != "REPORT.md"] if submission.is_dir() else []
    archives = [p for p in files if detect_format(p) not in ("empty", "unknown")]
    return archives[0] if len(archives) == 1 else submission


def student(root: Path) -> str:
    """The names Gradescope gives in ``submission_metadata.json`` (a group: all of them)."""
    try:
        users = json.loads((root / "submission_metadata.json").read_text(encoding="utf-8"))["users"]
        names = [str(u["name"]) for u in users if u.get("name")]
    except (OSError, ValueError, KeyError, TypeError):
        names = []
    return ", ".join(names)


def keep_source_private(source: Path) -> None:
    """``source/`` for root only (as root; nothing to hide from a grader that is not)."""
    if os.geteuid() == 0 and source.is_dir():
        os.chmod(source, 0o700)


def grade(root: Path, rubric: Rubric) -> Report:
    submission = root / "submission"
    path = target(submission)
    try:
        report = api.grade(path, rubric, concurrency=1)
    except (ArchiveError, PackageError) as err:
        status = RowStatus.BAD_ARCHIVE if isinstance(err, ArchiveError) else RowStatus.NO_PACKAGE
        report = Report(student=api.student_name(path), submission=path.name, status=status, error=str(err),
                        total_max=rubric.total, rubric_sha256=rubric.sha256,
                        sandbox=(REFUSED if status == RowStatus.BAD_ARCHIVE
                                 else "student code was not run: no lab2/ package"))
    except Exception as err:  # noqa: BLE001 - the grader's failure, never the student's zero
        report = Report(student=api.student_name(path), submission=path.name, status=RowStatus.INTERNAL_ERROR,
                        error=f"{type(err).__name__}: {err}", total_max=rubric.total, rubric_sha256=rubric.sha256)
        report.warnings.append(traceback.format_exc(limit=5))
    report.student = student(root) or report.student
    return report


def write(report: Report, results: Path) -> Path:
    results.parent.mkdir(parents=True, exist_ok=True)
    fsutil.atomic_write(results, N.json_dumps(to_gradescope(report), indent=2) + "\n")
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m grader.gradescope.run", description=__doc__.splitlines()[0])
    p.add_argument("--root", default=os.environ.get("AUTOGRADER_ROOT", "/autograder"),
                   help="Gradescope's root folder (default: $AUTOGRADER_ROOT, else /autograder)")
    p.add_argument("--prepare", action="store_true", help="only build the reference's answers (setup.sh)")
    args = p.parse_args(argv)
    rubric = api.load_rubric()
    if args.prepare:
        started = time.monotonic()
        answers_cache.load(rubric, lambda line: print(line, flush=True))
        print(f"reference answers ready in {answers_data.CACHE} ({time.monotonic() - started:.0f} s)")
        return 0
    root = Path(args.root)
    keep_source_private(root / "source")
    report = grade(root, rubric)
    results = write(report, root / "results" / "results.json")
    print(f"{N.terminal(report.student, newlines=False)}: {report.status}, "
          f"{report.total + report.bonus:g} / {rubric.total:g} -> {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
