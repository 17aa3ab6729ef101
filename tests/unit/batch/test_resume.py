"""Resumption (``grader.batch.run``): a batch run again grades only what is not done yet.

An archive is up to date when its student folder holds a complete result (the marker,
``archive.json``, written last) for the same bytes, file name and rubric; then its row is read
back and it is not regraded. Everything else is graded: a new or changed archive, a folder a
killed run left half written, the grader's own failure, all of them with ``force`` or a new
rubric. Run in this process on scripted archives (``scripted.run_batch``); the real
interruptions (Ctrl-C, SIGKILL of the batch and its workers) are ``tests/sandbox/test_batch.py``.
"""
import csv
import io
import shutil
from pathlib import Path

import pytest
from builders import archives, scripted
from builders.scripted import run_batch

from grader.rubric import load as load_rubric

RUBRIC = load_rubric(Path(__file__).parents[2] / "files" / "rubric_small.yaml")

STUDENTS = ["ADAM Ann", "BRUN Bob", "CRUZ Cid", "DIAZ Dan", "EGAN Eve"]


def csv_rows(out: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO((out / "grades.csv").read_bytes().decode("utf-8-sig"), newline="")))


def report_mtimes(out: Path) -> dict:
    return {p.parent.name: p.stat().st_mtime_ns for p in (out / "students").glob("*/report.json")}


def five(source: Path) -> list[str]:
    source.mkdir()
    return [scripted.write(source, f"{name} Lab2 DLCV.tar.bz2", points={"q1_1": 0.5 + n / 10}).name
            for n, name in enumerate(STUDENTS)]


class Recorder:
    """The scripted grade, keeping the name of every archive it grades; ``stop_at``: raise
    ``KeyboardInterrupt`` (Ctrl-C) when asked for that archive, as after some rows are done."""

    def __init__(self, stop_at: str = ""):
        self.graded, self.stop_at = [], stop_at

    def __call__(self, path, *args):
        if self.stop_at and self.stop_at in path.name:
            raise KeyboardInterrupt
        self.graded.append(path.name)
        return scripted.grade(path, *args)


def test_an_interrupted_batch_keeps_its_rows_and_the_next_run_finishes_it(tmp_path):
    source, out = tmp_path / "submissions", tmp_path / "out"
    files = five(source)
    first = Recorder(stop_at="CRUZ")
    with pytest.raises(KeyboardInterrupt):
        run_batch(source, out, RUBRIC, grade=first)
    done = first.graded
    assert len(done) == 2 and set(done) < set(files)       # interrupted after two rows
    assert sorted(line["file"] for line in csv_rows(out)) == sorted(done)   # every finished row is there
    assert "interrupted: 3 of 5 archives not graded yet" in (out / "summary.md").read_text()
    mtimes = report_mtimes(out)
    assert len(mtimes) == 2

    second = Recorder()
    result = run_batch(source, out, RUBRIC, grade=second)
    assert sorted(second.graded) == sorted(set(files) - set(done))   # the rest, and only the rest
    assert (result.graded, result.skipped) == (3, 2)
    assert {k: v for k, v in report_mtimes(out).items() if k in mtimes} == mtimes   # not rewritten
    lines = csv_rows(out)
    assert sorted(line["file"] for line in lines) == sorted(files)                # grades.csv is whole
    assert sorted(line["q1_1"] for line in lines) == ["0.5", "0.6", "0.7", "0.8", "0.9"]
    assert "interrupted" not in (out / "summary.md").read_text()


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory) -> Path:
    """Five scripted archives and three refused ones (SANS, TEXTE, VIDE), graded once."""
    root = tmp_path_factory.mktemp("graded")
    five(root / "submissions")
    for build in (archives.empty, archives.not_an_archive, archives.no_package):
        build(root / "submissions")
    run_batch(root / "submissions", root / "out", RUBRIC)
    return root


@pytest.fixture
def graded(tmp_path, graded_class) -> tuple[Path, Path]:
    """``(source, out)``: a copy of ``graded_class`` (times kept) for one test to run again."""
    for name in ("submissions", "out"):
        shutil.copytree(graded_class / name, tmp_path / name)
    return tmp_path / "submissions", tmp_path / "out"


def test_a_rerun_regrades_nothing_and_rewrites_nothing(graded):
    source, out = graded
    csv_before, mtimes = (out / "grades.csv").read_bytes(), report_mtimes(out)
    assert len(mtimes) == 8
    again = Recorder()
    result = run_batch(source, out, RUBRIC, grade=again)
    assert again.graded == [] and (result.graded, result.skipped) == (0, 8)
    assert all(r.up_to_date for r in result.rows)
    assert report_mtimes(out) == mtimes and (out / "grades.csv").read_bytes() == csv_before


def test_a_changed_or_new_archive_is_graded_and_only_it(graded):
    source, out = graded
    mtimes = report_mtimes(out)
    scripted.write(source, "BRUN Bob Lab2 DLCV.tar.bz2", points={"q1_1": 0.25})   # resubmitted
    scripted.write(source, "FOX Fay Lab2 DLCV.tar.bz2")                            # late arrival
    again = Recorder()
    result = run_batch(source, out, RUBRIC, grade=again)
    assert sorted(again.graded) == ["BRUN Bob Lab2 DLCV.tar.bz2", "FOX Fay Lab2 DLCV.tar.bz2"]
    assert (result.graded, result.skipped) == (2, 7)
    bob = next(line for line in csv_rows(out) if line["last_name"] == "BRUN")
    assert bob["q1_1"] == "0.25" and len(csv_rows(out)) == 9
    after = report_mtimes(out)
    assert {k: after[k] for k in mtimes if k != "BRUN_Bob"} == {k: v for k, v in mtimes.items() if k != "BRUN_Bob"}


def test_a_folder_without_its_marker_is_graded_again(graded):
    """A run killed while writing a student's files leaves them without ``archive.json``."""
    source, out = graded
    (out / "students" / "DIAZ_Dan" / "archive.json").unlink()
    (out / "students" / "EGAN_Eve" / "report.json").write_text("{\"half")
    again = Recorder()
    run_batch(source, out, RUBRIC, grade=again)
    assert sorted(again.graded) == ["DIAZ Dan Lab2 DLCV.tar.bz2", "EGAN Eve Lab2 DLCV.tar.bz2"]
    assert (out / "students" / "DIAZ_Dan" / "archive.json").exists()


def test_force_regrades_what_is_up_to_date(graded):
    source, out = graded
    forced = Recorder()
    result = run_batch(source, out, RUBRIC, grade=forced, force=True)
    assert (result.graded, result.skipped) == (8, 0) and not any(r.up_to_date for r in result.rows)
    assert len(forced.graded) == 8
    assert [r.status for r in result.rows if r.status != "graded"] == ["no-package", "bad-archive", "bad-archive"]


def test_a_new_rubric_regrades_everything(graded, tmp_path):
    source, out = graded
    edited = tmp_path / "rubric.yaml"
    text = (Path(__file__).parents[2] / "files" / "rubric_small.yaml").read_text()
    edited.write_text(text.replace("naming_penalty: 0", "naming_penalty: 0.5"))
    again = Recorder()
    run_batch(source, out, load_rubric(edited), grade=again)
    assert sorted(again.graded) == sorted(p.name for p in source.iterdir())


def test_an_archive_taken_out_keeps_its_folder_but_leaves_grades_csv(graded):
    source, out = graded
    (source / "CRUZ Cid Lab2 DLCV.tar.bz2").unlink()
    result = run_batch(source, out, RUBRIC)
    assert result.graded == 0 and len(csv_rows(out)) == 7
    assert "CRUZ" not in {line["last_name"] for line in csv_rows(out)}
    assert (out / "students" / "CRUZ_Cid" / "report.json").exists()       # its results are not deleted
    assert "belong to no archive of the folder any more" in (out / "summary.md").read_text()
