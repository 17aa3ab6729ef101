"""Centred differences split in two: the perturbed parameters, then the gradient from the losses.

The grader never lets the student's process form a number that decides a point. For a
gradient check it builds every perturbed parameter set here (``perturb``), the student's
process only evaluates its own ``loss(y, forward(X, params))`` at each of them (the probe
``losses_at``), and the grader turns those values into the numeric gradient (``numeric``) in
its own process. Patching anything in the child (this module included) cannot change them.

The grader sends the perturbed sets mixed with ``REPEATS`` copies of the point itself, in an
order drawn from the case (``mixed``): every set is evaluated by the same code, so the
student's process cannot answer the point and its perturbations differently without the grader
seeing that the values do not fit together (``lab2check.checks``: the own-loss credit).

Five points per entry, ``p + 2h, p + h, p - h, p - 2h``: the error is O(h^4) (about 1e-12
with h = 1e-3) against O(h^2) for two points, so small gradient entries (1e-5) keep a relative
error near 1e-7, far below the check's threshold.
"""
import hashlib

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


REPEATS = 4  # copies of the point among the perturbed sets


def mixed(stacks: dict, point: dict, key: bytes) -> tuple[dict, np.ndarray]:
    """``(stacks with REPEATS copies of point added, order)``: row ``i`` of the result is row
    ``order[i]`` of ``stacks`` (``>= K``: a copy of the point), in an order drawn from ``key``."""
    total = len(next(iter(stacks.values())))
    seed = int.from_bytes(hashlib.sha256(key).digest()[:8], "big")
    order = np.random.default_rng(seed).permutation(total + REPEATS)
    out = {}
    for k, v in stacks.items():
        rows = np.concatenate([np.asarray(v, np.float64), np.repeat(np.asarray(point[k], np.float64)[None],
                                                                     REPEATS, axis=0)])
        out[k] = rows[order]
    return out, order


def unmixed(values, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(the K values at the perturbed sets in perturb's order, the REPEATS values at the point)``
    from the values at the sets ``mixed`` sent, in its order."""
    values = np.asarray(values, np.float64).ravel()
    back = np.empty(order.size)
    back[order] = values
    return back[:-REPEATS], back[-REPEATS:]


def key_of(case_id: str, arrays: dict) -> bytes:
    """What ``mixed`` draws a case's order from: its id and its inputs (deterministic)."""
    h = hashlib.sha256(case_id.encode())
    for name in sorted(arrays):
        h.update(name.encode() + np.ascontiguousarray(arrays[name]).tobytes())
    return h.digest()
