"""Build the archive to hand in: ``python tools/make_archive.py "DOE John"`` (or ``make archive NAME="DOE John"``).

Writes ``DOE John Lab2 DLCV.tar.bz2`` (last name upper-cased, first name as given) in the kit's
folder. It holds one folder of the same name with:
- ``lab2/``, your package (without ``__pycache__`` and other caches);
- ``REPORT.md``;
- the image files next to ``REPORT.md`` (your architecture figure).

It refuses, with one line saying why, when ``REPORT.md`` is missing or when ``lab2`` does not
import: the grader could not grade it either. Unfinished functions are fine (they raise
``NotImplementedError`` only when called).
"""
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
MODULES = ("data", "single_neuron", "hidden_layer", "multiclass")
IMPORT_SECONDS = 60
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".bmp", ".pdf"}
SKIPPED = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".DS_Store"}
# Characters that cannot be in a file name on some system, or that would change the folder.
BAD_CHARS = re.compile(r'[/\\<>:"|?*\x00-\x1f]')


class Refused(Exception):
    """The archive cannot be built; the message is the one line shown to the student."""


def archive_stem(name: str) -> str:
    """``"DOE John"`` -> ``"DOE John Lab2 DLCV"``.

    The last name is the leading words written in capitals ("DE LA FONTAINE Jean"), or the first
    word when none is; it is upper-cased. The rest is the first name, kept as given.
    """
    words = name.split()
    if len(words) < 2:
        raise Refused(f'give your last name then your first name, e.g. make archive NAME="DOE John" '
                      f'(got {name!r})')
    if BAD_CHARS.search(name):
        raise Refused(f"your name {name!r} holds a character that cannot be in a file name")
    k = 0
    while k < len(words) and words[k].isupper():
        k += 1
    if k == 0 or k == len(words):
        k = 1
    return f"{' '.join(words[:k]).upper()} {' '.join(words[k:])} Lab2 DLCV"


def check_import(kit: Path = KIT, timeout: float = IMPORT_SECONDS) -> None:
    """Import every ``lab2`` module in a fresh Python, as the grader will; ``Refused`` if it fails."""
    if not (kit / "lab2" / "__init__.py").is_file():
        raise Refused(f"there is no lab2/ package in {kit}")
    code = "; ".join(f"import lab2.{m}" for m in MODULES)
    try:
        done = subprocess.run([sys.executable, "-c", code], cwd=kit, capture_output=True, text=True,
                              timeout=timeout, env=_env(kit))
    except subprocess.TimeoutExpired:
        raise Refused(f"importing lab2 took more than {timeout:g} s: importing must not train anything, "
                      f'put your experiments under if __name__ == "__main__":') from None
    if done.returncode != 0:
        raise Refused(f"lab2 does not import, fix this first: {_last_error(done.stderr, kit)}")


def _env(kit: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(kit)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("MPLBACKEND", "Agg")  # a stray plt.show() at import must not open a window
    return env


def _last_error(stderr: str, kit: Path) -> str:
    """The error line of a traceback, with the file and line it points to in the student's code."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    error = lines[-1].strip() if lines else "the import failed"
    places = re.findall(r'File "([^"]+)", line (\d+)', stderr)
    for file, line in reversed(places):
        path = Path(file)
        if path.is_absolute() and kit.resolve() in path.resolve().parents:
            return f"{error} ({path.resolve().relative_to(kit.resolve())}, line {line})"
    return error


def members(kit: Path = KIT) -> list[Path]:
    """The files to pack, relative to ``kit``: ``lab2/**``, ``REPORT.md`` and the images next to it."""
    if not (kit / "REPORT.md").is_file():
        raise Refused(f"REPORT.md is missing from {kit}: write your answers there (the kit's template) first")
    files = [Path("REPORT.md")]
    files += sorted(p.relative_to(kit) for p in kit.iterdir()
                    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    for path in sorted((kit / "lab2").rglob("*")):
        rel = path.relative_to(kit)
        if any(part in SKIPPED for part in rel.parts) or path.suffix in (".pyc", ".pyo"):
            continue
        if path.is_symlink():
            raise Refused(f"{rel} is a symbolic link: copy the file itself into lab2/")
        if path.is_file():
            files.append(rel)
    return files


def _warnings(kit: Path) -> list[str]:
    """What the grader will not like, without refusing: the loss block left as in the template."""
    report = (kit / "REPORT.md").read_text(encoding="utf-8", errors="replace")
    block = re.search(r"```yaml\s*\n(.*?)```", report, re.DOTALL)
    if not block or "loss_500:" not in block.group(1):
        return ["REPORT.md has no ```yaml loss_500: block (see the template)"]
    values = re.findall(r"^\s+(\w+):\s*(\S+)", block.group(1), re.MULTILINE)
    if values and all(v in ("0", "0.0") for _, v in values):
        return ["REPORT.md's loss_500 block still holds the template's 0.0 values"]
    return []


def build(name: str, kit: Path = KIT, out_dir: Path | None = None) -> Path:
    """Check, then write the archive; returns its path. ``Refused`` when it cannot be built."""
    kit = Path(kit)
    stem = archive_stem(name)
    files = members(kit)
    check_import(kit)
    target = Path(out_dir or kit) / f"{stem}.tar.bz2"
    partial = target.with_name(target.name + ".partial")
    with tarfile.open(partial, "w:bz2") as tar:
        for rel in files:
            info = tar.gettarinfo(kit / rel, arcname=f"{stem}/{rel.as_posix()}")
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(kit / rel, "rb") as f:
                tar.addfile(info, f)
    partial.replace(target)  # never leave half an archive under the final name
    return target


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    name = " ".join(argv).strip()
    try:
        target = build(name)
    except Refused as err:
        print(f"make_archive: cannot build the archive: {err}", file=sys.stderr)
        return 1
    for warning in _warnings(KIT):
        print(f"make_archive: warning: {warning}", file=sys.stderr)
    print(f"wrote {target.name}: hand in this file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
