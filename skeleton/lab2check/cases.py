"""The inputs of the unit checks: small, seeded, reproducible cases for every checked function.

A ``Case`` is one call (through a probe) of one function on one set of inputs. Public cases
use the seeds in ``PUBLIC_SEEDS`` and a few fixed edge cases; hidden cases use the seeds the
grader's rubric gives, so the kit never holds them, and are built like the public ones: the
second seed's with one example, and edge cases of the same kinds drawn from the first seed. The
public cases teach (the kit ships their answers); only hidden cases earn points
(``grader/submission/grade.py``). Shapes are kept small so that a failing check can print the worst
element and a student can reproduce it by hand.

No case is passed by a trivial function (zeros, ones, a constant label, an input returned):
predict cases hold several classes, the confidently-wrong loss case asks for a positive loss,
not only a finite one, and pays only for a loss that is not constant (``grader/submission/grade.py``;
``tests/test_trivial_outputs.py`` checks every case of the seeds the rubrics use).

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


def _call(module, function, args, **more):
    return {"module": module, "function": function, "args": list(args), **more}


# ---------------------------------------------------------------- single_neuron
def sigmoid(q, seed, label, hidden, one=None):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 3, (3, 5))
    return [Case(q.id, "sigmoid", label, hidden, "call", _call(q.module, "sigmoid", ["z"]),
                 {"z": z}, ("out",), f"sigmoid(z), z {_shape(z)}")]


def _edge_rng(seed):
    """The generator of a hidden seed's edge cases (None: the fixed public ones)."""
    return None if seed is None else np.random.default_rng((seed, 1))


def _edge_label(name, seed):
    return name if seed is None else f"hidden-{name}"


def sigmoid_edges(q, seed=None):
    rng = _edge_rng(seed)
    z = np.array([[-1e4, -1000.0, -50.0, -1.0, 0.0, 1.0, 50.0, 1000.0, 1e4]])
    z32 = np.linspace(-8, 8, 7, dtype=np.float32).reshape(1, -1)
    shown = "z = [[-1e4, -1000, -50, -1, 0, 1, 50, 1000, 1e4]]"
    if rng is not None:  # as large, other values and order
        z = rng.permutation((z * rng.uniform(1.0, 2.0, z.shape)).ravel()).reshape(1, -1)
        z32 = rng.uniform(-8, 8, (1, 7)).astype(np.float32)
        shown = "z of shape (1, 9) with entries up to 2e4 in size"
    hidden = seed is not None
    return [Case(q.id, "sigmoid", _edge_label("large-inputs", seed), hidden, "call",
                 _call(q.module, "sigmoid", ["z"]), {"z": z}, ("out",), f"sigmoid(z), {shown}"),
            Case(q.id, "sigmoid", _edge_label("float32", seed), hidden, "call", _call(q.module, "sigmoid", ["z"]),
                 {"z": z32}, ("out",), f"sigmoid(z), z {_shape(z32)}")]


def _binary_data(rng, n, m):
    X = rng.uniform(0, 1, (n, m))
    y = (rng.uniform(size=(1, m)) < 0.5).astype(np.float64)
    return X, y


def forward1(q, seed, label, hidden, one=None):
    m = one or 6
    rng = np.random.default_rng(seed)
    X, _ = _binary_data(rng, 8, m)
    W, b = rng.normal(0, 0.5, (1, 8)), rng.normal(0, 0.5, (1, 1))
    return [Case(q.id, "forward", label, hidden, "call", _call(q.module, "forward", ["X", "W", "b"]),
                 {"X": X, "W": W, "b": b}, ("out",), f"forward(X, W, b), X {_shape(X)}, W {_shape(W)}, b {_shape(b)}")]


def loss1(q, seed, label, hidden, one=None):
    m = one or 8
    rng = np.random.default_rng(seed)
    y = (rng.uniform(size=(1, m)) < 0.5).astype(np.float64)
    y_hat = rng.uniform(0.02, 0.98, (1, m))
    return [Case(q.id, "loss", label, hidden, "call", _call(q.module, "loss", ["y", "y_hat"]),
                 {"y": y, "y_hat": y_hat}, ("out",), f"loss(y, y_hat), y {_shape(y)}, y_hat {_shape(y_hat)}")]


def loss1_edges(q, seed=None):
    rng = _edge_rng(seed)
    # Exact 0/1 predictions that agree with y: any clipping eps <= 1e-7 gives the same loss to ~1e-7.
    y = np.array([[1.0, 0.0, 1.0, 0.0, 1.0]])
    y_hat = np.array([[1.0, 0.0, 0.7, 0.2, 0.9]])
    # Confidently wrong: the value depends on the student's eps, so it is only asked to be finite
    # and positive (zeros fail; a constant earns nothing: grader/submission/grade.py, _without_lone_finite_passes).
    y_bad, y_hat_bad = np.array([[1.0, 0.0, 1.0]]), np.array([[0.0, 1.0, 0.5]])
    shown = ("y = [[1, 0, 1, 0, 1]], y_hat = [[1, 0, 0.7, 0.2, 0.9]]", "y = [[1, 0, 1]], y_hat = [[0, 1, 0.5]]")
    if rng is not None:  # the same kinds of predictions, other values and order
        y = rng.permutation(np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])).reshape(1, -1)
        y_hat = y.copy()
        soft = rng.choice(6, 3, replace=False)
        y_hat[0, soft] = np.where(y[0, soft] == 1, rng.uniform(0.6, 0.95, 3), rng.uniform(0.05, 0.4, 3))
        y_bad = rng.permutation(np.array([1.0, 0.0, 1.0, 0.0])).reshape(1, -1)
        y_hat_bad = 1.0 - y_bad
        y_hat_bad[0, rng.integers(4)] = rng.uniform(0.3, 0.7)
        shown = (f"y {_shape(y)} with exact 0 and 1 in y_hat where y is", f"y {_shape(y_bad)}, y_hat = 1 - y but once")
    hidden = seed is not None
    return [Case(q.id, "loss", _edge_label("exact-0-1", seed), hidden, "call",
                 _call(q.module, "loss", ["y", "y_hat"]), {"y": y, "y_hat": y_hat}, ("out",),
                 f"loss(y, y_hat), {shown[0]}"),
            Case(q.id, "loss", _edge_label("confidently-wrong", seed), hidden, "call",
                 _call(q.module, "loss", ["y", "y_hat"], finite_only=True, above=0.0),
                 {"y": y_bad, "y_hat": y_hat_bad}, ("out",), f"loss(y, y_hat), {shown[1]}")]


def _gradients1(q, seed, label, hidden, m=6):
    rng = np.random.default_rng(seed)
    X, y = _binary_data(rng, 7, m)
    y_hat = rng.uniform(0.05, 0.95, (1, m))
    return [Case(q.id, "gradients", label, hidden, "call",
                 _call(q.module, "gradients", ["X", "y", "y_hat"]),
                 {"X": X, "y": y, "y_hat": y_hat}, ("out.0", "out.1"),
                 f"gradients(X, y, y_hat), X {_shape(X)}, y {_shape(y)}, y_hat {_shape(y_hat)}")]


def _gradcheck1(q, seed, label, hidden, m=5):
    rng = np.random.default_rng(seed)
    X, y = _binary_data(rng, 6, m)
    W, b = rng.normal(0, 0.5, (1, 6)), rng.normal(0, 0.5, (1, 1))
    perturbed = _flat("perturbed", gradcheck.perturb({"W": W, "b": b}))
    # The analytic gradient is taken at this y_hat (the neuron's output, 0.5 * (1 + tanh(z / 2))
    # = sigmoid(z)), not at the student's forward: a wrong sigmoid or forward is charged in its
    # own question, never again in the gradient's.
    y_hat = _logistic(W @ X + b)
    return [Case(q.id, "gradcheck", label, hidden, "numgrad", {"module": q.module},
                 {"X": X, "y": y, "W": W, "b": b, "y_hat": y_hat, **perturbed}, ("grad.W", "grad.b"),
                 f"gradients(X, y, forward(X, W, b)) against centred differences of your loss, X {_shape(X)}")]


def _split_at_median(z):
    """The shift that puts half of the logits ``z (1, m)`` on each side of 0, halfway between
    the two middle ones: labels of both classes, none on a tie (a constant label fails)."""
    s = np.sort(np.ravel(z))
    return -0.5 * (s[(s.size - 1) // 2] + s[s.size // 2])


def _logistic(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # the contract's sigmoid, written so that it overflows nowhere


def predict1(q, seed, label, hidden, one=None):
    rng = np.random.default_rng(seed)
    X, _ = _binary_data(rng, 8, 10)
    W, b = rng.normal(0, 1.0, (1, 8)), rng.normal(0, 0.5, (1, 1))
    b = b + _split_at_median(W @ X + b)
    return [Case(q.id, "predict", label, hidden, "call", _call(q.module, "predict", ["X", "W", "b"]),
                 {"X": X, "W": W, "b": b}, ("out",), f"predict(X, W, b), X {_shape(X)}")]


# ---------------------------------------------------------------- hidden_layer and multiclass: two layers
def _outputs(module) -> int:
    from lab2check.questions import MODULES  # the registry imports this module's builders
    return MODULES[module].outputs


def _net_data(rng, module, n_in, m):
    X = rng.uniform(0, 1, (n_in, m))
    if _outputs(module) == 1:
        return X, (rng.uniform(size=(1, m)) < 0.5).astype(np.float64)
    labels = rng.integers(0, 10, m)
    Y = np.zeros((10, m))
    Y[labels, np.arange(m)] = 1.0
    return X, Y


def hidden_init_seed(seed: int) -> int:
    """The seed a hidden init_params case passes: one-way from the hidden seed, since student
    code sees it, and must not learn from it the seed of the other hidden cases' inputs."""
    return int.from_bytes(hashlib.sha256(f"init_params:{seed}".encode()).digest()[:4], "big") % (2**31 - 2)


def _init(q, seed, label, hidden):
    n_out = _outputs(q.module)
    seed = hidden_init_seed(seed) if hidden else seed
    shown = "a hidden seed" if hidden else f"seed={seed}"
    return [Case(q.id, "init_params", label, hidden, "init", {"module": q.module, "seed": seed}, {},
                 tuple("first." + k for k in PARAM_KEYS), f"init_params({shown}) (default sizes 784, 64, {n_out})")]


def _forward2(q, seed, label, hidden, m=5):
    rng = np.random.default_rng(seed)
    n_out = _outputs(q.module)
    X, _ = _net_data(rng, q.module, 6, m)
    params = _params(rng, 6, 4, n_out)
    return [Case(q.id, "forward", label, hidden, "call",
                 _call(q.module, "forward", ["X", "params"], params={"params": list(PARAM_KEYS)}),
                 {"X": X, **_flat("params", params)}, ("out.0",), f"forward(X, params), X {_shape(X)}, 4 hidden units")]


def _backward2(q, seed, label, hidden, m=5):
    rng = np.random.default_rng(seed)
    n_out = _outputs(q.module)
    X, y = _net_data(rng, q.module, 6, m)
    params = _params(rng, 6, 4, n_out)
    return [Case(q.id, "backward", label, hidden, "chain", {"module": q.module},
                 {"X": X, "y": y, **_flat("params", params)}, ("y_hat", "loss") + GRAD_KEYS,
                 f"backward(X, y, params, cache) after forward(X, params), X {_shape(X)}, 4 hidden units"),
            Case(q.id, "gradcheck", label, hidden, "numgrad", {"module": q.module},
                 {"X": X, "y": y, **_flat("params", params), **_flat("perturbed", gradcheck.perturb(params))},
                 tuple("grad." + k for k in PARAM_KEYS),
                 f"backward(X, y, params, cache) against centred differences of your loss, X {_shape(X)}")]


def _update2(q, seed, label, hidden):
    rng = np.random.default_rng(seed)
    n_out = _outputs(q.module)
    params = _params(rng, 6, 4, n_out)
    grads = {"d" + k: v for k, v in _params(rng, 6, 4, n_out).items()}
    return [Case(q.id, "update", label, hidden, "call",
                 _call(q.module, "update", ["params", "grads"], kwargs={"lr": 0.3},
                       params={"params": list(PARAM_KEYS), "grads": ["d" + k for k in PARAM_KEYS]}),
                 {**_flat("params", params), **_flat("grads", grads)}, tuple("out." + k for k in PARAM_KEYS),
                 "update(params, grads, lr=0.3), 4 hidden units")]


def predict2(q, seed, label, hidden, one=None):
    rng = np.random.default_rng(seed)
    n_out = _outputs(q.module)
    X, _ = _net_data(rng, q.module, 6, 12)
    params = _params(rng, 6, 4, n_out)
    params["W2"] *= 4  # decisive outputs: no prediction sits on a tie
    # Several classes: the output logits (the contract's forward; softmax keeps their argmax) split
    # at their median for one output unit, each unit's centred on the examples for ten.
    logits = params["W2"] @ _logistic(params["W1"] @ X + params["b1"]) + params["b2"]
    if n_out == 1:
        params["b2"] = params["b2"] + _split_at_median(logits)
    else:
        params["b2"] = params["b2"] - logits.mean(axis=1, keepdims=True)
    return [Case(q.id, "predict", label, hidden, "call",
                 _call(q.module, "predict", ["X", "params"], params={"params": list(PARAM_KEYS)}),
                 {"X": X, **_flat("params", params)}, ("out",), f"predict(X, params), X {_shape(X)}")]


def network(q, seed, label, hidden, one=None):
    """init_params, forward, backward (and its gradient check) and update of a two-layer module."""
    return (_init(q, seed, label, hidden) + _forward2(q, seed, label, hidden, m=one or 5)
            + _backward2(q, seed, label, hidden) + _update2(q, seed, label, hidden))


def network_and_predict(q, seed, label, hidden, one=None):
    return network(q, seed, label, hidden, one) + predict2(q, seed, label, hidden)


# ---------------------------------------------------------------- multiclass: one_hot, softmax, loss
def _one_hot(q, seed, label, hidden):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, 7)
    return [Case(q.id, "one_hot", label, hidden, "call", _call(q.module, "one_hot", ["labels"]),
                 {"labels": labels}, ("out",),
                 "one_hot(labels), labels of shape (7,)" if hidden else f"one_hot(labels), labels = {labels.tolist()}"),
            Case(q.id, "one_hot", label + "-row", hidden, "call", _call(q.module, "one_hot", ["labels"]),
                 {"labels": labels.reshape(1, -1)}, ("out",), "one_hot(labels) with labels of shape (1, 7)")]


def _softmax(q, seed, label, hidden, m=4):
    rng = np.random.default_rng(seed)
    Z = rng.normal(0, 2, (10, m))
    return [Case(q.id, "softmax", label, hidden, "call", _call(q.module, "softmax", ["Z"]),
                 {"Z": Z}, ("out",), f"softmax(Z), Z {_shape(Z)}")]


def _softmax_edges(q, seed=None):
    rng = _edge_rng(seed)
    Z = np.array([[1e4, -1e4, 0.0], [0.0, -1e4 + 1, 1.0], [-1e4, -1e4 + 2, 2.0]])
    z1 = np.array([[0.5], [1.5], [-2.0], [3.0]])
    shown = "Z = [[1e4, -1e4, 0], [0, -1e4+1, 1], [-1e4, -1e4+2, 2]]"
    if rng is not None:  # logits as large, other values and order
        Z = rng.permutation(Z.ravel() * rng.uniform(1.0, 2.0, Z.size)).reshape(Z.shape)
        z1 = rng.normal(0, 2, (4, 1))
        shown = "Z of shape (3, 3) with logits up to 2e4 in size"
    hidden = seed is not None
    return [Case(q.id, "softmax", _edge_label("large-logits", seed), hidden, "call",
                 _call(q.module, "softmax", ["Z"]), {"Z": Z}, ("out",), f"softmax(Z), {shown}"),
            Case(q.id, "softmax", _edge_label("one-column", seed), hidden, "call",
                 _call(q.module, "softmax", ["Z"]), {"Z": z1}, ("out",), "softmax(Z), Z of shape (4, 1) (m = 1)")]


def _loss3(q, seed, label, hidden, m=6):
    rng = np.random.default_rng(seed)
    _, Y = _net_data(rng, q.module, 1, m)
    E = rng.uniform(0.1, 1.0, (10, m))
    Y_hat = E / E.sum(axis=0, keepdims=True)
    return [Case(q.id, "loss", label, hidden, "call", _call(q.module, "loss", ["Y", "Y_hat"]),
                 {"Y": Y, "Y_hat": Y_hat}, ("out",), f"loss(Y, Y_hat), Y {_shape(Y)}")]


def _loss3_edges(q, seed=None):
    rng = _edge_rng(seed)
    Y = np.eye(3, 4, dtype=np.float64)[:, :3]
    Y = np.vstack([Y, np.zeros((1, 3))])                 # (4, 3): classes 0, 1, 2
    Y_hat = np.array([[1.0, 0.0, 0.1], [0.0, 0.9, 0.1], [0.0, 0.1, 0.8], [0.0, 0.0, 0.0]])
    if rng is not None:  # one exact 1, the others shared with one more class, exact zeros elsewhere
        classes = rng.permutation(4)[:3]
        Y, Y_hat = np.zeros((4, 3)), np.zeros((4, 3))
        Y[classes, np.arange(3)] = 1.0
        Y_hat[classes[0], 0] = 1.0
        for j in (1, 2):
            right = rng.uniform(0.6, 0.9)
            Y_hat[classes[j], j] = right
            Y_hat[classes[(j + 1) % 3], j] = 1.0 - right
    hidden = seed is not None
    return [Case(q.id, "loss", _edge_label("exact-zeros", seed), hidden, "call",
                 _call(q.module, "loss", ["Y", "Y_hat"]), {"Y": Y, "Y_hat": Y_hat}, ("out",),
                 "loss(Y, Y_hat) with exact zeros in Y_hat where Y is 0")]


# ---------------------------------------------------------------- builders of several groups
def gradients1(q, seed, label, hidden, one=None):
    return _gradients1(q, seed, label, hidden, m=one or 6) + _gradcheck1(q, seed, label, hidden)


def one_hot_softmax_loss(q, seed, label, hidden, one=None):
    return _one_hot(q, seed, label, hidden) + _softmax(q, seed, label, hidden, m=4) + _loss3(q, seed, label, hidden)


def softmax_loss_edges(q, seed=None):
    return _softmax_edges(q, seed) + _loss3_edges(q, seed)


# ---------------------------------------------------------------- all cases of a question
def cases(qid: str, seeds=PUBLIC_SEEDS, hidden=False) -> list:
    """Every case of question ``qid`` for these seeds (plus the fixed edge cases when public), built
    by the question's builders in the registry (``lab2check.questions``); [] for a question
    without unit checks."""
    from lab2check import questions  # the registry imports this module's builders
    q = questions.get(qid)
    if q.cases is None:
        return []
    kind = "hidden" if hidden else "public"
    out = []
    for i, seed in enumerate(seeds, 1):
        # One example (m = 1) in the second case of each kind only: it catches shape slips, but
        # cannot tell a sum from a mean or a whole-matrix softmax from a column-wise one (a pass
        # there earns nothing when another case of its check names such a mistake), so the
        # others all have several columns.
        one = 1 if i == 2 else None
        out += q.cases(q, seed, f"{kind}-{i}", hidden, one)
    if q.edge_cases is not None and seeds:
        out += q.edge_cases(q, seeds[0]) if hidden else q.edge_cases(q)
    return out


def smoke_init(module: str, seed: int = 0) -> dict:
    """Initial parameters of the kit's training smoke checks, as the train probe takes them.

    Made here rather than stored, so the kit's fixture file stays small: zeros for the single
    neuron, normal(0, 0.1) weights and zero biases for the networks (64 hidden units).
    """
    from lab2check.questions import MODULES
    if MODULES[module].layers == 1:
        return {"W": np.zeros((1, 784)), "b": np.zeros((1, 1))}
    rng = np.random.default_rng(seed)
    n_out = MODULES[module].outputs
    return {"params.W1": rng.normal(0, 0.1, (64, 784)), "params.b1": np.zeros((64, 1)),
            "params.W2": rng.normal(0, 0.1, (n_out, 64)), "params.b2": np.zeros((n_out, 1))}
