"""Launching a sandboxed child: which sandbox, bubblewrap's command, the fallback, binds, env.

Two sandboxes, chosen once by ``sandbox_status()``:
- ``bubblewrap``: a fresh mount namespace that holds only /usr (and the /bin, /lib symlinks),
  the Python installation and the virtual environment at their own paths, the child's two
  files at /sandbox/bin (``child.py`` and ``protocol.py``: the grader package itself is not
  there), ``lab2check`` at /sandbox/lib/lab2check, the submission at /submission, the data
  binds, all read-only, plus a private tmpfs /tmp (HOME) and new /proc and /dev; new PID,
  network (no network at all), IPC and UTS namespaces. As root there is no user namespace: the
  child drops to a dedicated uid (``grader.sandbox.slots``) itself, so RLIMIT_NPROC counts only
  its own processes (it is never enforced for root). As another user ``--unshare-all`` adds a
  user namespace and RLIMIT_NPROC is set to the user's current number of tasks plus
  ``limits.processes`` (approximate: it counts the user's other processes too).
- ``rlimits``: the same child with the same resource limits and uid, but it sees the host's
  files (whatever the dedicated uid may read) and the network. ``LAB2_SANDBOX=rlimits`` forces it.
  As root, its group is ``SANDBOX_GID`` and the grader's own folders (the project: reference,
  rubric, grader, ``.git``; and the answers' cache) deny that group by an ACL entry
  (``hide_grader_files``, ``grader.sandbox.hiding``): the child reaches the Python environment,
  the submission and the data binds there through descriptors opened while it is still root.
Both: stdin is /dev/null, a cleared environment (one BLAS thread, MPLBACKEND=Agg), RLIMIT_AS =
``limits.memory_mb`` (numpy with one OpenBLAS thread starts from about 130 MB), RLIMIT_FSIZE,
RLIMIT_NOFILE, RLIMIT_CORE = 0 and an RLIMIT_CPU backstop behind the wall-clock timeout; a
cgroup joined before the sandbox starts (``_joining``) and the seccomp filter, where the machine
allows them. Nothing on a command line names a host path of the submission, the data or the
cache: bubblewrap reads its options from a pipe (``--args``) and the child its configuration
(so ``ps`` on the host and ``/proc/1/cmdline`` in the sandbox show only ``bwrap --args N`` and
``python -s /sandbox/bin/child.py N``).

Not this module's job: watching the started process, talking to it or killing it
(``grader.sandbox.process``).
"""
import fcntl
import functools
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import lab2check
from grader.sandbox import cgroup, hiding, seccomp_filter
from grader.sandbox.slots import SANDBOX_GID, SandboxError, tasks_of

HERE = Path(__file__).resolve().parent
# What the child needs of ours, and where bubblewrap shows it: the script and the protocol it
# imports (nothing else of the grader), and the check library whose probes it runs.
CHILD_FILES = {HERE / "child.py": "/sandbox/bin/child.py", HERE / "protocol.py": "/sandbox/bin/protocol.py"}
CHILD_SCRIPT = HERE / "child.py"
LAB2CHECK = Path(lab2check.__file__).resolve().parent
SANDBOX_LIB = "/sandbox/lib"  # the child's code_root in bubblewrap: lab2check is at /sandbox/lib/lab2check
SANDBOX_SUBMISSION = "/submission"

START_TIMEOUT = 30.0  # python + numpy start in ~0.1 s; this only catches a broken sandbox
NOFILE = 256
CPU_BACKSTOP_SECONDS = 7200  # hard RLIMIT_CPU for a child's whole life
TMPFS_MIN_MB = 64

BUBBLEWRAP_LINE = "student code ran in bubblewrap: no network, read-only view of the submission and the data"
RLIMITS_LINE = "student code ran with resource limits only"
HIDDEN_LINE = "the grader's files hidden from student code"
NOT_HIDDEN_LINE = "student code could read the grader's files ({})"
CGROUP_LINE = "memory and processes counted in a cgroup"
CPU_SHARE_LINE = "an equal share of the CPU for each child"
NO_CGROUP_LINE = "no cgroup ({}): memory counted by RLIMIT_AS only"
SECCOMP_LINE = "system calls filtered by seccomp"
NO_SECCOMP_LINE = "no seccomp filter ({})"


# --- which sandbox ------------------------------------------------------------------------------

def sandbox_status() -> tuple[str, str]:
    """``(sandbox, line)``: the sandbox used for student code, and the report's first line.

    ``LAB2_SANDBOX=rlimits`` turns bubblewrap off; ``LAB2_SANDBOX=bubblewrap`` makes its absence
    an error instead of a fallback.
    """
    sandbox, line = _which_sandbox()
    if sandbox == "rlimits":
        why = hide_grader_files() if os.geteuid() == 0 else "the grader does not run as root"
        line += "; " + (NOT_HIDDEN_LINE.format(why) if why else HIDDEN_LINE)
    cgroup_ok, why = cgroup.status()
    line += "; " + (CGROUP_LINE if cgroup_ok else NO_CGROUP_LINE.format(why))
    if cgroup_ok and cgroup.has_cpu_controller():
        line += ", " + CPU_SHARE_LINE
    seccomp_ok, why = seccomp_filter.status()
    return sandbox, line + "; " + (SECCOMP_LINE if seccomp_ok else NO_SECCOMP_LINE.format(why))


def _which_sandbox() -> tuple[str, str]:
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
    argv, fds = _by_descriptor(options, [sys.executable, "-s", "-c", "pass"], seccomp_program())
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


def hidden_folders() -> list[str]:
    """What student code must not read without bubblewrap: the project's folder (the reference,
    the rubric, the grader, its history; Gradescope's ``/autograder/source``) and the reference
    answers' cache (``$LAB2_CACHE`` may put it elsewhere)."""
    from grader import PROJECT
    from grader.answers.data import CACHE  # imported here: the sandbox does not need it otherwise

    folders = {os.path.realpath(PROJECT), os.path.realpath(CACHE)}
    return sorted(f for f in folders if os.path.isdir(f))


def hide_grader_files() -> str:
    """Deny the sandbox group every hidden folder (once per process): "" when done, else why not."""
    return "; ".join(why for folder in hidden_folders() if (why := hiding.hide(folder, SANDBOX_GID)))


def seccomp_program() -> bytes | None:
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
            os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))), numpy_site()}
    outside = sorted(d for d in dirs if not under(d, "/usr"))
    kept = [d for d in outside if not any(d != other and under(d, other) for other in outside)]
    return [(d, d) for d in kept]


def numpy_site() -> str:
    return os.path.dirname(os.path.dirname(os.path.realpath(np.__file__)))


def under(path: str, folder: str) -> bool:
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
            if parent not in made and not any(under(parent, t) for _, t in binds if t != target):
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


# --- the command -------------------------------------------------------------------------------

def command(sandbox: str, config: dict, folder: Path, binds: dict, limits, seccomp, info_w, passed: list):
    """``(argv, env, private home or None)``: bwrap around the child, or the child as its reaper.

    ``config`` is the child's configuration (completed here); the descriptors the child needs
    are added to ``passed``: its configuration (a pipe, not the command line), and bwrap's
    options and the seccomp filter (pipes too).
    """
    if sandbox == "bubblewrap":
        config |= {"submission": SANDBOX_SUBMISSION, "code_root": SANDBOX_LIB, "reaper": False}
        mounts = [*_python_binds(), *((str(src), dst) for src, dst in CHILD_FILES.items()),
                  (str(LAB2CHECK), f"{SANDBOX_LIB}/lab2check"), (str(folder), SANDBOX_SUBMISSION), *binds.items()]
        tmpfs_mb = max(TMPFS_MIN_MB, 4 * limits.file_size_mb)
        options = _bwrap_argv(mounts, _child_env("/tmp"), SANDBOX_SUBMISSION, info_w, tmpfs_mb)
        passed.append(_filled_pipe(json.dumps(config).encode()))
        child = [sys.executable, "-s", CHILD_FILES[CHILD_SCRIPT], str(passed[-1])]
        argv, fds = _by_descriptor(options, child, seccomp)
        passed += fds
        return argv, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, None
    if seccomp is not None:
        passed.append(_filled_pipe(seccomp))
        config["seccomp_fd"] = passed[-1]
    home = tempfile.mkdtemp(prefix="lab2-child-")  # the host's /tmp is shared: a private home in it
    if config.get("uid") is not None:
        os.chown(home, config["uid"], config["uid"])
    config |= {"submission": str(folder), "code_root": str(LAB2CHECK.parent), "reaper": True}
    passed.append(_filled_pipe(json.dumps(config).encode()))
    return [sys.executable, "-s", str(CHILD_SCRIPT), str(passed[-1])], _child_env(home), home


def rlimits(limits, uid) -> dict:
    """The child's resource limits (it sets them itself, first thing)."""
    values = {"CORE": 0, "NOFILE": NOFILE, "FSIZE": limits.file_size_mb << 20,
              "CPU": CPU_BACKSTOP_SECONDS, "AS": limits.memory_mb << 20}
    if uid is not None:
        values["NPROC"] = limits.processes
    elif os.geteuid() != 0:
        # No dedicated uid: RLIMIT_NPROC counts all of this user's tasks.
        values["NPROC"] = tasks_of(os.getuid()) + limits.processes
    return values


# Joins the cgroups named by its arguments up to "--", then becomes the command after it: so
# that the sandbox's first process, and everything it starts, runs inside them (a pid written
# after the start would race with bubblewrap's first fork).
_JOIN_SCRIPT = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


def joining(child_cgroup: cgroup.Cgroup | None, argv: list) -> list:
    if child_cgroup is None:
        return argv
    return ["/bin/sh", "-c", _JOIN_SCRIPT, "lab2-sandbox", *child_cgroup.procs_files, "--", *argv]


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


def sandbox_init(info_r: int, deadline: float) -> int:
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


def widen_pipe(fd: int) -> None:
    # 1 MiB pipes move arrays and floods of output in fewer wake-ups; the default is fine too.
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pass


