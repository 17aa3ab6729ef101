"""The public checks of Lab 2, one test per question: ``pytest -k q1_4`` checks question 1.4.

These are the grader's own checks on the public cases, with the grader's messages; the grader
also runs hidden cases and the full 500-epoch trainings on its grading subset, with the
thresholds of its rubric. The training questions (q1_5, q2_2, q3_3) here also run a quick smoke
check of ``train``: 20 epochs on 300 examples, compared epoch by epoch with the reference.
The list of questions is the grader's own (``lab2check/questions.py``).
"""
import pytest

from lab2check import kit, questions


@pytest.mark.parametrize("qid", questions.unit_questions())
def test_question(qid):
    failures = kit.check(qid)
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)
