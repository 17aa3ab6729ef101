"""The catalogue of known mistakes, and how to recognise them in a wrong result.

Two kinds of evidence:
- *variants*: the output of a known mistaken implementation on the same inputs (the grader
  computes them from the reference with one scripted edit each, ``grader/mutations.py``; the
  kit ships them in its fixture file). A wrong result equal to a variant names that mistake.
- *shapes of the error*: the transpose of the expected array, a constant factor (m, -1, any
  other), a bias gradient summed over every axis. These need no variant.

A recognised mistake appears in messages as ``[mistake:<id>]`` followed by one sentence of advice.
"""
import numpy as np

ADVICE = {
    "no-clipping": "log(0) is -inf: clip y_hat to [eps, 1 - eps] (eps at most 1e-7) before taking logs.",
    "missing-mean": "the result is m times too large: average over the m examples (divide by m, or use np.mean), "
                    "don't just sum.",
    "wrong-normalisation": "the result is off by a constant factor: divide by m = X.shape[1], the number of "
                           "examples in this call, exactly once.",
    "tanh-derivative": "1 - A1**2 is the derivative of tanh; the derivative of the sigmoid is A1 * (1 - A1).",
    "bias-gradient-shape": "a bias gradient sums over the examples only: np.sum(dZ, axis=1, keepdims=True) / m, "
                           "shape (n_units, 1).",
    "transposed": "the result is the transpose of the expected array: check the order of the matrix product "
                  "(dZ @ X.T for dW) or a stray .T.",
    "softmax-unstable": "exp overflows for large inputs: subtract each column's max before np.exp "
                        "(softmax(z) = softmax(z - max z)).",
    "softmax-wrong-axis": "softmax normalises each column (one example per column): use axis=0 with "
                          "keepdims=True, not axis=1 or the whole matrix.",
    "sigmoid-output-multiclass": "the 10 outputs go through a softmax, not a sigmoid: the columns of Y_hat must "
                                 "sum to 1.",
    "gradient-sign": "the sign is flipped: dZ = y_hat - y (not y - y_hat), and the update subtracts lr * gradient.",
}


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


def diagnose(got, expected, variants=None, *, m=None, quantity="output"):
    """The catalogue id that explains ``got`` instead of ``expected``, or None.

    ``variants`` maps mistake ids to what that mistake returns on the same inputs; ``m`` is the
    number of examples of the call; ``quantity`` is "gradient", "loss" or "output" (a sign
    flip is only a gradient mistake).
    """
    got = np.asarray(got) if got is not None else None
    expected = np.asarray(expected)
    if got is None:
        return None
    for mistake, variant in (variants or {}).items():
        if variant is not None and not same(variant, expected) and same(got, variant):
            return mistake.split("#")[0]  # "softmax-wrong-axis#2": a second variant of one mistake
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
    if c is None or abs(c - 1) < 1e-6:
        return None
    if m and m > 1 and abs(abs(c) - m) < 1e-6 * m:
        return "missing-mean" if c > 0 or quantity != "gradient" else "gradient-sign"
    if quantity == "gradient" and abs(c + 1) < 1e-6:
        return "gradient-sign"
    if expected.size >= 2 or (m and m > 1 and abs(c * m - 1) < 1e-6):
        return "wrong-normalisation"
    return None
