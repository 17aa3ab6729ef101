"""Small file-system helpers shared by the batch and the tools that read its output."""
import contextlib
import fcntl
import os
from pathlib import Path

from grader import UsageError


@contextlib.contextmanager
def locked(path: Path, *, exclusive: bool, busy: str):
    """Hold an advisory ``flock`` on ``path`` (created 0600) for the ``with`` block, shared or
    exclusive; never waits: a lock held elsewhere is ``UsageError(busy)`` (one line, exit 2)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(busy) from None
        yield
    finally:
        os.close(fd)
