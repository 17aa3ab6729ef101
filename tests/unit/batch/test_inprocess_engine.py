"""The in-process engine (``grader.batch.engines.inprocess``) keeps the engines' contract.

The contract is ``grader.batch.engines``' (what ``local.LocalEngine`` does with one worker): the
grade function gets the archive, the student's folder, the rubric, the answers loaded once and
the work folder; ``done(task, result, death)`` is called once per task, in order; a grade that
fails costs its own task only. That the two engines give the same ``grades.csv`` bytes is
``tests/sandbox/test_engines_agree.py`` (the local engine starts workers).
"""
from pathlib import Path

import pytest
from builders import scripted
from builders.scripted import run_batch

from grader.answers import cache as answers_cache
from grader.batch import task as batch_task
from grader.batch.engines.inprocess import InProcessEngine
from grader.rubric import load as load_rubric

RUBRIC = load_rubric(Path(__file__).parents[2] / "files" / "rubric_small.yaml")


def tasks(tmp_path: Path, n: int) -> list[dict]:
    return [{"path": str(tmp_path / f"in/{i}.tar.bz2"), "folder": str(tmp_path / f"out/students/S{i}")}
            for i in range(n)]


def collect(pool, todo) -> list[tuple]:
    ended = []
    pool.run(todo, lambda task, result, death: ended.append((task, result, death)))
    return ended


def test_each_task_is_graded_in_order_with_the_workers_arguments(tmp_path, monkeypatch):
    asked = scripted.without_reference_answers(monkeypatch)
    calls = []

    def grade(path, folder, rubric_, answers, workdir):
        calls.append((path, folder, rubric_, answers, workdir))
        return {"report": {"n": len(calls)}, "fingerprint": {}}

    todo = tasks(tmp_path, 4)
    pool = InProcessEngine(grade=grade).pool(RUBRIC, tmp_path / "work", 10.0)
    ended = collect(pool, todo)
    pool.close()
    assert [t for t, _, _ in ended] == todo
    assert [(r["report"]["n"], d) for _, r, d in ended] == [(1, None), (2, None), (3, None), (4, None)]
    assert calls == [(Path(t["path"]), Path(t["folder"]), RUBRIC, scripted.ANSWERS, str(tmp_path / "work"))
                     for t in todo]
    assert asked == [RUBRIC]   # loaded once for the pool, as a worker loads them once when it starts


def test_answers_that_cannot_be_loaded_reach_the_grade_as_none(tmp_path, monkeypatch):
    def broken(rubric_, progress=None):
        raise OSError("the cache folder is gone")

    monkeypatch.setattr(answers_cache, "load", broken)
    seen = []
    pool = InProcessEngine(grade=lambda *args: seen.append(args[3]) or {"report": {}, "fingerprint": {}}).pool(
        RUBRIC, tmp_path, 10.0)
    assert [d for _, _, d in collect(pool, tasks(tmp_path, 2))] == [None, None]
    assert seen == [None, None]


def test_a_grade_that_raises_costs_its_own_task_only(tmp_path, monkeypatch):
    scripted.without_reference_answers(monkeypatch)

    def grade(path, *args):
        if path.name == "1.tar.bz2":
            raise ValueError("a grader bug")
        if path.name == "2.tar.bz2":
            return None
        return {"report": {"file": path.name}, "fingerprint": {}}

    ended = collect(InProcessEngine(grade=grade).pool(RUBRIC, tmp_path, 10.0), tasks(tmp_path, 4))
    assert [(r and r["report"]["file"]) for _, r, _ in ended] == ["0.tar.bz2", None, None, "3.tar.bz2"]
    deaths = [d for _, _, d in ended]
    assert deaths[0] is None and deaths[3] is None
    assert deaths[1] == "grading this archive raised ValueError: a grader bug; re-run the batch to retry it"
    assert "returned no result" in deaths[2]


def test_an_interruption_reaches_the_caller_and_stops_the_tasks(tmp_path, monkeypatch):
    scripted.without_reference_answers(monkeypatch)

    def grade(path, *args):
        if path.name == "2.tar.bz2":
            raise KeyboardInterrupt
        return {"report": {}, "fingerprint": {}}

    pool = InProcessEngine(grade=grade).pool(RUBRIC, tmp_path, 10.0)
    ended = []
    with pytest.raises(KeyboardInterrupt):
        pool.run(tasks(tmp_path, 4), lambda task, result, death: ended.append(Path(task["path"]).name))
    pool.close(kill=True)
    assert ended == ["0.tar.bz2", "1.tar.bz2"]


def test_without_a_grade_function_it_runs_the_batch_task(tmp_path, monkeypatch):
    """The engine's default is ``grader.batch.task.grade_archive``, looked up when a pool runs."""
    scripted.without_reference_answers(monkeypatch)
    monkeypatch.setattr(batch_task, "grade_archive", lambda path, *args: {"report": {"by": "task"}, "fingerprint": {}})
    ended = collect(InProcessEngine().pool(RUBRIC, tmp_path, 10.0), tasks(tmp_path, 1))
    assert ended[0][1] == {"report": {"by": "task"}, "fingerprint": {}}


def test_a_batch_through_it_grades_every_archive_once(tmp_path):
    source = tmp_path / "submissions"
    source.mkdir()
    names = ["DOE John Lab2 DLCV.tar.bz2", "MARTIN Alice Lab2 DLCV.tar.bz2", "ZED Zoe Lab2 DLCV.tar.bz2"]
    for name in names:
        scripted.write(source, name)
    graded = []

    def grade(path, *args):
        graded.append(path.name)
        return scripted.grade(path, *args)

    result = run_batch(source, tmp_path / "out", RUBRIC, grade=grade)
    assert sorted(graded) == names and (result.graded, result.skipped) == (3, 0)
    assert [r.status for r in result.rows] == ["graded"] * 3
