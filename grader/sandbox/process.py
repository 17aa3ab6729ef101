"""The sandboxed child as the grader holds it: ``Child``, one submission's process, started when
a request needs it and restarted when it fails.

A ``Child`` owns one long-lived process per submission (``grader/sandbox/child.py``, started by
``grader.sandbox.launch``) and sends it requests over a pipe (``grader.sandbox.protocol``, through
``grader.sandbox.running.Process``); when the process dies, hangs or is killed during a request,
that request ends with a status saying so and the next request starts a fresh process. The
student's stdout/stderr is read into a bounded buffer (its head and its tail), in the same poll
loop as the answers, not by a thread: the child flushes it before it answers, so what a request
printed is exactly what its ``Result`` shows, and a background thread that prints between
requests only blocks itself on a full pipe.

Where the machine allows it (the report's sandbox line says when it does not), each process
runs in a cgroup of its own (``grader.sandbox.cgroup``) with ``limits.memory_mb`` of memory and
``limits.processes`` (+2 for the sandbox's own) tasks, so that memfd, tmpfs and shared memory
count as well; the process is started inside it (through ``sh``, which joins it and then
executes the sandbox), the cgroup's out-of-memory kills are reported as the memory limit, and
its peak memory and CPU time are summed in ``Child.usage`` before it is removed.

A request's CPU time is the CPU time of every process in the child's cgroup, read by the grader
while it waits for the answer (``grader.sandbox.running``): past the request's ``cpu_seconds``
(and the second of grace ``RLIMIT_CPU`` gives) the child is killed and the request is a
``timeout``, the same one ``SIGXCPU`` gives, so a handler for ``SIGXCPU`` in student code
changes nothing. Without a cgroup, the soft ``RLIMIT_CPU`` of the child's own process is the
only CPU limit.

For the caller: one thread uses a ``Child`` at a time, and that thread must outlive the child
(``--die-with-parent`` and the reaper's parent-death signal fire when the *thread* that started
the process exits). The dedicated uid must be able to read the bind sources (o+r, and o+x on
their folders with ``rlimits``); bind targets must not lie inside /submission. Without
bubblewrap the dedicated uid reads whatever is world-readable: as root the grader's own folders
are hidden from it (``grader.sandbox.hiding``), and it reaches the data binds through
descriptors the grader opens and passes (``sandbox_path`` gives ``/proc/self/fd/N/...``); keep
submissions in folders only root may enter (the child reaches its own through a descriptor
opened before it drops root).

Not this module's job: the command that starts a process (``launch``), one started process's
pipes, output and killing (``running``), the bytes on the pipes (``protocol``), the uids
(``slots``), the words of a note (``notes``).
"""
import contextlib
import math
import os
import shutil
import signal
import subprocess
import time
import weakref
from pathlib import Path

from grader.sandbox import cgroup, launch, protocol
from grader.sandbox.notes import describe_exit, error_note, join, signal_of
from grader.sandbox.protocol import BadOutput, Reader
from grader.sandbox.running import Output, Process
from grader.sandbox.slots import BASE_UID, KILL_WAIT, SANDBOX_GID, SandboxError, kill_uid, take_slot
from lab2check.result import Result, Status

PIDS_SLACK = 2  # the sandbox's own processes in a child's cgroup: bubblewrap's two, or the reaper
CPU_GRACE_SECONDS = 1.0  # what the child's soft RLIMIT_CPU allows past a request's CPU time, too
# The longest a request may add to its own wall-clock limit: a fresh process started first
# (``launch.START_TIMEOUT``), and a failed one stopped after (the waits of ``_stop``: the kill,
# the output's end, the dedicated uid's leftovers, the cgroup's emptying and removal).
REQUEST_OVERHEAD_SECONDS = launch.START_TIMEOUT + 4 * KILL_WAIT + 3.0


class Child:
    """A sandboxed process that runs one submission's code, restarted when it fails.

    ``folder`` is the folder put on the child's ``sys.path`` (the one holding ``lab2/``);
    ``limits`` is duck-typed ``grader.rubric.Limits`` (``memory_mb``, ``processes``,
    ``file_size_mb``, ``output_kb``, ``max_array_mb``); ``binds`` maps host paths to the
    read-only paths the child sees them at (with ``rlimits``, at their host paths: ask
    ``sandbox_path``); ``slot`` picks the uid 61000+slot (None: the first free slot; a slot is
    held, through a lock file, by one Child at a time across processes); ``sandbox`` forces
    ``"bubblewrap"`` or ``"rlimits"`` (None: ``sandbox_status()``). Each process runs in a cgroup
    of its own when ``grader.sandbox.cgroup.status()`` allows it, under the seccomp filter when libseccomp
    is there; ``usage`` sums what this Child's processes used.
    """

    def __init__(self, folder, limits, binds: dict | None = None, slot: int | None = None,
                 sandbox: str | None = None, start_timeout: float = launch.START_TIMEOUT):
        self.folder = Path(folder).resolve()
        if not self.folder.is_dir():
            raise SandboxError(f"no such submission folder: {self.folder}")
        self.limits = limits
        self.binds = {str(Path(src).resolve()): str(dst) for src, dst in (binds or {}).items()}
        self.sandbox = sandbox or launch.sandbox_status()[0]
        if self.sandbox not in ("bubblewrap", "rlimits"):
            raise ValueError(f"unknown sandbox {self.sandbox!r}")
        self.start_timeout = start_timeout
        self.cgroups = cgroup.status()[0]  # whether each process runs in a cgroup of its own
        self.seccomp = launch.seccomp_program()
        self._used: list[cgroup.Usage] = []  # of every ended process
        self.slot, lock = take_slot(slot)
        self.uid = BASE_UID + self.slot if os.geteuid() == 0 else None
        self.gid = self.uid
        self._bind_fds: dict[str, int] = {}  # rlimits as root: bind source -> a descriptor the child inherits
        if self.sandbox == "rlimits" and self.uid is not None:
            # The sandbox group is denied the grader's folders; the data binds may lie in them
            # (the cache), so the child reaches those through descriptors opened here.
            self.gid = SANDBOX_GID
            launch.hide_grader_files()
            try:
                for source in self.binds:
                    self._bind_fds[source] = os.open(source, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError as err:
                self._close_bind_fds()
                os.close(lock)
                raise SandboxError(f"cannot open a data bind: {err}") from None
        self._release_slot = weakref.finalize(self, os.close, lock)
        self._proc: Process | None = None
        self._next_id = 0
        self.starts = 0  # how many processes this Child started
        self.start_seconds = 0.0  # how long the last one took to be ready

    # -- public API --

    def sandbox_path(self, host_path) -> str:
        """Where the child sees ``host_path`` (a submission file or one of the binds)."""
        path = str(Path(host_path).resolve())
        if self.sandbox == "rlimits":
            for source, fd in self._bind_fds.items():
                if launch.under(path, source):
                    return f"/proc/self/fd/{fd}{path[len(source):]}"
            return path
        for source, target in [(str(self.folder), launch.SANDBOX_SUBMISSION), *self.binds.items()]:
            if launch.under(path, source):
                return target + path[len(source):]
        raise ValueError(f"{path} is not visible in the sandbox")

    def start(self) -> None:
        """Start the process now (``request`` does it when needed)."""
        if self._release_slot.alive and self._proc is None:
            self._proc = self._spawn(Output(self.limits.output_kb << 10))

    def request(self, probe: str, arrays: dict, options: dict, timeout: float, *, cpu_seconds: float | None = None,
                max_elements: int | None = None, max_bytes: int | None = None) -> Result:
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
        output = Output(self.limits.output_kb << 10)
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
        chunks = protocol.encode_request(rid, probe, arrays, options, cpu, max_elements)
        reader = Reader(max_frame, min(max_bytes or 4 * max_array, 4 * max_array), rid, max_elements)
        started = time.monotonic()
        proc = self._proc
        try:
            outcome = proc.exchange(chunks, reader, started + timeout, output, cpu + CPU_GRACE_SECONDS)
        except BadOutput as err:
            outcome, notes = "bad-output", notes + [str(err)]
        seconds = time.monotonic() - started
        if outcome == "done":
            proc.read_ready_output(output, max_bytes=4 << 20)
            return self._answer(reader, seconds, output, notes)
        if outcome == "eof":
            end, signum = self._describe_end(proc, output)
            if signum == signal.SIGXCPU:
                notes.append(f"used more than its {cpu:g} s of CPU time: the child process was stopped")
                status = Status.TIMEOUT
            else:
                notes.append(end)
                status = Status.CRASHED
        elif outcome == "cpu":  # the cgroup's count: every process of the child, whatever it ignores
            notes.append(f"used more than its {cpu:g} s of CPU time: the child process was stopped")
            status = Status.TIMEOUT
        elif outcome == "timeout":
            notes.append(f"no answer within {timeout:g} s: the child process was killed")
            status = Status.TIMEOUT
        else:
            status = Status.BAD_OUTPUT
        self._stop(output)
        return Result(status, seconds=seconds, output_tail=output.text(), note=join(notes))

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
        self._close_bind_fds()
        self._release_slot()

    def _close_bind_fds(self) -> None:
        for fd in self._bind_fds.values():
            os.close(fd)
        self._bind_fds = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals --

    def _answer(self, reader, seconds, output, notes) -> Result:
        header = reader.header
        if header["status"] == "error":
            error = reader.error
            return Result(Status.ERROR, error=error, seconds=seconds, output_tail=output.text(),
                          note=join(notes + [error_note(error, self.limits)]))
        try:
            outputs = reader.arrays()
        except BadOutput as err:
            self._stop(output)
            return Result(Status.BAD_OUTPUT, seconds=seconds, output_tail=output.text(),
                          note=join(notes + [str(err)]))
        return Result(Status.OK, outputs=outputs, types=header["types"], seconds=seconds, output_tail=output.text(),
                      note=join(notes))

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
        return describe_exit(code, self.sandbox, self.limits, output.text(), oom), signal_of(code, self.sandbox)

    def _stop(self, output) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()
        if output is not None:
            proc.read_output_to_end(output)
        proc.release()
        if self.uid is not None:
            kill_uid(self.uid)
        if proc.killer.usage is not None:
            self._used.append(proc.killer.usage)

    def _spawn(self, output) -> Process:
        if self.uid is not None and not self.starts:
            kill_uid(self.uid)  # a crashed grader's leftovers would count against RLIMIT_NPROC
        started = time.monotonic()
        req_r, req_w = os.pipe2(os.O_CLOEXEC)
        resp_r, resp_w = os.pipe2(os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        for fd in (req_w, resp_r, out_r):
            launch.widen_pipe(fd)
        config = {"request_fd": req_r, "response_fd": resp_w, "rlimits": launch.rlimits(self.limits, self.uid),
                  "uid": self.uid, "gid": self.gid, "max_elements": (self.limits.max_array_mb << 20) // 8,
                  "site": [launch.numpy_site()], "seccomp": self.seccomp is not None}
        info_r, info_w = os.pipe2(os.O_CLOEXEC) if self.sandbox == "bubblewrap" else (None, None)
        passed, home = [fd for fd in (req_r, resp_w, info_w) if fd is not None], None
        child_cgroup: cgroup.Cgroup | None = None
        inherited = list(self._bind_fds.values())  # kept open by the grader: not closed below
        try:
            if self.cgroups:
                child_cgroup = cgroup.Cgroup(self.limits.memory_mb << 20, self.limits.processes + PIDS_SLACK)
            argv, env, home = launch.command(self.sandbox, config, self.folder, self.binds, self.limits,
                                            self.seccomp, info_w, passed)
            popen = subprocess.Popen(launch.joining(child_cgroup, argv), stdin=subprocess.DEVNULL, stdout=out_w,
                                     stderr=out_w, env=env, cwd="/", pass_fds=passed + inherited,
                                     start_new_session=True)
        except OSError as err:
            for end in (req_w, resp_r, out_r, info_r):   # info_r is None outside bubblewrap
                if end is not None:
                    os.close(end)
            if home:
                shutil.rmtree(home, ignore_errors=True)
            if child_cgroup is not None:
                child_cgroup.finish()
            raise SandboxError(f"cannot start the child process: {err}") from None
        finally:
            for fd in (*passed, out_w):  # the child's ends: its copies are the only ones now
                os.close(fd)
        proc = Process(popen, self.sandbox, req_w, resp_r, out_r, home, child_cgroup)
        deadline = started + self.start_timeout
        try:
            if info_r is not None:
                proc.killer.pidfd = launch.sandbox_init(info_r, deadline)
            reader = Reader(protocol.MAX_HEADER_BYTES, protocol.MAX_HEADER_BYTES, None)
            outcome = proc.exchange([], reader, deadline, output)
            hello = reader.header or {}  # "done": the hello was read
            if outcome == "done" and self.uid is not None and hello.get("uid") != self.uid:
                outcome = f"the child runs as uid {hello.get('uid')}, not {self.uid}"
        except (BadOutput, SandboxError) as err:
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
            raise SandboxError(f"the {self.sandbox} child process failed to start ({reason}): "
                               f"{output.text().strip()[-800:] or outcome}")
        self.starts += 1
        self.start_seconds = time.monotonic() - started
        return proc
