"""The inputs of the unit checks: small, seeded, reproducible cases for every checked function.

A ``Case`` is one call (through a probe) of one function on one set of inputs. Public cases
use the seeds in ``PUBLIC_SEEDS`` and a few fixed edge cases; hidden cases use the seeds the
grader's rubric gives, so the kit never holds them. Shapes are kept small so that a failing
check can print the worst element and a student can reproduce it by hand.

Case ids (``q2_1/backward/public-1``) key the expected values in the grader's cache and in the
kit's fixture file.
"""
import hashlib
from dataclasses import dataclass, field

import numpy as np

from lab2check import gradcheck

PUBLIC_SEEDS = (1, 2)
PARAM_KEYS = ("W1", "b1", "W2", "b2")
GRAD_KEYS = ("dW2", "db2", "dW1", "db1")  # the order backprop computes them


@dataclass
class Case:
    qid: str
    check: str                 # the check group within the question: "sigmoid", "backward", ...
    label: str                 # "public-1", "hidden-2", "large-logits", ...
    hidden: bool
    probe: str
    options: dict
    arrays: dict = field(repr=False)
    keys: tuple = ()           # the outputs compared, in the order of the computation
    call: str = ""             # how the call reads in a message

    @property
    def id(self) -> str:
        return f"{self.qid}/{self.check}/{self.label}"


def _shape(a) -> str:
    return f"{tuple(a.shape)} {a.dtype}"


def _params(rng, n_in, n_hidden, n_out):
    return {"W1": rng.normal(0, 0.5, (n_hidden, n_in)), "b1": rng.normal(0, 0.1, (n_hidden, 1)),
            "W2": rng.normal(0, 0.5, (n_out, n_hidden)), "b2": rng.normal(0, 0.1, (n_out, 1))}


def _flat(name, params):
    return {f"{name}.{k}": v for k, v in params.items()}


def _call(module, function, args, arrays, **more):
    return {"module": module, "function": function, "args": list(args), **more}


# ---------------------------------------------------------------- Part 1: single neuron
def _sigmoid(seed, label, hidden):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 3, (3, 5))
    return [Case("q1_1", "sigmoid", label, hidden, "call", _call("single_neuron", "sigmoid", ["z"], None),
                 {"z": z}, ("out",), f"sigmoid(z), z {_shape(z)}")]


def _sigmoid_edges():
    z = np.array([[-1e4, -1000.0, -50.0, -1.0, 0.0, 1.0, 50.0, 1000.0, 1e4]])
    z32 = np.linspace(-8, 8, 7, dtype=np.float32).reshape(1, -1)
    return [Case("q1_1", "sigmoid", "large-inputs", False, "call", _call("single_neuron", "sigmoid", ["z"], None),
                 {"z": z}, ("out",), "sigmoid(z), z = [[-1e4, -1000, -50, -1, 0, 1, 50, 1000, 1e4]]"),
            Case("q1_1", "sigmoid", "float32", False, "call", _call("single_neuron", "sigmoid", ["z"], None),
                 {"z": z32}, ("out",), f"sigmoid(z), z {_shape(z32)}")]


def _binary_data(rng, n, m):
    X = rng.uniform(0, 1, (n, m))
    y = (rng.uniform(size=(1, m)) < 0.5).astype(np.float64)
    return X, y


def _forward1(seed, label, hidden, m=6):
    rng = np.random.default_rng(seed)
    X, _ = _binary_data(rng, 8, m)
    W, b = rng.normal(0, 0.5, (1, 8)), rng.normal(0, 0.5, (1, 1))
    return [Case("q1_2", "forward", label, hidden, "call", _call("single_neuron", "forward", ["X", "W", "b"], None),
                 {"X": X, "W": W, "b": b}, ("out",), f"forward(X, W, b), X {_shape(X)}, W {_shape(W)}, b {_shape(b)}")]


def _loss1(seed, label, hidden, m=8):
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=(1, m)) < 0.5).astype(np.float64)
    y_hat = rng.uniform(0.02, 0.98, (1, m))
    return [Case("q1_3", "loss", label, hidden, "call", _call("single_neuron", "loss", ["y", "y_hat"], None),
                 {"y": y, "y_hat": y_hat}, ("out",), f"loss(y, y_hat), y {_shape(y)}, y_hat {_shape(y_hat)}")]


def _loss1_edges():
    # Exact 0/1 predictions that agree with y: any clipping eps <= 1e-7 gives the same loss to ~1e-7.
    y = np.array([[1.0, 0.0, 1.0, 0.0, 1.0]])
    y_hat = np.array([[1.0, 0.0, 0.7, 0.2, 0.9]])
    # Confidently wrong: the value depends on the student's eps, so only finiteness is checked.
    y_bad, y_hat_bad = np.array([[1.0, 0.0, 1.0]]), np.array([[0.0, 1.0, 0.5]])
    return [Case("q1_3", "loss", "exact-0-1", False, "call", _call("single_neuron", "loss", ["y", "y_hat"], None),
                 {"y": y, "y_hat": y_hat}, ("out",),
                 "loss(y, y_hat), y = [[1, 0, 1, 0, 1]], y_hat = [[1, 0, 0.7, 0.2, 0.9]]"),
            Case("q1_3", "loss", "confidently-wrong", False, "call",
                 _call("single_neuron", "loss", ["y", "y_hat"], None, finite_only=True),
                 {"y": y_bad, "y_hat": y_hat_bad}, ("out",), "loss(y, y_hat), y = [[1, 0, 1]], y_hat = [[0, 1, 0.5]]")]


def _gradients1(seed, label, hidden, m=6):
    rng = np.random.default_rng(seed)
    X, y = _binary_data(rng, 7, m)
    y_hat = rng.uniform(0.05, 0.95, (1, m))
    return [Case("q1_4", "gradients", label, hidden, "call",
                 _call("single_neuron", "gradients", ["X", "y", "y_hat"], None),
                 {"X": X, "y": y, "y_hat": y_hat}, ("out.0", "out.1"),
                 f"gradients(X, y, y_hat), X {_shape(X)}, y {_shape(y)}, y_hat {_shape(y_hat)}")]


def _gradcheck1(seed, label, hidden, m=5):
    rng = np.random.default_rng(seed)
    X, y = _binary_data(rng, 6, m)
    W, b = rng.normal(0, 0.5, (1, 6)), rng.normal(0, 0.5, (1, 1))
    perturbed = _flat("perturbed", gradcheck.perturb({"W": W, "b": b}))
    # The analytic gradient is taken at this y_hat (the neuron's output, 0.5 * (1 + tanh(z / 2))
    # = sigmoid(z)), not at the student's forward: a wrong sigmoid or forward is charged in its
    # own question, never again in the gradient's.
    y_hat = 0.5 * (1.0 + np.tanh(0.5 * (W @ X + b)))
    return [Case("q1_4", "gradcheck", label, hidden, "numgrad", {"part": "single_neuron"},
                 {"X": X, "y": y, "W": W, "b": b, "y_hat": y_hat, **perturbed}, ("grad.W", "grad.b"),
                 f"gradients(X, y, forward(X, W, b)) against centred differences of your loss, X {_shape(X)}")]


def _predict1(seed, label, hidden):
    rng = np.random.default_rng(seed)
    X, _ = _binary_data(rng, 8, 10)
    W, b = rng.normal(0, 1.0, (1, 8)), rng.normal(0, 0.5, (1, 1))
    return [Case("q1_5", "predict", label, hidden, "call", _call("single_neuron", "predict", ["X", "W", "b"], None),
                 {"X": X, "W": W, "b": b}, ("out",), f"predict(X, W, b), X {_shape(X)}")]


# ---------------------------------------------------------------- Parts 2 and 3: two layers
def _net_data(rng, part, n_in, m):
    X = rng.uniform(0, 1, (n_in, m))
    if part == "hidden_layer":
        return X, (rng.uniform(size=(1, m)) < 0.5).astype(np.float64)
    labels = rng.integers(0, 10, m)
    Y = np.zeros((10, m))
    Y[labels, np.arange(m)] = 1.0
    return X, Y


def hidden_init_seed(seed: int) -> int:
    """The seed a hidden init_params case passes: one-way from the hidden seed, since student
    code sees it, and must not learn from it the seed of the other hidden cases' inputs."""
    return int.from_bytes(hashlib.sha256(f"init_params:{seed}".encode()).digest()[:4], "big") % (2**31 - 2)


def _init(part, qid, seed, label, hidden):
    n_out = 1 if part == "hidden_layer" else 10
    seed = hidden_init_seed(seed) if hidden else seed
    shown = "a hidden seed" if hidden else f"seed={seed}"
    return [Case(qid, "init_params", label, hidden, "init", {"part": part, "seed": seed}, {},
                 tuple("first." + k for k in PARAM_KEYS), f"init_params({shown}) (default sizes 784, 64, {n_out})")]


def _forward2(part, qid, seed, label, hidden, m=5):
    rng = np.random.default_rng(seed)
    n_out = 1 if part == "hidden_layer" else 10
    X, _ = _net_data(rng, part, 6, m)
    params = _params(rng, 6, 4, n_out)
    return [Case(qid, "forward", label, hidden, "call",
                 _call(part, "forward", ["X", "params"], None, params={"params": list(PARAM_KEYS)}),
                 {"X": X, **_flat("params", params)}, ("out.0",), f"forward(X, params), X {_shape(X)}, 4 hidden units")]


def _backward2(part, qid, seed, label, hidden, m=5):
    rng = np.random.default_rng(seed)
    n_out = 1 if part == "hidden_layer" else 10
    X, y = _net_data(rng, part, 6, m)
    params = _params(rng, 6, 4, n_out)
    return [Case(qid, "backward", label, hidden, "chain", {"part": part},
                 {"X": X, "y": y, **_flat("params", params)}, ("y_hat", "loss") + GRAD_KEYS,
                 f"backward(X, y, params, cache) after forward(X, params), X {_shape(X)}, 4 hidden units"),
            Case(qid, "gradcheck", label, hidden, "numgrad", {"part": part},
                 {"X": X, "y": y, **_flat("params", params), **_flat("perturbed", gradcheck.perturb(params))},
                 tuple("grad." + k for k in PARAM_KEYS),
                 f"backward(X, y, params, cache) against centred differences of your loss, X {_shape(X)}")]


def _update2(part, qid, seed, label, hidden):
    rng = np.random.default_rng(seed)
    n_out = 1 if part == "hidden_layer" else 10
    params = _params(rng, 6, 4, n_out)
    grads = {"d" + k: v for k, v in _params(rng, 6, 4, n_out).items()}
    return [Case(qid, "update", label, hidden, "call",
                 _call(part, "update", ["params", "grads"], None, kwargs={"lr": 0.3},
                       params={"params": list(PARAM_KEYS), "grads": ["d" + k for k in PARAM_KEYS]}),
                 {**_flat("params", params), **_flat("grads", grads)}, tuple("out." + k for k in PARAM_KEYS),
                 "update(params, grads, lr=0.3), 4 hidden units")]


def _predict2(part, qid, seed, label, hidden):
    rng = np.random.default_rng(seed)
    n_out = 1 if part == "hidden_layer" else 10
    X, _ = _net_data(rng, part, 6, 12)
    params = _params(rng, 6, 4, n_out)
    params["W2"] *= 4  # decisive outputs: no prediction sits on a tie
    return [Case(qid, "predict", label, hidden, "call",
                 _call(part, "predict", ["X", "params"], None, params={"params": list(PARAM_KEYS)}),
                 {"X": X, **_flat("params", params)}, ("out",), f"predict(X, params), X {_shape(X)}")]


# ---------------------------------------------------------------- Part 3: one_hot, softmax, loss
def _one_hot(seed, label, hidden):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, 7)
    return [Case("q3_2", "one_hot", label, hidden, "call", _call("multiclass", "one_hot", ["labels"], None),
                 {"labels": labels}, ("out",),
                 "one_hot(labels), labels of shape (7,)" if hidden else f"one_hot(labels), labels = {labels.tolist()}"),
            Case("q3_2", "one_hot", label + "-row", hidden, "call", _call("multiclass", "one_hot", ["labels"], None),
                 {"labels": labels.reshape(1, -1)}, ("out",), "one_hot(labels) with labels of shape (1, 7)")]


def _softmax(seed, label, hidden, m=4):
    rng = np.random.default_rng(seed)
    Z = rng.normal(0, 2, (10, m))
    return [Case("q3_2", "softmax", label, hidden, "call", _call("multiclass", "softmax", ["Z"], None),
                 {"Z": Z}, ("out",), f"softmax(Z), Z {_shape(Z)}")]


def _softmax_edges():
    Z = np.array([[1e4, -1e4, 0.0], [0.0, -1e4 + 1, 1.0], [-1e4, -1e4 + 2, 2.0]])
    z1 = np.array([[0.5], [1.5], [-2.0], [3.0]])
    return [Case("q3_2", "softmax", "large-logits", False, "call", _call("multiclass", "softmax", ["Z"], None),
                 {"Z": Z}, ("out",), "softmax(Z), Z = [[1e4, -1e4, 0], [0, -1e4+1, 1], [-1e4, -1e4+2, 2]]"),
            Case("q3_2", "softmax", "one-column", False, "call", _call("multiclass", "softmax", ["Z"], None),
                 {"Z": z1}, ("out",), "softmax(Z), Z of shape (4, 1) (m = 1)")]


def _loss3(seed, label, hidden, m=6):
    rng = np.random.default_rng(seed)
    _, Y = _net_data(rng, "multiclass", 1, m)
    E = rng.uniform(0.1, 1.0, (10, m))
    Y_hat = E / E.sum(axis=0, keepdims=True)
    return [Case("q3_2", "loss", label, hidden, "call", _call("multiclass", "loss", ["Y", "Y_hat"], None),
                 {"Y": Y, "Y_hat": Y_hat}, ("out",), f"loss(Y, Y_hat), Y {_shape(Y)}")]


def _loss3_edges():
    Y = np.eye(3, 4, dtype=np.float64)[:, :3]
    Y = np.vstack([Y, np.zeros((1, 3))])                 # (4, 3): classes 0, 1, 2
    Y_hat = np.array([[1.0, 0.0, 0.1], [0.0, 0.9, 0.1], [0.0, 0.1, 0.8], [0.0, 0.0, 0.0]])
    return [Case("q3_2", "loss", "exact-zeros", False, "call", _call("multiclass", "loss", ["Y", "Y_hat"], None),
                 {"Y": Y, "Y_hat": Y_hat}, ("out",), "loss(Y, Y_hat) with exact zeros in Y_hat where Y is 0")]


# ---------------------------------------------------------------- all cases of a question
def cases(qid: str, seeds=PUBLIC_SEEDS, hidden=False) -> list:
    """Every case of question ``qid`` for these seeds (plus the fixed edge cases when public)."""
    kind = "hidden" if hidden else "public"
    out = []
    for i, seed in enumerate(seeds, 1):
        label = f"{kind}-{i}"
        # One example (m = 1) in the second public case only: it catches shape slips, but cannot
        # tell a sum from a mean or a whole-matrix softmax from a column-wise one, so the hidden
        # cases, which carry most of the points, all have several columns.
        one = 1 if i == 2 and not hidden else None
        part2 = ("hidden_layer", "q2_1") if qid == "q2_1" else ("multiclass", "q3_3")
        if qid == "q1_1":
            out += _sigmoid(seed, label, hidden)
        elif qid == "q1_2":
            out += _forward1(seed, label, hidden, m=one or 6)
        elif qid == "q1_3":
            out += _loss1(seed, label, hidden, m=one or 8)
        elif qid == "q1_4":
            out += _gradients1(seed, label, hidden, m=one or 6) + _gradcheck1(seed, label, hidden)
        elif qid == "q1_5":
            out += _predict1(seed, label, hidden)
        elif qid in ("q2_1", "q3_3"):
            part, q = part2
            out += (_init(part, q, seed, label, hidden) + _forward2(part, q, seed, label, hidden, m=one or 5)
                    + _backward2(part, q, seed, label, hidden) + _update2(part, q, seed, label, hidden))
            if qid == "q3_3":
                out += _predict2(part, q, seed, label, hidden)
        elif qid == "q2_2":
            out += _predict2("hidden_layer", "q2_2", seed, label, hidden)
        elif qid == "q3_2":
            out += _one_hot(seed, label, hidden) + _softmax(seed, label, hidden, m=4) \
                + _loss3(seed, label, hidden)
    if not hidden:
        out += {"q1_1": _sigmoid_edges, "q1_3": _loss1_edges, "q3_2": lambda: _softmax_edges() + _loss3_edges()}.get(
            qid, lambda: [])()
    return out


def smoke_init(part: str, seed: int = 0) -> dict:
    """Initial parameters of the kit's training smoke checks, as the train probe takes them.

    Made here rather than stored, so the kit's fixture file stays small: zeros for the single
    neuron, normal(0, 0.1) weights and zero biases for the networks (64 hidden units).
    """
    if part == "single_neuron":
        return {"W": np.zeros((1, 784)), "b": np.zeros((1, 1))}
    rng = np.random.default_rng(seed)
    n_out = 1 if part == "hidden_layer" else 10
    return {"params.W1": rng.normal(0, 0.1, (64, 784)), "params.b1": np.zeros((64, 1)),
            "params.W2": rng.normal(0, 0.1, (n_out, 64)), "params.b2": np.zeros((n_out, 1))}
