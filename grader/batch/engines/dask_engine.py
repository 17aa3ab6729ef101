"""Grade a batch on a Dask cluster: ``--scheduler ADDRESS``, ``--cluster local:N``, ``--cluster slurm``.

One Dask task grades one archive with the local workers' own function,
``grader.batch.task.grade_archive``; the driver (``grader.batch.run``) writes each row as its result
arrives, so a cluster's ``grades.csv`` has the same bytes as a local batch's. This module only
connects, checks the workers and runs the tasks (the ``grader.batch.engines.Pool`` interface); it is
imported only when a cluster is asked for.

- Connecting: a scheduler that does not answer within ``CONNECT_SECONDS``, or that has no
  worker within ``WORKER_SECONDS``, is a ``UsageError`` (one line, exit 2) before any grading.
- Checking (``DaskEngine.pool``, before any archive is sent): every worker runs
  ``worker_setup.probe`` (``client.run``): the same checkout at the same path, imported by the
  project's environment (numpy's version), bubblewrap when the driver has it, the same rubric
  and code (the reference cache's hash), the reference answers readable (or buildable), and
  OUT seen at the same path (workers unpack under ``OUT/.work`` and draw the loss curves into
  ``OUT/students/``: OUT and the submissions must be on a shared file system). Every worker
  must run one thread: ``grader.sandbox`` wants the thread that starts a child to outlive it,
  which a task that opens and closes its children itself does (``api.grade(...,
  concurrency=1)``), and two archives at once on one worker would share its core anyway.
- Failures: a worker lost mid-task is Dask's to handle: the scheduler runs the task again on
  another worker, up to its ``allowed-failures`` (set to ``RETRIES`` on the clusters started
  here); a task that raises is retried ``RETRIES`` times (``client.submit(retries=...)``). A
  task that still fails becomes that row's ``internal-error``, retried by the next run. A task
  running longer than the batch's time budget is given up (``internal-error``) and its worker
  restarted when it has a nanny. The scheduler going away raises ``EngineLost``: the rows
  written are kept and the next run grades the rest.
"""
import contextlib
import pickle
import re
import shutil
import sys
import time
import uuid
from pathlib import Path

import threadpoolctl

from grader import PROJECT
from grader.batch.outdir import OutDir
from grader.errors import EngineLost, UsageError
from grader.rubric import Rubric

CONNECT_SECONDS = 5.0    # a scheduler that does not answer within this is taken as absent
WORKER_SECONDS = 30.0    # how long a scheduler may be without any worker before we give up
CHECK_SECONDS = 60.0     # the workers' checks (bubblewrap's trial run, imports)
RETRIES = 2              # task errors retried, and worker deaths tolerated per task (our clusters)
POLL_SECONDS = 1.0       # how often the driver looks at the scheduler's state between results
SLURM_WAIT_SECONDS = 600.0

# The Dask settings of the clusters started here (and docs/cluster.md's advice for one started by hand).
# The scheduler: a worker of one thread takes one task at a time (work stealing stays on: it
# moves an archive from behind a long one to an idle worker), and a task survives RETRIES
# worker deaths. Every
# process: Dask's own housekeeping made rarer. A worker's stack sampler (every 10 ms) and event
# loop tick (every 20 ms) cost an idle two-worker cluster 0.16 CPU-s per second, 8 % of this
# 2-core machine, taken from the sandboxed children; with these, 0.03 (bench/README.md).
SETTINGS = {
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.scheduler.allowed-failures": RETRIES,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "200ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def environment() -> dict[str, str]:
    """``SETTINGS`` as the environment variables Dask reads (for Slurm jobs, and docs/cluster.md)."""
    return {"DASK_" + key.upper().replace(".", "__").replace("-", "_"): str(value) for key, value in SETTINGS.items()}


# --- on the worker ------------------------------------------------------------------------------

_ANSWERS: dict = {}   # rubric sha256 -> the reference answers, loaded once per worker process


def grade_task(task: dict, rubric: Rubric, workdir: str) -> dict:
    """One Dask task (through ``worker_setup.grade``): ``grade_archive`` on one archive, exactly
    as a local worker runs it."""
    from grader.batch.engines import answers_or_none
    from grader.batch.task import grade_archive
    answers = _ANSWERS.get(rubric.sha256)
    if answers is None:   # checked readable (or buildable) first; None is not kept: the next task tries again
        answers = answers_or_none(rubric)
        if answers is not None:
            _ANSWERS[rubric.sha256] = answers
    # A local worker has one BLAS thread through its environment; a Dask worker may have been
    # started without it, and the grader's own numpy work must round the same way everywhere.
    with threadpoolctl.threadpool_limits(1):
        return grade_archive(Path(task["path"]), Path(task["folder"]), rubric, answers, workdir)


# --- opening a cluster --------------------------------------------------------------------------

def _cluster_config():
    """``SETTINGS`` for a cluster started here (its local workers inherit them); a scheduler
    started by someone else has its own (docs/cluster.md)."""
    import dask
    return dask.config.set(SETTINGS)


def open_engine(scheduler: str | None = None, cluster: str | None = None, config=None,
                say=lambda line: print(line, file=sys.stderr, flush=True)) -> "DaskEngine":
    """Connect to ``scheduler``, or start ``cluster`` (``local:N`` or ``slurm`` with ``config``).
    Raises ``UsageError`` when there is no usable scheduler or worker."""
    if config and cluster != "slurm":
        raise UsageError("--cluster-config is for --cluster slurm")
    if bool(scheduler) == bool(cluster):
        raise UsageError("give either --scheduler ADDRESS or --cluster local:N|slurm")
    import dask
    from distributed import Client
    dask.config.set(SETTINGS)   # this process's client (and the scheduler and nannies it may start)
    started = None
    if scheduler:
        # Every later call to a scheduler that went away fails this fast too (not in 30 s).
        dask.config.set({"distributed.comm.timeouts.connect": f"{CONNECT_SECONDS:.0f}s"})
        address, where = _address(scheduler), f"the Dask scheduler at {scheduler}"
    elif (m := re.fullmatch(r"local:(\d+)", cluster or "")) and int(m.group(1)) >= 1:
        n = int(m.group(1))
        started, where = _local_cluster(n), f"a local Dask cluster of {n} worker{'s' * (n != 1)}"
        address = started
    elif cluster == "slurm":
        if not config:
            raise UsageError("--cluster slurm needs --cluster-config FILE (queue, cores, memory, walltime, jobs)")
        settings = load_slurm_config(config)
        if shutil.which("sbatch") is None:
            raise UsageError("--cluster slurm: sbatch is not on this machine's PATH (run the batch on a node that "
                             "submits Slurm jobs, e.g. the cluster's login node)")
        started, where = slurm_cluster(settings), "a Slurm cluster (dask-jobqueue)"
        started.scale(jobs=settings.jobs)
        address = started
    else:
        raise UsageError(f"--cluster {cluster!r}: expected local:N (N at least 1) or slurm")
    try:
        client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        if started is not None:
            started.close()
        raise UsageError(f"no Dask scheduler answers at {scheduler or address} within {CONNECT_SECONDS:.0f} s "
                         f"({type(err).__name__}: {_first_line(err)})") from None
    try:
        engine = DaskEngine(client, started, where)
    except Exception as err:  # noqa: BLE001 - a scheduler that answered once, then went away
        client.close()
        if started is not None:
            started.close()
        raise UsageError(f"{where} stopped answering while connecting ({type(err).__name__}: "
                         f"{_first_line(err)})") from None
    try:
        wait = settings.wait_seconds if cluster == "slurm" else WORKER_SECONDS
        try:
            client.wait_for_workers(1, timeout=wait)
        except TimeoutError:
            start = f"start workers with `dask worker {scheduler or 'ADDRESS'} --nthreads 1`"
            hint = ("its jobs have not started (see squeue; wait_seconds in the config waits longer)"
                    if cluster == "slurm" else start)
            raise UsageError(f"{where} has no worker after {wait:.0f} s: {hint}") from None
        say(f"grading on {where}: {_workers(client)} now; "
            f"dashboard {client.dashboard_link}")
    except BaseException:
        engine.close()
        raise
    return engine


def _workers(client) -> str:
    n = len(client.scheduler_info(n_workers=-1)["workers"])
    return f"{n} worker{'s' * (n != 1)}"


def _first_line(err) -> str:
    return (str(err).strip().splitlines() or [""])[0][:200]


def _address(scheduler: str) -> str:
    if not re.fullmatch(r"(tcp|tls)://[^\s/]+:\d+|[^\s/:]+:\d+", scheduler):
        raise UsageError(f"--scheduler {scheduler!r}: expected an address such as tcp://HOST:8786")
    return scheduler if "://" in scheduler else f"tcp://{scheduler}"


def _local_cluster(n: int):
    from distributed import LocalCluster
    with _cluster_config():
        # processes=True: each worker its own process, one thread, like the local pool's workers.
        return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1")


def load_slurm_config(path):
    """The ``--cluster-config`` YAML, checked: a mistake is one line naming the field (exit 2)."""
    import yaml
    from pydantic import BaseModel, ConfigDict, Field, ValidationError

    class SlurmConfig(BaseModel):
        model_config = ConfigDict(extra="forbid")
        queue: str = Field(min_length=1)                  # the partition (#SBATCH -p)
        cores: int = Field(1, ge=1)                       # per job: as many one-thread workers
        memory: str = Field(pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$")   # per job, e.g. 8GB
        walltime: str = Field("01:00:00", pattern=r"^(\d+-)?\d{1,3}:\d\d(:\d\d)?$")
        jobs: int = Field(1, ge=1)
        account: str | None = None
        setup: list[str] = []                             # shell lines run first (module load, ...)
        wait_seconds: float = Field(SLURM_WAIT_SECONDS, gt=0)   # for the first worker to start

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise UsageError(f"cannot read the cluster config {path}: {err.strerror or err}") from None
    except yaml.YAMLError:
        raise UsageError(f"cluster config {path} is not valid YAML") from None
    if not isinstance(data, dict):
        raise UsageError(f"cluster config {path} must be a YAML mapping (queue, cores, memory, walltime, jobs)")
    try:
        return SlurmConfig(**data)
    except ValidationError as err:
        first = err.errors()[0]
        raise UsageError(f"cluster config {path}: {'.'.join(map(str, first['loc'])) or '(top level)'}: "
                         f"{first['msg']}") from None


def slurm_cluster(settings):
    """A ``dask_jobqueue.SLURMCluster`` from the checked config (no job is submitted until it is
    scaled): each job runs ``cores`` worker processes of one thread each, with the project's
    python (the same venv path on every node, where ``make setup`` installed the project)."""
    from dask_jobqueue import SLURMCluster
    prologue = list(settings.setup) + [f"cd {_quote(PROJECT)}"] \
        + [f"export {name}={_quote(value)}" for name, value in environment().items()]
    with _cluster_config():
        return SLURMCluster(queue=settings.queue, account=settings.account, cores=settings.cores,
                            processes=settings.cores, memory=settings.memory, walltime=settings.walltime,
                            python=sys.executable, job_script_prologue=prologue,
                            job_name="lab2-grader")


def _quote(path) -> str:
    import shlex
    return shlex.quote(str(path))


# --- the engine and its pool --------------------------------------------------------------------

class DaskEngine:
    """A connected client, and the cluster it started (closed with it)."""

    def __init__(self, client, cluster=None, where: str = ""):
        self.client, self.cluster, self.where = client, cluster, where
        import cloudpickle

        from grader.batch.engines import worker_setup
        cloudpickle.register_pickle_by_value(worker_setup)   # neither the scheduler nor every worker imports grader
        self.setup = worker_setup

    def pool(self, rubric: Rubric, workdir: Path, budget: float) -> "DaskPool":
        return DaskPool(self, rubric, Path(workdir), budget)

    def check(self, rubric: Rubric, out: Path, source: Path) -> None:
        """Every worker can grade as this process would, or one line saying which cannot and why."""
        import numpy

        from grader import sandbox
        from grader.answers import cache as answers_cache
        probe = OutDir(out).probe(uuid.uuid4().hex)
        probe.write_bytes(b"")
        try:
            want = {"project": str(PROJECT), "numpy": numpy.__version__, "rubric": pickle.dumps(rubric),
                    "bubblewrap": sandbox.sandbox_status()[0] == "bubblewrap",
                    "cache_key": answers_cache.cache_key(rubric),
                    "out_probe": str(probe), "source": str(Path(source).resolve())}
            problems = {w: [f"runs {n} threads (start it with --nthreads 1: one archive at a time per worker)"]
                        for w, n in self.client.nthreads().items() if n != 1}
            try:
                found = self.client.run(self.setup.probe, want, on_error="return", wait=True)
            except Exception as err:  # noqa: BLE001 - the scheduler went away while checking
                raise UsageError(f"could not check the workers of {self.where}: {type(err).__name__}: "
                                 f"{_first_line(err)}") from None
            for worker, answer in found.items():
                if isinstance(answer, BaseException):
                    answer = [f"could not run the checks: {type(answer).__name__}: {_first_line(answer)}"]
                problems.setdefault(worker, []).extend(answer)
        finally:
            probe.unlink(missing_ok=True)
        bad = {w: p for w, p in sorted(problems.items()) if p}
        if bad:
            worker, first = next(iter(bad.items()))
            more = sum(len(p) for p in bad.values()) - 1
            raise UsageError(f"the Dask worker {worker} cannot grade: {first[0]}"
                             + (f" (and {more} more problem{'s' * (more > 1)} on {len(bad)} worker"
                                f"{'s' * (len(bad) > 1)})" if more else "") + "; no archive was sent")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class DaskPool:
    """The ``grader.batch.engines.Pool`` of a Dask cluster: every task submitted at once, in order
    (the scheduler hands them out one per idle worker), results taken as they arrive."""

    def __init__(self, engine: DaskEngine, rubric: Rubric, workdir: Path, budget: float):
        self.engine, self.client, self.rubric = engine, engine.client, rubric
        self.workdir, self.budget = str(workdir), budget
        self._pending: dict = {}   # future -> task
        self._fetch_failures: dict = {}   # future key -> results that could not be fetched

    def run(self, tasks, done) -> None:
        from distributed import wait
        client, batch_id, rubric = self.client, uuid.uuid4().hex[:8], pickle.dumps(self.rubric)
        for i, task in enumerate(tasks):
            try:
                future = client.submit(self.engine.setup.grade, task, rubric, self.workdir, pure=False,
                                       retries=RETRIES, key=f"grade-{batch_id}-{i:05d}")
            except Exception as err:  # noqa: BLE001 - a closed client: the scheduler went away
                raise self._lost(err) from None
            self._pending[future] = task
        running_since: dict = {}
        last_look = 0.0
        while self._pending:
            try:
                with client.as_current():   # distributed.wait asks for the current client
                    finished, _ = wait(list(self._pending), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
            except TimeoutError:
                finished = ()
            except Exception as err:  # noqa: BLE001 - FuturesCancelledError: the client lost its scheduler
                raise self._lost(err if not any(f.cancelled() for f in self._pending) else None) from None
            for future in sorted(finished, key=lambda f: f.key):
                task = self._pending.pop(future)
                self._finish(future, task, done)
            if self._pending and time.monotonic() - last_look > 5 * POLL_SECONDS:
                last_look = time.monotonic()
                self._give_up_overdue(self._processing(), running_since, done)

    def _finish(self, future, task, done) -> None:
        if future.status == "cancelled":
            self._pending[future] = task   # not done: the next run grades it
            raise self._lost(None)
        if future.status == "error":
            done(task, None, self._death(future.exception()))
        else:
            death: str | None
            try:
                result = future.result(timeout=CHECK_SECONDS)
            except Exception as err:  # noqa: BLE001 - its worker died before handing the result over
                # The scheduler computes a lost result again (or errs it, or is gone): wait for
                # that, a few times; a result that can never be fetched is that row's error.
                failures = self._fetch_failures[future.key] = self._fetch_failures.get(future.key, 0) + 1
                if failures <= RETRIES:
                    self._pending[future] = task
                    time.sleep(POLL_SECONDS)
                    return
                result, death = None, (f"the result of this archive could not be fetched from its Dask worker "
                                       f"({type(err).__name__}: {_first_line(err)}); re-run the batch to retry it")
            else:
                death = None
            done(task, result, death)
        future.release()

    @staticmethod
    def _death(err) -> str:
        from distributed import KilledWorker
        if isinstance(err, KilledWorker):
            return (f"the grading process died on {err.allowed_failures + 1} Dask workers in turn while grading "
                    "this archive; re-run the batch to retry it")
        return (f"grading this archive failed on the Dask workers {RETRIES + 1} times ({type(err).__name__}: "
                f"{_first_line(err)}); re-run the batch to retry it")

    def _processing(self) -> dict:
        """What each worker is running; also the heartbeat that finds a scheduler gone quiet (a
        scheduler that closes cleanly leaves the client's futures pending, not cancelled)."""
        try:
            if self.client.status != "running":
                raise ConnectionError(f"the client is {self.client.status}")
            return self.client.processing()
        except Exception as err:  # noqa: BLE001 - the scheduler is gone, whatever the error says
            raise self._lost(err) from None

    def _give_up_overdue(self, processing: dict, running_since: dict, done) -> None:
        """A task running longer than the budget is a grader bug (the sandbox's limits end any
        student run much sooner): its row says so, and its worker is restarted if it can be."""
        now = time.monotonic()
        by_key = {f.key: f for f in self._pending}
        for worker, keys in processing.items():
            for key in keys:
                if key not in by_key:
                    continue
                since = running_since.setdefault((worker, key), now)
                if now - since <= self.budget:
                    continue
                future = by_key[key]
                task = self._pending.pop(future)
                future.cancel()
                with contextlib.suppress(Exception):
                    self.client.restart_workers([worker], timeout=30, raise_for_error=False)
                done(task, None, f"grading this archive took more than {self.budget:.0f} s, far beyond the rubric's "
                                 "time limits: its Dask worker was restarted; re-run the batch to retry it")

    def _lost(self, err) -> EngineLost:
        why = f" ({type(err).__name__}: {_first_line(err)})" if err is not None else ""
        return EngineLost(f"{self.engine.where} stopped answering{why}")

    def close(self, kill: bool = False) -> None:
        """Drop the tasks not done (a task already running on a worker ends there, unread)."""
        if self._pending and self.client.status == "running":
            with contextlib.suppress(Exception):
                self.client.cancel(list(self._pending))
        self._pending = {}
