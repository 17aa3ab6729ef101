"""No unit case pays for an output a trivial function also produces (issue 22, finding 1).

For every case of every unit question (the public ones and the hidden ones of both rubrics'
seeds), the reference's answer is computed here, then what trivial code returns is judged by
the grader's own ``checks.evaluate``: zeros, ones, a constant label, an input handed back, and
for a gradient check a zero gradient with the constant loss values that back it. None of them
may pass or earn any credit.
"""
import numpy as np
import pytest
from conftest import SMALL_RUBRIC

from grader import REFERENCE
from grader import rubric as rubric_mod
from lab2check import cases as cases_mod
from lab2check import checks, gradcheck, local, questions
from lab2check.result import Result


def _all_cases():
    seeds = {tuple(rubric_mod.load().hidden.seeds), tuple(rubric_mod.load(SMALL_RUBRIC).hidden.seeds)}
    out = {}
    for qid in questions.unit_questions():
        for c in cases_mod.cases(qid) + [c for s in sorted(seeds) for c in cases_mod.cases(qid, s, hidden=True)]:
            out[c.id] = c
    return list(out.values())


@pytest.fixture(scope="module")
def judged():
    """``[(case, the reference's outputs)]`` for every case but init_params' (judged by properties)."""
    cases = [c for c in _all_cases() if c.probe != "init"]
    with local.use(REFERENCE):
        return [(c, checks.run_local(c).outputs) for c in cases]


def _unchanged(case) -> dict:
    """The arguments as sent: trivial code does not modify them in place."""
    out = {}
    for name in case.options.get("args", ()):
        keys = case.options.get("params", {}).get(name)
        if keys:
            out.update({f"after.{name}.{k}": case.arrays[f"{name}.{k}"] for k in keys})
        else:
            out[f"after.{name}"] = case.arrays[name]
    return out


def _trivial_answers(case, expected):
    """``(name, outputs)`` of trivial code for ``case``: the same trivial value for every output."""
    keys = [k for k in case.keys if k in expected]
    shape = {k: np.shape(expected[k]) for k in keys}
    yield "zeros", {k: np.zeros(shape[k]) for k in keys}
    yield "ones", {k: np.ones(shape[k]) for k in keys}
    for label in range(10):
        yield f"constant label {label}", {k: np.full(shape[k], label) for k in keys}
    for name in case.options.get("args", ()):
        if name in case.arrays:
            yield f"input {name} returned", {k: case.arrays[name] for k in keys}


def test_no_case_is_passed_by_a_trivial_output(judged):
    tol = rubric_mod.load().tolerances
    passed = []
    for case, expected in judged:
        for name, outputs in _trivial_answers(case, expected):
            if case.options.get("finite_only") and name != "zeros":
                continue  # a positive constant passes alone; score._without_lone_finite_passes withholds it
            outputs = {**outputs, **_unchanged(case)}
            types = {k: f"ndarray of {np.asarray(v).dtype}" for k, v in outputs.items()}
            outcome = checks.evaluate(case, Result("ok", outputs, types), expected, None, tol)
            if outcome.passed or outcome.credit > 0:
                passed.append(f"{case.id}: {name}")
    assert passed == []


def test_a_zero_gradient_never_earns_the_own_loss_credit(judged):
    """A zero gradient is the centred difference of a constant loss: constant loss values (at
    the perturbed sets and at the point the grader mixes among them) back nothing."""
    tol = rubric_mod.load().tolerances
    paid = []
    for case, expected in judged:
        if case.probe != "numgrad":
            continue
        names = [k.split(".", 1)[1] for k in case.arrays if k.startswith("perturbed.")]
        params = {n: case.arrays[n] if n in case.arrays else case.arrays[f"params.{n}"] for n in names}
        outputs = {k: np.zeros(np.shape(expected[k])) for k in case.keys}
        for extra in ({}, {"losses_at_point": np.full(4, 0.5)}):  # gradcheck.REPEATS copies of the point
            outputs.update(losses=np.full(gradcheck.count(params), 0.5), **extra)
            outcome = checks.evaluate(case, Result("ok", outputs, {k: "ndarray of float64" for k in outputs}),
                                      expected, None, tol)
            if outcome.passed or outcome.credit > 0:
                paid.append(case.id)
    assert paid == []


def test_predict_cases_hold_both_classes_and_no_tie(judged):
    for case, expected in judged:
        if case.check != "predict":
            continue
        labels = np.ravel(expected["out"])
        assert np.unique(labels).size >= 2, case.id
