"""The class's near-duplicate report: who is compared with whom, which pairs are flagged.

What it is for: the batch's last step (after every archive is graded) and its Python API. It
gathers the entries (each graded student's ``lab2/`` code, kept by the worker in
``students/<key>/code.json``; the reference solution; with ``--compare-with``, earlier years'
submissions), scores every pair that holds at least one of this year's students
(``grader.batch.similarity.near_duplicates``), flags the pairs at or above ``rubric.similarity.threshold``, and
writes ``similarity.html`` (``grader.render.similarity_html``). What it is not: a grade. A flag
only names, in ``grades.csv``'s ``similar_to``, the other side of each flagged pair; no point changes.

Choices where the issue is silent:
- the reference and earlier years' entries are compared with this year's students only, never
  with each other; an earlier entry is named ``earlier:<file or folder name>``, the reference
  ``reference``, a student by its folder key under ``students/``;
- an archive refused before grading (``bad-archive``, ``no-package``) has no code and takes no
  part; a student who left the skeleton as it was scores 0 with everyone (nothing of theirs);
- an up-to-date student folder from before this report existed (no ``code.json``) is unpacked
  again here, once, under the rubric's archive caps;
- an earlier entry that cannot be read (a broken archive, no ``lab2``) is left out with a note
  in ``summary.md``; a ``--compare-with`` path that is not a folder stops the batch before any
  grading (exit 2);
- a class where many share one base (a leaked solution, last year's) gives a flagged pair for
  every two of them: hundreds of rows that say one thing. Entries joined by flagged pairs form a
  *cluster* (three or more); similarity.html names each cluster once, with the member closest
  to all the others (the likely base), and lists only the flagged pairs that join its members
  most closely (a maximum spanning tree: each member beside the one it shares most with, ties
  towards that centre), the cluster's other pairs counted, not listed. ``similar_to`` still
  names every flagged pair.
"""
import itertools
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from grader import PROJECT, REFERENCE, fsutil
from grader.batch.outdir import OutDir
from grader.batch.similarity import near_duplicates as nd
from grader.errors import UsageError
from grader.results import RowStatus
from grader.rubric import Rubric

SKELETON = PROJECT / "skeleton" / "lab2"
NOT_COMPARED = (RowStatus.BAD_ARCHIVE, RowStatus.NO_PACKAGE)


@dataclass
class Entry:
    """One side of a comparison."""
    key: str                   # the name a flag uses: a student's key, "reference", "earlier:<name>"
    role: str                  # "student", "reference" or "earlier"
    label: str                 # how the report shows it ("DOE John", a file name)
    files: dict[str, str]      # "lab2/x.py" -> source text
    prints: nd.Prints | None = None


@dataclass
class Pair:
    a: Entry
    b: Entry
    score: float
    flagged: bool

    @property
    def keys(self) -> tuple[str, str]:
        return self.a.key, self.b.key


@dataclass
class Cluster:
    """Three or more entries joined by flagged pairs (a connected component of the flags)."""
    members: list[Entry]       # sorted by key
    centre: Entry              # the highest mean score to the other members (ties: the smaller key)
    mean: float                # the centre's mean score to the other members
    pairs: list[Pair]          # every flagged pair within, highest first
    spanning: list[Pair]       # len(members) - 1 of them that join every member most closely

    @property
    def scores(self) -> tuple[float, float]:
        """The lowest and highest flagged score within."""
        return min(p.score for p in self.pairs), max(p.score for p in self.pairs)


def _root(parent: dict[str, str], k: str) -> str:
    """Union-find: the representative of ``k``'s set."""
    while parent.setdefault(k, k) != k:
        parent[k] = parent[parent[k]]
        k = parent[k]
    return k


def _join(parent: dict[str, str], p: Pair) -> bool:
    """Join the sets of ``p``'s two sides; False when they were one already."""
    ra, rb = _root(parent, p.a.key), _root(parent, p.b.key)
    parent[ra] = rb
    return ra != rb


def _clusters(pairs: list[Pair]) -> list[Cluster]:
    """The clusters of the flagged ``pairs`` (sorted highest first), largest first."""
    flagged = [p for p in pairs if p.flagged]
    parent: dict[str, str] = {}
    for p in flagged:
        _join(parent, p)
    groups: dict[str, dict[str, Entry]] = {}
    for p in flagged:
        groups.setdefault(_root(parent, p.a.key), {}).update({p.a.key: p.a, p.b.key: p.b})
    score = {frozenset(p.keys): p.score for p in pairs}
    out = []
    for members in groups.values():
        if len(members) < 3:
            continue
        keys = sorted(members)
        mean = {k: sum(score.get(frozenset((k, o)), 0.0) for o in keys if o != k) / (len(keys) - 1) for k in keys}
        centre = min(keys, key=lambda k: (-mean[k], k))
        inside = [p for p in flagged if p.a.key in members]
        # Kruskal, highest score first; among equal scores, the pairs with the centre first.
        joined: dict[str, str] = {}
        spanning = [p for p in sorted(inside, key=lambda p: (-p.score, centre not in p.keys, p.a.key, p.b.key))
                    if _join(joined, p)]
        out.append(Cluster([members[k] for k in keys], members[centre], mean[centre], inside, spanning))
    return sorted(out, key=lambda c: (-len(c.members), c.members[0].key))


@dataclass
class Result:
    """Every scored pair, highest first, and each student's flags."""
    threshold: float
    kgram: int
    pairs: list[Pair]
    students: int                                    # this year's students compared
    others: list[Entry] = field(default_factory=list)   # the reference and earlier entries
    flags: dict[str, list[str]] = field(default_factory=dict)   # student key -> other keys, sorted
    notes: list[str] = field(default_factory=list)
    top_pairs: int = 20

    @property
    def flagged(self) -> list[Pair]:
        return [p for p in self.pairs if p.flagged]

    @cached_property
    def clusters(self) -> list[Cluster]:
        return _clusters(self.pairs)

    def cluster_of(self) -> dict[str, int]:
        """Each clustered entry's key -> its cluster's number (1, 2, ... as ``clusters`` orders them)."""
        return {e.key: i for i, c in enumerate(self.clusters, 1) for e in c.members}

    @property
    def shown(self) -> list[Pair]:
        """The pairs similarity.html lists and details: every flagged one outside a cluster and
        each cluster's spanning pairs, highest first; then the highest others (``top_pairs`` of
        them), leaving out pairs that share nothing and pairs within one cluster."""
        clusters = self.clusters
        within = {id(p) for c in clusters for p in c.pairs}
        spanning = {id(p) for c in clusters for p in c.spanning}
        where = self.cluster_of()
        flagged = [p for p in self.pairs if p.flagged and (id(p) not in within or id(p) in spanning)]
        rest = [p for p in self.pairs if not p.flagged and p.score > 0
                and not (p.a.key in where and where.get(p.a.key) == where.get(p.b.key))][:self.top_pairs]
        return flagged + rest


def _package_files(lab2: Path) -> dict[str, str]:
    return nd.read_package(lab2)[0] if lab2.is_dir() else {}


def skeleton_files() -> dict[str, str]:
    return _package_files(SKELETON)


def reference_entry() -> Entry:
    return Entry("reference", "reference", "the reference solution", _package_files(REFERENCE / "lab2"))


def flag_name(text: str) -> str:
    """A name fit for a ``;``-separated CSV cell: no separator, no control character."""
    return re.sub(r"[;\x00-\x1f\x7f]", "_", text)


def compare(entries: list[Entry], settings, skeleton: dict[str, str] | None = None) -> Result:
    """Score every pair holding at least one student; ``settings`` is ``rubric.similarity``.

    Pure: reads nothing but ``skeleton`` (the kit's code, taken out of everyone's; default: the
    project's ``skeleton/lab2``). Pairs sorted by score, highest first, then by keys.
    """
    skeleton = skeleton_files() if skeleton is None else skeleton
    skip = nd.boilerplate(skeleton, settings.kgram)
    for e in entries:
        e.prints = nd.fingerprints(e.files, skip, settings.kgram, settings.window)
    students = [e for e in entries if e.role == "student"]
    pairs = []
    for a, b in itertools.combinations(entries, 2):
        if a.role != "student" and b.role != "student":
            continue
        if a.role != "student" or (b.role == "student" and b.key < a.key):
            a, b = b, a          # a student on the left, the smaller key when both are
        assert a.prints is not None and b.prints is not None   # set for every entry above
        s = nd.score(a.prints, b.prints)
        pairs.append(Pair(a, b, s, s >= settings.threshold))
    pairs.sort(key=lambda p: (-p.score, p.a.key, p.b.key))
    flags: dict[str, set] = {}
    for p in pairs:
        if p.flagged:
            for x, y in ((p.a, p.b), (p.b, p.a)):
                if x.role == "student":
                    flags.setdefault(x.key, set()).add(flag_name(y.key))
    return Result(settings.threshold, settings.kgram, pairs, len(students),
                  [e for e in entries if e.role != "student"], {k: sorted(v) for k, v in sorted(flags.items())},
                  top_pairs=settings.top_pairs)


# --- the batch's step ---------------------------------------------------------------------------

def _unpack(path: Path, rubric: Rubric, work: Path) -> dict[str, str]:
    """The ``lab2`` code of an archive or a folder; ``UsageError`` (one line) when there is none."""
    from grader.submission.archive import extract
    from grader.submission.locate import find_package
    if path.is_dir() and not path.is_symlink():
        return nd.read_package(find_package(path).package)[0]
    tmp = Path(tempfile.mkdtemp(prefix="similarity-", dir=work))
    try:
        unpacked = extract(path, tmp / "unpacked", rubric.archive)
        return nd.read_package(find_package(unpacked.root).package)[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_compare_with(folder) -> Path | None:
    """``--compare-with``'s folder, checked before any grading."""
    if folder is None:
        return None
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"--compare-with {folder}: no such folder of earlier submissions")
    return folder


def earlier_entries(folder: Path, rubric: Rubric, work: Path) -> tuple[list[Entry], list[str]]:
    """One entry per archive or folder of ``folder`` (hidden names skipped), and notes for those
    that could not be read."""
    entries, notes = [], []
    for path in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        try:
            files = _unpack(path, rubric, work)
        except (UsageError, OSError) as err:
            notes.append(f"--compare-with: {path.name} left out: {err}")
            continue
        entries.append(Entry(f"earlier:{path.name}", "earlier", path.name, files))
    return entries, notes


def for_batch(rows, out: Path, source: Path, rubric: Rubric, compare_with: Path | None = None) -> Result:
    """Compare the batch's students (``rows``: ``grader.batch.rows.Row``), set each row's
    ``similar_to``, write ``out/similarity.html``; returns the result for ``summary.md``."""
    from grader.render.similarity_html import render
    layout = OutDir(out)
    work = layout.work_similarity
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700, parents=True)
    try:
        entries, notes = [], []
        for row in sorted(rows, key=lambda r: r.key):
            if row.status in NOT_COMPARED:
                continue
            files = nd.load_code(layout.student(row.key), row.sha256)
            if files is None:
                try:
                    files = _unpack(source / row.file, rubric, work)
                except (UsageError, OSError):
                    continue        # the grading already said what is wrong with this archive
            name = f"{row.last} {row.first}".strip() or row.file
            entries.append(Entry(row.key, "student", name, files))
        entries.append(reference_entry())
        if compare_with is not None:
            earlier, more = earlier_entries(compare_with, rubric, work)
            entries += earlier
            notes += more
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = compare(entries, rubric.similarity)
    result.notes = notes
    for row in rows:
        row.similar_to = result.flags.get(row.key, [])
    _write(layout.similarity_html, render(result))
    return result


def _write(path: Path, text: str) -> None:
    """Atomically, and not at all when the file already holds these bytes (a re-run that changes
    nothing rewrites nothing)."""
    fsutil.atomic_write(path, text, if_changed=True)
