"""A Moodle download graded into ``OUT/moodle/`` (``grader.batch.run`` and ``grader.render.moodle``):
the worksheet's values are the batch's rows, with hand-given points, lateness and Moodle's scale.

Run in this process on scripted archives (``scripted.run_batch``); the worksheet's bytes cell by
cell are ``tests/unit/render/test_moodle_export.py``, and the same archives from a folder, a
mailbox and Moodle with real grading ``tests/sandbox/test_batch_sources.py``.
"""
import csv
import io
import shutil
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from builders import archives, scripted
from builders import teacher_inputs as ti
from builders.scripted import run_batch

from grader.rubric import load as load_rubric

RUBRIC = load_rubric(Path(__file__).parents[2] / "files" / "rubric_small.yaml")

ZIP, SHEET = "DLCV-Lab 2-42.zip", "Grades-DLCV-Lab 2-42.csv"


def worksheet_cells(path: Path) -> dict[str, tuple[str, str]]:
    """{participant: (grade, feedback)} of a worksheet (Grade is column 4, the feedback last)."""
    lines = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))
    return {line[0]: (line[4], line[-1]) for line in lines[1:]}


@pytest.fixture(scope="module")
def download(tmp_path_factory):
    """Four participants: a graded archive, one the grader fails on, one with no package, one
    who submitted nothing; a worksheet out of 10 (the rubric is out of 20); graded once into
    ``out`` (``result``: its ``BatchResult``)."""
    tmp_path = tmp_path_factory.mktemp("moodle")
    made = tmp_path / "archives"
    made.mkdir()

    def tar(name, **script):
        return scripted.write(made, name, **script).read_bytes()

    people = [
        ti.Participant(100, "John Doe", {"DOE John Lab2 DLCV.tar.bz2": tar("DOE John Lab2 DLCV.tar.bz2",
                                                                           points={"q1_1": 0.5})},
                       submitted="Thursday, 10 December 2026, 9:00 PM"),
        ti.Participant(101, "Alice Martin", {"MARTIN Alice Lab2 DLCV.tar.bz2": tar(
            "MARTIN Alice Lab2 DLCV.tar.bz2", **{"raise": "a grader bug"})},
            submitted="Thursday, 10 December 2026, 7:00 PM"),
        ti.Participant(102, "Paquet Sans", {"SANS Paquet Lab2 DLCV.tar.bz2": archives.no_package(made).read_bytes()},
                       submitted="Thursday, 10 December 2026, 7:00 PM"),
        ti.Participant(103, "Nobody Here", {}),
    ]
    ti.write_moodle_zip(tmp_path / ZIP, people, "folder")
    ti.write_worksheet(tmp_path / SHEET, people, max_grade="10.00")
    return {"root": tmp_path, "out": tmp_path / "out",
            "result": run_batch(tmp_path / ZIP, tmp_path / "out", RUBRIC, worksheet=tmp_path / SHEET)}


def test_the_worksheet_gets_each_graded_participants_scaled_total_and_feedback(download):
    root, out, result = download["root"], download["out"], download["result"]
    assert {r.participant: r.status for r in result.rows} == {"100": "graded", "101": "internal-error",
                                                               "102": "no-package"}
    cells = worksheet_cells(out / "moodle" / SHEET)
    assert cells["Participant 100"][0] == "7.25"           # 14.5 / 20, written out of 10
    assert cells["Participant 100"][1].startswith("<p><strong>Total: 14.5 / 20</strong>; bonus 1</p>")
    assert "<li>q1_1 sigmoid: 0.5 / 1</li>" in cells["Participant 100"][1]
    assert cells["Participant 101"] == ("", "")             # the grader's failure: left as downloaded
    assert cells["Participant 102"][0] == "0" and "Not graded normally: no-package" in cells["Participant 102"][1]
    assert cells["Participant 103"] == ("", "")             # nothing submitted: no row, left alone
    assert len((out / "moodle" / SHEET).read_bytes().splitlines()) == len((root / SHEET).read_bytes().splitlines())
    with zipfile.ZipFile(out / "moodle" / "feedback-files.zip") as zf:
        assert zf.namelist() == ["John Doe_100_assignsubmission_file/feedback.html",
                                 "Paquet Sans_102_assignsubmission_file/feedback.html"]
        assert "<strong>Total: 14.5 / 20</strong>" in zf.read(zf.namelist()[0]).decode()
    assert "grades written to the worksheet are scaled by 10/20" in (out / "summary.md").read_text()


def test_hand_given_points_and_lateness_reach_the_worksheet_without_regrading(download, tmp_path):
    out = tmp_path / "out"
    root = download["root"]
    shutil.copytree(download["out"], out)
    manual = tmp_path / "manual.csv"
    manual.write_text("student,question,points,comment\nDOE John,q1_2,1,neat\n")
    late = RUBRIC.lateness.model_copy(update={
        "default": datetime(2026, 12, 10, 20, 0, tzinfo=timezone.utc),
        "policy": RUBRIC.lateness.policy.model_copy(update={"per_started_day": 2.0})})
    graded = []

    def grade(path, *args):
        graded.append(path.name)
        return scripted.grade(path, *args)

    result = run_batch(root / ZIP, out, RUBRIC.model_copy(update={"lateness": late}), grade=grade,
                       worksheet=root / SHEET, manual_csv=manual)
    assert graded == ["MARTIN Alice Lab2 DLCV.tar.bz2"]     # the grader's failure only is retried
    john = next(r for r in result.rows if r.participant == "100")
    assert (john.late_days, john.report.late_penalty) == (1, 2.0)
    cells = worksheet_cells(out / "moodle" / SHEET)
    assert cells["Participant 100"][0] == "6.75"           # 14.5 + 1 by hand - 2 late = 13.5, out of 10
    assert "(late penalty -2)" in cells["Participant 100"][1]
    assert cells["Participant 102"][0] == "0"              # on time: 7 PM
