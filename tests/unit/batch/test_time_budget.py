"""The batch's per-archive time budget (``grader.batch.run.time_budget``) against the rubric's limits.

A submission inside its limits must never be taken for a stuck grader: arithmetic on the rubric,
no child (the budget's kill of a stuck worker is tests/sandbox/test_batch.py).
"""
import pytest

from grader.batch.run import time_budget
from lab2check import questions


@pytest.mark.parametrize("limits", [{}, {"wall_factor": 10.0}, {"train_seconds": 600.0, "call_seconds": 2.0}])
def test_the_batch_budget_outlasts_every_request_run_to_its_wall_clock_backstop(limits):
    # A submission inside its limits (a ``train`` that sleeps uses no CPU time and is stopped by
    # the wall clock only) must never be taken for a stuck grader: the budget covers every
    # request of grader/submission/run.py run one after the other to its wall-clock limit.
    rubric = reference_answers_free_rubric(limits)
    lim = rubric.limits
    slowest = (len(questions.modules()) * lim.import_seconds + len(questions.unit_questions()) * lim.call_seconds
               + len(questions.training_questions()) * lim.wall_factor * (lim.train_seconds + lim.call_seconds))
    assert time_budget(rubric) > slowest


def reference_answers_free_rubric(limits: dict):
    from grader import api
    rubric = api.load_rubric()
    return rubric.model_copy(update={"limits": rubric.limits.model_copy(update=limits)})
