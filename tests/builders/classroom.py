"""A class of ``lab2`` packages built at test time, for the near-duplicate tests and the bench.

Students fill in the kit: each solution here is the skeleton (``skeleton/lab2``) with every
``raise NotImplementedError(...)`` replaced by a style's body, and the style's helpers put
before the first function, so every solution shares the skeleton's docstrings, signatures and
``__main__`` blocks, as real submissions do. The four styles are written independently of each
other and of the reference (a different way of doing each step, not a renaming):

- ``loops``: ``while`` training loops, layers and parameters walked by index, boolean masks;
- ``classes``: a small network class per part, the module functions delegating to it;
- ``helpers``: the work split into small helpers (``_affine``, ``_grad_pair``, ``_dense``);
- ``terse``: ``np.einsum``, ``np.eye`` indexing, ``dict(...)`` and one-line expressions.

And the disguises a copier uses: ``rename`` (every local name, helper and constant renamed
consistently, the contract's names kept so it still grades), ``reorder`` (top-level functions
and classes shuffled), ``recomment`` (comments removed, others added, docstrings rewritten).

Above 500 lines: the four styles are written out in full; they are this module's data.
"""
import ast
import builtins
import io
import keyword
import random
import re
import tokenize
from pathlib import Path

from grader import PROJECT, REFERENCE

SKELETON = PROJECT / "skeleton" / "lab2"
MODULES = ("single_neuron", "hidden_layer", "multiclass")
_STUB = re.compile(r'^( *)raise NotImplementedError\("q\d_\d: (\w+)\.(\w+)"\)\n', re.M)

# --- the styles: {module: {"helpers": code, function: body}} -------------------------------------

_LOOPS_NET = {
    "init_params": '''
gen = np.random.default_rng(seed)
sizes = {"W1": (n_hidden, n_in), "W2": (n_out, n_hidden)}
params = {}
for layer in (1, 2):
    rows, cols = sizes["W%d" % layer]
    params["W%d" % layer] = 0.1 * gen.standard_normal((rows, cols))
    params["b%d" % layer] = np.zeros((rows, 1))
return params
''',
    "update": '''
new = {}
for name in params:
    new[name] = params[name] - lr * grads["d" + name]
return new
''',
}

LOOPS = {
    "single_neuron": {
        "sigmoid": '''
z = np.asarray(z, dtype=float)
out = np.empty_like(z)
pos = z >= 0
out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
ez = np.exp(z[~pos])
out[~pos] = ez / (1.0 + ez)
return out
''',
        "forward": "z = np.dot(W, X) + b\nreturn sigmoid(z)\n",
        "loss": '''
p = np.minimum(np.maximum(y_hat, EPS), 1 - EPS)
terms = y * np.log(p) + (1 - y) * np.log(1 - p)
return -float(terms.sum()) / y.shape[1]
''',
        "gradients": '''
n_examples = X.shape[1]
err = y_hat - y
grad_w = np.dot(err, X.T) / n_examples
grad_b = np.array([[err.sum() / n_examples]])
return grad_w, grad_b
''',
        "train": '''
history = []
epoch = 0
while epoch < epochs:
    out = forward(X, W, b)
    history.append(loss(y, out))
    grad_w, grad_b = gradients(X, y, out)
    W = W - lr * grad_w
    b = b - lr * grad_b
    epoch += 1
return W, b, history
''',
        "predict": '''
probs = forward(X, W, b)
labels = np.zeros(probs.shape, dtype=np.int64)
labels[probs >= 0.5] = 1
return labels
''',
    },
    "hidden_layer": {
        **_LOOPS_NET,
        "forward": '''
cache = {}
act = X
for layer in (1, 2):
    act = sigmoid(np.dot(params["W%d" % layer], act) + params["b%d" % layer])
    cache["A%d" % layer] = act
return act, cache
''',
        "backward": '''
n_examples = X.shape[1]
grads = {}
delta = cache["A2"] - y
inputs = {1: X, 2: cache["A1"]}
for layer in (2, 1):
    grads["dW%d" % layer] = np.dot(delta, inputs[layer].T) / n_examples
    grads["db%d" % layer] = delta.sum(axis=1, keepdims=True) / n_examples
    if layer == 2:
        a1 = cache["A1"]
        delta = np.dot(params["W2"].T, delta) * a1 * (1 - a1)
return grads
''',
        "train": '''
history = []
epoch = 0
while epoch < epochs:
    out, cache = forward(X, params)
    history.append(loss(y, out))
    params = update(params, backward(X, y, params, cache), lr)
    epoch += 1
return params, history
''',
        "predict": '''
out, _ = forward(X, params)
labels = np.zeros(out.shape, dtype=np.int64)
labels[out >= 0.5] = 1
return labels
''',
    },
    "multiclass": {
        **_LOOPS_NET,
        "one_hot": '''
labels = np.asarray(labels).ravel()
encoded = np.zeros((n_classes, len(labels)))
for col, lab in enumerate(labels):
    encoded[int(lab), col] = 1.0
return encoded
''',
        "softmax": "shifted = Z - Z.max(axis=0)\nex = np.exp(shifted)\nreturn ex / ex.sum(axis=0)\n",
        "loss": "p = np.maximum(Y_hat, EPS)\nreturn -float((Y * np.log(p)).sum()) / Y.shape[1]\n",
        "forward": '''
cache = {}
hidden = sigmoid(np.dot(params["W1"], X) + params["b1"])
cache["A1"] = hidden
out = softmax(np.dot(params["W2"], hidden) + params["b2"])
cache["A2"] = out
return out, cache
''',
        "backward": '''
n_examples = X.shape[1]
grads = {}
delta = cache["A2"] - Y
inputs = {1: X, 2: cache["A1"]}
for layer in (2, 1):
    grads["dW%d" % layer] = np.dot(delta, inputs[layer].T) / n_examples
    grads["db%d" % layer] = delta.sum(axis=1, keepdims=True) / n_examples
    if layer == 2:
        a1 = cache["A1"]
        delta = np.dot(params["W2"].T, delta) * a1 * (1 - a1)
return grads
''',
        "train": '''
history = []
epoch = 0
while epoch < epochs:
    out, cache = forward(X, params)
    history.append(loss(Y, out))
    params = update(params, backward(X, Y, params, cache), lr)
    epoch += 1
return params, history
''',
        "predict": "out, _ = forward(X, params)\nreturn out.argmax(axis=0)\n",
    },
}

_CLASS_GRADS = '''
    def grads(self, X, target, out, hidden):
        count = X.shape[1]
        d_out = out - target
        d_hidden = (self.p["W2"].T @ d_out) * hidden * (1.0 - hidden)
        return {"dW2": d_out @ hidden.T / count, "db2": d_out.sum(axis=1, keepdims=True) / count,
                "dW1": d_hidden @ X.T / count, "db1": d_hidden.sum(axis=1, keepdims=True) / count}
'''
_CLASS_NET = {
    "init_params": '''
gen = np.random.default_rng(seed)
W1 = gen.normal(scale=0.1, size=(n_hidden, n_in))
W2 = gen.normal(scale=0.1, size=(n_out, n_hidden))
return dict(W1=W1, b1=np.zeros((n_hidden, 1)), W2=W2, b2=np.zeros((n_out, 1)))
''',
    "update": 'return {name: value - lr * grads["d" + name] for name, value in params.items()}\n',
}

CLASSES = {
    "single_neuron": {
        "helpers": '''
class _Neuron:
    """One sigmoid unit that can take a gradient step."""

    def __init__(self, W, b):
        self.W = W
        self.b = b

    def output(self, X):
        return sigmoid(self.W @ X + self.b)

    def step(self, X, y, rate):
        y_hat = self.output(X)
        gW, gb = gradients(X, y, y_hat)
        self.W = self.W - rate * gW
        self.b = self.b - rate * gb
        return loss(y, y_hat)
''',
        "sigmoid": "return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))\n",
        "forward": "return _Neuron(W, b).output(X)\n",
        "loss": '''
clipped = np.clip(y_hat, EPS, 1.0 - EPS)
per_example = -(y * np.log(clipped) + (1.0 - y) * np.log(1.0 - clipped))
return float(per_example.mean())
''',
        "gradients": '''
residual = y_hat - y
count = residual.shape[1]
return residual @ X.T / count, residual.sum(axis=1, keepdims=True) / count
''',
        "train": '''
neuron = _Neuron(W, b)
losses = [neuron.step(X, y, lr) for _ in range(epochs)]
return neuron.W, neuron.b, losses
''',
        "predict": "return np.where(forward(X, W, b) >= 0.5, 1, 0)\n",
    },
    "hidden_layer": {
        **_CLASS_NET,
        "helpers": '''
class _Net:
    """The two layers, holding a copy of the parameters."""

    def __init__(self, params):
        self.p = dict(params)

    def run(self, X):
        hidden = sigmoid(self.p["W1"] @ X + self.p["b1"])
        return sigmoid(self.p["W2"] @ hidden + self.p["b2"]), hidden
''' + _CLASS_GRADS,
        "forward": 'out, hidden = _Net(params).run(X)\nreturn out, {"A1": hidden, "y_hat": out}\n',
        "backward": 'return _Net(params).grads(X, y, cache["y_hat"], cache["A1"])\n',
        "train": '''
net = _Net(params)
history = []
for _ in range(epochs):
    out, hidden = net.run(X)
    history.append(loss(y, out))
    net.p = update(net.p, net.grads(X, y, out, hidden), lr)
return net.p, history
''',
        "predict": "return (_Net(params).run(X)[0] >= 0.5).astype(np.int64)\n",
    },
    "multiclass": {
        **_CLASS_NET,
        "helpers": '''
class _SoftmaxNet:
    """A sigmoid hidden layer and a softmax output layer."""

    def __init__(self, params):
        self.p = dict(params)

    def run(self, X):
        hidden = sigmoid(self.p["W1"] @ X + self.p["b1"])
        return softmax(self.p["W2"] @ hidden + self.p["b2"]), hidden
''' + _CLASS_GRADS,
        "one_hot": '''
out = np.zeros((n_classes, np.size(labels)))
out[np.ravel(labels).astype(int), np.arange(np.size(labels))] = 1
return out
''',
        "softmax": '''
top = np.max(Z, axis=0, keepdims=True)
e = np.exp(Z - top)
return e / e.sum(axis=0, keepdims=True)
''',
        "loss": "probs = np.clip(Y_hat, EPS, None)\nreturn float(-(Y * np.log(probs)).sum(axis=0).mean())\n",
        "forward": 'out, hidden = _SoftmaxNet(params).run(X)\nreturn out, {"A1": hidden, "Y_hat": out}\n',
        "backward": 'return _SoftmaxNet(params).grads(X, Y, cache["Y_hat"], cache["A1"])\n',
        "train": '''
net = _SoftmaxNet(params)
history = []
for _ in range(epochs):
    out, hidden = net.run(X)
    history.append(loss(Y, out))
    net.p = update(net.p, net.grads(X, Y, out, hidden), lr)
return net.p, history
''',
        "predict": "return _SoftmaxNet(params).run(X)[0].argmax(axis=0)\n",
    },
}

_GRAD_PAIR = '''

def _grad_pair(delta, A_prev):
    m = A_prev.shape[1]
    return np.matmul(delta, A_prev.T) / m, np.mean(delta, axis=1, keepdims=True)
'''
_HELPERS_NET = {
    "init_params": '''
rng = np.random.default_rng(seed)
params = {"W1": rng.standard_normal((n_hidden, n_in)) * 0.1, "b1": np.zeros((n_hidden, 1))}
params["W2"] = rng.standard_normal((n_out, n_hidden)) * 0.1
params["b2"] = np.zeros((n_out, 1))
return params
''',
    "update": '''
updated = dict(params)
for name in ("W1", "b1", "W2", "b2"):
    updated[name] = updated[name] - lr * grads["d" + name]
return updated
''',
}


def _helpers_backward(target, key):
    return f'''
hidden, out = cache["A1"], cache["{key}"]
delta2 = out - {target}
delta1 = np.matmul(params["W2"].T, delta2) * hidden * (1 - hidden)
dW2, db2 = _grad_pair(delta2, hidden)
dW1, db1 = _grad_pair(delta1, X)
return {{"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}}
'''


def _helpers_train(target):
    return f'''
trace = []
for epoch in range(epochs):
    prediction, cache = forward(X, params)
    trace.append(loss({target}, prediction))
    params = update(params, backward(X, {target}, params, cache), lr)
return params, trace
'''


HELPERS = {
    "single_neuron": {
        "helpers": '''
def _affine(W, X, b):
    return np.matmul(W, X) + b


def _average_columns(M):
    return np.mean(M, axis=1, keepdims=True)
''',
        "sigmoid": "z = np.asarray(z, dtype=np.float64)\nreturn np.exp(-np.logaddexp(0.0, -z))\n",
        "forward": "return sigmoid(_affine(W, X, b))\n",
        "loss": '''
safe = np.clip(y_hat, EPS, 1 - EPS)
log_likelihood = y * np.log(safe) + (1 - y) * np.log1p(-safe)
return -float(np.mean(log_likelihood))
''',
        "gradients": '''
delta = y_hat - y
return np.matmul(delta, X.T) / X.shape[1], _average_columns(delta)
''',
        "train": '''
trace = []
for epoch in range(epochs):
    prediction = forward(X, W, b)
    trace.append(loss(y, prediction))
    step_W, step_b = gradients(X, y, prediction)
    W, b = W - lr * step_W, b - lr * step_b
return W, b, trace
''',
        "predict": "return (_affine(W, X, b) >= 0).astype(np.int64)\n",
    },
    "hidden_layer": {
        **_HELPERS_NET,
        "helpers": '''
def _layer(W, b, A):
    return sigmoid(np.matmul(W, A) + b)
''' + _GRAD_PAIR,
        "forward": '''
hidden = _layer(params["W1"], params["b1"], X)
out = _layer(params["W2"], params["b2"], hidden)
return out, {"A1": hidden, "y_hat": out}
''',
        "backward": _helpers_backward("y", "y_hat"),
        "train": _helpers_train("y"),
        "predict": "prediction, _ = forward(X, params)\nreturn (prediction >= 0.5).astype(np.int64)\n",
    },
    "multiclass": {
        **_HELPERS_NET,
        "helpers": '''
def _dense(W, b, A, activation):
    return activation(np.matmul(W, A) + b)
''' + _GRAD_PAIR,
        "one_hot": '''
flat = np.asarray(labels).astype(np.int64).ravel()
return (np.arange(n_classes)[:, None] == flat[None, :]).astype(np.float64)
''',
        "softmax": '''
Z = Z - Z.max(axis=0, keepdims=True)
return np.exp(Z - np.log(np.sum(np.exp(Z), axis=0, keepdims=True)))
''',
        "loss": "return float(-np.mean(np.sum(Y * np.log(np.maximum(Y_hat, EPS)), axis=0)))\n",
        "forward": '''
hidden = _dense(params["W1"], params["b1"], X, sigmoid)
out = _dense(params["W2"], params["b2"], hidden, softmax)
return out, {"A1": hidden, "Y_hat": out}
''',
        "backward": _helpers_backward("Y", "Y_hat"),
        "train": _helpers_train("Y"),
        "predict": "prediction, _ = forward(X, params)\nreturn np.argmax(prediction, axis=0)\n",
    },
}

_TERSE_NET = {
    "init_params": '''
g = np.random.default_rng(seed)
W1, W2 = g.normal(0, 0.1, (n_hidden, n_in)), g.normal(0, 0.1, (n_out, n_hidden))
return dict(W1=W1, b1=np.zeros((n_hidden, 1)), W2=W2, b2=np.zeros((n_out, 1)))
''',
    "update": 'return dict((k, v - lr * grads["d" + k]) for k, v in params.items())\n',
}


def _terse_forward(out, key):
    return f'''
H = sigmoid(np.einsum("ij,jk->ik", params["W1"], X) + params["b1"])
P = {out}(np.einsum("ij,jk->ik", params["W2"], H) + params["b2"])
return P, dict(A1=H, {key}=P)
'''


def _terse_backward(target, key):
    return f'''
H, P, n = cache["A1"], cache["{key}"], X.shape[1]
E2 = P - {target}
E1 = np.einsum("ji,jk->ik", params["W2"], E2) * H * (1 - H)
return dict(dW1=np.einsum("ik,jk->ij", E1, X) / n, db1=E1.mean(axis=1, keepdims=True),
            dW2=np.einsum("ik,jk->ij", E2, H) / n, db2=E2.mean(axis=1, keepdims=True))
'''


def _terse_train(target):
    return f'''
L = []
for _ in range(epochs):
    P, c = forward(X, params)
    L += [loss({target}, P)]
    params = update(params, backward(X, {target}, params, c), lr)
return params, L
'''


TERSE = {
    "single_neuron": {
        "sigmoid": "z = np.asarray(z, dtype=float)\nreturn np.reciprocal(1 + np.exp(-np.clip(z, -500, 500)))\n",
        "forward": 'return sigmoid(np.einsum("ij,jk->ik", W, X) + b)\n',
        "loss": '''
p = y_hat.clip(EPS, 1 - EPS)
return float(-(np.log(p) @ y.T + np.log(1 - p) @ (1 - y).T).item() / y.shape[1])
''',
        "gradients": 'e = y_hat - y\nreturn np.einsum("ik,jk->ij", e, X) / X.shape[1], e.mean(axis=1, keepdims=True)\n',
        "train": '''
L = []
for _ in range(epochs):
    p = forward(X, W, b)
    L += [loss(y, p)]
    gW, gb = gradients(X, y, p)
    W, b = W - lr * gW, b - lr * gb
return W, b, L
''',
        "predict": "return np.greater_equal(forward(X, W, b), 0.5).astype(np.int64)\n",
    },
    "hidden_layer": {
        **_TERSE_NET,
        "forward": _terse_forward("sigmoid", "y_hat"),
        "backward": _terse_backward("y", "y_hat"),
        "train": _terse_train("y"),
        "predict": "return np.greater_equal(forward(X, params)[0], 0.5).astype(np.int64)\n",
    },
    "multiclass": {
        **_TERSE_NET,
        "one_hot": "idx = np.asarray(labels, dtype=np.int64).reshape(-1)\nreturn np.eye(n_classes)[:, idx]\n",
        "softmax": "E = np.exp(Z - Z.max(0))\nreturn E / E.sum(0)\n",
        "loss": 'return float(-np.einsum("ij,ij->", Y, np.log(Y_hat.clip(EPS, None))) / Y.shape[1])\n',
        "forward": _terse_forward("softmax", "Y_hat"),
        "backward": _terse_backward("Y", "Y_hat"),
        "train": _terse_train("Y"),
        "predict": "return forward(X, params)[0].argmax(0)\n",
    },
}

STYLES = {"loops": LOOPS, "classes": CLASSES, "helpers": HELPERS, "terse": TERSE}


# --- building packages -------------------------------------------------------------------------------

def skeleton() -> dict[str, str]:
    """The kit's ``lab2`` as ``{"lab2/x.py": text}``: what a student who wrote nothing hands in."""
    return {f"lab2/{p.name}": p.read_text(encoding="utf-8") for p in sorted(SKELETON.glob("*.py"))}


def reference() -> dict[str, str]:
    return {f"lab2/{p.name}": p.read_text(encoding="utf-8") for p in sorted((REFERENCE / "lab2").glob("*.py"))}


def _indent(body: str, spaces: str) -> str:
    return "".join(spaces + line if line.strip() else line for line in body.strip("\n").splitlines(True)) + "\n"


def solution(style: str) -> dict[str, str]:
    """The skeleton filled in with ``style``'s bodies and helpers."""
    files = skeleton()
    for module in MODULES:
        parts = STYLES[style][module]
        name = f"lab2/{module}.py"

        def fill(match, parts=parts):
            return _indent(parts[match.group(3)], match.group(1))
        text = _STUB.sub(fill, files[name])
        if "helpers" in parts:
            first_def = text.index("\ndef ") + 1
            text = text[:first_def] + parts["helpers"].strip("\n") + "\n\n\n" + text[first_def:]
        files[name] = text
    return files


def write(files: dict[str, str], root: Path) -> Path:
    """Write ``files`` under ``root``; returns ``root / "lab2"``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "lab2"


# --- disguises ---------------------------------------------------------------------------------------

_WORDS = ("tmp", "val", "res", "acc", "foo", "arr", "mat", "vec", "thing", "stuff", "data_", "item", "my")


def _protected(files: dict[str, str]) -> set[str]:
    """Names a copier cannot rename and still pass: the contract's functions and parameters,
    imported names, attributes and keyword arguments."""
    keep = set(keyword.kwlist) | set(dir(builtins))
    keep |= {"np", "numpy", "lab2", "self", "__name__"}
    for text in skeleton().values():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef):
                keep.add(node.name)
                keep |= {a.arg for a in node.args.args}
    for text in files.values():
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                keep |= {(a.asname or a.name).split(".")[0] for a in node.names}
                keep |= set(getattr(node, "module", None) and node.module.split(".") or ())
            elif isinstance(node, ast.Attribute):
                keep.add(node.attr)
            elif isinstance(node, ast.keyword) and node.arg:
                keep.add(node.arg)
    return keep


def rename(files: dict[str, str], seed: int = 0) -> dict[str, str]:
    """Every renamable name replaced, the same way in every file."""
    rng = random.Random(seed)
    keep = _protected(files)
    names = sorted({t.string for text in files.values() for t in _tokens(text)
                    if t.type == tokenize.NAME and t.string not in keep})
    mapping = {n: f"{rng.choice(_WORDS)}{i}_{rng.randrange(100)}" for i, n in enumerate(names)}
    out = {}
    for name, text in files.items():
        lines = text.splitlines(True)
        for t in sorted((t for t in _tokens(text) if t.type == tokenize.NAME and t.string in mapping),
                        key=lambda t: t.start, reverse=True):
            (row, col), (_, end) = t.start, t.end
            line = lines[row - 1]
            lines[row - 1] = line[:col] + mapping[t.string] + line[end:]
        out[name] = "".join(lines)
    return out


def reorder(files: dict[str, str], seed: int = 0) -> dict[str, str]:
    """The top-level functions and classes of each module in another order (the module's
    header before them and its ``if __name__`` block after them stay where they are)."""
    rng = random.Random(seed)
    out = {}
    for name, text in files.items():
        tree = ast.parse(text)
        lines = text.splitlines(True)
        defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        if len(defs) < 2:
            out[name] = text
            continue
        first = min(d.lineno - len(d.decorator_list) for d in defs) - 1
        last = max(d.end_lineno for d in defs)
        blocks = ["".join(lines[d.lineno - 1 - len(d.decorator_list):d.end_lineno]).rstrip("\n") + "\n"
                  for d in defs]
        order = list(range(len(blocks)))
        while order == sorted(order):
            rng.shuffle(order)
        middle = "\n\n".join(blocks[i] for i in order)
        out[name] = "".join(lines[:first]) + middle + "".join(lines[last:])
    return out


def recomment(files: dict[str, str]) -> dict[str, str]:
    """Comments removed, new ones added above every ``return``, docstrings rewritten."""
    out = {}
    for name, text in files.items():
        lines = text.splitlines(True)
        for t in sorted((t for t in _tokens(text) if t.type == tokenize.COMMENT), key=lambda t: t.start,
                        reverse=True):
            row, col = t.start
            lines[row - 1] = lines[row - 1][:col].rstrip() + "\n"
        tree = ast.parse("".join(lines))
        docs = []
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                docs.append(body[0])
        for doc in sorted(docs, key=lambda d: d.lineno, reverse=True):
            pad = " " * doc.col_offset
            lines[doc.lineno - 1:doc.end_lineno] = [f'{pad}"""I wrote this part myself after the lecture."""\n']
        new = []
        for line in lines:
            stripped = line.lstrip()
            if stripped.startswith("return "):
                new.append(line[:len(line) - len(stripped)] + "# the answer of this step\n")
            new.append(line)
        out[name] = "# Lab 2, my work\n" + "".join(new)
    return out


def _tokens(text: str):
    return list(tokenize.generate_tokens(io.StringIO(text).readline))
