"""Hand-given points from a teacher's CSV: the forms spreadsheets export, and every error."""
import pytest

from grader import RUBRIC
from grader.errors import UsageError
from grader.manual import apply_manual, load_batch, load_manual, student_key
from grader.results import CheckResult, QuestionResult, Report
from grader.rubric import load as load_rubric


def report() -> Report:
    return Report("DOE John", "DOE John Lab2 DLCV.tar.bz2", questions=[
        QuestionResult("q1_1", "sigmoid", 1.0, checks=[CheckResult("sigmoid", True, 1.0, 1.0)]),
        QuestionResult("q1_2", "forward", 1.0, 1.0, checks=[CheckResult("forward", True, 1.0, 1.0)]),
        QuestionResult("q1_4", "gradients", 1.5, 1.0, checks=[CheckResult("gradients", True, 1.5, 1.5)]),
        QuestionResult("q2_3", "another digit (bonus)", 1.0, 1.0, bonus=True),
        QuestionResult("q3_1", "architecture figure", 0.0, 2.0, status="manual"),
    ])


def write(tmp_path, text: str, encoding="utf-8", name="manual.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_single_student_csv_with_commas(tmp_path):
    path = write(tmp_path, "question,points,comment\nq1_2,1,good\nq3_1,1.5,\"arrows missing, labels ok\"\n")
    entries = load_manual(path)
    assert set(entries) == {"q1_2", "q3_1"}
    assert entries["q3_1"].points == 1.5 and entries["q3_1"].comment == "arrows missing, labels ok"
    assert entries["q3_1"].line == 3
    r = report()
    apply_manual(r, entries)
    assert r.question("q3_1").manual_points == 1.5 and r.question("q1_2").manual_comment == "good"
    assert r.total == 2.5 + 3.5  # automatic 3.5 + hand 2.5


def test_french_spreadsheet_semicolons_decimal_commas_bom_crlf(tmp_path):
    text = "Question;Points;Commentaire\r\nQ1.2;0,5;à revoir\r\n3.1;1,5;\r\n"
    entries = load_manual(write(tmp_path, "\ufeff" + text))
    assert entries["q1_2"].points == 0.5 and entries["q1_2"].comment == "à revoir"
    assert entries["q3_1"].points == 1.5


def test_empty_points_leave_the_part_pending_and_say_so(tmp_path):
    entries = load_manual(write(tmp_path, "question,points,comment\nq1_2,,\n\nq3_1,2,ok\n"))
    assert set(entries) == {"q3_1"}
    r = report()
    warnings = apply_manual(r, entries)
    assert r.question("q1_2").manual_pending
    assert warnings == ["written parts still to grade by hand: q1_2, q1_4, q2_3"]


def test_a_quoted_multiline_comment_keeps_line_numbers_right(tmp_path):
    path = write(tmp_path, 'question,points,comment\nq1_2,1,"two\nlines"\nq1_4,x,\n')
    with pytest.raises(UsageError, match="manual.csv line 4: points 'x' is not a number"):
        load_manual(path)


@pytest.mark.parametrize("row, message", [
    ("q9_9,1,", "line 3: unknown question 'q9_9'"),
    ("q1_4,one,", "line 3: points 'one' is not a number"),
    ("q1_4,nan,", "line 3: points 'nan' is not a number"),
    ("q1_2,0.5,", "line 3: q1_2 is given twice (first on line 2)"),
])
def test_load_errors_name_the_line(tmp_path, row, message):
    path = write(tmp_path, f"question,points,comment\nq1_2,1,\n{row}\n")
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_manual(path)


@pytest.mark.parametrize("row, message", [
    ("q1_1,1,", "line 3: q1_1 has no written part graded by hand"),
    ("q1_2,-0.5,", "line 3: q1_2: negative points"),
    ("q3_1,2.5,", "line 3: q3_1: 2.5 points, more than its written part's 2"),
    ("q3_2,1,", "line 3: question q3_2 is not in this report"),
])
def test_apply_errors_name_the_line_and_change_nothing(tmp_path, row, message):
    # A valid row first: checking everything before changing anything must keep it out too.
    entries = load_manual(write(tmp_path, f"question,points,comment\nq1_4,1,fine\n{row}\n"))
    r = report()
    before = r.to_dict()
    with pytest.raises(UsageError, match=message):
        apply_manual(r, entries)
    assert r.to_dict() == before


def test_header_problems(tmp_path):
    with pytest.raises(UsageError, match="line 1: the header has no points column"):
        load_manual(write(tmp_path, "question,score_x\nq1_2,1\n"))
    with pytest.raises(UsageError, match="empty file"):
        load_manual(write(tmp_path, ""))
    with pytest.raises(UsageError, match="line 1: the header has no student column"):
        load_manual(write(tmp_path, "question,points\nq1_2,1\n"), batch=True)
    with pytest.raises(UsageError, match="not UTF-8"):
        load_manual(write(tmp_path, "question;points;comment\nq1_2;1;très bien\n", encoding="latin-1"))
    with pytest.raises(UsageError, match="cannot read"):
        load_manual(tmp_path / "missing.csv")


def test_merging_is_idempotent(tmp_path):
    entries = load_manual(write(tmp_path, "question,points,comment\nq1_2,1,good\nq3_1,2,\n"))
    r = report()
    first = apply_manual(r, entries)
    state = r.to_dict()
    second = apply_manual(r, entries)
    assert r.to_dict() == state and second == first


def test_changing_given_points_is_warned(tmp_path):
    r = report()
    apply_manual(r, load_manual(write(tmp_path, "question,points\nq1_2,1\n")))
    warnings = apply_manual(r, load_manual(write(tmp_path, "question,points\nq1_2,0.5\n", name="v2.csv")))
    assert "q1_2: hand-given points changed from 1 to 0.5 (v2.csv line 2)" in warnings
    assert r.question("q1_2").manual_points == 0.5


def test_batch_form_keys_students_by_name_in_any_spelling(tmp_path):
    text = ("Student;Question;Points;Comment\n"
            "DOE_John;q1_2;1;\n"
            "john doe;q3_1;1,5;schéma correct\n"
            "Éloïse MARTIN-DURAND;q1_2;0,5;\n")
    batch = load_manual(write(tmp_path, text), batch=True)
    assert set(batch) == {student_key("Doe John"), student_key("MARTIN DURAND Eloise")}
    r = report()
    apply_manual(r, batch[student_key("doe_john")])
    assert r.question("q1_2").manual_points == 1 and r.question("q3_1").manual_points == 1.5
    assert batch[student_key("martin-durand_eloise")]["q1_2"].points == 0.5
    assert student_key("SMITH Ann") not in batch


def test_a_class_file_is_checked_against_the_rubric_before_any_grading(tmp_path):
    rubric = load_rubric(RUBRIC)
    entries = load_batch(write(tmp_path, "student,question,points\nDOE John,q1_2,1\n"), rubric)
    assert entries[student_key("John DOE")]["q1_2"].points == 1
    too_many = write(tmp_path, "student,question,points\nDOE John,q1_2,1\nROE Jane,q1_2,99\n", name="bad.csv")
    with pytest.raises(UsageError, match=r"bad.csv line 3: q1_2: 99 points, more than its written part's"):
        load_batch(too_many, rubric)


def test_batch_duplicates_are_per_student(tmp_path):
    text = "student,question,points\nDOE John,q1_2,1\nROE Jane,q1_2,1\nJohn DOE,q1_2,0\n"
    with pytest.raises(UsageError, match="line 4: q1_2 is given twice for John DOE \\(first on line 2\\)"):
        load_manual(write(tmp_path, text), batch=True)


def test_student_key_ignores_case_accents_separators_and_order():
    assert student_key("DOE John") == student_key("john_doe") == student_key("  Doe   JOHN ")
    assert student_key("Hélène LE-GALL") == student_key("le gall helene")
    assert student_key("DOE John") != student_key("DOE Jane")
