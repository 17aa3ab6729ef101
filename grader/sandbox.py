"""Run student code in a sandboxed child process that answers probe requests.

Student code never runs in the grader's process. A ``Child`` owns one long-lived process per
submission (``lab2check/child.py``) and sends it requests over a pipe; when the process dies,
hangs or is killed during a request, that request ends with a status saying so and the next
request starts a fresh process. Everything read back is validated: bounded frames, ``.npy``
bytes parsed here without pickle, exact ``np.ndarray`` of a numeric dtype. The student's
stdout/stderr is read into a bounded buffer (its head and its tail).

Two sandboxes, chosen once by ``sandbox_status()``:
- ``bubblewrap``: a fresh mount namespace that holds only /usr (and the /bin, /lib symlinks),
  the Python installation and the virtual environment at their own paths, the child's code at
  /sandbox/lab2check, the submission at /submission, the data binds, all read-only, plus a
  private tmpfs /tmp (HOME) and new /proc and /dev; new PID, network (no network at all), IPC
  and UTS namespaces. As root there is no user namespace: the child drops to a dedicated uid
  (61000 + slot) itself, so RLIMIT_NPROC counts only its own processes (it is never enforced
  for root). As another user ``--unshare-all`` adds a user namespace and RLIMIT_NPROC is set to
  the user's current number of tasks plus ``limits.processes`` (approximate: it counts the
  user's other processes too).
- ``rlimits``: the same child with the same resource limits and uid, but it sees the host's
  files (whatever the dedicated uid may read) and the network. ``LAB2_SANDBOX=rlimits`` forces it.
Both: stdin is /dev/null, a cleared environment (one BLAS thread, MPLBACKEND=Agg), RLIMIT_AS =
``limits.memory_mb`` (numpy with one OpenBLAS thread starts from about 130 MB), RLIMIT_FSIZE,
RLIMIT_NOFILE, RLIMIT_CORE = 0 and an RLIMIT_CPU backstop behind the wall-clock timeout. And,
where the machine allows it (the report's sandbox line says when it does not):
- a cgroup per process (``grader/cgroup.py``) with ``limits.memory_mb`` of memory and
  ``limits.processes`` (+2 for the sandbox's own) tasks, so that memfd, tmpfs and shared memory
  count as well; the process is started inside it (through ``sh``, which joins it and then
  executes the sandbox), the cgroup's out-of-memory kills are reported as the memory limit, and
  its peak memory and CPU time are summed in ``Child.usage`` before it is removed;
- a seccomp filter (``grader/seccomp_filter.py``, built with libseccomp): the keyring, new user
  namespaces, ptrace, bpf, perf, the mount family, modules, kexec and odd personalities fail
  with EPERM. bubblewrap loads it (``--seccomp``); without bubblewrap the child loads it itself;
- an empty capability bounding set: the child drops every capability from it while still root
  (bubblewrap keeps CAP_SETPCAP for this), before it becomes the dedicated uid.
Nothing on a command line names a host path of the submission, the data or the cache:
bubblewrap reads its options from a pipe (``--args``) and the child its configuration (so
``ps`` on the host and ``/proc/1/cmdline`` in the sandbox show only ``bwrap --args N`` and
``python -s /sandbox/lab2check/child.py N``).

The student's output is read in the same poll loop as the answers, not by a thread: the child
flushes it before it answers, so what a request printed is exactly what its ``Response`` shows,
and a background thread that prints between requests only blocks itself on a full pipe.

For the caller: one thread uses a ``Child`` at a time, and that thread must outlive the child
(``--die-with-parent`` and the reaper's parent-death signal fire when the *thread* that started
the process exits). The dedicated uid must be able to read the bind sources (o+r, and o+x on
their folders with ``rlimits``); bind targets must not lie inside /submission. Without
bubblewrap the dedicated uid reads whatever is world-readable, the project included: keep
submissions (and, ideally, the project) in folders only root may enter; the child reaches the
folders it needs through descriptors opened before it drops root.
"""
import contextlib
import errno
import fcntl
import functools
import io
import json
import math
import os
import pwd
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader import cgroup as cgroups
from grader import seccomp_filter
from lab2check import child as child_module
from lab2check.child import FRAME
from lab2check.plain import NUMERIC_KINDS

CHILD_SCRIPT = Path(child_module.__file__).resolve()
CODE_ROOT = CHILD_SCRIPT.parent.parent  # the folder holding lab2check/
SANDBOX_CODE_ROOT = "/sandbox"  # lab2check/ appears at /sandbox/lab2check inside bubblewrap
SANDBOX_SUBMISSION = "/submission"

BASE_UID = 61000  # slot n runs as uid/gid 61000 + n when the grader is root
MAX_SLOTS = 1000
START_TIMEOUT = 30.0  # python + numpy start in ~0.1 s; this only catches a broken sandbox
NOFILE = 256
CPU_BACKSTOP_SECONDS = 7200  # hard RLIMIT_CPU for a child's whole life
TMPFS_MIN_MB = 64
MAX_HEADER_BYTES = 1 << 20
MAX_ARRAYS = 4096
KILL_WAIT = 5.0
PIDS_SLACK = 2  # the sandbox's own processes in a child's cgroup: bubblewrap's two, or the reaper

BUBBLEWRAP_LINE = "student code ran in bubblewrap: no network, read-only view of the submission and the data"
RLIMITS_LINE = "student code ran with resource limits only"
CGROUP_LINE = "memory and processes counted in a cgroup"
NO_CGROUP_LINE = "no cgroup ({}): memory counted by RLIMIT_AS only"
SECCOMP_LINE = "system calls filtered by seccomp"
NO_SECCOMP_LINE = "no seccomp filter ({})"


class SandboxError(Exception):
    """The sandbox itself failed (not the student's code): an internal error of the grader."""


@dataclass
class Response:
    """What came back from one request.

    ``status``: ``ok`` (``outputs`` holds the plain arrays, ``types`` describes every returned
    value, arrays or not); ``error`` (student code raised; ``error`` holds ``where``, ``type``,
    ``not_implemented``, ``message``, ``detail``, ``traceback``); ``timeout``; ``crashed`` (the
    process died: ``note`` says how); ``bad-output`` (the child sent something invalid).
    ``texts`` holds the returned values that were plain strings (a probe's own messages, at
    most 2000 characters each). ``output_tail`` is what the student printed during the request
    (head and tail, bounded).
    """

    status: str
    outputs: dict = field(default_factory=dict)
    types: dict = field(default_factory=dict)
    error: dict | None = None
    seconds: float = 0.0
    output_tail: str = ""
    note: str = ""
    texts: dict = field(default_factory=dict)


# --- which sandbox ------------------------------------------------------------------------------

def sandbox_status() -> tuple[str, str]:
    """``(kind, line)``: the sandbox used for student code, and the report's first line.

    ``LAB2_SANDBOX=rlimits`` turns bubblewrap off; ``LAB2_SANDBOX=bubblewrap`` makes its absence
    an error instead of a fallback.
    """
    kind, line = _sandbox_kind()
    cgroup_ok, why = cgroups.status()
    line += "; " + (CGROUP_LINE if cgroup_ok else NO_CGROUP_LINE.format(why))
    seccomp_ok, why = seccomp_filter.status()
    return kind, line + "; " + (SECCOMP_LINE if seccomp_ok else NO_SECCOMP_LINE.format(why))


def _sandbox_kind() -> tuple[str, str]:
    forced = os.environ.get("LAB2_SANDBOX", "").strip().lower()
    if forced not in ("", "rlimits", "bubblewrap"):
        raise SandboxError(f"LAB2_SANDBOX={forced!r}: expected rlimits or bubblewrap")
    if forced == "rlimits":
        return "rlimits", f"bubblewrap was turned off (LAB2_SANDBOX=rlimits): {RLIMITS_LINE}"
    works, reason = _bubblewrap_works()
    if works:
        return "bubblewrap", BUBBLEWRAP_LINE
    if forced == "bubblewrap":
        raise SandboxError(f"LAB2_SANDBOX=bubblewrap, but bubblewrap does not work here: {reason}")
    return "rlimits", f"bubblewrap is not available ({reason}): {RLIMITS_LINE}"


@functools.cache
def _bubblewrap_works() -> tuple[bool, str]:
    """Try once a trivial run in the sandbox the children get (same namespaces, binds, filter)."""
    if shutil.which("bwrap") is None:
        return False, "bwrap is not installed"
    options = _bwrap_argv(_python_binds(), {"PATH": "/usr/bin:/bin"}, "/", None, TMPFS_MIN_MB)
    argv, fds = _by_descriptor(options, [sys.executable, "-s", "-c", "pass"], _seccomp_program())
    try:
        run = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30, pass_fds=fds)
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"bwrap could not run: {err}"
    finally:
        for fd in fds:
            os.close(fd)
    if run.returncode != 0:
        lines = run.stderr.decode(errors="replace").strip().splitlines() or [f"exit code {run.returncode}"]
        return False, lines[-1][:200]
    return True, ""


def _seccomp_program() -> bytes | None:
    """The compiled seccomp filter, or None when libseccomp is missing (the report says so)."""
    return seccomp_filter.program() if seccomp_filter.status()[0] else None


def _by_descriptor(bwrap_argv: list[str], command: list[str], seccomp: bytes | None) -> tuple[list, list]:
    """``(argv, fds to pass)``: bwrap with its options read from a pipe (``--args``).

    On the command line they would show the host paths of the submission, the data and the
    cache to ``ps`` on the host and, through ``/proc/1/cmdline``, to student code. The seccomp
    filter goes in a pipe too (``--seccomp``); bubblewrap reads both and closes them.
    """
    options = bwrap_argv[1:-1]  # without "bwrap" and "--"
    fds = []
    try:
        if seccomp is not None:
            fds.append(_filled_pipe(seccomp))
            options = options + ["--seccomp", str(fds[-1])]
        fds.append(_filled_pipe(b"".join(os.fsencode(o) + b"\0" for o in options)))
    except OSError:
        for fd in fds:
            os.close(fd)
        raise
    return ["bwrap", "--args", str(fds[-1]), "--", *command], fds


def _filled_pipe(data: bytes) -> int:
    """The read end of a pipe that holds ``data`` and whose write end is closed."""
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        if len(data) > 65536:
            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, len(data))  # EPERM past /proc/sys/fs/pipe-max-size
        view = memoryview(data)
        while view:
            view = view[os.write(w, view):]
    except OSError:
        os.close(r)
        raise
    finally:
        os.close(w)
    return r


def _python_binds() -> list[tuple[str, str]]:
    """The Python installation, the virtual environment and numpy's folder, each at its own path."""
    dirs = {sys.base_prefix, sys.prefix, os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix),
            os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))), _numpy_site()}
    dirs = sorted(d for d in dirs if not _under(d, "/usr"))
    kept = [d for d in dirs if not any(d != other and _under(d, other) for other in dirs)]
    return [(d, d) for d in kept]


def _numpy_site() -> str:
    return os.path.dirname(os.path.dirname(os.path.realpath(np.__file__)))


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _bwrap_argv(binds, env: dict, chdir: str, info_fd, tmpfs_mb: int) -> list[str]:
    as_root = os.geteuid() == 0
    argv = ["bwrap", "--die-with-parent", "--new-session"]
    if as_root:
        # No user namespace: the child must really be uid 61000+slot for RLIMIT_NPROC to count
        # its processes. It keeps only the capabilities it needs to empty its bounding set
        # (CAP_SETPCAP) and to drop root, and loses them when it does; bubblewrap sets
        # no_new_privs, so no setuid program gives them back.
        argv += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                 "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    else:
        argv += ["--unshare-all"]
    argv += ["--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):  # merged /usr: the same symlinks as the host's
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    argv += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
             "--ro-bind-try", "/etc/localtime", "/etc/localtime",
             "--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(tmpfs_mb << 20), "--tmpfs", "/tmp"]
    # bwrap creates missing parents as root-only (0700) folders: make them 0755, or the
    # dedicated uid could not reach /root/.pyenv/... or /work/main/.venv.
    made = {"/", "/tmp", "/usr"}
    for _, target in binds:
        parents = list(Path(target).parents)[::-1]
        for parent in map(str, parents):
            if parent not in made and not any(_under(parent, t) for _, t in binds if t != target):
                argv += ["--perms", "0755", "--dir", parent]
                made.add(parent)
    for source, target in binds:
        argv += ["--ro-bind", source, target]
    argv += ["--clearenv"]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    argv += ["--chdir", chdir]
    if info_fd is not None:
        argv += ["--info-fd", str(info_fd)]
    return argv + ["--"]


# --- the child ----------------------------------------------------------------------------------

class Child:
    """A sandboxed process that runs one submission's code, restarted when it fails.

    ``folder`` is the folder put on the child's ``sys.path`` (the one holding ``lab2/``);
    ``limits`` is duck-typed ``grader.rubric.Limits`` (``memory_mb``, ``processes``,
    ``file_size_mb``, ``output_kb``, ``max_array_mb``); ``binds`` maps host paths to the
    read-only paths the child sees them at (with ``rlimits``, at their host paths: ask
    ``sandbox_path``); ``slot`` picks the uid 61000+slot (None: the first free slot; a slot is
    held, through a lock file, by one Child at a time across processes); ``sandbox`` forces
    ``"bubblewrap"`` or ``"rlimits"`` (None: ``sandbox_status()``). Each process runs in a cgroup
    of its own when ``grader.cgroup.status()`` allows it, under the seccomp filter when libseccomp
    is there; ``usage`` sums what this Child's processes used.
    """

    def __init__(self, folder, limits, binds: dict | None = None, slot: int | None = None,
                 sandbox: str | None = None, start_timeout: float = START_TIMEOUT):
        self.folder = Path(folder).resolve()
        if not self.folder.is_dir():
            raise SandboxError(f"no such submission folder: {self.folder}")
        self.limits = limits
        self.binds = {str(Path(src).resolve()): str(dst) for src, dst in (binds or {}).items()}
        self.kind = sandbox or sandbox_status()[0]
        if self.kind not in ("bubblewrap", "rlimits"):
            raise ValueError(f"unknown sandbox {self.kind!r}")
        self.start_timeout = start_timeout
        self.cgroups = cgroups.status()[0]
        self.seccomp = _seccomp_program()
        self._used = []  # cgroups.Usage of every ended process
        self.slot, lock = _take_slot(slot)
        self.uid = BASE_UID + self.slot if os.geteuid() == 0 else None
        self._release_slot = weakref.finalize(self, os.close, lock)
        self._proc = None
        self._next_id = 0
        self.starts = 0  # how many processes this Child started
        self.start_seconds = 0.0  # how long the last one took to be ready

    # -- public API --

    def sandbox_path(self, host_path) -> str:
        """Where the child sees ``host_path`` (a submission file or one of the binds)."""
        path = str(Path(host_path).resolve())
        if self.kind == "rlimits":
            return path
        for source, target in [(str(self.folder), SANDBOX_SUBMISSION), *self.binds.items()]:
            if _under(path, source):
                return target + path[len(source):]
        raise ValueError(f"{path} is not visible in the sandbox")

    def start(self) -> None:
        """Start the process now (``request`` does it when needed)."""
        if self._release_slot.alive and self._proc is None:
            self._proc = self._spawn(_Output(self.limits.output_kb << 10))

    def request(self, probe: str, arrays: dict, options: dict, timeout: float, *, cpu_seconds: float | None = None,
                max_elements: int | None = None, max_bytes: int | None = None) -> Response:
        """Run ``lab2check.probes.run(probe, arrays, options)`` in the child within ``timeout`` s.

        ``cpu_seconds``: the child's CPU time for this request (default ``2 * timeout + 5``, a
        backstop); spending it ends the request as a ``timeout`` whatever the load on the
        machine, while ``timeout`` (wall clock) only catches a child that sleeps or blocks.
        ``max_elements`` (per array) and ``max_bytes`` (the whole answer) bound what is read
        back (default: the limits' ``max_array_mb``); an answer over them is ``bad-output``,
        never parsed whole. Never raises for anything student code does; ``SandboxError`` when
        a new process is needed and cannot start (or the Child is closed).
        """
        if not self._release_slot.alive:
            raise SandboxError("this sandbox child is closed")  # its slot may already be another's
        output = _Output(self.limits.output_kb << 10)
        notes = [self._check_between_requests(output)]
        if self._proc is None:
            self._proc = self._spawn(output)
        self._next_id += 1
        rid = self._next_id
        cpu = math.ceil(cpu_seconds) if cpu_seconds else math.ceil(2 * timeout) + 5
        max_array = self.limits.max_array_mb << 20
        if max_elements is None:
            max_elements = max_array // 8
        max_frame = min(max_array, 16 * max_elements) + 4096  # 16: the widest numeric dtype, + .npy header
        chunks = _encode_request(rid, probe, arrays, options, cpu, max_elements)
        reader = _Reader(max_frame, min(max_bytes or 4 * max_array, 4 * max_array), rid, max_elements)
        started = time.monotonic()
        proc = self._proc
        try:
            outcome = proc.exchange(chunks, reader, started + timeout, output)
        except _BadOutput as err:
            outcome, notes = "bad-output", notes + [str(err)]
        seconds = time.monotonic() - started
        if outcome == "done":
            proc.read_ready_output(output, max_bytes=4 << 20)
            return self._answer(reader, seconds, output, notes)
        if outcome == "eof":
            end, signum = self._describe_end(proc, output)
            if signum == signal.SIGXCPU:
                notes.append(f"used more than its {cpu:g} s of CPU time: the child process was stopped")
                status = "timeout"
            else:
                notes.append(end)
                status = "crashed"
        elif outcome == "timeout":
            notes.append(f"no answer within {timeout:g} s: the child process was killed")
            status = "timeout"
        else:
            status = "bad-output"
        self._stop(output)
        return Response(status, seconds=seconds, output_tail=output.text(), note=_join(notes))

    @property
    def usage(self) -> dict:
        """What this Child's processes used, for report.json: how many there were, the largest
        peak memory (MB) and the CPU time (s) they used in all, how many the kernel's
        out-of-memory killer ended. The two measures are None without a cgroup."""
        used = list(self._used)
        if self._proc is not None and self._proc.cgroup is not None:
            with contextlib.suppress(OSError, KeyError):
                used.append(self._proc.cgroup.usage())
        peaks = [u.peak_bytes for u in used if u.peak_bytes is not None]
        cpus = [u.cpu_ns for u in used if u.cpu_ns is not None]
        return {"processes": self.starts, "peak_memory_mb": round(max(peaks) / 2**20, 1) if peaks else None,
                "cpu_seconds": round(sum(cpus) / 1e9, 3) if cpus else None,
                "memory_limit_kills": sum(u.oom_kills for u in used)}

    def close(self) -> None:
        """Kill the process (and everything it started) and free the slot."""
        self._stop(None)
        self._release_slot()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals --

    def _answer(self, reader, seconds, output, notes) -> Response:
        header = reader.header
        if header["status"] == "error":
            error = reader.error
            return Response("error", error=error, seconds=seconds, output_tail=output.text(),
                            note=_join(notes + [_error_note(error, self.limits)]))
        try:
            outputs = {name: _load_npy(blob, reader.max_elements)
                       for name, blob in zip(header["arrays"], reader.frames)}
        except _BadOutput as err:
            self._stop(output)
            return Response("bad-output", seconds=seconds, output_tail=output.text(), note=_join(notes + [str(err)]))
        return Response("ok", outputs=outputs, types=header["types"], texts=header["texts"], seconds=seconds,
                        output_tail=output.text(), note=_join(notes))

    def _check_between_requests(self, output) -> str:
        """Replace a child that died, or wrote more than its answers, since the last request."""
        proc = self._proc
        if proc is None:
            return ""
        extra = proc.unread_answer()
        if extra is None:
            return ""
        if extra:
            note = "the previous child process wrote more than its answers and was replaced"
        else:
            note = f"the previous child process had ended ({self._describe_end(proc, output)[0]}) and was replaced"
        self._stop(output)
        return note

    def _describe_end(self, proc, output) -> tuple[str, int | None]:
        """What ended the process, and the signal that killed it (None when it exited)."""
        code = proc.wait_exit(2.0)
        proc.read_output_to_end(output)
        if code is None:
            return "the child process closed its answer channel", None
        oom = proc.cgroup is not None and proc.cgroup.oom_kills() > 0
        return _describe_exit(code, self.kind, self.limits, output.text(), oom), _signal_of(code, self.kind)

    def _stop(self, output) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()
        if output is not None:
            proc.read_output_to_end(output)
        proc.release()
        if self.uid is not None:
            _kill_uid(self.uid)
        if proc.killer.usage is not None:
            self._used.append(proc.killer.usage)

    def _spawn(self, output) -> "_Process":
        if self.uid is not None and not self.starts:
            _kill_uid(self.uid)  # a crashed grader's leftovers would count against RLIMIT_NPROC
        started = time.monotonic()
        req_r, req_w = os.pipe2(os.O_CLOEXEC)
        resp_r, resp_w = os.pipe2(os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        for fd in (req_w, resp_r, out_r):
            _widen_pipe(fd)
        config = {"request_fd": req_r, "response_fd": resp_w, "rlimits": self._rlimits(), "uid": self.uid,
                  "gid": self.uid, "max_elements": (self.limits.max_array_mb << 20) // 8, "site": [_numpy_site()],
                  "seccomp": self.seccomp is not None}
        info_r, info_w = os.pipe2(os.O_CLOEXEC) if self.kind == "bubblewrap" else (None, None)
        passed, home, cgroup = [fd for fd in (req_r, resp_w, info_w) if fd is not None], None, None
        try:
            if self.cgroups:
                cgroup = cgroups.Cgroup(self.limits.memory_mb << 20, self.limits.processes + PIDS_SLACK)
            argv, env, home = self._command(config, info_w, passed)
            popen = subprocess.Popen(_joining(cgroup, argv), stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w,
                                     env=env, cwd="/", pass_fds=passed, start_new_session=True)
        except OSError as err:
            for fd in (req_w, resp_r, out_r, info_r):
                if fd is not None:
                    os.close(fd)
            if home:
                shutil.rmtree(home, ignore_errors=True)
            if cgroup is not None:
                cgroup.finish()
            raise SandboxError(f"cannot start the child process: {err}") from None
        finally:
            for fd in (*passed, out_w):  # the child's ends: its copies are the only ones now
                os.close(fd)
        proc = _Process(popen, self.kind, req_w, resp_r, out_r, home, cgroup)
        deadline = started + self.start_timeout
        try:
            if info_r is not None:
                proc.killer.pidfd = _sandbox_init(info_r, deadline)
            reader = _Reader(MAX_HEADER_BYTES, MAX_HEADER_BYTES, None)
            outcome = proc.exchange([], reader, deadline, output)
            if outcome == "done" and self.uid is not None and reader.header.get("uid") != self.uid:
                outcome = f"the child runs as uid {reader.header.get('uid')}, not {self.uid}"
        except (_BadOutput, SandboxError) as err:
            outcome = str(err)
        finally:
            if info_r is not None:
                os.close(info_r)
        if outcome != "done":
            proc.kill()
            proc.read_output_to_end(output)
            proc.release()
            reason = {"timeout": "it did not start in time", "eof": "it stopped before it was ready"}.get(
                outcome, outcome)
            raise SandboxError(f"the {self.kind} child process failed to start ({reason}): "
                               f"{output.text().strip()[-800:] or outcome}")
        self.starts += 1
        self.start_seconds = time.monotonic() - started
        return proc

    def _command(self, config: dict, info_w, passed: list) -> tuple[list, dict, str | None]:
        """``(argv, env, private home or None)``: bwrap around the child, or the child as its reaper.

        The descriptors the child needs are added to ``passed``: its configuration (a pipe, not
        the command line), and bwrap's options and the seccomp filter (pipes too).
        """
        if self.kind == "bubblewrap":
            config |= {"submission": SANDBOX_SUBMISSION, "code_root": SANDBOX_CODE_ROOT, "reaper": False}
            binds = [*_python_binds(), (str(CODE_ROOT / "lab2check"), f"{SANDBOX_CODE_ROOT}/lab2check"),
                     (str(self.folder), SANDBOX_SUBMISSION), *self.binds.items()]
            tmpfs_mb = max(TMPFS_MIN_MB, 4 * self.limits.file_size_mb)
            options = _bwrap_argv(binds, _child_env("/tmp"), SANDBOX_SUBMISSION, info_w, tmpfs_mb)
            passed.append(_filled_pipe(json.dumps(config).encode()))
            command = [sys.executable, "-s", f"{SANDBOX_CODE_ROOT}/lab2check/child.py", str(passed[-1])]
            argv, fds = _by_descriptor(options, command, self.seccomp)
            passed += fds
            return argv, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, None
        if self.seccomp is not None:
            passed.append(_filled_pipe(self.seccomp))
            config["seccomp_fd"] = passed[-1]
        home = tempfile.mkdtemp(prefix="lab2-child-")  # the host's /tmp is shared: a private home in it
        if self.uid is not None:
            os.chown(home, self.uid, self.uid)
        config |= {"submission": str(self.folder), "code_root": str(CODE_ROOT), "reaper": True}
        passed.append(_filled_pipe(json.dumps(config).encode()))
        return [sys.executable, "-s", str(CHILD_SCRIPT), str(passed[-1])], _child_env(home), home

    def _rlimits(self) -> dict:
        limits = {"CORE": 0, "NOFILE": NOFILE, "FSIZE": self.limits.file_size_mb << 20,
                  "CPU": CPU_BACKSTOP_SECONDS, "AS": self.limits.memory_mb << 20}
        if self.uid is not None:
            limits["NPROC"] = self.limits.processes
        elif os.geteuid() != 0:
            # No dedicated uid: RLIMIT_NPROC counts all of this user's tasks.
            limits["NPROC"] = _tasks_of(os.getuid()) + self.limits.processes
        return limits


# Joins the cgroups named by its arguments up to "--", then becomes the command after it: so
# that the sandbox's first process, and everything it starts, runs inside them (a pid written
# after the start would race with bubblewrap's first fork).
_JOIN_SCRIPT = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


def _joining(cgroup, argv: list) -> list:
    if cgroup is None:
        return argv
    return ["/bin/sh", "-c", _JOIN_SCRIPT, "lab2-sandbox", *cgroup.procs_files, "--", *argv]


def _child_env(home: str) -> dict:
    env = {"PATH": f"{sys.prefix}/bin:/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home,
           "MPLCONFIGDIR": home, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "LANG": "C.UTF-8",
           # glibc's default malloc thresholds hand a training's temporaries back to the kernel and
           # fault them in again every epoch: 239,000 page faults per 500-epoch training against
           # 5,000 with these (bench/README.md: -0.49 s and -1 CPU-s per submission, +2 MB).
           "GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864"}
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # some CPUs need them for correct results
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _encode_request(rid, probe, arrays, options, cpu_seconds, max_elements) -> list:
    header = {"id": rid, "probe": probe, "options": options, "arrays": list(arrays),
              "cpu_seconds": cpu_seconds, "max_elements": max_elements}
    text = json.dumps(header).encode()
    chunks = [FRAME.pack(len(text)), text]
    for value in arrays.values():
        blob = io.BytesIO()
        np.lib.format.write_array(blob, np.asarray(value), allow_pickle=False)
        chunks += [FRAME.pack(blob.tell()), blob.getbuffer()]
    return chunks


def _sandbox_init(info_r: int, deadline: float) -> int:
    """A pidfd for bubblewrap's PID 1 in the sandbox, read from ``--info-fd``.

    Killing that process empties the whole PID namespace, and bubblewrap's outer process, our
    child, reaps it: nothing is left as an orphan of the host's init.
    """
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([info_r], [], [], left)[0]:
            raise SandboxError("bubblewrap did not report its sandbox in time")
        chunk = os.read(info_r, 4096)
        if not chunk:
            break
        data += chunk
    try:
        return os.pidfd_open(int(json.loads(data)["child-pid"]))
    except (ValueError, KeyError, TypeError, OSError):
        raise SandboxError("bubblewrap stopped before its sandbox was ready") from None


def _widen_pipe(fd: int) -> None:
    # 1 MiB pipes move arrays and floods of output in fewer wake-ups; the default is fine too.
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pass


# --- one process ------------------------------------------------------------------------------

class _Process:
    """One started child: its pipes, its cgroup, and how to kill it without leaving anything behind."""

    def __init__(self, popen, kind, req_w, resp_r, out_r, home, cgroup=None):
        self.popen, self.home, self.cgroup = popen, home, cgroup
        self.req_w, self.resp_r, self.out_r = req_w, resp_r, out_r
        for fd in (req_w, resp_r, out_r):
            os.set_blocking(fd, False)
        self.killer = _Killer(popen, kind, cgroup)
        self._finalizer = weakref.finalize(self, self.killer)  # a forgotten Child dies with its owner

    def exchange(self, chunks, reader, deadline, output) -> str:
        """Send ``chunks`` and feed what comes back to ``reader``: "done", "timeout" or "eof"."""
        pending = [memoryview(c) for c in chunks if len(c)]
        poller = select.poll()
        poller.register(self.resp_r, select.POLLIN)
        if self.out_r is not None:
            poller.register(self.out_r, select.POLLIN)
        if pending:
            poller.register(self.req_w, select.POLLOUT)
        while not reader.done:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            for fd, _ in poller.poll(math.ceil(left * 1000)):
                if fd == self.out_r:
                    if self._read_output(output) is False:  # None: nothing to read after all
                        poller.unregister(fd)
                elif fd == self.resp_r:
                    data = _read(fd, 1 << 20)
                    if data == b"":
                        return "eof"
                    if data:
                        reader.feed(data)
                elif fd == self.req_w:
                    try:
                        while pending:
                            pending[0] = pending[0][os.write(fd, pending[0]):]
                            if not pending[0]:
                                pending.pop(0)
                    except BlockingIOError:
                        pass
                    except BrokenPipeError:
                        pending.clear()  # the child is gone: the end of its answers follows
                    if not pending:
                        poller.unregister(fd)
        return "done"

    def unread_answer(self):
        """None when the answer channel is quiet; b"" when it is closed; else the extra bytes."""
        if not select.select([self.resp_r], [], [], 0)[0]:
            return None
        return _read(self.resp_r, 1 << 16)

    def read_ready_output(self, output, max_bytes: int) -> None:
        """Read what is already in the output pipe (the child flushes before it answers)."""
        start = output.total
        while self.out_r is not None and output.total - start < max_bytes:
            if self._read_output(output) is None:
                return

    def read_output_to_end(self, output, wait: float = 1.0) -> None:
        """Read the output until its end, once the process is dead."""
        deadline = time.monotonic() + wait
        while self.out_r is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.out_r], [], [], left)[0]:
                return
            self._read_output(output)

    def _read_output(self, output):
        """Read once into ``output``: True, None when nothing is ready, False at the end."""
        data = _read(self.out_r, 1 << 20)
        if data == b"":
            os.close(self.out_r)
            self.out_r = None
            return False
        if data is None:
            return None
        output.add(data)
        return True

    def wait_exit(self, timeout: float):
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        self.killer()

    def release(self) -> None:
        """Close every descriptor and remove the private home (once the process is dead)."""
        self._finalizer()
        for name in ("req_w", "resp_r", "out_r"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)
        self.killer.forget()
        if self.home:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None


class _Killer:
    """Kills a child and everything it started, and reaps it; safe to call twice.

    With bubblewrap, SIGKILL to its PID 1 (held as a pidfd, so never a reused pid) empties the
    whole PID namespace, and bubblewrap's outer process, our child, reaps it. Killing the outer
    process instead would leave PID 1 to the host's init. Without bubblewrap, SIGTERM asks the
    reaper to kill and reap its tree. Then the child's cgroup, if it has one, is emptied (what
    is left is killed), read (``usage``) and removed.
    """

    def __init__(self, popen, kind, cgroup=None):
        self.popen, self.kind, self.pidfd, self.cgroup = popen, kind, None, cgroup
        self.usage = None

    def __call__(self) -> None:
        popen = self.popen
        if popen.poll() is None:
            try:
                if self.pidfd is not None:
                    signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
                elif self.kind == "bubblewrap":
                    os.killpg(popen.pid, signal.SIGKILL)
                else:
                    popen.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            popen.wait(KILL_WAIT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)  # last resort: may leave orphans behind
            popen.wait()
        if self.cgroup is not None:
            self.usage = self.cgroup.finish()

    def forget(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def _read(fd: int, size: int):
    """Bytes read, b"" at the end, None when nothing is ready (non-blocking fds)."""
    try:
        return os.read(fd, size)
    except BlockingIOError:
        return None
    except OSError as err:
        if err.errno in (errno.EIO, errno.ECONNRESET):
            return b""
        raise


# --- reading the answers ------------------------------------------------------------------------

class _BadOutput(Exception):
    """The child sent something the protocol does not allow."""


class _Reader:
    """Collects one answer's frames (a JSON header, then its arrays), checking every size first."""

    def __init__(self, max_frame: int, max_total: int, rid, max_elements: int | None = None):
        self.max_frame, self.max_total, self.rid, self.max_elements = max_frame, max_total, rid, max_elements
        self.buffer = bytearray()
        self.total = 0
        self.header = None
        self.error = None
        self.frames = []
        self.expected = 0

    @property
    def done(self) -> bool:
        return self.header is not None and len(self.frames) == self.expected

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        if self.total > self.max_total + MAX_HEADER_BYTES:
            raise _BadOutput(f"the child's answer is larger than {self.max_total / 2**20:.3g} MB")
        self.buffer += data
        while not self.done and len(self.buffer) >= FRAME.size:
            (size,) = FRAME.unpack_from(self.buffer)
            limit = MAX_HEADER_BYTES if self.header is None else self.max_frame + 4096  # .npy header
            if size > limit:
                raise _BadOutput(f"the child sent a frame of {size} bytes, over the limit of {limit} bytes")
            if len(self.buffer) < FRAME.size + size:
                return
            body = bytes(self.buffer[FRAME.size:FRAME.size + size])
            del self.buffer[:FRAME.size + size]
            if self.header is None:
                self._read_header(body)
            else:
                self.frames.append(body)
        if self.done and self.buffer:
            raise _BadOutput("the child sent more than its answer")

    def _read_header(self, body: bytes) -> None:
        try:
            self._parse_header(body)
        except _BadOutput:
            raise
        except Exception as err:  # noqa: BLE001 - any malformed header costs its request only
            raise _BadOutput(f"the child's answer is malformed ({type(err).__name__})") from None

    def _parse_header(self, body: bytes) -> None:
        try:
            header = json.loads(body)
        except (ValueError, RecursionError):
            raise _BadOutput("the child's answer is not valid JSON") from None
        if not isinstance(header, dict):
            raise _BadOutput("the child's answer is not a JSON object")
        if self.rid is None:
            if header.get("hello") != 1:
                raise _BadOutput("the child did not say hello")
            self.header = header
            return
        if header.get("id") != self.rid:
            raise _BadOutput(f"the child answered request {header.get('id')!r} instead of {self.rid}")
        status = header.get("status")
        if status == "error":
            self.error = {key: _text(header.get(key), 2000) for key in ("where", "type", "message", "detail")}
            self.error["traceback"] = _text(header.get("traceback"), 4000)
            self.error["not_implemented"] = header.get("not_implemented") is True
            self.header = {"status": "error"}
            return
        types, names = header.get("types"), header.get("arrays")
        if status != "ok" or not isinstance(types, dict) or not isinstance(names, list):
            raise _BadOutput("the child's answer has no valid status, types and arrays")
        if len(types) > MAX_ARRAYS or not all(isinstance(k, str) and isinstance(v, str) for k, v in types.items()):
            raise _BadOutput("the child's answer has invalid type descriptions")
        if not all(isinstance(n, str) and n in types for n in names) or len(set(names)) != len(names):
            raise _BadOutput("the child's answer lists arrays it does not describe")
        texts = header.get("texts", {})
        if not isinstance(texts, dict) or not all(isinstance(k, str) and k in types and isinstance(v, str)
                                                  for k, v in texts.items()):
            raise _BadOutput("the child's answer has invalid texts")
        self.header = {"status": "ok", "types": {_text(k, 200): _text(v, 200) for k, v in types.items()},
                       "arrays": [_text(n, 200) for n in names],
                       "texts": {_text(k, 200): _text(v, 2000) for k, v in texts.items()}}
        self.expected = len(names)


def _load_npy(blob: bytes, max_elements: int | None = None) -> np.ndarray:
    """A plain numeric ndarray from ``.npy`` bytes, checked before anything is allocated:
    at most 32 dimensions and ``max_elements`` elements, and exactly the bytes they need."""
    fmt = np.lib.format
    stream = io.BytesIO(blob)
    try:
        version = fmt.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except Exception as err:  # noqa: BLE001 - the header is the child's: any failure is its bad output
        raise _BadOutput(f"the child sent an invalid array: {type(err).__name__}") from None
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise _BadOutput(f"the child sent an array of dtype {dtype}, not a plain numeric one")
    if not (isinstance(shape, tuple) and len(shape) <= 32 and all(type(n) is int and n >= 0 for n in shape)):
        raise _BadOutput("the child sent an array with an invalid shape")
    count, offset = math.prod(shape), stream.tell()
    if max_elements is not None and count > max_elements:
        raise _BadOutput(f"the child sent an array of {count} elements, over the limit of {max_elements}")
    if count * dtype.itemsize != len(blob) - offset:
        raise _BadOutput(f"the child sent an array of shape {shape} with {len(blob) - offset} bytes of data")
    array = np.frombuffer(blob, dtype=dtype, count=count, offset=offset)
    array = array.reshape(shape, order="F" if fortran else "C")
    return array.astype(dtype.newbyteorder("="), order="C", copy=True)


def _text(value, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    return value.encode("utf-8", "replace").decode("utf-8")[:limit]


# --- the student's output -------------------------------------------------------------------------

class _Output:
    """The first and last ``limit/2`` bytes of a stream, and how many in between were dropped."""

    def __init__(self, limit: int):
        self.head_limit = limit // 2
        self.tail_limit = limit - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data[-self.tail_limit:]
            if len(self.tail) > 2 * self.tail_limit:  # trim now and then, not on every write
                del self.tail[:-self.tail_limit]

    @property
    def dropped(self) -> int:
        return self.total - len(self.head) - min(len(self.tail), self.tail_limit)

    def text(self) -> str:
        tail = bytes(self.tail[-self.tail_limit:]) if self.tail_limit else b""
        middle = f"\n[... {self.dropped} bytes of output not kept ...]\n".encode() if self.dropped else b""
        return (bytes(self.head) + middle + tail).decode("utf-8", "replace")


# --- notes ------------------------------------------------------------------------------------------

_SIGNAL_CAUSES = {
    signal.SIGKILL: "sent by student code, or by the system when it ran out of memory",
    signal.SIGSEGV: "a crash in native code, often an allocation failing at the memory limit of {mb} MB",
    signal.SIGBUS: "a crash in native code, often an allocation failing at the memory limit of {mb} MB",
    signal.SIGABRT: "an abort in native code, often an allocation failing at the memory limit of {mb} MB",
    signal.SIGXCPU: "the CPU time limit",
}


def _signal_of(code: int, kind: str) -> int | None:
    """The signal that ended a child, from its exit status (bwrap reports signal n as exit code 128+n)."""
    return -code if code < 0 else code - 128 if kind == "bubblewrap" and 128 < code < 128 + 65 else None


def _describe_exit(code: int, kind: str, limits, output: str, oom: bool = False) -> str:
    """What ended a child, from its exit status and, with ``oom``, the out-of-memory kills its
    cgroup counted."""
    sig = _signal_of(code, kind)
    if sig == signal.SIGKILL and oom:
        return (f"killed: memory limit of {limits.memory_mb} MB reached (memory written to files in /tmp, "
                "memfd or shared memory counts too)")
    if sig:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        cause = _SIGNAL_CAUSES.get(sig, "").format(mb=limits.memory_mb)
        return f"killed by signal {sig} ({name}{': ' + cause if cause else ''})"
    if "OpenBLAS error: Memory allocation" in output:
        return (f"the child process exited with code {code}: OpenBLAS could not allocate memory "
                f"within the memory limit of {limits.memory_mb} MB")
    if code == 0:
        return "the child process exited with code 0 (sys.exit or os._exit in student code?)"
    return f"the child process exited with code {code} (os._exit in student code, or student code broke the child)"


def _error_note(error: dict, limits) -> str:
    """A hint for the exceptions the sandbox itself causes."""
    kind, message = error.get("type", ""), error.get("message", "")
    if kind.endswith("MemoryError"):  # numpy raises its own _ArrayMemoryError
        return f"memory limit of {limits.memory_mb} MB reached (MemoryError)"
    if kind == "EOFError":
        return "stdin is empty: input() cannot be answered"
    if "[Errno 27]" in message:
        return f"file size limit of {limits.file_size_mb} MB reached"
    if kind == "BlockingIOError" and "[Errno 11]" in message:
        return f"process limit of {limits.processes} processes and threads reached"
    return ""


def _join(notes) -> str:
    return "; ".join(n for n in notes if n)


# --- slots and uids -------------------------------------------------------------------------------

def _take_slot(slot):
    """``(slot, lock fd)``: a slot no other Child (in any process) holds, and that has no account."""
    folder = Path(tempfile.gettempdir()) / f"lab2-sandbox-slots-{os.geteuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    for candidate in [slot] if slot is not None else range(MAX_SLOTS):
        if not 0 <= candidate < MAX_SLOTS:
            raise ValueError(f"slot must be in 0..{MAX_SLOTS - 1}")
        if slot is None and _has_account(BASE_UID + candidate):
            continue
        fd = os.open(folder / f"slot-{candidate}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return candidate, fd
        except BlockingIOError:
            os.close(fd)
    raise SandboxError(f"slot {slot} is in use by another child" if slot is not None else "no free sandbox slot")


def _has_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def processes_of(uid: int, zombies: bool = True) -> list[int]:
    """Pids whose real uid is ``uid``: what a dedicated uid still runs (tests assert it is empty)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            status = _status(entry)
            if status.get(b"Uid", b"-1").split()[0] == str(uid).encode() and (
                    zombies or not status.get(b"State", b"").startswith(b"Z")):
                found.append(int(entry))
    return found


def _status(pid) -> dict:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            return dict(line.split(b":\t", 1) for line in f.read().splitlines() if b":\t" in line)
    except OSError:
        return {}


def _kill_uid(uid: int, wait: float = KILL_WAIT) -> None:
    """SIGKILL every live process of a dedicated uid (normally there is none left to kill)."""
    deadline = time.monotonic() + wait
    while (pids := processes_of(uid, zombies=False)) and time.monotonic() < deadline:
        for pid in pids:
            try:
                handle = os.pidfd_open(pid)
            except OSError:
                continue
            try:
                if _status(pid).get(b"Uid", b"-1").split()[0] == str(uid).encode():  # not a reused pid
                    signal.pidfd_send_signal(handle, signal.SIGKILL)
            except OSError:
                pass
            finally:
                os.close(handle)
        time.sleep(0.001)  # the killed are still exiting


def _tasks_of(uid: int) -> int:
    """The tasks (threads included) of ``uid``: what RLIMIT_NPROC counts."""
    return sum(int(_status(pid).get(b"Threads", b"1")) for pid in processes_of(uid))
