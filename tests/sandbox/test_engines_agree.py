"""The in-process engine and the local worker processes give a batch the same bytes.

The fast batch tests (``tests/unit/batch/``) run through ``grader.batch.engines.inprocess``; this
is what lets them speak for the teacher's batch, which runs through ``grader.batch.engines.local``.
The same archives, graded by the same scripted grade function (``builders.scripted``, sent to
the workers by name: ``tests/`` is on their ``PYTHONPATH``), must give the same ``grades.csv``,
``summary.md`` and student files, byte for byte, with two workers finishing in any order.

Here because the local engine starts worker processes (a second or two, no sandboxed child:
the scripted grade runs no student code). Left out on purpose: a grade function that raises,
whose row says "raised ..." in process and "the grading process died (exit status 1)" from a
worker; both are ``internal-error`` rows (``tests/unit/batch/test_inprocess_engine.py``).
"""
from pathlib import Path

from builders import archives, scripted

from grader.batch.engines.inprocess import InProcessEngine
from grader.batch.engines.local import LocalEngine
from grader.batch.run import run
from grader.rubric import load as load_rubric

RUBRIC = load_rubric(Path(__file__).parents[1] / "files" / "rubric_small.yaml")


def a_class(source: Path) -> None:
    source.mkdir()
    scripted.write(source, "DOE John Lab2 DLCV.tar.bz2", points={"q1_1": 0.5}, mistakes={"q1_1": "no-clipping"})
    scripted.write(source, "DOE John Lab2 DLCV (1).tar.bz2", points={"q3_3": 2})     # two archives, one key
    scripted.write(source, "MARTIN Alice Lab2 DLCV.tar.bz2", status="import-error")
    scripted.write(source, "BUGGY Grader Lab2 DLCV.tar.bz2", status="internal-error", error="RuntimeError: x")
    scripted.write(source, "submission.tar.bz2", warnings=["a warning of the grading"])   # misnamed
    for build in (archives.empty, archives.no_package, archives.not_an_archive, archives.good_zip):
        build(source)


def outputs(out: Path) -> dict[str, bytes]:
    """Every file of OUT a teacher or student reads (the lock file aside)."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != ".batch.lock"}


def test_in_process_and_local_workers_write_the_same_bytes(tmp_path, monkeypatch):
    source = tmp_path / "submissions"
    a_class(source)
    monkeypatch.setenv("PYTHONPATH", str(Path(scripted.__file__).parents[1]))
    local = run(source, tmp_path / "local", RUBRIC, jobs=2, progress=False,
                      engine=LocalEngine(2, grade=scripted.grade))
    in_process = run(source, tmp_path / "inprocess", RUBRIC, jobs=1, progress=False,
                           engine=InProcessEngine(grade=scripted.grade))
    assert (local.graded, in_process.graded) == (9, 9)
    assert [(r.file, r.status) for r in local.rows] == [(r.file, r.status) for r in in_process.rows]
    assert (tmp_path / "local" / "grades.csv").read_bytes() == (tmp_path / "inprocess" / "grades.csv").read_bytes()
    local_files, in_process_files = outputs(tmp_path / "local"), outputs(tmp_path / "inprocess")
    assert sorted(local_files) == sorted(in_process_files)
    assert "summary.md" in local_files and len([f for f in local_files if f.endswith("/report.json")]) == 9
    # summary.md names its own OUT folder nowhere, so it compares too
    assert [f for f in local_files if local_files[f] != in_process_files[f]] == []


def test_real_grading_through_either_engine_gives_the_same_grades_csv(tmp_path):
    """``grade_archive`` itself, its sandboxed children started from this process: what a
    maintainer debugging one archive gets is what the workers give (report.json differs only
    in measures: seconds, the children's memory and CPU)."""
    source = tmp_path / "submissions"
    source.mkdir()
    archives.good_wrapped(source)
    archives.no_package(source)
    runs = {}
    for name, engine in (("local", LocalEngine(1)), ("inprocess", InProcessEngine())):
        runs[name] = run(source, tmp_path / name, RUBRIC, jobs=1, progress=False, engine=engine)
    assert [r.status for r in runs["inprocess"].rows] == ["graded", "no-package"]
    assert runs["inprocess"].rows[0].report.auto_total == runs["local"].rows[0].report.auto_total > 0
    assert (tmp_path / "local" / "grades.csv").read_bytes() == (tmp_path / "inprocess" / "grades.csv").read_bytes()
