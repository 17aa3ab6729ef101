"""The process that runs student code: a request loop over two pipes, inside the sandbox.

Started by ``grader.sandbox.launch`` as ``python -s child.py FD`` (inside bubblewrap, or with
resource limits only), where FD is a pipe holding its JSON configuration: on the command line
the configuration's host paths would show in ``ps`` and ``/proc/*/cmdline``. It runs as a plain
script, with ``protocol.py`` beside it: inside bubblewrap these two files are all of the grader
there is (at ``/sandbox/bin/``), with ``lab2check`` at ``/sandbox/lib/``. It confines itself
before any student code is imported (resource limits, an empty capability bounding set, then an
unprivileged uid when started as root, then the seccomp filter when bubblewrap did not load it:
see ``grader/sandbox/seccomp_filter.py``), imports numpy once, says hello, and then answers
requests until its request pipe closes (the wire format: ``protocol.py``). Student modules stay
imported between requests. It runs ``lab2check.probes.run`` and turns the values into plain
arrays with ``lab2check.plain.encode``. Student code runs in this process and may break any of
it; the parent trusts nothing it reads.

With ``"reaper": true`` (the sandbox without bubblewrap) the process first forks: the original
stays out of student code, adopts every orphan (``PR_SET_CHILD_SUBREAPER``), and when the
worker dies or the parent sends SIGTERM it kills what is left, reaps it, and exits the way the
worker did. That is the job bubblewrap's PID 1 does in its PID namespace; without it a fork
bomb's processes would end as orphans of the host's init.

Only the standard library is imported at module level: numpy comes after the resource limits.
Not this module's job: starting the child or reading its answers (``grader.sandbox.process``, ``running``).
"""
import io
import json
import os
import resource
import signal
import sys
from typing import TYPE_CHECKING

# The type checker reads the first branch (the grader's module); the sandbox runs the second.
if TYPE_CHECKING or __package__:  # imported as grader.sandbox.child (its docstring, a tool)
    from grader.sandbox import protocol
else:  # run as a script, in the sandbox: protocol.py lies beside it (sys.path[0])
    import protocol

_PR_SET_PDEATHSIG = 1
_PR_SET_SECCOMP = 22
_PR_CAPBSET_READ = 23
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_CHILD_SUBREAPER = 36
_SECCOMP_MODE_FILTER = 2


def main(argv=None) -> None:
    config = json.loads(_read_all(int((argv or sys.argv)[1])))
    if config.get("seccomp_fd") is not None:
        config["seccomp_filter"] = _read_all(config.pop("seccomp_fd"))
    if config.get("reaper"):
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        parent = os.getpid()
        worker = os.fork()
        if worker:
            _reap(worker, config)  # never returns
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(70)
    numpy, probes, plain, result = _confine(config)
    _serve(config, numpy, probes, plain, result)


# --- confinement ------------------------------------------------------------------------------

def _confine(config):
    """Limits, our own imports, the unprivileged uid, then the submission: before any student code."""
    # A file over RLIMIT_FSIZE then fails with EFBIG (an OSError in student code) instead of
    # killing the child with SIGXFSZ. Nobody sends SIGINT on purpose: a KeyboardInterrupt
    # from a signal could land anywhere in the loop, even between two requests.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name, value in config["rlimits"].items():
        resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (value, value))

    # Our own code first, still privileged and before the submission is on sys.path: numpy
    # under the memory limit, so a limit too small for it fails here, at start-up, and not in
    # the middle of a question (one small product makes OpenBLAS allocate its buffers); and
    # without the detour through descriptors that later imports may need.
    sys.path[:] = [p for p in sys.path if p != os.path.dirname(os.path.abspath(__file__))]
    sys.path.extend(p for p in config.get("site", ()) if p not in sys.path)
    import numpy

    numpy.ones((8, 8)) @ numpy.ones((8, 8))
    sys.path.insert(0, config["code_root"])
    from lab2check import plain, probes, result

    sys.path.remove(config["code_root"])  # the child's own code is not the student's business

    submission = config["submission"]
    needed = [p for p in {*sys.path, submission} if p and os.path.isdir(p)]
    # Opened while still root: see _reach_through_descriptors.
    handles = {p: os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) for p in needed}
    # No setuid program (su, mount...) can give privileges back (bubblewrap sets it too).
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    _empty_bounding_set()
    uid, gid = config.get("uid"), config.get("gid")
    if os.geteuid() == 0 and uid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        if os.getresuid() != (uid, uid, uid) or _can_become_root():
            os._exit(71)
        if config.get("reaper"):
            # A change of uid clears the parent-death signal: set it again.
            _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if config.get("seccomp_filter") is not None:
        _load_seccomp(config.pop("seccomp_filter"))
    if config.get("seccomp") and _status_field("Seccomp") != "2":
        _fail(73, "the seccomp filter is not loaded")  # never run student code without the filter asked for

    aliases = _reach_through_descriptors(handles)
    os.environ["MPLBACKEND"] = "Agg"
    if submission in aliases:
        os.fchdir(handles[submission])
    else:
        os.chdir(submission)
    sys.path.insert(0, aliases.get(submission, submission))
    return numpy, probes, plain, result


def _reach_through_descriptors(handles: dict) -> dict:
    """``{path: "/proc/self/fd/N"}`` for the directories the new uid cannot reach by name.

    Without bubblewrap the Python installation or the submission may sit below a folder only
    root may enter (``/root/.pyenv``, pytest's ``/tmp/pytest-of-root``). A descriptor opened
    before dropping root still reaches the directory itself and what lies below it (their own
    permissions still apply), never the private folder above it. Packages already imported
    get the new spelling in their ``__path__`` so that their submodules still import.
    """
    aliases = {}
    for path, fd in handles.items():
        if os.access(path, os.R_OK | os.X_OK):
            os.close(fd)
        else:
            aliases[path] = f"/proc/self/fd/{fd}"
    if not aliases:
        return aliases

    def respell(entry):
        for path, alias in aliases.items():
            if entry == path or entry.startswith(path + os.sep):
                return alias + entry[len(path):]
        return entry

    sys.path[:] = [respell(p) for p in sys.path]
    for module in list(sys.modules.values()):
        search = getattr(module, "__path__", None)
        if isinstance(search, list):
            search[:] = [respell(p) for p in search]
    sys.path_importer_cache.clear()
    return aliases


def _empty_bounding_set() -> None:
    """Drop every capability from the bounding set: no later exec can ever regain one.

    Needs CAP_SETPCAP, which a root child has (bubblewrap keeps it for this, with CAP_SETUID and
    CAP_SETGID); the setresuid that follows clears the capabilities it still holds. An
    unprivileged child (a grader not run as root) has nothing to drop and may not: skipped.
    """
    if os.geteuid() != 0:
        return
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except (OSError, ValueError):
        last = 40  # CAP_CHECKPOINT_RESTORE, the last one in Linux 6.x
    for cap in range(last + 1):
        _prctl(_PR_CAPBSET_DROP, cap)
    if _status_field("CapBnd").strip("0"):
        _fail(72, "the capability bounding set could not be emptied")


def _load_seccomp(program: bytes) -> None:
    """Load the grader's compiled seccomp filter (the sandbox without bubblewrap).

    With PR_SET_SECCOMP the filter covers the calling thread only: the child has no other
    thread yet (one BLAS thread), and every thread or process it starts later inherits it.
    """
    import ctypes

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    if _status_field("Threads") != "1":
        _fail(73, "a thread was started before the seccomp filter could be loaded")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "the seccomp filter could not be loaded")


def _fail(code: int, why: str) -> None:
    """End the child before any student code runs; the grader shows ``why`` in its error."""
    os.write(2, f"sandbox child: {why}\n".encode())
    os._exit(code)


def _status_field(name: str) -> str:
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key == name:
                return value.strip()
    return ""


def _read_all(fd: int) -> bytes:
    """What a pipe the grader filled holds, then close it."""
    parts = []
    while chunk := os.read(fd, 1 << 16):
        parts.append(chunk)
    os.close(fd)
    return b"".join(parts)


def _can_become_root() -> bool:
    try:
        os.setuid(0)
    except PermissionError:
        return False
    return True


def _prctl(option: int, value: int) -> None:
    import ctypes

    if ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


# --- the request loop -------------------------------------------------------------------------

def _serve(config, numpy, probes, plain, result) -> None:
    rfd, wfd = config["request_fd"], config["response_fd"]
    me = os.getpid()
    max_elements = config["max_elements"]
    protocol.send(wfd, protocol.hello(me, os.getuid()), [])
    # What student code may monkey-patch (np.allclose, builtins.float, our own probes) is put
    # back after each request, so one question's patch never changes how another is graded.
    # Names a student adds (e.g. an ``np.float`` alias for old code) are left alone.
    import builtins
    snapshots = [(m.__dict__, dict(m.__dict__)) for m in (builtins, numpy, probes, plain, result, protocol)]
    while True:
        try:
            received = protocol.read_request(rfd)
        except EOFError:
            os._exit(0)  # the parent went away in the middle of a request
        if received is None:
            os._exit(0)  # the parent closed the pipe: the submission is done
        request, frames = received
        _cpu_budget(request.get("cpu_seconds"))
        # The grader says how large an answer it will read; an honest encoding stays below it.
        limit = request.get("max_elements")
        limit = min(limit, max_elements) if type(limit) is int and limit > 0 else max_elements
        reply, blobs = _answer(request, frames, probes, plain, result, numpy, limit)
        if os.getpid() != me:
            os._exit(0)  # a process forked by student code came back here: only the child answers
        _restore(snapshots)
        _flush_student_output()
        protocol.send(wfd, reply, blobs)


def _restore(snapshots) -> None:
    for namespace, saved in snapshots:
        for name, value in saved.items():
            if namespace.get(name) is not value:
                namespace[name] = value


def _answer(request, frames, probes, plain, result, numpy, max_elements):
    """``(reply, .npy blobs)`` for one request: never raises, whatever student code does."""
    rid = request["id"]
    try:
        arrays = {name: numpy.load(io.BytesIO(frame), allow_pickle=False) for name, frame in frames.items()}
        values = probes.run(request["probe"], arrays, request["options"])
        types, names, blobs = {}, [], []
        for key, value in values.items():
            array, described = plain.encode(value, max_elements)
            types[str(key)] = str(described)
            if array is not None:
                names.append(str(key))
                blob = io.BytesIO()
                numpy.lib.format.write_array(blob, array, allow_pickle=False)
                blobs.append(blob.getbuffer())
        return protocol.ok_answer(rid, types, names), blobs
    except probes.StudentError as exc:
        return protocol.error_answer(rid, result.error_of(exc)), []
    except BaseException as exc:  # noqa: BLE001 - a hostile value may raise anything while encoded
        return _internal_error(rid, request.get("probe"), exc), []


def _internal_error(rid, probe, exc) -> dict:
    """An exception outside ``probes.call`` (a bad request, or a value that broke the encoding)."""
    import traceback

    try:
        text = str(exc)[:500]
    except BaseException:  # noqa: BLE001 - a student's exception may not even print
        text = "(unprintable)"
    try:
        trace = traceback.format_exc()[-2000:]
    except BaseException:  # noqa: BLE001
        trace = ""
    return protocol.error_answer(rid, {"where": f"lab2check probe {probe}", "type": type(exc).__name__,
                                       "not_implemented": False, "detail": text, "traceback": trace,
                                       "message": f"probe {probe} failed: {type(exc).__name__}: {text}"})


def _cpu_budget(seconds) -> None:
    """A CPU-time backstop for this request, within the hard limit set at start-up."""
    if not seconds:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(usage.ru_utime + usage.ru_stime + seconds) + 1
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ValueError, OSError):
        pass  # student code lowered the hard limit: theirs to lose


def _flush_student_output() -> None:
    # Before the answer, so that everything printed during the request is already in the
    # output pipe when the parent reads the response.
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:   # sys.__stdout__ is None in a process started without one
                stream.flush()
        except BaseException:  # noqa: BLE001 - student code may have replaced or closed them
            pass


# --- the reaper (sandbox without bubblewrap) ----------------------------------------------------

class _Stop(Exception):
    pass


def _reap(worker: int, config) -> None:
    """Wait for the worker, then kill and reap every remaining descendant; exit as it did."""
    for fd in (config["request_fd"], config["response_fd"]):
        os.close(fd)  # so that the parent sees the end of the answers when the worker dies
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    def stop(signum, frame):
        raise _Stop

    signal.signal(signal.SIGTERM, stop)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)  # the grader died: clean up all the same
    status = None
    try:
        if os.getppid() == 1:
            raise _Stop
        while status is None:
            pid, code = os.waitpid(-1, 0)
            if pid == worker:
                status = code
    except (_Stop, ChildProcessError):
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _kill_descendants()
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else 0)


def _kill_descendants() -> None:
    """SIGKILL every descendant, reaping as they die, until none is left.

    As the subreaper, this process adopts every orphan, so no descendant can leave the tree;
    a process forked between a scan and the kills is found by the next scan.
    """
    import time

    me = os.getpid()
    while True:
        tree = _live_descendants(me)
        for pid in tree:
            try:
                handle = os.pidfd_open(pid)
            except OSError:
                continue
            try:
                # Still in the tree once the handle is held: the pid was not reused meanwhile.
                if _parent_of(pid) in tree.keys() | {me}:
                    signal.pidfd_send_signal(handle, signal.SIGKILL)
            except OSError:
                pass
            finally:
                os.close(handle)
        try:
            while os.waitpid(-1, 0 if not tree else os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            return
        if tree:
            time.sleep(0.001)  # the killed processes are still exiting


def _parent_of(pid: int):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _live_descendants(root: int) -> dict:
    """``{pid: parent}`` for the descendants of ``root`` that are not zombies."""
    parents, alive = {}, set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        if fields[0] != b"Z":
            alive.add(int(entry))
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found, todo = {}, [root]
    while todo:
        parent = todo.pop()
        for pid in children.get(parent, ()):
            if pid not in found:
                found[pid] = parent
                todo.append(pid)
    return {pid: parent for pid, parent in found.items() if pid in alive}


if __name__ == "__main__":
    main()
