"""Unpacking untrusted archives: formats, refusals, caps, junk, modes, and nothing outside.

Above 500 lines: one test (or a few) per refusal listed in ``grader/submission/archive.py``'s docstring,
kept in the same order, so the two can be read side by side.
"""
import bz2
import io
import os
import stat
import tarfile
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from builders import archives
from builders.archives import ALL, MiB, file_info, package_files, special_info, write_tar, write_zip

from grader.errors import UsageError
from grader.rubric import Archive
from grader.submission import archive as archive_mod
from grader.submission import archive_writer
from grader.submission.archive import ArchiveError, claimed_format, detect_format, extract
from grader.submission.locate import PackageError, find_package

DEFAULT = Archive()                      # the rubric's defaults


def caps(**kw):
    """Caps as a duck-typed object, defaults from the rubric."""
    values = DEFAULT.model_dump() | kw
    return SimpleNamespace(**values)


def snapshot(folder: Path, exclude: Path) -> dict[str, tuple]:
    """Every path beneath ``folder`` but ``exclude``, with its type and size."""
    seen = {}
    for dirpath, dirs, files in os.walk(folder):
        here = Path(dirpath)
        if here == exclude or exclude in here.parents:
            dirs[:] = []
            continue
        for name in dirs + files:
            p = here / name
            if p == exclude:
                continue
            st = p.lstat()
            seen[str(p.relative_to(folder))] = (stat.S_IFMT(st.st_mode), st.st_size if p.is_file() else 0)
    return seen


@pytest.fixture
def place(tmp_path):
    """An input folder, and a work folder holding the destination beside a canary folder."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    work = tmp_path / "work" / "private"
    canary = work.parent / "canary"
    work.mkdir(parents=True)
    canary.mkdir()
    (canary / "keep.txt").write_text("canary")
    return SimpleNamespace(tmp=tmp_path, inbox=inbox, dest=work / "dest", canary=canary)


def unpack(place, path, cap=None):
    before = snapshot(place.tmp, exclude=place.dest)
    try:
        return extract(path, place.dest, cap or DEFAULT)
    finally:
        # Whatever happened, nothing changed outside the destination.
        assert snapshot(place.tmp, exclude=place.dest) == before
        assert (place.canary / "keep.txt").read_text() == "canary"
        assert not Path(archives.ABSOLUTE_TARGET).exists()


# --- the whole catalogue ----------------------------------------------------------------

@pytest.mark.parametrize("case", list(ALL))
def test_catalogue(case, place, watch_disk):
    build, expected = ALL[case]
    path = build(place.inbox)
    assert detect_format(path) == expected.format
    if expected.status == "bad-archive":
        with pytest.raises(ArchiveError, match=expected.message) as err:
            unpack(place, path)
        assert "\n" not in str(err.value)
        assert watch_disk == [], "refused by the first pass, before any write"
        assert not place.dest.exists(), "a refused archive leaves nothing behind"
        return
    result = unpack(place, path)
    assert result.root == place.dest.resolve()
    assert result.format == expected.format
    if expected.status == "no-package":
        with pytest.raises(PackageError, match=expected.message):
            find_package(result.root)
        return
    submission = find_package(result.root)
    reference = {n.removeprefix("lab2/"): d for n, d in package_files().items() if n.startswith("lab2/")}
    written = {p.name: p.read_bytes() for p in submission.package.iterdir()}
    assert written == reference
    assert submission.report.read_text() == archives.REPORT
    assert [p.name for p in submission.images] == ["architecture.png"]
    assert result.members == len(package_files())
    assert result.bytes == sum(len(d) for d in package_files().values())


def test_catalogue_has_every_case_of_the_issue():
    statuses = {expected.status for _, expected in ALL.values()}
    assert statuses == {"graded", "bad-archive", "no-package"}
    for case in ("traversal", "absolute_path", "symlink_passwd", "hard_link", "device", "bomb",
                 "zip_renamed", "empty", "truncated", "two_packages", "no_package", "unreadable_name",
                 "macos_junk", "fifo"):
        assert case in ALL


# --- formats ---------------------------------------------------------------------------

def test_format_comes_from_the_bytes_not_the_name(tmp_path):
    files = package_files()
    made = {
        "tar.bz2": write_tar(tmp_path / "a.zip", files, "bz2"),
        "tar.gz": write_tar(tmp_path / "b.tar.bz2", files, "gz"),
        "tar.xz": write_tar(tmp_path / "c.tgz", files, "xz"),
        "tar": write_tar(tmp_path / "d.tar.xz", files, ""),
        "zip": write_zip(tmp_path / "e.tar", files),
    }
    for fmt, path in made.items():
        assert detect_format(path) == fmt, path.name
        assert extract(path, tmp_path / f"out-{path.name}", DEFAULT).format == fmt


def test_format_of_odd_files(tmp_path):
    cases = {"empty": b"", "unknown": b"Rar!\x1a\x07\x00 rar data", "zip": b"PK\x05\x06" + bytes(18)}
    # An old v7 tar: no "ustar" magic, only a right checksum.
    v7 = bytearray(tarfile.TarInfo("lab2/x.py").tobuf(tarfile.USTAR_FORMAT))
    v7[257:265] = bytes(8)
    v7[148:156] = b"        "
    v7[148:156] = b"%06o\0 " % sum(v7)
    cases["tar"] = bytes(v7) + bytes(1024)
    for fmt, data in cases.items():
        path = tmp_path / f"{fmt}.tar.bz2"
        path.write_bytes(data)
        assert detect_format(path) == fmt


@pytest.mark.parametrize("data, words", [
    (b"7z\xbc\xaf\x27\x1c\x00\x04", "7-Zip"),
    (b"Rar!\x1a\x07\x01\x00", "RAR"),
    (b"%PDF-1.7\n", "PDF"),
    ("Voici mon code, désolé\n".encode(), "plain text"),
    (bytes(range(200, 256)), "starts with bytes c8 c9"),
])
def test_unknown_files_are_named_in_the_error(tmp_path, data, words):
    path = tmp_path / "DOE John Lab2 DLCV.tar.bz2"
    path.write_bytes(data)
    with pytest.raises(ArchiveError, match=f"not a tar or zip archive: .*{words}"):
        extract(path, tmp_path / "out", DEFAULT)


def test_claimed_format():
    assert claimed_format("DOE John Lab2 DLCV.tar.bz2") == "tar.bz2"
    assert claimed_format("x.TGZ") == "tar.gz"
    assert claimed_format("x.zip") == "zip"
    assert claimed_format("x") is None


def test_archive_error_is_a_usage_error():
    # The one-submission command shows it as one line, like any bad input from the teacher.
    assert issubclass(ArchiveError, UsageError)


# --- broken archives -------------------------------------------------------------------

@pytest.mark.parametrize("data, message", [
    (bz2.compress(bytes(10240)), "holds no files"),
    (bytes(10240), "holds no files"),
    (b"BZh9" + b"garbage" * 20, "bzip2 data is truncated or corrupt"),
    (b"\x1f\x8b\x08\x00" + b"garbage" * 20, "gzip data is truncated or corrupt"),
    (b"\xfd7zXZ\x00" + b"garbage" * 20, "xz data is truncated or corrupt"),
    (bz2.compress(b"just a compressed text file, no tar inside\n" * 20), "does not hold a tar"),
    (b"PK\x03\x04" + b"garbage" * 20, "zip archive is truncated or corrupt"),
])
def test_corrupt_data_gives_one_clear_line(tmp_path, data, message):
    path = tmp_path / "x.tar.bz2"
    path.write_bytes(data)
    with pytest.raises(ArchiveError, match=message) as err:
        extract(path, tmp_path / "out", DEFAULT)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_empty_zip_holds_no_files(tmp_path):
    with zipfile.ZipFile(tmp_path / "e.zip", "w"):
        pass
    with pytest.raises(ArchiveError, match="holds no files"):
        extract(tmp_path / "e.zip", tmp_path / "out", DEFAULT)


def test_truncated_inside_a_member(tmp_path):
    path = write_tar(tmp_path / "t.tar", {"lab2/big.py": os.urandom(300_000)}, "")
    path.write_bytes(path.read_bytes()[:150_000])
    with pytest.raises(ArchiveError, match="truncated or corrupt .*lab2/big.py"):
        extract(path, tmp_path / "out", DEFAULT)


def test_truncated_zip(tmp_path):
    path = write_zip(tmp_path / "t.zip", package_files())
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(ArchiveError, match="zip archive is truncated or corrupt"):
        extract(path, tmp_path / "out", DEFAULT)


def test_missing_archive(tmp_path):
    with pytest.raises(ArchiveError, match="cannot read the archive"):
        extract(tmp_path / "nope.tar.bz2", tmp_path / "out", DEFAULT)


# --- caps, enforced on the bytes written ------------------------------------------------

@pytest.fixture
def no_preflight(monkeypatch):
    """Turn the first, dry pass off, to see the guards of the writing pass on their own."""
    monkeypatch.setattr(archive_mod, "_preflight", lambda *args: None)


@pytest.fixture
def watch_disk(monkeypatch):
    """Record the bytes on disk beneath the destination after every write."""
    peaks = []
    original = archive_writer.write_all

    def watched(fd, data):
        original(fd, data)
        root = Path(os.readlink(f"/proc/self/fd/{fd}")).parents
        dest = next(p for p in root if p.name == "dest")
        peaks.append(sum(f.stat().st_size for f in dest.rglob("*") if f.is_file()))
    monkeypatch.setattr(archive_writer, "write_all", watched)
    return peaks


def test_bzip2_bomb_stops_at_the_total_cap(tmp_path, watch_disk, no_preflight):
    path = archives.bomb(tmp_path)
    assert path.stat().st_size < 5 * MiB
    start = time.monotonic()
    with pytest.raises(ArchiveError, match=r"more than 32 MB \(rubric archive.max_total_mb\)"):
        extract(path, tmp_path / "dest", caps(max_member_mb=10_000, max_total_mb=32, max_ratio=1e12))
    assert time.monotonic() - start < 5
    assert watch_disk and max(watch_disk) <= 32 * MiB + archive_writer.CHUNK
    assert not (tmp_path / "dest").exists()


def test_bzip2_bomb_stops_at_the_ratio_cap(tmp_path, watch_disk, no_preflight):
    path = archives.bomb(tmp_path)
    with pytest.raises(ArchiveError, match="200 times its own size .*compression bomb"):
        extract(path, tmp_path / "dest", caps(max_member_mb=10_000, max_total_mb=10_000))
    limit = max(200 * path.stat().st_size, archive_writer.RATIO_FLOOR)
    assert max(watch_disk) <= limit


def test_bombs_are_refused_before_anything_is_written(tmp_path, watch_disk):
    start = time.monotonic()
    for build in (archives.bomb, archives.zip_bomb):
        with pytest.raises(ArchiveError, match="max_total_mb"):
            extract(build(tmp_path), tmp_path / "dest", caps(max_member_mb=10_000, max_total_mb=32,
                                                             max_ratio=1e12))
        assert not (tmp_path / "dest").exists()
    assert watch_disk == []
    assert time.monotonic() - start < 5


def test_declared_size_over_the_member_cap_is_refused_before_writing(tmp_path, watch_disk, no_preflight):
    with pytest.raises(ArchiveError, match="weights.npy' unpacks to more than 50 MB"):
        extract(archives.bomb(tmp_path), tmp_path / "dest", DEFAULT)
    assert watch_disk == []


def test_member_cap_counts_real_bytes_not_headers(tmp_path, watch_disk, no_preflight, monkeypatch):
    # With the early check on the declared size gone, the count of written bytes still stops
    # the member at its cap: the header is never the only guard.
    monkeypatch.setattr(archive_writer.Writer, "check_declared", lambda self, name, size: None)
    path = archives.bomb_single_stream(tmp_path, size=24 * MiB)
    with pytest.raises(ArchiveError, match=r"unpacks to more than 8 MB \(rubric archive.max_member_mb\)"):
        extract(path, tmp_path / "dest", caps(max_member_mb=8, max_ratio=1e12))
    assert max(watch_disk) <= 8 * MiB


def test_zip_bomb_stops_at_the_total_cap(tmp_path, watch_disk, no_preflight):
    with pytest.raises(ArchiveError, match="max_total_mb"):
        extract(archives.zip_bomb(tmp_path), tmp_path / "dest",
                caps(max_member_mb=10_000, max_total_mb=8, max_ratio=1e12))
    assert max(watch_disk) <= 8 * MiB


def test_total_cap_across_members(tmp_path):
    files = {f"lab2/part{i}.bin": bytes(MiB) for i in range(5)}
    path = write_tar(tmp_path / "many.tar", files, "")
    with pytest.raises(ArchiveError, match="more than 3 MB"):
        extract(path, tmp_path / "dest", caps(max_total_mb=3))
    assert extract(path, tmp_path / "dest2", caps(max_total_mb=5)).bytes == 5 * MiB


def test_member_count_cap(tmp_path):
    path = write_tar(tmp_path / "x.tar.bz2", {f"lab2/f{i}.py": b"" for i in range(12)})
    with pytest.raises(ArchiveError, match="more than 10 members"):
        extract(path, tmp_path / "dest", caps(max_members=10))
    assert extract(path, tmp_path / "dest2", caps(max_members=12)).members == 12
    zpath = write_zip(tmp_path / "x.zip", {f"lab2/f{i}.py": b"" for i in range(12)})
    with pytest.raises(ArchiveError, match="more than 10 members"):
        extract(zpath, tmp_path / "dest3", caps(max_members=10))


def test_small_archives_are_not_refused_for_their_ratio(tmp_path):
    # 600 kB of repetitive text compress far beyond 200:1; below RATIO_FLOOR that is fine.
    path = write_tar(tmp_path / "r.tar.bz2", {"lab2/__init__.py": b"# padding\n" * 60_000})
    assert path.stat().st_size * 200 < 600_000
    assert extract(path, tmp_path / "dest", DEFAULT).bytes == 600_000


def test_headers_and_skipped_data_are_bounded_too(tmp_path):
    """A GNU long-name header of 64 MiB (tarfile reads it into memory) and a 64 MiB junk
    member (skipped, never written) still stop at the stream bound."""
    longname = tarfile.TarInfo("././@LongLink")
    longname.type = tarfile.GNUTYPE_LONGNAME
    longname.size = 64 * MiB
    junk = tarfile.TarInfo("__MACOSX/._big")
    junk.size = 64 * MiB
    zeros = bz2.compress(bytes(16 * MiB))
    for name, header in (("longname", longname), ("junk", junk)):
        path = tmp_path / f"{name}.tar.bz2"
        path.write_bytes(bz2.compress(header.tobuf(tarfile.GNU_FORMAT)) + zeros * 4
                         + bz2.compress(bytes(1024)))
        with pytest.raises(ArchiveError, match="tar stream is larger than the caps allow"):
            extract(path, tmp_path / f"out-{name}", caps(max_total_mb=8, max_ratio=1e12))


def test_caps_may_be_a_mapping_or_the_rubric_object(tmp_path):
    path = archives.good_flat(tmp_path)
    assert extract(path, tmp_path / "a", DEFAULT.model_dump()).members == 7
    assert extract(path, tmp_path / "b", DEFAULT).members == 7


# --- names, types and junk --------------------------------------------------------------

@pytest.mark.parametrize("name, message", [
    ("../evil.py", "leaves the archive folder"),
    ("lab2/../../evil.py", "leaves the archive folder"),
    ("lab2/../../../../../../tmp/evil.py", "leaves the archive folder"),
    ("/tmp/evil.py", "absolute path"),
    ("..\\evil.py", "leaves the archive folder"),
    ("C:/Windows/evil.py", "absolute path"),
    ("C:\\evil.py", "absolute path"),
])
def test_hostile_zip_names(place, name, message):
    path = write_zip(place.inbox / "x.zip", package_files() | {name: b"print('owned')\n"})
    with pytest.raises(ArchiveError, match=message):
        unpack(place, path)


def test_devices_and_fifos_in_zip_mode_bits(place):
    for kind, words in ((stat.S_IFCHR, "character device"), (stat.S_IFIFO, "FIFO")):
        info = zipfile.ZipInfo("lab2/node")
        info.create_system = 3
        info.external_attr = (kind | 0o644) << 16
        path = place.inbox / "n.zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(info, b"")
        with pytest.raises(ArchiveError, match=words):
            unpack(place, path)


def test_inner_zip_symlink_is_skipped(place):
    path = write_zip(place.inbox / "s.zip", package_files(), symlinks={"lab2/alias.py": "multiclass.py"})
    result = unpack(place, path)
    assert "lab2/alias.py" in result.skipped
    assert any("alias.py" in w for w in result.warnings)
    assert not (result.root / "lab2" / "alias.py").exists()


def test_encrypted_zip_member(tmp_path):
    # zipfile cannot write encrypted members: set the "encrypted" flag bit in the local and
    # central headers of a plain one.
    with zipfile.ZipFile(tmp_path / "enc.zip", "w") as zf:
        zf.writestr("lab2/__init__.py", b"secret")
    data = bytearray((tmp_path / "enc.zip").read_bytes())
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    data[local + 6] |= 1
    data[central + 8] |= 1
    (tmp_path / "enc.zip").write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="encrypted"):
        extract(tmp_path / "enc.zip", tmp_path / "out", DEFAULT)


def test_junk_is_skipped_and_listed(place):
    result = unpack(place, archives.macos_junk(place.inbox))
    on_disk = {p.relative_to(result.root).as_posix() for p in result.root.rglob("*")}
    assert not any("__MACOSX" in p or "__pycache__" in p or p.endswith((".pyc", ".DS_Store"))
                   or Path(p).name.startswith("._") for p in on_disk)
    assert sorted(result.skipped) == sorted([
        "__MACOSX/GARCIA Lucia/._lab2", "__MACOSX/GARCIA Lucia/lab2/._single_neuron.py",
        "GARCIA Lucia/.DS_Store", "GARCIA Lucia/lab2/._multiclass.py",
        "GARCIA Lucia/lab2/__pycache__/single_neuron.cpython-311.pyc", "GARCIA Lucia/lab2/stale.pyc"])
    assert result.warnings == []


def test_modes_are_ours_not_the_archives(place):
    setuid, _ = file_info("lab2/__init__.py", b"")
    setuid.mode = 0o4777
    folder, _ = special_info("lab2", tarfile.DIRTYPE)
    folder.mode = 0o777
    path = write_tar(place.inbox / "m.tar", [(folder, None), (setuid, b"")], "")
    old = os.umask(0o077)       # a strict umask must not change the modes either
    try:
        result = unpack(place, path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(result.root.stat().st_mode) == 0o700
    assert stat.S_IMODE((result.root / "lab2").stat().st_mode) == 0o755
    assert stat.S_IMODE((result.root / "lab2" / "__init__.py").stat().st_mode) == 0o644


def test_a_file_where_a_folder_is_needed(place):
    path = write_tar(place.inbox / "c.tar", [file_info("lab2", b"x"), file_info("lab2/a.py", b"y")], "")
    with pytest.raises(ArchiveError, match="holds as a file"):
        unpack(place, path)
    path = write_tar(place.inbox / "d.tar", [special_info("lab2", tarfile.DIRTYPE), file_info("lab2", b"x")], "")
    with pytest.raises(ArchiveError, match="a file where the archive already made a folder"):
        unpack(place, path)


def test_a_later_member_replaces_an_earlier_one(place):
    # tar's own rule: the last copy of a name wins.
    path = write_tar(place.inbox / "r.tar", [file_info("lab2/a.py", b"old"), file_info("lab2/a.py", b"new")], "")
    assert (unpack(place, path).root / "lab2" / "a.py").read_bytes() == b"new"


def test_unicode_member_names(place):
    path = write_zip(place.inbox / "u.zip", {"Élève Ünïcode/lab2/__init__.py": b""})
    result = unpack(place, path)
    assert (result.root / "Élève Ünïcode" / "lab2" / "__init__.py").is_file()


# --- the destination folder -------------------------------------------------------------

def test_existing_empty_destination_is_used_and_kept_on_error(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir(mode=0o755)
    with pytest.raises(ArchiveError):
        extract(archives.traversal(tmp_path), dest, DEFAULT)
    assert dest.is_dir() and not any(dest.iterdir())
    result = extract(archives.good_flat(tmp_path), dest, DEFAULT)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700 and result.members == 7


def test_non_empty_destination_is_refused(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "x").write_text("mine")
    with pytest.raises(FileExistsError):
        extract(archives.good_flat(tmp_path), dest, DEFAULT)
    assert (dest / "x").read_text() == "mine"


def test_interrupted_extraction_cleans_up(tmp_path, monkeypatch):
    def interrupt(fd, data):
        raise KeyboardInterrupt
    monkeypatch.setattr(archive_writer, "write_all", interrupt)
    with pytest.raises(KeyboardInterrupt):
        extract(archives.good_flat(tmp_path), tmp_path / "dest", DEFAULT)
    assert not (tmp_path / "dest").exists()


def test_odd_member_names_stay_one_printable_line(tmp_path):
    # A newline in a name must not break the one-line message, nor bytes that are not UTF-8
    # (tarfile hands them over as surrogates) the CSV that receives it.
    for i, name in enumerate(["../evil\nname.py", "../caf\udce9.py", "../" + "x" * 5000]):
        path = write_tar(tmp_path / f"n{i}.tar", [file_info(name, b"")], "")
        with pytest.raises(ArchiveError, match="leaves the archive folder") as err:
            extract(path, tmp_path / f"out{i}", DEFAULT)
        message = str(err.value)
        assert message.isprintable() and len(message) < 300
        message.encode("utf-8")


def test_non_utf8_member_names_are_written(tmp_path):
    raw = tarfile.TarInfo("lab2/caf\udce9.py")       # the byte 0xe9, latin-1 for é
    raw.size = 2
    path = tmp_path / "latin.tar"
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape") as tf:
        tf.addfile(raw, io.BytesIO(b"ok"))
    result = extract(path, tmp_path / "out", DEFAULT)
    assert os.listdir(os.fsencode(result.root / "lab2")) == [b"caf\xe9.py"]


def test_archive_path_must_be_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "pipe.tar.bz2")
    with pytest.raises(ArchiveError, match="not a regular file"):
        extract(tmp_path / "pipe.tar.bz2", tmp_path / "out", DEFAULT)   # and does not block
    with pytest.raises(ArchiveError, match="not a regular file"):
        extract(tmp_path, tmp_path / "out", DEFAULT)


def test_zip_with_windows_separators(place):
    # Old Windows tools write "lab2\__init__.py" and "lab2\" against the zip spec.
    files = {n.replace("/", "\\"): d for n, d in package_files("DOE\\").items()}
    files["DOE\\lab2\\"] = b""
    result = unpack(place, write_zip(place.inbox / "w.zip", {"DOE\\lab2\\": b""} | files))
    assert find_package(result.root).package_parent == result.root / "DOE"
