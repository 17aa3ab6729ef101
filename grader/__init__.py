"""The Lab 2 autograder.

The pipeline, one module per stage: archive -> submission folder (``locate``) -> sandboxed
child running the student's code (``sandbox``) -> checks (``lab2check`` + ``questions``) ->
``report`` (plain data) -> renderers (``render``). ``cli`` is a thin layer over ``api``.
"""
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
REFERENCE = PROJECT / "reference"
DATA = PROJECT / "data" / "mnist"
RUBRIC = PROJECT / "rubric.yaml"


class UsageError(Exception):
    """Bad input from the teacher (a wrong path, a bad rubric, a broken archive): one clear line."""
