"""Turn whatever student code returned into plain numeric arrays, and describe it.

Only plain data crosses from the student's process to the grader: an exact ``np.ndarray`` of a
numeric dtype. ``encode`` keeps a description of the original type so that the checks can say
"returned a list" or "returned an ndarray subclass"; the data of an ndarray subclass is viewed
as a base ndarray, so none of its methods ever runs again.
"""
import numbers

import numpy as np

NUMERIC_KINDS = "biuf"


def describe(value) -> str:
    """A short name for the type of ``value``, as shown in messages."""
    if type(value) is np.ndarray:
        return f"ndarray of {value.dtype}" if value.dtype.kind in NUMERIC_KINDS else f"ndarray of dtype {value.dtype}"
    if isinstance(value, np.ndarray):
        return f"ndarray subclass {type(value).__name__}"
    if isinstance(value, np.generic):
        return f"numpy {type(value).__name__}"
    return type(value).__name__


def encode(value, max_elements: int):
    """``(array or None, type description)`` for a value returned by student code.

    The array is a fresh, contiguous, plain ``np.ndarray`` of a numeric dtype; None when the
    value is not numeric data (a string, an object array, None, a dict...) or has more than
    ``max_elements`` elements.
    """
    described = describe(value)
    if isinstance(value, np.ndarray):
        base = value.view(np.ndarray) if type(value) is not np.ndarray else value
        if base.dtype.kind not in NUMERIC_KINDS:
            return None, described
        if base.size > max_elements:
            return None, f"{described} with {base.size} elements (too large)"
        return np.array(base, copy=True, order="C"), described
    if isinstance(value, (bool, np.bool_)):
        return np.array(bool(value)), described
    if isinstance(value, (numbers.Real, np.number)) and not isinstance(value, np.complexfloating):
        return np.array(float(value) if not isinstance(value, numbers.Integral) else int(value)), described
    if isinstance(value, (list, tuple)) and len(value) <= max_elements:
        # A list of losses: accept real numbers only, never arbitrary objects.
        if all(isinstance(v, (numbers.Real, np.number)) and not isinstance(v, (bool, np.bool_)) for v in value):
            return np.array([float(v) for v in value], dtype=np.float64), described
        if all(type(v) is np.ndarray and v.dtype.kind in NUMERIC_KINDS and v.size == 1 for v in value):
            return np.array([float(v.reshape(())) for v in value], dtype=np.float64), described
    return None, described
