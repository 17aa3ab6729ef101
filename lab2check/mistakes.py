"""The catalogue of known mistakes, and how to recognise them in a wrong result.

Two kinds of evidence:
- *variants*: the output of a known mistaken implementation on the same inputs (the grader
  computes them from the reference with one scripted edit each, ``grader/answers/mutations.py``; the
  kit ships them in its fixture file). A wrong result equal to a variant names that mistake.
- *shapes of the error*: the transpose of the expected array, a constant factor (m, -1, any
  other), a bias gradient summed over every axis. These need no variant.

A recognised mistake appears in messages as ``[mistake:<id>]`` followed by one sentence of advice.

Each mistake has a *scope*, declared beside it in ``CATALOGUE``:
- ``general``: the formula is wrong; it may coincide with the right answer on a degenerate
  case (a summed loss on one example, a whole-matrix softmax on one column), and a pass there
  proves nothing (``checks.without_blind_passes`` takes it back);
- ``edge``: right in exact arithmetic wherever the computation is finite, wrong only where a
  value is exactly 0 or 1 or overflows (no clipping, an unshifted or globally shifted softmax).
  Every case it gets right keeps its credit; the edge cases it fails are named with its id.
"""
import numpy as np

GENERAL, EDGE = "general", "edge"

# id -> (scope, advice): every known mistake, the scope declared beside it (see above). No id holds
# "hidden": the kit's fixture names carry the ids, and a test refuses any name that says "hidden".
CATALOGUE = {
    "no-clipping": (EDGE, "log(0) is -inf: clip y_hat to [eps, 1 - eps] (eps at most 1e-7) before taking logs."),
    "missing-mean": (GENERAL,
        "the result is m times too large: average over the m examples (divide by m, or use np.mean), "
        "don't just sum."),
    "wrong-normalisation": (GENERAL,
        "the result is off by a constant factor: divide by m = X.shape[1], the number of "
        "examples in this call, exactly once."),
    "tanh-derivative": (GENERAL,
        "1 - A1**2 is the derivative of tanh; the derivative of the sigmoid is A1 * (1 - A1)."),
    "bias-gradient-shape": (GENERAL,
        "a bias gradient sums over the examples only: np.sum(dZ, axis=1, keepdims=True) / m, "
        "shape (n_units, 1)."),
    "transposed": (GENERAL,
        "the result is the transpose of the expected array: check the order of the matrix product "
        "(dZ @ X.T for dW) or a stray .T."),
    "softmax-unstable": (EDGE,
        "exp overflows for large inputs: subtract each column's max before np.exp "
        "(softmax(z) = softmax(z - max z))."),
    "softmax-wrong-axis": (GENERAL,
        "softmax normalises each column (one example per column): use axis=0 with "
        "keepdims=True, not axis=1."),
    "sigmoid-output-multiclass": (GENERAL,
        "the 10 outputs go through a softmax, not a sigmoid: the columns of Y_hat must "
        "sum to 1."),
    "gradient-sign": (GENERAL,
        "the sign is flipped: dZ = y_hat - y (not y - y_hat), and the update subtracts lr * gradient."),
    "loss-per-example": (GENERAL,
        "the loss is one number, the mean over the m examples: return a float (np.mean of the "
        "per-example losses), not the vector of per-example losses."),
    "fixed-m": (GENERAL,
        "the result is divided by a fixed m (60000, the size of the whole training set?): use "
        "m = X.shape[1] (or y.shape[1]), the number of examples of this call, not a global."),
    "loss-over-classes": (GENERAL,
        "the categorical cross-entropy sums over the 10 classes and averages over the m examples "
        "only: -np.sum(Y * log(Y_hat)) / m, not np.mean over the whole (10, m) matrix."),
    "binary-loss-multiclass": (GENERAL,
        "with a softmax output the loss is the categorical cross-entropy "
        "-sum(Y * log(Y_hat)) / m: the (1 - Y) * log(1 - Y_hat) term belongs to the "
        "binary (sigmoid) loss only."),
    "cross-entropy-y1-only": (GENERAL,
        "the binary cross-entropy has two terms: y * log(y_hat) + (1 - y) * log(1 - y_hat); "
        "without the second, examples with y = 0 cost nothing."),
    "loss-on-rounded": (GENERAL,
        "the loss is computed on rounded predictions: use the probabilities y_hat themselves "
        "(np.round makes it flat and mostly log(eps))."),
    "softmax-global-max": (EDGE,
        "subtract each column's max (np.max(Z, axis=0, keepdims=True)), not the max of the "
        "whole matrix: with very different columns every exp of a column underflows to 0."),
    "softmax-whole-matrix": (GENERAL,
        "softmax normalises each column (one example per column): divide by "
        "np.sum(E, axis=0, keepdims=True), not by the sum of the whole matrix."),
    "extra-sigmoid-derivative": (GENERAL,
        "with the cross-entropy loss, dL/dZ = y_hat - y already: the y_hat * (1 - y_hat) "
        "of the sigmoid cancels, so don't multiply by it again."),
    "bias-update-no-lr": (GENERAL, "the bias moves by lr times its gradient too: b = b - lr * db."),
    "lr-ignored": (GENERAL, "the update must use the lr train was given (p - lr * dp), not a constant or a global."),
    "tanh-activation": (GENERAL,
        "the hidden layer of this lab uses the sigmoid, A1 = sigmoid(W1 @ X + b1), not np.tanh."),
    "missing-activation": (GENERAL,
        "the hidden layer needs its activation: A1 = sigmoid(W1 @ X + b1), then "
        "Z2 = W2 @ A1 + b2 (without it the two layers are one linear map), and "
        "backward multiplies by its derivative A1 * (1 - A1)."),
    "init-wrong-shape": (GENERAL,
        "W1 is (n_hidden, n_in) and W2 is (n_out, n_hidden) (so that W1 @ X works with X of shape "
        "(n_in, m)): the shape is transposed."),
    "hard-coded-size": (GENERAL,
        "backward must work for any number of hidden units: take the sizes from the arrays "
        "(W1.shape, A1.shape), not a hard-coded 64."),
    "predict-wrong-axis": (GENERAL,
        "the classes are the rows: np.argmax(Y_hat, axis=0) gives one label per example "
        "(column), shape (m,)."),
    "predict-unit-0": (GENERAL,
        "the 10-class prediction is the most probable class, np.argmax(Y_hat, axis=0), not a "
        "threshold on the first output unit (Part 2's rule)."),
    "loss-after-update": (GENERAL,
        "losses[k] is the loss of epoch k's forward pass, before that epoch's update: record it "
        "before updating the parameters."),
    "mini-batches": (GENERAL,
        "this lab trains with full-batch gradient descent: one update per epoch on all m examples, "
        "no mini-batches."),
    "train-subset": (GENERAL,
        "train uses every example of the X and y it is given (no validation split, no slice, no "
        "global X_train)."),
}

ADVICE = {k: advice for k, (_, advice) in CATALOGUE.items()}
SCOPE = {k: scope for k, (scope, _) in CATALOGUE.items()}

# Mistakes that are a factor of m: a case with one example (m = 1) cannot show them.
M_FACTOR = frozenset({"missing-mean", "wrong-normalisation", "fixed-m"})
FULL_M = 60000  # the size of MNIST's training set: the m a "fixed-m" mistake divides by


def tag(mistake: str) -> str:
    """The text a message carries for a recognised mistake."""
    return f"[mistake:{mistake}] {ADVICE[mistake]}"


def same(got, expected, rtol=1e-5, atol=1e-8) -> bool:
    """Equal shapes and values, NaN matching NaN and inf matching inf of the same sign."""
    got, expected = np.asarray(got), np.asarray(expected)
    if got.shape != expected.shape:
        return False
    with np.errstate(all="ignore"):
        return bool(np.allclose(got.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol,
                                equal_nan=True))


def _scale(got, expected):
    """The factor c with got == c * expected, or None when there is none."""
    g, e = got.astype(np.float64).ravel(), expected.astype(np.float64).ravel()
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(e))):
        return None
    denom = float(e @ e)
    if denom == 0.0:
        return None
    c = float(g @ e) / denom
    return c if np.allclose(g, c * e, rtol=1e-5, atol=1e-10 * max(1.0, abs(c))) else None


def mistake_of(key: str) -> str:
    """The catalogue id of a variant key: "fixed-m#2" is the second variant of "fixed-m"."""
    return key.split("#")[0]


def visible(mistake: str, m=None) -> bool:
    """Whether a call with ``m`` examples can show ``mistake`` at all: never an m-factor on m = 1."""
    return not (mistake in M_FACTOR and m == 1)


def distance(got, variant) -> float:
    """How far ``got`` is from ``variant``, relative to the variant's largest value: 0 where they
    are equal (NaN matching NaN, inf matching inf of the same sign), inf for another shape or a
    non-finite value on one side only."""
    g, v = np.asarray(got, np.float64), np.asarray(variant, np.float64)
    if g.shape != v.shape:
        return float("inf")
    with np.errstate(all="ignore"):
        equal = (g == v) | (np.isnan(g) & np.isnan(v))
        if np.any(~equal & ~(np.isfinite(g) & np.isfinite(v))):
            return float("inf")
        finite = np.isfinite(v)
        scale = float(np.max(np.abs(v[finite]))) if finite.any() else 0.0
        err = float(np.max(np.where(equal, 0.0, np.abs(g - v)))) if g.size else 0.0
    return err / scale if scale > 0 else (0.0 if err == 0 else float("inf"))


# A variant names a mistake only when it is clearly the closest explanation of the output: this
# many times closer than any other mistake's variant, and than the right answer itself.
CLOSER = 2.0


def closest_variant(got, expected, variants, m=None, close=same):
    """The catalogue id whose variant explains ``got`` best, or None.

    A candidate is a variant that differs from ``expected`` (the case can tell it), is visible
    with ``m`` examples, and that ``got`` matches (``close``). Among them the one with the
    smallest ``distance`` is named only when it is ``CLOSER`` times closer than every variant of
    another id and than ``expected``: a hidden layer with no activation is within tolerance of
    tanh's variant on small weights (tanh z ~ z), but its own variant fits better.
    """
    scored = []
    for key, variant in (variants or {}).items():
        if variant is None or not visible(mistake_of(key), m):
            continue
        if not close(variant, expected):
            scored.append((distance(got, variant), mistake_of(key), close(got, variant)))
    matches = sorted((d, k) for d, k, ok in scored if ok)
    if not matches:
        return None
    best, mistake = matches[0]
    rivals = [d for d, k, _ in scored if k != mistake] + [distance(got, expected)]
    return mistake if all(d > best and d >= CLOSER * best for d in rivals) else None  # a tie explains nothing


def diagnose(got, expected, variants=None, *, m=None, quantity="output"):
    """The catalogue id that explains ``got`` instead of ``expected``, or None.

    ``variants`` maps mistake keys to what that mistake returns on the same inputs; ``m`` is the
    number of examples of the call; ``quantity`` is "gradient", "loss", "output" or "labels"
    (a sign flip is only a gradient mistake; labels are matched with variants only). A mistake
    is named only where the case can tell it from the right answer: its variant differs from
    ``expected``, and an m-factor needs m > 1.
    """
    got = np.asarray(got) if got is not None else None
    expected = np.asarray(expected)
    if got is None:
        return None
    closest = closest_variant(got, expected, variants, m)
    if closest:
        return closest
    if quantity == "labels":
        return None  # labels are compared exactly: no factor or transpose explains them
    if got.shape != expected.shape:
        if expected.ndim == 2 and got.shape == expected.T.shape and same(got, expected.T):
            return "transposed"
        if quantity == "gradient" and expected.ndim == 2 and expected.shape[1] == 1 and expected.shape[0] > 1:
            if got.size == 1 or got.shape in ((expected.shape[0],), (1, expected.shape[0])) or \
                    (got.ndim == 2 and got.shape[0] == expected.shape[0] and got.shape[1] > 1):
                return "bias-gradient-shape"
        return None
    if quantity == "gradient" and expected.ndim == 2 and expected.shape[1] == 1 and expected.shape[0] > 1 \
            and same(got, np.full(expected.shape, expected.sum())):
        return "bias-gradient-shape"  # one value shared by every unit: summed over both axes
    c = _scale(got, expected)
    if c is None or abs(c - 1) < 1e-6 or abs(c) < 1e-12:
        return None  # a result of zeros is no scaled version of anything
    if m and m > 1 and abs(abs(c) - m) < 1e-6 * m:
        return "missing-mean" if c > 0 or quantity != "gradient" else "gradient-sign"
    if quantity == "gradient" and abs(c + 1) < 1e-6:
        return "gradient-sign"
    # Divided by the whole training set's 60000 instead of this call's m, whatever the function.
    if m and m > 1 and abs(c - m / FULL_M) < 1e-6 * c:
        return "fixed-m"
    # A positive constant factor only: a negated output is no normalisation (its advice would mislead).
    if m and m > 1 and c > 0 and (expected.size >= 2 or abs(c * m - 1) < 1e-6):
        return "wrong-normalisation"
    return None
