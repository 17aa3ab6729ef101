"""Judge what a probe returned against the reference's answer for the same case.

``evaluate(case, result, expected, variants, tol)`` gives one ``Outcome`` per case; the
question's points are split between its check groups by the weights of its entry in the
registry (``lab2check.questions``). The grader and the kit's
pytest suite both call this, so a student sees the grader's own messages.

Not this module's job: the training checks (trajectory and final loss, ``lab2check.trajectory``)
or the ladder of one value against its expected array (``lab2check.compare``).
"""
import re
from dataclasses import dataclass

import numpy as np

from lab2check import gradcheck, mistakes
from lab2check.compare import Outcome, compare, fmt
from lab2check.plain import encode
from lab2check.questions import MODULES
from lab2check.result import Result, Status, error_of

SCALAR_SHAPES = ((), (1,), (1, 1))
MAX_ELEMENTS = 10**8


@dataclass(frozen=True)
class Tolerances:
    """How close a value must be to the reference's. The grader fills it from ``rubric.yaml``'s
    ``tolerances`` (``grader.rubric`` checks the section's bounds), the kit from its fixtures."""
    rtol: float = 1e-6
    atol: float = 1e-9
    float32_rtol: float = 1e-4
    gradcheck_rel_error: float = 1e-5
    own_loss_credit: float = 1.0
    purity_share: float = 0.25     # what a right value computed by modifying an argument in place loses


def run_local(case_or_probe, arrays=None, options=None) -> Result:
    """Run a probe in this process (the reference, a variant, or the student's own code in the kit)."""
    from lab2check import probes
    if arrays is None:
        name, arrays, options = case_or_probe.probe, case_or_probe.arrays, case_or_probe.options
    else:
        name = case_or_probe
    try:
        raw = probes.run(name, arrays, options)
    except probes.StudentError as err:
        return Result(Status.ERROR, error=error_of(err))
    outputs, types = {}, {}
    for key, value in raw.items():
        array, described = encode(value, MAX_ELEMENTS)
        types[key] = described
        if array is not None:
            outputs[key] = array
    return Result(Status.OK, outputs, types)


def failure(result: Result, limit_note: str = "", case=None) -> Outcome:
    """The outcome of a probe that did not return (an exception, a timeout, a crash)."""
    if result.status is Status.ERROR:
        err = result.error or {}
        message = err.get("message") or f"{err.get('where', 'student code')} failed"
        if result.note:  # the sandbox's hint, e.g. "stdin is empty: input() cannot be answered"
            message += f" ({result.note})"
        mistake = _hard_coded_size(case, err)
        if mistake:
            message += f" (this case has {case.arrays['params.W1'].shape[0]} hidden units, not 64) " \
                       + mistakes.tag(mistake)
        if not err.get("not_implemented") and err.get("traceback"):
            message += "\n" + err["traceback"].rstrip()
        return Outcome.fail(message, mistake)
    if result.status is Status.TIMEOUT:
        return Outcome.fail(f"timed out{limit_note}: {result.note}".rstrip(": "))
    return Outcome.fail(f"{result.status}: {result.note}".rstrip(": "))


def _hard_coded_size(case, err):
    """``hard-coded-size`` when code failed on a case without 64 hidden units and its error
    names 64 (a reshape to (64, 1), a zeros((64, m)) that does not broadcast)."""
    if case is None or "params.W1" not in case.arrays or case.arrays["params.W1"].shape[0] == 64:
        return None
    text = f"{err.get('message', '')}\n{err.get('traceback', '')}"
    return "hard-coded-size" if re.search(r"\b64\b", text) else None


def not_implemented(result: Result) -> bool:
    return result.not_implemented


def _m(case):
    for name in ("X", "y", "Y", "y_hat"):
        if name in case.arrays and case.arrays[name].ndim == 2:
            return case.arrays[name].shape[1]
    return None


def _rtol(case, tol):
    return tol.float32_rtol if any(a.dtype == np.float32 for a in case.arrays.values()) else tol.rtol


# How each output is named, what kind of quantity it is, and which other shapes are fine.
_GRADIENT_KEYS = {"dW1", "db1", "dW2", "db2", "grad.W1", "grad.b1", "grad.W2", "grad.b2", "grad.W", "grad.b"}


def _describe_key(case, key):
    fn = case.options.get("function", "")
    names = {"out.0": "y_hat" if fn == "forward" else "dW", "out.1": "db", "out": "the result"}
    if case.check == "gradients":
        names["out.0"] = "dW"
    if fn == "forward" and MODULES[case.options["module"]].outputs > 1:
        names["out.0"] = "Y_hat"  # ten outputs: a matrix, as the contract names it
    name = names.get(key, key.replace("out.", "").replace("grad.", "d"))
    quantity = "gradient" if key in _GRADIENT_KEYS or case.check == "gradients" else (
        "loss" if key == "loss" or case.check == "loss" else "output")
    shapes: tuple[tuple[int, ...], ...] = ()
    if case.check == "loss" or key == "loss" or (case.check == "gradients" and key == "out.1") or key == "grad.b":
        shapes = SCALAR_SHAPES
    if case.check == "predict":
        m = _m(case)
        shapes = ((m,), (1, m))
    return name, quantity, shapes


def compare_key(case, key, result, expected, variants, tol, rtol=None, short=False) -> Outcome:
    name, quantity, shapes = _describe_key(case, key)
    label = name if short else case.call if key in ("out",) else f"{name} of {case.call}"
    exp = expected.get(key)
    if exp is None:  # the reference returned nothing here: nothing to compare
        return Outcome(True)
    if quantity == "gradient" and np.shape(exp) == (1, 1):
        shapes = SCALAR_SHAPES  # one bias, one output unit: a plain float db2 updates b2 just as well
    return compare(label, result.outputs.get(key), result.types.get(key, "nothing"), exp,
                   rtol=rtol or _rtol(case, tol), atol=tol.atol, shapes=shapes,
                   variants={k: v.get(key) for k, v in (variants or {}).items()}, m=_m(case),
                   quantity=quantity, exact=case.check in ("predict", "one_hot"),
                   finite_only=bool(case.options.get("finite_only")), above=case.options.get("above"))


def _mutated(case, result, tol):
    """A right answer that modified an argument in place: only the rubric's purity share is lost
    (the values are right; the caller's array is not), never the value check."""
    if case.options.get("function") in ("update", "train"):
        return None  # the contract does not rely on whether update mutates its argument
    changed = [name for name in case.options.get("args", ()) if _changed(case, result, name)]
    if changed:
        fn = f"{case.options.get('module')}.{case.options.get('function')}"
        share = tol.purity_share
        return Outcome(share <= 0, f"{fn} returned the right values but modified its argument"
                                   f"{'s' if len(changed) > 1 else ''} {', '.join(changed)} in place: work on new "
                                   f"arrays (e.g. z = z - 1, not z -= 1); this costs {share:.0%} of this check",
                       None, 1.0 - share)
    return None


def _changed(case, result, name) -> bool:
    """Whether argument ``name`` of a call case holds, once the function returned
    (``after.<name>``, from ``probes.probe_call``), anything but the input this process sent:
    the comparison is made here, never in the student's process. Nothing sent back judges
    nothing (what comes back is the child's either way: omitting it gains what sending the
    input back would)."""
    keys = case.options.get("params", {}).get(name)
    sent = {f"after.{name}.{k}": case.arrays[f"{name}.{k}"] for k in keys} if keys else \
        {f"after.{name}": case.arrays[name]}
    back = {k for k in result.outputs if k == f"after.{name}" or k.startswith(f"after.{name}.")}
    if not back:
        return False
    if back != set(sent):
        return True  # a key added to (or taken from) a dict argument
    return not all(result.outputs[k].shape == v.shape and np.array_equal(result.outputs[k], v, equal_nan=True)
                   for k, v in sent.items())


def evaluate(case, result: Result, expected: dict, variants: dict | None, tol: Tolerances) -> Outcome:
    """The outcome of one case: the first thing that is wrong, diagnosed, or a pass."""
    if result.status != "ok":
        return failure(result, case=case)
    if case.probe == "init":
        return _evaluate_init(case, result, expected)
    if case.probe == "numgrad":
        return _evaluate_gradcheck(case, result, expected, variants, tol)
    chain = case.probe == "chain"  # the call is named once, before the first quantity that differs
    outcomes = [(key, compare_key(case, key, result, expected, variants, tol, short=chain)) for key in case.keys]
    scored = [(k, o) for k, o in outcomes if k != "loss"]  # the loss in a chain is another question's
    failed = [(k, o) for k, o in scored if not o.passed]
    if not failed:
        mutated = _mutated(case, result, tol)
        if mutated:
            return mutated
        loss_note = next((o for k, o in outcomes if k == "loss" and not o.passed), None)
        return Outcome(True, "(the loss differs from the reference's: see the loss question)" if loss_note else "")
    in_order = failed[0][0]
    (key, first), others, rest = _lead(failed)
    also = tuple(o.mistake for _, o in others)
    if chain:
        order = ", ".join(case.keys)
        which = "differs" if key == in_order else f"differs with a known mistake ({in_order} differs before it)"
        msg = (f"{case.call}: {key} is the first quantity that {which}, in the order of the computation "
               f"({order}). {first.message}")
        msg += "".join(f" {k} differs for another reason too: {o.message}" for k, o in others)
        if rest:
            msg += f" ({', '.join(rest)} differ{'s' if len(rest) == 1 else ''} too, maybe as a consequence.)"
        return Outcome.fail(msg, first.mistake, also=also)
    if others:
        msg = first.message + "".join(f" Also: {o.message}" for _, o in others)
        return Outcome.fail(msg, first.mistake, also=also)
    return first


def _lead(failed):
    """``failed``: ``(key, Outcome)`` of the quantities that differ, in the order of the
    computation -> ``((key, lead), others, rest)``: the lead is the first quantity that carries a
    known mistake (the others may differ as its consequence, or harmlessly), else the first;
    ``others`` are the first quantity of each further, different id (an independent mistake:
    a factor on dW2 and a shape on db1), in order; ``rest`` the keys of the remaining ones."""
    key, first = next(((k, o) for k, o in failed if o.mistake), failed[0])
    seen, others, rest = {first.mistake}, [], []
    for k, o in failed:
        if k == key:
            continue
        if o.mistake and o.mistake not in seen:
            seen.add(o.mistake)
            others.append((k, o))
        else:
            rest.append(k)
    return (key, first), others, rest


def without_blind_passes(cases, outcomes, variants) -> list:
    """``outcomes`` (one per case of one question) with the passes that prove nothing taken back.

    When a check group names a general mistake (``mistakes.SCOPE``) on some case, a case of that group where the mistake
    gives the right answer (its variant equals the reference's output there, or it is a factor
    of m and the case has m = 1) passed only because it cannot tell the two apart: a summed loss
    on one example, a whole-matrix softmax on one column. Such a pass earns nothing (``blind``).
    An edge mistake takes nothing back: a loss without clipping is right wherever y_hat is
    strictly inside (0, 1), and keeps the credit of those cases.
    ``variants`` maps a case id to its variants (only those that differ from the reference).
    """
    named: dict[str, set[str]] = {}   # check group -> the general mistakes its failures name
    backed: dict[str, set[str]] = {}  # check group -> the mistakes its cases' variants record
    for case, outcome in zip(cases, outcomes):
        if not outcome.passed:
            # Only a general mistake: an edge one (no clipping) is right wherever it is finite.
            general = {x for x in outcome.ids if mistakes.SCOPE.get(x) != mistakes.EDGE}
            named.setdefault(case.check, set()).update(general)
        backed.setdefault(case.check, set()).update(mistakes.mistake_of(k) for k in (variants.get(case.id) or {}))
    out = []
    for case, outcome in zip(cases, outcomes):
        if outcome.passed and named.get(case.check):
            shown = {mistakes.mistake_of(k) for k in (variants.get(case.id) or {})}
            blind = sorted(x for x in named[case.check]
                           if not mistakes.visible(x, _m(case)) or (x in backed[case.check] and x not in shown))
            if blind:
                why = "has one example" if not mistakes.visible(blind[0], _m(case)) else "gives the same answer"
                # No id on this case: it cannot show the mistake; the cases that do name it.
                outcome = Outcome(False, f"{case.call}: right here, but this case cannot tell {blind[0]} (named "
                                         f"on the other cases of this check) from the right answer (it {why}), "
                                         "so it earns nothing", None, 0.0, blind=True)
        out.append(outcome)
    return out


def first_line(qid, failed) -> str:
    """The first line a student reads for a question (the grader's table reason and summary, the
    kit's first message), from the ``Outcome`` of its failed public checks: the catalogue ids
    they name, each with its advice, in the order found; else the first failure's first line.
    A pass that cannot tell a mistake (``blind``) comes after every other failure, never first."""
    named = list(dict.fromkeys(m for o in failed for m in o.ids))
    if named:
        return f"{qid}: " + " ".join(mistakes.tag(m) for m in named)
    real = [o for o in failed if not o.blind] or list(failed)
    return f"{qid}: {real[0].message.splitlines()[0]}" if real and real[0].message else ""


def _evaluate_init(case, result, expected):
    out, types = result.outputs, result.types
    problems = []
    for k in ("W1", "b1", "W2", "b2"):
        exp = expected[f"first.{k}"]
        got = out.get(f"first.{k}")
        if got is None:
            return Outcome.fail(f"{case.call}: {k} is {types.get(f'first.{k}', 'missing')}, expected an ndarray "
                                f"of shape {exp.shape}")
        if got.shape != exp.shape:
            mistake = "init-wrong-shape" if got.shape == exp.shape[::-1] else None
            message = f"{case.call}: {k} has shape {got.shape}, expected {exp.shape}"
            return Outcome.fail(f"{message} {mistakes.tag(mistake)}" if mistake else message, mistake)
        bad = int(np.sum(~np.isfinite(got.astype(np.float64))))
        if bad:  # before the std and seed checks, which NaN would fool or make misleading
            return Outcome.fail(f"{case.call}: {k} has {bad} value{'s' if bad > 1 else ''} that "
                                f"{'are' if bad > 1 else 'is'} not finite (nan or inf)")
    for k in ("b1", "b2"):
        if np.any(out[f"first.{k}"] != 0):
            problems.append(f"{k} is not zero")
    for k in ("W1", "W2"):
        w = out[f"first.{k}"].astype(np.float64)
        std = float(np.std(w))
        # A sample std of n draws is within 4 standard errors (4 / sqrt(2n) relative) of the true one.
        # Contract v2: N(0, 0.01), x0.1, Xavier/Glorot and He all qualify; an unscaled randn does not.
        bound = max(0.1, float(np.sqrt(2 / w.shape[1])))
        if std > bound * (1 + 4 / np.sqrt(2 * w.size)):
            problems.append(f"{k} has std {fmt(std)}, expected at most {fmt(bound)} = max(0.1, sqrt(2 / n_in)) "
                            "(small weights)")
        if np.unique(w, axis=0).shape[0] < w.shape[0]:
            problems.append(f"{k} has equal rows: the symmetry between units is not broken")
    again_same = all(f"again.{k}" in out and np.array_equal(out[f"first.{k}"], out[f"again.{k}"])
                     for k in ("W1", "W2"))
    if not again_same:
        problems.append("two calls with the same seed gave different weights (use np.random.default_rng(seed))")
    if all(f"other.{k}" in out and np.array_equal(out[f"first.{k}"], out[f"other.{k}"]) for k in ("W1", "W2")):
        seeds = "two different seeds" if case.hidden else f"seeds {case.options['seed']} and {case.options['seed'] + 1}"
        problems.append(f"{seeds} gave the same weights")
    if problems:
        return Outcome.fail(f"{case.call}: " + "; ".join(problems))
    return Outcome(True)


def rel_error(x, y) -> float:
    """CS231n's ``max|x-y| / max(1e-8, |x|+|y|)``, elementwise, then the max."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _own_numeric(case, result):
    """Centred differences of the student's own loss, formed here from the loss values the
    student's process returned at the perturbed parameter sets of the case (None when it
    returned none, or not the right number of them)."""
    names = [k.split(".", 1)[1] for k in case.arrays if k.startswith("perturbed.")]
    params = {n: case.arrays[n] if n in case.arrays else case.arrays[f"params.{n}"] for n in names}
    losses = result.outputs.get("losses")
    if losses is None or losses.size != gradcheck.count(params):
        return None
    with np.errstate(all="ignore"):
        return {f"grad.{k}": v for k, v in gradcheck.numeric(losses, params).items()}


_OWN_LOSS_WRONG = "your loss is not the expected one (see the loss question)"
_OWN_LOSS_FAKED = ("your loss and forward pass all their checks, so the loss values your code returned at the "
                   "perturbed parameters are not those of your loss")


def without_own_loss_credit(outcome: Outcome) -> Outcome:
    """``outcome`` (an own-loss credit) taken back, for a student whose loss and forward pass all
    their checks: the loss values the credit rested on cannot have been those of that loss."""
    return Outcome.fail(outcome.message.replace(_OWN_LOSS_WRONG, _OWN_LOSS_FAKED), outcome.mistake, also=outcome.also)


def _evaluate_gradcheck(case, result, expected, variants, tol):
    """Full credit when the gradient matches the reference; ``own_loss_credit`` when it matches
    centred differences of the student's own loss and that loss is the wrong one. The
    differences are formed here, never in the student's process."""
    keys = [k for k in ("grad.W2", "grad.b2", "grad.W1", "grad.b1", "grad.W", "grad.b") if k in expected]
    vs_ref = {k: compare_key(case, k, result, expected, variants, tol) for k in keys}
    if all(o.passed for o in vs_ref.values()):
        return Outcome(True)
    (_, first), others, _ = _lead([(k, vs_ref[k]) for k in keys if not vs_ref[k].passed])
    if others:  # independent mistakes (a factor on dW2, a shape on db1): each named
        first = Outcome.fail(first.message + "".join(f" Also: {o.message}" for _, o in others), first.mistake,
                             also=tuple(o.mistake for _, o in others))
    out = result.outputs
    numeric = _own_numeric(case, result)
    if numeric is not None and all(k in out for k in keys):
        shapes_ok = all(np.size(out[k]) == np.size(numeric[k]) for k in keys)
        if shapes_ok:
            own = max(rel_error(np.reshape(out[k], np.shape(numeric[k])), numeric[k]) for k in keys)
            loss_right = max(rel_error(numeric[k], expected[k]) for k in keys) < tol.gradcheck_rel_error
            unfit = _own_loss_unfit(case, result, numeric, expected, keys) if own < tol.gradcheck_rel_error else None
            if unfit and not loss_right:
                return Outcome.fail(f"{first.message} It matches centred differences of the loss values your code "
                                    f"returned, but {unfit}: they cannot be those of a loss, so no own-loss "
                                    "credit.", first.mistake)
            if own < tol.gradcheck_rel_error and not loss_right:
                return Outcome(tol.own_loss_credit >= 1.0,
                               f"{case.call}: your gradient matches centred differences of your own loss "
                               f"(rel error {fmt(own)}), but {_OWN_LOSS_WRONG}: {first.message}", first.mistake,
                               tol.own_loss_credit, own_loss=True, also=first.also)
            return Outcome.fail(f"{first.message} Centred differences of your own loss give a rel error of "
                                f"{fmt(own)} (expected below {tol.gradcheck_rel_error:g}).", first.mistake,
                                also=first.also)
    return first


def _own_loss_unfit(case, result, numeric, expected, keys) -> str | None:
    """Why the student's loss values cannot back an own-loss credit, or None when they can.

    A gradient earns nothing for matching centred differences of values that no loss gives:
    a loss that is constant near the point (a zero gradient is the difference of a constant);
    one whose copies of the point, mixed among the perturbed sets by the grader
    (``losses_at_point``, see ``lab2check.gradcheck.mixed``), disagree, or whose values at the
    perturbed sets do not fit its value at the point (a smooth function's fourth difference is
    of order h^4, ~1e-12: any other answer for the perturbed sets than for the point shows);
    or whose value at the point is not the one the backward case of the same inputs returned
    (``loss_elsewhere``). The last two are checked where the grader sent what they need.
    """
    scale = max(float(np.max(np.abs(expected[k]))) for k in keys)
    # 1e-7: a constant's differences are 0 up to round-off; a loss scaled by 1/60000 (fixed-m)
    # still moves 1e-5 of the reference's gradient.
    if not max(float(np.max(np.abs(numeric[k]))) for k in keys) > 1e-7 * scale:
        return "that loss is constant near the point"
    point = result.outputs.get("losses_at_point")
    if point is None:
        return None
    values = np.asarray(result.outputs["losses"], np.float64).reshape(-1, len(gradcheck.STEPS))
    point = np.asarray(point, np.float64).ravel()
    with np.errstate(all="ignore"):
        if not point.size or not np.all(np.isfinite(point)) or np.ptp(point) > 1e-12 * max(1.0, abs(point[0])):
            return "it gave different values at the same parameters"
        f0 = point[0]
        # STEPS is (2h, h, -h, -2h): f(2h) - 4 f(h) + 6 f(0) - 4 f(-h) + f(-2h) is h^4 times the
        # fourth derivative.
        fourth = values[:, 0] - 4 * values[:, 1] + 6 * f0 - 4 * values[:, 2] + values[:, 3]
        allowed = 1e-9 * max(1.0, abs(f0)) + 1e-3 * np.abs(values[:, 1] - values[:, 2])
        if not np.all(np.abs(fourth) <= allowed):
            return "its values at the perturbed parameters do not fit its value at the parameters themselves"
        elsewhere = result.outputs.get("loss_elsewhere")
        if elsewhere is not None and np.size(elsewhere) == 1:
            other = float(np.asarray(elsewhere, np.float64).reshape(()))
            if not abs(other - f0) <= 1e-9 * max(1.0, abs(f0)):
                return (f"its value at the parameters ({fmt(f0)}) is not the loss your code gave for the same "
                        f"inputs in the backward check ({fmt(other)})")
    return None
