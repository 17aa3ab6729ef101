"""Batch grading on a Dask cluster (``--scheduler``, ``--cluster``; ``grader.batch.engines.dask_engine``).

Each test starts a real ``dask scheduler`` and ``dask worker --nthreads 1`` processes on
127.0.0.1 (random ports, through a scheduler file), runs ``python -m grader batch`` against them
as a teacher would, and stops them at the end. The catalogue holds three archives graded for
real (a few seconds each) and archives that fail fast (refused, no package, an import error).

SLOW: about two minutes in all on 2 busy cores. The Slurm options are tested on the job script
``dask_jobqueue`` generates (no Slurm needed).
"""
import contextlib
import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from builders import archives

from grader import PROJECT
from grader.batch import outdir
from grader.batch.engines import dask_engine
from grader.batch.run import run
from grader.errors import UsageError
from grader.rubric import load as load_rubric
from grader.sandbox import sandbox_status

pytestmark = pytest.mark.timeout(600)

RUBRIC_PATH = Path(__file__).parents[1] / "files" / "rubric_small.yaml"
RUBRIC = load_rubric(RUBRIC_PATH)
DASK = str(Path(sys.executable).with_name("dask"))
EXAMPLE = Path(__file__).parents[1] / "files" / "example" / "DOE_Jane_Lab2_DLCV"
# A worker that dies or hangs on the archives its environment names (SABOTAGE_KILL, SABOTAGE_HANG).
SABOTAGE = ("--preload", str(Path(__file__).parents[1] / "builders" / "sabotage.py"))


# --- the catalogue ------------------------------------------------------------------------------

def mistakes(folder: Path) -> Path:
    """The example submission: two catalogue mistakes, so a partial grade."""
    files = {"DOE_Jane/" + p.relative_to(EXAMPLE).as_posix(): p.read_bytes()
             for p in sorted(EXAMPLE.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}
    return archives.write_tar(folder / "DOE Jane Lab2 DLCV.tar.bz2", files)


def import_error(folder: Path) -> Path:
    files = archives.package_files()
    files["lab2/single_neuron.py"] = b"import numpy as np\nfrom lab2 import nowhere_to_be_found\n"
    return archives.write_tar(folder / "ERREUR Import Lab2 DLCV.tar.bz2", files)


FAST = (archives.no_package, archives.empty, archives.not_an_archive, archives.traversal, import_error)
REAL = (archives.good_wrapped, archives.good_flat, mistakes)


def build(folder: Path, builders) -> Path:
    folder.mkdir(parents=True)
    for b in builders:
        b(folder)
    return folder


def cli(folder: Path, out: Path, *extra) -> list[str]:
    return [sys.executable, "-m", "grader", "batch", str(folder), "--out", str(out), "--rubric", str(RUBRIC_PATH),
            *extra]


def csv_rows(out: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO((out / "grades.csv").read_bytes().decode("utf-8-sig"), newline="")))


@pytest.fixture(scope="module")
def classes(tmp_path_factory):
    """The catalogue (3 real gradings, 5 fast ones) and the fast part alone, each graded locally
    at --jobs 2 as the reference the cluster's bytes are compared with."""
    root = tmp_path_factory.mktemp("cluster")
    full, fast = build(root / "full", REAL + FAST), build(root / "fast", FAST)
    run(full, root / "local-full", RUBRIC, jobs=2, progress=False)
    run(fast, root / "local-fast", RUBRIC, jobs=2, progress=False)
    return {"root": root, "full": full, "fast": fast}


# --- a cluster on 127.0.0.1 ---------------------------------------------------------------------

class Cluster:
    """A ``dask scheduler`` and workers, each in its own session so that all can be killed."""

    def __init__(self, folder: Path):
        self.folder, self.procs, self.workers = folder, [], []
        self.file = folder / "scheduler.json"
        # As README advises for a scheduler started by hand: the settings of the grader's own
        # clusters (one task per one-thread worker, RETRIES worker deaths per task, ...).
        env = os.environ | dask_engine.environment()
        self.scheduler = self._start([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                      "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(self.file)],
                                     env, "scheduler")
        deadline = time.monotonic() + 60
        while not self.file.exists():
            assert time.monotonic() < deadline and self.scheduler.poll() is None, self.log("scheduler")
            time.sleep(0.2)
        time.sleep(0.2)
        self.address = json.loads(self.file.read_text())["address"]

    def _start(self, argv, env, name):
        with open(self.folder / f"{name}.log", "wb") as log:   # the child keeps its own copy
            proc = subprocess.Popen(argv, cwd=self.folder, env=env, start_new_session=True, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=log)
        self.procs.append(proc)
        return proc

    def worker(self, *extra, env=None, nanny=True):
        """A worker of one thread (or ``extra``'s); ``env`` is added to this process's."""
        n = len(self.workers)
        argv = [DASK, "worker", "--scheduler-file", str(self.file), "--nthreads", "1", "--no-dashboard",
                "--local-directory", str(self.folder / f"w{n}"), *extra] + ([] if nanny else ["--no-nanny"])
        self.workers.append(self._start(argv, os.environ | dask_engine.environment() | (env or {}), f"worker{n}"))
        return self.workers[-1]

    def wait_for_workers(self, n: int) -> None:
        from distributed import Client
        with Client(self.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(n, timeout=60)

    def log(self, name) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop(self):
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def cluster(tmp_path):
    folder = tmp_path / "dask"
    folder.mkdir()
    c = Cluster(folder)
    try:
        yield c
    finally:
        c.stop()


def run_batch(folder: Path, out: Path, *extra, timeout=400) -> subprocess.CompletedProcess:
    return subprocess.run(cli(folder, out, *extra), cwd=PROJECT, capture_output=True, text=True, timeout=timeout,
                          check=False)


# --- the same bytes as a local batch -----------------------------------------------------------

def test_a_dask_cluster_writes_the_same_grades_as_local_workers(classes, cluster, tmp_path):
    cluster.worker()
    cluster.worker()
    cluster.wait_for_workers(2)
    out = tmp_path / "out"
    done = run_batch(classes["full"], out, "--scheduler", cluster.address)
    assert done.returncode == 0, done.stderr
    local = classes["root"] / "local-full"
    # Byte for byte, since both were graded in this run on this machine: another machine's
    # rounding could move no point either (points are passes at rtol 1e-5, far above the last place).
    assert (out / "grades.csv").read_bytes() == (local / "grades.csv").read_bytes()
    assert (out / "summary.md").read_bytes() == (local / "summary.md").read_bytes()
    assert {r["status"] for r in csv_rows(out)} == {"graded", "bad-archive", "no-package", "import-error"}
    assert f"grading on the Dask scheduler at {cluster.address}: 2 workers now; dashboard http" in done.stderr
    for key in ("DOE_John", "MARTIN_Alice", "DOE_Jane"):   # drawn by the workers, into the shared OUT
        assert (out / "students" / key / "loss_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert not (out / outdir.WORK).exists()

    again = run_batch(classes["full"], out, "--scheduler", cluster.address)   # resumption: nothing to regrade
    assert again.returncode == 0 and "0 graded now, 8 up to date" in again.stdout, again.stdout + again.stderr
    assert (out / "grades.csv").read_bytes() == (local / "grades.csv").read_bytes()


def test_a_worker_killed_mid_batch_loses_no_row(classes, cluster, tmp_path):
    # The first worker SIGKILLs itself on the first archive it is given (no nanny: it stays
    # dead); the scheduler gives that archive to the other worker.
    doomed = cluster.worker(*SABOTAGE, env={"SABOTAGE_KILL": "Lab2"}, nanny=False)
    cluster.worker()
    cluster.wait_for_workers(2)
    out = tmp_path / "out"
    done = run_batch(classes["full"], out, "--scheduler", cluster.address)
    assert done.returncode == 0, done.stderr
    assert doomed.wait(10) == -signal.SIGKILL
    assert (out / "grades.csv").read_bytes() == (classes["root"] / "local-full" / "grades.csv").read_bytes()


def test_a_task_that_keeps_killing_its_workers_is_that_rows_internal_error(classes, cluster, tmp_path):
    # Every worker dies on this one archive (a nanny restarts each): after the scheduler's
    # allowed failures it is that row's internal-error, and the other rows are as usual.
    env = {"SABOTAGE_KILL": "SANS Paquet"}
    cluster.worker(*SABOTAGE, env=env)
    cluster.worker(*SABOTAGE, env=env)
    cluster.wait_for_workers(2)
    out = tmp_path / "out"
    done = run_batch(classes["fast"], out, "--scheduler", cluster.address)
    assert done.returncode == 3, done.stderr     # a grader error somewhere: like a local batch
    rows = {r["file"]: r for r in csv_rows(out)}
    assert len(rows) == len(FAST)
    sans = rows["SANS Paquet Lab2 DLCV.tar.bz2"]
    assert sans["status"] == "internal-error"
    assert f"the grading process died on {dask_engine.RETRIES + 1} Dask workers in turn" in sans["warnings"]
    local = {r["file"]: r for r in csv_rows(classes["root"] / "local-fast")}
    assert {f: r for f, r in rows.items() if not f.startswith("SANS")} == \
        {f: r for f, r in local.items() if not f.startswith("SANS")}


def test_local_cluster_gives_the_same_bytes(classes, tmp_path):
    out = tmp_path / "out"
    done = run_batch(classes["fast"], out, "--cluster", "local:2")
    assert done.returncode == 0, done.stderr
    assert "grading on a local Dask cluster of 2 workers: 2 workers now; dashboard http" in done.stderr
    assert (out / "grades.csv").read_bytes() == (classes["root"] / "local-fast" / "grades.csv").read_bytes()


# --- a scheduler that goes away, or never answers --------------------------------------------------

def test_a_stopped_scheduler_is_a_clear_error_and_keeps_every_row(classes, cluster, tmp_path):
    # One archive hangs on its worker, so the scheduler is stopped with the batch half done.
    for _ in range(2):
        cluster.worker(*SABOTAGE, env={"SABOTAGE_HANG": "SANS Paquet"})
    cluster.wait_for_workers(2)
    out = tmp_path / "out"
    proc = subprocess.Popen(cli(classes["fast"], out, "--scheduler", cluster.address), cwd=PROJECT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not ((out / "grades.csv").exists() and len(csv_rows(out)) == len(FAST) - 1):
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate(timeout=30)
            time.sleep(0.3)
        written = {r["file"]: r["status"] for r in csv_rows(out)}
        cluster.scheduler.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 3, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: the Dask scheduler at {cluster.address} stopped answering"), stderr
    assert "1 of 5 archives not graded yet (every row written is kept); run the same command again" in last
    rows = {r["file"]: r for r in csv_rows(out)}
    assert {f: r["status"] for f, r in rows.items()} == written   # every row kept, none made up
    local = {r["file"]: r for r in csv_rows(classes["root"] / "local-fast")}
    assert rows == {f: r for f, r in local.items() if not f.startswith("SANS")}   # as a local batch has them
    assert "stopped answering" in (out / "summary.md").read_text()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_exits_2_with_one_line_before_grading(classes, tmp_path):
    out = tmp_path / "out"
    address = f"tcp://127.0.0.1:{free_port()}"
    done = run_batch(classes["full"], out, "--scheduler", address, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: no Dask scheduler answers at {address} within 5 s"), lines
    assert not out.exists()


@pytest.mark.skipif(sandbox_status()[0] != "bubblewrap", reason="the driver itself has no bubblewrap")
def test_workers_that_cannot_grade_exit_2_with_one_line_before_any_archive(classes, cluster, tmp_path):
    # One worker runs two threads, the other has no bubblewrap on its PATH (a node without it).
    cluster.worker("--nthreads", "2")
    cluster.worker(env={"PATH": str(Path(sys.executable).parent)})
    cluster.wait_for_workers(2)
    out = tmp_path / "out"
    done = run_batch(classes["full"], out, "--scheduler", cluster.address)
    assert done.returncode == 2, done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and error == done.stderr.splitlines()[-1:]
    assert error[0].startswith("error: the Dask worker tcp://127.0.0.1:") and "no archive was sent" in error[0]
    assert "(and 1 more problem on 2 workers)" in error[0]
    assert not (out / "grades.csv").exists() and not (out / "students").exists()
    for name in ("worker0", "worker1"):
        assert "Run out-of-band function 'probe'" in cluster.log(name)   # each was checked


# --- Slurm, through dask-jobqueue's job script --------------------------------------------------

def test_the_slurm_config_becomes_a_job_script(tmp_path):
    config = tmp_path / "slurm.yaml"
    config.write_text("queue: short\ncores: 4\nmemory: 8GB\nwalltime: '00:30:00'\njobs: 3\naccount: dlcv\n"
                      "setup:\n  - module load python/3.11\n  - export LAB2_CACHE=/scratch/lab2-cache\n")
    settings = dask_engine.load_slurm_config(config)
    assert settings.jobs == 3
    slurm = dask_engine.slurm_cluster(settings)
    try:
        script = slurm.job_script()
    finally:
        slurm.close()
    lines = script.splitlines()
    assert "#SBATCH -p short" in lines and "#SBATCH -A dlcv" in lines and "#SBATCH -t 00:30:00" in lines
    assert "#SBATCH --cpus-per-task=4" in lines and any(line.startswith("#SBATCH --mem=") for line in lines)
    setup = lines.index("module load python/3.11")
    assert lines[setup:setup + 3] == ["module load python/3.11", "export LAB2_CACHE=/scratch/lab2-cache",
                                      f"cd {PROJECT}"]
    assert "export DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False" in lines   # the grader's Dask settings
    assert "export DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL=200ms" in lines
    command = lines[-1]
    assert command.startswith(f"{sys.executable} -m distributed.cli.dask_worker tcp://")
    assert "--nthreads 1" in command and "--nworkers 4" in command and "--nanny" in command


@pytest.mark.parametrize("text, where", [
    ("queue: short\nmemory: 8GB\njobs: 0\n", "jobs: Input should be greater than or equal to 1"),
    ("queue: short\nmemory: lots\n", "memory: String should match pattern"),
    ("queue: short\nmemory: 8GB\nnodes: 3\n", "nodes: Extra inputs are not permitted"),
    ("- queue\n", "must be a YAML mapping"),
])
def test_a_wrong_slurm_config_is_one_line_naming_the_field(tmp_path, text, where):
    config = tmp_path / "slurm.yaml"
    config.write_text(text)
    with pytest.raises(UsageError, match="cluster config .*slurm.yaml") as err:
        dask_engine.load_slurm_config(config)
    assert where in str(err.value) and "\n" not in str(err.value)
    done = run_batch(tmp_path, tmp_path / "out", "--cluster", "slurm", "--cluster-config", str(config), timeout=60)
    assert done.returncode == 2 and done.stderr.splitlines() == [f"error: {err.value}"]


@pytest.mark.skipif(shutil.which("sbatch") is not None, reason="this machine submits Slurm jobs")
def test_slurm_without_sbatch_is_one_line_before_anything(tmp_path):
    config = tmp_path / "slurm.yaml"
    config.write_text("queue: short\nmemory: 8GB\n")
    done = run_batch(tmp_path, tmp_path / "out", "--cluster", "slurm", "--cluster-config", str(config), timeout=60)
    assert done.returncode == 2 and done.stderr.splitlines() == [
        "error: --cluster slurm: sbatch is not on this machine's PATH (run the batch on a node that submits Slurm "
        "jobs, e.g. the cluster's login node)"]
    assert not (tmp_path / "out").exists()
