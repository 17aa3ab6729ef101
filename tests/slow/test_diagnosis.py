"""Diagnosis discipline and proportionate penalties (issue 12), without grading whole submissions.

- no catalogue id is named on a case that cannot tell it apart: for every mistake and every
  case where its variant gives the reference's answer, or where it is a factor of m and the
  case has m = 1, the comparison names nothing; where it can, it names that mistake only;
- a pass on such a case earns nothing once the other cases name the mistake;
- a right answer computed by modifying an argument in place loses the purity share only;
- several differing quantities: the message leads with the one that carries the mistake;
- the trajectory names the cause from its shape;
- a gradient check does not depend on the student's forward pass.
"""
import numpy as np
import pytest
from builders import corpus

from grader import REFERENCE
from grader.answers import cache as answers_cache
from grader.answers import mutations
from lab2check import cases as cases_mod
from lab2check import checks, mistakes, probes, trajectory
from lab2check.checks import Result, Tolerances

TOL = Tolerances(rtol=1e-5, atol=1e-9)


@pytest.fixture(scope="module")
def catalogue(small_rubric, tmp_path_factory):
    """``(cases, reference outputs, {mutation name: results}, variants by case)``, public and hidden."""
    cases = answers_cache.all_cases(small_rubric)
    reference = {cid: r.outputs for cid, r in answers_cache._run_cases(REFERENCE, cases).items()}
    tmp = tmp_path_factory.mktemp("catalogue")
    runs, variants, seen = {}, {c.id: {} for c in cases}, {}
    for mutation in mutations.CATALOGUE:
        runs[mutation.name] = answers_cache._run_cases(mutations.build(mutation, tmp / mutation.name), cases)
        n = seen[mutation.mistake] = seen.get(mutation.mistake, 0) + 1
        key = mutation.mistake if n == 1 else f"{mutation.mistake}#{n}"
        for cid, result in runs[mutation.name].items():
            differs = answers_cache.variant_outputs(result.outputs, reference[cid]) if result.status == "ok" else {}
            if differs:
                variants[cid][key] = differs
    return cases, reference, runs, variants


def test_no_id_is_named_where_the_case_cannot_tell_it_and_only_its_own_where_it_can(catalogue):
    cases, reference, runs, variants = catalogue
    blind_seen = 0
    for mutation in mutations.CATALOGUE:
        for case in cases:
            result = runs[mutation.name][case.id]
            if result.status != "ok" or case.probe == "init":
                continue
            for key in case.keys:
                if key not in result.outputs or key not in reference[case.id]:
                    continue
                got = Result("ok", {key: result.outputs[key]}, {key: result.types[key]})
                outcome = checks.compare_key(case, key, got, reference[case.id], variants[case.id], TOL)
                equal = not answers_cache.variant_outputs({key: result.outputs[key]}, reference[case.id])
                if equal or not mistakes.visible(mutation.mistake, checks._m(case)):
                    blind_seen += 1
                    assert outcome.mistake is None, (mutation.name, case.id, key, outcome.message)
                else:
                    assert outcome.mistake in (None, mutation.mistake), (mutation.name, case.id, key, outcome.message)
    assert blind_seen > 100  # the test looked at real blind cases, not none


def test_an_m_factor_is_never_named_on_one_example_but_another_factor_is(catalogue):
    cases, reference, runs, variants = catalogue
    by_id = {c.id: c for c in cases}
    m1_loss = by_id["q1_3/loss/public-2"]
    assert checks._m(m1_loss) == 1
    result = runs["fixed-m-loss"][m1_loss.id]
    outcome = checks.evaluate(m1_loss, result, reference[m1_loss.id], variants[m1_loss.id], TOL)
    assert not outcome.passed and outcome.mistake is None and "[mistake:" not in outcome.message
    # The extra sigmoid-derivative factor is not a factor of m: it is named on m = 1 too (the
    # grader used to call it wrong-normalisation there).
    m1_grad = by_id["q1_4/gradients/public-2"]
    outcome = checks.evaluate(m1_grad, runs["extra-sigmoid-derivative"][m1_grad.id], reference[m1_grad.id],
                              variants[m1_grad.id], TOL)
    assert outcome.mistake == "extra-sigmoid-derivative", outcome.message


def test_a_pass_on_a_case_that_cannot_tell_the_mistake_earns_nothing(catalogue):
    cases, reference, runs, variants = catalogue
    loss_cases = [c for c in cases if c.qid == "q1_3"]
    results = runs["missing-mean-loss"]
    outcomes = [checks.evaluate(c, results[c.id], reference[c.id], variants[c.id], TOL) for c in loss_cases]
    by_label = dict(zip((c.label for c in loss_cases), outcomes))
    assert by_label["public-2"].passed  # a sum over one example is its mean
    settled = dict(zip((c.label for c in loss_cases), checks.without_blind_passes(loss_cases, outcomes, variants)))
    assert not settled["public-2"].passed and settled["public-2"].mistake is None
    assert "cannot tell missing-mean" in settled["public-2"].message
    assert settled["confidently-wrong"].passed  # finiteness only: the sum is finite, as it should be
    # A right answer is never taken back.
    right = [checks.evaluate(c, Result("ok", reference[c.id], {k: "ndarray" for k in reference[c.id]}),
                             reference[c.id], variants[c.id], TOL) for c in loss_cases]
    assert all(o.passed for o in checks.without_blind_passes(loss_cases, right, variants))


def _softmax_case():
    return next(c for c in cases_mod.cases("q3_2") if c.check == "softmax" and c.label == "public-1")


def test_a_right_value_computed_in_place_loses_the_purity_share_only():
    case = _softmax_case()
    Z = case.arrays["Z"]
    E = np.exp(Z - Z.max(axis=0, keepdims=True))
    right = E / E.sum(axis=0, keepdims=True)
    shifted = Z - Z.max(axis=0, keepdims=True)  # what Z holds after Z -= Z.max(axis=0)
    result = Result("ok", {"out": right, "after.Z": shifted}, {"out": "ndarray", "after.Z": "ndarray of float64"})
    outcome = checks.evaluate(case, result, {"out": right}, {}, Tolerances(purity_share=0.25))
    assert not outcome.passed and outcome.credit == pytest.approx(0.75)
    assert "in place" in outcome.message and "25%" in outcome.message
    assert checks.evaluate(case, result, {"out": right}, {}, Tolerances(purity_share=0.0)).passed


def test_the_message_leads_with_the_bias_gradient_that_carries_the_mistake(catalogue):
    cases, reference, runs, variants = catalogue
    case = next(c for c in cases if c.id == "q2_1/backward/public-1")
    outputs = dict(reference[case.id])
    outputs["db2"] = np.array(float(outputs["db2"].sum()))        # harmless: one output unit
    outputs["db1"] = np.array(float(outputs["db1"].sum()))        # the mistake: 4 units summed
    result = Result("ok", outputs, {k: "ndarray" for k in outputs})
    outcome = checks.evaluate(case, result, reference[case.id], variants[case.id], TOL)
    assert outcome.mistake == "bias-gradient-shape"
    assert "db1 is the first quantity" in outcome.message and "db2" not in outcome.message.split("db1")[0]
    # A plain-float db2 alone is accepted, as Part 1 accepts a plain-float db.
    outputs["db1"] = reference[case.id]["db1"]
    assert checks.evaluate(case, Result("ok", outputs, {k: "ndarray" for k in outputs}), reference[case.id],
                           variants[case.id], TOL).passed


@pytest.mark.parametrize("make, mistake", [
    (lambda ref, pre: np.append(ref[1:], ref[-1] * 0.99), "loss-after-update"),
    (lambda ref, pre: ref * 500 / 60000, "fixed-m"),
    (lambda ref, pre: ref * 500, "missing-mean"),
    (lambda ref, pre: ref / 10, "loss-over-classes"),
    (lambda ref, pre: np.append(pre[449], ref[1:] * 1.1), "train-subset"),
    (lambda ref, pre: np.append(pre[63], ref[1:] * 0.5), "mini-batches"),
    (lambda ref, pre: np.append(ref[0], ref[1:] * 0.5), None),
])
def test_the_trajectory_names_the_cause_from_its_shape(make, mistake):
    ref = 2.3 * np.exp(-0.1 * np.arange(10))
    rng = np.random.default_rng(0)
    per_example = rng.normal(2.3, 0.05, 500)  # small random weights: every example's loss near ln 10
    per_example[450:] = 2.6  # the last examples move the mean: a prefix's loss is not the whole data's
    prefixes = np.cumsum(per_example) / np.arange(1, 501)
    ref[0] = prefixes[-1]
    context = trajectory.Trajectory(500, {}, 10, prefixes)
    outcome = trajectory.trajectory_outcome(make(ref, prefixes), ref, 1e-3, "train(...)", 500, context)
    assert not outcome.passed
    assert outcome.mistake == mistake, outcome.message
    if mistake is None:
        assert "mini-batches" in outcome.message  # the hint still says what to look at


def test_the_trajectory_matches_a_known_mistakes_own_losses():
    ref = np.linspace(0.7, 0.5, 10)
    variant = np.linspace(0.7, 0.6, 10)
    context = trajectory.Trajectory(500, {"bias-update-no-lr": variant, "lr-ignored": ref * 1.5})
    outcome = trajectory.trajectory_outcome(variant * (1 + 1e-5), ref, 1e-3, "train(...)", 500, context)
    assert outcome.mistake == "bias-update-no-lr"


def test_losses_that_are_arrays_of_m_values_name_the_per_example_loss():
    outcome = trajectory.not_floats("train(...)", "list", np.zeros((1, 500)), 500, 500)
    assert outcome.mistake == "loss-per-example" and "(1, 500)" in outcome.message
    assert trajectory.not_floats("train(...)", "str", None, 500, 500).mistake is None


def test_the_gradient_check_is_taken_at_the_right_y_hat_and_may_skip_the_loss_values(tmp_path):
    """A sigmoid returning zeros costs sigmoid and forward, not the gradient check; with
    ``losses: False`` the student's loss and forward are not called at all."""
    source = corpus.reference_source("single_neuron").replace(
        "    e = np.exp(-np.abs(z))\n", "    return np.zeros_like(z)\n    e = np.exp(-np.abs(z))\n", 1)
    folder = corpus.write_submission(tmp_path / "zeros", {"single_neuron": source})
    case = next(c for c in cases_mod.cases("q1_4") if c.check == "gradcheck")
    reference = {cid: r.outputs for cid, r in answers_cache._run_cases(REFERENCE, [case]).items()}[case.id]
    from lab2check import local
    with local.use(folder):
        result = checks.run_local(case)
        quiet = probes.run(case.probe, case.arrays, {**case.options, "losses": False})
    assert checks.evaluate(case, result, reference, {}, TOL).passed
    assert "losses" not in quiet and set(quiet) == {"grad.W", "grad.b"}


def _settled(catalogue, mutation, qid, check):
    """The outcomes of ``mutation``'s answers on the cases of ``check`` in ``qid``, as the grader settles them."""
    cases, reference, runs, variants = catalogue
    chosen = [c for c in cases if c.qid == qid and c.check == check]
    outcomes = [checks.evaluate(c, runs[mutation][c.id], reference[c.id], variants[c.id], TOL) for c in chosen]
    return dict(zip((c.label for c in chosen), checks.without_blind_passes(chosen, outcomes, variants)))


@pytest.mark.parametrize("mutation, qid, check, edges", [
    ("no-clipping", "q1_3", "loss", {"exact-0-1", "confidently-wrong"}),
    ("no-clipping-multiclass", "q3_2", "loss", {"exact-zeros"}),
    ("softmax-unstable", "q3_2", "softmax", {"large-logits"}),
    ("softmax-global-max", "q3_2", "softmax", {"large-logits"}),
])
def test_an_edge_mistake_loses_its_edge_cases_only_and_names_them(catalogue, mutation, qid, check, edges):
    """Each edge case has a hidden twin drawn like it (issue 22: only hidden cases earn points)."""
    edges = edges | {f"hidden-{label}" for label in edges}
    settled = _settled(catalogue, mutation, qid, check)
    failed = {label for label, o in settled.items() if not o.passed}
    assert failed == edges, {label: o.message for label, o in settled.items() if not o.passed}
    mistake = mutations.by_name(mutation).mistake
    assert all(settled[label].mistake == mistake and f"[mistake:{mistake}]" in settled[label].message
               for label in edges)


@pytest.mark.parametrize("mutation, qid", [("extra-sigmoid-derivative", "q1_4"),
                                           ("extra-sigmoid-derivative-hidden", "q2_1"),
                                           ("extra-sigmoid-derivative-multiclass", "q3_3")])
def test_the_extra_sigmoid_derivative_is_named_in_every_backward(catalogue, mutation, qid):
    check = "gradients" if qid == "q1_4" else "backward"
    settled = _settled(catalogue, mutation, qid, check)
    assert settled and all(o.ids == ("extra-sigmoid-derivative",) for o in settled.values()), \
        {label: o.message for label, o in settled.items()}


@pytest.mark.parametrize("qid, missing, tanh, checked", [
    ("q2_1", ("missing-activation", "missing-activation-forward"), "tanh-activation", ("forward", "backward")),
    ("q3_3", ("missing-activation-multiclass",), "tanh-activation-multiclass", ("forward", "backward", "predict"))],
    ids=["hidden_layer", "multiclass"])
def test_a_hidden_layer_without_activation_is_never_named_tanh(catalogue, qid, missing, tanh, checked):
    for mutation in missing:
        for check in checked:
            ids = {m for o in _settled(catalogue, mutation, qid, check).values() for m in o.ids}
            assert ids == {"missing-activation"}, (mutation, check, ids)
    for check in checked:
        ids = {m for o in _settled(catalogue, tanh, qid, check).values() for m in o.ids}
        assert ids == {"tanh-activation"}, (check, ids)
