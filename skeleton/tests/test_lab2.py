"""The public checks of Lab 2, one test per question: ``pytest -k q1_4`` checks question 1.4.

These are the grader's own checks on the public cases, with the grader's messages; the grader
also runs hidden cases and the full 500-epoch trainings on its grading subset, with the
thresholds of its rubric. The training questions here run a quick smoke check only: 20 epochs
on 300 examples, compared epoch by epoch with the reference.
"""
import pytest

from lab2check import kit


def _check(qid):
    failures = kit.check(qid)
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


def test_q1_1():
    _check("q1_1")


def test_q1_2():
    _check("q1_2")


def test_q1_3():
    _check("q1_3")


def test_q1_4():
    _check("q1_4")


def test_q1_5():
    """predict, and a 20-epoch smoke of train (the grader checks the 500-epoch loss and accuracy)."""
    _check("q1_5")


def test_q2_1():
    _check("q2_1")


def test_q2_2():
    """predict, and a 20-epoch smoke of train (the grader checks the 500-epoch loss and accuracy)."""
    _check("q2_2")


def test_q3_2():
    _check("q3_2")


def test_q3_3():
    """Every function, and a 20-epoch smoke of train (the grader checks the 500-epoch loss and accuracy)."""
    _check("q3_3")
