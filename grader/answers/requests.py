"""The train requests: what a training question sends to ``train``, the same for the reference
and for a student (``grader.submission.run``), the kit's fixtures and the bench.

Runs trusted code (the reference's ``init_params``) in this process.
"""
import importlib
from pathlib import Path

import numpy as np

from grader import REFERENCE
from grader.rubric import Rubric
from lab2check import local, questions

# The training data file of each target (``questions.Training.target``; ``grader.answers.data``).
TARGET_FILES = {"digit": "y_train", "bonus_digit": "y_bonus", "labels": "Y_train"}


def train_request(qid: str, rubric: Rubric, data: dict[str, Path], init: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """``(arrays, options)`` of the train probe for question ``qid``: ``arrays`` the initial
    parameters ``init`` (a new dict), ``options`` the module, epochs, lr, the divergence watch and
    ``data`` (X, y, X_test: paths of the grading data, as strings)."""
    q = questions.get(qid)
    assert q.training is not None and q.module is not None, f"{qid} is not a training question"
    target = TARGET_FILES[q.training.target]
    options = {"module": q.module, "epochs": rubric.training.epochs, "lr": rubric.model(q.training.model).lr,
               "diverge_factor": rubric.training.diverge_factor, "diverge_window": rubric.training.diverge_window,
               "data": {"X": str(data["X_train"]), "y": str(data[target]), "X_test": str(data["X_test"])}}
    return dict(init), options


def initial_params(qid: str, rubric: Rubric) -> dict[str, np.ndarray]:
    """The parameters every ``train`` starts from: zeros for the single neuron ("W" (1, 784), "b"
    (1, 1)), else the reference's init ("params.W1" ...), in the rubric's dtype."""
    dtype = rubric.data.dtype
    module = questions.get(qid).module
    assert module is not None, f"{qid} trains no module"
    if questions.MODULES[module].layers == 1:
        return {"W": np.zeros((1, 784), dtype), "b": np.zeros((1, 1), dtype)}
    with local.use(REFERENCE):
        params = importlib.import_module(f"lab2.{module}").init_params(seed=rubric.training.init_seed)
    return {f"params.{k}": v.astype(dtype) for k, v in params.items()}
