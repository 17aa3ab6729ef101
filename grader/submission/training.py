"""Judge one training question from what the student's ``train`` and ``predict`` returned.

The student's process returns the trained parameters, the recorded losses and the predictions
on the test inputs; every number that decides a point is computed here, in the grader:
- ``trajectory``: the recorded losses against the reference's, epoch by epoch, from the same
  initial parameters and data (a diagnosis of the loss, the gradients or the update), and the
  recorded last loss against the true loss of the returned parameters (a recorded loss that is
  not the loss of the model is named);
- ``final_loss``: the true loss of the returned parameters on the grading subset
  (``grader.submission.trusted_model``), against the rubric's threshold; never the student's own recorded value;
- ``accuracy``: the contract's prediction rule applied to the returned parameters, against test
  labels that never enter the sandbox. The student's own ``predict`` is compared with it only
  to say so (its bugs cost the ``predict`` unit check): training credit never depends on it.

A model built another way (``grader.submission.trusted_model.VARIANTS``: tanh hidden units, sigmoid outputs),
when the unit checks of the module named it, is judged in that model too: ``final_loss`` and
``accuracy`` each take the better of the lab's model and the named one, and say which; the
trajectory passes when it follows the reference trained with that mistake. The mistake is
charged once, in the unit checks: a student who built a consistent tanh network and trained it
well keeps the training's points.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from grader.submission import trusted_model
from lab2check import questions
from lab2check.compare import Outcome, fmt
from lab2check.questions import MODULES
from lab2check.result import Result, Status
from lab2check.trajectory import Trajectory, evaluate_training, not_floats, spike_note, trajectory_outcome

if TYPE_CHECKING:  # the answers import this module (the contract's prediction rule)
    from grader.answers.cache import TrainingAnswer
    from grader.rubric import Rubric

# The loss of epoch 499 (recorded before its update) and the loss of the parameters returned
# after it differ by one step of gradient descent: 0.1-0.3 % for the reference on the grading
# subset. A loss scaled by a wrong m, the number of classes or a sum is off by 10x or more.
RECORDED_RTOL = 0.05
PREDICT_CHUNK = 2000  # test columns at a time: the float64 forward pass stays ~13 MB
CHECKS = ("trajectory", "final_loss", "accuracy")  # a training's checks, in the order they are listed


@dataclass
class Task:
    """One training question as the grader runs it."""
    qid: str
    module: str                # the lab2 module: single_neuron, hidden_layer, multiclass
    init: dict                 # the initial parameters sent ("W", "b" or "params.W1"...)
    data: dict                 # name -> .npy path: X (train inputs), y (targets), X_test
    labels: np.ndarray         # test labels (0/1 or 0-9), the grader's only
    reference_losses: list
    reference_accuracy: float
    epochs: int
    trajectory_epochs: int
    trajectory_rtol: float
    max_loss: float
    min_accuracy: float
    call: str                  # how the train call reads in a message
    variants: dict = field(default_factory=dict)  # mistake key -> the losses it records (first epochs)
    watch: tuple = (10.0, 50)  # the rubric's (diverge_factor, diverge_window), for the diverged message

    @property
    def shapes(self) -> dict:
        return {k.split(".")[-1]: np.shape(v) for k, v in self.init.items()}

    @classmethod
    def of_question(cls, qid: str, rubric: Rubric, reference: TrainingAnswer, data: dict,
                    labels: np.ndarray) -> Task:
        """What judging ``qid``'s training needs: the registry's module and model, the rubric's
        epochs and thresholds, the reference's training ``reference``; ``data``: the train
        request's data files (host paths); ``labels``: the test labels (the grader's only)."""
        q = questions.get(qid)
        assert q.training is not None and q.module is not None, f"{qid} is not a training question"
        spec = rubric.model(q.training.model)
        t = rubric.training
        return cls(qid, q.module, reference.init, data, labels, reference.losses, reference.accuracy, t.epochs,
                   t.trajectory_epochs, t.trajectory_rtol, spec.max_loss, spec.min_test_accuracy,
                   f"{q.module}.train(X, y, ..., epochs={t.epochs}, lr={spec.lr:g})",
                   variants=reference.variants, watch=(t.diverge_factor, t.diverge_window))


@functools.lru_cache(maxsize=16)
def _mapped(path: str) -> np.ndarray:
    return np.load(str(path), mmap_mode="r")


def _params(task: Task, outputs: dict, types: dict) -> tuple[dict | None, str | None]:
    """``(params, None)`` when train returned every parameter with its initial shape and finite
    values; ``(None, why)`` otherwise."""
    params = {}
    for name, shape in task.shapes.items():
        got = outputs.get(f"trained.{name}")
        if got is None:
            what = types.get(f"trained.{name}", types.get("trained.params", "nothing"))
            return None, f"train returned {name} as {what}, expected an ndarray of shape {shape}"
        if got.size != int(np.prod(shape)) or (got.shape != shape and MODULES[task.module].layers != 1):
            return None, f"train returned {name} of shape {got.shape}, expected {shape}"
        got = got.reshape(shape).astype(np.float64)
        if not np.all(np.isfinite(got)):
            return None, f"train returned {name} with values that are not finite (nan or inf)"
        params[name] = got
    return params, None


def _context(task: Task, m: int, variants: tuple[str, ...] = ()) -> Trajectory:
    """What the recorded losses are compared with besides the reference's: the catalogue's
    variants, the number of classes, the initial loss on the first n examples for every n, and
    the model variants the unit checks named (a trajectory that follows one of them passes)."""
    X, Y = _mapped(task.data["X"]), _mapped(task.data["y"])
    init = {k.split(".")[-1]: v for k, v in task.init.items()}
    per_example = trusted_model.per_example_loss(task.module, Y, trusted_model.forward(task.module, X, init))
    prefixes = np.cumsum(per_example) / np.arange(1, per_example.size + 1)
    classes = MODULES[task.module].outputs
    return Trajectory(m, task.variants, classes if classes > 1 else None, prefixes, tuple(variants))


def _true_loss(task: Task, params: dict, variant: str | None = None, as_built: bool = False) -> float:
    X, Y = _mapped(task.data["X"]), _mapped(task.data["y"])
    with np.errstate(all="ignore"):
        return trusted_model.loss(task.module, Y, trusted_model.forward(task.module, X, params, variant, as_built))


def predictions(module: str, X_test_path: str | Path, params: dict, variant: str | None = None) -> np.ndarray:
    """The contract's prediction rule applied to ``params`` on the test inputs, ``(m,)``, in the
    lab's model or in that of ``variant``."""
    X = _mapped(str(X_test_path))
    with np.errstate(all="ignore"):
        return np.concatenate([trusted_model.predict(module, X[:, i:i + PREDICT_CHUNK], params, variant)
                               for i in range(0, X.shape[1], PREDICT_CHUNK)])


def _in_model(variant: str | None) -> str:
    """How a message names the model a number was computed in."""
    if variant is None:
        return "in the lab's model"
    return f"in the {variant} model (the network your code builds; the unit checks charge that mistake, once)"


def _best_loss(task: Task, params: dict, variants: tuple[str, ...]) -> tuple[float, str | None]:
    """``(loss, variant)``: the lowest true loss of ``params`` over the lab's model (None) and
    ``variants``; the lab's model on a tie (and when every loss is nan)."""
    best: tuple[float, str | None] = (_true_loss(task, params), None)
    for v in variants:
        loss = _true_loss(task, params, v)
        if np.isfinite(loss) and not loss >= best[0]:
            best = (loss, v)
    return best


def _why_diverged(flag: np.ndarray) -> int | bool:
    """The watch's reason (1 not finite, 2 stayed high) from the child's ``diverged`` array, for
    the message only; True (no reason said) for anything else the child may have sent."""
    with np.errstate(all="ignore"):
        first = np.asarray(flag, np.float64).reshape(-1)[:1]
    return int(first[0]) if first.size and first[0] in (1.0, 2.0) else True


def _recorded(outputs: dict, types: dict, epochs: int) -> tuple[np.ndarray | None, int]:
    """``(losses as float64 1-D, how many train returned)``, or ``(None, 0)`` when not a list of floats."""
    losses = outputs.get("losses")
    if losses is None:
        return None, 0
    losses = np.asarray(losses, np.float64).ravel()
    count = outputs.get("losses_count")
    return losses[:epochs + 1], int(count.reshape(-1)[0]) if count is not None and count.size == 1 else losses.size


def _consistency(task: Task, recorded: np.ndarray, true_loss: float, explained: bool = False,
                 also: tuple[float, ...] | list[float] = ()) -> str:
    """A sentence when the recorded last loss is not the loss of the returned model, else "".
    ``explained``: the trajectory already names the cause (no guess about m is added then);
    ``also``: the true losses in the other models judged (a recorded loss of any is consistent)."""
    last = float(recorded[task.epochs - 1])
    if np.isfinite(last) and any(abs(last - t) <= RECORDED_RTOL * max(abs(t), 1e-12) for t in (true_loss, *also)):
        return ""
    sentence = (f"the loss train recorded at epoch {task.epochs - 1} is {fmt(last)}, but the loss of the parameters "
                f"it returned is {fmt(true_loss)} (computed by the grader on the same data): the recorded losses "
                "are not the loss of the model.")
    ratio = true_loss / last if last and np.isfinite(last) and not explained else None
    if ratio and ratio > 1.5:
        sentence += (f" They are about {_about(ratio)} times too small: is the loss divided by the right m, "
                     "exactly once?")
    elif ratio and ratio < 1 / 1.5:
        sentence += f" They are about {_about(1 / ratio)} times too large: is the loss a mean over the m examples?"
    return sentence


def trained_params(task: Task, outputs: dict, types: dict) -> dict | None:
    """The parameters train returned, as the predict request sends them back, or None."""
    params, _ = _params(task, outputs, types)
    if params is None:
        return None
    return {k: params[k.split(".")[-1]].astype(np.asarray(v).dtype) for k, v in task.init.items()}


def _about(factor: float) -> str:
    """A factor as a reader says it: 60, 2.5 (one step of training separates the two losses)."""
    return f"{factor:.0f}" if factor >= 10 else f"{factor:.2g}"


def judge(task: Task, outputs: dict, types: dict, predicted: Result | None = None,
          named: set[str] | tuple[str, ...] = ()) -> tuple[list[tuple[str, Outcome]], list | None, float | None]:
    """``([(check, Outcome)], recorded losses or None, true final loss or None)`` for a training
    request that returned.

    ``predicted``: the answer of the predict request that followed (a ``lab2check.result.Result``), or None.
    ``named``: the catalogue ids the unit checks of ``task.module`` named; those that build another
    model (``trusted_model.VARIANTS``) are judged besides the lab's. The true final loss is that of the
    model the final loss was judged in.
    """
    variants = trusted_model.variants_of(task.module, named)
    ref = np.asarray(task.reference_losses, np.float64)
    k = min(task.trajectory_epochs, ref.size)
    m = np.shape(_mapped(task.data["X"]))[1]
    if "diverged" in outputs and bool(outputs["diverged"].any()):
        seen = outputs.get("losses")
        checked = evaluate_training(seen, _why_diverged(outputs["diverged"]), ref, task.epochs,
                                    task.trajectory_epochs, task.trajectory_rtol, task.max_loss,
                                    task.call, m=m, context=_context(task, m, variants),
                                    watch=task.watch)
        no = Outcome.fail(f"{task.call}: no accuracy: the training diverged")
        return checked + [("accuracy", no)], (np.asarray(seen, np.float64).ravel().tolist() if seen is not None
                                              else None), None
    recorded, count = _recorded(outputs, types, task.epochs)
    params, problem = _params(task, outputs, types)
    true_loss, judged_in = _best_loss(task, params, variants) if params is not None else (None, None)

    if recorded is None:
        trajectory = not_floats(task.call, types.get("losses", "missing"), outputs.get("losses_item"), m,
                                task.epochs)
    else:
        trajectory = trajectory_outcome(recorded[:k], ref[:k], task.trajectory_rtol, task.call, m,
                                        _context(task, m, variants))
        if trajectory.passed and count != task.epochs:
            trajectory = Outcome.fail(f"{task.call}: returned {count} losses, expected {task.epochs} (one per "
                                      "epoch, before the update)")
        if count == task.epochs and params is not None and true_loss is not None:  # one is None when both are
            # Recorded losses are consistent with any model judged, as the student's network computes it.
            others = [_true_loss(task, params, v, as_built=True) for v in (None, *variants)]
            inconsistent = _consistency(task, recorded, true_loss, explained=trajectory.mistake is not None,
                                        also=others)
            if inconsistent:
                mistake = trajectory.mistake
                trajectory = Outcome.fail((trajectory.message + " " if not trajectory.passed else f"{task.call}: ")
                                          + inconsistent, mistake)

    if params is None:
        final = Outcome.fail(f"{task.call}: {problem}")
        accuracy = Outcome.fail(f"{task.call}: no accuracy: {problem}")
        return [("trajectory", trajectory), ("final_loss", final), ("accuracy", accuracy)], _listed(recorded), None

    assert true_loss is not None, "_best_loss ran: the parameters are there"
    where = (f"the loss of the parameters train returned, computed by the grader on the {m} training examples "
             f"{_in_model(judged_in)}")
    spiked = spike_note(recorded, task.epochs) if recorded is not None else ""
    if np.isfinite(true_loss) and true_loss <= task.max_loss:
        final = Outcome(True, f"{where}: {fmt(true_loss)}{spiked}")
    else:
        final = Outcome.fail(f"{task.call}: {where}, is {fmt(true_loss)}, expected below {task.max_loss:g} "
                             f"(reference: {fmt(ref[-1])}){spiked}")
    return [("trajectory", trajectory), ("final_loss", final),
            ("accuracy", _accuracy(task, params, predicted, variants))], _listed(recorded), true_loss


def _listed(recorded: np.ndarray | None) -> list | None:
    return recorded.tolist() if recorded is not None else None


def _accuracy(task: Task, params: dict, predicted: Result | None, variants: tuple[str, ...] = ()) -> Outcome:
    """The test accuracy of ``params`` under the contract's rule, in the lab's model or, when
    higher, in one of ``variants`` (the lab's model on a tie)."""
    labels = task.labels.reshape(-1)
    best: tuple[float, str | None, np.ndarray] | None = None
    for v in (None, *variants):
        rule = predictions(task.module, task.data["X_test"], params, v)
        accuracy = float(np.mean(rule == labels))
        if best is None or accuracy > best[0]:
            best = (accuracy, v, rule)
    assert best is not None, "the lab's model is always judged"
    accuracy, judged_in, predicted_by_rule = best
    n = labels.size
    ref = f" (reference: {task.reference_accuracy:.4f})"
    note = _predict_note(predicted_by_rule, predicted)
    where = f" {_in_model(judged_in)}" if variants else ""
    if accuracy < task.min_accuracy:
        return Outcome.fail(f"{task.call}: test accuracy of the trained parameters{where} {accuracy:.4f} on {n} "
                            f"test examples, expected at least {task.min_accuracy:g}{ref}{note}")
    return Outcome(True, f"test accuracy{where} {accuracy:.4f}{ref}{note}")


def _predict_note(rule: np.ndarray, predicted: Result | None) -> str:
    """What the student's own predict did with the same parameters, when it differs from ``rule``."""
    if predicted is None:
        return ""
    if predicted.status is not Status.OK:
        what = (predicted.error or {}).get("message") if predicted.status is Status.ERROR else predicted.note
        return (f"; your predict did not return ({(what or predicted.status)[:300]}): the accuracy is that of "
                "your parameters")
    got = predicted.outputs.get("predictions")
    if got is None:
        return (f"; your predict returned {predicted.types.get('predictions', 'nothing')}: the accuracy is that of "
                "your parameters")
    if got.size != rule.size:
        return f"; your predict returned {got.size} labels for {rule.size} test examples (see the predict check)"
    differ = int(np.sum(got.reshape(-1).astype(np.float64) != rule))
    if differ:
        return (f"; your predict gives {differ} of {rule.size} labels that differ from the contract's rule "
                "applied to your parameters (see the predict check)")
    return ""
