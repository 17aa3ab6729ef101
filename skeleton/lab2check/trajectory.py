"""Judge a training run: its recorded losses against the reference's, and the final loss.

``evaluate_training`` gives the ``(check, Outcome)`` of a question's two training checks, the
trajectory (the first ``trajectory_epochs`` losses, epoch by epoch, from the same initial
parameters and data) and the final loss (below the rubric's threshold after ``epochs``); when
a trajectory differs, ``trajectory_outcome`` names its likely cause from the losses alone (a
known mistake's own losses, a loss recorded after the update, a first loss scaled by m, 1/m,
m/60000 or 1/classes, a loss of part of the data). The grader (``grader/submission/training.py``)
and the kit (``lab2check.kit``) both call it, so a student sees the grader's own messages.

Not this module's job: running the training (``lab2check.probes``, in the student's process)
or the unit checks' comparisons (``lab2check.checks``, ``lab2check.compare``).
"""
from dataclasses import dataclass, field

import numpy as np

from lab2check import mistakes
from lab2check.compare import Outcome, fmt


@dataclass
class Trajectory:
    """What a trajectory is compared with, besides the reference's losses: ``variants`` maps a
    catalogue key to the losses that mistake records from the same start (``grader/answers/cache.py``,
    the kit's fixtures); ``classes`` is the number of output classes (10 for multiclass, else None);
    ``prefixes[n - 1]`` is the loss of the initial parameters on the first n examples (the
    grader's own, from ``grader/submission/trusted_model.py``; None in the kit); ``models`` are the catalogue ids
    that build another model (tanh hidden units...) which the unit checks named: losses that
    follow the reference trained with one of them (its ``variants`` entry) pass, since the
    mistake is charged in the unit checks."""
    m: int | None = None
    variants: dict = field(default_factory=dict)
    classes: int | None = None
    prefixes: np.ndarray | None = None
    models: tuple = ()


# A recorded loss above this times the first one after epoch 0 is told as a spike (a message
# only: the reference's losses fall from the start; a divergence is the watch's, rubric's
# training.diverge_factor and diverge_window, lab2check.probes).
SPIKE_FACTOR = 2.0
# Why the divergence watch stopped a training (lab2check.probes.NOT_FINITE, STAYED_HIGH).
_NOT_FINITE, _STAYED_HIGH = 1, 2


def spike_note(losses, epochs) -> str:
    """A sentence for a training that ran to the end although its recorded loss spiked (rose
    above ``SPIKE_FACTOR`` times its first value, then came back below it), else ""."""
    seen = np.asarray(losses if losses is not None else [], np.float64).ravel()[:epochs]
    if seen.size < 3 or not np.isfinite(seen[0]) or seen[0] <= 0:
        return ""
    with np.errstate(invalid="ignore"):
        high = np.flatnonzero(seen[1:] > SPIKE_FACTOR * seen[0]) + 1
    if not high.size or not np.isfinite(seen[-1]) or seen[-1] > SPIKE_FACTOR * seen[0]:
        return ""
    peak = int(high[np.argmax(seen[high])])
    return (f"; the recorded loss spiked from {fmt(seen[0])} to {fmt(seen[peak])} at epoch {peak} "
            f"({seen[peak] / seen[0]:.0f} times its first) and came back down by epoch {int(high[-1]) + 1}: "
            "a spike that recovers is not a divergence, so the training ran its "
            f"{epochs} epochs")


def _diverged_message(call, seen, why, watch) -> str:
    """Why the watch stopped a training, for its trajectory and final-loss checks."""
    last = fmt(seen[-1]) if seen.size else "?"
    first = fmt(seen[0]) if seen.size else "?"
    at = max(seen.size - 1, 0)
    if why == _NOT_FINITE:
        return (f"{call}: training diverged and was stopped at epoch {at}: its predictions were not finite (nan) "
                f"(loss {last}, first loss {first})")
    if why == _STAYED_HIGH and watch:
        factor, window = watch
        return (f"{call}: training diverged and was stopped at epoch {at}: its loss stayed above {factor:g} times "
                f"its first ({first}) for {window} epochs in a row (loss {last})")
    return f"{call}: training diverged and was stopped at epoch {at} (loss {last}, first loss {first})"


def evaluate_training(losses, diverged, reference_losses, epochs, trajectory_epochs, trajectory_rtol,
                      max_loss, call, m=None, context: Trajectory | None = None, described="", item=None,
                      watch=None):
    """``[(check, Outcome)]`` for a training run: trajectory and 500-epoch loss threshold.

    ``m`` is the number of training examples (to recognise a loss that sums instead of averaging);
    ``described`` and ``item`` describe losses that were not a list of floats (their type, their first
    element when it is an array). ``diverged``: false, or why the divergence watch stopped the run
    (the probe's ``diverged`` value: 1 not finite, 2 stayed high, anything else unsaid), with
    ``watch`` = (diverge_factor, diverge_window) to say it. A run that spiked and recovered says so.
    """
    context = context or Trajectory(m)
    ref = np.asarray(reference_losses, np.float64)
    k = min(trajectory_epochs, len(ref))
    if diverged:
        seen = np.asarray(losses if losses is not None else [], np.float64)
        msg = _diverged_message(call, seen, diverged if diverged is not True else None, watch)
        n = min(seen.size, k)
        trajectory = (trajectory_outcome(seen[:n], ref[:n], trajectory_rtol, call, m, context) if n
                      else Outcome.fail(msg))
        if trajectory.passed:  # the epochs it ran agree: what went wrong is the divergence
            trajectory = Outcome.fail(msg)
        return [("trajectory", trajectory), ("final_loss", Outcome.fail(msg))]
    if losses is None:
        bad = not_floats(call, described or "not a list of floats", item, m, epochs)
        return [("trajectory", bad), ("final_loss", bad)]
    losses = np.asarray(losses, np.float64).ravel()
    out = [("trajectory", trajectory_outcome(losses[:k], ref[:k], trajectory_rtol, call, m, context))]
    if losses.size != epochs:
        out.append(("final_loss", Outcome.fail(f"{call}: returned {losses.size} losses, expected {epochs} "
                                               "(one per epoch, before the update)")))
        return out
    final = losses[epochs - 1]
    spiked = spike_note(losses, epochs)
    if not np.isfinite(final) or final > max_loss:
        out.append(("final_loss", Outcome.fail(f"{call}: loss after {epochs} epochs is {fmt(final)}, "
                                               f"expected below {max_loss:g} (reference: {fmt(ref[-1])}){spiked}")))
    else:
        out.append(("final_loss", Outcome(True, f"{call}: loss after {epochs} epochs {fmt(final)}{spiked}"
                                          if spiked else "")))
    return out


def not_floats(call, described, item, m, epochs) -> Outcome:
    """The trajectory outcome when train's losses are not a list of floats; a list of arrays of
    m values each is a loss returning the per-example vector."""
    msg = f"{call}: losses is {described}, expected a list of {epochs} floats"
    if item is not None:
        msg += f" (its first element is an ndarray of shape {tuple(np.shape(item))})"
        if m and np.size(item) == m:
            return Outcome.fail(f"{msg} {mistakes.tag('loss-per-example')}", "loss-per-example")
    return Outcome.fail(msg)


def _close(a, b, rtol) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return False
    return bool(np.all(np.abs(a - b) <= rtol * np.maximum(np.abs(b), 1e-12)))


def _variant_match(got, ref, rtol, variants, among=None):
    """The catalogue id whose recorded losses ``got`` follows (and the reference does not), when
    it is clearly the closest of them (``mistakes.closest_variant``): from small initial weights
    a linear hidden layer records nearly tanh's losses, but its own variant's more closely. Only
    the ids in ``among`` when it is given."""
    cut = {}
    for key, losses in (variants or {}).items():
        if among is not None and mistakes.mistake_of(key) not in among:
            continue
        v = np.asarray(losses, np.float64).ravel()[:got.size]
        if v.size == got.size:
            cut[key] = v
    return mistakes.closest_variant(got, ref, cut, close=lambda a, b: _close(a, b, rtol))


# Scale factors of a first loss that name a mistake: (factor of the reference's loss, id, why).
def _scaled(c, m, classes):
    if not np.isfinite(c) or c <= 0:
        return None
    def near(x):
        return abs(c - x) <= 1e-3 * x
    if m and m > 1 and near(m):
        return "missing-mean", "it is m times the loss: a sum over the examples, not a mean"
    if m and m > 1 and near(1 / m):
        return "wrong-normalisation", "it is the loss divided by m once more"
    if m and m > 1 and near(m / 60000):
        return "fixed-m", f"it is the loss times {m}/60000: divided by 60000 instead of the m = {m} examples"
    if classes and near(1 / classes):
        return "loss-over-classes", f"it is the loss divided by {classes}: a mean over the classes as well"
    return None


def trajectory_outcome(got, ref, rtol, call, m=None, context: Trajectory | None = None):
    """The recorded losses against the reference's, epoch by epoch; when they differ, the likely
    cause from the shape of the trajectory: a known mistake's own losses (variants), every loss one
    epoch late (recorded after the update), a first loss scaled by m, 1/m, m/60000 or 1/classes,
    or equal to the loss of the first n < m examples (part of the data, or a mini-batch)."""
    context = context or Trajectory(m)
    m = m or context.m
    if got.size < ref.size:
        return Outcome.fail(f"{call}: only {got.size} losses to compare with the reference's first {ref.size}")
    with np.errstate(all="ignore"):
        rel = np.abs(got - ref) / np.maximum(np.abs(ref), 1e-12)
    bad = np.flatnonzero(~(rel <= rtol))
    if not bad.size:
        return Outcome(True)
    i = int(bad[0])
    built = _variant_match(got, ref, rtol, context.variants, among=context.models) if context.models else None
    if built:  # the model the student built, trained right: the unit checks charge the mistake, once
        return Outcome(True, f"{call}: the recorded losses follow the reference's trained in the {built} model, the "
                             f"network your code builds (that mistake is charged once, in the unit checks)")
    mistake, hint = _variant_match(got, ref, rtol, context.variants), ""
    if mistake:
        hint = " They are the losses of a known mistake, from the same start:"
    elif got.size >= 2 and _close(got[:-1], ref[1:], rtol):
        mistake, hint = "loss-after-update", " Each recorded loss is the reference's of the next epoch:"
    elif i == 0:
        c = got[0] / ref[0] if ref[0] else np.nan
        scaled = _scaled(c, m, context.classes)
        n = _prefix(got[0], context.prefixes, rtol)
        if scaled:
            mistake, hint = scaled[0], f" The very first loss is off: {scaled[1]}."
        elif n is not None and context.prefixes is not None:  # a prefix is found only among them
            mistake = "train-subset" if n >= 0.5 * len(context.prefixes) else "mini-batches"
            hint = (f" The very first loss is the loss of the first {n} of the {len(context.prefixes)} examples "
                    "only: train does not use all of X and y at each epoch.")
        else:
            hint = (" The very first loss differs from the loss of the given parameters on all of X and y: check "
                    "the loss (see its question); if it passes its checks, train records the loss somewhere "
                    "else: after an update, on part of the data or on a mini-batch, or not from the given "
                    "parameters.")
    elif np.all(rel[:i] <= rtol):
        hint = (" The first epochs agree: check the update (p - lr * dp with the lr train was given), the "
                "gradients, and that each epoch makes one full-batch step (no mini-batches).")
    msg = (f"{call}: the loss of epoch {i} is {fmt(got[i])}, the reference's is {fmt(ref[i])} "
           f"(rel error {fmt(rel[i])} > {rtol:g}), from the same initial parameters and data.{hint}")
    return Outcome.fail(msg + (f" {mistakes.tag(mistake)}" if mistake else ""), mistake)


def _prefix(first, prefixes, rtol):
    """The n < m (at least a tenth of m) whose first n examples give the recorded first loss
    (the closest when several do), or None."""
    if prefixes is None or not np.isfinite(first):
        return None
    p = np.asarray(prefixes, np.float64)
    m = p.size
    n = np.arange(1, m + 1)
    error = np.abs(p - first)
    close = np.flatnonzero((error <= 0.01 * rtol * max(abs(first), 1e-12)) & (n >= max(1, m // 10)) & (n < m))
    return int(close[np.argmin(error[close])]) + 1 if close.size else None
