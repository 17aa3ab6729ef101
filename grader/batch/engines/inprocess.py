"""Grade a batch in the calling process, one archive after the other: for tests and debugging.

``InProcessEngine`` satisfies ``grader.batch.engines.Engine`` as ``local.LocalEngine`` does, and
is chosen the same way, through ``grader.batch.run``'s ``engine`` argument::

    run(source, out, rubric, jobs=1, engine=InProcessEngine())
    run(source, out, rubric, jobs=1, engine=InProcessEngine(grade=scripted.grade))

It is what ``LocalEngine(1)`` does without the worker process: the same grade function
(``grader.batch.task.grade_archive`` by default, the same signature), given the same arguments
(the rubric, the answers loaded once per pool with ``None`` when they cannot be loaded, the work
folder as a string), the tasks in the order given, and ``done(task, result, None)`` as each one
ends. So a batch gives the same rows and the same ``grades.csv`` bytes through either engine
(``tests/sandbox/test_engines_agree.py``). Where they differ, and why it is only for tests and
debugging:

- no process stands between the batch and the grade function. A grade function that raises
  costs its own archive only (its ``death`` says what it raised, where a dead worker's says how
  it died: that row's reason is the one difference in ``grades.csv``), but one that kills its
  process (``tests/builders/sabotage.py``) kills the batch, and one that never returns is never
  stopped: the batch's time budget is not enforced here;
- the real grade function starts its sandboxed children from the calling process, with that
  process's BLAS threads (a worker has one);
- ``KeyboardInterrupt`` (and any ``BaseException`` that is not an ``Exception``) goes straight
  to the batch, which keeps the rows already written, as after Ctrl-C with workers.

What it is for: the batch's own logic (rows, ``grades.csv``, resumption, Moodle, hand-given
points) tested in a fraction of a second per batch with a grade function that starts no child
(``tests/builders/scripted.py``), and a breakpoint or a profiler in ``grade_archive`` on one
archive. The command line does not offer it: a teacher's batch wants the workers' isolation
(a grader bug or an out-of-memory kill there costs one row, not the batch).
"""
from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from grader.batch.engines import Done, answers_or_none

if TYPE_CHECKING:   # the answers' module loads numpy and the data: imported when a pool runs
    from grader.answers.cache import Answers
    from grader.rubric import Rubric

# grade_archive's signature: (archive, student folder, rubric, answers or None, work folder) -> result
Grade = Callable[..., "dict | None"]


class InProcessEngine:
    """Every archive graded in this process, in order; ``grade`` is what runs per archive
    (None: ``grader.batch.task.grade_archive``; the signature is that function's)."""

    def __init__(self, grade: Grade | None = None):
        self.grade = grade

    def check(self, rubric: "Rubric", out: Path, source: Path) -> None:
        """Nothing to check: the grading runs here, with this process's files and venv."""

    def pool(self, rubric: "Rubric", workdir: Path, budget: float) -> "InProcessPool":
        return InProcessPool(rubric, Path(workdir), budget, self.grade)


class InProcessPool:
    """The ``grader.batch.engines.Pool`` of ``InProcessEngine``: ``run`` grades each task in
    turn and returns when the last is done. ``budget`` is kept for the interface's sake only:
    nothing here can stop a grade function that does not return."""

    def __init__(self, rubric: "Rubric", workdir: Path, budget: float, grade: Grade | None = None):
        self.rubric, self.workdir, self.budget, self.grade = rubric, workdir, budget, grade

    @cached_property
    def answers(self) -> "Answers | None":
        """The reference answers, loaded on the first task as a local worker loads them when
        it starts (``grader.batch.engines.answers_or_none``)."""
        return answers_or_none(self.rubric)

    def run(self, tasks: Iterable[dict], done: Done) -> None:
        """Grade ``tasks`` in order; ``done(task, result, death)`` for each as it ends: the grade
        function's result, or None and one line saying what it raised."""
        if self.grade is not None:
            grade = self.grade
        else:   # imported here, as a worker does: the grading's imports are not the engine's
            from grader.batch import task as batch_task
            grade = batch_task.grade_archive
        for task in tasks:
            try:
                result = grade(Path(task["path"]), Path(task["folder"]), self.rubric, self.answers,
                               str(self.workdir))
            except Exception as err:  # noqa: BLE001 - a worker dies of it: here it costs its own archive only
                done(task, None, f"grading this archive raised {type(err).__name__}: {err}; "
                                 "re-run the batch to retry it")
                continue
            if result is None:   # a worker that sends nothing back is taken as dead: so here
                done(task, None, "the grade function returned no result; re-run the batch to retry it")
            else:
                done(task, result, None)

    def close(self, kill: bool = False) -> None:
        """Nothing runs once ``run`` has returned or raised."""
