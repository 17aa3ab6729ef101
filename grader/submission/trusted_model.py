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

``variant`` (``VARIANTS``): a catalogue mistake that builds another model rather than computing
this one wrongly (tanh hidden units, sigmoid outputs for the 10 classes): a training question
also judges the returned parameters in that model when the unit checks named the mistake
(``grader/submission/training.py``), so the mistake is charged once, in the unit checks. The loss of a
variant is the contract's loss of that model's outputs (sigmoid outputs normalised per column).
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from lab2check.questions import MODULES

EPS = 1e-7


def sigmoid(Z):
    e = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(Z):
    E = np.exp(Z - Z.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


@dataclass(frozen=True)
class Variant:
    """Another model a student may build: ``hidden`` replaces the hidden layer's sigmoid,
    ``output`` the softmax of the 10-class output; ``applies(module)`` says where it can occur."""
    hidden: Callable | None = None
    output: Callable | None = None
    # Outputs that are no distribution over the classes (sigmoids) are judged normalised per
    # column (``_normalised``); ``forward(..., as_built=True)`` gives them as the student's
    # network computes them (what its recorded losses are the loss of).
    normalise: bool = False

    def applies(self, module: str) -> bool:
        spec = MODULES[module]
        return spec.layers == 2 and (self.output is None or spec.outputs > 1)


# Catalogue id (lab2check.mistakes) -> the model it builds (missing-activation: Z1 fed straight
# to the output layer).
VARIANTS = {
    "tanh-activation": Variant(hidden=np.tanh),
    "missing-activation": Variant(hidden=lambda Z: Z),
    "sigmoid-output-multiclass": Variant(output=sigmoid, normalise=True),
}


def _normalised(S):
    """Sigmoid outputs as a distribution over the classes (each column divided by its sum): the
    categorical loss of raw sigmoids ignores the wrong classes, so outputs that are all 1 would
    score 0; normalised they score log(10), and a network that learnt each class's sigmoid keeps
    its probabilities. The argmax, hence the accuracy, is the sigmoids'."""
    return S / np.maximum(S.sum(axis=0, keepdims=True), 1e-300)


def variants_of(module: str, named) -> tuple[str, ...]:
    """The ids among ``named`` that build another model of ``module``, sorted (a stable order)."""
    return tuple(sorted(v for v in set(named) if v in VARIANTS and VARIANTS[v].applies(module)))


def forward(module: str, X, params: dict, variant: str | None = None, as_built: bool = False):
    """``y_hat`` of shape ``(1, m)`` (binary models) or ``Y_hat`` of shape ``(10, m)``; in the
    model of ``variant`` (a ``VARIANTS`` id) when given, its outputs as judged (normalised) or,
    with ``as_built``, as that network gives them."""
    X = np.asarray(X, np.float64)
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    if MODULES[module].layers == 1:
        return sigmoid(p["W"] @ X + p["b"])
    other = VARIANTS[variant] if variant else Variant()
    with np.errstate(over="ignore"):  # a linear hidden layer may overflow: the loss says so
        A1 = (other.hidden or sigmoid)(p["W1"] @ X + p["b1"])
        Z2 = p["W2"] @ A1 + p["b2"]
    if MODULES[module].outputs > 1:
        out = (other.output or softmax)(Z2)
        return _normalised(out) if other.normalise and not as_built else out
    return sigmoid(Z2)


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


def predict(module: str, X, params: dict, variant: str | None = None):
    """``(m,)`` labels: 0/1 (``y_hat >= 0.5``) or the argmax over the 10 classes."""
    Y_hat = forward(module, X, params, variant)
    return np.argmax(Y_hat, axis=0) if MODULES[module].outputs > 1 else (Y_hat[0] >= 0.5).astype(np.int64)
