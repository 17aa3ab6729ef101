"""Slots: which dedicated uid a sandboxed child runs as, and what that uid still runs.

When the grader is root, each ``Child`` holds a slot n (a lock file under the system's
temporary folder, so across processes too) and its processes run as uid/gid 61000 + n: a
uid of their own, so RLIMIT_NPROC counts only them and, when a child ends, every process
left with that uid is a leftover to kill (``kill_uid``). A slot whose uid has an account on
the machine is skipped. Without bubblewrap every slot's processes share the group
``SANDBOX_GID`` (62000), which the grader's own folders deny by an ACL entry
(``grader.sandbox.hiding``). ``processes_of`` is what the tests assert empty after each child.

Not this module's job: dropping to the uid (the child does it, ``grader.sandbox.child``).
"""
import fcntl
import os
import pwd
import signal
import tempfile
import time
from pathlib import Path

BASE_UID = 61000  # slot n runs as uid/gid 61000 + n when the grader is root
MAX_SLOTS = 1000
SANDBOX_GID = BASE_UID + MAX_SLOTS  # the group of every slot without bubblewrap: denied the grader's files
KILL_WAIT = 5.0


class SandboxError(Exception):
    """The sandbox itself failed (not the student's code): an internal error of the grader."""


def take_slot(slot):
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


def kill_uid(uid: int, wait: float = KILL_WAIT) -> None:
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


def tasks_of(uid: int) -> int:
    """The tasks (threads included) of ``uid``: what RLIMIT_NPROC counts."""
    return sum(int(_status(pid).get(b"Threads", b"1")) for pid in processes_of(uid))
