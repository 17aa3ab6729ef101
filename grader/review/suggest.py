"""Suggested merges: answer groups whose right-hand sides a computer algebra check finds equal.

Groups (``grader.review.answers``) are exact after normalisation; two groups that write the
same expression differently (``\\sigma(w^T x+b)`` and ``\\frac{1}{1+e^{-(w^T x+b)}}``) are only
*suggested* to the teacher, who confirms each merge: nothing here changes a grade.

How: the right-hand side of a group's first formula (after its last ``=``) is parsed by
``math-verify`` (LaTeX to SymPy) and evaluated at fixed random values of its symbols; groups
whose values agree at every point are compared once more with ``math_verify.verify``. An
expression that parses to a constant, or to nothing, is never suggested (``math-verify`` reads
what it does not understand, a ``\\sum`` for one, as a bare number, and two such answers would
look alike). math-verify times itself out with signals (main thread only) and takes about 10 ms an
answer, so ``suggestions`` runs before the server starts, and its result is cached in
``OUT/review/suggestions.json`` by the question's groups (``answers.cache_key``).
"""
import cmath
import hashlib
import json
import re
from pathlib import Path

from grader import fsutil
from grader.review.answers import Group, canonical_tex

_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$", re.S)
_POINTS = 3


def right_hand_side(text: str) -> str | None:
    """The first formula of an answer (``$...$``, else the first line with an ``=``), after its last ``=``."""
    m = _MATH.search(text)
    formula = (m.group(1) or m.group(2)) if m else next((ln for ln in text.split("\n") if "=" in ln), None)
    if not formula:
        return None
    rhs = formula.split("=")[-1].strip().strip(".,;")
    return rhs[:500] or None


def _expand_sigmoid(tex: str) -> str:
    """``\\sigma(z)`` (and ``sigmoid(z)``) written out as ``\\frac{1}{1+e^{-(z)}}``: math-verify
    reads ``\\sigma`` as a symbol times ``(z)``, which would never meet the written-out form."""
    out, i = [], 0
    pattern = re.compile(r"\\sigma\s*(?:\\left)?\(|\bsigmoid\s*\(")
    while True:
        m = pattern.search(tex, i)
        if not m:
            out.append(tex[i:])
            return "".join(out)
        depth, j = 1, m.end()
        while j < len(tex) and depth:
            depth += {"(": 1, ")": -1}.get(tex[j], 0)
            j += 1
        if depth:
            out.append(tex[i:])
            return "".join(out)
        inner = re.sub(r"\\right$", "", tex[m.end():j - 1])
        out.append(tex[i:m.start()] + "\\frac{1}{1+e^{-(" + _expand_sigmoid(inner) + ")}}")
        i = j


def _for_parsing(rhs: str) -> str:
    """The spellings made one (``answers.canonical_tex``), then what math-verify would misread
    rewritten: ``yhat`` back to ``\\hat{y}`` (else a product y*h*a*t), and a transpose ``X^T``
    as its own symbol ``X_{T}`` (math-verify drops ``^T``, and ``X^T v`` would equal ``X v``)."""
    tex = canonical_tex(rhs)
    tex = re.sub(r"\b([A-Za-z])hat\b", r"\\hat{\1}", tex)
    return re.sub(r"([A-Za-z])\s*\^\s*T(?![A-Za-z])", r"\1_{T}", tex)


def _parse(rhs: str):
    from math_verify import parse
    try:
        found = parse(f"${_expand_sigmoid(_for_parsing(rhs))}$")
    except Exception:  # noqa: BLE001 - an answer that does not parse is never suggested
        return None
    expr = found[0] if found else None
    if expr is None or not hasattr(expr, "free_symbols") or not expr.free_symbols:
        return None
    return expr


def _values(expr) -> tuple | None:
    """The expression at ``_POINTS`` fixed points (each symbol's value from its name), rounded."""
    out = []
    for point in range(_POINTS):
        subs = {}
        for s in expr.free_symbols:
            h = int(hashlib.sha256(f"{point}:{s}".encode()).hexdigest()[:8], 16)
            subs[s] = 0.3 + (h % 1000) / 1000       # in (0.3, 1.3): logs and roots stay real
        try:
            v = complex(expr.evalf(subs=subs))
        except Exception:  # noqa: BLE001 - matrices, undefined functions: no fingerprint
            return None
        if not (cmath.isfinite(v)):
            return None
        out.append((round(v.real, 8), round(v.imag, 8)))
    return tuple(out)


def suggestions(groups: list[Group]) -> list[tuple[str, str]]:
    """``[(group id, group id)]``: pairs of groups to suggest merging, the first of each pair
    the one listed first."""
    from math_verify import verify
    parsed = {}
    for g in groups:
        rhs = right_hand_side(g.first.text)
        expr = _parse(rhs) if rhs else None
        values = _values(expr) if expr is not None else None
        if expr is not None and values is not None:
            parsed[g.id] = (expr, values, frozenset(str(s) for s in expr.free_symbols))
    by_values: dict = {}
    for gid, (_, values, symbols) in parsed.items():
        by_values.setdefault((values, symbols), []).append(gid)
    pairs = []
    for ids in by_values.values():
        head = ids[0]
        for other in ids[1:]:
            try:
                same = verify(parsed[head][0], parsed[other][0])
            except Exception:  # noqa: BLE001 - when in doubt, do not suggest
                same = False
            if same:
                pairs.append((head, other))
    return pairs


def cached(path: Path, key: str, compute) -> list[tuple[str, str]]:
    """``compute()`` unless ``path`` holds the result for ``key``; the result is written there."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("key") == key:
            return [tuple(p) for p in data["pairs"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    pairs = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    fsutil.atomic_write(path, json.dumps({"key": key, "pairs": pairs}))
    return pairs
