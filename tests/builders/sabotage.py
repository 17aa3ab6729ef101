"""Workers that die or hang on purpose, to test what a dead or stuck worker costs a batch.

Test code only: the grader itself has no such hook. It reaches the workers in two ways:
- local workers (``grader.batch.engines.local``): the test gives the engine a grade function of this
  module, ``LocalEngine(jobs, grade=functools.partial(sabotage.kill_on, "MARTIN"))``; it is sent
  to each worker by name, so the worker imports this module (the test puts ``tests/`` on the
  workers' ``PYTHONPATH``);
- Dask workers: ``dask worker --preload tests/sabotage.py`` with ``SABOTAGE_KILL`` or
  ``SABOTAGE_HANG`` in that worker's environment; ``dask_setup`` then wraps
  ``grader.batch.task.grade_archive`` in that worker process only.

Either way the worker SIGKILLs itself (or sleeps an hour) when the archive's file name contains
the given text, and grades every other archive as usual.
"""
import os
import signal
import time
from pathlib import Path

from grader.batch import task


def _sabotage(path: Path, kill: str = "", hang: str = "") -> None:
    if kill and kill in path.name:
        os.kill(os.getpid(), signal.SIGKILL)
    if hang and hang in path.name:
        time.sleep(3600)


def kill_on(text: str, path: Path, *args):
    """``task.grade_archive``, except that the worker kills itself on an archive named ``*text*``."""
    _sabotage(path, kill=text)
    return task.grade_archive(path, *args)


def hang_on(text: str, path: Path, *args):
    """``task.grade_archive``, except that the worker hangs on an archive named ``*text*``."""
    _sabotage(path, hang=text)
    return task.grade_archive(path, *args)


def dask_setup(worker) -> None:
    """Dask's preload hook, run in the worker process as it starts."""
    kill, hang = os.environ.get("SABOTAGE_KILL", ""), os.environ.get("SABOTAGE_HANG", "")
    real = task.grade_archive

    def grade_archive(path, *args):
        _sabotage(Path(path), kill=kill, hang=hang)
        return real(path, *args)

    task.grade_archive = grade_archive
