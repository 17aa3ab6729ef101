"""A folder of archives (what ``batch`` always read): every file directly in it is one archive,
whatever its name (any length, script, control character, a leading ``-`` or ``=``, only dots or
spaces, undecodable bytes) or extension; subfolders are not entered, and only what an operating
system or an editor leaves beside files is skipped (``.DS_Store``, ``._*``, ``Thumbs.db``,
``desktop.ini``, ``.directory``, ``.~lock.*#``). The student is read from the file name
(``grader.names``); a name that cannot be read is graded under its fallback key, with a note. No
received time, so nothing is ever late."""
import os
from pathlib import Path

from grader import names
from grader.batch.intake import Handin

_JUNK = {".DS_Store", "Thumbs.db", "desktop.ini", ".directory"}


def is_junk(name: str) -> bool:
    return name in _JUNK or name.startswith("._") or (name.startswith(".~lock.") and name.endswith("#"))


def _handin(path: Path, order: int) -> Handin:
    try:
        return Handin(path, path.name, names.parse_name(path.name), "folder", order=(order,))
    except Exception as err:  # noqa: BLE001 - an unreadable name is graded under its fallback key
        record = Handin(path, path.name, None, "folder", order=(order,))
        record.warnings.append(f"the file name could not be read as a student's name ({type(err).__name__}: {err})")
        return record


def collect(folder: Path) -> list[Handin]:
    entries = sorted((p for p in folder.iterdir() if not is_junk(p.name) and not p.is_dir()),
                     key=lambda p: os.fsencode(p.name))
    return [_handin(p, i) for i, p in enumerate(entries)]
