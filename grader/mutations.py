"""Known mistakes as scripted edits of the reference: one source for diagnosis and for tests.

Each ``Mutation`` replaces one piece of a reference module's text. The grader runs the
catalogue's mutations (those with a ``mistake`` id) on every unit case to learn what each
mistake returns (``grader/expected.py``), so a student's wrong answer that equals one is named.
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


def _m(name, module, old, new, mistake, *affects):
    return Mutation(name, module, old, new, mistake, frozenset(affects))


MUTATIONS = (
    # ---- the catalogue
    _m("no-clipping", "single_neuron", "    y_hat = np.clip(y_hat, EPS, 1 - EPS)\n", "", "no-clipping", "q1_3"),
    _m("no-clipping-multiclass", "multiclass", "np.log(np.clip(Y_hat, EPS, 1.0))", "np.log(Y_hat)",
       "no-clipping", "q3_2"),
    _m("missing-mean-loss", "single_neuron", "float(-np.mean(", "float(-np.sum(", "missing-mean",
       "q1_3", "q1_5", "q2_2", "q2_3"),
    _m("missing-mean-gradients", "single_neuron", "    dW = dZ @ X.T / m ", "    dW = dZ @ X.T ", "missing-mean",
       "q1_4", "q1_5"),
    _m("wrong-normalisation", "hidden_layer", "    dW1 = dZ1 @ X.T / m\n", "    dW1 = dZ1 @ X.T / 60000\n",
       "wrong-normalisation", "q2_1", "q2_2", "q2_3"),
    _m("tanh-derivative", "hidden_layer", "* A1 * (1 - A1)", "* (1 - A1 ** 2)", "tanh-derivative",
       "q2_1", "q2_2", "q2_3"),
    _m("tanh-derivative-multiclass", "multiclass", "* A1 * (1 - A1)", "* (1 - A1 ** 2)", "tanh-derivative",
       "q3_3"),
    _m("bias-gradient-shape", "hidden_layer", "    db1 = np.sum(dZ1, axis=1, keepdims=True) / m\n",
       "    db1 = np.sum(dZ1) / m\n", "bias-gradient-shape", "q2_1", "q2_2", "q2_3"),
    _m("transposed", "single_neuron", "    dW = dZ @ X.T / m ", "    dW = X @ dZ.T / m ", "transposed",
       "q1_4", "q1_5"),
    _m("softmax-unstable", "multiclass", "np.exp(Z - np.max(Z, axis=0, keepdims=True))", "np.exp(Z)",
       "softmax-unstable", "q3_2"),
    _m("softmax-wrong-axis", "multiclass", "E / np.sum(E, axis=0, keepdims=True)", "E / np.sum(E, axis=1, keepdims=True)",
       "softmax-wrong-axis", "q3_2", "q3_3"),
    _m("softmax-whole-matrix", "multiclass", "E / np.sum(E, axis=0, keepdims=True)", "E / np.sum(E)",
       "softmax-wrong-axis", "q3_2", "q3_3"),
    _m("sigmoid-output-multiclass", "multiclass", 'Y_hat = softmax(params["W2"] @ A1 + params["b2"])',
       'Y_hat = sigmoid(params["W2"] @ A1 + params["b2"])', "sigmoid-output-multiclass", "q3_3"),
    _m("gradient-sign", "single_neuron", "    dZ = y_hat - y ", "    dZ = y - y_hat ", "gradient-sign",
       "q1_4", "q1_5"),
    _m("gradient-sign-hidden", "hidden_layer", "    dZ2 = y_hat - y ", "    dZ2 = y - y_hat ", "gradient-sign",
       "q2_1", "q2_2", "q2_3"),
    # ---- other bugs (no catalogue id): they must still cost the right questions
    _m("update-plus", "hidden_layer", 'params[k] - lr * grads["d" + k]', 'params[k] + lr * grads["d" + k]', None,
       "q2_1", "q2_2", "q2_3"),
    _m("lr-ignored", "multiclass", "params = update(params, backward(X, Y, params, cache), lr)",
       "params = update(params, backward(X, Y, params, cache), 0.01)", None, "q3_3"),
    _m("loss-on-rounded", "single_neuron", "    y_hat = np.clip(y_hat, EPS, 1 - EPS)\n",
       "    y_hat = np.clip(np.round(y_hat), EPS, 1 - EPS)\n", None, "q1_3", "q1_5", "q2_2", "q2_3"),
    _m("predict-inverted", "single_neuron", "(forward(X, W, b) >= 0.5)", "(forward(X, W, b) < 0.5)", None, "q1_5"),
    _m("hidden-size", "hidden_layer", "def init_params(n_in=784, n_hidden=64,", "def init_params(n_in=784, n_hidden=32,",
       None, "q2_1"),
    _m("init-all-equal", "multiclass", '"W1": rng.normal(0.0, 0.1, (n_hidden, n_in)),',
       '"W1": np.full((n_hidden, n_in), 0.01),', None, "q3_3"),
    _m("loss-as-string", "single_neuron", "return float(-np.mean(", "return str(-np.mean(", None,
       "q1_3", "q1_5", "q2_2", "q2_3"),
)

CATALOGUE = tuple(m for m in MUTATIONS if m.mistake)


def by_name(name: str) -> Mutation:
    return next(m for m in MUTATIONS if m.name == name)


def apply(mutation: Mutation, source: str) -> str:
    if source.count(mutation.old) != 1:
        raise ValueError(f"mutation {mutation.name}: {mutation.old!r} occurs {source.count(mutation.old)} times "
                         f"in lab2/{mutation.module}.py, expected once (the reference changed?)")
    return source.replace(mutation.old, mutation.new)


def build(mutation: Mutation, dest: Path, reference: Path = REFERENCE) -> Path:
    """Write a copy of the reference package with ``mutation`` applied into ``dest/lab2``; returns ``dest``."""
    dest = Path(dest)
    shutil.copytree(reference / "lab2", dest / "lab2", ignore=shutil.ignore_patterns("__pycache__"),
                    dirs_exist_ok=True)
    target = dest / "lab2" / f"{mutation.module}.py"
    target.write_text(apply(mutation, (reference / "lab2" / f"{mutation.module}.py").read_text()))
    return dest
