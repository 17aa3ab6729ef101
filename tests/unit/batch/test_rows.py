"""A batch's rows (``grader.batch.run``): one per archive in ``grades.csv`` and ``OUT/students``,
whatever happens to the archive, the grader included.

Run in this process on scripted archives (``scripted.run_batch``): refused archives are unpacked
and refused for real, the others get the points their script gives. Real grading of the same
rules is ``tests/sandbox/test_batch.py`` (the catalogue, a worker that dies).
"""
import csv
import hashlib
import io
import json
import os
from pathlib import Path

import pytest
from builders import archives, scripted
from builders.scripted import run_batch

from grader import names
from grader.rubric import load as load_rubric

RUBRIC = load_rubric(Path(__file__).parents[2] / "files" / "rubric_small.yaml")

OUT_FILES = [".batch.lock", "grades.csv", "histogram.png", "similarity.html", "students", "summary.md"]
STUDENT_FILES = {"report.json", "results.json", "feedback.md", "archive.json"}   # no curves: none drawn


def csv_rows(out: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO((out / "grades.csv").read_bytes().decode("utf-8-sig"), newline="")))


def by_file(result) -> dict:
    return {r.file: r for r in result.rows}


def a_class(source: Path) -> dict[str, str]:
    """Five archives and what the batch must make of each: {file: status}."""
    source.mkdir(parents=True)
    scripted.write(source, "DOE John Lab2 DLCV.tar.bz2", points={"q1_1": 0.5, "q3_3": 1},
                   mistakes={"q1_1": "no-clipping"})
    scripted.write(source, "MARTIN Alice Lab2 DLCV.tar.bz2", status="import-error")
    archives.empty(source)            # VIDE Rien
    archives.no_package(source)       # SANS Paquet
    archives.not_an_archive(source)   # TEXTE Seul
    return {"DOE John Lab2 DLCV.tar.bz2": "graded", "MARTIN Alice Lab2 DLCV.tar.bz2": "import-error",
            "VIDE Rien Lab2 DLCV.tar.bz2": "bad-archive", "SANS Paquet Lab2 DLCV.tar.bz2": "no-package",
            "TEXTE Seul Lab2 DLCV.tar.bz2": "bad-archive"}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("rows")
    source, out = root / "submissions", root / "out"
    expected = a_class(source)
    (source / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")      # what macOS leaves: not an archive
    (source / "unpacked").mkdir()                              # a folder: not entered, and said so
    return {"source": source, "out": out, "expected": expected, "result": run_batch(source, out, RUBRIC)}


def test_one_row_per_archive_in_grades_csv_with_its_points(graded_class):
    source, out, expected, result = (graded_class[k] for k in ("source", "out", "expected", "result"))
    assert {r.file: r.status for r in result.rows} == expected
    assert (result.graded, result.skipped, result.internal_errors) == (5, 0, [])
    lines = {line["file"]: line for line in csv_rows(out)}
    assert {f: line["status"] for f, line in lines.items()} == expected
    doe = lines["DOE John Lab2 DLCV.tar.bz2"]
    assert (doe["last_name"], doe["first_name"], doe["q1_1"], doe["q3_3"], doe["q2_1"]) == ("DOE", "John", "0.5", "1",
                                                                                              "2.5")
    assert (doe["total"], doe["bonus"]) == ("13", "1")   # 15 automatic points, 0.5 + 1.5 not given
    assert doe["sha256"] == hashlib.sha256((source / doe["file"]).read_bytes()).hexdigest()
    assert lines["MARTIN Alice Lab2 DLCV.tar.bz2"]["total"] == "0"
    assert "the archive is an empty file" in lines["VIDE Rien Lab2 DLCV.tar.bz2"]["warnings"]
    assert "no lab2/ package" in lines["SANS Paquet Lab2 DLCV.tar.bz2"]["warnings"]
    summary = (out / "summary.md").read_text()
    assert "| graded | 1 |" in summary and "| bad-archive | 2 |" in summary and "| no-package | 1 |" in summary
    assert "| `no-clipping` | 1 |" in summary
    assert f"1 folder in {source} not entered" in summary


def test_every_student_folder_holds_its_outputs(graded_class):
    out, result = graded_class["out"], graded_class["result"]
    assert sorted(os.listdir(out)) == OUT_FILES    # the work folders are gone
    assert sorted(os.listdir(out / "students")) == sorted(r.key for r in result.rows)
    for row in result.rows:
        folder = out / "students" / row.key
        assert set(os.listdir(folder)) == STUDENT_FILES, row.key
        report = json.loads((folder / "report.json").read_text())
        assert report["status"] == row.status and report["student"] == row.report.student
        assert json.loads((folder / "results.json").read_text())["extra_data"]["status"] == row.status
        marker = json.loads((folder / "archive.json").read_text())
        assert (marker["file"], marker["sha256"], marker["status"]) == (row.file, row.sha256, row.status)
        assert (marker["last_name"], marker["first_name"]) == (row.last, row.first)
        assert row.report.student in (folder / "feedback.md").read_text()
    assert by_file(result)["DOE John Lab2 DLCV.tar.bz2"].key == "DOE_John"


def test_two_archives_of_one_student_get_two_folders(tmp_path):
    source = tmp_path / "submissions"
    source.mkdir()
    whole = scripted.write(source, "DOE John Lab2 DLCV.tar.bz2").read_bytes()
    (source / "DOE John Lab2 DLCV (1).tar.bz2").write_bytes(whole[: len(whole) // 2])   # a re-download, cut
    result = run_batch(source, tmp_path / "out", RUBRIC)
    doe = sorted(result.rows, key=lambda r: r.file)
    assert [r.key for r in doe] == [f"DOE_John-{r.sha256[:8]}" for r in doe] and len(doe) == 2
    assert [(r.file, r.status) for r in doe] == [("DOE John Lab2 DLCV (1).tar.bz2", "bad-archive"),
                                                 ("DOE John Lab2 DLCV.tar.bz2", "graded")]
    assert "also DOE John Lab2 DLCV.tar.bz2" in " ".join(doe[0].warnings)
    assert "also DOE John Lab2 DLCV (1).tar.bz2" in " ".join(doe[1].warnings)
    assert len(csv_rows(tmp_path / "out")) == 2


def test_a_misnamed_archive_gets_a_fallback_key_and_the_naming_penalty(tmp_path):
    source, out = tmp_path / "submissions", tmp_path / "out"
    source.mkdir()
    scripted.write(source, "submission.tar.bz2")
    penalised = RUBRIC.model_copy(update={"naming_penalty": 1.0})
    row = run_batch(source, out, penalised).rows[0]
    assert row.key == names.fallback_key("submission.tar.bz2") and (row.last, row.first) == ("", "")
    assert row.report.penalty == 1.0 and any("does not read as" in w and "naming penalty -1" in w for w in row.warnings)
    assert csv_rows(out)[0]["total"] == "14"


def test_an_error_around_one_archive_costs_that_row_only(tmp_path, monkeypatch):
    """The grader's failures, each around one archive: its results cannot be written, its name
    cannot be parsed, its grading raises, its grading reports the grader's own error. Each is
    a row (``internal-error`` with the reason, or graded under a fallback key), retried next run."""
    source, out = tmp_path / "submissions", tmp_path / "out"
    source.mkdir()
    for name in ("BROKEN Disk", "ODD Name", "FINE Anna", "BUGGY Grader", "FAILED Grader"):
        scripted.write(source, f"{name} Lab2 DLCV.tar.bz2")

    def failing(path, folder, rubric, *args):   # the first run's grading fails on two archives
        if path.name.startswith("BUGGY"):
            raise RuntimeError("a grader bug")
        if path.name.startswith("FAILED"):   # as grade_archive reports its own failure
            script = {"status": "internal-error", "error": "RuntimeError: no cache"}
            return {"report": scripted.scripted_report(path.name, path.name, rubric, script).to_dict(),
                    "fingerprint": {}}
        return scripted.grade(path, folder, rubric, *args)

    # report.json cannot be written where a folder of that name stands (even for root).
    (out / "students" / "BROKEN_Disk" / "report.json").mkdir(parents=True)
    (out / "students" / "BROKEN_Disk" / "report.json" / "x").write_text("x")
    real_parse = names.parse_name

    def parse(name):
        if str(name).startswith("ODD"):
            raise UnicodeEncodeError("utf-8", "x", 0, 1, "surrogates not allowed")
        return real_parse(name)

    monkeypatch.setattr(names, "parse_name", parse)
    result = run_batch(source, out, RUBRIC, grade=failing)
    rows = by_file(result)
    assert len(rows) == 5
    broken = rows["BROKEN Disk Lab2 DLCV.tar.bz2"]
    assert broken.status == "internal-error" and "could not be written: IsADirectoryError" in broken.report.error
    buggy = rows["BUGGY Grader Lab2 DLCV.tar.bz2"]
    assert buggy.status == "internal-error" and "raised RuntimeError: a grader bug" in buggy.report.error
    assert rows["FAILED Grader Lab2 DLCV.tar.bz2"].report.error == "RuntimeError: no cache"
    assert sorted(result.internal_errors) == ["BROKEN Disk Lab2 DLCV.tar.bz2", "BUGGY Grader Lab2 DLCV.tar.bz2",
                                              "FAILED Grader Lab2 DLCV.tar.bz2"]
    odd = rows["ODD Name Lab2 DLCV.tar.bz2"]
    assert odd.status == "graded" and odd.key == names.fallback_key(odd.file)
    assert any("could not be read as a student's name" in w for w in odd.warnings)
    assert rows["FINE Anna Lab2 DLCV.tar.bz2"].status == "graded"
    lines = {line["file"]: line for line in csv_rows(out)}
    assert {f: line["status"] for f, line in lines.items()} == {f: r.status for f, r in rows.items()}
    assert all(lines[f]["total"] == "" for f in result.internal_errors)   # never a zero
    assert "could not be written" in lines["BROKEN Disk Lab2 DLCV.tar.bz2"]["warnings"]

    # The grader's failures are retried at the next run, and only they.
    (out / "students" / "BROKEN_Disk" / "report.json" / "x").unlink()
    (out / "students" / "BROKEN_Disk" / "report.json").rmdir()
    graded = []

    def grade(path, *args):
        graded.append(path.name)
        return scripted.grade(path, *args)

    again = run_batch(source, out, RUBRIC, grade=grade)
    assert sorted(graded) == ["BROKEN Disk Lab2 DLCV.tar.bz2", "BUGGY Grader Lab2 DLCV.tar.bz2",
                              "FAILED Grader Lab2 DLCV.tar.bz2"]
    assert again.internal_errors == [] and {r.status for r in again.rows} == {"graded"}
    assert len(csv_rows(out)) == 5
