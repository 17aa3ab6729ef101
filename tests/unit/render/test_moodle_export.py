"""The way back to Moodle (``grader.render.moodle``): the filled worksheet and feedback-files.zip.

Pure and fast: rows are built from hand-made reports. The oracle for byte identity is the test's
own assembly of the worksheet (``teacher_inputs``), not the module's scanner: the expected file
is the downloaded one with only the two cells put in.
"""
import csv
import io
import zipfile

import pytest
from builders import teacher_inputs as ti
from conftest import SMALL_RUBRIC as RUBRIC_PATH

from grader.batch.intake import worksheet
from grader.batch.rows import Row
from grader.render.moodle import export, feedback_html, fill_worksheet
from grader.results import CheckResult, QuestionResult, Report
from grader.rubric import load as load_rubric

RUBRIC = load_rubric(RUBRIC_PATH)
CLASS = [ti.Participant(123456, "John Doe", {}, submitted="Thursday, 10 December 2026, 11:00 PM"),
         ti.Participant(123457, "Jürgen Müller", {}, submitted="Thursday, 10 December 2026, 9:00 PM"),
         ti.Participant(123458, "Alice Martin", {}),
         ti.Participant(123459, "Bob <b>Bold</b>", {})]


def graded_report(student="DOE John", *, late=0.0) -> Report:
    q1 = QuestionResult("q1_1", "sigmoid", 1.0, checks=[CheckResult("sigmoid: values", True, 1.0, 1.0)])
    q3 = QuestionResult("q1_3", "loss", 1.0, max_manual=1.0, status="failed", checks=[
        CheckResult("loss: values", False, 0.0, 1.0, "loss: wrong", mistake="no-clipping")])
    return Report(student=student, submission="x.tar.bz2", questions=[q1, q3], total_max=20.0, late_penalty=late,
                  lateness="Submission received ...: 1 started day late: late penalty -0.5." if late else "")


def row(pid: int, folder: str, report: Report, status: str = "graded", key: str = "") -> Row:
    report.status = status
    if status in ("no-archive", "internal-error"):
        report.questions, report.error = [], "no archive attached" if status == "no-archive" else "boom"
    return Row("x.tar.bz2", "", key or f"K{pid}", "", "", report, source="moodle", participant=str(pid),
               moodle_folder=folder)


def class_rows() -> list[Row]:
    return [row(123456, "John Doe_123456_assignsubmission_file", graded_report(late=0.5)),
            row(123457, "Jürgen Müller_123457_assignsubmission_file", graded_report("MÜLLER Jürgen")),
            row(123458, "Alice Martin_123458_assignsubmission_file", Report("Alice Martin", ""), "no-archive"),
            row(123459, "Bob <b>Bold</b>_123459_assignsubmission_file", Report("Bob", ""), "internal-error")]


@pytest.mark.parametrize("lang, bom, newline", [("en", True, "\n"), ("fr", False, "\r\n")])
def test_the_filled_worksheet_differs_only_in_grade_and_feedback(tmp_path, lang, bom, newline):
    lines = ti.worksheet_lines(CLASS, lang=lang)
    path = tmp_path / ("Grades-DLCV-Lab 2-42.csv" if lang == "en" else "Notes-DLCV-Lab 2-42.csv")
    path.write_bytes(ti.assemble(lines, bom, newline))
    rows = class_rows()
    files, notes = export(rows, worksheet.read(path), RUBRIC)
    assert notes == [] and sorted(files) == sorted(["feedback-files.zip", path.name])

    expected = [list(line) for line in lines]
    grade, feedback = 4, len(lines[0]) - 1
    expected[1][grade] = "0.5"                       # 1 point - the late penalty (written part pending)
    expected[1][feedback] = ti.php_cell(feedback_html(rows[0].report, "graded"))
    expected[2][grade] = "1"
    expected[2][feedback] = ti.php_cell(feedback_html(rows[1].report, "graded"))
    expected[3][feedback] = ti.php_cell(feedback_html(rows[2].report, "no-archive", rows[2].reason))
    # the internal error's row (123459) is left exactly as downloaded
    assert files[path.name] == ti.assemble(expected, bom, newline)

    before = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))
    after = list(csv.reader(io.StringIO(files[path.name].decode("utf-8-sig"), newline="")))
    changed = {(r, c) for r in range(len(before)) for c in range(len(before[r])) if before[r][c] != after[r][c]}
    assert {c for _, c in changed} == {grade, feedback}


def test_feedback_is_simple_escaped_html_with_total_points_and_mistakes():
    text = feedback_html(graded_report(late=0.5), "graded")
    assert text.startswith("<p><strong>Total: 0.5 / 20</strong> (late penalty -0.5)</p>")
    assert "<li>q1_1 sigmoid: 1 / 1</li>" in text and "<li>q1_3 loss: 0 / 2 (written part still to grade)</li>" in text
    assert "<li><code>no-clipping</code>: " in text and "\n" not in text
    report = graded_report()
    report.questions[0].title = "<script>alert(1)</script>"
    assert "<script>" not in feedback_html(report, "graded") and "&lt;script&gt;" in feedback_html(report, "graded")


def test_feedback_files_zip_has_one_feedback_html_per_participant_folder(tmp_path):
    files, _ = export(class_rows(), None, RUBRIC)
    assert list(files) == ["feedback-files.zip"]
    with zipfile.ZipFile(io.BytesIO(files["feedback-files.zip"])) as zf:
        names = zf.namelist()
        page = zf.read("John Doe_123456_assignsubmission_file/feedback.html").decode()
    assert names == ["Alice Martin_123458_assignsubmission_file/feedback.html",
                     "John Doe_123456_assignsubmission_file/feedback.html",
                     "Jürgen Müller_123457_assignsubmission_file/feedback.html"]   # no page for the grader's failure
    assert "<strong>Total: 0.5 / 20</strong>" in page and "# Lab 2 feedback: DOE John" in page
    assert export(class_rows(), None, RUBRIC)[0] == files                 # same rows, same bytes


def test_grades_are_scaled_to_moodles_maximum_and_missing_participants_named(tmp_path):
    path = ti.write_worksheet(tmp_path / "Grades.csv", CLASS[1:], max_grade="100.00")
    rows = class_rows()
    files, notes = export(rows, worksheet.read(path), RUBRIC)
    assert notes == ["Moodle's maximum grade is 100, the rubric's total 20: grades written to the worksheet are "
                     "scaled by 100/20"]
    after = list(csv.reader(io.StringIO(files["Grades.csv"].decode("utf-8-sig"), newline="")))
    assert after[1][0] == "Participant 123457" and after[1][4] == "5"
    assert rows[0].notes == ["participant 123456 is not in the worksheet Grades.csv: its grade is not written there"]


def test_a_worksheet_without_feedback_column_gets_grades_only(tmp_path):
    path = ti.write_worksheet(tmp_path / "Grades.csv", CLASS, feedback=False)
    files, notes = export(class_rows(), worksheet.read(path), RUBRIC)
    assert any("has no 'Feedback comments' column" in n for n in notes)
    before = path.read_bytes().decode("utf-8-sig").splitlines()
    after = files["Grades.csv"].decode("utf-8-sig").splitlines()
    status = ',"Submitted for grading",'
    assert after[0] == before[0] and after[1] == before[1].replace(status + ",", status + "0.5,")


def test_fill_worksheet_leaves_unknown_participants_and_none_cells_alone(tmp_path):
    path = ti.write_worksheet(tmp_path / "Grades.csv", CLASS)
    sheet = worksheet.read(path)
    assert fill_worksheet(sheet, {"999": ("12", "x"), "123456": (None, None)}) == path.read_bytes()
