"""The three models' forward pass, loss and prediction in plain numpy, run in the grader.

The trusted side of the training checks: a student's ``train`` returns its parameters, and the
loss and the test accuracy that decide the points are computed here from them, never in the
student's process (whose numpy, modules and files are the student's). Written from the
contract (``docs/assignment.md``), in float64, stable (``exp(-|z|)`` sigmoid, max-shifted
softmax, logs clipped at 1e-7 like the reference) and deliberately independent of ``lab2``.

``module`` is a ``lab2`` module name, described in ``lab2check.questions.MODULES``: one layer
(``single_neuron``: params ``W (1, n)``, ``b (1, 1)``) or two (``hidden_layer``, ``multiclass``:
``W1 (h, n)``, ``b1 (h, 1)``, ``W2 (k, h)``, ``b2 (k, 1)``), with one output (a sigmoid) or ten
(a softmax).
"""
import numpy as np

from lab2check.questions import MODULES

EPS = 1e-7


def sigmoid(Z):
    e = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(Z):
    E = np.exp(Z - Z.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


def forward(module: str, X, params: dict):
    """``y_hat`` of shape ``(1, m)`` (binary models) or ``Y_hat`` of shape ``(10, m)``."""
    X = np.asarray(X, np.float64)
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    if MODULES[module].layers == 1:
        return sigmoid(p["W"] @ X + p["b"])
    A1 = sigmoid(p["W1"] @ X + p["b1"])
    Z2 = p["W2"] @ A1 + p["b2"]
    return softmax(Z2) if MODULES[module].outputs > 1 else sigmoid(Z2)


def per_example_loss(module: str, Y, Y_hat):
    """``(m,)``: the binary or categorical cross-entropy of each example (column)."""
    Y = np.asarray(Y, np.float64)
    if MODULES[module].outputs > 1:
        return -np.sum(Y * np.log(np.clip(Y_hat, EPS, 1.0)), axis=0)
    Y_hat = np.clip(Y_hat, EPS, 1 - EPS)
    return -np.sum(Y * np.log(Y_hat) + (1 - Y) * np.log(1 - Y_hat), axis=0)


def loss(module: str, Y, Y_hat) -> float:
    """Mean binary cross-entropy (binary models) or mean categorical cross-entropy over the m examples."""
    return float(np.mean(per_example_loss(module, Y, Y_hat)))


def predict(module: str, X, params: dict):
    """``(m,)`` labels: 0/1 (``y_hat >= 0.5``) or the argmax over the 10 classes."""
    Y_hat = forward(module, X, params)
    return np.argmax(Y_hat, axis=0) if MODULES[module].outputs > 1 else (Y_hat[0] >= 0.5).astype(np.int64)
