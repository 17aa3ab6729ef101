
"""Where a batch's archives are graded: the engines behind ``grader.batch.run``.

An engine only grades: it is given tasks, ``{"path": archive, "folder": OUT/students/<key>}``,
grades each with ``grader.batch.task.grade_archive`` (one archive per task, one sandboxed child at a
time per worker) and calls ``done(task, result, death)`` as each one ends, with the function's
result, or None and one line saying why there is none. Rows, ``grades.csv``, resumption and
``--force`` are the batch's (``grader.batch.run``, ``grader.batch.rows.Rows``), so every engine gives the same bytes.

Three engines satisfy this interface:
- the local worker processes, ``grader.batch.engines.local`` (``--jobs N``, the default);
- a Dask cluster, ``grader.batch.engines.dask_engine`` (``--scheduler``, ``--cluster local:N|slurm``),
  imported only when asked for, so a local batch never pays for Dask;
- the calling process itself, ``grader.batch.engines.inprocess`` (tests and debugging only, not on
  the CLI: no time budget, and a grade function that kills its process kills the batch).

A pool (``Pool``) is made per batch run (``Engine.pool``) for the archives that need grading;
an engine that holds something longer than one run (a Dask client, the cluster it started) is
closed by its opener. The time budget a pool gives one archive is the batch's
(``grader.batch.run.time_budget``), the same for every engine.
"""
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:   # only for the annotations: an engine's module imports nothing of the grader
    from grader.rubric import Rubric

Done = Callable[[dict, "dict | None", "str | None"], None]


class Pool(Protocol):
    def run(self, tasks: Iterable[dict], done: Done) -> None:
        """Grade ``tasks``; ``done(task, result, death)`` for each as it ends. May raise
        ``EngineLost`` (the engine went away: the tasks not yet done have no row)."""

    def close(self, kill: bool = False) -> None:
        """Stop the workers (``kill``: at once, after an interruption)."""


class Engine(Protocol):
    def check(self, rubric: "Rubric", out: Path, source: Path) -> None:
        """Raise ``grader.errors.UsageError`` (one line) when the workers cannot grade ``source``'s
        archives into ``out``; the batch calls it before it reads SOURCE or writes anything."""

    def pool(self, rubric: "Rubric", workdir: Path, budget: float) -> Pool:
        """A pool for one batch run (the archives to grade go under ``workdir``)."""


def answers_or_none(rubric: "Rubric"):
    """The reference answers a worker grades with (the batch built them before any worker
    started: read only), or None when they cannot be loaded: ``grade_archive`` then reports each
    archive as an internal error, never as a student's zero. Every engine loads them this way."""
    from grader.answers import cache  # imported when a worker starts, not with the engine
    try:
        return cache.load(rubric)
    except Exception:  # noqa: BLE001 - each archive then says so
        return None
