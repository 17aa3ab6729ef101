"""Moodle's "Download all submissions": the zip, or the folder it unpacks to.

Moodle names every entry ``<Full name>_<participant id>_assignsubmission_<plugin>`` (underscores
in the name become spaces), in one of three layouts:

- a folder per participant, ``..._assignsubmission_file_/<original path>`` (Moodle 3.1 - 4.0);
- the same without the trailing underscore (4.1 and later);
- flat files, ``..._assignsubmission_file_<original name>`` (before 3.1, or "Download
  submissions in folders" unticked).

The participant id is the join key with the grading worksheet (never the name). Each
participant's files that are archives (extension or first bytes) are candidates; other files
(a PDF, ``onlinetext.html``) are not graded, and a participant with no archive is a
``no-archive`` row. Zip members are written once to ``OUT/incoming/moodle/<participant id>/``
under sanitised names.

Who: the archive's name when it reads as a student's name (cross-checked with Moodle's full
name, a mismatch is a warning), else Moodle's full name as it is. When: the worksheet's "Last
modified (submission)" when a worksheet is given; else the zip member's time (or the file's
modification time in an unpacked folder), with a warning saying so: Moodle's zip does not
carry the submission time, and a zip's times have no zone (read in ``lateness.timezone``).
"""
import functools
import os
import re
import stat
import unicodedata
import zipfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from grader import names
from grader.batch.intake import NO_ARCHIVE, Handin, files
from grader.errors import UsageError

ENTRY = re.compile(r"(?P<name>[^_/]*)_(?P<id>\d+)_(?P<plugin>assign(?:submission|feedback)_[a-z0-9]+)(?P<tail>_.*)?",
                   re.DOTALL)
_FILE_PLUGIN = "assignsubmission_file"
# A submission archive larger than this is no lab (the lab's own files are a few kB): it is
# listed, not copied out of the zip.
MAX_ARCHIVE_MB = 64


def looks_like_download(folder: Path) -> bool:
    return any(ENTRY.fullmatch(p.name) for p in folder.iterdir() if not p.name.startswith("."))


def _read_binary(path: Path) -> IO[bytes]:
    return open(path, "rb")


class _Participant:
    def __init__(self, pid: str, fullname: str):
        self.pid, self.fullname = pid, fullname
        self.folder = ""                       # the feedback zip's folder name
        # (original name, size, mtime, opener, the file itself in an unpacked folder else None)
        self.files: list[tuple[str, int, datetime, Callable[[], IO[bytes]], Path | None]] = []
        self.others: list[str] = []


def collect(path: Path, incoming: Path, late, worksheet=None) -> tuple[list[Handin], list[str]]:
    zone = late.timezone
    notes = []
    if path.is_dir():
        participants, ignored = _scan_folder(path, zone)
        time_source = "the file's modification time"
    else:
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as err:
            raise UsageError(f"{path} is not a readable zip: {err}") from None
        participants, ignored = _scan_zip(zf, zone)
        time_source = "the zip member's time"
    if not participants:
        raise UsageError(f"{path} is not a Moodle 'Download all submissions' "
                         f"{'folder' if path.is_dir() else 'zip'}: no entry is named "
                         "'<Full name>_<participant id>_assignsubmission_file...'")
    if ignored:
        notes.append(f"{len(ignored)} entr{'ies' if len(ignored) > 1 else 'y'} of {path.name} "
                     f"belong to no participant (ignored): {', '.join(files.shown(n, 60) for n in ignored[:3])}"
                     + (" ..." if len(ignored) > 3 else ""))
    if worksheet is not None:
        notes += _check_worksheet(worksheet, participants, path)
    records = []
    try:
        for order, (_pid, p) in enumerate(sorted(participants.items(), key=lambda kv: int(kv[0]))):
            records += _records(p, order, incoming, late, worksheet, time_source)
    finally:
        if not path.is_dir():
            zf.close()
    return records, notes


def _check_worksheet(sheet, participants: dict, path: Path) -> list[str]:
    ids = set(participants)
    if not ids & set(sheet.rows):
        raise UsageError(f"the worksheet {sheet.name} does not belong to {path.name}: none of the download's "
                         f"{len(ids)} participants is in it (another assignment or group?)")
    # A participant who submitted (the worksheet has a submission time) but is not in the
    # download: an older download, or another group's.
    absent = sorted((pid for pid in sheet.rows if pid not in ids and sheet.cell(pid, "submitted").strip()
                     not in ("", "-")), key=int)
    if not absent:
        return []
    return [f"the worksheet {sheet.name} has {len(absent)} participant{'s' if len(absent) > 1 else ''} with a "
            f"submission that {path.name} does not have (an older download?): "
            + ", ".join(absent[:10]) + (" ..." if len(absent) > 10 else "")]


def _participant(participants: dict, m: re.Match) -> _Participant:
    p = participants.get(m["id"])
    if p is None:
        p = participants[m["id"]] = _Participant(m["id"], " ".join(m["name"].split()))
    return p


def _scan_zip(zf: zipfile.ZipFile, zone: str) -> tuple[dict[str, _Participant], list[str]]:
    participants: dict[str, _Participant] = {}
    ignored: list[str] = []
    for info in sorted(zf.infolist(), key=lambda i: i.filename):
        if info.is_dir():
            continue
        parts = info.filename.replace("\\", "/").split("/")
        m = ENTRY.fullmatch(parts[0])
        if not m:
            ignored.append(info.filename)
            continue
        p = _participant(participants, m)
        flat = len(parts) == 1
        original = (m["tail"] or "_")[1:] if flat else "/".join(parts[1:])
        if m["plugin"] != _FILE_PLUGIN:
            p.others.append(files.shown(original or m["plugin"], 60))
            continue
        if not p.folder or flat:
            p.folder = f"{m['name']}_{m['id']}_{_FILE_PLUGIN}_" if flat else parts[0]
        mtime = datetime(*info.date_time, tzinfo=ZoneInfo(zone))
        p.files.append((original, info.file_size, mtime, functools.partial(zf.open, info), None))
    return participants, ignored


def _scan_folder(folder: Path, zone: str) -> tuple[dict[str, _Participant], list[str]]:
    participants: dict[str, _Participant] = {}
    ignored: list[str] = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        m = ENTRY.fullmatch(entry.name)
        if not m:
            ignored.append(entry.name)
            continue
        p = _participant(participants, m)
        if entry.is_symlink():
            p.others.append(f"{files.shown(entry.name, 60)} (a link, not followed)")
            continue
        if entry.is_dir():
            found = [(Path(root) / f) for root, dirs, fs in os.walk(entry) for f in fs]
            for f in sorted(found):
                _add_file(p, m, f, f.relative_to(entry).as_posix(), entry.name, zone)
        else:
            _add_file(p, m, entry, (m["tail"] or "_")[1:], f"{m['name']}_{m['id']}_{_FILE_PLUGIN}_", zone)
    return participants, ignored


def _add_file(p: _Participant, m: re.Match, path: Path, original: str, folder: str, zone: str) -> None:
    if m["plugin"] != _FILE_PLUGIN:
        p.others.append(files.shown(original or m["plugin"], 60))
        return
    st = path.lstat()
    if not stat.S_ISREG(st.st_mode) or any(part.startswith(".") for part in original.split("/")):
        return
    p.folder = p.folder or folder
    mtime = datetime.fromtimestamp(st.st_mtime, timezone.utc).astimezone(ZoneInfo(zone))
    p.files.append((original, st.st_size, mtime, functools.partial(_read_binary, path), path))


def _records(p: _Participant, order: int, incoming: Path, late, worksheet, time_source: str) -> list[Handin]:
    fullname = files.shown(p.fullname, 120)
    cap = MAX_ARCHIVE_MB << 20
    group = worksheet.group(p.pid) if worksheet is not None and p.pid in worksheet.rows else ""
    submitted = worksheet.submitted(p.pid, late.timezone) if worksheet is not None else None
    records, others = [], list(p.others)
    folder = p.folder or f"{p.fullname}_{p.pid}_{_FILE_PLUGIN}"
    for n, (original, size, mtime, opener, on_disk) in enumerate(sorted(p.files, key=lambda f: f[0])):
        base = original.rsplit("/", 1)[-1]
        with opener() as f:
            head = f.read(512)
            if not files.looks_like_archive(base, head):
                others.append(files.shown(original, 60))
                continue
            if size > cap:
                others.append(f"{files.shown(original, 60)} (over {cap >> 20} MB, not graded)")
                continue
            data = b"" if on_disk else head + f.read(cap + 1 - len(head))
        name = files.safe_name(base, default=f"file-{n + 1}")
        # An unpacked folder's file is graded where it is; a zip member is written out once.
        path = on_disk or files.write_once(incoming / p.pid, name, data)
        warnings = []
        received = submitted
        if received is None:
            received = mtime
            why = "no worksheet given" if worksheet is None else "the worksheet has no readable submission time"
            warnings.append(f"submission time taken from {time_source} ({why})")
        records.append(_record(p, fullname, path, name, group, received, warnings, (order, n), folder))
    if records:
        if others:
            records[0].warnings.append(f"other files submitted, not graded: {', '.join(others)}")
        return records
    from_moodle = names.StudentName(last=fullname, first="", key=names.fallback_key(fullname))
    why = "no archive among the submitted files" + (f": {', '.join(others)}" if others else "")
    return [Handin(None, "", from_moodle, "moodle", group=group, received=submitted, participant=p.pid,
                       moodle_folder=folder, status=NO_ARCHIVE, reason=why, order=(order,))]


def _words(text: str) -> set[str]:
    """The words of a name, accents and case aside: "MÜLLER Jürgen" and "Jurgen Muller" agree."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return {w.casefold() for w in re.split(r"[\s_.-]+", plain) if w}


def _record(p, fullname, path, name, group, received, warnings, order, folder) -> Handin:
    from_file = names.parse_name(name)
    if from_file and _words(f"{from_file.last} {from_file.first}") != _words(p.fullname) \
            and p.fullname.casefold() != "participant":
        warnings.append(f"the archive's name reads as {from_file} but Moodle's participant is {fullname}")
    name_of = from_file or names.StudentName(last=fullname, first="", key=names.fallback_key(fullname))
    return Handin(path, name, name_of, "moodle", group=group, received=received, participant=p.pid,
                      moodle_folder=folder, warnings=warnings, order=order)
