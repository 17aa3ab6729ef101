"""Q3.1's architecture figure, copied beside the student's feedback for the teacher who grades it.

Q3.1 is graded by hand. ``report_md.find_figure`` says in a few words where the figure seems to
be; when it is an image file, ``keep`` copies it next to ``feedback.md`` as ``figure.<ext>``,
so that the teacher (and the student) see it inline in the Markdown feedback without unpacking
the archive. Only what a Markdown viewer shows safely is copied: PNG, JPEG, GIF or WebP whose
first bytes say so (an SVG can carry scripts, a PDF is not shown inline), a regular file (never a
symbolic link out of the submission), at most ``MAX_BYTES``. The copy's name is the grader's own,
so no student string reaches the Markdown link.

``keep_report`` copies the submission's ``REPORT.md`` beside the feedback as well (bounded,
``grader.batch.outdir.REPORT_MD``): the written answers graded by hand are read from it by ``grader.review``.
"""
import os
from pathlib import Path

from grader import fsutil
from grader.batch import outdir
from grader.submission import report_md

MAX_BYTES = 5 * 1024 * 1024
# suffix -> the first bytes its files start with
_MAGIC = {".png": (b"\x89PNG\r\n\x1a\n",), ".jpg": (b"\xff\xd8\xff",), ".jpeg": (b"\xff\xd8\xff",),
          ".gif": (b"GIF87a", b"GIF89a"), ".webp": (b"RIFF",)}
NAMES = tuple(f"{outdir.FIGURE}{suffix}" for suffix in _MAGIC)   # figure.png, figure.jpg...
REPORT_MAX_BYTES = 1024 * 1024   # a longer REPORT.md is cut: nobody grades a megabyte by hand


def _image(root: Path, relative: str) -> tuple[bytes, str] | None:
    """The bytes and suffix of an image file Markdown can show, or None."""
    path = root / relative
    suffix = path.suffix.lower()
    if suffix not in _MAGIC or path.is_symlink() or not path.is_file():
        return None
    if path.stat().st_size > MAX_BYTES:
        return None
    with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NOFOLLOW)) as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES or not data.startswith(_MAGIC[suffix]):
        return None
    if suffix == ".webp" and data[8:12] != b"WEBP":
        return None
    return data, ".jpg" if suffix == ".jpeg" else suffix


def showable(submission_root) -> tuple[str, bytes, str] | None:
    """The submission's most likely architecture figure that Markdown can show: ``(path relative
    to the root, bytes, suffix of the copy)``, or None. The order is ``report_md``'s: a name that
    suggests an architecture first, then the order on disk."""
    root = Path(submission_root)
    for relative in report_md.image_files(root):
        try:
            found = _image(root, relative)
        except OSError:
            continue
        if found:
            return (relative, *found)
    return None


def keep(submission_root, folder) -> str:
    """Copy the submission's most likely architecture figure into ``folder`` as ``figure.<ext>``.

    Returns the copy's file name, or "" when the submission has no image Markdown can show (an
    earlier run's copy is then removed, so a resubmission without a figure shows none). The
    order is ``report_md``'s: a name that suggests an architecture first, then the order on disk.
    """
    folder = Path(folder)
    for name in NAMES:
        (folder / name).unlink(missing_ok=True)
    found = showable(submission_root)
    if found is None:
        return ""
    _, data, suffix = found
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{outdir.FIGURE}{suffix}"
    fsutil.atomic_write(target, data)
    return target.name


def keep_report(report_path, folder) -> bool:
    """Copy the submission's REPORT.md (``report_path``, None when it has none) into ``folder``
    as ``REPORT.md``, its first ``REPORT_MAX_BYTES`` only, never through a symbolic link; an
    earlier run's copy is removed first, so a resubmission without one shows none. Returns
    whether a copy was written."""
    folder = Path(folder)
    (folder / outdir.REPORT_MD).unlink(missing_ok=True)
    if report_path is None:
        return False
    path = Path(report_path)
    if path.is_symlink() or not path.is_file():
        return False
    with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NOFOLLOW)) as f:
        data = f.read(REPORT_MAX_BYTES)
    folder.mkdir(parents=True, exist_ok=True)
    fsutil.atomic_write(folder / outdir.REPORT_MD, data)
    return True
