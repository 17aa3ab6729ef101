"""The batch run in this process on scripted archives: ``run_batch(source, out, **kw)``.

``grader.batch.run.run`` exactly as a teacher's ``batch`` calls it, except for the engine: the
in-process engine (``grader.batch.engines.inprocess``) with the scripted grade function
(``builders.scripted``), so every row costs milliseconds and no child is started. The
reference's answers are never loaded (``scripted.without_reference_answers``): the scripted
grade does not read them, and a fresh checkout has none to load.
"""
from pathlib import Path

import pytest
from builders import scripted

from grader.batch import run as batch
from grader.batch.engines.inprocess import InProcessEngine
from grader.rubric import load as load_rubric

RUBRIC_PATH = Path(__file__).parents[2] / "files" / "rubric_small.yaml"


@pytest.fixture(scope="session")
def rubric():
    return load_rubric(RUBRIC_PATH)


@pytest.fixture
def run_batch(rubric, monkeypatch):
    """``run_batch(source, out, rubric=None, grade=scripted.grade, **kw) -> BatchResult``."""
    scripted.without_reference_answers(monkeypatch)

    def run(source, out, rubric_=None, grade=scripted.grade, **kw):
        kw.setdefault("progress", False)
        return batch.run(source, out, rubric_ or rubric, jobs=1, engine=InProcessEngine(grade=grade), **kw)
    return run
