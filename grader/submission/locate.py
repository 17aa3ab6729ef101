"""Find the ``lab2`` package, ``REPORT.md`` and the figures in an unpacked submission.

Students archive their work in many shapes: ``lab2/`` at the top, inside one wrapping folder
(``DOE_John/lab2``), or deeper. ``find_package`` accepts any depth and asks only that there be
exactly one package:

- a package is a folder named exactly ``lab2`` (the name Python imports) holding
  ``__init__.py`` or at least one of the three graded modules;
- the report is a file named ``REPORT.md`` in any case, preferably beside ``lab2/``, else the
  one with the shortest path anywhere;
- the images are the picture files (``.png``, ``.jpg``, ``.svg``, ``.pdf``, ...) in the
  report's folder or the package's parent, or below them, nearest first (fewest folders
  from the root, then shortest path). Only the names are looked at, not the contents.

The walk never follows a symbolic link, never takes one as the package, report or image, and
skips ``__MACOSX``, ``__pycache__`` and hidden folders (``.git``, ``.ipynb_checkpoints``).
"""
import os
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import UsageError
from lab2check import questions

PACKAGE = "lab2"
REPORT = "report.md"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".bmp", ".pdf")
_SKIP_DIRS = {"__MACOSX", "__pycache__"}


def _module_files() -> tuple[str, ...]:
    """The graded modules' file names (``single_neuron.py``...), from the registry."""
    return tuple(f"{m}.py" for m in questions.modules())


class PackageError(UsageError):
    """No ``lab2`` package, or more than one, in a submission: one line saying which."""


@dataclass
class Submission:
    """Where the parts of one submission are.

    ``package_parent`` is the folder to put on ``sys.path`` so that ``import lab2`` finds the
    student's package; ``report`` is ``None`` when there is no ``REPORT.md``.
    """
    root: Path
    package_parent: Path
    report: Path | None
    images: list[Path] = field(default_factory=list)

    @property
    def package(self) -> Path:
        return self.package_parent / PACKAGE


def find_package(root) -> Submission:
    """Locate the submission's parts beneath ``root``; ``PackageError`` unless exactly one
    ``lab2`` package is there."""
    root = Path(root)
    if not root.is_dir():
        raise PackageError(f"the submission folder {root} does not exist")
    tree = _walk(root)
    packages = [d for d, files in tree.items() if d.name == PACKAGE and _is_package(files)]
    if not packages:
        raise PackageError("no lab2/ package in the submission" + _hint(root, tree))
    if len(packages) > 1:
        shown = [_rel(p, root) for p in sorted(packages, key=_depth_order(root))]
        count = "two" if len(shown) == 2 else str(len(shown))
        raise PackageError(f"{count} lab2 packages: {', '.join(shown[:-1])} and {shown[-1]}")
    parent = packages[0].parent
    report = _find_report(tree, parent, root)
    bases = [parent] + ([report.parent] if report else [])
    images = sorted({folder / f for folder, files in tree.items() for f in files
                     if f.lower().endswith(IMAGE_SUFFIXES) and _under_any(folder, bases)},
                    key=_depth_order(root))
    return Submission(root=root, package_parent=parent, report=report, images=images)


def _walk(root: Path) -> dict[Path, list[str]]:
    """Every folder beneath ``root`` (itself included) with its regular, non-link files."""
    tree: dict[Path, list[str]] = {}
    for top, dirs, files in os.walk(root, followlinks=False):
        folder = Path(top)
        # Pruned in place so os.walk does not descend; links to folders are listed in dirs
        # but never walked (followlinks=False), and dropped here so no one takes them.
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".")
                         and not (folder / d).is_symlink())
        tree[folder] = sorted(f for f in files if not (folder / f).is_symlink())
    return tree


def _is_package(files: list[str]) -> bool:
    return "__init__.py" in files or any(m in files for m in _module_files())


def _find_report(tree, parent: Path, root: Path) -> Path | None:
    found = [folder / f for folder, files in tree.items() for f in files if f.lower() == REPORT]
    beside = [p for p in found if p.parent == parent]
    if beside:
        return sorted(beside)[0]      # REPORT.md and report.md side by side: a stable choice
    return min(found, key=_depth_order(root), default=None)


def _depth_order(root: Path):
    def key(path: Path):
        rel = path.relative_to(root)
        return (len(rel.parts), len(str(rel)), str(rel))
    return key


def _under_any(folder: Path, bases: list[Path]) -> bool:
    return any(folder == b or b in folder.parents for b in bases)


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _hint(root: Path, tree) -> str:
    """What the submission holds instead, so a teacher can tell the student what to fix."""
    for folder, files in sorted(tree.items(), key=lambda item: _depth_order(root)(item[0])):
        if folder != root and folder.name.lower().replace("_", "").replace("-", "") == PACKAGE \
                and _is_package(files):
            return f" (found the folder '{_rel(folder, root)}': the package must be named lab2)"
        loose = [m for m in _module_files() if m in files]
        if loose:
            where = _rel(folder, root) + "/" if folder != root else "the top level"
            return f" (found {loose[0]} in {where}, not in a lab2/ folder)"
    return ""
