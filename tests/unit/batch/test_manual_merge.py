"""Hand-given points (``manual_csv``) merged into a batch's rows (``grader.batch.run``).

They are merged at every run into every matching report, graded now or up to date, so a new
file updates the totals without regrading; a file's entries replace all earlier hand-given
points, and a run without a file keeps the last ones. Run in this process on scripted archives
(``scripted.run_batch``); the file's own format is ``tests/unit/test_manual.py``.
"""
import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from builders import archives, scripted
from builders.scripted import run_batch

from grader.rubric import load as load_rubric

RUBRIC = load_rubric(Path(__file__).parents[2] / "files" / "rubric_small.yaml")

JANE = "DOE Jane Lab2 DLCV.tar.bz2"


def csv_rows(out: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO((out / "grades.csv").read_bytes().decode("utf-8-sig"), newline="")))


def line_of(out: Path, file: str) -> dict:
    return next(line for line in csv_rows(out) if line["file"] == file)


def report_mtimes(out: Path) -> dict:
    return {p.parent.name: p.stat().st_mtime_ns for p in (out / "students").glob("*/report.json")}


def small_class(source: Path) -> None:
    source.mkdir()
    scripted.write(source, JANE, points={"q1_3": 0.5, "q2_1": 1})
    scripted.write(source, "COPY Cat Lab2 DLCV.tar.bz2")
    scripted.write(source, "DOE John Lab2 DLCV.tar.bz2")
    archives.empty(source)   # VIDE Rien: nothing graded


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("manual")
    small_class(root / "submissions")
    run_batch(root / "submissions", root / "out", RUBRIC)
    return root


def test_hand_given_points_update_totals_without_regrading(tmp_path, graded_class):
    source, out = graded_class / "submissions", tmp_path / "out"
    shutil.copytree(graded_class / "out", out)
    mtimes = {k: v for k, v in report_mtimes(out).items() if k != "DOE_Jane"}
    auto = {line["file"]: float(line["total"]) for line in csv_rows(out) if line["total"]}
    assert auto[JANE] == 13.0
    first = tmp_path / "manual.csv"
    first.write_text("student;question;points;comment\nDOE Jane;q1_2;1;ok\nDOE Jane;Q3.1;1,5;figure small\n"
                     "jane doe;q2_3;1;\nNOBODY Here;q1_2;1;\n", encoding="utf-8-sig")
    result = run_batch(source, out, RUBRIC, manual_csv=first)
    assert result.graded == 0 and result.skipped == 4
    jane = line_of(out, JANE)
    assert float(jane["total"]) == pytest.approx(auto[JANE] + 2.5)   # q2_3 is the bonus: not in the total
    assert (jane["q1_2"], jane["q3_1"], jane["q2_3"], jane["bonus"]) == ("2", "1.5", "2", "2")
    assert "written parts still to grade by hand: q1_3, q1_4" in jane["warnings"]
    saved = json.loads((out / "students" / "DOE_Jane" / "report.json").read_text())
    assert {q["id"]: q["manual_points"] for q in saved["questions"]}["q3_1"] == 1.5
    assert "figure small" in (out / "students" / "DOE_Jane" / "feedback.md").read_text()
    assert "NOBODY Here" in (out / "summary.md").read_text()       # a student with no archive is named
    assert {k: v for k, v in report_mtimes(out).items() if k != "DOE_Jane"} == mtimes   # nobody else rewritten
    assert float(line_of(out, "DOE John Lab2 DLCV.tar.bz2")["total"]) == auto["DOE John Lab2 DLCV.tar.bz2"]

    second = tmp_path / "manual2.csv"
    second.write_text("student,question,points\nDOE Jane,q1_2,0.5\n")
    run_batch(source, out, RUBRIC, manual_csv=second)
    jane = line_of(out, JANE)
    assert float(jane["total"]) == pytest.approx(auto[JANE] + 0.5)   # the new file replaces the old
    assert jane["q3_1"] == "0"

    run_batch(source, out, RUBRIC)     # no file: the points merged last are kept
    assert float(line_of(out, JANE)["total"]) == pytest.approx(auto[JANE] + 0.5)


def test_hand_given_points_reach_an_archive_graded_in_the_same_run(tmp_path):
    source, out = tmp_path / "submissions", tmp_path / "out"
    small_class(source)
    manual = tmp_path / "manual.csv"
    manual.write_text("student,question,points,comment\nDOE John,q1_4,1,clear\nVIDE Rien,q1_2,1,\n")
    result = run_batch(source, out, RUBRIC, manual_csv=manual)
    assert result.graded == 4
    john = line_of(out, "DOE John Lab2 DLCV.tar.bz2")
    assert (john["q1_4"], john["total"]) == ("2.5", "16")
    empty = line_of(out, "VIDE Rien Lab2 DLCV.tar.bz2")
    assert empty["status"] == "bad-archive"
    assert "hand-given points in the manual file not merged: nothing was graded" in empty["warnings"]
    assert "no archive for the student" not in (out / "summary.md").read_text()   # both were found
