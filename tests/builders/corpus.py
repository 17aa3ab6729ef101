"""Builders of the corpus submissions: scripted edits of the reference's source.

Every builder writes a submission folder (``<dest>/lab2/`` and ``<dest>/REPORT.md``) and
returns ``dest``. Three families, each graded end to end by its own test file:
- ``CORRECT``: other ways of writing a correct ``lab2`` that the contract allows; each must get
  every automatic point (``tests/test_corpus_correct.py``).
- mutants: ``grader.answers.mutations.MUTATIONS`` plus a REPORT.md (``tests/test_corpus_mutants.py``).
- hostile: the reference with hostile code added at import or around one function
  (``Hostile``, ``build_hostile``; the cases are in ``tests/test_corpus_hostile.py``).

An edit names the text it replaces, which must occur the stated number of times in the
reference (once unless told): when the reference changes, a builder fails loudly instead of
silently building a submission that is the reference itself.

Above 500 lines: the three families share the edit machinery and the reference's text.
"""
import re
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

from grader import REFERENCE
from grader.answers import mutations

MODULES = ("single_neuron", "hidden_layer", "multiclass")

# A REPORT.md whose loss_500 block parses, so that the ``report`` question passes and every
# corpus submission can get every automatic point. The values are the reference's on the small
# rubric (they are shown, not checked).
REPORT_MD = """# Lab 2 report (a corpus submission of the grader's tests)

## The loss after 500 epochs

```yaml
loss_500:
  single_neuron: 0.0049
  hidden_layer: 0.0019
  multiclass: 0.016
```
"""


def reference_source(module: str) -> str:
    return (REFERENCE / "lab2" / f"{module}.py").read_text()


def replace(source: str, old: str, new: str, count: int = 1, where: str = "") -> str:
    """``source`` with ``old`` replaced by ``new``; ``old`` must occur exactly ``count`` times."""
    found = source.count(old)
    if found != count:
        raise ValueError(f"{where}: {old!r} occurs {found} times, expected {count} (the reference changed?)")
    return source.replace(old, new)


def write_submission(dest, sources: dict | None = None, report: str | None = REPORT_MD) -> Path:
    """A copy of the reference's ``lab2`` with ``sources`` ({module: full text}) written over it."""
    dest = Path(dest)
    shutil.copytree(REFERENCE / "lab2", dest / "lab2", ignore=shutil.ignore_patterns("__pycache__"))
    for module, text in (sources or {}).items():
        compile(text, f"lab2/{module}.py", "exec")  # a builder's typo fails here, not as a student error
        (dest / "lab2" / f"{module}.py").write_text(text)
    if report is not None:
        (dest / "REPORT.md").write_text(report)
    return dest


def edited(edits) -> dict:
    """``{module: text}`` from ``[(module, old, new[, count])]`` applied to the reference in order."""
    sources = {}
    for module, old, new, *count in edits:
        text = sources.get(module, reference_source(module))
        sources[module] = replace(text, old, new, *count, where=f"lab2/{module}.py")
    return sources


def build_mutant(mutation, dest) -> Path:
    """The reference with one ``grader.answers.mutations`` edit, and a REPORT.md."""
    mutations.build(mutation, dest)
    (Path(dest) / "REPORT.md").write_text(REPORT_MD)
    return Path(dest)


# ------------------------------------------------------------------ reading reports
def lost(report) -> set:
    """The automatic questions that did not get all their automatic points."""
    return {q.id for q in report.questions if q.max_auto and q.auto_points != q.max_auto}


def explain(report, qids=None) -> str:
    """Points, status, summary and failed public checks of ``qids`` (all by default): what a
    failing assertion prints."""
    lines = [f"status={report.status} {report.error}".rstrip()]
    for q in report.questions:
        if qids is None or q.id in qids:
            lines.append(f"{q.id}: {q.auto_points:g}/{q.max_auto:g} {q.status}: {q.summary}")
            lines += [f"    {c.name}: {c.message[:400]}" for c in q.checks if not c.passed and not c.hidden]
    return "\n".join(lines)


# ------------------------------------------------------------------ correct variants
def _float32_throughout():
    # Computes in float32 whenever it is given float32 (the grading runs are float32): float32
    # parameters and one-hot targets, float32 constants, and train() casting what it is given.
    # Given float64 (the unit checks) it stays float64, as the contract asks.
    loop = "    losses = []\n    for _ in range(epochs):\n"
    edits = [
        ("single_neuron", "    e = np.exp(-np.abs(z))\n    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))",
         "    e = np.exp(-np.abs(z))\n    one = z.dtype.type(1)\n"
         "    return np.where(z >= 0, one / (one + e), e / (one + e))"),
        ("single_neuron", loop, "    X, y = X.astype(np.float32), y.astype(np.float32)\n"
                                "    W, b = W.astype(np.float32), b.astype(np.float32)\n"
                                "    lr = np.float32(lr)\n" + loop),
    ]
    for module, target in (("hidden_layer", "y"), ("multiclass", "Y")):
        edits += [
            (module, '"W1": rng.normal(0.0, 0.1, (n_hidden, n_in)),',
             '"W1": rng.normal(0.0, 0.1, (n_hidden, n_in)).astype(np.float32),'),
            (module, '"b1": np.zeros((n_hidden, 1)),', '"b1": np.zeros((n_hidden, 1), np.float32),'),
            (module, '"W2": rng.normal(0.0, 0.1, (n_out, n_hidden)),',
             '"W2": rng.normal(0.0, 0.1, (n_out, n_hidden)).astype(np.float32),'),
            (module, '"b2": np.zeros((n_out, 1)),', '"b2": np.zeros((n_out, 1), np.float32),'),
            (module, loop, f"    X, {target} = X.astype(np.float32), {target}.astype(np.float32)\n"
                           "    params = {k: v.astype(np.float32) for k, v in params.items()}\n"
                           "    lr = np.float32(lr)\n" + loop),
        ]
    edits.append(("multiclass", "    Y = np.zeros((n_classes, labels.size))\n",
                  "    Y = np.zeros((n_classes, labels.size), dtype=np.float32)\n"))
    return edited(edits)


def _in_place_updates():
    # update() subtracts in place and returns the same dict: the contract does not rely on
    # whether update mutates its argument.
    body = ('    return {k: params[k] - lr * grads["d" + k] for k in ("W1", "b1", "W2", "b2")}\n')
    new = ('    for k in ("W1", "b1", "W2", "b2"):\n        params[k] -= lr * grads["d" + k]\n    return params\n')
    return edited([("hidden_layer", body, new), ("multiclass", body, new)])


def _eps(value):
    def build():
        return edited([("single_neuron", "EPS = 1e-7 ", f"EPS = {value} "), ("multiclass", "EPS = 1e-7\n",
                                                                         f"EPS = {value}\n")])
    return build


_CLASS_HIDDEN = '''"""Part 2 written around a class: the contract's functions call a ``Network``'s methods."""
import numpy as np

from lab2.single_neuron import loss, sigmoid

LR = 0.5


class Network:
    """Two layers, sigmoid hidden units; subclasses choose the output activation and the loss."""

    KEYS = ("W1", "b1", "W2", "b2")

    def __init__(self, params):
        self.params = dict(params)

    @classmethod
    def create(cls, n_in, n_hidden, n_out, seed):
        rng = np.random.default_rng(seed)
        return cls({"W1": rng.normal(0.0, 0.1, (n_hidden, n_in)), "b1": np.zeros((n_hidden, 1)),
                    "W2": rng.normal(0.0, 0.1, (n_out, n_hidden)), "b2": np.zeros((n_out, 1))})

    def activation(self, Z):
        return sigmoid(Z)

    def cost(self, y, y_hat):
        return loss(y, y_hat)

    def forward(self, X):
        p = self.params
        A1 = sigmoid(p["W1"] @ X + p["b1"])
        out = self.activation(p["W2"] @ A1 + p["b2"])
        return out, (A1, out)

    def backward(self, X, y, cache):
        A1, out = cache
        m = X.shape[1]
        dZ2 = out - y
        dZ1 = (self.params["W2"].T @ dZ2) * A1 * (1 - A1)
        return {"dW1": dZ1 @ X.T / m, "db1": dZ1.sum(axis=1, keepdims=True) / m,
                "dW2": dZ2 @ A1.T / m, "db2": dZ2.sum(axis=1, keepdims=True) / m}

    def step(self, grads, lr):
        return type(self)({k: self.params[k] - lr * grads["d" + k] for k in self.KEYS})

    def fit(self, X, y, epochs, lr):
        net, losses = self, []
        for _ in range(epochs):
            out, cache = net.forward(X)
            losses.append(net.cost(y, out))
            net = net.step(net.backward(X, y, cache), lr)
        return net, losses

    def predict(self, X):
        return (self.forward(X)[0] >= 0.5).astype(int)


def init_params(n_in=784, n_hidden=64, n_out=1, seed=None):
    return Network.create(n_in, n_hidden, n_out, seed).params


def forward(X, params):
    return Network(params).forward(X)


def backward(X, y, params, cache):
    return Network(params).backward(X, y, cache)


def update(params, grads, lr):
    return Network(params).step(grads, lr).params


def train(X, y, params, epochs=500, lr=LR):
    net, losses = Network(params).fit(X, y, epochs, lr)
    return net.params, losses


def predict(X, params):
    return Network(params).predict(X)
'''

_CLASS_MULTICLASS = '''"""Part 3 as a subclass of Part 2's ``Network``: softmax outputs, categorical cross-entropy."""
import numpy as np

from lab2.hidden_layer import Network

LR = 0.5


def one_hot(labels, n_classes=10):
    labels = np.asarray(labels).ravel()
    return (np.arange(n_classes).reshape(-1, 1) == labels.reshape(1, -1)).astype(float)


def softmax(Z):
    E = np.exp(Z - Z.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


def loss(Y, Y_hat):
    return float(-np.mean(np.sum(Y * np.log(np.clip(Y_hat, 1e-7, 1.0)), axis=0)))


class Softmax(Network):
    def activation(self, Z):
        return softmax(Z)

    def cost(self, Y, Y_hat):
        return loss(Y, Y_hat)

    def predict(self, X):
        return self.forward(X)[0].argmax(axis=0)


def init_params(n_in=784, n_hidden=64, n_out=10, seed=None):
    return Softmax.create(n_in, n_hidden, n_out, seed).params


def forward(X, params):
    return Softmax(params).forward(X)


def backward(X, Y, params, cache):
    return Softmax(params).backward(X, Y, cache)


def update(params, grads, lr):
    return Softmax(params).step(grads, lr).params


def train(X, Y, params, epochs=500, lr=LR):
    net, losses = Softmax(params).fit(X, Y, epochs, lr)
    return net.params, losses


def predict(X, params):
    return Softmax(params).predict(X)
'''

_CLASS_SINGLE = '''"""Part 1 written around a class: a ``Neuron`` holds W and b; the functions use it."""
import numpy as np

LR = 0.1


def sigmoid(z):
    z = np.asarray(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def loss(y, y_hat):
    y_hat = np.clip(y_hat, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat)))


def gradients(X, y, y_hat):
    return Neuron.gradients(X, y, y_hat)


class Neuron:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def __call__(self, X):
        return sigmoid(self.W @ X + self.b)

    @staticmethod
    def gradients(X, y, y_hat):
        dZ = y_hat - y
        return dZ @ X.T / X.shape[1], dZ.sum(axis=1, keepdims=True) / X.shape[1]

    def step(self, X, y, lr):
        y_hat = self(X)
        dW, db = self.gradients(X, y, y_hat)
        return Neuron(self.W - lr * dW, self.b - lr * db), loss(y, y_hat)


def forward(X, W, b):
    return Neuron(W, b)(X)


def train(X, y, W, b, epochs=500, lr=LR):
    neuron, losses = Neuron(W, b), []
    for _ in range(epochs):
        neuron, value = neuron.step(X, y, lr)
        losses.append(value)
    return neuron.W, neuron.b, losses


def predict(X, W, b):
    return (Neuron(W, b)(X) >= 0.5).astype(int)
'''


def _class_based():
    return {"single_neuron": _CLASS_SINGLE, "hidden_layer": _CLASS_HIDDEN, "multiclass": _CLASS_MULTICLASS}


_OPERAND = r'(params\["\w+"\]|\w+)(\.T)?'
_PRODUCT = re.compile(_OPERAND + " @ " + _OPERAND)


def _einsum_of(match) -> str:
    a, at, b, bt = match.groups()
    left = "ji" if at else "ij"
    right = "kj" if bt else "jk"
    # optimize=True lets einsum use BLAS: its own loops would take minutes for 500 epochs.
    return f'np.einsum("{left},{right}->ik", {a}, {b}, optimize=True)'


def _einsum():
    sources = {}
    for module in MODULES:
        text, n = _PRODUCT.subn(_einsum_of, reference_source(module))
        code = text.split('if __name__ == "__main__":')[0]
        assert n >= 2 and not re.search(r"\w @ \w", "\n".join(
            line for line in code.splitlines() if not line.lstrip().startswith(('"', "#", "`")))), module
        sources[module] = text
    return sources


def _numpy_scalar_losses():
    # np.float64 (np.float32 in the float32 training) instead of a Python float.
    return edited([("single_neuron", "return float(-np.mean(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat)))",
                    "return -np.mean(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat))"),
                   ("multiclass", "return float(-np.sum(Y * np.log(np.clip(Y_hat, EPS, 1.0))) / m)",
                    "return -np.sum(Y * np.log(np.clip(Y_hat, EPS, 1.0))) / m")])


def _zero_d_losses():
    return edited([("single_neuron", "return float(-np.mean(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat)))",
                    "return np.array(-np.mean(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat)))"),
                   ("multiclass", "return float(-np.sum(Y * np.log(np.clip(Y_hat, EPS, 1.0))) / m)",
                    "return np.asarray(-np.sum(Y * np.log(np.clip(Y_hat, EPS, 1.0))) / m).reshape(())")])


def _naive_clipped_sigmoid():
    # The textbook formula, kept finite by clipping z (exp(500) still fits a float64; in float32
    # it overflows to inf with a warning, and 1 / inf is the right 0).
    old = reference_source("single_neuron")
    end = "    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))\n"
    body = old[old.index("    z = np.asarray(z)\n"):old.index(end)]
    return edited([("single_neuron", body + "    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))\n",
                    "    return 1 / (1 + np.exp(-np.clip(z, -500, 500)))\n")])


def _softmax_reshape():
    return edited([("multiclass", "    E = np.exp(Z - np.max(Z, axis=0, keepdims=True))",
                    "    E = np.exp(Z - np.max(Z, axis=0).reshape(1, -1))"),
                   ("multiclass", "    return E / np.sum(E, axis=0, keepdims=True)",
                    "    return E / np.sum(E, axis=0).reshape(1, Z.shape[1])")])


def _flat_binary_predict():
    return edited([("single_neuron", "return (forward(X, W, b) >= 0.5).astype(np.int64)",
                    "return (forward(X, W, b) >= 0.5).astype(int).ravel()"),
                   ("hidden_layer", "return (forward(X, params)[0] >= 0.5).astype(np.int64)",
                    "return (forward(X, params)[0] >= 0.5).astype(int).reshape(-1)")])


def _float_db():
    return edited([("single_neuron", "    db = np.sum(dZ, axis=1, keepdims=True) / m  # (1, 1)",
                    "    db = float(np.sum(dZ) / m)")])


def _array_losses():
    # train() may return the losses as a 1-D array rather than a list (the contract allows both).
    return edited([("single_neuron", "    return W, b, losses\n", "    return W, b, np.array(losses)\n"),
                   ("hidden_layer", "    return params, losses\n", "    return params, np.asarray(losses)\n"),
                   ("multiclass", "    return params, losses\n",
                    "    return params, np.array(losses, dtype=np.float32)\n")])


_ARRAY_ARGS = ("z", "X", "W", "b", "y", "y_hat", "Y", "Y_hat", "Z", "params", "grads")
_DEF = re.compile(r'def (\w+)\(([^)]*)\):\n    """.*?"""\n', re.S)


def float32_inputs():
    # Every array argument cast to float32 on entry, float64 inputs included: the unit checks'
    # float64 cases then see float32 round-off (tests/test_corpus_correct.py says what it costs).
    sources = {}
    for module in MODULES:
        text = replace(reference_source(module), "import numpy as np\n",
                       "import numpy as np\n\n\ndef _f32(v):\n    if isinstance(v, dict):\n"
                       "        return {k: np.asarray(a, np.float32) for k, a in v.items()}\n"
                       "    return np.asarray(v, np.float32)\n", where=module)

        def cast(match):
            names = [a.split("=")[0].strip() for a in match.group(2).split(",")]
            return match.group(0) + "".join(f"    {n} = _f32({n})\n" for n in names if n in _ARRAY_ARGS)
        text, n = _DEF.subn(cast, text)
        assert n >= 5, module
        sources[module] = text
    return sources


CORRECT = {
    "float32-throughout": _float32_throughout,
    "in-place-update": _in_place_updates,
    "eps-1e-8": _eps("1e-8"),
    "eps-1e-12": _eps("1e-12"),
    "class-based": _class_based,
    "einsum": _einsum,
    "numpy-scalar-losses": _numpy_scalar_losses,
    "zero-d-array-losses": _zero_d_losses,
    "naive-clipped-sigmoid": _naive_clipped_sigmoid,
    "softmax-reshape": _softmax_reshape,
    "flat-binary-predict": _flat_binary_predict,
    "float-db": _float_db,
    "array-losses": _array_losses,
}


def build_correct(name: str, dest) -> Path:
    return write_submission(dest, CORRECT[name]())


# ------------------------------------------------------------------ hostile code
@dataclass(frozen=True)
class Hostile:
    """Hostile ``code`` in ``module``, run at import (``function`` None) or at the start of
    ``function`` (where ``args``, ``kwargs`` and ``_reference_<function>`` are in scope)."""
    name: str
    module: str
    function: str | None
    code: str


def hostile_source(module: str, function: str | None, code: str) -> str:
    """The reference's ``module`` with ``code`` at import (appended) or wrapped around ``function``.

    The wrapper keeps the reference's function under another name and calls it after the
    hostile code, so the function's result is the reference's unless the hostile code returns
    first.
    """
    text = reference_source(module)
    extra = "\n\n# ---- hostile code added by tests/corpus.py\nimport os, sys, time, socket, subprocess, builtins\n"
    code = textwrap.dedent(code).strip("\n")
    if function is None:
        extra += code + "\n"
    else:
        if f"\ndef {function}(" not in text:
            raise ValueError(f"lab2/{module}.py has no function {function}")
        extra += (f"_reference_{function} = {function}\n\n\ndef {function}(*args, **kwargs):\n"
                  + textwrap.indent(code, "    ") + f"\n    return _reference_{function}(*args, **kwargs)\n")
    return text + extra


def build_hostile(cases, dest) -> Path:
    """One submission holding every case of ``cases`` (each in its own module or function)."""
    sources = {}
    for case in cases:
        if case.module in sources and case.function is None:
            raise ValueError("two hostile cases at the import of one module")
        base = sources.get(case.module)
        source = hostile_source(case.module, case.function, case.code)
        if base is not None:  # a second case in the same module: keep the first one's additions
            source = base + source[len(reference_source(case.module)):]
        sources[case.module] = source
    return write_submission(dest, sources)
