"""Unpack one untrusted submission archive into a private folder, safely.

``detect_format`` reads the format from the file's first bytes, never from its name: a zip
renamed ``.tar.bz2`` is a zip. ``extract`` reads the archive twice, member by member (never
``extractall``, whose size checks come after the bytes are on disk): a first pass checks
everything and writes nothing, a second pass writes, with the same checks. It refuses the
archive with one ``ArchiveError`` line a teacher understands when it holds:

- a member with an absolute path (``/tmp/evil``, ``C:/x``) or a ``..`` component;
- a symbolic link that leaves the archive folder (absolute target or too many ``..``);
  a link that stays inside is skipped with a warning: a submission needs no link, and the
  grader then never has to follow one;
- a hard link, a character or block device, a FIFO (zip: the same types in its unix mode bits);
- more members than ``max_members``, a member larger than ``max_member_mb``, more than
  ``max_total_mb`` unpacked, or more than ``max_ratio`` times the archive's own size. Sizes are
  counted on the bytes actually unpacked, chunk by chunk, before each write, so a bomb stops
  at the cap whatever its headers declare (a declared size over the member cap is refused
  at once); the ratio cap only starts above ``RATIO_FLOOR`` bytes, because the ratio of a
  tiny archive means nothing (a 3 kB archive may hold 600 kB of repetitive text). A tar's
  whole decompressed stream is bounded too, for what is read but never written: headers
  (tarfile reads a GNU long name into memory) and the data of skipped members;
- a member whose path inside the archive is longer than ``MAX_MEMBER_PATH`` bytes (3840), or
  with a name longer than ``MAX_NAME`` bytes (255, what file systems allow): fixed caps, so that
  whether an archive is accepted never depends on where it is unpacked. An extraction folder
  whose own path is at most ``MAX_ROOT_PATH`` bytes (254) holds every accepted archive within
  Linux's ``PATH_MAX``; ``scratch_parent`` picks such a place for the callers' temporary folders,
  so ``grade`` and ``batch`` (whatever its ``--out``) accept the same archives;
- an encrypted zip member, a compression method Python cannot read;
- corrupt, truncated or empty data, including a tar that ends without its end-of-archive
  block (a tar cut exactly between two members would otherwise look complete).

Junk is skipped silently and listed in ``Extracted.skipped``: ``__MACOSX/``, ``__pycache__/``,
``*.pyc``, ``.DS_Store``, AppleDouble ``._*`` files, ``Thumbs.db``. Files are written 0o644 and
folders 0o755 whatever the archive says (never setuid, never executable); the folder itself
is 0o700. A refused archive is refused by the first pass, before the folder exists; should the
writing pass fail or be interrupted, the folder is emptied again (and removed when ``extract``
made it). Either way nothing is left behind.

Decompressing twice costs little next to writing: a submission is a few kB, and the first
pass over a bomb stops at the same caps as the second.

It is one safety argument (every member of either format goes through the same name checks,
caps and writer, in both passes), told in four modules whose imports point one way:

- ``archive`` (this one): the entry, ``extract``'s two passes, the format read from the first
  bytes, the extraction folder made private and emptied again;
- ``archive_formats``: the tar and zip readers, each member's type (link, device, FIFO, junk)
  and the corrupt or truncated data of each format;
- ``archive_writer``: the caps and the one place a member's bytes reach the disk, counted chunk
  by chunk before each write;
- ``archive_members``: a member's path (absolute, ``..``, the length caps), the junk names,
  ``ArchiveError`` and the one-line form of a name in a message.
"""
import codecs
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from grader.submission.archive_formats import extract_tar, extract_zip
from grader.submission.archive_members import MAX_MEMBER_PATH, ArchiveError, nbytes, shown
from grader.submission.archive_writer import Caps, Writer

__all__ = ["FORMATS", "MAX_ROOT_PATH", "PATH_MAX", "ArchiveError", "Extracted", "claimed_format", "detect_format",
           "extract", "scratch_parent"]

PATH_MAX = 4096            # Linux: the longest path a system call takes, final NUL included
MAX_ROOT_PATH = PATH_MAX - MAX_MEMBER_PATH - 2   # the extraction folder's path (+ "/" + NUL): 254 bytes
# What the callers put between their parent folder and the extraction folder:
# "/lab2-submission-XXXXXXXX/unpacked" (tempfile's random part is 8 characters).
SCRATCH_SUFFIX = 48

FORMATS = ("tar", "tar.bz2", "tar.gz", "tar.xz", "zip", "unknown", "empty")
# What a file that is not a submission archive may be, to say so in the error.
_OTHER_MAGIC = ((b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"), (b"Rar!\x1a\x07", "a RAR archive"),
                (b"\x28\xb5\x2f\xfd", "zstd-compressed data"), (b"%PDF", "a PDF document"),
                (b"\x1f\x9d", "compress (.Z) data"), (b"\x89PNG", "a PNG image"),
                (b"\xff\xd8\xff", "a JPEG image"), (b"MZ", "a Windows program"))


@dataclass
class Extracted:
    """What ``extract`` produced.

    ``members`` counts the regular files written, ``bytes`` the bytes written (a name the
    archive repeats is written twice and counted once in ``members``); ``skipped``
    lists the names of the junk and links left out; ``warnings`` holds one line per thing a
    teacher may want to know (a skipped link, an unknown member type). Names in ``skipped``,
    ``warnings`` and error messages are printable: control characters and undecodable bytes
    are escaped, so every message stays one line.
    """
    root: Path
    members: int
    bytes: int
    format: str
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def detect_format(path) -> str:
    """The archive format from the first bytes: one of ``FORMATS``.

    Compressed data is reported as ``tar.<compression>`` without decompressing it; that it
    really holds a tar is checked by ``extract``.
    """
    with open(path, "rb") as f:
        head = f.read(512)
    if not head:
        return "empty"
    if head[:3] == b"BZh" and head[3:4].isdigit():
        return "tar.bz2"
    if head[:2] == b"\x1f\x8b":
        return "tar.gz"
    if head[:6] == b"\xfd7zXZ\x00":
        return "tar.xz"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    if _is_tar_header(head):
        return "tar"
    return "unknown"


def claimed_format(filename) -> str | None:
    """The format a file name claims by its extension (``None`` when it claims none), so a
    caller can warn when it differs from ``detect_format``."""
    name = str(filename).lower()
    for ext, fmt in ((".tar.bz2", "tar.bz2"), (".tbz2", "tar.bz2"), (".tbz", "tar.bz2"),
                     (".tar.gz", "tar.gz"), (".tgz", "tar.gz"), (".tar.xz", "tar.xz"),
                     (".txz", "tar.xz"), (".tar", "tar"), (".zip", "zip")):
        if name.endswith(ext):
            return fmt
    return None


def scratch_parent(preferred=None) -> str:
    """Where to make a temporary extraction folder: ``preferred`` when its path leaves room for
    every accepted archive (``MAX_ROOT_PATH``), else the system's temporary folder, else /tmp."""
    for candidate in (preferred, tempfile.gettempdir(), "/tmp"):
        # realpath: extract works in the resolved folder, which a symbolic link may make longer.
        if candidate and nbytes(os.path.realpath(candidate)) + SCRATCH_SUFFIX <= MAX_ROOT_PATH:
            return os.path.realpath(candidate)
    return "/tmp"


def extract(archive_path, dest_dir, caps) -> Extracted:
    """Unpack ``archive_path`` into ``dest_dir`` under the rubric's ``archive`` caps.

    ``dest_dir`` must not exist (it is created 0o700, parents as needed) or be an empty
    folder. ``caps`` is anything with ``max_members``, ``max_member_mb``, ``max_total_mb`` and
    ``max_ratio`` (attributes or mapping keys), e.g. ``grader.rubric.Archive``.
    Raises ``ArchiveError`` with one line when the archive is refused.
    """
    archive_path = Path(archive_path)
    try:
        st = archive_path.stat()
        if not stat.S_ISREG(st.st_mode):
            # A FIFO would block the grader on open; a folder is not an archive.
            raise ArchiveError(f"{shown(archive_path.name)} is not a regular file")
        size = st.st_size
        fmt = detect_format(archive_path)
    except OSError as err:
        raise ArchiveError(f"cannot read the archive {shown(archive_path.name)}: "
                           f"{err.strerror or err}") from None
    if fmt == "empty":
        raise ArchiveError("the archive is an empty file (0 bytes)")
    if fmt == "unknown":
        raise ArchiveError(f"not a tar or zip archive: {_describe(archive_path)}")

    limits = Caps.of(caps)
    dest = Path(dest_dir)
    # First pass: read everything, write nothing. A hostile or oversized archive is refused
    # before a single byte reaches the disk, and a 70 000-file archive costs no file creation.
    _preflight(archive_path, fmt, Writer(None, limits, size))
    created = _make_private(dest)
    root = dest.resolve()
    writer = Writer(root, limits, size)
    try:
        # Second pass, writing: the same checks again, so the caps hold even if the file
        # changed in between.
        _unpack(archive_path, fmt, writer)
    except BaseException:
        # Nothing of a refused (or interrupted) archive stays on disk.
        _empty(dest, remove=created)
        raise
    return Extracted(root=root, members=writer.files, bytes=writer.total, format=fmt,
                     skipped=writer.skipped, warnings=writer.warnings)


def _unpack(path: Path, fmt: str, writer: Writer) -> None:
    if fmt == "zip":
        extract_zip(path, writer)
    else:
        extract_tar(path, fmt, writer)


def _preflight(path: Path, fmt: str, dry: Writer) -> None:
    # A function of its own so that tests can turn it off and watch the writing pass's guards.
    _unpack(path, fmt, dry)


def _make_private(dest: Path) -> bool:
    """Create ``dest`` 0o700 (True), or accept an existing empty folder (False)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(dest, 0o700)
        created = True
    except FileExistsError:
        if dest.is_symlink() or not dest.is_dir() or any(dest.iterdir()):
            raise FileExistsError(f"extraction folder {dest} exists and is not an empty folder") from None
        created = False
    os.chmod(dest, 0o700)
    return created


def _empty(dest: Path, remove: bool) -> None:
    if remove:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _is_tar_header(block: bytes) -> bool:
    """A ustar/GNU magic, or an old (v7) header whose checksum is right."""
    if len(block) < 512:
        return False
    if block[257:262] == b"ustar":
        return True
    if block.count(0) == 512:
        return True                  # an empty tar: only its end-of-archive blocks
    try:
        stored = int(block[148:156].replace(b"\0", b" ").strip() or b"-1", 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:512])
    return stored == unsigned and any(block[:100])


def _describe(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(64)
    for magic, what in _OTHER_MAGIC:
        if head.startswith(magic):
            return f"the file is {what}"
    try:
        if b"\0" not in head:
            # Incremental: a character cut at byte 64 is not an error.
            codecs.getincrementaldecoder("utf-8")().decode(head)
            return "the file is plain text"
    except UnicodeDecodeError:
        pass
    return f"the file starts with bytes {head[:8].hex(' ')}"
