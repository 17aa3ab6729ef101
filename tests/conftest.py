"""Fixtures shared by the whole-submission tests: the small rubric and its answers, loaded once.

Grading one submission with ``tests/files/rubric_small.yaml`` takes a few seconds once the
reference's answers for it are cached (``.cache/``, built once in about 30 s). Every corpus test
grades through ``grade_small``, which reuses the session's answers instead of loading them again.

No ``__init__.py`` in ``tests/``: pytest puts this folder on ``sys.path``, so test modules
import the builders as ``from builders import corpus`` or ``from builders import archives``.
"""
from pathlib import Path

import pytest
from builders import corpus

from grader import api
from grader.answers import cache as answers_cache

SMALL_RUBRIC = Path(__file__).resolve().parent / "files" / "rubric_small.yaml"

# Markers by folder (``make test-fast`` runs what has neither): ``sandbox`` for tests/sandbox and
# tests/corpus (they start sandboxed children: whole gradings, batches), ``slow`` for tests/slow
# (they train, load all of MNIST or run subprocesses). Everything else (tests/unit) is fast, and
# ``no_children`` below makes it prove it: a fast test that starts a child fails.
TESTS = Path(__file__).resolve().parent
MARKS = {"sandbox": "sandbox", "corpus": "sandbox", "slow": "slow"}


def folder_mark(path) -> str | None:
    """The marker of a test file from its folder under tests/ (None: fast)."""
    try:
        top = Path(path).resolve().relative_to(TESTS).parts[0]
    except (ValueError, IndexError):
        return None
    return MARKS.get(top)


def pytest_collection_modifyitems(items):
    for item in items:
        mark = folder_mark(item.path)
        if mark:
            item.add_marker(getattr(pytest.mark, mark))


class StartsAChild(AssertionError):
    """A test outside tests/sandbox, tests/corpus and tests/slow started a sandboxed child."""


@pytest.fixture(autouse=True)
def no_children(request, monkeypatch):
    """Outside the sandbox and slow folders, starting a sandboxed child (``Child._spawn``) or a
    batch worker (which starts them) raises ``StartsAChild``: such a test belongs in tests/sandbox."""
    if folder_mark(request.node.path):
        return
    from grader.batch.engines import local
    from grader.sandbox import process

    def refuse(*args, **kwargs):
        raise StartsAChild(f"{request.node.nodeid} starts a sandboxed child: move it to tests/sandbox")

    monkeypatch.setattr(process.Child, "_spawn", refuse)
    monkeypatch.setattr(local._Worker, "__init__", refuse)


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
    (``builders.tiny_submission.write_submission``); every child is closed, and checked to leave no process."""
    from builders.tiny_submission import LIMITS, write_submission

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
