"""The reference solution against independent oracles: the maths written out again, centred
finite differences for every gradient, and the contract's conventions (dtypes, purity,
numerical stability, ``losses[k]`` before update k)."""
import copy
import warnings

import numpy as np
import pytest

from grader import REFERENCE
from grader import rubric as rubric_mod
from grader.authoring.train_reference import load_lab2

ref = load_lab2(REFERENCE)
sn, hl, mc = ref.single_neuron, ref.hidden_layer, ref.multiclass
KEYS = ("W1", "b1", "W2", "b2")

# (seed, n_in, n_hidden, m): small enough to difference every entry, varied enough to catch a
# transposed or mis-broadcast term (m = 1 included, where a sum over examples is easy to drop).
SHAPES = [(0, 5, 3, 1), (1, 12, 5, 7), (2, 20, 8, 12), (3, 9, 4, 10)]

# Centred differences, five-point stencil (f(x-2h), f(x-h), f(x+h), f(x+2h)): its truncation
# error is ~h**4 |f^(5)| / 30 and its round-off ~1e-16 |L| / h, both ~1e-13 at h = 4e-3, against
# ~1e-11 of round-off for the two-point stencil at h = 1e-5. The elementwise rel_error divides by
# each entry, and entries of ~1e-4 occur (a small pixel times a small weight): there the
# two-point stencil reaches ~1e-6, the five-point one stays near 1e-9 (worst seen: 1.6e-9 on these
# shapes; typical entries ~1e-12). A wrong term gives >1e-3.
H = 4e-3
MAX_REL_ERROR = 1e-7


# --- oracles: the maths, written out independently of the reference ------------------------

def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _bce(y, p):
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _softmax(Z):
    E = np.exp(Z - Z.max(axis=0))
    return E / E.sum(axis=0)


def _cce(Y, P):
    return float(-np.sum(Y * np.log(P)) / Y.shape[1])


def _net_loss(X, targets, params, multiclass):
    A1 = _sigmoid(params["W1"] @ X + params["b1"])
    Z2 = params["W2"] @ A1 + params["b2"]
    return _cce(targets, _softmax(Z2)) if multiclass else _bce(targets, _sigmoid(Z2))


def rel_error(x, y):
    """CS231n's ``max |x - y| / max(1e-8, |x| + |y|)``, elementwise before the max."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def numerical_gradient(f, array):
    """Centred differences of the scalar ``f()`` with respect to every entry of ``array``.

    ``array`` is perturbed in place and restored; ``f`` must read it.
    """
    grad = np.zeros_like(array)
    for i in np.ndindex(array.shape):
        old = array[i]

        def at(step, i=i, old=old):
            array[i] = old + step
            value = f()
            array[i] = old
            return value

        grad[i] = (-at(2 * H) + 8 * at(H) - 8 * at(-H) + at(-2 * H)) / (12 * H)
    return grad


def _data(seed, n_in, m, n_out=1):
    """Pixel-like inputs and random targets; binary when ``n_out`` is 1, one-hot otherwise."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 1.0, (n_in, m))
    if n_out == 1:
        return X, rng.integers(0, 2, (1, m)).astype(np.float64)
    labels = rng.integers(0, n_out, m)
    return X, np.eye(n_out)[:, labels]


def _params(seed, n_in, n_hidden, n_out):
    # Weights large enough for a non-trivial gradient, small enough that no sigmoid saturates
    # (where the reference's clipping would make the loss differ from the oracle).
    rng = np.random.default_rng(seed + 100)
    return {"W1": rng.normal(0, 0.5, (n_hidden, n_in)), "b1": rng.normal(0, 0.5, (n_hidden, 1)),
            "W2": rng.normal(0, 0.5, (n_out, n_hidden)), "b2": rng.normal(0, 0.5, (n_out, 1))}


# --- gradients -----------------------------------------------------------------------------

@pytest.mark.parametrize("seed,n_in,n_hidden,m", SHAPES)
def test_single_neuron_gradients(seed, n_in, n_hidden, m):
    X, y = _data(seed, n_in, m)
    p = _params(seed, n_in, n_hidden, 1)
    W, b = p["W1"][:1], p["b1"][:1]
    dW, db = sn.gradients(X, y, sn.forward(X, W, b))
    assert dW.shape == W.shape and np.shape(db) in ((1, 1), (), (1,))
    loss = lambda: _bce(y, _sigmoid(W @ X + b))  # noqa: E731
    assert rel_error(dW, numerical_gradient(loss, W)) < MAX_REL_ERROR
    assert rel_error(np.reshape(db, (1, 1)), numerical_gradient(loss, b)) < MAX_REL_ERROR


@pytest.mark.parametrize("seed,n_in,n_hidden,m", SHAPES)
def test_hidden_layer_backward(seed, n_in, n_hidden, m):
    X, y = _data(seed, n_in, m)
    params = _params(seed, n_in, n_hidden, 1)
    y_hat, cache = hl.forward(X, params)
    grads = hl.backward(X, y, params, cache)
    assert set(grads) == {"dW1", "db1", "dW2", "db2"}
    for k in KEYS:
        assert grads["d" + k].shape == params[k].shape, k
        numeric = numerical_gradient(lambda: _net_loss(X, y, params, False), params[k])
        assert rel_error(grads["d" + k], numeric) < MAX_REL_ERROR, k


@pytest.mark.parametrize("n_out", [10, 3])
@pytest.mark.parametrize("seed,n_in,n_hidden,m", SHAPES)
def test_multiclass_backward(seed, n_in, n_hidden, m, n_out):
    X, Y = _data(seed, n_in, m, n_out)
    params = _params(seed, n_in, n_hidden, n_out)
    Y_hat, cache = mc.forward(X, params)
    grads = mc.backward(X, Y, params, cache)
    for k in KEYS:
        assert grads["d" + k].shape == params[k].shape, k
        numeric = numerical_gradient(lambda: _net_loss(X, Y, params, True), params[k])
        assert rel_error(grads["d" + k], numeric) < MAX_REL_ERROR, k


def test_rel_error_catches_a_wrong_gradient():
    # The check is not vacuous: a gradient off by the factor m (a forgotten mean) fails it.
    seed, n_in, _, m = SHAPES[1]
    X, y = _data(seed, n_in, m)
    W, b = _params(seed, n_in, 1, 1)["W1"], np.zeros((1, 1))
    dW, _ = sn.gradients(X, y, sn.forward(X, W, b))
    numeric = numerical_gradient(lambda: _bce(y, _sigmoid(W @ X + b)), W)
    assert rel_error(dW * m, numeric) > 1e-3


# --- values against the oracles ------------------------------------------------------------

@pytest.mark.parametrize("seed,n_in,n_hidden,m", SHAPES)
def test_forward_and_losses_match_the_oracles(seed, n_in, n_hidden, m):
    X, y = _data(seed, n_in, m)
    _, Y = _data(seed, n_in, m, 10)
    p1, p10 = _params(seed, n_in, n_hidden, 1), _params(seed, n_in, n_hidden, 10)
    W, b = p1["W1"][:1], p1["b1"][:1]
    assert np.allclose(sn.forward(X, W, b), _sigmoid(W @ X + b), rtol=1e-12)
    assert sn.loss(y, sn.forward(X, W, b)) == pytest.approx(_bce(y, _sigmoid(W @ X + b)), rel=1e-12)
    assert isinstance(sn.loss(y, sn.forward(X, W, b)), float)
    assert hl.forward(X, p1)[0] == pytest.approx(_sigmoid(p1["W2"] @ _sigmoid(p1["W1"] @ X + p1["b1"]) + p1["b2"]))
    Y_hat = mc.forward(X, p10)[0]
    assert np.allclose(Y_hat.sum(axis=0), 1.0)
    assert mc.loss(Y, Y_hat) == pytest.approx(_net_loss(X, Y, p10, True), rel=1e-12)


def test_one_hot_and_predict():
    labels = np.array([3, 0, 9, 3])
    Y = mc.one_hot(labels)
    assert Y.shape == (10, 4) and Y.dtype.kind == "f"
    assert np.array_equal(Y, np.eye(10)[:, labels])
    assert np.array_equal(mc.one_hot(labels.reshape(1, -1)), Y)
    assert mc.one_hot(np.array([1, 2]), n_classes=3).tolist() == [[0, 0], [1, 0], [0, 1]]
    X, _ = _data(0, 12, 7)
    p1, p10 = _params(0, 12, 5, 1), _params(0, 12, 5, 10)
    W, b = p1["W1"][:1], p1["b1"][:1]
    assert np.array_equal(sn.predict(X, W, b), (sn.forward(X, W, b) >= 0.5).astype(int))
    assert np.array_equal(hl.predict(X, p1), (hl.forward(X, p1)[0] >= 0.5).astype(int))
    assert np.array_equal(np.ravel(mc.predict(X, p10)), np.argmax(mc.forward(X, p10)[0], axis=0))


def test_init_params():
    for mod, n_out in ((hl, 1), (mc, 10)):
        a, b = mod.init_params(seed=7), mod.init_params(seed=7)
        assert {k: v.shape for k, v in a.items()} == {"W1": (64, 784), "b1": (64, 1), "W2": (n_out, 64),
                                                      "b2": (n_out, 1)}
        assert all(np.array_equal(a[k], b[k]) for k in KEYS)
        assert not np.array_equal(a["W1"], mod.init_params(seed=8)["W1"])
        assert not np.any(a["b1"]) and not np.any(a["b2"])
        assert 0 < a["W1"].std() <= 0.1 and 0 < a["W2"].std() <= 0.1 + 0.03  # W2 has few entries
        assert len(np.unique(a["W1"])) == a["W1"].size  # symmetry broken
        small = mod.init_params(n_in=5, n_hidden=3, n_out=2, seed=0)
        assert small["W1"].shape == (3, 5) and small["W2"].shape == (2, 3)


def test_update_is_a_gradient_step():
    params = _params(0, 6, 4, 1)
    grads = {"d" + k: np.ones_like(v) for k, v in params.items()}
    for mod in (hl, mc):
        new = mod.update(params, grads, 0.25)
        assert all(np.allclose(new[k], params[k] - 0.25) for k in KEYS)


# --- float32 stays float32 -----------------------------------------------------------------

def _f32(tree):
    return {k: v.astype(np.float32) for k, v in tree.items()} if isinstance(tree, dict) else tree.astype(np.float32)


def test_float32_inputs_keep_float32_outputs():
    X, y = (_f32(a) for a in _data(1, 12, 7))
    _, Y = _data(1, 12, 7, 10)
    Y = _f32(Y)
    p1, p10 = _f32(_params(1, 12, 5, 1)), _f32(_params(1, 12, 5, 10))
    W, b = p1["W1"][:1], p1["b1"][:1]
    y_hat = sn.forward(X, W, b)
    outputs = {"sigmoid": sn.sigmoid(X), "forward": y_hat, "softmax": mc.softmax(p10["W1"] @ X)}
    outputs.update(zip(("dW", "db"), sn.gradients(X, y, y_hat)))
    W2, b2, _ = sn.train(X, y, W, b, epochs=2, lr=0.5)
    outputs.update(trained_W=W2, trained_b=b2)
    for name, mod, params, target in (("hidden", hl, p1, y), ("multi", mc, p10, Y)):
        out, cache = mod.forward(X, params)
        outputs[f"{name} forward"] = out
        grads = mod.backward(X, target, params, cache)
        new = mod.update(params, grads, 0.5)
        trained, _ = mod.train(X, target, params, epochs=2, lr=0.5)
        for k in KEYS:
            outputs[f"{name} d{k}"] = grads["d" + k]
            outputs[f"{name} updated {k}"] = new[k]
            outputs[f"{name} trained {k}"] = trained[k]
    wrong = {k: v.dtype for k, v in outputs.items() if v.dtype != np.float32}
    assert not wrong, f"float32 inputs gave other dtypes: {wrong}"
    assert isinstance(sn.loss(y, y_hat), float) and isinstance(mc.loss(Y, outputs["multi forward"]), float)


# --- numerical stability -------------------------------------------------------------------

@pytest.fixture
def strict_floats():
    """Overflow, division by zero and invalid operations raise; so does any warning.

    Underflow is allowed: exp(-1e4) rounding to 0 is exactly what the stable formulas rely on.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            yield


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_of_huge_inputs(strict_floats, dtype):
    z = np.array([[-1e4, -800.0, -30.0, 0.0, 30.0, 800.0, 1e4]], dtype=dtype)
    s = sn.sigmoid(z)
    assert s.shape == z.shape and s.dtype == dtype and np.all(np.isfinite(s))
    assert s[0, 0] == 0.0 and s[0, 3] == 0.5 and s[0, -1] == 1.0
    assert np.all(np.diff(s) >= 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_of_huge_inputs(strict_floats, dtype):
    Z = np.array([[1e4, -1e4, 0.0, 1e4], [1e4 - 1, 1e4, 0.0, -1e4], [0.0, 0.0, 0.0, 1e4]], dtype=dtype)
    S = mc.softmax(Z)
    assert S.shape == Z.shape and S.dtype == dtype and np.all(np.isfinite(S))
    assert np.allclose(S.sum(axis=0), 1.0, rtol=1e-6)
    assert np.allclose(S[:, 0], _softmax(np.array([1.0, 0.0, -1e4]).reshape(3, 1)).ravel(), rtol=1e-6)
    assert np.allclose(S[:, 3], [0.5, 0.0, 0.5])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_losses_finite_at_exact_zero_and_one(strict_floats, dtype):
    y = np.array([[1.0, 0.0, 1.0, 0.0]], dtype=dtype)
    worst = sn.loss(y, 1 - y)   # every prediction exactly wrong
    best = sn.loss(y, y.copy())  # every prediction exactly right
    # With eps = 1e-7 the worst loss is -log(1e-7) ~ 16.1 (float32 rounds 1 - eps a little).
    assert np.isfinite(worst) and 14 < worst < 17
    assert np.isfinite(best) and 0 <= best < 1e-6
    Y = np.eye(3, dtype=dtype)
    assert mc.loss(Y, Y.copy()) == pytest.approx(0.0, abs=1e-6)
    wrong = mc.loss(Y, np.roll(Y, 1, axis=0))
    assert np.isfinite(wrong) and 14 < wrong < 17


# --- purity --------------------------------------------------------------------------------

def _calls():
    X, y = _data(2, 10, 6)
    _, Y = _data(2, 10, 6, 10)
    p1, p10 = _params(2, 10, 4, 1), _params(2, 10, 4, 10)
    W, b = p1["W1"][:1].copy(), p1["b1"][:1].copy()
    y_hat = sn.forward(X, W, b)
    _, c1 = hl.forward(X, p1)
    Y_hat, c10 = mc.forward(X, p10)
    g1, g10 = hl.backward(X, y, p1, c1), mc.backward(X, Y, p10, c10)
    return [
        (sn.sigmoid, (X - 0.5,)), (sn.forward, (X, W, b)), (sn.loss, (y, y_hat)),
        (sn.gradients, (X, y, y_hat)), (sn.train, (X, y, W, b, 3, 0.5)), (sn.predict, (X, W, b)),
        (hl.forward, (X, p1)), (hl.backward, (X, y, p1, c1)), (hl.train, (X, y, p1, 3, 0.5)),
        (hl.predict, (X, p1)), (mc.one_hot, (np.array([1, 0, 4]),)), (mc.softmax, (p10["W1"] @ X,)),
        (mc.loss, (Y, Y_hat)), (mc.forward, (X, p10)), (mc.backward, (X, Y, p10, c10)),
        (mc.train, (X, Y, p10, 3, 0.5)), (mc.predict, (X, p10)),
        # update may mutate its argument (the contract does not rely on it), but never the grads.
        (hl.update, (copy.deepcopy(p1), g1, 0.5)), (mc.update, (copy.deepcopy(p10), g10, 0.5)),
    ]


def _equal(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    return a == b


@pytest.mark.parametrize("fn,args", _calls(), ids=lambda v: getattr(v, "__qualname__", "") if callable(v) else "")
def test_functions_do_not_modify_their_inputs(fn, args):
    before = copy.deepcopy(args)
    fn(*args)
    checked = args[1:] if fn in (hl.update, mc.update) else args
    expected = before[1:] if fn in (hl.update, mc.update) else before
    for i, (a, b) in enumerate(zip(checked, expected)):
        assert _equal(a, b), f"{fn.__module__}.{fn.__name__} modified argument {i}"


# --- training ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_mnist():
    X, labels = ref.data.load_mnist("train", n=300)
    return X, labels, ref.data.binary_targets(labels, 0)


def _train(model, X, labels, y, epochs):
    """Each model as the answer key trains it, with the rubric's learning rate."""
    lr = rubric_mod.load().model(model).lr
    if model == "single_neuron":
        init = (np.zeros((1, X.shape[0])), np.zeros((1, 1)))
        W, b, losses = sn.train(X, y, *init, epochs=epochs, lr=lr)
        return (W, b), losses, init
    mod, target = (hl, y) if model == "hidden_layer" else (mc, mc.one_hot(labels))
    init = mod.init_params(n_out=1 if mod is hl else 10, seed=0)
    params, losses = mod.train(X, target, init, epochs=epochs, lr=lr)
    return params, losses, init


MODELS = ["single_neuron", "hidden_layer", "multiclass"]


@pytest.mark.parametrize("model", MODELS)
def test_train_decreases_the_loss(small_mnist, model):
    _, losses, _ = _train(model, *small_mnist, epochs=40)
    assert len(losses) == 40 and all(isinstance(v, float) for v in losses)
    # With the rubric's large learning rates the first step of the binary models overshoots
    # (0.69 -> 0.70 from W = 0, 90% negatives); from then on every step must go down.
    rises = np.nonzero(np.diff(losses[1:]) >= 0)[0] + 1
    assert not rises.size, f"{model}: the loss went up after epochs {rises.tolist()}"
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("model", MODELS)
def test_losses_k_is_computed_before_update_k(small_mnist, model):
    X, labels, y = small_mnist
    _, losses, init = _train(model, X, labels, y, epochs=3)
    after_one, _, _ = _train(model, X, labels, y, epochs=1)
    if model == "single_neuron":
        first = sn.loss(y, sn.forward(X, *init))
        second = sn.loss(y, sn.forward(X, *after_one))
    elif model == "hidden_layer":
        first, second = (sn.loss(y, hl.forward(X, p)[0]) for p in (init, after_one))
    else:
        Y = mc.one_hot(labels)
        first, second = (mc.loss(Y, mc.forward(X, p)[0]) for p in (init, after_one))
    assert losses[0] == pytest.approx(first, rel=1e-12)
    assert losses[1] == pytest.approx(second, rel=1e-12)
    if model == "single_neuron":
        assert losses[0] == pytest.approx(np.log(2), rel=1e-12)  # W = 0, b = 0: y_hat = 0.5 everywhere
