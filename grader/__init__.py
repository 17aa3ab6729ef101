"""The Lab 2 autograder.

The pipeline, one module per stage: archive -> submission folder (``locate``) -> sandboxed
child running the student's code (``sandbox``) -> checks (``lab2check`` + ``questions``) ->
``report`` (plain data) -> renderers (``render``). ``cli`` is a thin layer over ``api``.
"""
from pathlib import Path

from grader.errors import UsageError

PROJECT = Path(__file__).resolve().parent.parent
REFERENCE = PROJECT / "reference"
DATA = PROJECT / "data" / "mnist"
RUBRIC = PROJECT / "rubric.yaml"


def read_input(path, what: str) -> bytes:
    """The bytes of a file the teacher gave (``what``: "the rubric", "the worksheet"...), or
    ``UsageError`` with one line naming it: a wrong path stops the command before any grading."""
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read {what} {path}: {err.strerror or err}") from None
