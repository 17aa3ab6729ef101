"""The fast run's guard: a test outside tests/sandbox, tests/corpus and tests/slow cannot start a
sandboxed child or a batch worker, and the markers come from the folder alone."""
import pytest
from conftest import TESTS, StartsAChild, folder_mark

from grader.batch.engines.local import LocalEngine
from grader.rubric import load as load_rubric
from grader.sandbox import Child
from grader.sandbox.process import Child as ProcessChild


def test_a_fast_test_that_starts_a_sandboxed_child_fails(tmp_path, small_rubric):
    (tmp_path / "lab2").mkdir()
    (tmp_path / "lab2" / "__init__.py").write_text("")
    with pytest.raises(StartsAChild, match="move it to tests/sandbox"):
        child = Child(tmp_path, small_rubric.limits, sandbox="rlimits")
        child.request("single_neuron.sigmoid", {}, {}, 5.0)
    assert Child is ProcessChild


def test_a_fast_test_that_starts_a_batch_worker_fails(tmp_path):
    pool = LocalEngine(1).pool(load_rubric(TESTS / "files" / "rubric_small.yaml"), tmp_path, 5.0)
    with pytest.raises(StartsAChild):
        pool.run([{"path": str(tmp_path / "x.tar.bz2"), "folder": str(tmp_path / "x")}], lambda *a: None)


@pytest.mark.parametrize("path, mark", [
    ("sandbox/test_batch.py", "sandbox"), ("corpus/test_corpus_correct.py", "sandbox"),
    ("slow/test_kit.py", "slow"), ("unit/batch/test_intake.py", None), ("unit/test_new_file.py", None)])
def test_the_marker_is_the_folders(path, mark):
    assert folder_mark(TESTS / path) == mark


def test_every_collected_test_of_the_sandbox_folders_is_marked(request):
    for item in request.session.items:
        mark = folder_mark(item.path)
        if mark:
            assert item.get_closest_marker(mark) is not None, item.nodeid
