"""Grade a folder of submission archives into OUT: one row per archive, whatever happens.

A run, stage by stage, and why in this order:
0. intake (``grader.intake``): SOURCE is a folder of archives, a mailbox (mbox, Maildir, .eml
   files) or a Moodle download; it becomes a list of records (archive, student, source, group,
   received time), archives from mail and zips written once under ``OUT/incoming/``.
1. plan: in a folder of archives, every file is one archive, whatever its name: any length,
   script, control character, a leading ``-`` or ``=``, only dots or spaces, undecodable bytes
   (subfolders are not entered; the format is read from the bytes). Only what an operating
   system leaves beside files is skipped (``.DS_Store``, ``._*``, ``Thumbs.db``, ``desktop.ini``,
   ``.directory``, ``.~lock.*#``). Each gets its sha256, the student's name (from the file name,
   or the mail's subject, or Moodle), and its own folder ``OUT/students/<key>/`` (two archives
   with one key get ``<key>-<sha256 prefix>`` each; a key is at most 80 ASCII bytes,
   ``names.MAX_KEY`` + suffixes). An
   archive whose folder already holds a complete result for the same sha256, file name and
   rubric is *up to date*: its row is rebuilt from ``report.json`` and it is not regraded
   (``force`` regrades all; an ``internal-error`` row, the grader's own failure, is always retried).
2. the reference cache is built here, once, before any worker starts: workers only load it.
3. ``jobs`` worker processes grade the others, one archive at a time each, each running one
   sandboxed child with one BLAS thread (``api.grade(..., concurrency=1)``). A worker that
   dies costs its own archive only: that row says so (``internal-error``) and a fresh worker
   takes its place. Or a Dask cluster does, one task per archive with the same function
   (``grader.engines.dask_engine``); the rows are written here either way.
4. as soon as an archive is done its outputs are written, each file atomically, and
   ``grades.csv`` is rewritten: an interrupted batch (Ctrl-C, a kill) keeps every finished row,
   and running the same command again finishes the rest.
5. at the end: ``similarity.html`` and the ``similar_to`` column (``grader.similarity_report``),
   ``summary.md`` and ``histogram.png`` (``grader.summary``), one line on stdout.

Lateness (``grader.lateness``) is applied at every run too, from each record's received time and
group and the rubric's ``lateness``: a received time known later (a worksheet given on a second
run) updates the totals without regrading (editing the rubric file regrades, as always). A
Moodle source also gets ``OUT/moodle/``: ``feedback-files.zip`` and, with ``worksheet``, the
filled grading worksheet (``grader.moodle_export``).

Hand-given points (``manual_csv``, the batch form: student, question, points, comment) are
merged at every run into every matching report, graded now or up to date, so a new file updates
the totals without regrading. With a file, its entries *replace* all hand-given points (a
student it leaves out is pending again); without one, the points merged last time are kept.

OUT holds::

    grades.csv, summary.md, histogram.png
    similarity.html                 the near-duplicate report (grader.similarity_report), at the end
    students/<key>/report.json      the whole grade (Report.to_dict, hidden checks included)
                   results.json     Gradescope's format
                   feedback.md      for the student
                   loss_curves.png  the student's training losses beside the reference's
                   code.json        the lab2/ sources, kept for the near-duplicate report
                   archive.json     which archive and rubric these are the results of; written
                                    last, so it marks the folder complete
    incoming/<mail|moodle>/...      archives taken out of mails and Moodle zips (kept: they are graded)
    moodle/                         feedback-files.zip and the filled worksheet (Moodle sources)
    .work/                          the workers' private extraction folders (removed at the end)
    .batch.lock                     held while a batch writes OUT: two at once would mix rows

A file name that does not read as a student's name is graded under ``names.fallback_key``,
with a warning and the rubric's ``naming_penalty``.

Nothing one archive does ends the batch: an exception while planning, grading or writing one
archive (an ``OSError`` on a path, a name that does not encode...) becomes that archive's row,
``internal-error`` with the reason, and the others go on. Every file is written through
``grader.render.neutralise``: ``report.json``, ``results.json`` and ``archive.json`` are strict
JSON, ``grades.csv`` and the Markdown files hold no formula, HTML or control character a student
typed, and the lines printed show control characters escaped.

Archives are unpacked (``api.grade``) below ``OUT/.work`` when that path is short enough for
every archive ``grader.archive`` accepts (``archive.scratch_parent``), else in the system's
temporary folder: ``grade`` and ``batch`` accept exactly the same archives.
"""
import contextlib
import ctypes
import fcntl
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter, deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path

from grader import (
    PROJECT,
    UsageError,
    api,
    intake,
    lateness,
    manual,
    moodle_export,
    names,
    near_duplicates,
    plots,
    reference_answers,
    similarity,
    similarity_report,
    summary,
)
from grader.archive import ArchiveError, claimed_format, detect_format, extract, scratch_parent
from grader.engines import EngineLost
from grader.intake import worksheet as moodle_worksheet
from grader.locate import PackageError, find_package
from grader.render import neutralise as N
from grader.render import render_markdown, to_gradescope
from grader.render.common import pts
from grader.report import QuestionResult, Report
from lab2check import questions

MARKER = "archive.json"
PNG = "loss_curves.png"
WORK = ".work"
# Test hooks, read by workers only: a worker SIGKILLs itself (or hangs) when the archive's file
# name contains the variable's value, so the tests can check what a dead (or stuck) worker costs.
KILL_HOOK = "LAB2_BATCH_KILL_WORKER"
HANG_HOOK = "LAB2_BATCH_HANG_WORKER"
# The workers' own numpy work is small; one BLAS thread each keeps N workers on N cores.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
JOIN_SECONDS = 5.0
MAX_KEY = 80   # bytes of a student folder's name, suffixes included


@dataclass
class Row:
    """One archive's line in ``grades.csv``: where it came from, and its grade."""
    file: str                  # the archive's file name in FOLDER
    sha256: str                # of the archive's bytes ("" when it could not be read)
    key: str                   # its folder under OUT/students
    last: str                  # "" when the file name could not be read
    first: str
    report: Report
    fingerprint: dict = field(default_factory=dict)   # grader.similarity.fingerprint of lab2/
    notes: list[str] = field(default_factory=list)    # this run's warnings: duplicates, hand-given points
    up_to_date: bool = False   # rebuilt from an earlier run's report.json, not regraded
    similar_to: list[str] = field(default_factory=list)   # set at the end by grader.similarity_report
    source: str = "folder"     # where it arrived: folder | mail | moodle (grader.intake)
    group: str = ""            # the group whose deadline applies ("" when none was found)
    received: str = ""         # ISO 8601, "" when unknown
    participant: str = ""      # Moodle's participant id
    moodle_folder: str = ""    # the participant's folder in Moodle's download

    @property
    def late_days(self) -> int | None:
        return self.report.late_days

    @property
    def status(self) -> str:
        return self.report.status

    @property
    def reason(self) -> str:
        """Why it was not graded normally, in one line ("" when it was)."""
        if self.report.error:
            return self.report.error
        if self.status != "graded":  # import-error, timeout: the questions say what stopped them
            return next((q.summary for q in self.report.questions if q.status not in ("passed", "manual")
                         and q.summary), "")
        return ""

    @property
    def warnings(self) -> list[str]:
        """What the CSV's warnings cell lists: why it was not graded, then every warning."""
        reason = [f"{self.status}: {self.reason}"] if self.reason else []
        return reason + list(self.report.warnings) + list(self.notes)


@dataclass
class BatchResult:
    rows: list[Row]
    internal_errors: list[str]   # the files whose grading failed on the grader's side
    skipped: int                 # archives up to date, not regraded
    graded: int                  # archives graded by this run


@dataclass
class _Archive:
    """One archive (or message without one) of SOURCE, as planned."""
    path: Path | None
    file: str
    sha256: str
    name: names.StudentName | None
    key: str = ""
    notes: list[str] = field(default_factory=list)
    refused: str = ""          # why it cannot even be read (not a regular file, no archive, ...)
    failed: str = ""           # the grader's own failure while planning it (internal-error)
    record: intake.Submission | None = None   # what the intake found
    status: str = "bad-archive"   # the row's status when refused

    @property
    def student(self) -> str:
        return self.record.display if self.record else (str(self.name) if self.name else self.file)

    @property
    def misnamed(self) -> bool:
        """The archive's own file name does not read as a student's name (the naming penalty)."""
        if self.path is None:
            return False
        try:
            return names.parse_name(self.file) is None
        except Exception:  # noqa: BLE001 - a name that cannot even be parsed does not read as one
            return True

    def origin(self) -> dict:
        """Row fields that say where the archive came from."""
        r = self.record
        if r is None:
            return {}
        return {"source": r.source, "group": r.group, "received": lateness.iso(r.received) if r.received else "",
                "participant": r.participant, "moodle_folder": r.moodle_folder}


# --- writing ------------------------------------------------------------------------------------

def _replace_if_changed(tmp: Path, path: Path) -> None:
    """Move ``tmp`` onto ``path`` unless ``path`` already holds the same bytes (its mtime then
    stays: a re-run that changes nothing rewrites nothing)."""
    try:
        if path.read_bytes() == tmp.read_bytes():
            tmp.unlink()
            return
    except OSError:
        pass
    os.replace(tmp, path)


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write through a temporary file and ``os.replace``: readers see the old or the new file."""
    data = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    _replace_if_changed(tmp, path)


def _draw_curves(report: Report, path: Path) -> None:
    # matplotlib picks the format from the extension: the temporary name ends in .png too.
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.png")
    plots.loss_curves_png(report, tmp)
    _replace_if_changed(tmp, path)


def _write_student(folder: Path, row: Row) -> None:
    """The student's outputs; the marker last, so that a folder with a marker is complete."""
    folder.mkdir(parents=True, exist_ok=True)
    report = row.report
    write_atomic(folder / "report.json", N.json_dumps(report.to_dict(), indent=1) + "\n")
    write_atomic(folder / "results.json", N.json_dumps(to_gradescope(report), indent=2) + "\n")
    write_atomic(folder / "feedback.md", render_markdown(report))
    if not report.questions:
        (folder / PNG).unlink(missing_ok=True)  # an earlier version's curves would mislead
    marker = {"file": row.file, "sha256": row.sha256, "rubric_sha256": report.rubric_sha256, "key": row.key,
              "last_name": row.last, "first_name": row.first, "status": report.status,
              "fingerprint": row.fingerprint}
    write_atomic(folder / MARKER, N.json_dumps(marker, indent=1) + "\n")  # "file" as neutralise.text shows it


# --- planning -----------------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _archive(record: intake.Submission) -> _Archive:
    path = record.path
    a = _Archive(path, record.file, "", record.name, notes=list(record.warnings), record=record)
    if path is None:           # a message without an archive, or one that could not be read
        a.refused, a.status = record.reason, record.status
        return a
    shown = N.line(record.file)
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            a.refused = f"{shown} is not a regular file"  # a FIFO would block the hashing
        else:
            a.sha256 = _sha256(path)
    except OSError as err:
        a.refused = f"cannot read {shown}: {err.strerror or err}"
    return a


def _base_key(a: _Archive) -> str:
    try:
        return a.record.key
    except Exception:  # noqa: BLE001 - a key is always found: the hash of the name's bytes
        return "archive-" + hashlib.sha1(os.fsencode(a.file)).hexdigest()[:8]


def _plan(records: list[intake.Submission]) -> list[_Archive]:
    """Every archive the intake found, with its unique folder key, in the intake's order."""
    archives = [_archive(r) for r in records]
    base = {id(a): names.bounded(_base_key(a)) for a in archives}
    counts = Counter(base.values())
    used = set()
    for a in archives:
        key = base[id(a)]
        if counts[key] > 1:
            # Each copy gets its own folder, named by its content so that it does not depend
            # on which other copies are in the folder this time.
            others = sorted(N.line(b.file) for b in archives if base[id(b)] == key and b is not a)
            a.notes.append(f"{counts[key]} archives read as the same student ({key}): also "
                           f"{', '.join(others)}; each is graded in its own folder")
            key = f"{key}-{a.sha256[:8] or 'unread'}"
        unique, n = key, 2
        while unique in used:  # two identical copies under two names
            unique, n = f"{key}-{n}", n + 1
        used.add(unique)
        a.key = names.bounded(unique, MAX_KEY)
    return archives


def _previous(folder: Path, a: _Archive, rubric) -> Row | None:
    """The earlier run's row for ``a`` when it is complete and still valid, else None."""
    try:
        meta = N.json_loads((folder / MARKER).read_text(encoding="utf-8"))
        report = Report.from_dict(N.json_loads((folder / "report.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if (not a.sha256 or meta.get("sha256") != a.sha256 or meta.get("file") != N.text(a.file)
            or report.rubric_sha256 != rubric.sha256 or report.status == "internal-error"):
        return None
    _late(report, a, rubric)
    return Row(a.file, a.sha256, a.key, meta.get("last_name", ""), meta.get("first_name", ""), report,
               meta.get("fingerprint") or {}, list(a.notes), up_to_date=True, **a.origin())


def _late(report: Report, a: _Archive, rubric) -> None:
    """The rubric's lateness, applied again at every run (a new deadline needs no regrading)."""
    r = a.record
    received = r.received if r else None
    found = lateness.assess(rubric.lateness, r.group if r else "", received)
    report.lateness, report.late_days, report.late_penalty = found.line(received), found.late_days, found.penalty


# --- grading one archive (in a worker) ------------------------------------------------------------

def _not_graded(student: str, file: str, status: str, error: str, rubric, sandbox: str = "") -> Report:
    return Report(student=student, submission=file, status=status, error=error, total_max=rubric.total,
                  rubric_sha256=rubric.sha256, sandbox=sandbox)


def _failed_report(report: Report, why: str, rubric) -> Report:
    """An ``internal-error`` report in place of ``report``, for a failure after the grading."""
    failed = _not_graded(report.student, report.submission, "internal-error", why, rubric, report.sandbox)
    failed.warnings = list(report.warnings) + [traceback.format_exc(limit=5)]
    return failed


def _fingerprint(path: Path, rubric, workdir, folder: Path) -> dict:
    """The normalised hashes of the archive's ``lab2/`` (unpacked again: ``api.grade`` keeps its
    folder private; a few kB, milliseconds); its code is kept in ``folder/code.json`` for the
    near-duplicate report at the end (``grader.similarity_report``)."""
    try:
        with tempfile.TemporaryDirectory(prefix="lab2-fingerprint-", dir=scratch_parent(workdir)) as tmp:
            unpacked = extract(path, Path(tmp) / "unpacked", rubric.archive)
            package = find_package(unpacked.root).package
            with contextlib.suppress(OSError):
                near_duplicates.save_code(package, folder, _sha256(path))
            return similarity.fingerprint(package)
    except Exception:  # noqa: BLE001 - the fingerprint is a hint for the teacher, never worth a row
        return {}


def grade_archive(path: Path, folder: Path, rubric, answers, workdir) -> dict:
    """Grade one archive: ``{"report": Report.to_dict(), "fingerprint": {...}}``; draws its curves.

    Every outcome is a report: a refused archive (``bad-archive``, ``no-package``) and the
    grader's own failure (``internal-error``) included; this function does not raise.
    """
    if os.environ.get(KILL_HOOK) and os.environ[KILL_HOOK] in path.name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get(HANG_HOOK) and os.environ[HANG_HOOK] in path.name:
        time.sleep(3600)
    try:
        return _grade_archive(path, folder, rubric, answers, workdir)
    except Exception as err:  # noqa: BLE001 - a bug around one archive costs that archive's row only
        report = _not_graded(N.line(path.name), N.line(path.name), "internal-error",
                             f"{type(err).__name__}: {err}", rubric)
        report.warnings.append(traceback.format_exc(limit=5))
        return {"report": report.to_dict(), "fingerprint": {}}


def _grade_archive(path: Path, folder: Path, rubric, answers, workdir) -> dict:
    student = api.student_name(path)
    refused = "student code was not run: the archive was refused"
    try:
        if answers is None:
            raise RuntimeError("the reference cache could not be loaded in this worker")
        report = api.grade(path, rubric, answers=answers, concurrency=1, workdir=workdir)
    except ArchiveError as err:
        report = _not_graded(student, path.name, "bad-archive", str(err), rubric, refused)
    except PackageError as err:
        report = _not_graded(student, path.name, "no-package", str(err), rubric, refused)
    except Exception as err:  # noqa: BLE001 - the grader's failure, never the student's zero
        report = _not_graded(student, path.name, "internal-error", f"{type(err).__name__}: {err}", rubric)
        report.warnings.append(traceback.format_exc(limit=5))
    fingerprint = {}
    if report.questions:
        fingerprint = _fingerprint(path, rubric, workdir, folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _draw_curves(report, folder / PNG)
        except Exception as err:  # noqa: BLE001 - a missing picture must not cost the grade
            report.warnings.append(f"the loss curves could not be drawn: {type(err).__name__}: {err}")
    return {"report": report.to_dict(), "fingerprint": fingerprint}


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
    """A worker process: receive the rubric and the work folder, load the reference cache once,
    then grade each archive it is sent and answer with ``grade_archive``'s result."""
    _die_with_parent(parent)
    inbox, outbox = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    rubric, workdir = inbox.recv()
    try:
        answers = reference_answers.load(rubric)  # built by the batch before the workers started: read only
    except Exception:  # noqa: BLE001 - each archive then says so, as an internal error
        answers = None
    while True:
        try:
            task = inbox.recv()
        except EOFError:
            return
        if task is None:
            return
        outbox.send(grade_archive(Path(task["path"]), Path(task["folder"]), rubric, answers, workdir))


# --- the pool -----------------------------------------------------------------------------------

class _Worker:
    """One worker process and the two ends of its pipes."""

    def __init__(self, rubric, workdir: Path):
        to_worker, from_worker = os.pipe2(os.O_CLOEXEC), os.pipe2(os.O_CLOEXEC)
        code = (f"import sys; sys.path.insert(0, {str(PROJECT)!r}); from grader.batch import worker_main; "
                f"worker_main({to_worker[0]}, {from_worker[1]}, {os.getpid()})")
        try:
            # Its own session: Ctrl-C reaches the batch only, which then stops the workers itself.
            # A plain process, not multiprocessing's: nothing re-runs the caller's main script.
            self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                                         pass_fds=(to_worker[0], from_worker[1]), env=os.environ | ONE_THREAD,
                                         start_new_session=True)
        finally:
            os.close(to_worker[0])
            os.close(from_worker[1])
        self.outbox = Connection(to_worker[1], readable=False)
        self.inbox = Connection(from_worker[0], writable=False)
        self.send((rubric, str(workdir)))

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


class _Pool:
    """``jobs`` worker processes, each sent one archive at a time.

    Not ``concurrent.futures``: when one of its workers dies, every running task fails with
    ``BrokenProcessPool`` and nothing says which archive killed it. Here each worker has its
    own pipes, so a death is charged to the archive that worker had, and only to it.
    """

    def __init__(self, jobs: int, rubric, workdir: Path, budget: float):
        self._args = (rubric, workdir)
        self._budget = budget
        self._idle = [_Worker(*self._args) for _ in range(jobs)]
        self._busy: dict[_Worker, tuple[dict, float]] = {}   # worker -> (task, deadline)

    def run(self, tasks, done) -> None:
        """Grade ``tasks``; ``done(task, result, death)`` is called for each as it ends, with the
        worker's result, or None and a line saying how the worker died."""
        pending = deque(tasks)
        while pending or self._busy:
            while pending and self._idle:
                worker, task = self._idle.pop(), pending.popleft()
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
                    death = worker.death() if worker.inbox in ready else worker.overdue(self._budget)
                    self._idle.append(_Worker(*self._args))
                    done(task, None, death)
                else:
                    self._idle.append(worker)
                    done(task, result, None)

    def close(self, kill: bool = False) -> None:
        for worker in self._idle + list(self._busy):
            worker.stop(kill)
        self._idle, self._busy = [], {}


# --- the batch ------------------------------------------------------------------------------------

def time_budget(rubric) -> float:
    """Seconds after which a worker still grading one archive is taken as stuck: twice what every
    time limit of the rubric allows one submission, run one after the other, plus starts."""
    limits = rubric.limits
    worst = (len(questions.modules()) * limits.import_seconds + len(questions.unit_questions()) * limits.call_seconds
             + len(questions.training_questions()) * limits.train_seconds)
    return 2 * worst + 120


def _template(rubric) -> Report:
    """An empty report with every question of the rubric: to check a manual file against."""
    return Report(student="", submission="", questions=[
        QuestionResult(qid, spec.title, spec.auto, manual_title=spec.manual_title, max_manual=spec.manual,
                       bonus=spec.bonus) for qid, spec in rubric.questions.items()])


def _load_manual(path, rubric) -> dict:
    """The batch manual file, every entry checked now: a mistake in it stops the batch before
    any grading, not half-way."""
    entries = manual.load_manual(path, batch=True)
    for per_student in entries.values():
        manual.apply_manual(_template(rubric), per_student)
    return entries


@contextlib.contextmanager
def _lock(out: Path):
    fd = os.open(out / ".batch.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another batch is writing to {out}: wait for it, or choose another --out") from None
        yield
    finally:
        os.close(fd)


class _Batch:
    """The state of one run: the rows so far, and how to write them."""

    def __init__(self, folder: Path, out: Path, rubric, entries: dict | None):
        self.folder, self.out, self.rubric, self.entries = folder, out, rubric, entries
        self.rows: dict[str, Row] = {}
        self.matched: set[str] = set()   # manual-file students found in some row
        self.graded = 0

    def student_folder(self, key: str) -> Path:
        return self.out / "students" / key

    def merge_manual(self, row: Row) -> None:
        if self.entries is None:
            return
        report = row.report
        found_key = next((manual.student_key(n) for n in (f"{row.last} {row.first}", row.file, row.key)
                          if n.strip() and manual.student_key(n) in self.entries), None)
        if found_key:
            self.matched.add(found_key)
        if not report.questions:
            if found_key:
                row.notes.append("hand-given points in the manual file not merged: nothing was graded")
            return
        for q in report.questions:  # the file is the whole truth about hand-given points
            q.manual_points, q.manual_comment = None, ""
        try:
            row.notes += manual.apply_manual(report, self.entries.get(found_key, {}))
        except UsageError as err:  # checked at load; kept as a row warning should a report differ
            row.notes.append(str(err))

    def add(self, row: Row, csv: bool = True) -> None:
        """Keep ``row`` and write its outputs (and ``grades.csv`` unless ``csv`` is False); when
        they cannot be written the row says so (``internal-error``, retried next run) and the
        batch goes on."""
        try:
            self.merge_manual(row)
            _write_student(self.student_folder(row.key), row)
        except Exception as err:  # noqa: BLE001 - one archive's files, never the whole batch
            row.report = _failed_report(row.report, f"its results could not be written: {type(err).__name__}: {err}",
                                        self.rubric)
            with contextlib.suppress(OSError):
                (self.student_folder(row.key) / MARKER).unlink(missing_ok=True)
        self.rows[row.key] = row
        if csv:
            self.write_csv()

    def write_csv(self) -> None:
        write_atomic(self.out / "grades.csv", summary.grades_csv(self.rows.values(), self.rubric))

    def finish(self, a: _Archive, result: dict | None, death: str | None) -> Row:
        """The row of an archive graded now (or whose worker died, or that failed before)."""
        try:
            row = self._row(a, result, death)
        except Exception as err:  # noqa: BLE001 - the row still exists, and says what failed
            report = _not_graded(N.line(a.file), N.line(a.file), "internal-error",
                                 f"{type(err).__name__}: {err}", self.rubric)
            row = Row(a.file, a.sha256, a.key, "", "", report, {}, list(a.notes), **a.origin())
        if not a.refused:      # a refused file or a mail without an archive: nothing was graded
            self.graded += 1
        self.add(row)
        return row

    def _row(self, a: _Archive, result: dict | None, death: str | None) -> Row:
        if result is None and a.failed:
            report = _not_graded(a.student, a.file, "internal-error", a.failed, self.rubric)
            fingerprint = {}
        elif result is None:
            report = _not_graded(a.student, a.file, "internal-error", death or a.refused, self.rubric)
            if a.refused:
                report.status = a.status
                report.sandbox = ("student code was not run: the archive was refused" if a.path is not None
                                  else "student code was not run: no archive")
            fingerprint = {}
        else:
            report, fingerprint = Report.from_dict(result["report"]), result["fingerprint"]
        report.student = a.student
        report.warnings[:0] = self._archive_warnings(a)
        if a.misnamed:
            report.penalty = self.rubric.naming_penalty
        _late(report, a, self.rubric)
        return Row(a.file, a.sha256, a.key, a.name.last if a.name else "", a.name.first if a.name else "",
                   report, fingerprint, list(a.notes), **a.origin())

    def _archive_warnings(self, a: _Archive) -> list[str]:
        """Warnings about the archive itself, kept in its report (the student sees them too)."""
        out = []
        if a.misnamed:
            penalty = self.rubric.naming_penalty
            out.append("the file name does not read as 'LASTNAME firstname Lab2 DLCV.tar.bz2': graded as "
                       f"{a.key}" + (f", naming penalty -{pts(penalty)}" if penalty else ""))
        if not a.refused and not a.failed and a.path is not None:
            try:
                claimed, found = claimed_format(a.file), detect_format(a.path)
            except OSError:
                return out   # the grading itself said why the file could not be read
            if claimed and found not in ("empty", "unknown") and claimed != found:
                out.append(f"the file is a {found} archive although its name says {claimed}")
        return out

    def unmatched_manual(self) -> list[str]:
        if not self.entries:
            return []
        out = []
        for key, per in sorted(self.entries.items()):
            if key not in self.matched:
                first = min(per.values(), key=lambda e: e.line)
                out.append(f"{first.where()}: no archive for the student {first.student!r} (points not merged)")
        return out


def _progress_bar(total: int, up_to_date: int, progress):
    from tqdm import tqdm
    show = progress == "force" or (bool(progress) and sys.stderr.isatty())
    return tqdm(total=total, desc="grading", unit="archive", file=sys.stderr, disable=not show,
                dynamic_ncols=True, smoothing=0.1,
                postfix=f"{up_to_date} up to date" if up_to_date else None)


def run(folder, out, rubric, *, jobs: int, force: bool = False, manual_csv=None, progress=True,
        compare_with=None, worksheet=None, engine=None) -> BatchResult:
    """Grade every archive of ``folder`` (any SOURCE ``grader.intake`` reads: a folder of archives,
    a mailbox, a Moodle download) into ``out``; see the module docstring.

    ``worksheet``: Moodle's grading worksheet, filled into ``out/moodle/``. ``compare_with``: a
    folder of earlier years' submissions for the near-duplicate report. ``progress``: True shows
    a progress bar on stderr when it is a terminal, ``"force"`` always, False never; the final
    one-line summary is always printed. ``engine``: where the archives are graded
    (``grader.engines``; None: ``jobs`` local worker processes). Raises ``UsageError`` for a wrong
    source, worksheet or manual file (before any grading), ``KeyboardInterrupt`` and
    ``EngineLost`` (a cluster gone away) after writing what was done.
    """
    folder, out = Path(folder), Path(out)
    kind = intake.detect(folder)
    if folder.is_dir() and out.resolve() == folder.resolve():
        # Its grades.csv and summary.md would be taken for archives on the next run.
        raise UsageError(f"--out {out} is the submissions folder itself: choose another output folder")
    sheet = moodle_worksheet.read(worksheet) if worksheet else None
    if sheet is not None and kind != "moodle":
        raise UsageError(f"--moodle-worksheet needs a Moodle download as SOURCE, and {folder} is a {kind} "
                         "(students are matched by Moodle's participant id, never by name)")
    entries = _load_manual(manual_csv, rubric) if manual_csv else None
    compare_with = similarity_report.check_compare_with(compare_with)
    out.mkdir(parents=True, exist_ok=True)
    with _lock(out):
        if engine is not None:   # workers that cannot grade: one line, before anything is read or written
            engine.check(rubric, out, folder)
        found = intake.collect(folder, out / "incoming", rubric, sheet)
        return _run(found, folder, out, rubric, max(1, int(jobs)), force, entries, progress, compare_with, engine)


def _open_pool(engine, jobs: int, rubric, work: Path):
    """The ``grader.engines.Pool`` that grades this run's archives: local worker processes, or
    the engine's (a Dask cluster, whose workers ``run`` checked first)."""
    if engine is None:
        return _Pool(jobs, rubric, work, time_budget(rubric))
    return engine.pool(rubric, work, time_budget(rubric))


def _run(found, folder, out, rubric, jobs, force, entries, progress, compare_with=None, engine=None) -> BatchResult:
    started = time.monotonic()
    batch = _Batch(folder, out, rubric, entries)
    archives = _plan(found.records)
    todo = []
    for a in archives:
        try:
            previous = None if force else _previous(batch.student_folder(a.key), a, rubric)
        except Exception as err:  # noqa: BLE001 - then it is graded again
            previous, a.notes = None, a.notes + [f"its earlier results could not be read: {type(err).__name__}: {err}"]
        if previous is not None:
            batch.add(previous, csv=False)   # grades.csv is written once, below
        elif a.refused or a.failed:
            batch.finish(a, None, None)
        else:
            todo.append(a)
    skipped = sum(1 for r in batch.rows.values() if r.up_to_date)
    batch.write_csv()
    work = out / WORK
    shutil.rmtree(work, ignore_errors=True)  # a killed run's extraction folders
    interrupted, lost = False, None
    if todo:
        # Build the reference cache once, here, before the workers read it.
        reference_answers.load(rubric, (lambda line: print(line, file=sys.stderr, flush=True)) if progress else None)
        work.mkdir(mode=0o700)
        for a in list(todo):  # a folder without its marker is never taken as complete, whatever it holds
            try:
                (batch.student_folder(a.key) / MARKER).unlink(missing_ok=True)
            except OSError as err:
                a.failed = f"its folder students/{a.key} cannot be used: {err.strerror or err}"
                todo.remove(a)
                batch.finish(a, None, None)
        by_path = {str(a.path): a for a in todo}
        pool = _open_pool(engine, min(jobs, len(todo)), rubric, work)
        bar = _progress_bar(len(todo), skipped, progress)
        statuses = Counter()

        def done(task, result, death):
            row = batch.finish(by_path[task["path"]], result, death)
            statuses[row.status] += 1
            bar.set_postfix_str(", ".join(f"{n} {s}" for s, n in sorted(statuses.items())), refresh=False)
            bar.update(1)

        try:
            pool.run([{"path": str(a.path), "folder": str(batch.student_folder(a.key))} for a in todo], done)
        except KeyboardInterrupt:
            interrupted = True
        except EngineLost as err:   # the rows written stay, as for an interruption
            lost = err
        finally:
            pool.close(kill=interrupted)
            bar.close()
            shutil.rmtree(work, ignore_errors=True)
    rows = sorted(batch.rows.values(), key=summary.sort_key)
    notes = (_subfolders(folder) if found.kind == "folder" else []) + found.notes + batch.unmatched_manual() \
        + _stale_folders(out, archives)
    if found.source == "moodle":
        notes += _write_moodle(rows, found.worksheet, rubric, out)
        batch.write_csv()      # with the rows' notes about the worksheet
    if interrupted or lost:
        notes.insert(0, f"{lost or 'interrupted'}: {len(archives) - len(rows)} of {len(archives)} archives not "
                        "graded yet; run the same command again to finish")
    similar = _similarity(rows, out, folder, rubric, compare_with, notes)
    batch.write_csv()   # with the similar_to column filled in
    _write_summary(rows, rubric, out, folder.name, notes, similar)
    for note in notes:
        print(f"warning: {N.terminal(note, newlines=False)}", file=sys.stderr)
    counts = Counter(r.status for r in rows)
    line = ", ".join(f"{counts[s]} {s}" for s in summary.STATUSES if counts[s])
    print(f"{len(rows)} of {len(archives)} archives: {line or 'none'}; {batch.graded} graded now, {skipped} up to "
          f"date, {time.monotonic() - started:.0f} s -> {out / 'grades.csv'}, {out / 'summary.md'}")
    if interrupted:
        raise KeyboardInterrupt
    if lost:
        raise EngineLost(f"{lost}: {len(archives) - len(rows)} of {len(archives)} archives not graded yet (every row "
                         "written is kept); run the same command again to finish")
    return BatchResult(rows, [r.file for r in rows if r.status == "internal-error"], skipped, batch.graded)


def _subfolders(folder: Path) -> list[str]:
    """A note when FOLDER holds folders: an LMS download may put each archive in a folder of its
    own, and the batch (on purpose) reads the archives directly in FOLDER only."""
    found = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        return []
    return [f"{len(found)} folder{'s' if len(found) > 1 else ''} in {folder} not entered (archives are read "
            f"directly in the folder only): {', '.join(found[:3])}" + (" ..." if len(found) > 3 else "")]


def _stale_folders(out: Path, archives: list[_Archive]) -> list[str]:
    """Student folders of earlier runs whose archive is no longer in FOLDER: left alone (they may
    hold the only copy of a grade), but named, since grades.csv no longer lists them."""
    keys = {a.key for a in archives}
    stale = sorted(p.name for p in (out / "students").glob("*") if p.is_dir() and p.name not in keys)
    if not stale:
        return []
    shown = ", ".join(stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
    return [f"{len(stale)} folder{'s' if len(stale) > 1 else ''} in {out / 'students'} belong to no archive of "
            f"the folder any more (left as they are, not in grades.csv): {shown}"]


def _similarity(rows, out: Path, folder: Path, rubric, compare_with, notes: list[str]):
    """The near-duplicate report; its failure is a note, never a lost grade (grades.csv is written)."""
    try:
        similar = similarity_report.for_batch(rows, out, folder, rubric, compare_with)
    except Exception as err:  # noqa: BLE001 - a hint for the teacher must not cost the batch
        notes.append(f"the similarity report could not be made: {type(err).__name__}: {err}")
        return None
    notes += similar.notes
    return similar


def _write_moodle(rows, sheet, rubric, out: Path) -> list[str]:
    """``OUT/moodle/``: feedback-files.zip, and the filled worksheet under its own file name."""
    files, notes = moodle_export.export(rows, sheet, rubric)
    (out / "moodle").mkdir(exist_ok=True)
    for name, data in files.items():
        write_atomic(out / "moodle" / name, data)
    return notes


def _write_summary(rows, rubric, out: Path, title: str, notes: list[str], similar=None) -> None:
    graded = [r for r in rows if r.status == "graded"]
    caption = "Totals of the graded archives" + ("" if summary.has_hand_points(graded) else " (automatic points only)")
    tmp = out / f".{summary.HISTOGRAM}.tmp-{os.getpid()}.png"
    plots.histogram_png([r.report.total for r in graded], tmp, rubric.total, title=caption)
    _replace_if_changed(tmp, out / summary.HISTOGRAM)
    write_atomic(out / "summary.md", summary.summary_markdown(rows, rubric, title=title, notes=notes,
                                                              similar=similar))
