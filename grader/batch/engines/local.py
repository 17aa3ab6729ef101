
"""Grade a batch on this machine's own worker processes (``--jobs N``, the default engine).

``LocalEngine`` satisfies ``grader.batch.engines.Engine`` as ``dask_engine.DaskEngine`` does: the
batch (``grader.batch.run``) gives its pool tasks and writes the rows; this module only runs them.
Each worker is a plain ``python -c`` process (not ``multiprocessing``'s: nothing re-runs the
caller's main script) that imports the installed grader (``make setup`` installs the project into
the venv: no ``sys.path`` edit), loads the reference answers once, then grades one archive at a
time with the engine's grade function (``grader.batch.task.grade_archive``) and one BLAS thread.

- A worker that dies (SIGKILL, out of memory) costs its own archive only: that task's ``death``
  says how, and a fresh worker takes its place.
- A worker still busy after the batch's time budget (``grader.batch.run.time_budget``) is killed:
  a grader bug, the sandbox's own limits end any student run much sooner.
- A worker dies with the batch process (``PR_SET_PDEATHSIG``), so a killed batch leaves nothing
  running; Ctrl-C reaches the batch only (each worker has its own session), which stops them.

The grade function is sent to the workers pickled, i.e. by name: any module-level function (or
``functools.partial`` of one) the workers can import will do. The batch's tests give one that
kills or hangs its worker on a chosen archive, from a module of ``tests/``.
"""
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections import deque
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # only for the annotations: the grader is imported in the workers, as they start
    from grader.rubric import Rubric

# The workers' own numpy work is small; one BLAS thread each keeps N workers on N cores.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
JOIN_SECONDS = 5.0


class LocalEngine:
    """``jobs`` worker processes on this machine; ``grade`` is what each runs per archive
    (None: ``grader.batch.task.grade_archive``; the signature is that function's)."""

    def __init__(self, jobs: int, grade=None):
        self.jobs, self.grade = max(1, int(jobs)), grade

    def check(self, rubric: "Rubric", out: Path, source: Path) -> None:
        """Nothing to check: the workers are this process's children, with its files and venv."""

    def pool(self, rubric: "Rubric", workdir: Path, budget: float) -> "LocalPool":
        return LocalPool(self.jobs, rubric, Path(workdir), budget, self.grade)


# --- in a worker process --------------------------------------------------------------------------

def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this worker when the batch process dies (its sandboxed child goes
    with it, through bubblewrap's --die-with-parent), so a killed batch leaves nothing running."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(1)  # the batch died before prctl took effect


def worker_main(read_fd: int, write_fd: int, parent: int) -> None:
    """A worker process: receive the rubric, the work folder and the grade function, load the
    reference answers once, then grade each archive it is sent and answer with the result."""
    _die_with_parent(parent)
    from grader.batch.engines import answers_or_none
    inbox, outbox = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    rubric, workdir, grade = inbox.recv()
    if grade is None:
        from grader.batch.task import grade_archive as grade
    answers = answers_or_none(rubric)
    while True:
        try:
            task = inbox.recv()
        except EOFError:
            return
        if task is None:
            return
        outbox.send(grade(Path(task["path"]), Path(task["folder"]), rubric, answers, workdir))


# --- in the batch process -------------------------------------------------------------------------

class _Worker:
    """One worker process and the two ends of its pipes."""

    def __init__(self, rubric: "Rubric", workdir: Path, grade):
        to_worker, from_worker = os.pipe2(os.O_CLOEXEC), os.pipe2(os.O_CLOEXEC)
        code = (f"from grader.batch.engines.local import worker_main; "
                f"worker_main({to_worker[0]}, {from_worker[1]}, {os.getpid()})")
        try:
            # Its own session: Ctrl-C reaches the batch only, which then stops the workers itself.
            self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                                         pass_fds=(to_worker[0], from_worker[1]), env=os.environ | ONE_THREAD,
                                         start_new_session=True)
        finally:
            os.close(to_worker[0])
            os.close(from_worker[1])
        self.outbox = Connection(to_worker[1], readable=False)
        self.inbox = Connection(from_worker[0], writable=False)
        self.send((rubric, str(workdir), grade))

    def send(self, message) -> None:
        with contextlib.suppress(OSError):  # already dead: its pipe's end of file says so
            self.outbox.send(message)

    def receive(self):
        """The worker's answer, or None when it died instead (its pipe reached end of file)."""
        try:
            return self.inbox.recv()
        except (EOFError, OSError):
            return None

    def death(self) -> str:
        try:
            code = self.proc.wait(JOIN_SECONDS)
            how = (f"killed by {signal.Signals(-code).name}" + (" (out of memory?)" if code == -signal.SIGKILL else "")
                   if code < 0 else f"exit status {code}")
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            how = "it stopped answering and was killed"
        self.close()
        return f"the grading process died while grading this archive ({how}); re-run the batch to retry it"

    def overdue(self, budget: float) -> str:
        """Kill a worker still busy after ``budget`` seconds: a grader bug, not the student's code
        (the sandbox's own limits end any student run much sooner)."""
        self.proc.kill()
        self.proc.wait()
        self.close()
        return (f"grading this archive took more than {budget:.0f} s, far beyond the rubric's time limits: "
                "the grading process was killed; re-run the batch to retry it")

    def stop(self, kill: bool) -> None:
        if not kill:
            self.send(None)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(JOIN_SECONDS)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.close()

    def close(self) -> None:
        self.inbox.close()
        self.outbox.close()


class LocalPool:
    """At most ``jobs`` worker processes (started as tasks need them), each sent one archive at
    a time: the ``grader.batch.engines.Pool`` of ``LocalEngine``.

    Not ``concurrent.futures``: when one of its workers dies, every running task fails with
    ``BrokenProcessPool`` and nothing says which archive killed it. Here each worker has its
    own pipes, so a death is charged to the archive that worker had, and only to it.
    """

    def __init__(self, jobs: int, rubric: "Rubric", workdir: Path, budget: float, grade=None):
        self._jobs, self._args, self._budget = jobs, (rubric, workdir, grade), budget
        self._idle: list[_Worker] = []
        self._busy: dict[_Worker, tuple[dict, float]] = {}   # worker -> (task, deadline)

    def run(self, tasks, done) -> None:
        """Grade ``tasks``; ``done(task, result, death)`` is called for each as it ends, with the
        worker's result, or None and a line saying how the worker died."""
        pending = deque(tasks)
        while pending or self._busy:
            while pending and (self._idle or len(self._busy) < self._jobs):
                worker, task = self._idle.pop() if self._idle else _Worker(*self._args), pending.popleft()
                self._busy[worker] = (task, time.monotonic() + self._budget)
                worker.send(task)
            first_deadline = min(deadline for _, deadline in self._busy.values())
            ready = set(wait([w.inbox for w in self._busy], timeout=max(0.0, first_deadline - time.monotonic())))
            now = time.monotonic()
            for worker, (task, deadline) in list(self._busy.items()):
                if worker.inbox not in ready and now < deadline:
                    continue
                del self._busy[worker]
                result = worker.receive() if worker.inbox in ready else None
                if result is None:
                    # The dead worker is not replaced here: the next task starts a fresh one.
                    death = worker.death() if worker.inbox in ready else worker.overdue(self._budget)
                    done(task, None, death)
                else:
                    self._idle.append(worker)
                    done(task, result, None)

    def close(self, kill: bool = False) -> None:
        for worker in self._idle + list(self._busy):
            worker.stop(kill)
        self._idle, self._busy = [], {}
