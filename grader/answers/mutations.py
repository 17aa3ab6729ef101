"""Known mistakes as scripted edits of the reference: one source for diagnosis and for tests.

Each ``Mutation`` replaces one piece of a reference module's text. The grader runs the
catalogue's mutations (those with a ``mistake`` id) on every unit case to learn what each
mistake returns (``grader/answers/cache.py``), so a student's wrong answer that equals one is named.
The project's tests build a whole mutant submission from every mutation and check that it
loses points in exactly the questions listed in ``affects`` and that the diagnosis names it.
"""
import shutil
from dataclasses import dataclass
from pathlib import Path

from grader import REFERENCE


@dataclass(frozen=True)
class Mutation:
    name: str                  # unique, e.g. "tanh-derivative-hidden"
    module: str                # the lab2 module edited
    old: str                   # text of the reference that is replaced (must occur exactly once)
    new: str
    mistake: str | None        # a catalogue id (lab2check.mistakes.ADVICE), or None for other bugs
    affects: frozenset         # the questions that must lose points
    more: tuple = ()           # further (old, new) edits of the same module, applied in order


def _m(name, module, old, new, mistake, *affects, more=()):
    return Mutation(name, module, old, new, mistake, frozenset(affects), tuple(more))


_LOSS1 = "float(-np.mean(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat)))"
_LOSS3 = "float(-np.sum(Y * np.log(np.clip(Y_hat, EPS, 1.0))) / m)"
_TRAIN1 = ("        losses.append(loss(y, y_hat))\n        dW, db = gradients(X, y, y_hat)\n"
           "        W = W - lr * dW\n        b = b - lr * db\n")
_TRAINED = ("q1_5", "q2_2", "q2_3")  # the trainings that record single_neuron's loss

MUTATIONS = (
    # ---- the catalogue: single_neuron
    _m("no-clipping", "single_neuron", "    y_hat = np.clip(y_hat, EPS, 1 - EPS)\n", "", "no-clipping", "q1_3"),
    _m("missing-mean-loss", "single_neuron", "float(-np.mean(", "float(-np.sum(", "missing-mean",
       "q1_3", *_TRAINED),
    _m("loss-per-example", "single_neuron", f"return {_LOSS1}",
       "return -(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat))", "loss-per-example", "q1_3", *_TRAINED),
    _m("fixed-m-loss", "single_neuron", _LOSS1,
       "float(-np.sum(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat)) / 60000)", "fixed-m", "q1_3", *_TRAINED),
    _m("cross-entropy-y1-only", "single_neuron", _LOSS1, "float(-np.mean(y * np.log(y_hat)))",
       "cross-entropy-y1-only", "q1_3", *_TRAINED),
    _m("loss-on-rounded", "single_neuron", "    y_hat = np.clip(y_hat, EPS, 1 - EPS)\n",
       "    y_hat = np.clip(np.round(y_hat), EPS, 1 - EPS)\n", "loss-on-rounded", "q1_3", *_TRAINED),
    _m("missing-mean-gradients", "single_neuron", "    dW = dZ @ X.T / m ", "    dW = dZ @ X.T ", "missing-mean",
       "q1_4", "q1_5"),
    _m("fixed-m-gradients", "single_neuron", "    m = X.shape[1]\n    dZ = y_hat - y ",
       "    m = 60000\n    dZ = y_hat - y ", "fixed-m", "q1_4", "q1_5"),
    _m("transposed", "single_neuron", "    dW = dZ @ X.T / m ", "    dW = X @ dZ.T / m ", "transposed",
       "q1_4", "q1_5"),
    _m("gradient-sign", "single_neuron", "    dZ = y_hat - y ", "    dZ = y - y_hat ", "gradient-sign",
       "q1_4", "q1_5"),
    _m("extra-sigmoid-derivative", "single_neuron", "    dZ = y_hat - y ",
       "    dZ = (y_hat - y) * y_hat * (1 - y_hat) ", "extra-sigmoid-derivative", "q1_4", "q1_5"),
    _m("bias-update-no-lr", "single_neuron", "        b = b - lr * db\n", "        b = b - db\n",
       "bias-update-no-lr", "q1_5"),
    _m("loss-after-update", "single_neuron", _TRAIN1,
       "        dW, db = gradients(X, y, y_hat)\n        W = W - lr * dW\n        b = b - lr * db\n"
       "        losses.append(loss(y, forward(X, W, b)))\n", "loss-after-update", "q1_5"),
    # ---- hidden_layer
    _m("fixed-m-hidden", "hidden_layer", "    dW1 = dZ1 @ X.T / m\n", "    dW1 = dZ1 @ X.T / 60000\n",
       "fixed-m", "q2_1", "q2_2", "q2_3"),
    _m("wrong-normalisation", "hidden_layer", "    dZ2 = y_hat - y ", "    dZ2 = (y_hat - y) / m ",
       "wrong-normalisation", "q2_1", "q2_2", "q2_3"),
    _m("tanh-derivative", "hidden_layer", "* A1 * (1 - A1)", "* (1 - A1 ** 2)", "tanh-derivative",
       "q2_1", "q2_2", "q2_3"),
    # A consistent tanh network: its trainings are judged in the tanh model too (issue 21), so the
    # bonus (no predict check) keeps its points; q2_2 loses its predict check (other labels).
    _m("tanh-activation", "hidden_layer", '    A1 = sigmoid(params["W1"] @ X + params["b1"])',
       '    A1 = np.tanh(params["W1"] @ X + params["b1"])', "tanh-activation", "q2_1", "q2_2",
       more=[("* A1 * (1 - A1)", "* (1 - A1 ** 2)")]),
    _m("missing-activation", "hidden_layer", '    A1 = sigmoid(params["W1"] @ X + params["b1"])',
       '    A1 = params["W1"] @ X + params["b1"]', "missing-activation", "q2_1", "q2_2", "q2_3",
       more=[("* A1 * (1 - A1)", "")]),  # a linear hidden layer, its backward consistent with it
    _m("missing-activation-forward", "hidden_layer", '    A1 = sigmoid(params["W1"] @ X + params["b1"])',
       '    A1 = params["W1"] @ X + params["b1"]', "missing-activation", "q2_1", "q2_2", "q2_3"),
    _m("extra-sigmoid-derivative-hidden", "hidden_layer", "    dZ2 = y_hat - y ",
       "    dZ2 = (y_hat - y) * y_hat * (1 - y_hat) ", "extra-sigmoid-derivative", "q2_1", "q2_2", "q2_3"),
    _m("bias-gradient-shape", "hidden_layer", "    db1 = np.sum(dZ1, axis=1, keepdims=True) / m\n",
       "    db1 = np.sum(dZ1) / m\n", "bias-gradient-shape", "q2_1", "q2_2", "q2_3"),
    _m("hard-coded-size", "hidden_layer", "    db1 = np.sum(dZ1, axis=1, keepdims=True) / m\n",
       "    db1 = np.sum(dZ1, axis=1).reshape(64, 1) / m\n", "hard-coded-size", "q2_1"),
    _m("init-wrong-shape", "hidden_layer", '"W1": rng.normal(0.0, 0.1, (n_hidden, n_in)),',
       '"W1": rng.normal(0.0, 0.1, (n_in, n_hidden)),', "init-wrong-shape", "q2_1"),
    _m("gradient-sign-hidden", "hidden_layer", "    dZ2 = y_hat - y ", "    dZ2 = y - y_hat ", "gradient-sign",
       "q2_1", "q2_2", "q2_3"),
    _m("mini-batches", "hidden_layer", "        params = update(params, backward(X, y, params, cache), lr)\n",
       "        for i in range(0, X.shape[1], 64):\n            Xb, yb = X[:, i:i + 64], y[:, i:i + 64]\n"
       "            _, cb = forward(Xb, params)\n"
       "            params = update(params, backward(Xb, yb, params, cb), lr)\n",
       "mini-batches", "q2_2", "q2_3"),
    # ---- multiclass
    _m("no-clipping-multiclass", "multiclass", "np.log(np.clip(Y_hat, EPS, 1.0))", "np.log(Y_hat)",
       "no-clipping", "q3_2"),
    _m("loss-over-classes", "multiclass", _LOSS3, "float(-np.mean(Y * np.log(np.clip(Y_hat, EPS, 1.0))))",
       "loss-over-classes", "q3_2", "q3_3"),
    _m("binary-loss-multiclass", "multiclass", _LOSS3,
       "float(-np.sum(Y * np.log(np.clip(Y_hat, EPS, 1.0)) + (1 - Y) * np.log(np.clip(1 - Y_hat, EPS, 1.0))) / m)",
       "binary-loss-multiclass", "q3_2", "q3_3"),
    _m("fixed-m-multiclass", "multiclass", "    m = Y.shape[1]\n", "    m = 60000\n", "fixed-m", "q3_2", "q3_3",
       more=[("    m = X.shape[1]\n", "    m = 60000\n")]),
    _m("softmax-unstable", "multiclass", "np.exp(Z - np.max(Z, axis=0, keepdims=True))", "np.exp(Z)",
       "softmax-unstable", "q3_2"),
    _m("softmax-global-max", "multiclass", "np.exp(Z - np.max(Z, axis=0, keepdims=True))", "np.exp(Z - np.max(Z))",
       "softmax-global-max", "q3_2"),
    _m("softmax-wrong-axis", "multiclass", "E / np.sum(E, axis=0, keepdims=True)",
       "E / np.sum(E, axis=1, keepdims=True)",
       "softmax-wrong-axis", "q3_2", "q3_3"),
    _m("softmax-whole-matrix", "multiclass", "E / np.sum(E, axis=0, keepdims=True)", "E / np.sum(E)",
       "softmax-whole-matrix", "q3_2", "q3_3", more=[("np.exp(Z - np.max(Z, axis=0, keepdims=True))", "np.exp(Z)")]),
    _m("softmax-whole-matrix-shifted", "multiclass", "E / np.sum(E, axis=0, keepdims=True)", "E / np.sum(E)",
       "softmax-whole-matrix", "q3_2", "q3_3"),
    _m("tanh-derivative-multiclass", "multiclass", "* A1 * (1 - A1)", "* (1 - A1 ** 2)", "tanh-derivative",
       "q3_3"),
    # The same consistent tanh network in Part 3 (tanh hidden units, softmax output): q3_3's forward,
    # backward and predict checks are its unit checks and charge it; its training is judged in the
    # tanh model too (grader/submission/trusted_model.py) and keeps its points (issue 21).
    _m("tanh-activation-multiclass", "multiclass", '    A1 = sigmoid(params["W1"] @ X + params["b1"])',
       '    A1 = np.tanh(params["W1"] @ X + params["b1"])', "tanh-activation", "q3_3",
       more=[("* A1 * (1 - A1)", "* (1 - A1 ** 2)")]),
    _m("missing-activation-multiclass", "multiclass", '    A1 = sigmoid(params["W1"] @ X + params["b1"])',
       '    A1 = params["W1"] @ X + params["b1"]', "missing-activation", "q3_3",
       more=[("* A1 * (1 - A1)", "")]),
    _m("extra-sigmoid-derivative-multiclass", "multiclass", "    dZ2 = Y_hat - Y ",
       "    dZ2 = (Y_hat - Y) * Y_hat * (1 - Y_hat) ", "extra-sigmoid-derivative", "q3_3"),
    _m("sigmoid-output-multiclass", "multiclass", 'Y_hat = softmax(params["W2"] @ A1 + params["b2"])',
       'Y_hat = sigmoid(params["W2"] @ A1 + params["b2"])', "sigmoid-output-multiclass", "q3_3"),
    _m("lr-ignored", "multiclass", "params = update(params, backward(X, Y, params, cache), lr)",
       "params = update(params, backward(X, Y, params, cache), 0.01)", "lr-ignored", "q3_3"),
    _m("predict-wrong-axis", "multiclass", "np.argmax(forward(X, params)[0], axis=0)",
       "np.argmax(forward(X, params)[0], axis=1)", "predict-wrong-axis", "q3_3"),
    _m("predict-unit-0", "multiclass", "return np.argmax(forward(X, params)[0], axis=0)",
       "return (forward(X, params)[0][0] >= 0.5).astype(np.int64)", "predict-unit-0", "q3_3"),
    _m("train-subset", "multiclass", "    losses = []\n",
       "    n = int(0.8 * X.shape[1])  # the rest kept for validation\n    X, Y = X[:, :n], Y[:, :n]\n"
       "    losses = []\n", "train-subset", "q3_3"),
    # ---- other bugs (no catalogue id): they must still cost the right questions
    _m("update-plus", "hidden_layer", 'params[k] - lr * grads["d" + k]', 'params[k] + lr * grads["d" + k]', None,
       "q2_1", "q2_2", "q2_3"),
    _m("predict-inverted", "single_neuron", "(forward(X, W, b) >= 0.5)", "(forward(X, W, b) < 0.5)", None, "q1_5"),
    _m("hidden-size", "hidden_layer", "def init_params(n_in=784, n_hidden=64,",
       "def init_params(n_in=784, n_hidden=32,",
       None, "q2_1"),
    _m("init-all-equal", "multiclass", '"W1": rng.normal(0.0, 0.1, (n_hidden, n_in)),',
       '"W1": np.full((n_hidden, n_in), 0.01),', None, "q3_3"),
    _m("loss-as-string", "single_neuron", "return float(-np.mean(", "return str(-np.mean(", None,
       "q1_3", *_TRAINED),
)

CATALOGUE = tuple(m for m in MUTATIONS if m.mistake)


def by_name(name: str) -> Mutation:
    return next(m for m in MUTATIONS if m.name == name)


def apply(mutation: Mutation, source: str) -> str:
    for old, new in ((mutation.old, mutation.new), *mutation.more):
        if source.count(old) != 1:
            raise ValueError(f"mutation {mutation.name}: {old!r} occurs {source.count(old)} times "
                             f"in lab2/{mutation.module}.py, expected once (the reference changed?)")
        source = source.replace(old, new)
    return source


def build(mutation: Mutation, dest: Path, reference: Path = REFERENCE) -> Path:
    """Write a copy of the reference package with ``mutation`` applied into ``dest/lab2``; returns ``dest``."""
    dest = Path(dest)
    shutil.copytree(reference / "lab2", dest / "lab2", ignore=shutil.ignore_patterns("__pycache__"),
                    dirs_exist_ok=True)
    target = dest / "lab2" / f"{mutation.module}.py"
    target.write_text(apply(mutation, (reference / "lab2" / f"{mutation.module}.py").read_text()))
    return dest
