"""Fixtures shared by the whole-submission tests: the small rubric and its answers, loaded once.

Grading one submission with ``tests/files/rubric_small.yaml`` takes a few seconds once the
reference's answers for it are cached (``.cache/``, built once in about 30 s). Every corpus test
grades through ``grade_small``, which reuses the session's answers instead of loading them again.

No ``__init__.py`` in ``tests/``: pytest puts this folder on ``sys.path``, so test modules
import their helpers as ``import corpus`` or ``import archives``.
"""
from pathlib import Path

import corpus
import pytest

from grader import api
from grader.answers import cache as answers_cache

SMALL_RUBRIC = Path(__file__).resolve().parent / "files" / "rubric_small.yaml"

# Markers by test file (``make test-fast`` runs what has neither): ``sandbox`` for files that
# start sandboxed children (whole gradings, batches), ``slow`` for the others that train, load
# all of MNIST or run subprocesses. Unlisted files are fast: pure functions on small inputs.
SANDBOX = {"test_batch", "test_batch_sources", "test_cluster", "test_corpus_cheating", "test_corpus_correct",
           "test_corpus_hostile", "test_corpus_mutants", "test_corpus_realistic", "test_example", "test_grade",
           "test_host_confinement", "test_sandbox", "test_similarity", "test_gradescope_bundle",
           "test_question_registry", "test_mail_back", "test_limits", "test_review_batch"}
SLOW = {"test_train_reference", "test_data", "test_diagnosis", "test_fresh_clone", "test_kit", "test_plots",
        "test_reference", "test_skeleton", "test_review_browser"}


def pytest_collection_modifyitems(items):
    for item in items:
        name = item.module.__name__.rsplit(".", 1)[-1]
        if name in SANDBOX:
            item.add_marker(pytest.mark.sandbox)
        if name in SLOW:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def small_rubric():
    return api.load_rubric(SMALL_RUBRIC)


@pytest.fixture(scope="session")
def small_answers(small_rubric):
    """The reference's answers for the small rubric (built into ``.cache/`` the first time)."""
    return answers_cache.load(small_rubric)


@pytest.fixture(scope="session")
def grade_small(small_rubric, small_answers):
    """``grade(path, rubric=None, **kw) -> Report`` with the small rubric's answers.

    ``rubric`` may be a copy of the small rubric that changes only what the answers do not
    depend on (the limits): the answers are the same, so the session's are passed along
    instead of building a second cache for the copy's hash.
    """
    def grade(path, rubric=None, **kw):
        kw.setdefault("concurrency", 2)
        return api.grade(path, rubric or small_rubric, answers=small_answers, **kw)
    return grade


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory):
    """One folder for the session's corpus submissions (each test builds its own below it)."""
    return tmp_path_factory.mktemp("corpus")


@pytest.fixture(scope="session")
def reference_submission(corpus_dir):
    """The reference's ``lab2`` with a REPORT.md: every automatic point is there to get."""
    return corpus.write_submission(corpus_dir / "reference")


@pytest.fixture(scope="session")
def reference_report(grade_small, reference_submission):
    """The reference graded once: the baseline other tests compare question by question."""
    return grade_small(reference_submission)


# --- sandboxed children, for test_sandbox.py and test_host_confinement.py ----------------------

@pytest.fixture(params=["bubblewrap", "rlimits"])
def sandbox_kind(request):
    """Each test of a child runs in both sandboxes: bubblewrap (skipped where it does not work)
    and resource limits only."""
    from grader.sandbox.launch import _bubblewrap_works
    works, why = _bubblewrap_works()
    if request.param == "bubblewrap" and not works:
        pytest.skip(f"bubblewrap does not work here: {why}")
    return request.param


@pytest.fixture
def sandbox(tmp_path, sandbox_kind):
    """``open(limits=..., binds=..., at_import=..., in_call=...) -> Child`` on a tiny ``lab2`` package
    (``test_sandbox.write_submission``); every child is closed, and checked to leave no process."""
    from test_sandbox import LIMITS, write_submission

    from grader.sandbox import Child, processes_of
    children = []

    def open_child(limits=LIMITS, binds=None, **code):
        child = Child(write_submission(tmp_path / f"submission{len(children)}", **code), limits, binds=binds,
                      sandbox=sandbox_kind)
        children.append(child)
        return child

    yield open_child
    for child in children:
        child.close()
        if child.uid is not None:
            assert processes_of(child.uid) == [], "processes of the dedicated uid were left behind"
