"""The comparison ladder, the diagnosis and the scoring, on small synthetic arrays (no sandbox,
no reference cache: part of ``make test-fast``).

The ladder is ``lab2check.compare.compare`` (exists -> type -> shape -> finite -> values),
the diagnosis ``lab2check.mistakes.diagnose`` and ``checks.without_blind_passes``, the scoring
``grader.submission.score.question`` (a question's points split between its check groups by the
registry's weights, then between the cases of a group).
"""
import numpy as np
import pytest

from grader.rubric import load
from grader.submission import run, score
from lab2check import checks, mistakes, trajectory
from lab2check.cases import Case
from lab2check.compare import Outcome, compare
from lab2check.result import Result

TOL = checks.Tolerances(rtol=1e-5, atol=1e-9)
E = np.array([[0.5, -1.25, 2.0], [3.0, 0.125, -4.0]])


def _compare(got, got_type="ndarray", expected=E, **kw):
    kw.setdefault("rtol", 1e-5)
    kw.setdefault("atol", 1e-9)
    return compare("f(x)", got, got_type, expected, **kw)


# --- the ladder ---------------------------------------------------------------------------------

def test_each_rung_of_the_ladder_stops_with_its_own_message():
    assert _compare(E.copy()).passed
    none = _compare(None, "NoneType")
    assert not none.passed and "returned None, expected an ndarray of shape (2, 3) (a missing return?)" in none.message
    listed = _compare(None, "list")
    assert "returned list, expected an ndarray of shape (2, 3)" in listed.message
    sub = _compare(E.copy(), "ndarray subclass matrix")
    assert not sub.passed and "np.asarray(result) converts it" in sub.message
    shape = _compare(np.zeros((3, 4)))
    assert not shape.passed and "shape (3, 4), expected (2, 3)" in shape.message
    nan = E.copy()
    nan[1, 2] = np.nan
    finite = _compare(nan)
    assert not finite.passed and "1 of 6 values are not finite; first at [1, 2]" in finite.message
    off = E.copy()
    off[0, 1] += 0.5
    values = _compare(off)
    assert not values.passed and "[0, 1]" in values.message and "-0.75" in values.message
    assert all(o.credit == 0.0 for o in (none, listed, sub, shape, finite, values))


def test_tolerances_and_accepted_shapes():
    assert _compare(E * (1 + 5e-6)).passed                       # within rtol
    assert not _compare(E * (1 + 5e-4)).passed                   # a float32-sized error is not, in float64
    assert _compare(E * (1 + 5e-4), rtol=1e-3).passed
    loss = np.array(0.693)
    assert _compare(np.array([[0.693]]), expected=loss, shapes=((), (1,), (1, 1))).passed
    assert not _compare(np.array([0.693, 0.693]), expected=loss, shapes=((), (1,), (1, 1))).passed
    # Labels are compared exactly, as numbers: probabilities are not labels.
    labels = np.array([[0.0, 1.0, 0.0]])
    assert _compare(labels.copy(), expected=labels, exact=True).passed
    assert not _compare(labels + 0.3, expected=labels, exact=True).passed
    # A loss whose value depends on the student's eps: only finiteness is checked.
    assert _compare(np.array(17.3), expected=np.array(16.1), finite_only=True).passed
    assert not _compare(np.array(np.inf), expected=np.array(16.1), finite_only=True).passed


# --- the diagnosis -------------------------------------------------------------------------------

def test_a_mistake_is_named_only_where_the_case_can_tell_it():
    m = 3
    assert mistakes.diagnose(E * m, E, m=m) == "missing-mean"
    assert mistakes.diagnose(E * m, E, m=1) is None                 # one example cannot show an m-factor
    assert mistakes.diagnose(-E, E, m=m, quantity="gradient") == "gradient-sign"
    assert mistakes.diagnose(-E, E, m=m, quantity="output") is None  # a sign flip is a gradient's mistake only
    assert mistakes.diagnose(E.T.copy(), E) == "transposed"
    variant = E + 1.0
    assert mistakes.diagnose(variant, E, {"tanh-derivative": variant}) == "tanh-derivative"
    # A variant equal to the right answer on this case tells nothing: never named.
    assert mistakes.diagnose(E, E, {"tanh-derivative": E.copy()}) is None
    assert mistakes.diagnose(np.zeros_like(E), E, m=m) is None      # zeros are no scaled version of anything


def test_the_ladder_carries_the_diagnosis_and_its_advice():
    out = _compare(E * 4, m=4, quantity="loss")
    assert out.mistake == "missing-mean" and "[mistake:missing-mean]" in out.message
    assert mistakes.ADVICE["missing-mean"] in out.message


def _case(label, m):
    X = np.ones((2, m))
    return Case("q1_3", "loss", label, False, "call", {"module": "single_neuron", "function": "loss"},
                {"y": X[:1], "y_hat": X[:1] / 2}, ("out",), f"loss(y, y_hat), m = {m}")


def test_a_pass_that_cannot_tell_the_named_mistake_earns_nothing():
    cases = [_case("public-1", 4), _case("public-2", 1), _case("public-3", 5)]
    named = Outcome(False, "loss(...): [mistake:missing-mean]", "missing-mean", 0.0)
    outcomes = [named, Outcome(True), Outcome(True)]
    judged = checks.without_blind_passes(cases, outcomes, {})
    assert not judged[1].passed and judged[1].credit == 0.0 and "has one example" in judged[1].message
    assert judged[2].passed                                # m = 5 could have shown it: a real pass
    assert judged[0] is named
    # Nothing named anywhere: every pass stands.
    assert all(o.passed for o in checks.without_blind_passes(cases, [Outcome(True)] * 3, {}))


# --- the scoring ---------------------------------------------------------------------------------

def _checked(check, label, passed, credit=0.0, hidden=False, status="failed"):
    return run.Checked(check, label, hidden, Outcome(passed, "" if passed else f"{check} is wrong", None,
                                                         1.0 if passed else credit), status)


def test_points_are_split_by_the_registry_weights_then_between_cases():
    rubric = load()
    spec = rubric.questions["q1_4"]                        # gradients: 2, gradcheck: 1
    checked = [_checked("gradients", "public-1", True), _checked("gradients", "public-2", False),
               _checked("gradcheck", "public-1", True), _checked("gradcheck", "hidden-1", False, credit=0.5,
                                                                 hidden=True)]
    q = score.question("q1_4", rubric, checked, 0.0)
    shares = [c.max_points for c in q.checks]
    assert shares == pytest.approx([spec.auto / 3, spec.auto / 3, spec.auto / 6, spec.auto / 6])
    assert q.auto_points == pytest.approx(spec.auto / 3 + spec.auto / 6 + spec.auto / 12)
    assert q.status == "partial"
    assert q.summary == "q1_4: gradients is wrong; 1 hidden check failed"


def test_a_perfect_question_gets_exactly_its_points_and_a_dead_one_names_why():
    rubric = load()
    auto = rubric.questions["q2_1"].auto
    groups = {"init_params": 2, "forward": 3, "backward": 7, "gradcheck": 5, "update": 2}  # odd counts: 1/21 shares
    perfect = [_checked(g, f"case-{i}", True) for g, n in groups.items() for i in range(n)]
    assert score.question("q2_1", rubric, perfect, 0.0).auto_points == auto
    missing = [_checked(g, f"case-{i}", False, status="not-implemented") for g, n in groups.items() for i in range(n)]
    q = score.question("q2_1", rubric, missing, 0.0)
    assert (q.auto_points, q.status) == (0.0, "not-implemented")


# --- issue 21: scopes, every independent id, the closest explanation, the first line ------------

def test_every_catalogue_mistake_declares_its_scope_and_the_edge_ones_are_numerical_slips():
    from grader.answers import mutations
    assert set(mistakes.SCOPE) == set(mistakes.ADVICE)
    assert set(mistakes.SCOPE.values()) == {mistakes.GENERAL, mistakes.EDGE}
    assert {k for k, v in mistakes.SCOPE.items() if v == mistakes.EDGE} == {
        "no-clipping", "softmax-unstable", "softmax-global-max"}
    assert {m.mistake for m in mutations.CATALOGUE} <= set(mistakes.SCOPE)


def _loss_cases():
    return [_case("exact-0-1", 5), _case("public-1", 4), _case("public-2", 1)]


def test_an_edge_mistake_keeps_the_credit_of_the_cases_it_gets_right():
    cases = _loss_cases()
    # The no-clipping variant differs from the reference on the exact 0/1 case only.
    variants = {cases[0].id: {"no-clipping": {"out": np.array(np.nan)}}}
    named = Outcome(False, "loss(...): got nan [mistake:no-clipping]", "no-clipping", 0.0)
    judged = checks.without_blind_passes(cases, [named, Outcome(True), Outcome(True)], variants)
    assert judged[0] is named
    assert judged[1].passed and judged[2].passed  # right in exact arithmetic: kept, m = 1 too
    # A general mistake named on the same check still takes back the passes that cannot tell it.
    general = Outcome(False, "loss(...): [mistake:missing-mean]", "missing-mean", 0.0)
    judged = checks.without_blind_passes(cases, [named, Outcome(True), Outcome(True)],
                                         {cases[1].id: {"missing-mean": {"out": np.array(4.0)}}})
    assert judged[2].passed
    judged = checks.without_blind_passes(cases, [named, general, Outcome(True)], variants)
    assert not judged[2].passed and judged[2].blind and "cannot tell missing-mean" in judged[2].message


def test_a_factor_of_m_over_60000_is_fixed_m_whatever_the_function():
    m = 5
    for quantity in ("gradient", "output"):
        assert mistakes.diagnose(E * m / 60000, E, m=m, quantity=quantity) == "fixed-m"
    assert mistakes.diagnose(E / m, E, m=m, quantity="gradient") == "wrong-normalisation"  # another factor


def test_a_variant_is_named_only_when_it_is_clearly_the_closest_explanation():
    linear = E * 0.8
    tanh = linear * (1 + 4e-6)                       # within tolerance of the linear output
    got = linear.copy()
    assert mistakes.diagnose(got, E, {"tanh-activation": tanh, "missing-activation": linear}) \
        == "missing-activation"
    assert mistakes.diagnose(got, E, {"tanh-activation": tanh}) == "tanh-activation"  # the only candidate
    # Two mistakes that give the same output on this case: neither is the explanation.
    assert mistakes.diagnose(got, E, {"tanh-activation": linear.copy(), "missing-activation": linear}) is None
    # Within tolerance of a variant that is itself barely off the right answer: the right answer
    # (a float32 slip) fits as well: nothing named.
    near = E * (1 + 1.2e-5)
    assert mistakes.diagnose(E * (1 + 6e-6), E, {"tanh-derivative": near}) is None


def test_the_trajectory_names_the_closest_variant_only():
    ref = np.linspace(0.7, 0.5, 10)
    linear = np.linspace(0.7, 0.6, 10)
    context = trajectory.Trajectory(500, {"tanh-activation": linear * (1 + 4e-4), "missing-activation": linear})
    outcome = trajectory.trajectory_outcome(linear.copy(), ref, 1e-3, "train(...)", 500, context)
    assert outcome.mistake == "missing-activation", outcome.message
    assert "tanh" not in outcome.message


def _backward_case():
    from lab2check import cases as cases_mod
    return next(c for c in cases_mod.cases("q2_1") if c.check == "backward" and c.label == "public-1")


def _backward_expected(rng):
    return {"y_hat": rng.uniform(0.1, 0.9, (1, 5)), "loss": np.array(0.7), "dW2": rng.normal(size=(1, 4)),
            "db2": rng.normal(size=(1, 1)), "dW1": rng.normal(size=(4, 6)), "db1": rng.normal(size=(4, 1))}


def test_a_backward_with_two_independent_mistakes_names_both_the_first_leading():
    case = _backward_case()
    expected = _backward_expected(np.random.default_rng(0))
    got = {k: v * 5 / 60000 if k.startswith("d") else v.copy() for k, v in expected.items()}
    got["db1"] = np.array(float(got["db1"].sum()))   # summed over the units as well
    outcome = checks.evaluate(case, Result("ok", got, {k: "ndarray" for k in got}), expected, {}, TOL)
    assert (outcome.mistake, outcome.also) == ("fixed-m", ("bias-gradient-shape",)), outcome.message
    assert outcome.ids == ("fixed-m", "bias-gradient-shape")
    assert outcome.message.index("[mistake:fixed-m]") < outcome.message.index("[mistake:bias-gradient-shape]")
    assert "db1 differs for another reason too" in outcome.message
    # One mistake, its consequences: one id.
    got["db1"] = expected["db1"] * 5 / 60000
    outcome = checks.evaluate(case, Result("ok", got, {k: "ndarray" for k in got}), expected, {}, TOL)
    assert outcome.ids == ("fixed-m",)


def test_the_first_line_is_the_named_mistake_and_a_blind_pass_comes_last():
    rubric = load()
    blind = run.Checked("loss", "public-2", False, Outcome(False, "loss(...): right here, but this case cannot "
                                                                     "tell missing-mean ...", None, 0.0, blind=True))
    plain = run.Checked("loss", "public-3", False, Outcome(False, "loss(...): 1 of 1 values differ", None, 0.0))
    named = run.Checked("loss", "exact-0-1", False, Outcome(False, "loss(...): got nan " + mistakes.tag(
        "no-clipping"), "no-clipping", 0.0))
    q = score.question("q1_3", rubric, [blind, plain, named], 0.0)
    assert q.summary == "q1_3: " + mistakes.tag("no-clipping")
    assert [c.name for c in q.checks] == ["loss: public-3", "loss: exact-0-1", "loss: public-2"]
    assert q.mistakes == ["no-clipping"]
    q = score.question("q1_3", rubric, [blind, plain], 0.0)
    assert q.summary == "q1_3: loss(...): 1 of 1 values differ"      # never the blind pass
    assert checks.first_line("q1_3", [blind.outcome]).startswith("q1_3: loss(...): right here")  # only one


def test_every_renderer_leads_a_question_with_its_named_mistake():
    from grader.render import gradescope, markdown, terminal
    from grader.results import Report
    rubric = load()
    blind = run.Checked("loss", "public-2", False, Outcome(False, "loss(...): right here, but this case cannot "
                                                                     "tell missing-mean ...", None, 0.0, blind=True))
    named = run.Checked("loss", "public-1", False, Outcome(False, "loss(...): 1 of 1 values differ " + mistakes.tag(
        "missing-mean"), "missing-mean", 0.0))
    q = score.question("q1_3", rubric, [blind, named], 0.0)
    report = Report("DOE Jane", "x", questions=[q])
    tag = "[mistake:missing-mean]"
    md = markdown.render(report)
    row = next(line for line in md.splitlines() if line.startswith("| q1_3"))
    assert "mistake:missing-mean" in row and "right here" not in row  # Markdown escapes the brackets
    assert md.index("loss: public-1") < md.index("loss: public-2")  # the blind pass after the failure
    out = gradescope.question_output(q).splitlines()
    assert tag in out[1] and out.index(next(x for x in out if "public-1" in x)) < \
        out.index(next(x for x in out if "public-2" in x))
    text = terminal.render(report, width=400)
    row = next(line for line in text.splitlines() if line.startswith("q1_3"))
    assert tag in row and "right here" not in row
