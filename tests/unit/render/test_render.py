"""The renderers on hand-built reports: what a student and a teacher read, and what never leaks."""
import json

import pytest

from grader.render import render_markdown, render_terminal, to_gradescope, write_json
from grader.render.common import one_line
from grader.render.gradescope import problems
from grader.results import CheckResult, QuestionResult, QuestionStatus, Report, RowStatus
from grader.rubric import load
from lab2check import questions

SECRET = "SECRET-HIDDEN-INPUT x=[0.123456789]"
RUBRIC = load()


def perfect() -> Report:
    """Every question of the real rubric at full marks: one public and one hidden check each."""
    questions = []
    for qid, spec in RUBRIC.questions.items():
        checks = []
        if spec.auto:
            checks = [CheckResult(f"{spec.title}: values (public case 1)", True, spec.auto * 0.6, spec.auto * 0.6),
                      CheckResult(f"{spec.title}: values (hidden case 1)", True, spec.auto * 0.4, spec.auto * 0.4,
                                  hidden=True)]
        questions.append(QuestionResult(qid, spec.title, spec.auto, spec.manual, spec.bonus,
                                        status="passed" if spec.auto else "manual",
                                        summary="all checks passed" if spec.auto else "", checks=checks))
    return Report("DOE John", "DOE John Lab2 DLCV.tar.bz2", sandbox="bubblewrap", questions=questions,
                  reported_losses={"single_neuron": 0.032, "hidden_layer": 0.015, "multiclass": 0.12},
                  reproduced_losses={"single_neuron": 0.031, "hidden_layer": 0.0151, "multiclass": 0.118},
                  seconds=41.6)


def with_failures() -> Report:
    """q1_3 with a diagnosed public failure and two hidden failures whose messages are secret."""
    report = perfect()
    q = report.question("q1_3")
    q.status, q.summary = "partial", "loss: off by a factor m [mistake:missing-mean]"
    q.checks = [
        CheckResult("loss: type", True, 0.4, 0.4),
        CheckResult("loss: values (public case 2)", False, 0.0, 0.2,
                    message="loss(y, y_hat) with y (1, 100) returned 12.5\nexpected 0.125: abs err 12.4, rel err 99\n"
                            "[mistake:missing-mean] you summed over the examples: divide by m.",
                    mistake="missing-mean"),
        CheckResult("loss: SECRET-NAME (hidden case 1)", False, 0.0, 0.2, message=SECRET, hidden=True,
                    mistake="no-clipping"),
        CheckResult("loss: SECRET-NAME (hidden case 2)", False, 0.0, 0.2, message=SECRET, hidden=True),
    ]
    report.warnings = ["lab2/multiclass.py printed 400 lines; the first and last 32 KB were kept"]
    return report


def all_manual_given(report: Report) -> Report:
    for q in report.questions:
        if q.max_manual:
            q.manual_points, q.manual_comment = q.max_manual, "clear and complete"
    return report


def internal_error() -> Report:
    return Report("DOE John", "DOE John Lab2 DLCV.tar.bz2", sandbox="resource limits only: bwrap failed",
                  status="internal-error", error="reference cache is corrupt: KeyError 'multiclass'",
                  questions=perfect().questions[:2])


# --- terminal ---------------------------------------------------------------------------------

def test_terminal_perfect_report_before_hand_grading():
    text = render_terminal(perfect(), width=120)
    lines = text.splitlines()
    assert lines[0] == "Sandbox: bubblewrap"
    assert "DOE John" in lines[1] and "DOE John Lab2 DLCV.tar.bz2" in lines[1]
    assert "Total: 15 / 20 (automatic 15 / 15, by hand 0 / 5 pending)" in text
    assert "Bonus: 1 / 2" in text
    assert "What went wrong" not in text
    # One table row per question, written parts shown with their pending hand points.
    rows = {line.split()[0]: line for line in lines if line.split() and line.split()[0] in questions.ids()}
    assert set(rows) == set(questions.ids())
    assert "1 / 1 + 1 hand" in rows["q1_2"]
    assert "+ 2 hand" in rows["q3_1"] and "graded by hand" in rows["q3_1"]
    assert "Written parts are graded by hand (pending): q1_2" in text and "q3_1" in text
    assert "\x1b[" not in text


def test_terminal_hand_points_given_reach_twenty():
    text = render_terminal(all_manual_given(perfect()), width=120)
    assert "Total: 20 / 20 (automatic 15 / 15, by hand 5 / 5 given)" in text
    assert "Bonus: 2 / 2" in text
    assert "pending" not in text


def test_terminal_failures_show_public_detail_and_hidden_counts_only():
    text = render_terminal(with_failures(), width=120)
    assert "What went wrong" in text
    assert "loss: values (public case 2)" in text
    assert "returned 12.5" in text and "expected 0.125" in text
    assert "[mistake:missing-mean]" in text
    assert "2 hidden checks failed in q1_3" in text
    assert "SECRET" not in text
    assert "Total: 14.4 / 20" in text
    assert text.rstrip().splitlines()[-1].startswith("  - lab2/multiclass.py printed")  # warnings last


def test_terminal_one_hidden_failure_is_singular():
    report = perfect()
    report.question("q3_3").checks[1].passed = False
    report.question("q3_3").checks[1].points = 0.0
    assert "1 hidden check failed in q3_3" in render_terminal(report, width=120)


def test_terminal_truncates_long_reasons_to_the_width():
    report = with_failures()
    report.question("q2_1").summary = "backward: " + "dW1 differs " * 40
    text = render_terminal(report, width=80)
    table = text.split("Total:")[0].splitlines()
    assert all(len(line) <= 80 for line in table)
    assert any(line.endswith("…") for line in table)


def test_terminal_internal_error_is_never_a_zero():
    text = render_terminal(internal_error(), width=100)
    assert text.splitlines()[0] == "Sandbox: resource limits only: bwrap failed"
    assert "GRADER ERROR (not the student's fault): reference cache is corrupt" in text
    assert "Total" not in text and "0 / 20" not in text


def test_terminal_bad_archive_says_so():
    report = Report("file.tar.bz2", "file.tar.bz2", sandbox="bubblewrap", status="bad-archive",
                    error="not a tar or zip archive")
    text = render_terminal(report, width=100)
    assert "bad-archive: not a tar or zip archive" in text
    assert "Total: 0 / 20\n" in text
    assert to_gradescope(report)["score"] == 0.0 and to_gradescope(report)["tests"] == []


def skeleton() -> Report:
    """The student kit as handed out: every automatic question 'not implemented yet'."""
    report = perfect()
    for q in report.questions:
        if q.max_auto:
            q.status, q.summary = "not-implemented", "not implemented yet"
            for check in q.checks:
                check.passed, check.points = False, 0.0
            q.checks = q.checks[:1]
            q.checks[0].message = f"{q.title}: not implemented yet (raises NotImplementedError)"
    return report


def test_skeleton_scores_zero_and_says_not_implemented():
    report = skeleton()
    text = render_terminal(report, width=120)
    assert "Total: 0 / 20 (automatic 0 / 15, by hand 0 / 5 pending)" in text
    assert text.count("not implemented yet") >= 10
    assert "Traceback" not in text
    md = render_markdown(report)
    assert "| q1_1 sigmoid | 0 / 1 | ✗ not-implemented | not implemented yet |" in md
    assert "| q3_1 architecture figure | + 2 hand | graded by hand |  |" in md
    results = to_gradescope(report)
    assert results["score"] == 0.0 and all(t["status"] == "failed" for t in results["tests"])


def test_terminal_loss_table_compares_like_with_like():
    """REPORT.md's full-set value is flagged against the reference's full-set loss only, never
    against the grader's subset loss (several times smaller by nature)."""
    report = perfect()
    report.grading_examples = 2000
    report.full_data_losses = {"single_neuron": 0.0343, "hidden_layer": 0.0268, "multiclass": 0.2404}
    report.reproduced_losses = {"single_neuron": 0.0214, "hidden_layer": 0.0119, "multiclass": None}
    report.reported_losses = {"single_neuron": 0.5, "hidden_layer": None, "multiclass": 0.2404}
    text = render_terminal(report, width=160)
    assert "REPORT.md (your run, 60,000 ex.)" in text and "grader (your params, 2,000 ex.)" in text
    rows = {line.split()[0]: line for line in text.splitlines() if line.split()[:1]
            and line.split()[0] in ("single_neuron", "hidden_layer", "multiclass")}
    assert "!! 15 times the reference's full-data loss" in rows["single_neuron"]
    assert "not in REPORT.md" in rows["hidden_layer"]
    assert "!!" not in rows["multiclass"] and "0.2404" in rows["multiclass"]
    report.reported_losses = {"single_neuron": 0.0343, "hidden_layer": 0.0268, "multiclass": 0.2404}
    assert "!!" not in render_terminal(report, width=160)
    report.full_data_losses = {}
    report.reported_losses["single_neuron"] = 0.5
    assert "!!" not in render_terminal(report, width=160)  # nothing comparable: no flag


def test_terminal_penalty_is_shown_and_taken():
    report = perfect()
    report.penalty = 0.5
    assert "Total: 14.5 / 20 (automatic 15 / 15, by hand 0 / 5 pending, penalty -0.5)" in render_terminal(report)


def test_terminal_color_is_optional():
    text = render_terminal(with_failures(), width=120, color=True)
    assert "\x1b[32m" in text and "\x1b[33m" in text  # passed green, partial yellow


# --- Gradescope ------------------------------------------------------------------------------

def _check_structure(results: dict):
    assert problems(results) == []
    json.dumps(results)  # serialisable as it is
    assert isinstance(results["execution_time"], int)
    assert results["output"].startswith("Sandbox: ")
    for test in results["tests"]:
        assert {"name", "score", "max_score", "output", "visibility", "status"} <= set(test)
        assert test["name"].split()[0] in questions.ids()
        assert test["visibility"] == "visible"
        assert isinstance(test["score"], float) and isinstance(test["max_score"], float)
        assert 0 <= test["score"] <= test["max_score"]


def test_gradescope_perfect_before_hand_grading_excludes_written_parts():
    results = to_gradescope(perfect())
    _check_structure(results)
    assert results["score"] == 16.0  # 15 automatic + 1 bonus (automatic part of q2_3)
    assert results["execution_time"] == 42
    names = [t["name"] for t in results["tests"]]
    assert not any("graded by hand" in n for n in names)
    assert not any(n.startswith("q3_1") for n in names)  # no automatic part, written part pending
    assert "Written parts are graded by hand (pending)" in results["output"]
    assert all(t["status"] == "passed" for t in results["tests"])
    assert sum(t["score"] for t in results["tests"]) == pytest.approx(results["score"])


def test_gradescope_hand_points_appear_once_given():
    results = to_gradescope(all_manual_given(perfect()))
    _check_structure(results)
    assert results["score"] == 22.0  # 20 + bonus 2
    manual = [t for t in results["tests"] if "graded by hand" in t["name"]]
    assert [t["name"].split()[0] for t in manual] == ["q1_2", "q1_3", "q1_4", "q2_3", "q3_1"]
    assert all(t["output"].startswith("graded by hand") and "clear and complete" in t["output"] for t in manual)


def test_gradescope_failures_never_leak_hidden_checks():
    results = to_gradescope(with_failures())
    _check_structure(results)
    dumped = json.dumps(results)
    assert "SECRET" not in dumped
    assert "no-clipping" not in dumped  # a hidden check's diagnosis stays hidden too
    q13 = next(t for t in results["tests"] if t["name"].startswith("q1_3"))
    assert q13["status"] == "failed" and q13["score"] == pytest.approx(0.4)
    assert "[mistake:missing-mean]" in q13["output"] and "2 hidden checks failed in q1_3" in q13["output"]
    assert "mistake:missing-mean" in q13["tags"]


def test_gradescope_internal_error_has_no_score():
    results = to_gradescope(internal_error())
    _check_structure(results)
    assert "score" not in results and results["tests"] == []
    assert "GRADER ERROR (not the student's fault)" in results["output"]


def test_gradescope_penalty_is_in_the_top_level_score():
    report = perfect()
    report.penalty = 1.0
    assert to_gradescope(report)["score"] == 15.0


def test_write_json_writes_what_to_gradescope_returns(tmp_path):
    report = with_failures()
    path = write_json(report, tmp_path / "results.json")
    assert json.loads(path.read_text(encoding="utf-8")) == to_gradescope(report)


# --- Markdown --------------------------------------------------------------------------------

def test_markdown_feedback_for_a_submission_with_failures():
    text = render_markdown(with_failures())
    assert text.startswith("# Lab 2 feedback: DOE John\n")
    assert "Sandbox: bubblewrap" in text.splitlines()[2]
    assert "**Total: 14.4 / 20 (automatic 14.4 / 15, by hand 0 / 5 pending)**" in text
    assert "| q1_3 loss | 0.4 / 1 + 1 hand | ✗ partial |" in text
    assert "## q1_3 loss" in text
    assert "- ✗ loss: values (public case 2)" in text
    assert "  ```\n  loss(y, y_hat) with y (1, 100) returned 12.5\n" in text  # multi-line: a code block
    assert "- ✗ 2 hidden checks failed in q1_3" in text
    assert "Written parts are graded by hand (pending): q1_2" in text
    assert "## Losses after 500 epochs" in text and "| single_neuron | 0.032 | 0.031 |" in text
    assert "## Warnings" in text
    assert "SECRET" not in text and "no-clipping" not in text


def test_markdown_fences_survive_backticks_in_messages():
    report = with_failures()
    report.question("q1_3").checks[1].message = "line one\n```\nline three"
    text = render_markdown(report)
    assert "  ````\n  line one\n  ```\n  line three\n  ````" in text


def test_markdown_given_hand_points_and_internal_error():
    text = render_markdown(all_manual_given(perfect()))
    assert "Written parts are graded by hand" not in text
    assert "1 / 1 (graded by hand): clear and complete" in text
    error = render_markdown(internal_error())
    assert "GRADER ERROR (not the student's fault)" in error and "Total" not in error


def test_renderers_are_pure_and_read_only_the_report_tree():
    report = with_failures()
    before = report.to_dict()
    copy = Report.from_dict(json.loads(json.dumps(before)))
    assert render_terminal(report, width=100) == render_terminal(copy, width=100)
    assert render_markdown(report) == render_markdown(copy)
    assert to_gradescope(report) == to_gradescope(copy)
    assert report.to_dict() == before


# --- statuses, and one line of text ------------------------------------------------------------------

def test_statuses_are_enums_written_as_the_same_strings():
    report = Report("DOE John", "x.tar.bz2", status="import-error",
                    questions=[QuestionResult("q1_1", "sigmoid", 1.0, status="not-implemented")])
    assert report.status is RowStatus.IMPORT_ERROR and report.questions[0].status is QuestionStatus.NOT_IMPLEMENTED
    text = json.dumps(report.to_dict())
    assert '"status": "import-error"' in text and '"status": "not-implemented"' in text
    again = Report.from_dict(json.loads(text))
    assert again.status is RowStatus.IMPORT_ERROR and again.questions[0].status is QuestionStatus.NOT_IMPLEMENTED
    assert f"{again.status}" == "import-error" and again.status == "import-error"
    with pytest.raises(ValueError):
        Report("DOE John", "x.tar.bz2", status="passed")       # a question's status, not a submission's
    with pytest.raises(ValueError):
        QuestionResult("q1_1", "sigmoid", 1.0, status="graded")


def test_one_line_joins_lines_keeps_a_tracebacks_exception_and_cuts_to_a_width():
    assert one_line("  indented, kept as it is ") == "  indented, kept as it is "
    assert one_line("first\n  second\n\nthird\n") == "first second third"
    trace = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad shape\n'
    assert one_line(trace) == "ValueError: bad shape"
    assert one_line("abcdef", 4) == "abc…" and one_line("abcd", 4) == "abcd"
    assert one_line("a\nb", 2) == "a…"
