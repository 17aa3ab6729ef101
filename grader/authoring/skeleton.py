"""Generate the student kit ``skeleton/`` from the reference, the kit templates and ``lab2check``.

``python -m grader.authoring.skeleton`` (``make skeleton``) writes ``skeleton/``; ``--check`` only says
whether the committed one is stale; ``--archive build/lab2-kit.tar.gz`` also packs the kit and
``data/mnist/`` into one archive for distribution. What the kit holds:

- ``lab2/``: every file of ``reference/lab2/``, with each solution region
  (``# BEGIN SOLUTION <qid>`` ... ``# END SOLUTION``) replaced by a stub with the same
  indentation, ``raise NotImplementedError("<qid>: <module>.<function>")``. Files without
  markers (``data.py``, ``__init__.py``) are copied as they are.
- everything under ``kit/``, verbatim (README, REPORT template, Makefile, tools, public tests);
- ``docs/assignment.md``, the contract, as ``ASSIGNMENT.md``.
- ``lab2check/``, the shared check library, verbatim.

The output is a pure function of those sources (``render``), so it is deterministic and
``generate`` is idempotent; ``generate`` also removes files that no longer come from a source.
This module never edits the reference: a bad marker stops it with one line naming file and line.
"""
import argparse
import ast
import gzip
import io
import re
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from grader import DATA, PROJECT
from grader.errors import UsageError
from lab2check import questions

SKELETON = PROJECT / "skeleton"
KIT = PROJECT / "kit"
LAB2CHECK = PROJECT / "lab2check"

# Caches that appear when someone runs the code; never part of a source, never in the kit.
IGNORED_DIRS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}
IGNORED_SUFFIXES = {".pyc", ".pyo"}

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION(?:[ \t]+(?P<qid>\S+))?[ \t]*$")
END = re.compile(r"^(?P<indent>[ \t]*)# END SOLUTION(?:[ \t]+(?P<qid>\S+))?[ \t]*$")
# Anything that looks like a marker must be exactly one of the two forms above.
MARKERISH = re.compile(r"\b(BEGIN|END)[ \t_-]*SOLUTION\b", re.IGNORECASE)

KIT_ROOT_IN_ARCHIVE = "lab2-kit"
ARCHIVE_MTIME = 1_700_000_000  # fixed, so that the same sources give the same archive bytes


class MarkerError(UsageError):
    """A malformed solution region in the reference; the message names the file and the line."""


@dataclass(frozen=True)
class Region:
    """One solution region: its question id and the 1-based lines of its two markers."""
    qid: str
    begin: int
    end: int
    indent: str


def regions(text: str, filename: str) -> list[Region]:
    """The solution regions of a source file, in order; ``MarkerError`` on any malformed marker."""
    found, open_ = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{filename}:{number}"
        if not MARKERISH.search(line):
            continue
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if open_ is not None:
                raise MarkerError(f"{where}: nested BEGIN SOLUTION (the region opened at line "
                                  f"{open_.begin} is not closed)")
            qid = begin["qid"]
            if not qid:
                raise MarkerError(f"{where}: BEGIN SOLUTION without a question id "
                                  f"(write '# BEGIN SOLUTION q1_1')")
            if qid not in questions.ids():
                raise MarkerError(f"{where}: unknown question id {qid!r} (known: {', '.join(questions.ids())})")
            open_ = Region(qid, number, 0, begin["indent"])
        elif end:
            if open_ is None:
                raise MarkerError(f"{where}: END SOLUTION without a matching BEGIN SOLUTION")
            if end["qid"] and end["qid"] != open_.qid:
                raise MarkerError(f"{where}: END SOLUTION {end['qid']} closes the region "
                                  f"{open_.qid} opened at line {open_.begin}")
            if end["indent"] != open_.indent:
                raise MarkerError(f"{where}: END SOLUTION is not indented like its BEGIN SOLUTION "
                                  f"at line {open_.begin}")
            found.append(Region(open_.qid, open_.begin, number, open_.indent))
            open_ = None
        else:
            raise MarkerError(f"{where}: malformed solution marker {line.strip()!r} (the forms are "
                              f"'# BEGIN SOLUTION <qid>' and '# END SOLUTION', each alone on its line)")
    if open_ is not None:
        raise MarkerError(f"{filename}:{open_.begin}: BEGIN SOLUTION {open_.qid} is never closed")
    return found


def _enclosing_function(tree: ast.AST, line: int) -> str | None:
    """The name of the innermost function whose body holds ``line`` (``Class.method`` for methods)."""
    best, best_name = None, None

    def visit(node, prefix):
        nonlocal best, best_name
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                inside = child.lineno < line <= (child.end_lineno or child.lineno)  # None only for hand-built nodes
                if inside and not isinstance(child, ast.ClassDef):
                    if best is None or child.lineno > best.lineno:
                        best, best_name = child, name
                if inside:
                    visit(child, f"{name}.")

    visit(tree, "")
    return best_name


def stub(text: str, filename: str) -> str:
    """``text`` with every solution region replaced by a ``NotImplementedError`` stub.

    The stub names the question and the function, e.g. ``"q2_1: hidden_layer.backward"``, so a
    student (and the grader) can tell which question a failure belongs to.
    """
    found = regions(text, filename)
    if not found:
        return text
    module = Path(filename).stem
    try:
        tree = ast.parse(text, filename)
    except SyntaxError as err:
        raise MarkerError(f"{filename}:{err.lineno}: the reference does not parse: {err.msg}") from None
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    out, cursor = [], 0
    for region in found:
        function = _enclosing_function(tree, region.begin)
        if function is None:
            raise MarkerError(f"{filename}:{region.begin}: solution region outside a function "
                              f"(its stub would stop the module from importing)")
        out.extend(lines[cursor:region.begin - 1])
        out.append(f'{region.indent}raise NotImplementedError("{region.qid}: {module}.{function}"){newline}')
        cursor = region.end
    out.extend(lines[cursor:])
    result = "".join(out)
    try:
        ast.parse(result, filename)
    except SyntaxError as err:
        raise MarkerError(f"{filename}:{err.lineno}: the stubbed file does not parse ({err.msg}); "
                          f"does a region cut a block in half?") from None
    return result


def _files(root: Path) -> list[Path]:
    """Every file under ``root``, sorted, caches excluded; symlinks are refused (not portable)."""
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in IGNORED_DIRS for part in rel.parts) or path.suffix in IGNORED_SUFFIXES:
            continue
        if path.is_symlink():
            raise UsageError(f"{path} is a symbolic link; the kit holds plain files only")
        if path.is_file():
            out.append(path)
    return out


def render(project: Path = PROJECT) -> dict[str, bytes]:
    """The kit as ``{relative posix path: bytes}``, sorted by path; nothing is written."""
    project = Path(project)
    reference, kit, lab2check = project / "reference" / "lab2", project / "kit", project / "lab2check"
    for folder in (reference, kit, lab2check):
        if not folder.is_dir():
            raise UsageError(f"{folder} is missing: the kit is generated from it")
    files: dict[str, bytes] = {}

    def add(rel: str, data: bytes, source: Path):
        if rel in files:
            raise UsageError(f"{source} would overwrite the kit's {rel}, which comes from another source")
        files[rel] = data

    for path in _files(reference):
        rel = path.relative_to(reference).as_posix()
        data = path.read_bytes()
        if path.suffix == ".py":
            shown = path.relative_to(project).as_posix()
            data = stub(data.decode("utf-8"), shown).encode("utf-8")
        add(f"lab2/{rel}", data, path)
    for path in _files(lab2check):  # all of it: the grader's sandbox plumbing lives in grader/sandbox/
        add(f"lab2check/{path.relative_to(lab2check).as_posix()}", path.read_bytes(), path)
    for path in _files(kit):
        add(path.relative_to(kit).as_posix(), path.read_bytes(), path)
    contract = project / "docs" / "assignment.md"  # the contract, so the kit is self-contained
    if contract.is_file():
        add("ASSIGNMENT.md", contract.read_bytes(), contract)
    return dict(sorted(files.items()))


def _ignored(rel: Path) -> bool:
    return any(part in IGNORED_DIRS for part in rel.parts) or rel.suffix in IGNORED_SUFFIXES


def stale(dest: Path = SKELETON, project: Path = PROJECT) -> list[str]:
    """How ``dest`` differs from what ``generate`` would write, one line per file (empty: up to date).

    Caches (``__pycache__``...) in ``dest`` are not differences: they are never committed.
    """
    dest = Path(dest)
    wanted = render(project)
    problems = []
    for rel, data in wanted.items():
        path = dest / rel
        if not path.is_file():
            problems.append(f"missing: {rel}")
        elif path.read_bytes() != data:
            problems.append(f"differs: {rel}")
    if dest.is_dir():
        for path in sorted(dest.rglob("*")):
            found = path.relative_to(dest)
            if (path.is_file() or path.is_symlink()) and not _ignored(found) and found.as_posix() not in wanted:
                problems.append(f"extra:   {found.as_posix()}")
    return problems


def _refuse_dangerous(dest: Path, project: Path):
    """``generate`` deletes what is not in the kit: never let it loose on the wrong folder."""
    dest = dest.resolve()
    project = project.resolve()
    if dest == project or dest in project.parents or (dest / ".git").exists():
        raise UsageError(f"refusing to generate the kit into {dest}: it holds the project")
    for source in (project / "reference", project / "kit", project / "lab2check", project / "data"):
        if dest == source or source in dest.parents:
            raise UsageError(f"refusing to generate the kit into {dest}: it is inside a source folder")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / "lab2").is_dir():
        raise UsageError(f"refusing to generate the kit into {dest}: it is not empty and holds no lab2/ "
                         f"(not an earlier kit)")


def generate(dest: Path = SKELETON, project: Path = PROJECT) -> dict[str, int]:
    """Write the kit into ``dest``: new and changed files, then remove what no source produces.

    Unchanged files are not rewritten, so running it twice changes nothing. Returns the counts
    ``{"written": .., "removed": .., "unchanged": ..}``.
    """
    dest, project = Path(dest), Path(project)
    files = render(project)
    _refuse_dangerous(dest, project)
    counts = {"written": 0, "removed": 0, "unchanged": 0}
    for rel, data in files.items():
        path = dest / rel
        if path.is_file() and not path.is_symlink() and path.read_bytes() == data:
            counts["unchanged"] += 1
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()
        path.write_bytes(data)
        counts["written"] += 1
    # Deepest first, so that a folder is empty by the time it is looked at.
    for path in sorted(dest.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        rel = path.relative_to(dest).as_posix()
        if path.is_symlink() or path.is_file():
            if rel not in files:
                path.unlink()
                counts["removed"] += 1
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return counts


def _tarinfo(name: str, size: int | None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = ARCHIVE_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if size is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    else:
        info.size, info.mode = size, 0o644
    return info


def pack(archive: Path, project: Path = PROJECT) -> dict[str, bytes]:
    """Write the kit plus ``data/mnist/`` as ``archive`` (a .tar.gz), under ``lab2-kit/``.

    Same sources, same bytes (fixed times and owners, gzip without a timestamp). Returns the
    packed files ``{path inside the archive: bytes}``.
    """
    archive, project = Path(archive), Path(project)
    if not archive.name.endswith((".tar.gz", ".tgz")):
        raise UsageError(f"--archive {archive}: the kit archive must end in .tar.gz or .tgz")
    files = {f"{KIT_ROOT_IN_ARCHIVE}/{rel}": data for rel, data in render(project).items()}
    data_dir = project / DATA.relative_to(PROJECT)
    if not data_dir.is_dir():
        raise UsageError(f"{data_dir} is missing: the kit ships the MNIST files")
    for path in _files(data_dir):
        files[f"{KIT_ROOT_IN_ARCHIVE}/data/mnist/{path.relative_to(data_dir).as_posix()}"] = path.read_bytes()
    files = dict(sorted(files.items()))
    folders = sorted({str(p) for name in files for p in Path(name).parents if str(p) != "."})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for folder in folders:
            tar.addfile(_tarinfo(folder, None))
        for name, data in files.items():
            tar.addfile(_tarinfo(name, len(data)), io.BytesIO(data))
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".partial")
    with open(partial, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buffer.getvalue())
    partial.replace(archive)
    return files


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.authoring.skeleton", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=SKELETON, help="where to write the kit (default: skeleton/)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 and list the differences when the kit is stale")
    parser.add_argument("--archive", type=Path, metavar="FILE.tar.gz",
                        help="after generating, pack the kit and data/mnist/ into this archive")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = stale(args.dest)
            for line in problems:
                print(line)
            if problems:
                print(f"{args.dest} is stale: run make skeleton", file=sys.stderr)
                return 1
            print(f"{args.dest} is up to date")
            return 0
        counts = generate(args.dest)
        print(f"{args.dest}: {counts['written']} written, {counts['removed']} removed, "
              f"{counts['unchanged']} unchanged")
        if args.archive:
            files = pack(args.archive)
            size = args.archive.stat().st_size / 1e6
            print(f"{args.archive}: {len(files)} files under {KIT_ROOT_IN_ARCHIVE}/, {size:.1f} MB")
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
