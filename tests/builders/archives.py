"""Builders of submission archives for the tests: correct ones and every bad case.

Each builder takes a folder, writes one archive in it under a realistic student file name, and
returns its path. ``ALL`` maps a case name to ``(builder, Expected)`` so that any test (the
archive tests here, the batch tests later) can build the whole catalogue::

    for case, (build, expected) in ALL.items():
        path = build(tmp_path)

``Expected.status`` is the batch status the archive must end with as far as unpacking and
locating go: ``graded`` (it unpacks and holds one ``lab2`` package; the grading decides the
points), ``bad-archive`` (``ArchiveError``) or ``no-package`` (``PackageError``).
``Expected.message`` is a fragment of the error line; ``format`` what ``detect_format`` says;
``key`` the student's ``StudentName.key`` or ``None`` when the file name cannot be read.

The bombs are made without compressing gigabytes: bzip2 data may hold several streams one
after another (``bzip2 -d``, GNU tar and Python's ``bz2`` read them all), so 16 MiB of zeros
are compressed once (45 bytes) and that stream repeated. They are built once per session in a
private temporary folder and copied from there.
"""
import atexit
import bz2
import io
import shutil
import struct
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Callable, NamedTuple

from grader import REFERENCE

MiB = 1 << 20
BOMB_SIZE = 2 << 30          # what the bzip2 bomb claims and really unpacks to: 2 GiB of zeros
ZIP_BOMB_SIZE = 64 * MiB     # deflate cannot be stacked like bzip2 streams: kept small to build fast
ABSOLUTE_TARGET = "/tmp/lab2_grader_test_evil.py"   # where the absolute-path member aims
# Placeholder losses, below every rubric threshold: only the block's shape matters here.
REPORT = """# Lab 2 report

Q1.2: y_hat = sigma(W x + b)

Q3.1: see architecture.png

```yaml
loss_500:
  single_neuron: 0.0312
  hidden_layer: 0.0121
  multiclass: 0.1034
```
"""


class Expected(NamedTuple):
    status: str                  # "graded", "bad-archive" or "no-package"
    message: str = ""            # a fragment of the ArchiveError / PackageError line
    format: str = "tar.bz2"      # what detect_format must say
    key: str | None = None       # the StudentName key, None when the name cannot be read


# --- contents -----------------------------------------------------------------------------

def package_files(prefix: str = "") -> dict[str, bytes]:
    """The reference package and a report, as ``{archive name: bytes}`` under ``prefix``."""
    files = {f"{prefix}lab2/{p.name}": p.read_bytes()
             for p in sorted((REFERENCE / "lab2").glob("*.py"))}
    files[f"{prefix}REPORT.md"] = REPORT.encode()
    files[f"{prefix}architecture.png"] = png()
    return files


def png() -> bytes:
    """A valid 1x1 white PNG."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0\xff"))
            + chunk(b"IEND", b""))


# --- writers --------------------------------------------------------------------------------

def file_info(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 1_700_000_000
    return info, data


def special_info(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    """A member with no data: a link, a device, a FIFO, a folder."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3        # /dev/null's numbers
    return info, None


def write_tar(path: Path, members, compression: str = "bz2") -> Path:
    """Write ``members`` (``(TarInfo, bytes | None)`` pairs, or a ``{name: bytes}`` dict)."""
    if isinstance(members, dict):
        members = [file_info(n, d) for n, d in members.items()]
    with tarfile.open(path, f"w:{compression}" if compression else "w") as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def write_zip(path: Path, files: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, target)
    return path


# --- correct submissions ------------------------------------------------------------------

def good_wrapped(folder: Path) -> Path:
    """The official form: ``lab2/`` and REPORT.md in one wrapping folder, tar.bz2."""
    return write_tar(folder / "DOE John Lab2 DLCV.tar.bz2", package_files("DOE_John_Lab2/"))


def good_flat(folder: Path) -> Path:
    """No wrapping folder."""
    return write_tar(folder / "MARTIN Alice Lab2 DLCV.tar.bz2", package_files())


def good_deep(folder: Path) -> Path:
    """Two folders deep, with ``./`` names and folder entries, as GNU tar writes them."""
    files = package_files("./home/work/")
    dirs = [special_info(d, tarfile.DIRTYPE) for d in ("./", "./home", "./home/work", "./home/work/lab2")]
    return write_tar(folder / "DE LA FONTAINE Jean-Baptiste Lab2 DLCV.tar.bz2",
                     dirs + [file_info(n, d) for n, d in files.items()])


def good_gzip(folder: Path) -> Path:
    return write_tar(folder / "NGUYỄN Thị Lab2 DLCV.tar.gz", package_files("lab2_submission/"), "gz")


def good_xz(folder: Path) -> Path:
    return write_tar(folder / "MÜLLER Jürgen Lab2 DLCV.tar.xz", package_files(), "xz")


def good_plain_tar(folder: Path) -> Path:
    return write_tar(folder / "ÇELIK Ayşe Lab2 DLCV.tar", package_files(), "")


def good_zip(folder: Path) -> Path:
    return write_zip(folder / "VAN DER BERG Anna Maria Lab2 DLCV.zip", package_files("Lab2 DLCV/"))


def zip_renamed(folder: Path) -> Path:
    """A zip named ``.tar.bz2``: graded all the same, the format is read from the bytes."""
    return write_zip(folder / "LEE Min-Ho Lab2 DLCV.tar.bz2", package_files())


def macos_junk(folder: Path) -> Path:
    """What macOS and a run of the code add: __MACOSX/, ._ files, .DS_Store, __pycache__."""
    files = package_files("GARCIA Lucia/")
    files.update({"__MACOSX/GARCIA Lucia/._lab2": b"\0\5\26\7junk",
                  "__MACOSX/GARCIA Lucia/lab2/._single_neuron.py": b"\0\5\26\7junk",
                  "GARCIA Lucia/.DS_Store": b"\0\0\0\1Bud1",
                  "GARCIA Lucia/lab2/._multiclass.py": b"\0\5\26\7junk",
                  "GARCIA Lucia/lab2/__pycache__/single_neuron.cpython-311.pyc": b"\xa7\r\r\n",
                  "GARCIA Lucia/lab2/stale.pyc": b"\xa7\r\r\n"})
    return write_tar(folder / "garcia_lucia_lab2_dlcv.tar.bz2", files)


def inner_symlink(folder: Path) -> Path:
    """A link that stays inside the archive: skipped with a warning, the rest graded."""
    members = [file_info(n, d) for n, d in package_files().items()]
    members.append(special_info("lab2/alias.py", tarfile.SYMTYPE, "single_neuron.py"))
    return write_tar(folder / "SILVA Pedro Lab2 DLCV.tar.bz2", members)


def unreadable_name(folder: Path) -> Path:
    """A correct archive whose name says nothing of its author."""
    return write_tar(folder / "submission.tar.bz2", package_files())


# --- hostile or broken archives -----------------------------------------------------------

def _with_good(extra, prefix: str = "") -> list:
    return [file_info(n, d) for n, d in package_files(prefix).items()] + list(extra)


def traversal(folder: Path) -> Path:
    return write_tar(folder / "TRAVERS Eve Lab2 DLCV.tar.bz2",
                     _with_good([file_info("../evil.py", b"print('owned')\n")]))


def absolute_path(folder: Path) -> Path:
    return write_tar(folder / "ABSOLU Marc Lab2 DLCV.tar.bz2",
                     _with_good([file_info(ABSOLUTE_TARGET, b"print('owned')\n")]))


def symlink_passwd(folder: Path) -> Path:
    return write_tar(folder / "LIEN Paul Lab2 DLCV.tar.bz2",
                     _with_good([special_info("lab2/passwd.txt", tarfile.SYMTYPE, "/etc/passwd")]))


def symlink_escape(folder: Path) -> Path:
    """A relative link that climbs out of the folder."""
    return write_tar(folder / "LIEN Sophie Lab2 DLCV.tar.bz2",
                     _with_good([special_info("lab2/up", tarfile.SYMTYPE, "../../../..")]))


def zip_symlink(folder: Path) -> Path:
    """A zip member whose unix mode says symbolic link, to /etc/passwd."""
    return write_zip(folder / "LIEN Zoé Lab2 DLCV.zip", package_files(),
                     symlinks={"lab2/passwd.txt": "/etc/passwd"})


def hard_link(folder: Path) -> Path:
    return write_tar(folder / "DUR Lien Lab2 DLCV.tar.bz2",
                     _with_good([special_info("lab2/passwd.txt", tarfile.LNKTYPE, "/etc/passwd")]))


def device(folder: Path) -> Path:
    return write_tar(folder / "DEVICE Nul Lab2 DLCV.tar.bz2",
                     _with_good([special_info("lab2/null", tarfile.CHRTYPE)]))


def fifo(folder: Path) -> Path:
    return write_tar(folder / "TUBE Nommé Lab2 DLCV.tar.bz2",
                     _with_good([special_info("lab2/pipe", tarfile.FIFOTYPE)]))


def many_members(folder: Path, count: int = 2100) -> Path:
    """More members than the default cap (2000), each tiny."""
    return write_tar(folder / "NOMBREUX Max Lab2 DLCV.tar.bz2",
                     _with_good(file_info(f"lab2/junk/{i}.txt", b"x") for i in range(count)))


def bomb(folder: Path) -> Path:
    """A 2 GiB member of zeros in a few kB of bzip2 (its header says so: the early check on
    the declared size refuses it; tests with a larger member cap see the streaming caps)."""
    return _copy_cached(_bomb_multistream, "bomb.tar.bz2", folder / "BOMBE Atomique Lab2 DLCV.tar.bz2")


def bomb_single_stream(folder: Path, size: int = 64 * MiB) -> Path:
    """A smaller bomb made the plain way, one bzip2 stream fed zeros in chunks."""
    path = folder / "BOMBE Simple Lab2 DLCV.tar.bz2"
    compressor = bz2.BZ2Compressor(9)
    with open(path, "wb") as out:
        out.write(compressor.compress(_bomb_header(size)))
        zeros = bytes(MiB)
        for _ in range(size // MiB):
            out.write(compressor.compress(zeros))
        out.write(compressor.compress(bytes(1024)))     # the end-of-archive blocks
        out.write(compressor.flush())
    return path


def zip_bomb(folder: Path) -> Path:
    return _copy_cached(_zip_bomb, "bomb.zip", folder / "BOMBE Zip Lab2 DLCV.zip")


def empty(folder: Path) -> Path:
    path = folder / "VIDE Rien Lab2 DLCV.tar.bz2"
    path.write_bytes(b"")
    return path


def truncated(folder: Path) -> Path:
    """A correct archive cut in the middle, as an interrupted upload leaves it."""
    whole = write_tar(folder / "_whole.tar.bz2", package_files())
    data = whole.read_bytes()
    whole.unlink()
    path = folder / "COUPÉ Demi Lab2 DLCV.tar.bz2"
    path.write_bytes(data[: len(data) // 2])
    return path


def truncated_tar_boundary(folder: Path) -> Path:
    """A plain tar cut exactly after a member, without its end blocks: tarfile alone would
    read it as complete."""
    path = write_tar(folder / "COUPÉ Net Lab2 DLCV.tar", package_files(), "")
    data = path.read_bytes()
    first_size = len(next(iter(package_files().values())))
    path.write_bytes(data[: 512 + (first_size + 511) // 512 * 512])
    return path


def not_an_archive(folder: Path) -> Path:
    path = folder / "TEXTE Seul Lab2 DLCV.tar.bz2"
    path.write_text("I could not make the archive, here is my code:\nimport numpy as np\n")
    return path


def two_packages(folder: Path) -> Path:
    files = package_files("old/") | package_files("new/")
    return write_tar(folder / "DOUBLE Paire Lab2 DLCV.tar.bz2", files)


def no_package(folder: Path) -> Path:
    """The modules loose at the top, no lab2/ folder."""
    files = {name.removeprefix("lab2/"): data for name, data in package_files().items()}
    return write_tar(folder / "SANS Paquet Lab2 DLCV.tar.bz2", files)


# --- the bombs, built once per session ----------------------------------------------------

_CACHE: Path | None = None


def _cache_dir() -> Path:
    global _CACHE
    if _CACHE is None:
        _CACHE = Path(tempfile.mkdtemp(prefix="lab2-test-archives-"))
        atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
    return _CACHE


def _copy_cached(build: Callable[[Path], None], cached_name: str, target: Path) -> Path:
    cached = _cache_dir() / cached_name
    if not cached.exists():
        partial = cached.with_suffix(".partial")
        build(partial)
        partial.rename(cached)
    shutil.copyfile(cached, target)
    return target


def _bomb_header(size: int) -> bytes:
    info = tarfile.TarInfo("lab2/weights.npy")
    info.size = size
    info.mode = 0o644
    return info.tobuf(tarfile.GNU_FORMAT)


def _bomb_multistream(path: Path) -> None:
    block = 16 * MiB
    zeros = bz2.compress(bytes(block), 9)
    with open(path, "wb") as out:
        out.write(bz2.compress(_bomb_header(BOMB_SIZE)))
        for _ in range(BOMB_SIZE // block):
            out.write(zeros)
        out.write(bz2.compress(bytes(1024)))


def _zip_bomb(path: Path) -> None:
    zeros = bytes(MiB)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("lab2/weights.npy", "w", force_zip64=True) as member:
            for _ in range(ZIP_BOMB_SIZE // MiB):
                member.write(zeros)


# --- the catalogue ------------------------------------------------------------------------

ALL: dict[str, tuple[Callable[[Path], Path], Expected]] = {
    "good_wrapped": (good_wrapped, Expected("graded", key="DOE_John")),
    "good_flat": (good_flat, Expected("graded", key="MARTIN_Alice")),
    "good_deep": (good_deep, Expected("graded", key="DE-LA-FONTAINE_Jean-Baptiste")),
    "good_gzip": (good_gzip, Expected("graded", format="tar.gz", key="NGUYEN_Thi")),
    "good_xz": (good_xz, Expected("graded", format="tar.xz", key="MULLER_Jurgen")),
    "good_plain_tar": (good_plain_tar, Expected("graded", format="tar", key="CELIK_Ayse")),
    "good_zip": (good_zip, Expected("graded", format="zip", key="VAN-DER-BERG_Anna-Maria")),
    "zip_renamed": (zip_renamed, Expected("graded", format="zip", key="LEE_Min-Ho")),
    "macos_junk": (macos_junk, Expected("graded", key="GARCIA_Lucia")),
    "inner_symlink": (inner_symlink, Expected("graded", key="SILVA_Pedro")),
    "unreadable_name": (unreadable_name, Expected("graded", key=None)),
    "traversal": (traversal, Expected("bad-archive", "leaves the archive folder", key="TRAVERS_Eve")),
    "absolute_path": (absolute_path, Expected("bad-archive", "absolute path", key="ABSOLU_Marc")),
    "symlink_passwd": (symlink_passwd, Expected("bad-archive", "outside the archive folder",
                                                key="LIEN_Paul")),
    "symlink_escape": (symlink_escape, Expected("bad-archive", "outside the archive folder",
                                                key="LIEN_Sophie")),
    "zip_symlink": (zip_symlink, Expected("bad-archive", "outside the archive folder", format="zip",
                                          key="LIEN_Zoe")),
    "hard_link": (hard_link, Expected("bad-archive", "hard link", key="DUR_Lien")),
    "device": (device, Expected("bad-archive", "character device", key="DEVICE_Nul")),
    "fifo": (fifo, Expected("bad-archive", "FIFO", key="TUBE_Nomme")),
    "many_members": (many_members, Expected("bad-archive", "max_members", key="NOMBREUX_Max")),
    "bomb": (bomb, Expected("bad-archive", "unpacks to more than", key="BOMBE_Atomique")),
    "zip_bomb": (zip_bomb, Expected("bad-archive", "unpacks to more than", format="zip", key="BOMBE_Zip")),
    "empty": (empty, Expected("bad-archive", "empty", format="empty", key="VIDE_Rien")),
    "truncated": (truncated, Expected("bad-archive", "truncated", key="COUPE_Demi")),
    "truncated_tar_boundary": (truncated_tar_boundary, Expected("bad-archive", "truncated", format="tar",
                                                                key="COUPE_Net")),
    "not_an_archive": (not_an_archive, Expected("bad-archive", "not a tar or zip", format="unknown",
                                                key="TEXTE_Seul")),
    "two_packages": (two_packages, Expected("no-package", "two lab2 packages", key="DOUBLE_Paire")),
    "no_package": (no_package, Expected("no-package", "no lab2/ package", key="SANS_Paquet")),
}
