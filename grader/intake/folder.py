"""A folder of archives (what ``batch`` always read): every file directly in it that is not
hidden is one archive, whatever its name or extension; subfolders are not entered. The student
is read from the file name (``grader.names``); no received time, so nothing is ever late."""
from pathlib import Path

from grader import names
from grader.intake import Submission


def collect(folder: Path) -> list[Submission]:
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith(".") and not p.is_dir())
    return [Submission(p, p.name, names.parse_name(p.name), "folder", order=(i,))
            for i, p in enumerate(entries)]
