"""The caps on one archive and the writer that enforces them: the one place a member's bytes
reach the disk.

``Writer`` makes an archive's folders and files under its root, 0o755 and 0o644 whatever the
archive says, and counts the bytes actually unpacked, chunk by chunk, before each write: a
member over ``max_member_mb``, more than ``max_total_mb`` in all, or more than ``max_ratio``
times the archive's own size (above ``RATIO_FLOOR``) stops the archive at the cap whatever its
headers declare. With no root it is the first, dry pass: the same checks, nothing written.

Not this module's job: reading either format (``archive_formats``), a member's name
(``archive_members``).
"""
import lzma
import os
import tarfile
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.submission.archive_members import ArchiveError, reason_of, shown

CHUNK = 1 << 20            # bytes per read and write; the caps are checked before each write
RATIO_FLOOR = 1 << 20      # unpacked bytes always allowed, whatever the compression ratio
MB = 1 << 20

# What decompressors and tarfile raise on bad data.
DATA_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile,
               ValueError)


@dataclass(frozen=True)
class Caps:
    max_members: int
    max_member: int      # bytes
    max_total: int       # bytes
    max_ratio: float

    @classmethod
    def of(cls, caps) -> "Caps":
        def get(name):
            value = caps[name] if isinstance(caps, Mapping) else getattr(caps, name)
            if value is None or value <= 0:
                raise ValueError(f"archive cap {name} must be positive, not {value!r}")
            return value
        return cls(int(get("max_members")), int(get("max_member_mb") * MB),
                   int(get("max_total_mb") * MB), float(get("max_ratio")))


class Writer:
    """Creates the folders and files of one archive under ``root``, enforcing the caps.

    With ``root=None`` it is a dry run: every check, every byte read and counted, nothing
    written. The tree is tracked in sets so that both runs see the same conflicts.
    """

    def __init__(self, root: Path | None, caps: Caps, archive_size: int):
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
        self.skipped.append(shown(name, 200))

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
                raise ArchiveError(f"member '{shown(name)}' needs the folder '{shown('/'.join(key))}', "
                                   "which the archive already holds as a file")
            if self.root is not None:
                self._make_dir(self.root.joinpath(*key), name)
            self.dirs.add(key)

    def _make_dir(self, path: Path, name: str) -> None:
        try:
            os.mkdir(path, 0o755)
            os.chmod(path, 0o755)      # whatever the umask
        except OSError as err:
            raise ArchiveError(f"cannot create the folder of member '{shown(name)}': "
                               f"{err.strerror or err}") from None
        # The parts were checked and extraction never makes links, so this holds; checked
        # anyway, once per folder, because a mistake here would write outside the folder.
        if not os.path.realpath(path).startswith(str(self.root) + os.sep):
            raise ArchiveError(f"member '{shown(name)}' leaves the archive folder")

    def write(self, parts: list[str], name: str, source) -> None:
        """Copy ``source`` (a binary file object) to ``root/parts`` in chunks, within the caps."""
        key = tuple(parts)
        self.mkdir(parts[:-1], name)
        if key in self.dirs:
            raise ArchiveError(f"member '{shown(name)}' is a file where the archive already made a folder")
        fd = None
        if self.root is not None:
            try:
                fd = os.open(self.root.joinpath(*parts),
                             os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
                os.fchmod(fd, 0o644)
            except OSError as err:
                if fd is not None:
                    os.close(fd)
                raise ArchiveError(f"cannot write member '{shown(name)}': {err.strerror or err}") from None
        written = 0
        try:
            while True:
                try:
                    chunk = source.read(CHUNK)
                except DATA_ERRORS as err:
                    raise ArchiveError(f"the archive is truncated or corrupt (in member '{shown(name)}': "
                                       f"{reason_of(err)})") from None
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
                        write_all(fd, chunk)
                    except OSError as err:
                        raise ArchiveError(f"cannot write member '{shown(name)}': "
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
        return ArchiveError(f"member '{shown(name)}' unpacks to more than {self.caps.max_member / MB:g} MB "
                            "(rubric archive.max_member_mb)")


def write_all(fd: int, data: bytes) -> None:
    # A module-level function so that tests can watch every write.
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
