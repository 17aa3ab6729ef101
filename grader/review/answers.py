"""Every student's answer to each written question, read from the batch's output.

A batch keeps, in ``OUT/students/<key>/``, the student's ``REPORT.md`` (``grader.submission.figure.keep_report``),
``figure.<ext>`` (Q3.1's image, ``grader.submission.figure.keep``), ``report.json`` and ``archive.json``
(the marker of a complete folder). ``load_class`` reads them into ``Answer`` objects, one per
student and written question (the rubric's questions with ``manual`` points):

- the answer is the REPORT.md section whose heading names the question (``### Q1.2: ...``,
  ``## q1_2``, ``Question 1.2``), up to the next heading of the same or a higher level, without
  the template's own lines (the prompt students leave in place, ``> your answer``);
- ``sha`` is the sha256 of that text: a resubmission that changes it changes ``sha``, and a grade
  given to the old one is marked for regrading (``grader.review.gradebook``);
- ``group`` is the sha256 of the answer after ``normalise``: answers equal but for spacing,
  ``\\left``/``\\right``, braces around one symbol, ``\\hat y``/``\\hat{y}``/``y_hat``, ``\\ln``/``\\log``,
  ``^T``/``^\\top``, dollar signs and quote marks form one group, graded once.

Answers are at most ``MAX_CHARS`` characters (the rest is cut, and the answer says so). Nothing
here renders or trusts the text: that is ``grader.review.render``'s job.
"""
import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from grader import PROJECT
from grader.batch import outdir
from grader.batch.outdir import REPORT_MD, OutDir
from grader.render import neutralise as N
from grader.rubric import Rubric
from grader.submission.figure import NAMES as FIGURE_NAMES

MAX_CHARS = 20_000
CACHE_VERSION = 1    # of the grouping and the suggestions: a change here recomputes the cached suggestions
TEMPLATE = PROJECT / "skeleton" / "REPORT.md"
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*)$")
_QUESTION = re.compile(r"\b(?:q(?:uestion)?\s*)(\d)\s*[._\-,]\s*(\d)\b", re.I)


@dataclass
class Answer:
    """One student's answer to one written question."""
    key: str               # the student's folder under OUT/students
    question: str          # q1_2 ...
    text: str              # the REPORT.md section, template lines taken out ("" when none)
    name: str              # "DOE John", shown only when the teacher asks
    sha: str = ""          # sha256 of text: changes with the answer
    group: str = ""        # sha256 of normalise(text): one group per normalised answer
    figure: str = ""       # figure.<ext> in the student's folder (figure questions only)
    has_report: bool = True
    truncated: bool = False

    def __post_init__(self):
        self.sha = self.sha or hashlib.sha256(self.text.encode("utf-8", "surrogatepass")).hexdigest()
        self.group = self.group or hashlib.sha256(normalise(self.text).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Student:
    key: str
    name: str
    report: dict = field(repr=False, default_factory=dict)    # report.json as read


def _question_of(heading: str) -> str | None:
    m = _QUESTION.search(heading)
    return f"q{m.group(1)}_{m.group(2)}" if m else None


def sections(text: str) -> dict[str, str]:
    """``{question id: section text}`` of a REPORT.md, the first section of each question kept."""
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found: dict[str, str] = {}
    i, fence = 0, ""
    heads = []   # (line index, level, question or None), outside fenced blocks
    for n, line in enumerate(lines):
        stripped = line.strip()
        if fence:
            if stripped.startswith(fence) and not stripped.strip(fence[0]):
                fence = ""
            continue
        if stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            continue
        m = _HEADING.match(line)
        if m:
            heads.append((n, len(m.group(1)), _question_of(m.group(2))))
    for i, (start, level, qid) in enumerate(heads):
        if qid is None or qid in found:
            continue
        end = next((s for s, lv, _ in heads[i + 1:] if lv <= level), len(lines))
        found[qid] = "\n".join(lines[start + 1:end])
    return found


def _template_lines() -> dict[str, set[str]]:
    try:
        text = TEMPLATE.read_text(encoding="utf-8")
    except OSError:
        return {}
    return {q: {ln.strip() for ln in body.split("\n") if ln.strip()} for q, body in sections(text).items()}


_TEMPLATE = None


def answer_text(section: str, qid: str) -> str:
    """The section without the template's lines, outer blank lines removed."""
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = _template_lines()
    template = _TEMPLATE.get(qid, set()) | {"> your answer"}
    kept = [ln for ln in section.split("\n") if ln.strip() not in template]
    return "\n".join(kept).strip("\n")


# --- normalisation: what two answers may differ by and still be one group -------------------------

_RULES = [
    (re.compile(r"\\(?:left|right|big|Big|bigg|Bigg)(?![a-zA-Z])"), ""),
    (re.compile(r"\\(?:displaystyle|textstyle)(?![a-zA-Z])"), ""),
    (re.compile(r"\\[,;:! ]"), ""),                   # LaTeX spacing
    (re.compile(r"\\(?:d|t)frac(?![a-zA-Z])"), r"\\frac"),
    (re.compile(r"\\ln(?![a-zA-Z])"), r"\\log"),
    (re.compile(r"\\(?:top|intercal)(?![a-zA-Z])"), "T"),
    (re.compile(r"\\(?:hat|widehat)\s*\{\s*([A-Za-z])\s*\}"), r"\1hat"),
    (re.compile(r"\\(?:hat|widehat)\s*([A-Za-z])"), r"\1hat"),
    (re.compile(r"\b([A-Za-z])_\{?hat\}?"), r"\1hat"),   # y_hat, y_{hat}
    (re.compile(r"\{\s*([A-Za-z0-9])\s*\}"), r"\1"),     # braces around one symbol
    (re.compile(r"\{\s*([A-Za-z0-9])\s*\}"), r"\1"),     # (nested: {{T}})
]


def normalise(text: str) -> str:
    """The answer as compared for grouping: only differences that cannot change its meaning
    are removed (case, digits, operators and the order of terms are kept)."""
    lines = []
    for line in text.replace("\r", "").split("\n"):
        line = re.sub(r"^\s*(?:>\s*)+", "", line)      # quoted answers
        lines.append(line)
    return re.sub(r"\s+", "", canonical_tex("\n".join(lines).replace("$", "")))


def canonical_tex(text: str) -> str:
    """``_RULES`` applied: the spellings of one formula made one (spaces kept)."""
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    return text


# --- the class ------------------------------------------------------------------------------------

def manual_questions(rubric: Rubric) -> list[str]:
    """The written questions, in the rubric's order."""
    return [qid for qid, spec in rubric.questions.items() if spec.manual > 0]


def _read_json(path: Path):
    return N.json_loads(path.read_text(encoding="utf-8"))


def load_students(out) -> list[Student]:
    """Every complete student folder (``archive.json`` present) whose grading has questions,
    sorted by key."""
    students = []
    for folder in OutDir(out).student_folders():
        try:
            meta = _read_json(folder / outdir.ARCHIVE_JSON)
            report = _read_json(folder / outdir.REPORT_JSON)
        except (OSError, ValueError):
            continue
        if not report.get("questions"):
            continue        # refused, no package, the grader's failure: nothing to grade by hand
        name = f"{meta.get('last_name', '')} {meta.get('first_name', '')}".strip() or str(report.get("student", ""))
        students.append(Student(folder.name, N.line(name) or folder.name, report))
    return students


def load_class(out, rubric: Rubric) -> dict[str, list[Answer]]:
    """``{question: [Answer]}`` for every written question, students in key order."""
    out = Path(out)
    qids = manual_questions(rubric)
    by_q: dict[str, list[Answer]] = {q: [] for q in qids}
    from lab2check import questions as registry
    for student in load_students(out):
        folder = OutDir(out).student(student.key)
        try:
            raw = (folder / REPORT_MD).read_text(encoding="utf-8", errors="replace")
            has_report = True
        except OSError:
            raw, has_report = "", False
        found = sections(N.text(raw))
        figure = next((n for n in FIGURE_NAMES if (folder / n).is_file()), "")
        present = {q.get("id") for q in student.report.get("questions", [])}
        for qid in qids:
            if qid not in present:
                continue
            text = answer_text(found.get(qid, ""), qid)
            truncated = len(text) > MAX_CHARS
            by_q[qid].append(Answer(student.key, qid, text[:MAX_CHARS], student.name,
                                    figure=figure if registry.get(qid).figure else "",
                                    has_report=has_report, truncated=truncated))
    return by_q


def shuffled(answers: list[Answer], salt: str) -> list[Answer]:
    """A stable shuffle: the same for every session of one gradebook (``salt``), no
    alphabetical bias (the order of the sha256 of salt, question and key)."""
    return sorted(answers, key=lambda a: hashlib.sha256(f"{salt}\0{a.question}\0{a.key}".encode()).hexdigest())


@dataclass
class Group:
    """Answers equal after ``normalise``; ``members`` in the shuffled order."""
    id: str
    members: list[Answer]

    @property
    def first(self) -> Answer:
        return self.members[0]


def groups(answers: list[Answer], salt: str) -> list[Group]:
    """The question's groups, in the shuffled order of their first member."""
    out: dict[str, Group] = {}
    for a in shuffled(answers, salt):
        out.setdefault(a.group, Group(a.group, [])).members.append(a)
    return list(out.values())


def random_salt() -> str:
    return f"{random.SystemRandom().getrandbits(64):016x}"


def cache_key(answers: list[Answer]) -> str:
    """What a question's cached suggestions depend on: its groups' normalised texts."""
    return hashlib.sha256(json.dumps([CACHE_VERSION, sorted({a.group for a in answers})]).encode()).hexdigest()
