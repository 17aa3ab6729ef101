"""A Dask worker's checks (``grader.batch.engines.worker_setup.probe``), run in this process.

``probe`` is what every worker runs before it is sent an archive; here the worker is this
process, and only the sandbox's answer is changed (``sandbox_status`` is replaced: the real one
would start bubblewrap or, as root, hide the grader's files), so the other checks see a worker
that matches the driver and say nothing.
"""
import pickle
from pathlib import Path

import numpy
import pytest

from grader import PROJECT, sandbox
from grader.answers import cache as answers_cache
from grader.batch.engines import worker_setup
from grader.rubric import load as load_rubric

RUBRIC = load_rubric(Path(__file__).parents[2] / "files" / "rubric_small.yaml")


def want(tmp_path: Path, bubblewrap: bool) -> dict:
    """What ``DaskEngine.check`` sends: the driver's versions and paths."""
    out, source = tmp_path / "out", tmp_path / "submissions"
    out.mkdir()
    source.mkdir()
    probe = out / ".probe-test"
    probe.write_bytes(b"")
    return {"project": str(PROJECT), "numpy": numpy.__version__, "rubric": pickle.dumps(RUBRIC),
            "bubblewrap": bubblewrap, "cache_key": answers_cache.cache_key(RUBRIC),
            "out_probe": str(probe), "source": str(source)}


def sandboxed_with(monkeypatch, kind: str) -> None:
    monkeypatch.setattr(sandbox, "sandbox_status", lambda: (kind, f"{kind}: as the test says"))


def bubblewrap_problems(problems: list[str]) -> list[str]:
    return [p for p in problems if "bubblewrap" in p]


@pytest.mark.parametrize("kind", ["bubblewrap", "rlimits"])
def test_a_driver_without_bubblewrap_asks_nothing_of_the_workers(tmp_path, monkeypatch, kind):
    sandboxed_with(monkeypatch, kind)
    assert bubblewrap_problems(worker_setup.probe(want(tmp_path, bubblewrap=False))) == []


def test_a_worker_with_bubblewrap_matches_a_driver_with_it(tmp_path, monkeypatch):
    sandboxed_with(monkeypatch, "bubblewrap")
    assert bubblewrap_problems(worker_setup.probe(want(tmp_path, bubblewrap=True))) == []


def test_a_worker_without_bubblewrap_is_named_with_its_sandbox_line(tmp_path, monkeypatch):
    sandboxed_with(monkeypatch, "rlimits")
    assert bubblewrap_problems(worker_setup.probe(want(tmp_path, bubblewrap=True))) == [
        "cannot sandbox with bubblewrap as the driver does (rlimits: as the test says): install bubblewrap"]


def test_a_worker_whose_sandbox_check_fails_says_why(tmp_path, monkeypatch):
    def broken():
        raise OSError("no /proc")
    monkeypatch.setattr(sandbox, "sandbox_status", broken)
    assert bubblewrap_problems(worker_setup.probe(want(tmp_path, bubblewrap=True))) == [
        "cannot sandbox with bubblewrap as the driver does (OSError: no /proc): install bubblewrap"]
