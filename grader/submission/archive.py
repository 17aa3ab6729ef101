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

Why one module above 500 lines: it is one safety argument (every member of either format goes
through the same name checks, caps and writer, in both passes), and a reader checking it should
not have to follow it across files; the sections below (caps and writer, names, tar, zip) are
its chapters.
"""
import bz2
import codecs
import gzip
import lzma
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import UsageError

CHUNK = 1 << 20            # bytes per read and write; the caps are checked before each write
PATH_MAX = 4096            # Linux: the longest path a system call takes, final NUL included
MAX_NAME = 255             # one name, in bytes (ext4, tmpfs, btrfs, xfs)
MAX_MEMBER_PATH = 3840     # a member's path inside the archive, in bytes
MAX_ROOT_PATH = PATH_MAX - MAX_MEMBER_PATH - 2   # the extraction folder's path (+ "/" + NUL): 254 bytes
# What the callers put between their parent folder and the extraction folder:
# "/lab2-submission-XXXXXXXX/unpacked" (tempfile's random part is 8 characters).
SCRATCH_SUFFIX = 48
RATIO_FLOOR = 1 << 20      # unpacked bytes always allowed, whatever the compression ratio
MB = 1 << 20

FORMATS = ("tar", "tar.bz2", "tar.gz", "tar.xz", "zip", "unknown", "empty")
_PLAIN_ONLY = "a submission holds plain files only"
_JUNK_DIRS = {"__MACOSX", "__pycache__"}
_JUNK_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}
# What a file that is not a submission archive may be, to say so in the error.
_OTHER_MAGIC = ((b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"), (b"Rar!\x1a\x07", "a RAR archive"),
                (b"\x28\xb5\x2f\xfd", "zstd-compressed data"), (b"%PDF", "a PDF document"),
                (b"\x1f\x9d", "compress (.Z) data"), (b"\x89PNG", "a PNG image"),
                (b"\xff\xd8\xff", "a JPEG image"), (b"MZ", "a Windows program"))
_COMPRESSION = {"tar.bz2": ("bzip2", bz2.open), "tar.gz": ("gzip", gzip.open),
                "tar.xz": ("xz", lzma.open), "tar": ("tar", None)}
# What decompressors and tarfile raise on bad data.
_DATA_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile,
                ValueError)


class ArchiveError(UsageError):
    """A submission archive that cannot be unpacked safely: one line saying why."""


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
        if candidate and _nbytes(os.path.realpath(candidate)) + SCRATCH_SUFFIX <= MAX_ROOT_PATH:
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
            raise ArchiveError(f"{_shown(archive_path.name)} is not a regular file")
        size = st.st_size
        fmt = detect_format(archive_path)
    except OSError as err:
        raise ArchiveError(f"cannot read the archive {_shown(archive_path.name)}: "
                           f"{err.strerror or err}") from None
    if fmt == "empty":
        raise ArchiveError("the archive is an empty file (0 bytes)")
    if fmt == "unknown":
        raise ArchiveError(f"not a tar or zip archive: {_describe(archive_path)}")

    limits = _Caps.of(caps)
    dest = Path(dest_dir)
    # First pass: read everything, write nothing. A hostile or oversized archive is refused
    # before a single byte reaches the disk, and a 70 000-file archive costs no file creation.
    _preflight(archive_path, fmt, _Writer(None, limits, size))
    created = _make_private(dest)
    writer = _Writer(dest.resolve(), limits, size)
    try:
        # Second pass, writing: the same checks again, so the caps hold even if the file
        # changed in between.
        _unpack(archive_path, fmt, writer)
    except BaseException:
        # Nothing of a refused (or interrupted) archive stays on disk.
        _empty(dest, remove=created)
        raise
    return Extracted(root=writer.root, members=writer.files, bytes=writer.total, format=fmt,
                     skipped=writer.skipped, warnings=writer.warnings)


def _unpack(path: Path, fmt: str, writer: "_Writer") -> None:
    if fmt == "zip":
        _extract_zip(path, writer)
    else:
        _extract_tar(path, fmt, writer)


def _preflight(path: Path, fmt: str, dry: "_Writer") -> None:
    # A function of its own so that tests can turn it off and watch the writing pass's guards.
    _unpack(path, fmt, dry)


# --- caps and the writer ------------------------------------------------------------------

@dataclass(frozen=True)
class _Caps:
    max_members: int
    max_member: int      # bytes
    max_total: int       # bytes
    max_ratio: float

    @classmethod
    def of(cls, caps) -> "_Caps":
        def get(name):
            value = caps[name] if isinstance(caps, Mapping) else getattr(caps, name)
            if value is None or value <= 0:
                raise ValueError(f"archive cap {name} must be positive, not {value!r}")
            return value
        return cls(int(get("max_members")), int(get("max_member_mb") * MB),
                   int(get("max_total_mb") * MB), float(get("max_ratio")))


class _Writer:
    """Creates the folders and files of one archive under ``root``, enforcing the caps.

    With ``root=None`` it is a dry run: every check, every byte read and counted, nothing
    written. The tree is tracked in sets so that both runs see the same conflicts.
    """

    def __init__(self, root: Path | None, caps: _Caps, archive_size: int):
        self.root = root
        self.caps = caps
        self.ratio_limit = max(int(caps.max_ratio * archive_size), RATIO_FLOOR)
        self.members = 0       # every member seen, junk included: it bounds the work
        self.files = 0
        self.total = 0
        self.skipped: list[str] = []
        self.warnings: list[str] = []
        self.dirs: set[tuple[str, ...]] = set()    # folders made (and checked), root excluded
        self.paths: set[tuple[str, ...]] = set()   # files written

    def skip(self, name: str) -> None:
        self.skipped.append(_shown(name, 200))

    def count_member(self):
        self.members += 1
        if self.members > self.caps.max_members:
            raise ArchiveError(f"the archive holds more than {self.caps.max_members} members "
                               "(rubric archive.max_members)")

    def check_declared(self, name: str, size: int):
        """Refuse early on a declared size over a cap; the real bytes are counted anyway."""
        if size > self.caps.max_member:
            raise self._member_too_big(name)

    def mkdir(self, parts: list[str], name: str) -> None:
        for i in range(1, len(parts) + 1):
            key = tuple(parts[:i])
            if key in self.dirs:
                continue
            if key in self.paths:
                raise ArchiveError(f"member '{_shown(name)}' needs the folder '{_shown('/'.join(key))}', "
                                   "which the archive already holds as a file")
            if self.root is not None:
                self._make_dir(self.root.joinpath(*key), name)
            self.dirs.add(key)

    def _make_dir(self, path: Path, name: str) -> None:
        try:
            os.mkdir(path, 0o755)
            os.chmod(path, 0o755)      # whatever the umask
        except OSError as err:
            raise ArchiveError(f"cannot create the folder of member '{_shown(name)}': "
                               f"{err.strerror or err}") from None
        # The parts were checked and extraction never makes links, so this holds; checked
        # anyway, once per folder, because a mistake here would write outside the folder.
        if not os.path.realpath(path).startswith(str(self.root) + os.sep):
            raise ArchiveError(f"member '{_shown(name)}' leaves the archive folder")

    def write(self, parts: list[str], name: str, source) -> None:
        """Copy ``source`` (a binary file object) to ``root/parts`` in chunks, within the caps."""
        key = tuple(parts)
        self.mkdir(parts[:-1], name)
        if key in self.dirs:
            raise ArchiveError(f"member '{_shown(name)}' is a file where the archive already made a folder")
        fd = None
        if self.root is not None:
            try:
                fd = os.open(self.root.joinpath(*parts),
                             os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
                os.fchmod(fd, 0o644)
            except OSError as err:
                if fd is not None:
                    os.close(fd)
                raise ArchiveError(f"cannot write member '{_shown(name)}': {err.strerror or err}") from None
        written = 0
        try:
            while True:
                try:
                    chunk = source.read(CHUNK)
                except _DATA_ERRORS as err:
                    raise ArchiveError(f"the archive is truncated or corrupt (in member '{_shown(name)}': "
                                       f"{_reason(err)})") from None
                if not chunk:
                    break
                # Checked before the write: the bytes on disk never pass a cap.
                if written + len(chunk) > self.caps.max_member:
                    raise self._member_too_big(name)
                if self.total + len(chunk) > self.caps.max_total:
                    raise ArchiveError(f"the archive unpacks to more than {self.caps.max_total / MB:g} MB "
                                       "(rubric archive.max_total_mb)")
                if self.total + len(chunk) > self.ratio_limit:
                    raise ArchiveError(f"the archive unpacks to more than {self.caps.max_ratio:g} times "
                                       "its own size (rubric archive.max_ratio): a compression bomb?")
                if fd is not None:
                    try:
                        _write_all(fd, chunk)
                    except OSError as err:
                        raise ArchiveError(f"cannot write member '{_shown(name)}': "
                                           f"{err.strerror or err}") from None
                written += len(chunk)
                self.total += len(chunk)
        finally:
            if fd is not None:
                os.close(fd)
        if key not in self.paths:
            self.files += 1
            self.paths.add(key)

    def _member_too_big(self, name: str) -> ArchiveError:
        return ArchiveError(f"member '{_shown(name)}' unpacks to more than {self.caps.max_member / MB:g} MB "
                            "(rubric archive.max_member_mb)")


def _write_all(fd: int, data: bytes) -> None:
    # A module-level function so that tests can watch every write.
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# --- member names and types ---------------------------------------------------------------

def _safe_parts(name: str) -> list[str]:
    """The path components of a member name, refusing absolute paths and ``..``.

    Backslashes count as separators: old Windows zip tools write them, and ``..\\x`` must not
    slip through as one odd file name.
    """
    clean = name.replace("\\", "/")
    if clean.startswith("/") or (len(clean) >= 2 and clean[1] == ":" and clean[0].isalpha()):
        raise ArchiveError(f"member '{_shown(name)}' has an absolute path")
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"member '{_shown(name)}' leaves the archive folder ('..' in its path)")
    longest = max((_nbytes(p) for p in parts), default=0)
    if longest > MAX_NAME:
        raise ArchiveError(f"member '{_shown(name)}' has a name of {longest} bytes, more than the "
                           f"{MAX_NAME} a file system allows")
    size = _nbytes("/".join(parts))
    if size > MAX_MEMBER_PATH:
        raise ArchiveError(f"member '{_shown(name)}' has a path of {size} bytes inside the archive, more than "
                           f"{MAX_MEMBER_PATH}: nest the folders less deeply")
    return parts


def _nbytes(name: str) -> int:
    """The length of ``name`` on disk, in bytes (undecodable bytes count one each)."""
    try:
        return len(os.fsencode(name))
    except UnicodeEncodeError:
        return len(name.encode("utf-8", "surrogatepass"))


def _is_junk(parts: list[str]) -> bool:
    last = parts[-1]
    return (any(p in _JUNK_DIRS for p in parts) or last in _JUNK_FILES or last.endswith(".pyc")
            or last.startswith("._"))


def _link(writer: _Writer, name: str, parts: list[str], target: str) -> None:
    """Skip a symbolic link that stays inside the archive folder; refuse one that leaves it."""
    clean = target.replace("\\", "/")
    resolved = posixpath.normpath(posixpath.join("/".join(parts[:-1]), clean))
    if clean.startswith("/") or resolved == ".." or resolved.startswith("../"):
        raise ArchiveError(f"member '{_shown(name)}' is a link to '{_shown(target)}', "
                           "outside the archive folder")
    writer.skip(name)
    writer.warnings.append(f"symbolic link '{_shown(name)}' -> '{_shown(target)}' skipped "
                           "(submissions need no links)")


# --- tar ------------------------------------------------------------------------------------

class _Truncated(Exception):
    """A tar header cut short or missing after the first member (tarfile would stop silently)."""


class _NoFiles(Exception):
    """A tar with no member at all."""


class _TarInfo(tarfile.TarInfo):
    """Tells a tar ended by its end-of-archive block from one cut short or garbled.

    tarfile stops without a word at a truncated, empty or invalid header after the first
    member; only an all-zero block is a real end.
    """
    @classmethod
    def fromtarfile(cls, tf):
        try:
            return super().fromtarfile(tf)
        except tarfile.EOFHeaderError:
            if tf.offset:
                raise                       # the end-of-archive block: a clean end
            raise _NoFiles() from None
        except tarfile.EmptyHeaderError:
            if tf.offset:
                raise _Truncated("the tar ends without its end-of-archive block") from None
            raise _NoFiles() from None
        except tarfile.TruncatedHeaderError:
            if tf.offset:
                raise _Truncated("a tar header is cut short") from None
            raise
        except tarfile.InvalidHeaderError as err:
            if tf.offset:
                raise _Truncated(f"an invalid tar header: {err}") from None
            raise


class _Limited:
    """A read-only stream that refuses to deliver more than ``limit`` bytes.

    The caps count the bytes written; this bounds the rest of the decompressed stream, which
    tarfile reads without writing: headers (a GNU long name is read into memory whole), the
    data of skipped members, and the padding.
    """
    def __init__(self, raw, limit: int):
        self.raw = raw
        self.limit = limit
        self.delivered = 0

    def read(self, size=-1):
        if size is None or size < 0:
            size = self.limit + 1
        data = self.raw.read(min(size, self.limit + 1 - self.delivered))
        self.delivered += len(data)
        if self.delivered > self.limit:
            raise ArchiveError(f"the archive's tar stream is larger than the caps allow "
                               f"({self.limit / MB:.0f} MB of headers and data)")
        return data


def _extract_tar(path: Path, fmt: str, writer: _Writer) -> None:
    label, opener = _COMPRESSION[fmt]
    caps = writer.caps
    # Every member costs at most three 512-byte headers and 511 bytes of padding; long
    # names and pax records get one more MB between them.
    limit = min(caps.max_total, writer.ratio_limit) + (caps.max_members + 1) * 2048 + MB
    try:
        raw = opener(path, "rb") if opener else open(path, "rb")
    except OSError as err:
        raise ArchiveError(f"cannot read the archive: {err.strerror or err}") from None
    try:
        stream = _Limited(raw, limit)
        try:
            tf = tarfile.open(fileobj=stream, mode="r|", tarinfo=_TarInfo)
        except _NoFiles:
            raise ArchiveError("the archive holds no files") from None
        except _DATA_ERRORS as err:
            raise ArchiveError(_not_a_tar(label, err)) from None
        with tf:
            while True:
                try:
                    member = tf.next()
                except _Truncated as err:
                    raise ArchiveError(f"the archive is truncated or corrupt ({err})") from None
                except _DATA_ERRORS as err:
                    raise ArchiveError(f"the archive is truncated or corrupt ({_reason(err)})") from None
                if member is None:
                    break
                _tar_member(tf, member, writer)
    finally:
        raw.close()


def _tar_member(tf: tarfile.TarFile, member: tarfile.TarInfo, writer: _Writer) -> None:
    writer.count_member()
    name = member.name
    parts = _safe_parts(name)
    if not parts:
        return                      # "./", the archive's own root
    if member.issym():
        _link(writer, name, parts, member.linkname)
        return
    if member.islnk():
        raise ArchiveError(f"member '{_shown(name)}' is a hard link (to '{_shown(member.linkname)}'); "
                           "a submission holds plain files only")
    if member.ischr() or member.isblk():
        kind = "character" if member.ischr() else "block"
        raise ArchiveError(f"member '{_shown(name)}' is a {kind} device file; {_PLAIN_ONLY}")
    if member.isfifo():
        raise ArchiveError(f"member '{_shown(name)}' is a FIFO (named pipe); {_PLAIN_ONLY}")
    if _is_junk(parts):
        writer.skip(name)
        return
    if member.isdir():
        writer.mkdir(parts, name)
    elif member.isreg():
        writer.check_declared(name, member.size)
        source = tf.extractfile(member)
        writer.write(parts, name, source)
    else:
        writer.skip(name)
        writer.warnings.append(f"member '{_shown(name)}' of unknown tar type {member.type!r} skipped")


def _not_a_tar(label: str, err: Exception) -> str:
    reason = _reason(err)
    if label == "tar":
        return f"the archive is not a readable tar ({reason})"
    if isinstance(err, tarfile.ReadError) and not reason.startswith("zlib error"):
        return f"the {label} data does not hold a tar archive ({reason})"
    return f"the {label} data is truncated or corrupt ({reason})"


# --- zip ------------------------------------------------------------------------------------

def _extract_zip(path: Path, writer: _Writer) -> None:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise ArchiveError(f"the zip archive is truncated or corrupt ({_reason(err)})") from None
    with zf:
        infos = zf.infolist()
        if not infos:
            raise ArchiveError("the archive holds no files")
        if len(infos) > writer.caps.max_members:
            # The central directory says so up front: refuse before writing anything.
            raise ArchiveError(f"the archive holds more than {writer.caps.max_members} members "
                               "(rubric archive.max_members)")
        for info in infos:
            _zip_member(zf, info, writer)


def _zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, writer: _Writer) -> None:
    writer.count_member()
    name = info.filename
    parts = _safe_parts(name)
    if not parts:
        return
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        with _open_zip_member(zf, info) as source:
            try:
                target = source.read(4096).decode("utf-8", "replace")
            except _DATA_ERRORS as err:
                raise ArchiveError(f"the zip archive is truncated or corrupt (member '{_shown(name)}': "
                                   f"{_reason(err)})") from None
        _link(writer, name, parts, target)
        return
    if kind in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
        what = {stat.S_IFCHR: "a character device file", stat.S_IFBLK: "a block device file",
                stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket"}[kind]
        raise ArchiveError(f"member '{_shown(name)}' is {what}; {_PLAIN_ONLY}")
    if _is_junk(parts):
        writer.skip(name)
        return
    if name.replace("\\", "/").endswith("/"):     # a folder, also as old Windows tools write it
        writer.mkdir(parts, name)
        return
    if info.flag_bits & 0x1:
        raise ArchiveError(f"member '{_shown(name)}' is encrypted (a password-protected zip)")
    writer.check_declared(name, info.file_size)
    with _open_zip_member(zf, info) as source:
        writer.write(parts, name, source)


def _open_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo):
    try:
        return zf.open(info)
    except NotImplementedError as err:
        raise ArchiveError(f"member '{_shown(info.filename)}' uses a compression Python cannot read "
                           f"({err})") from None
    except _DATA_ERRORS as err:
        raise ArchiveError(f"the zip archive is truncated or corrupt (member '{_shown(info.filename)}': "
                           f"{_reason(err)})") from None


# --- helpers --------------------------------------------------------------------------------

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


def _shown(name: str, limit: int = 120) -> str:
    """A member name fit for one line of a message or a CSV cell: control characters and
    undecodable bytes escaped, very long names cut in the middle."""
    text = name.encode("utf-8", "backslashreplace").decode("utf-8")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit // 2] + "..." + text[-limit // 2:]


def _reason(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text.splitlines()[0] if text.strip() else type(err).__name__
