"""Small file-system helpers shared by the batch and the tools that read its output."""
import contextlib
import fcntl
import os
import tempfile
from pathlib import Path

from grader.errors import UsageError


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


def atomic_write(path: Path, data: bytes | str, *, mode: int = 0o644, if_changed: bool = False) -> bool:
    """Write ``data`` (str as UTF-8) to ``path`` through a temporary file in the same folder and
    ``os.replace``: a reader (another grader, a browser, a crash) sees the old file or the new one
    whole, never half. ``mode`` is the new file's (0644 by default: the sandboxed children run as
    another uid and read some of these files). With ``if_changed``, a file that already holds these
    bytes is left alone, mtime included, so a re-run that changes nothing rewrites nothing.
    Returns whether the file was written."""
    path = Path(path)
    data = data.encode("utf-8") if isinstance(data, str) else data
    if if_changed:
        try:
            if path.read_bytes() == data:
                return False
        except OSError:
            pass
    # mkstemp, not a pid-named file: two threads of one process may write the same path
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:60]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return True
