"""The two formats of a submission archive, read member by member into a ``Writer``.

``extract_tar`` (plain, bzip2, gzip or xz) and ``extract_zip`` give every member to the same
name checks (``archive_members.safe_parts``) and the same writer (``archive_writer.Writer``);
here is what differs between the formats: a member's type (a link is skipped when it stays
inside the archive folder and refused when it leaves it; a hard link, a device or a FIFO is
refused; junk is skipped), an encrypted zip member or a compression Python cannot read, and
corrupt or truncated data, including a tar that ends without its end-of-archive block. A tar's
whole decompressed stream is bounded too (``_Limited``), for what is read but never written.

Not this module's job: which format a file is, or where it is unpacked (``grader.submission.archive``).
"""
import bz2
import gzip
import lzma
import posixpath
import stat
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Literal

from grader.submission.archive_members import PLAIN_ONLY, ArchiveError, is_junk, reason_of, safe_parts, shown
from grader.submission.archive_writer import DATA_ERRORS, MB, Writer

_Opener = Callable[[Path, Literal["rb"]], BinaryIO | bz2.BZ2File | gzip.GzipFile | lzma.LZMAFile]
_COMPRESSION: dict[str, tuple[str, _Opener | None]] = {"tar.bz2": ("bzip2", bz2.open), "tar.gz": ("gzip", gzip.open),
                "tar.xz": ("xz", lzma.open), "tar": ("tar", None)}


def _link(writer: Writer, name: str, parts: list[str], target: str) -> None:
    """Skip a symbolic link that stays inside the archive folder; refuse one that leaves it."""
    clean = target.replace("\\", "/")
    resolved = posixpath.normpath(posixpath.join("/".join(parts[:-1]), clean))
    if clean.startswith("/") or resolved == ".." or resolved.startswith("../"):
        raise ArchiveError(f"member '{shown(name)}' is a link to '{shown(target)}', "
                           "outside the archive folder")
    writer.skip(name)
    writer.warnings.append(f"symbolic link '{shown(name)}' -> '{shown(target)}' skipped "
                           "(submissions need no links)")


# --- tar ------------------------------------------------------------------------------------

# tarfile defines and raises these subclasses of HeaderError, but typeshed's stub leaves them out
# (they are not in tarfile.__all__): the checker is wrong that they do not exist.
_EOFHeaderError: type[tarfile.HeaderError] = tarfile.EOFHeaderError  # type: ignore[attr-defined]
_EmptyHeaderError: type[tarfile.HeaderError] = tarfile.EmptyHeaderError  # type: ignore[attr-defined]
_TruncatedHeaderError: type[tarfile.HeaderError] = tarfile.TruncatedHeaderError  # type: ignore[attr-defined]
_InvalidHeaderError: type[tarfile.HeaderError] = tarfile.InvalidHeaderError  # type: ignore[attr-defined]


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
        except _EOFHeaderError:
            if tf.offset:
                raise                       # the end-of-archive block: a clean end
            raise _NoFiles() from None
        except _EmptyHeaderError:
            if tf.offset:
                raise _Truncated("the tar ends without its end-of-archive block") from None
            raise _NoFiles() from None
        except _TruncatedHeaderError:
            if tf.offset:
                raise _Truncated("a tar header is cut short") from None
            raise
        except _InvalidHeaderError as err:
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


def extract_tar(path: Path, fmt: str, writer: Writer) -> None:
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
            # Stream mode ("r|") only ever reads its fileobj; typeshed asks every mode's for
            # write, seek and tell too, which _Limited rightly lacks.
            tf = tarfile.open(fileobj=stream, mode="r|", tarinfo=_TarInfo)  # type: ignore[call-overload]
        except _NoFiles:
            raise ArchiveError("the archive holds no files") from None
        except DATA_ERRORS as err:
            raise ArchiveError(_not_a_tar(label, err)) from None
        with tf:
            while True:
                try:
                    member = tf.next()
                except _Truncated as err:
                    raise ArchiveError(f"the archive is truncated or corrupt ({err})") from None
                except DATA_ERRORS as err:
                    raise ArchiveError(f"the archive is truncated or corrupt ({reason_of(err)})") from None
                if member is None:
                    break
                _tar_member(tf, member, writer)
    finally:
        raw.close()


def _tar_member(tf: tarfile.TarFile, member: tarfile.TarInfo, writer: Writer) -> None:
    writer.count_member()
    name = member.name
    parts = safe_parts(name)
    if not parts:
        return                      # "./", the archive's own root
    if member.issym():
        _link(writer, name, parts, member.linkname)
        return
    if member.islnk():
        raise ArchiveError(f"member '{shown(name)}' is a hard link (to '{shown(member.linkname)}'); "
                           "a submission holds plain files only")
    if member.ischr() or member.isblk():
        kind = "character" if member.ischr() else "block"
        raise ArchiveError(f"member '{shown(name)}' is a {kind} device file; {PLAIN_ONLY}")
    if member.isfifo():
        raise ArchiveError(f"member '{shown(name)}' is a FIFO (named pipe); {PLAIN_ONLY}")
    if is_junk(parts):
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
        writer.warnings.append(f"member '{shown(name)}' of unknown tar type {member.type!r} skipped")


def _not_a_tar(label: str, err: Exception) -> str:
    reason = reason_of(err)
    if label == "tar":
        return f"the archive is not a readable tar ({reason})"
    if isinstance(err, tarfile.ReadError) and not reason.startswith("zlib error"):
        return f"the {label} data does not hold a tar archive ({reason})"
    return f"the {label} data is truncated or corrupt ({reason})"


# --- zip ------------------------------------------------------------------------------------

def extract_zip(path: Path, writer: Writer) -> None:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise ArchiveError(f"the zip archive is truncated or corrupt ({reason_of(err)})") from None
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


def _zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, writer: Writer) -> None:
    writer.count_member()
    name = info.filename
    parts = safe_parts(name)
    if not parts:
        return
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        with _open_zip_member(zf, info) as source:
            try:
                target = source.read(4096).decode("utf-8", "replace")
            except DATA_ERRORS as err:
                raise ArchiveError(f"the zip archive is truncated or corrupt (member '{shown(name)}': "
                                   f"{reason_of(err)})") from None
        _link(writer, name, parts, target)
        return
    if kind in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
        what = {stat.S_IFCHR: "a character device file", stat.S_IFBLK: "a block device file",
                stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket"}[kind]
        raise ArchiveError(f"member '{shown(name)}' is {what}; {PLAIN_ONLY}")
    if is_junk(parts):
        writer.skip(name)
        return
    if name.replace("\\", "/").endswith("/"):     # a folder, also as old Windows tools write it
        writer.mkdir(parts, name)
        return
    if info.flag_bits & 0x1:
        raise ArchiveError(f"member '{shown(name)}' is encrypted (a password-protected zip)")
    writer.check_declared(name, info.file_size)
    with _open_zip_member(zf, info) as source:
        writer.write(parts, name, source)


def _open_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo):
    try:
        return zf.open(info)
    except NotImplementedError as err:
        raise ArchiveError(f"member '{shown(info.filename)}' uses a compression Python cannot read "
                           f"({err})") from None
    except DATA_ERRORS as err:
        raise ArchiveError(f"the zip archive is truncated or corrupt (member '{shown(info.filename)}': "
                           f"{reason_of(err)})") from None
