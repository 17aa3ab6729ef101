"""Near-duplicate code across a class: winnowing (the MOSS algorithm) over Python tokens.

What it is for: ranking pairs of submissions by how much of their ``lab2/`` code they share
once variables are renamed, functions reordered, comments and docstrings rewritten, and the
skeleton's own code (stubs, docstrings, the given ``data.py``) taken out. A teacher reads the
top pairs; a score is a reason to look, never a verdict and never a change of points.
What it is not: a comparison of behaviour (two correct solutions compute the same numbers), or
a renderer (``grader.render.similarity_html``), or the batch's step that gathers the class
(``grader.batch.similarity.compare``).

How (Schleimer, Wilkerson, Aiken, *Winnowing*, SIGMOD 2003):
1. ``tokens``: ``tokenize`` each ``.py`` file; comments, blank lines and docstrings are dropped;
   a name becomes ``V`` unless it is a keyword, a builtin, an attribute (``np.sum``'s ``sum``)
   or a keyword argument (``axis=``): renaming a variable or a function changes nothing, calling
   another numpy function does; numbers become ``N`` and strings ``S``.
2. every run of ``K`` consecutive tokens of a file (a k-gram) is hashed (blake2b, so the same
   code gives the same hashes in every process and every run);
3. winnowing keeps, in each window of ``W`` consecutive k-gram hashes, the smallest (the
   rightmost on a tie): any shared run of ``W + K - 1`` tokens is certainly found, a shared run
   shorter than ``K`` never is (the noise of common idioms such as ``dW = dZ @ X.T / m``);
4. the skeleton's k-grams (all of them, not only the winnowed ones) are removed: what every
   student received is not evidence;
5. a pair's score is the *Jaccard* index of the two students' fingerprint sets, over all their
   files together (moving a function to another module hides nothing). Jaccard rather than
   containment: a student who wrote two functions shares them with everyone who wrote them
   the same obvious way, and containment of a tiny set would flag them (``bench/README.md``
   has the measured figures). A side with fewer than ``MIN_FINGERPRINTS`` fingerprints (almost
   nothing written) scores 0.

Chosen over the ``copydetect`` package after measuring both on the same inputs
(``bench/similarity_compare.py``, figures in ``bench/README.md``): both score the planted copies
0.85-1.0, but copydetect's independent solutions reach 0.45 where these stay under 0.18 (it turns
every name, ``np.sum``'s ``sum`` included, into one letter, over characters rather than tokens),
it is 4x slower, and it would add two packages.
"""
import builtins
import hashlib
import io
import json
import keyword
import tokenize
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path

from grader import fsutil
from grader.batch import outdir

K = 13                  # tokens per k-gram: longer than the idioms every solution shares
W = 6                   # winnowing window: any shared run of W + K - 1 = 18 tokens is found
MIN_FINGERPRINTS = 4    # fewer than this once the skeleton is taken out: nothing to compare
# What is kept of a submission's code for the comparison (code.json): Python files only, capped
# so that a hostile archive cannot make the batch's last step slow or its report huge.
MAX_FILES = 60
MAX_FILE_BYTES = 256 * 1024
MAX_TOTAL_BYTES = 1024 * 1024

_BUILTINS = frozenset(dir(builtins))
_SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER, tokenize.INDENT,
            tokenize.DEDENT}
_STATEMENT_START = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, None}
_OPENING, _CLOSING = {"(", "[", "{"}, {")", "]", "}"}


@dataclass(frozen=True)
class Token:
    text: str                  # the normalised token: "V", "N", "S", "def", "(", "sum", ...
    start: tuple[int, int]     # (line, column) in the file, as tokenize gives it (lines from 1)
    end: tuple[int, int]


def tokens(source: str) -> list[Token]:
    """The normalised tokens of one file; a file that does not tokenize keeps what came before
    the error (a syntax error is no reason to be left out of the comparison)."""
    raw: list[tokenize.TokenInfo] = []
    try:
        raw.extend(tokenize.generate_tokens(io.StringIO(source).readline))   # keeps what came before an error
    except (tokenize.TokenError, SyntaxError, ValueError):
        pass
    kept: list[Token] = []
    previous, depth = None, 0
    items = [t for t in raw if t.type not in (tokenize.COMMENT, tokenize.NL)]
    for i, tok in enumerate(items):
        following = items[i + 1] if i + 1 < len(items) else None
        if tok.type == tokenize.STRING and previous in _STATEMENT_START and (
                following is None or following.type in (tokenize.NEWLINE, tokenize.ENDMARKER)):
            previous = tokenize.NEWLINE   # a docstring or a bare string: dropped with its NEWLINE
            continue
        if tok.type == tokenize.NEWLINE and previous == tokenize.NEWLINE:
            continue
        previous = tok.type if tok.type not in _SKIPPED else previous
        if tok.type in _SKIPPED:
            continue
        if tok.type == tokenize.OP:
            depth += tok.string in _OPENING
            depth -= tok.string in _CLOSING and depth > 0
            text = tok.string
        elif tok.type == tokenize.NAME:
            after_dot = bool(kept) and kept[-1].text == "."
            kwarg = depth > 0 and following is not None and following.string == "="
            keep = keyword.iskeyword(tok.string) or tok.string in _BUILTINS or after_dot or kwarg
            text = tok.string if keep else "V"
        elif tok.type == tokenize.NUMBER:
            text = "N"
        elif tok.type == tokenize.STRING:
            text = "S"
        elif tok.type == tokenize.NEWLINE:
            text = ";"
        else:
            text = tok.string
        kept.append(Token(text, tok.start, tok.end))
    return kept


def kgram_hashes(toks: list[Token], k: int = K) -> list[int]:
    """One 64-bit hash per run of ``k`` tokens (none when the file has fewer than ``k``)."""
    texts = [t.text for t in toks]
    return [int.from_bytes(hashlib.blake2b("\x1f".join(texts[i:i + k]).encode(), digest_size=8).digest(), "big")
            for i in range(len(texts) - k + 1)]


def winnow(hashes: list[int], w: int = W) -> list[int]:
    """Robust winnowing: the indexes of the hashes kept, in order (each window's rightmost
    minimum, recorded once while it stays the minimum)."""
    if len(hashes) <= w:
        return [min(range(len(hashes)), key=lambda i: (hashes[i], -i))] if hashes else []
    chosen, current = [], -1
    for end in range(w, len(hashes) + 1):
        start = end - w
        if current < start:
            current = min(range(start, end), key=lambda i: (hashes[i], -i))
            chosen.append(current)
        elif hashes[end - 1] <= hashes[current]:
            current = end - 1
            chosen.append(current)
    return chosen


@dataclass
class Prints:
    """One submission's fingerprints: hash -> every place it starts, ``(file, token index)``."""
    files: dict[str, str]                                  # file name -> source text
    toks: dict[str, list[Token]] = field(default_factory=dict)
    where: dict[int, list[tuple[str, int]]] = field(default_factory=dict)

    @property
    def hashes(self) -> set[int]:
        return set(self.where)


def boilerplate(files: dict[str, str], k: int = K) -> set[int]:
    """Every k-gram hash of the given code (the skeleton's): removed from every submission."""
    return {h for text in files.values() for h in kgram_hashes(tokens(text), k)}


def fingerprints(files: dict[str, str], skip: AbstractSet[int] = frozenset(), k: int = K, w: int = W) -> Prints:
    """The winnowed fingerprints of a submission's files, without those in ``skip``."""
    out = Prints(dict(files))
    for name in sorted(files):
        toks = tokens(files[name])
        out.toks[name] = toks
        hashes = kgram_hashes(toks, k)
        for i in winnow(hashes, w):
            if hashes[i] not in skip:
                out.where.setdefault(hashes[i], []).append((name, i))
    return out


def score(a: Prints, b: Prints) -> float:
    """Jaccard index of the two fingerprint sets; 0 when either side has almost nothing.

    A ratio of two counts of integer token hashes: the same float on every machine, so the
    similarity threshold flags the same pairs everywhere."""
    ha, hb = a.hashes, b.hashes
    if min(len(ha), len(hb)) < MIN_FINGERPRINTS:
        return 0.0
    return len(ha & hb) / len(ha | hb)


def shared_lines(a: Prints, b: Prints, k: int = K) -> tuple[dict[str, list], dict[str, list]]:
    """The regions of each side that the other shares: ``{file: [((line, col), (line, col)), ...]}``
    merged and sorted, from the first token of each shared k-gram to the end of its last."""
    common = a.hashes & b.hashes

    def regions(p: Prints) -> dict[str, list]:
        spans: dict[str, list] = {}
        for h in common:
            for name, i in p.where[h]:
                toks = p.toks[name]
                spans.setdefault(name, []).append((toks[i].start, toks[min(i + k, len(toks)) - 1].end))
        merged = {}
        for name, found in spans.items():
            found.sort()
            out = [list(found[0])]
            for start, end in found[1:]:
                if start <= out[-1][1]:
                    out[-1][1] = max(out[-1][1], end)
                else:
                    out.append([start, end])
            merged[name] = [tuple(s) for s in out]
        return dict(sorted(merged.items()))
    return regions(a), regions(b)


# --- the code kept for the comparison ------------------------------------------------------------

def read_package(package) -> tuple[dict[str, str], list[str]]:
    """``({"lab2/x.py": text}, notes)``: every ``.py`` file of a ``lab2`` folder, capped.

    Sorted by path; ``__pycache__`` and links skipped; text decoded as UTF-8 with replacement
    characters, NUL characters replaced (they are data, not code, and break some viewers).
    """
    package = Path(package)
    files: dict[str, str] = {}
    notes: list[str] = []
    total = 0
    paths = sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts and not p.is_symlink()
                   and p.is_file())
    for path in paths:
        name = f"lab2/{path.relative_to(package).as_posix()}"
        if len(files) >= MAX_FILES:
            notes.append(f"more than {MAX_FILES} Python files: the rest not compared")
            break
        size = path.stat().st_size
        if size > MAX_FILE_BYTES or total + size > MAX_TOTAL_BYTES:
            notes.append(f"{name}: {size} bytes, too large to compare")
            continue
        total += size
        files[name] = path.read_bytes().decode("utf-8", "replace").replace("\0", "\ufffd")
    return files, notes


def save_code(package, folder, archive_sha256: str) -> None:
    """Keep the ``lab2`` package's code in ``folder/code.json`` for the batch's last step, so an
    archive that is up to date next time takes part without being unpacked again."""
    files, notes = read_package(package)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = json.dumps({"archive_sha256": archive_sha256, "files": files, "notes": notes}, ensure_ascii=False)
    fsutil.atomic_write(folder / outdir.CODE_JSON, data)


def load_code(folder, archive_sha256: str) -> dict[str, str] | None:
    """The files saved by ``save_code`` for this archive, or None (missing, another archive's,
    unreadable)."""
    try:
        data = json.loads((Path(folder) / outdir.CODE_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("archive_sha256") != archive_sha256:
        return None
    files = data.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        return None
    return {str(k): v for k, v in files.items()}
