"""What a member of a submission archive may be called: its path, its names' lengths, junk.

``safe_parts`` refuses an absolute path, a ``..`` component, a name longer than ``MAX_NAME``
bytes and a path longer than ``MAX_MEMBER_PATH`` bytes (fixed caps, so that whether an archive
is accepted never depends on where it is unpacked: ``grader.submission.archive`` derives from
them how long the extraction folder's own path may be). ``shown`` and ``reason_of`` make a name and
an exception fit one line of a message.

Not this module's job: a member's type (``archive_formats``), its size (``archive_writer``).
"""
import os

from grader.errors import UsageError

MAX_NAME = 255             # one name, in bytes (ext4, tmpfs, btrfs, xfs)
MAX_MEMBER_PATH = 3840     # a member's path inside the archive, in bytes

PLAIN_ONLY = "a submission holds plain files only"
_JUNK_DIRS = {"__MACOSX", "__pycache__"}
_JUNK_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}


class ArchiveError(UsageError):
    """A submission archive that cannot be unpacked safely: one line saying why."""


def safe_parts(name: str) -> list[str]:
    """The path components of a member name, refusing absolute paths and ``..``.

    Backslashes count as separators: old Windows zip tools write them, and ``..\\x`` must not
    slip through as one odd file name.
    """
    clean = name.replace("\\", "/")
    if clean.startswith("/") or (len(clean) >= 2 and clean[1] == ":" and clean[0].isalpha()):
        raise ArchiveError(f"member '{shown(name)}' has an absolute path")
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"member '{shown(name)}' leaves the archive folder ('..' in its path)")
    longest = max((nbytes(p) for p in parts), default=0)
    if longest > MAX_NAME:
        raise ArchiveError(f"member '{shown(name)}' has a name of {longest} bytes, more than the "
                           f"{MAX_NAME} a file system allows")
    size = nbytes("/".join(parts))
    if size > MAX_MEMBER_PATH:
        raise ArchiveError(f"member '{shown(name)}' has a path of {size} bytes inside the archive, more than "
                           f"{MAX_MEMBER_PATH}: nest the folders less deeply")
    return parts


def nbytes(name: str) -> int:
    """The length of ``name`` on disk, in bytes (undecodable bytes count one each)."""
    try:
        return len(os.fsencode(name))
    except UnicodeEncodeError:
        return len(name.encode("utf-8", "surrogatepass"))


def is_junk(parts: list[str]) -> bool:
    last = parts[-1]
    return (any(p in _JUNK_DIRS for p in parts) or last in _JUNK_FILES or last.endswith(".pyc")
            or last.startswith("._"))


def shown(name: str, limit: int = 120) -> str:
    """A member name fit for one line of a message or a CSV cell: control characters and
    undecodable bytes escaped, very long names cut in the middle."""
    text = name.encode("utf-8", "backslashreplace").decode("utf-8")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit // 2] + "..." + text[-limit // 2:]


def reason_of(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text.splitlines()[0] if text.strip() else type(err).__name__
