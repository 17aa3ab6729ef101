"""The check ladder, cheap to precise, and the messages it writes.

exists -> type -> shape -> finite -> values. Every message leads with the call, gives what came
back and what was expected (shapes; the worst element's index with both values, the absolute
and relative error) and, when the wrong result is recognised, the ``[mistake:<id>]`` advice.
"""
from dataclasses import dataclass

import numpy as np

from lab2check import mistakes


@dataclass
class Outcome:
    passed: bool
    message: str = ""
    mistake: str | None = None
    credit: float = 1.0        # the share of the check's points kept (1 when passed)
    own_loss: bool = False     # credit given because the gradient matches the student's own (wrong) loss
    also: tuple = ()           # further catalogue ids named by the same check, independent of ``mistake``
    blind: bool = False        # a pass taken back: the case cannot tell the mistake named on the others

    @property
    def ids(self) -> tuple:
        """Every catalogue id this outcome names, the leading one first."""
        return ((self.mistake,) if self.mistake else ()) + tuple(self.also)

    @classmethod
    def fail(cls, message: str, mistake: str | None = None, *, also: tuple = ()) -> "Outcome":
        """A failed check that keeps nothing of its points (credit 0): what most failures are.
        ``Outcome.fail("loss(...): returned None")``, or with the catalogue id it names."""
        return cls(False, message, mistake, 0.0, also=also)


def fmt(x) -> str:
    x = float(x)
    return f"{x:.6g}" if np.isfinite(x) else str(x)


def _index(i) -> str:
    return "[" + ", ".join(str(int(j)) for j in i) + "]" if len(i) else "the value"


def _with_diagnosis(message, mistake):
    return Outcome(False, f"{message} {mistakes.tag(mistake)}" if mistake else message, mistake, 0.0)


def compare(label, got, got_type, expected, *, rtol, atol, shapes=(), variants=None, m=None,
            quantity="output", exact=False, finite_only=False, above=None) -> Outcome:
    """Compare one returned value with the expected array.

    ``label`` names the value in the call ("dW1 of backward(X, y, params, cache), X (6, 5) float64");
    ``got`` is a plain array or None (not numeric data), ``got_type`` describes what was returned;
    ``shapes`` are other accepted shapes (e.g. ``()`` for a loss); ``exact`` compares labels;
    ``finite_only`` asks only for finite values, each more than ``above`` when given (a loss
    whose value depends on the student's clipping eps, but is never 0 for wrong predictions).
    """
    expected = np.asarray(expected)
    want = f"an ndarray of shape {tuple(expected.shape)}" if expected.ndim else "a float"
    if got is None:
        if got_type == "NoneType":
            return Outcome(False, f"{label}: returned None, expected {want} (a missing return?)", None, 0.0)
        return Outcome(False, f"{label}: returned {got_type}, expected {want}", None, 0.0)
    if got_type.startswith("ndarray subclass"):
        return Outcome(False, f"{label}: returned an {got_type}, expected a plain np.ndarray "
                              "(np.asarray(result) converts it)", None, 0.0)
    if got.dtype.kind == "b" and not exact:
        got = got.astype(np.float64)
    ok_shapes = {tuple(expected.shape), *map(tuple, shapes)}
    if tuple(got.shape) not in ok_shapes:
        mistake = mistakes.diagnose(got, expected, variants, m=m, quantity=quantity)
        return _with_diagnosis(f"{label}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}", mistake)
    got = got.reshape(expected.shape)
    if exact:
        # Compared as numbers: a cast to int truncated 0.3 to 0 (one_hot returning Y + 0.3, or
        # predict returning probabilities, passed) and warned on NaN.
        wrong: np.ndarray | list = (np.argwhere(got.astype(np.float64) != expected.astype(np.float64))
                                     if got.size else [])
        if len(wrong):
            i = tuple(wrong[0])
            mistake = mistakes.diagnose(got, expected, variants, m=m, quantity="labels")
            return _with_diagnosis(f"{label}: {len(wrong)} of {got.size} values differ; first at {_index(i)}: "
                                   f"got {got[i]}, expected {expected[i]}", mistake)
        return Outcome(True)
    with np.errstate(all="ignore"):
        g, e = got.astype(np.float64), expected.astype(np.float64)
        bad = ~np.isfinite(g) & np.isfinite(e)
        if bad.any():
            i = tuple(np.argwhere(bad)[0])
            mistake = mistakes.diagnose(got, expected, variants, m=m, quantity=quantity)
            return _with_diagnosis(f"{label}: {int(bad.sum())} of {g.size} values are not finite; first at "
                                   f"{_index(i)}: got {fmt(g[i])}, expected {fmt(e[i])}", mistake)
        if finite_only:
            low: np.ndarray | list = np.argwhere(~(g > above)) if above is not None else []
            if len(low):
                i = tuple(low[0])
                return Outcome(False, f"{label}: got {fmt(g[i])}, expected more than {above:g}: wrong predictions "
                                      "cost a positive loss", None, 0.0)
            return Outcome(True)
        # An entry much smaller than the array's largest is held to a tenth of that scale: the
        # round-off of a correct float32 computation is relative to the sums that make the entry
        # (seen: 3e-9 on a 6e-5 entry of dW1), while a real mistake is off by the entry's own size.
        scale = 0.1 * float(np.max(np.abs(e))) if e.size else 0.0
        excess = np.abs(g - e) - (atol + rtol * np.maximum(np.abs(e), scale))
        if not np.any(excess > 0):
            return Outcome(True)
        i = np.unravel_index(int(np.argmax(excess)), g.shape)
        err = abs(g[i] - e[i])
        rel = err / max(abs(e[i]), 1e-300)
    mistake = mistakes.diagnose(got, expected, variants, m=m, quantity=quantity)
    n_bad = int(np.sum(excess > 0))
    return _with_diagnosis(
        f"{label}: {n_bad} of {g.size} values differ (rtol={rtol:g}, atol={atol:g}); worst at {_index(i)}: "
        f"got {fmt(g[i])}, expected {fmt(e[i])} (abs error {fmt(err)}, rel error {fmt(rel)})", mistake)
