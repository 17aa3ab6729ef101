"""A cgroup for each sandboxed child: its memory and processes counted by the host's kernel.

``RLIMIT_AS`` limits a process's address space, not what it makes the kernel keep for it:
pages written to a memfd, to a tmpfs or to shared memory belong to no address space, and a
child could fill the host's memory with them. In a memory cgroup they count against the
child's limit (``limits.memory_mb``), and the kernel's out-of-memory killer ends the child, not
an innocent process of the host; a pids cgroup bounds the child's processes and threads
(``limits.processes``, plus the sandbox's own two) whatever their uid. A CPU controller gives
each child the same share of the processors however many processes it runs (cgroup v1's
``cpu.shares``, v2's ``cpu.weight``): 28 processes forked by one submission get together what one
process of a submission graded beside it gets, not 28 times as much. The cgroup also counts the
CPU time of all the child's processes, a forked one that left the session included: the sandbox
ends a request that used its CPU time (``grader.sandbox.running``), whatever signals the student
ignores. Its peak memory and CPU time go into ``report.json``.

Where: below the grader's own cgroup in each hierarchy, so that a grader confined by its own
limits keeps its children inside them. With cgroup v1 (the ``memory`` controller mounted on its
own hierarchy, as on this project's machines) the ``memory``, ``pids``, ``cpuacct`` and ``cpu``
hierarchies are used (``memory.limit_in_bytes``, ``memory.memsw.limit_in_bytes``, ``pids.max``,
``cpu.shares``); otherwise cgroup v2 (``memory.max``, ``memory.swap.max``, ``pids.max``,
``cpu.weight``) when the grader's cgroup may pass the ``memory`` and ``pids`` controllers (and
``cpu`` where it has it) to a child cgroup (a delegated subtree). ``cpu``, ``cpuacct`` and
``pids`` are optional: ``has_cpu_controller`` says whether children share the processors fairly. When neither
works (not root, read-only, no controller), ``status()`` says why and the sandbox runs without:
the report's sandbox line says so.

Not this module's job: starting the child inside the cgroup (``grader.sandbox`` starts it
through a shell that writes its own pid into ``procs_files`` and then executes the sandbox, so
that nothing runs outside the cgroup), or killing it first (the sandbox does; ``finish`` kills
what is left before it removes the cgroup).
"""
import contextlib
import errno
import functools
import itertools
import os
import re
import signal
import time
from dataclasses import dataclass

V1_CONTROLLERS = ("memory", "pids", "cpuacct", "cpu")
CPU_SHARES = 1024  # v1 ``cpu.shares`` of every child: the kernel's default, the same for all
CPU_WEIGHT = 100   # v2 ``cpu.weight``: likewise
KILL_WAIT = 5.0
_counter = itertools.count()
_NAME = re.compile(r"lab2-(\d+)-\d+")


class CgroupError(OSError):
    """A cgroup could not be made or set up."""


@dataclass
class Usage:
    """What one child used, read from its cgroup before it is removed (None: not available)."""
    peak_bytes: int | None = None
    cpu_ns: int | None = None
    oom_kills: int = 0


# --- where the hierarchies are ------------------------------------------------------------------

@dataclass(frozen=True)
class _Layout:
    version: int
    folders: dict  # v1: controller -> the grader's own cgroup folder in its hierarchy; v2: {"unified": folder}


def _mounts(mountinfo: str) -> list[tuple[str, str, str, set]]:
    """``(fstype, mount root, mount point, super options)`` of every cgroup file system."""
    found = []
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields, tail = left.split(), right.split()
                if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
                    found.append((tail[0], _unescape(fields[3]), _unescape(fields[4]), set(tail[2].split(","))))
    except OSError:
        pass
    return found


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _own_paths(cgroup_file: str) -> dict:
    """``{controller or "": path}`` from /proc/self/cgroup ("" is the v2 hierarchy)."""
    paths = {}
    try:
        with open(cgroup_file, encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) == 3:
                    for controller in parts[1].split(",") if parts[1] else [""]:
                        paths[controller] = parts[2]
    except OSError:
        pass
    return paths


def _folder(mount_root: str, mount_point: str, path: str) -> str | None:
    """The folder of cgroup ``path`` under a mount of the hierarchy rooted at ``mount_root``."""
    if mount_root != "/":
        if path != mount_root and not path.startswith(mount_root.rstrip("/") + "/"):
            return None  # our cgroup is outside what this mount shows
        path = path[len(mount_root.rstrip("/")):] or "/"
    folder = os.path.normpath(mount_point + "/" + path.lstrip("/"))
    return folder if os.path.isdir(folder) else None


@functools.cache
def _layout(mountinfo="/proc/self/mountinfo", cgroup_file="/proc/self/cgroup") -> tuple[_Layout | None, str]:
    """Where this process's cgroups are, from the two files (other ones in tests)."""
    mounts, own = _mounts(mountinfo), _own_paths(cgroup_file)
    v1 = {}
    for fstype, root, point, options in mounts:
        if fstype == "cgroup":
            for controller in V1_CONTROLLERS:
                if controller in options and controller in own and controller not in v1:
                    folder = _folder(root, point, own[controller])
                    if folder:
                        v1[controller] = folder
    if "memory" in v1:
        return _Layout(1, v1), ""
    for fstype, root, point, _ in mounts:
        if fstype == "cgroup2" and "" in own:
            folder = _folder(root, point, own[""])
            if folder is None:
                continue
            return _v2_layout(folder)
    return None, "no memory controller is mounted"


def _v2_layout(folder: str) -> tuple[_Layout | None, str]:
    available = _read(os.path.join(folder, "cgroup.controllers")).split()
    if not {"memory", "pids"} <= set(available):
        return None, "cgroup v2 without the memory and pids controllers"
    enabled = _read(os.path.join(folder, "cgroup.subtree_control")).split()
    if "cpu" in available and "cpu" not in enabled:
        # Alone, and first: optional (without it children only lack a fair share of the CPU),
        # and a write fails as a whole, so it must not take the required two down with it.
        with contextlib.suppress(OSError):
            _write(os.path.join(folder, "cgroup.subtree_control"), "+cpu")
    missing = [c for c in ("memory", "pids") if c not in enabled]
    if missing:
        try:
            _write(os.path.join(folder, "cgroup.subtree_control"), " ".join(f"+{c}" for c in missing))
        except OSError as err:
            # EBUSY: the grader's own cgroup holds processes; run it in a delegated subtree.
            return None, f"cannot enable {' and '.join(missing)} below {folder}: {err.strerror}"
    return _Layout(2, {"unified": folder}), ""


@functools.cache
def status() -> tuple[bool, str]:
    """``(usable, why not)``: whether each child can get a cgroup here (tried once)."""
    layout, reason = _layout()
    if layout is None:
        return False, reason
    try:
        Cgroup(64 << 20, 8).finish()
    except OSError as err:
        return False, f"cannot make a cgroup: {err.strerror or err}"
    return True, ""


@functools.cache
def has_cpu_controller() -> bool:
    """Whether each child's cgroup gets its own share of the processors (v1 ``cpu``, v2 ``cpu.weight``)."""
    layout, _ = _layout()
    if layout is None:
        return False
    if layout.version == 1:
        return "cpu" in layout.folders
    return "cpu" in _read(os.path.join(layout.folders["unified"], "cgroup.subtree_control")).split()


# --- one child's cgroup -------------------------------------------------------------------------

class Cgroup:
    """A new cgroup with a memory limit of ``memory_bytes`` and at most ``pids`` tasks."""

    def __init__(self, memory_bytes: int, pids: int):
        layout, reason = _layout()
        if layout is None:
            raise CgroupError(errno.ENOTSUP, reason)
        _sweep(tuple(dict.fromkeys(layout.folders.values())))
        self.version = layout.version
        self.name = f"lab2-{os.getpid()}-{next(_counter)}"
        self.folders: dict[str, str] = {}  # controller (or "unified") -> this cgroup's folder; co-mounted ones share it
        self._usage: Usage | None = None
        try:
            for controller, parent in layout.folders.items():
                folder = os.path.join(parent, self.name)
                if folder not in self.folders.values():
                    os.mkdir(folder, 0o755)
                self.folders[controller] = folder
            self._limit(memory_bytes, pids)
        except OSError as err:
            self.finish()
            raise CgroupError(err.errno, f"{err.strerror} ({getattr(err, 'filename', '') or self.name})") from None

    def _limit(self, memory_bytes: int, pids: int) -> None:
        if self.version == 1:
            memory = self.folders["memory"]
            _write(os.path.join(memory, "memory.limit_in_bytes"), str(memory_bytes))
            with contextlib.suppress(FileNotFoundError):  # present only with swap accounting
                _write(os.path.join(memory, "memory.memsw.limit_in_bytes"), str(memory_bytes))
            if "pids" in self.folders:
                _write(os.path.join(self.folders["pids"], "pids.max"), str(pids))
            if "cpu" in self.folders:
                _write(os.path.join(self.folders["cpu"], "cpu.shares"), str(CPU_SHARES))
        else:
            folder = self.folders["unified"]
            _write(os.path.join(folder, "memory.max"), str(memory_bytes))
            with contextlib.suppress(FileNotFoundError):
                _write(os.path.join(folder, "memory.swap.max"), "0")
            _write(os.path.join(folder, "pids.max"), str(pids))
            with contextlib.suppress(FileNotFoundError):  # only where the cpu controller is enabled
                _write(os.path.join(folder, "cpu.weight"), str(CPU_WEIGHT))

    @property
    def procs_files(self) -> list[str]:
        """Where a process writes its pid to join this cgroup (one file per hierarchy)."""
        return [os.path.join(folder, "cgroup.procs") for folder in dict.fromkeys(self.folders.values())]

    def oom_kills(self) -> int:
        """How many processes the kernel's out-of-memory killer ended in this cgroup."""
        if self._usage is not None:
            return self._usage.oom_kills
        if self.version == 1:
            text = _read(os.path.join(self.folders.get("memory", ""), "memory.oom_control"))
        else:
            text = _read(os.path.join(self.folders["unified"], "memory.events"))
        return _field(text, "oom_kill") or 0

    def cpu_ns(self) -> int | None:
        """The CPU time (ns) every process of the cgroup used so far, the exited ones included;
        None where it is not counted (v1 without ``cpuacct``)."""
        if self._usage is not None:
            return self._usage.cpu_ns
        if self.version == 1:
            return _number(os.path.join(self.folders["cpuacct"], "cpuacct.usage")) if "cpuacct" in self.folders \
                else None
        usec = _field(_read(os.path.join(self.folders["unified"], "cpu.stat")), "usage_usec")
        return None if usec is None else usec * 1000

    def usage(self) -> Usage:
        """Peak memory, CPU time and out-of-memory kills so far."""
        if self._usage is not None:
            return self._usage
        if self.version == 1:
            peak = _number(os.path.join(self.folders["memory"], "memory.max_usage_in_bytes"))
        else:
            peak = _number(os.path.join(self.folders["unified"], "memory.peak"))  # Linux 5.19 and later
        return Usage(peak, self.cpu_ns(), self.oom_kills())

    def finish(self) -> Usage:
        """Kill what is left in the cgroup, read its usage and remove it; safe to call twice."""
        if self._usage is not None:
            return self._usage
        usage = Usage()
        if self.folders:
            self._kill_all()
            with contextlib.suppress(OSError, KeyError):
                usage = self.usage()
        self._usage = usage
        for folder in dict.fromkeys(self.folders.values()):
            _remove(folder)
        return usage

    def _kill_all(self) -> None:
        if self.version == 2:
            with contextlib.suppress(OSError):
                _write(os.path.join(self.folders["unified"], "cgroup.kill"), "1")  # Linux 5.14 and later
        deadline = time.monotonic() + KILL_WAIT
        while time.monotonic() < deadline:
            pids = {pid for procs in self.procs_files for pid in _pids(procs)}
            if not pids:
                return
            for pid in pids:
                _kill(pid, self.procs_files)
            time.sleep(0.002)  # the killed are still exiting


def _kill(pid: int, procs_files) -> None:
    try:
        handle = os.pidfd_open(pid)
    except OSError:
        return
    try:
        # Still listed once the handle is held: the pid was not reused meanwhile.
        if any(pid in _pids(procs) for procs in procs_files):
            signal.pidfd_send_signal(handle, signal.SIGKILL)
    except OSError:
        pass
    finally:
        os.close(handle)


def _remove(folder: str) -> None:
    deadline = time.monotonic() + KILL_WAIT
    while True:
        try:
            os.rmdir(folder)
            return
        except FileNotFoundError:
            return
        except OSError as err:
            # EBUSY while the last task is still being taken out of the cgroup.
            if err.errno != errno.EBUSY or time.monotonic() > deadline:
                return
            time.sleep(0.005)


@functools.cache
def _sweep(parents: tuple) -> None:
    """Remove the empty cgroups a grader that died left behind (once per process)."""
    for parent in parents:
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        for name in names:
            match = _NAME.fullmatch(name)
            if match and not _alive(int(match.group(1))):
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.join(parent, name))  # fails on a cgroup that still has processes


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- small file helpers -------------------------------------------------------------------------

def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(text)


def _number(path: str) -> int | None:
    try:
        return int(_read(path).split()[0])
    except (IndexError, ValueError):
        return None


def _field(text: str, key: str) -> int | None:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            try:
                return int(parts[1])
            except ValueError:
                return None
    return None


def _pids(procs: str) -> set:
    return {int(p) for p in _read(procs).split() if p.isdigit()}
