"""Spot identical submissions: the same ``lab2/`` code, once comments and layout are ignored.

A fingerprint is the sha256 of a module's *normalised* source: its tokens (``tokenize``) joined
by single spaces, without comments, blank lines, docstrings or any whitespace choice, so that
re-indenting, re-commenting or rewriting the docstrings of a copy does not hide it. Indentation
is kept as INDENT/DEDENT tokens (the structure of the code), never as a number of spaces.
Renaming a variable does change the fingerprint: this is a list of *identical* code for a
teacher to look at, not a plagiarism detector (that is ``grader.batch.similarity.near_duplicates``: renamings,
reorderings, the batch's ``similarity.html``).

``fingerprint(package)`` gives one hash per module and one for the whole package;
``groups(...)`` puts together the students whose hashes are equal, and says when the code is
the reference's (a leaked solution) or the skeleton's (nothing done, which every student who
did nothing shares: those groups are left out).
"""
import hashlib
import io
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from grader import PROJECT, REFERENCE
from lab2check import questions

SKELETON = PROJECT / "skeleton"
# The modules students write; __init__.py and data.py come from the kit and match for everyone.
_DROPPED = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}
# After these tokens (or at the start) a lone string is a docstring or a bare string statement.
_STATEMENT_START = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, None}


def _module_files() -> tuple[str, ...]:
    """The graded modules' file names (``single_neuron.py``...), from the registry."""
    return tuple(f"{m}.py" for m in questions.modules())


def normalise(source: bytes) -> str:
    """The code's tokens joined by single spaces, without comments, blank lines and docstrings.

    A file that does not tokenize (a syntax error) falls back to its text with all whitespace
    removed, so that two copies of the same broken file still match.
    """
    try:
        tokens = [t for t in tokenize.tokenize(io.BytesIO(source).readline) if t.type not in _DROPPED]
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        return "".join(source.decode("utf-8", "replace").split())
    kept, previous, drop_newline = [], None, False
    for i, tok in enumerate(tokens):
        following = tokens[i + 1].type if i + 1 < len(tokens) else tokenize.NEWLINE
        if tok.type == tokenize.STRING and previous in _STATEMENT_START and following == tokenize.NEWLINE:
            drop_newline = True  # the docstring's NEWLINE goes with it
            continue
        if tok.type == tokenize.NEWLINE and drop_newline:
            drop_newline = False
            continue
        previous = tok.type
        kept.append({tokenize.NEWLINE: "\n", tokenize.INDENT: "<INDENT>", tokenize.DEDENT: "<DEDENT>"}
                    .get(tok.type, tok.string))
    return " ".join(kept)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def fingerprint(package) -> dict[str, str]:
    """``{"lab2/single_neuron.py": hash, ..., "lab2": hash of all of them}`` for a ``lab2`` folder.

    Every ``.py`` file below the package counts (sorted by path, ``__pycache__`` skipped); the
    whole-package hash covers the names of the files too.
    """
    package = Path(package)
    out, whole = {}, hashlib.sha256()
    for path in sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts and p.is_file()
                       and not p.is_symlink()):
        name = f"lab2/{path.relative_to(package).as_posix()}"
        out[name] = _digest(normalise(path.read_bytes()))
        whole.update(f"{name}\0{out[name]}\0".encode("utf-8", "surrogateescape"))
    out["lab2"] = whole.hexdigest()
    return out


def known_fingerprints() -> dict[str, dict[str, str]]:
    """The reference's and the skeleton's fingerprints (empty when a folder is missing)."""
    return {label: fingerprint(root / "lab2") if (root / "lab2").is_dir() else {}
            for label, root in (("reference", REFERENCE), ("skeleton", SKELETON))}


@dataclass
class Group:
    """Students whose ``what`` (``lab2`` or one module) is identical once normalised."""
    what: str                  # "lab2" (the whole package) or "lab2/multiclass.py"
    members: list = field(default_factory=list)   # the callers' labels, sorted
    same_as: str = ""          # "reference" when the code is the reference's


def groups(prints: dict[str, dict[str, str]], known: dict[str, dict[str, str]] | None = None) -> list[Group]:
    """Groups of 2+ students with the same package, then with the same part module.

    ``prints`` maps a student's label to its ``fingerprint``. Code equal to the skeleton's is
    left out (unfinished work is the same for everyone); a module group is left out when all
    its members are already together in a package group.
    """
    known = known if known is not None else known_fingerprints()
    found: list[Group] = []
    together: set[frozenset[str]] = set()   # the package groups' members
    for what in ("lab2", *(f"lab2/{p}" for p in _module_files())):
        by_hash: dict[str, list] = {}
        for label, fp in prints.items():
            if fp.get(what):
                by_hash.setdefault(fp[what], []).append(label)
        for digest, members in sorted(by_hash.items(), key=lambda kv: sorted(kv[1])):
            members = sorted(members)
            if len(members) < 2 or digest == known.get("skeleton", {}).get(what):
                continue
            if what != "lab2" and any(set(members) <= g for g in together):
                continue
            same = "reference" if digest == known.get("reference", {}).get(what) else ""
            found.append(Group(what, members, same))
            if what == "lab2":
                together.add(frozenset(members))
    return found
