"""grader.submission.score read as the rubric: hand-built run records in, a QuestionResult out.

No child, no sandbox: ``score.question`` and ``score.blocked_question`` see only the records of
``grader.submission.run`` (``Checked``), built here as a teacher would describe a run.
"""
import pytest

from grader import rubric as rubric_file
from grader.results import QuestionStatus
from grader.submission import score
from grader.submission.run import Checked
from lab2check.cases import Case
from lab2check.compare import Outcome


@pytest.fixture(scope="module")
def rubric():
    return rubric_file.load()


def case(qid: str, check: str, label: str, hidden: bool) -> Checked:
    """A judged unit case; ``passed`` is set by ``judged``."""
    return Checked(check, label, hidden, Outcome(True),
                   case=Case(qid, check, label, hidden, "call", {}, {}, call=f"{check}(...)"))


def judged(c: Checked, passed: bool, ended: QuestionStatus = QuestionStatus.FAILED) -> Checked:
    if not passed:
        c.outcome, c.ended = Outcome.fail(f"{c.check}: wrong on {c.label}"), ended
    return c


def by_name(q) -> dict[str, float]:
    return {c.name: c.points for c in q.checks}


def test_each_check_group_earns_its_weight_share(rubric):
    # q1_4: gradients weighs 2, gradcheck 1, of 1.5 automatic points.
    checked = [judged(case("q1_4", "gradients", "hidden-1", True), True),
               judged(case("q1_4", "gradcheck", "hidden-1", True), False)]
    q = score.question("q1_4", rubric, checked, 0.0)
    auto = rubric.questions["q1_4"].auto
    assert q.auto_points == pytest.approx(auto * 2 / 3)
    assert q.status == QuestionStatus.PARTIAL


def test_only_hidden_cases_earn_points_public_ones_are_shown_at_zero(rubric):
    checked = [judged(case("q1_1", "sigmoid", "public-1", False), True),
               judged(case("q1_1", "sigmoid", "hidden-1", True), True)]
    q = score.question("q1_1", rubric, checked, 0.0)
    public, hidden = q.checks
    assert (public.points, public.max_points) == (0.0, 0.0) and public.passed
    assert hidden.points == pytest.approx(rubric.questions["q1_1"].auto)
    assert q.status == QuestionStatus.PASSED


def test_a_failed_public_case_costs_nothing_but_is_shown(rubric):
    checked = [judged(case("q1_1", "sigmoid", "public-1", False), False),
               judged(case("q1_1", "sigmoid", "hidden-1", True), True)]
    q = score.question("q1_1", rubric, checked, 0.0)
    assert q.auto_points == pytest.approx(rubric.questions["q1_1"].auto)
    assert q.status == QuestionStatus.PARTIAL and "public-1" in q.summary


def test_an_edge_mistake_loses_its_edge_cases_only(rubric):
    checked = [judged(case("q1_1", "sigmoid", "hidden-1", True), True),
               judged(case("q1_1", "sigmoid", "hidden-2", True), True),
               judged(case("q1_1", "sigmoid", "large-logits", True), False),
               judged(case("q1_1", "sigmoid", "tiny-logits", True), False)]
    q = score.question("q1_1", rubric, checked, 0.0)
    auto = rubric.questions["q1_1"].auto
    assert q.auto_points == pytest.approx(auto / 2)
    assert by_name(q)["sigmoid: hidden-1"] == pytest.approx(auto / 4)
    assert by_name(q)["sigmoid: large-logits"] == 0.0


def test_a_missing_function_is_not_implemented_and_earns_nothing(rubric):
    checked = [judged(case("q1_1", "sigmoid", "hidden-1", True), False, QuestionStatus.NOT_IMPLEMENTED),
               judged(case("q1_1", "sigmoid", "hidden-2", True), False, QuestionStatus.FAILED)]
    q = score.question("q1_1", rubric, checked, 0.0)
    assert q.auto_points == 0.0
    assert q.status == QuestionStatus.NOT_IMPLEMENTED   # the worst way a request ended wins over "failed"


def test_a_module_that_did_not_import_costs_every_group_with_its_own_status(rubric):
    q = score.blocked_question("q1_4", rubric, (QuestionStatus.TIMEOUT, "importing single_neuron timed out"))
    assert q.auto_points == 0.0 and q.status == QuestionStatus.TIMEOUT
    assert {c.name.split(":")[0] for c in q.checks} == {"gradients", "gradcheck"}
    assert q.summary == "q1_4: importing single_neuron timed out"
    other = score.blocked_question("q1_4", rubric, (QuestionStatus.FAILED, "SyntaxError"))
    assert other.status == QuestionStatus.ERROR


def test_a_manual_only_question_is_graded_by_hand(rubric):
    qid = next(k for k, s in rubric.questions.items() if s.auto == 0)
    q = score.question(qid, rubric, [], 0.0)
    assert q.status == QuestionStatus.MANUAL and q.auto_points == 0.0


def test_an_internal_error_is_the_graders_never_a_students_zero(rubric, tmp_path, monkeypatch):
    from grader.results import RowStatus
    from grader.submission import grade, run
    (tmp_path / "lab2").mkdir()
    (tmp_path / "lab2" / "__init__.py").write_text("")
    monkeypatch.setattr(run, "run", lambda *a, **k: run.SubmissionRun(error="RuntimeError: the child pool broke"))
    report = grade.grade_folder(tmp_path, rubric, answers=object())
    assert report.status == RowStatus.INTERNAL_ERROR and report.error == "RuntimeError: the child pool broke"
    assert report.questions == []   # no question is scored, so no zero is shown as the student's
