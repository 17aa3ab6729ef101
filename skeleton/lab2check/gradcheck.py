"""Centred differences split in two: the perturbed parameters, then the gradient from the losses.

The grader never lets the student's process form a number that decides a point. For a
gradient check it builds every perturbed parameter set here (``perturb``), the student's
process only evaluates its own ``loss(y, forward(X, params))`` at each of them (the probe
``losses_at``), and the grader turns those values into the numeric gradient (``numeric``) in
its own process. Patching anything in the child (this module included) cannot change them.

Five points per entry, ``p + 2h, p + h, p - h, p - 2h``: the error is O(h^4) (about 1e-12
with h = 1e-3) against O(h^2) for two points, so small gradient entries (1e-5) keep a relative
error near 1e-7, far below the check's threshold.
"""
import numpy as np

H = 1e-3
STEPS = (2.0, 1.0, -1.0, -2.0)
WEIGHTS = (-1.0, 8.0, -8.0, 1.0)  # f(p+2h), f(p+h), f(p-h), f(p-2h) -> 12 h f'(p)


def perturb(params: dict, h: float = H) -> dict:
    """``{name: array of shape (K,) + params[name].shape}``: the K = 4 * (number of entries)
    parameter sets, entry by entry in the order of ``params``, each with one entry moved."""
    names = list(params)
    total = sum(np.size(params[k]) for k in names)
    stacks = {k: np.repeat(np.asarray(params[k], np.float64)[None], len(STEPS) * total, axis=0) for k in names}
    row = 0
    for k in names:
        for i in np.ndindex(np.shape(params[k])):
            for step in STEPS:
                stacks[k][(row,) + i] += step * h
                row += 1
    return stacks


def numeric(losses, params: dict, h: float = H) -> dict:
    """The centred-difference gradient ``{name: array shaped like params[name]}`` from the
    losses at the sets ``perturb(params, h)`` made, in the same order."""
    values = np.asarray(losses, np.float64).reshape(-1, len(STEPS))
    grads = values @ np.asarray(WEIGHTS) / (12 * h)
    out, start = {}, 0
    for k, p in params.items():
        n = int(np.size(p))
        out[k] = grads[start:start + n].reshape(np.shape(p))
        start += n
    return out


def count(params: dict) -> int:
    """How many loss values ``numeric`` needs for ``params``."""
    return len(STEPS) * sum(int(np.size(p)) for p in params.values())
