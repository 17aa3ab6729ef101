"""The plan of a batch: every archive (or message without one) the intake found, its sha256
and its unique folder under ``OUT/students/`` (``grader.batch.run``'s stage 1, see its docstring).

In a folder of archives every file is one archive, whatever its name; two archives that read as
the same student get ``<key>-<sha256 prefix>`` each, named by their content so that a folder's
name does not depend on which other copies are there this time. Nothing here grades or writes.
"""
import hashlib
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from grader import names
from grader.batch import intake, lateness, outdir
from grader.batch.outdir import OutDir
from grader.batch.task import file_sha256
from grader.render import neutralise as N
from grader.results import RowStatus

# Bytes of a student folder's name: a name key (at most ``names.MAX_KEY``) and the suffixes that
# make it unique (``-<sha256 prefix>``, ``-<n>``, ``-from-<address>``).
MAX_FOLDER = 80


@dataclass
class Archive:
    """One archive (or message without one) of SOURCE, as planned."""
    path: Path | None
    file: str
    sha256: str
    name: names.StudentName | None
    key: str = ""
    notes: list[str] = field(default_factory=list)
    refused: str = ""          # why it cannot even be read (not a regular file, no archive, ...)
    failed: str = ""           # the grader's own failure while planning it (internal-error)
    record: intake.Handin | None = None   # what the intake found
    status: RowStatus = RowStatus.BAD_ARCHIVE   # the row's status when refused

    @property
    def student(self) -> str:
        return self.record.display if self.record else (str(self.name) if self.name else self.file)

    @property
    def misnamed(self) -> bool:
        """The archive's own file name does not read as a student's name (the naming penalty)."""
        if self.path is None:
            return False
        try:
            return names.parse_name(self.file) is None
        except Exception:  # noqa: BLE001 - a name that cannot even be parsed does not read as one
            return True

    def origin(self) -> dict:
        """Row fields that say where the archive came from."""
        r = self.record
        if r is None:
            return {}
        return {"source": r.source, "group": r.group, "received": lateness.iso(r.received) if r.received else "",
                "participant": r.participant, "moodle_folder": r.moodle_folder,
                "mail": {**r.reply, "also_from": list(r.also_from)} if r.reply else {}}



def _one(record: intake.Handin) -> Archive:
    path = record.path
    a = Archive(path, record.file, "", record.name, notes=list(record.warnings), record=record)
    if path is None:           # a message without an archive, or one that could not be read
        a.refused, a.status = record.reason, RowStatus(record.status)
        return a
    shown = N.line(record.file)
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            a.refused = f"{shown} is not a regular file"  # a FIFO would block the hashing
        else:
            a.sha256 = file_sha256(path)
    except OSError as err:
        a.refused = f"cannot read {shown}: {err.strerror or err}"
    return a


def _base_key(a: Archive) -> str:
    # A key is always found: else the hash of the name's bytes.
    fallback = "archive-" + hashlib.sha1(os.fsencode(a.file)).hexdigest()[:8]
    if a.record is None:
        return fallback
    try:
        return a.record.key
    except Exception:  # noqa: BLE001 - a name that cannot even be made a key
        return fallback


def plan(records: list[intake.Handin]) -> list[Archive]:
    """Every archive the intake found, with its unique folder key, in the intake's order."""
    archives = [_one(r) for r in records]
    base = {id(a): names.bounded(_base_key(a)) for a in archives}
    counts = Counter(base.values())
    used = set()
    for a in archives:
        key = base[id(a)]
        if counts[key] > 1:
            # Each copy gets its own folder, named by its content so that it does not depend
            # on which other copies are in the folder this time.
            others = sorted(N.line(b.file) for b in archives if base[id(b)] == key and b is not a)
            a.notes.append(f"{counts[key]} archives read as the same student ({key}): also "
                           f"{', '.join(others)}; each is graded in its own folder")
            key = f"{key}-{a.sha256[:8] or 'unread'}"
        unique, n = key, 2
        while unique in used:  # two identical copies under two names
            unique, n = f"{key}-{n}", n + 1
        used.add(unique)
        a.key = names.bounded(unique, MAX_FOLDER)
    return archives


# --- notes for the teacher about SOURCE and OUT -----------------------------------------------------

def subfolders(folder: Path) -> list[str]:
    """A note when FOLDER holds folders: an LMS download may put each archive in a folder of its
    own, and the batch (on purpose) reads the archives directly in FOLDER only."""
    found = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        return []
    return [f"{len(found)} folder{'s' if len(found) > 1 else ''} in {folder} not entered (archives are read "
            f"directly in the folder only): {', '.join(found[:3])}" + (" ..." if len(found) > 3 else "")]


def stale_folders(out: Path, archives: list[Archive]) -> list[str]:
    """Student folders of earlier runs whose archive is no longer in FOLDER: left alone (they may
    hold the only copy of a grade), but named, since grades.csv no longer lists them."""
    keys = {a.key for a in archives}
    layout = OutDir(out)
    stale = sorted(p.name for p in layout.student_folders() if p.name not in keys)
    if not stale:
        return []
    shown = ", ".join(stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
    return [f"{len(stale)} folder{'s' if len(stale) > 1 else ''} in {layout.students} belong to no archive of "
            f"the folder any more (left as they are, not in {outdir.GRADES_CSV}): {shown}"]
