"""Build Gradescope's ``autograder.zip``: ``python -m grader.gradescope.bundle [DEST] [--rubric FILE]``.

``make gradescope`` writes ``build/autograder.zip``. At its root, as Gradescope asks,
``setup.sh`` and ``run_autograder`` (from ``gradescope/``; both take their root from
``$AUTOGRADER_ROOT``, default ``/autograder``); beside them what grading needs and nothing
else: ``grader/``, ``lab2check/``, ``reference/``, ``data/mnist/``, ``requirements.txt`` and
the rubric (``--rubric``: a course's own, packed as ``rubric.yaml``). No tests, kit, skeleton,
cache or ``__pycache__``: ``setup.sh`` builds the reference's answers once in the image.

The zip is reproducible: members sorted, one fixed date, modes 0755 for the two scripts and
0644 for the rest, so the same checkout gives the same bytes.
"""
import argparse
import io
import sys
import zipfile
from pathlib import Path

from grader import PROJECT, RUBRIC, fsutil
from grader.errors import UsageError

SCRIPTS = ("setup.sh", "run_autograder")
TREES = ("grader", "lab2check", "reference", "data/mnist")
FILES = ("requirements.txt",)
DATE = (1980, 1, 1, 0, 0, 0)


def members(rubric: str | Path | None = None) -> dict[str, Path]:
    """``{name in the zip: file}``."""
    out = {name: PROJECT / "gradescope" / name for name in SCRIPTS}
    for tree in TREES:
        for path in sorted((PROJECT / tree).rglob("*")):
            rel = path.relative_to(PROJECT)
            if path.is_file() and "__pycache__" not in rel.parts and not any(p.startswith(".") for p in rel.parts) \
                    and path.suffix != ".pyc":
                out[rel.as_posix()] = path
    out |= {name: PROJECT / name for name in FILES}
    out["rubric.yaml"] = Path(rubric) if rubric else RUBRIC
    return out


def build(dest: str | Path, rubric: str | Path | None = None) -> Path:  # rubric: a rubric.yaml's path
    dest = Path(dest)
    if rubric is not None:
        from grader import rubric as rubric_mod
        rubric_mod.load(rubric)   # a broken rubric stops here, not in Gradescope's setup
    found = members(rubric)
    dest.parent.mkdir(parents=True, exist_ok=True)
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(found):
            info = zipfile.ZipInfo(name, DATE)
            info.external_attr = (0o100755 if name in SCRIPTS else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, found[name].read_bytes())
    fsutil.atomic_write(dest, packed.getvalue())
    return dest


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m grader.gradescope.bundle", description=__doc__.splitlines()[0])
    p.add_argument("dest", nargs="?", default=str(PROJECT / "build" / "autograder.zip"))
    p.add_argument("--rubric", help="the rubric to pack (default: the project's rubric.yaml)")
    args = p.parse_args(argv)
    try:
        dest = build(args.dest, args.rubric)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"written: {dest} (upload it as the autograder of a Gradescope programming assignment)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
