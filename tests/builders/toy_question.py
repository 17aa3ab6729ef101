"""A toy question for ``tests/test_question_registry.py``: ``q1_6``, a ``relu`` in ``single_neuron``.

Everything a new question needs besides the grader's own modules: its registry entry, its case
builder, its function in the reference (a solution region, so the kit stubs it) and its points.
Also a pytest plugin (``-p toy_question``) that registers the entry in a kit's own ``lab2check``
when pytest starts there, the way the test patches the grader's registry in its own process.
"""
import numpy as np

TOY = "q1_6"

RELU = '''

def relu(z):
    """Elementwise ``max(z, 0)``, same shape as ``z``."""
    # BEGIN SOLUTION q1_6
    return np.maximum(z, 0.0)
    # END SOLUTION
'''
WRONG_RELU = '''

def relu(z):
    """A relu that lets a tenth of the negative values through (a leaky relu)."""
    return np.where(z > 0, z, 0.1 * z)
'''


def relu_cases(q, seed, label, hidden, one=None):
    """One case per seed: ``relu`` of a small matrix with negative and positive values."""
    from lab2check.cases import Case
    z = np.random.default_rng(seed).normal(0, 2, (3, 4))
    return [Case(q.id, "relu", label, hidden, "call", {"module": q.module, "function": "relu", "args": ["z"]},
                 {"z": z}, ("out",), f"relu(z), z {tuple(z.shape)} {z.dtype}")]


def registry() -> dict:
    """The registry's questions with the toy inserted after q1_5, as a new dict."""
    from lab2check import questions
    toy = questions.Question(TOY, "unit", "single_neuron", ("relu",), {"relu": 1}, relu_cases)
    out = {}
    for qid, q in questions.QUESTIONS.items():
        out[qid] = q
        if qid == "q1_5":
            out[TOY] = toy
    return out


def pytest_configure(config):
    """As a plugin of the kit's pytest run: register the toy before the tests are collected."""
    from lab2check import questions
    questions.QUESTIONS = registry()
