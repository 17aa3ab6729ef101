"""The answer key: train the three reference models and print the numbers for the correction.

``python -m grader.authoring.train_reference [--subset N|grading] [--dtype float32|float64] [--epochs E] [--bonus]``
(``make reference``) trains the reference's single neuron, hidden-layer network and multiclass
network with the rubric's hyperparameters and prints one table: model, loss after the last
epoch (``losses[epochs - 1]``, "the loss after 500 epochs"), train and test accuracy, seconds.

The models are trained by the reference's own ``train``; the progress bars count its calls to
``loss`` (one per epoch), so what is timed and reported is exactly what the reference does.
This module is deliberately not the grader's reference cache: it prints, it does not store.
"""
import argparse
import contextlib
import importlib
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from tqdm import tqdm

from grader import REFERENCE
from grader import rubric as rubric_mod
from grader.errors import UsageError
from lab2check import questions


def load_lab2(root=REFERENCE) -> SimpleNamespace:
    """Import the ``lab2`` package found in ``root`` without disturbing any other ``lab2``.

    Returns a namespace with ``data`` and the registry's modules (``single_neuron, hidden_layer, multiclass``).
    ``sys.modules`` and ``sys.path`` are restored afterwards: the returned modules keep working
    (their ``from lab2... import`` names were bound at import), and a later ``import lab2``
    anywhere else finds whatever it found before. No bytecode is written into ``root``.
    """
    root = Path(root).resolve()

    def ours(name):
        return name == "lab2" or name.startswith("lab2.")

    saved = {k: v for k, v in sys.modules.items() if ours(k)}
    for k in saved:
        del sys.modules[k]
    dont_write = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    sys.path.insert(0, str(root))
    try:
        mods = {name: importlib.import_module(f"lab2.{name}") for name in ("data", *questions.modules())}
    finally:
        sys.path.remove(str(root))
        sys.dont_write_bytecode = dont_write
        for k in [k for k in sys.modules if ours(k)]:
            del sys.modules[k]
        sys.modules.update(saved)
    for name, mod in mods.items():
        if mod.__file__ is None or root not in Path(mod.__file__).resolve().parents:
            raise UsageError(f"lab2.{name} was imported from {mod.__file__}, not from {root}")
    return SimpleNamespace(**mods)


@dataclass
class Row:
    model: str
    loss: float            # losses[epochs - 1]
    first_loss: float      # losses[0], to show that the loss went down
    train_accuracy: float
    test_accuracy: float
    seconds: float         # training only, data loading excluded


@contextlib.contextmanager
def counting_epochs(module, bar):
    """Wrap ``module.loss`` so that each call (one per epoch of ``module.train``) ticks ``bar``."""
    original = module.loss

    def loss(*args, **kwargs):
        value = original(*args, **kwargs)
        bar.update(1)
        return value

    module.loss = loss
    try:
        yield
    finally:
        module.loss = original


def _train(ref, module, X, labels, cfg, digit, seed, epochs, dtype, bar):
    """Train one model with the reference's ``train``; returns ``(predict_fn, losses, seconds)``.

    ``X`` is ``(784, m)``; targets and initial parameters are cast to ``dtype`` so that a
    float32 run stays float32 throughout (``init_params`` and ``one_hot`` return float64).
    ``digit`` is None for the 10-class models (their targets are the labels, one-hot).
    """
    mod = getattr(ref, module)
    if digit is None:
        targets = mod.one_hot(labels).astype(dtype)
    else:
        targets = ref.data.binary_targets(labels, digit).astype(dtype)
    start = time.perf_counter()
    with counting_epochs(mod, bar):
        if questions.MODULES[module].layers == 1:
            # The handout starts the single neuron from zeros (no symmetry to break).
            W, b = np.zeros((1, X.shape[0]), dtype), np.zeros((1, 1), dtype)
            W, b, losses = mod.train(X, targets, W, b, epochs=epochs, lr=cfg.lr)
            predict = lambda X_: mod.predict(X_, W, b)  # noqa: E731
        else:
            n_out = questions.MODULES[module].outputs
            params = {k: v.astype(dtype) for k, v in mod.init_params(n_out=n_out, seed=seed).items()}
            params, losses = mod.train(X, targets, params, epochs=epochs, lr=cfg.lr)
            predict = lambda X_: mod.predict(X_, params)  # noqa: E731
    return predict, [float(v) for v in losses], time.perf_counter() - start


def _accuracy(predict, X, labels, digit, binary_targets):
    pred = np.asarray(predict(X)).reshape(-1)
    truth = labels if digit is None else binary_targets(labels, digit).reshape(-1)
    return float(np.mean(pred == truth))


def run(subset=None, dtype="float64", epochs=None, bonus=False, rubric=None, progress=True) -> list[Row]:
    """Train the models and return one ``Row`` each.

    ``subset``: the first ``subset`` training examples, or all of them when None. The test set
    is the rubric's ``data.test_subset`` first examples.
    """
    rubric = rubric or rubric_mod.load()
    epochs = epochs or rubric.training.epochs
    ref = load_lab2(REFERENCE)
    X, labels = ref.data.load_mnist("train", n=subset, dtype=np.dtype(dtype).type)
    X_test, labels_test = ref.data.load_mnist("test", n=rubric.data.test_subset, dtype=np.dtype(dtype).type)
    digits = {"digit": rubric.data.digit, "bonus_digit": rubric.data.bonus_digit, "labels": None}
    trainings = []
    for qid in questions.training_questions():
        q = questions.get(qid)
        assert q.training is not None and q.module is not None, f"{qid} is a training question"
        trainings.append((q.module, q.training))
    # The models of REPORT.md first, then (--bonus) the others: q2_3's network for another digit.
    jobs = [(t.model, module, digits[t.target]) for module, t in trainings if t.reported]
    if bonus:
        jobs += [(t.model, module, digits[t.target]) for module, t in trainings if not t.reported]
    rows = []
    for label, module, digit in jobs:
        cfg = rubric.model(label)
        title = label if label in questions.reported_models() else f"{label} (digit {digit})"
        with tqdm(total=epochs, desc=f"{title:<18}", unit="epoch", disable=not progress,
                  file=sys.stderr, leave=True) as bar:
            predict, losses, seconds = _train(ref, module, X, labels, cfg, digit,
                                              rubric.training.init_seed, epochs, dtype, bar)
        rows.append(Row(
            model=title,
            loss=losses[-1],
            first_loss=losses[0],
            train_accuracy=_accuracy(predict, X, labels, digit, ref.data.binary_targets),
            test_accuracy=_accuracy(predict, X_test, labels_test, digit, ref.data.binary_targets),
            seconds=seconds,
        ))
    return rows


def table(rows: list[Row], epochs: int) -> str:
    """The rows as an aligned text table (one header line, one line per model)."""
    head = ("model", "loss[0]", f"loss@{epochs}", "train acc", "test acc", "seconds")
    lines = [(r.model, f"{r.first_loss:.4f}", f"{r.loss:.4f}", f"{r.train_accuracy:.4f}",
              f"{r.test_accuracy:.4f}", f"{r.seconds:.1f}") for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *lines)]
    fmt = lambda cells: "  ".join(  # noqa: E731 - the model name left, the numbers right
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(head)] + [fmt(line) for line in lines])


def _subset(value: str, rubric) -> int | None:
    if value == "grading":
        return rubric.data.train_subset
    try:
        n = int(value)
    except ValueError:
        raise UsageError(f"--subset must be a number of examples or 'grading', not {value!r}") from None
    if not 1 <= n <= 60000:
        raise UsageError(f"--subset must be between 1 and 60000, not {n}")
    return n


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.authoring.train_reference",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--subset", help="train on the first N examples, or 'grading' for the rubric's "
                                         "data.train_subset (default: the full training set)")
    parser.add_argument("--dtype", choices=("float32", "float64"),
                        help="default float64, or the rubric's data.dtype with --subset grading "
                             "(what the grader uses)")
    parser.add_argument("--epochs", type=int, help="default: the rubric's training.epochs")
    parser.add_argument("--bonus", action="store_true", help="also train the q2_3 bonus model")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        rubric = rubric_mod.load()
        subset = _subset(args.subset, rubric) if args.subset else None
        dtype = args.dtype or (rubric.data.dtype if args.subset == "grading" else "float64")
        epochs = rubric.training.epochs if args.epochs is None else args.epochs
        if epochs < 1:
            raise UsageError("--epochs must be at least 1")
        rows = run(subset=subset, dtype=dtype, epochs=epochs, bonus=args.bonus, rubric=rubric,
                   progress=not args.no_progress)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    where = f"first {subset} training examples" if subset else "full training set"
    print(f"answer key: {where}, test set {rubric.data.test_subset}, {dtype}, {epochs} epochs")
    print(table(rows, epochs))
    bad = [r.model for r in rows if not math.isfinite(r.loss)]
    if bad:
        print(f"warning: non-finite loss for {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
