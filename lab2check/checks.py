"""Judge what a probe returned against the reference's answer for the same case.

``evaluate(case, result, expected, variants, tol)`` gives one ``Outcome`` per case; the
question's points are split between its check groups by ``WEIGHTS``. The grader and the kit's
pytest suite both call this, so a student sees the grader's own messages.
"""
from dataclasses import dataclass, field

import numpy as np

from lab2check import gradcheck, mistakes
from lab2check.compare import Outcome, compare, fmt
from lab2check.plain import encode

# The share of each check group in its question's automatic points.
WEIGHTS = {
    "q1_1": {"sigmoid": 1},
    "q1_2": {"forward": 1},
    "q1_3": {"loss": 1},
    "q1_4": {"gradients": 2, "gradcheck": 1},
    "q1_5": {"predict": 1, "trajectory": 1, "final_loss": 1, "accuracy": 1},
    "q2_1": {"init_params": 1, "forward": 1, "backward": 2, "gradcheck": 1, "update": 1},
    "q2_2": {"predict": 1, "trajectory": 1, "final_loss": 1, "accuracy": 1},
    "q2_3": {"trajectory": 1, "final_loss": 1, "accuracy": 1},
    "q3_2": {"one_hot": 1, "softmax": 2, "loss": 1},
    "q3_3": {"init_params": 1, "forward": 1, "backward": 2, "gradcheck": 1, "update": 1, "predict": 1,
             "trajectory": 1, "final_loss": 1, "accuracy": 1},
    "report": {"loss_500": 1},
}
SCALAR_SHAPES = ((), (1,), (1, 1))
MAX_ELEMENTS = 10**8


@dataclass
class Tolerances:
    rtol: float = 1e-6
    atol: float = 1e-9
    float32_rtol: float = 1e-4
    gradcheck_rel_error: float = 1e-5
    own_loss_credit: float = 1.0


@dataclass
class Result:
    """What running a probe gave: the sandbox's answer, or a local run's (same fields)."""
    status: str                      # ok | error | timeout | crashed | bad-output
    outputs: dict = field(default_factory=dict)
    types: dict = field(default_factory=dict)
    error: dict | None = None        # where, type, not_implemented, message, traceback
    note: str = ""
    seconds: float = 0.0


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
        return Result("error", error={"where": err.where, "type": err.type, "not_implemented": err.not_implemented,
                                      "message": err.describe(), "traceback": err.traceback})
    outputs, types = {}, {}
    for key, value in raw.items():
        array, kind = encode(value, MAX_ELEMENTS)
        types[key] = kind
        if array is not None:
            outputs[key] = array
    return Result("ok", outputs, types)


def failure(result: Result, limit_note: str = "") -> Outcome:
    """The outcome of a probe that did not return (an exception, a timeout, a crash)."""
    if result.status == "error":
        err = result.error or {}
        message = err.get("message") or f"{err.get('where', 'student code')} failed"
        if result.note:  # the sandbox's hint, e.g. "stdin is empty: input() cannot be answered"
            message += f" ({result.note})"
        if not err.get("not_implemented") and err.get("traceback"):
            message += "\n" + err["traceback"].rstrip()
        return Outcome(False, message, None, 0.0)
    if result.status == "timeout":
        return Outcome(False, f"timed out{limit_note}: {result.note}".rstrip(": "), None, 0.0)
    return Outcome(False, f"{result.status}: {result.note}".rstrip(": "), None, 0.0)


def not_implemented(result: Result) -> bool:
    return result.status == "error" and bool((result.error or {}).get("not_implemented"))


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
    if fn == "forward" and case.qid == "q3_3":
        names["out.0"] = "Y_hat"
    name = names.get(key, key.replace("out.", "").replace("grad.", "d"))
    quantity = "gradient" if key in _GRADIENT_KEYS or case.check == "gradients" else (
        "loss" if key == "loss" or case.check == "loss" else "output")
    shapes = ()
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
    return compare(label, result.outputs.get(key), result.types.get(key, "nothing"), exp,
                   rtol=rtol or _rtol(case, tol), atol=tol.atol, shapes=shapes,
                   variants={k: v.get(key) for k, v in (variants or {}).items()}, m=_m(case),
                   quantity=quantity, exact=case.check in ("predict", "one_hot"),
                   finite_only=bool(case.options.get("finite_only")))


def _mutated(case, result):
    if case.options.get("function") in ("update", "train"):
        return None  # the contract does not rely on whether update mutates its argument
    changed = [k.split(".", 1)[1] for k, v in result.outputs.items() if k.startswith("mutated.") and v.any()]
    if changed:
        fn = f"{case.options.get('module')}.{case.options.get('function')}"
        return Outcome(False, f"{fn} modified its argument{'s' if len(changed) > 1 else ''} "
                              f"{', '.join(changed)} in place: work on new arrays (e.g. z = z - 1, not z -= 1)",
                       None, 0.0)
    return None


def evaluate(case, result: Result, expected: dict, variants: dict | None, tol: Tolerances) -> Outcome:
    """The outcome of one case: the first thing that is wrong, diagnosed, or a pass."""
    if result.status != "ok":
        return failure(result)
    if case.probe == "init":
        return _evaluate_init(case, result, expected)
    if case.probe == "numgrad":
        return _evaluate_gradcheck(case, result, expected, variants, tol)
    chain = case.probe == "chain"  # the call is named once, before the first quantity that differs
    outcomes = [(key, compare_key(case, key, result, expected, variants, tol, short=chain)) for key in case.keys]
    scored = [(k, o) for k, o in outcomes if k != "loss"]  # the loss in a chain is another question's
    failed = [(k, o) for k, o in scored if not o.passed]
    if not failed:
        mutated = _mutated(case, result)
        if mutated:
            return mutated
        loss_note = next((o for k, o in outcomes if k == "loss" and not o.passed), None)
        return Outcome(True, "(the loss differs from the reference's: see the loss question)" if loss_note else "")
    key, first = failed[0]
    if chain:
        order = ", ".join(case.keys)
        also = [k for k, _ in failed[1:]]
        msg = (f"{case.call}: {key} is the first quantity that differs, in the order of the computation "
               f"({order}). {first.message}")
        if also:
            msg += f" ({', '.join(also)} differ{'s' if len(also) == 1 else ''} too, maybe as a consequence.)"
        return Outcome(False, msg, first.mistake, 0.0)
    return first


def _evaluate_init(case, result, expected):
    out, types = result.outputs, result.types
    fn = f"{case.options['part']}.init_params"
    problems = []
    for k in ("W1", "b1", "W2", "b2"):
        exp = expected[f"first.{k}"]
        got = out.get(f"first.{k}")
        if got is None:
            return Outcome(False, f"{case.call}: {k} is {types.get(f'first.{k}', 'missing')}, expected an ndarray "
                                  f"of shape {exp.shape}", None, 0.0)
        if got.shape != exp.shape:
            return Outcome(False, f"{case.call}: {k} has shape {got.shape}, expected {exp.shape}", None, 0.0)
        bad = int(np.sum(~np.isfinite(got.astype(np.float64))))
        if bad:  # before the std and seed checks, which NaN would fool or make misleading
            return Outcome(False, f"{case.call}: {k} has {bad} value{'s' if bad > 1 else ''} that "
                                  f"{'are' if bad > 1 else 'is'} not finite (nan or inf)", None, 0.0)
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
        return Outcome(False, f"{case.call}: " + "; ".join(problems), None, 0.0)
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


def _evaluate_gradcheck(case, result, expected, variants, tol):
    """Full credit when the gradient matches the reference; ``own_loss_credit`` when it matches
    centred differences of the student's own loss and that loss is the wrong one. The
    differences are formed here, never in the student's process."""
    keys = [k for k in ("grad.W2", "grad.b2", "grad.W1", "grad.b1", "grad.W", "grad.b") if k in expected]
    vs_ref = {k: compare_key(case, k, result, expected, variants, tol) for k in keys}
    if all(o.passed for o in vs_ref.values()):
        return Outcome(True)
    first_key = next(k for k in keys if not vs_ref[k].passed)
    first = vs_ref[first_key]
    out = result.outputs
    numeric = _own_numeric(case, result)
    if numeric is not None and all(k in out for k in keys):
        shapes_ok = all(np.size(out[k]) == np.size(numeric[k]) for k in keys)
        if shapes_ok:
            own = max(rel_error(np.reshape(out[k], np.shape(numeric[k])), numeric[k]) for k in keys)
            loss_right = max(rel_error(numeric[k], expected[k]) for k in keys) < tol.gradcheck_rel_error
            if own < tol.gradcheck_rel_error and not loss_right:
                return Outcome(tol.own_loss_credit >= 1.0,
                               f"{case.call}: your gradient matches centred differences of your own loss "
                               f"(rel error {fmt(own)}), but your loss is not the expected one (see the loss "
                               f"question): {first.message}", first.mistake, tol.own_loss_credit, own_loss=True)
            return Outcome(False, f"{first.message} Centred differences of your own loss give a rel error of "
                                  f"{fmt(own)} (expected below {tol.gradcheck_rel_error:g}).", first.mistake, 0.0)
    return first


# ---------------------------------------------------------------- training
def evaluate_training(losses, diverged, reference_losses, epochs, trajectory_epochs, trajectory_rtol,
                      max_loss, call, m=None):
    """``[(check, Outcome)]`` for a training run: trajectory and 500-epoch loss threshold.

    ``m`` is the number of training examples (to recognise a loss that sums instead of averaging).
    """
    ref = np.asarray(reference_losses, np.float64)
    k = min(trajectory_epochs, len(ref))
    if diverged:
        seen = np.asarray(losses if losses is not None else [], np.float64)
        last = fmt(seen[-1]) if seen.size else "?"
        msg = (f"{call}: training diverged and was stopped at epoch {max(seen.size - 1, 0)} (loss {last}, "
               f"first loss {fmt(seen[0]) if seen.size else '?'})")
        n = min(seen.size, k)
        trajectory = (trajectory_outcome(seen[:n], ref[:n], trajectory_rtol, call, m) if n
                      else Outcome(False, msg, None, 0.0))
        if trajectory.passed:  # the epochs it ran agree: what went wrong is the divergence
            trajectory = Outcome(False, msg, None, 0.0)
        return [("trajectory", trajectory), ("final_loss", Outcome(False, msg, None, 0.0))]
    if losses is None:
        bad = Outcome(False, f"{call}: losses is not a list of floats", None, 0.0)
        return [("trajectory", bad), ("final_loss", bad)]
    losses = np.asarray(losses, np.float64).ravel()
    out = [("trajectory", trajectory_outcome(losses[:k], ref[:k], trajectory_rtol, call, m))]
    if losses.size != epochs:
        out.append(("final_loss", Outcome(False, f"{call}: returned {losses.size} losses, expected {epochs} "
                                                 "(one per epoch, before the update)", None, 0.0)))
        return out
    final = losses[epochs - 1]
    if not np.isfinite(final) or final > max_loss:
        out.append(("final_loss", Outcome(False, f"{call}: loss after {epochs} epochs is {fmt(final)}, "
                                                 f"expected below {max_loss:g} (reference: {fmt(ref[-1])})",
                                          None, 0.0)))
    else:
        out.append(("final_loss", Outcome(True)))
    return out


def trajectory_outcome(got, ref, rtol, call, m=None):
    if got.size < ref.size:
        return Outcome(False, f"{call}: only {got.size} losses to compare with the reference's first {ref.size}",
                       None, 0.0)
    with np.errstate(all="ignore"):
        rel = np.abs(got - ref) / np.maximum(np.abs(ref), 1e-12)
    bad = np.flatnonzero(~(rel <= rtol))
    if bad.size:
        i = int(bad[0])
        factor = got[i] / ref[i] if ref[i] else np.nan
        hint = ""
        if i == 0:
            hint = " The very first loss differs: check the loss, or that train starts from the given parameters."
        elif np.all(rel[:i] <= rtol):
            hint = " The first epochs agree: check the update (p - lr * dp) and the gradients."
        mistake = None
        if i == 0 and np.isfinite(factor):
            mistake = mistakes.diagnose(np.array([got[0]]), np.array([ref[0]]), m=m, quantity="loss")
        msg = (f"{call}: the loss of epoch {i} is {fmt(got[i])}, the reference's is {fmt(ref[i])} "
               f"(rel error {fmt(rel[i])} > {rtol:g}), from the same initial parameters and data.{hint}")
        return Outcome(False, msg + (f" {mistakes.tag(mistake)}" if mistake else ""), mistake, 0.0)
    return Outcome(True)
