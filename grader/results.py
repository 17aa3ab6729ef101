"""A grade is plain data: ``Report -> QuestionResult -> CheckResult``.

Totals are derived, never stored. Renderers (``grader/render``) read this tree and nothing
else; ``to_dict``/``from_dict`` round-trip it through JSON so batch grading can keep one file
per student and rebuild every output from it.
"""
from dataclasses import asdict, dataclass, field
from enum import StrEnum


class QuestionStatus(StrEnum):
    """How one question went (``QuestionResult.status``), from best to worst. A ``StrEnum``: it
    is written to JSON and compared as the plain string it always was."""
    PASSED = "passed"
    PARTIAL = "partial"
    FAILED = "failed"
    NOT_IMPLEMENTED = "not-implemented"
    ERROR = "error"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    MANUAL = "manual"          # graded by hand only


class RowStatus(StrEnum):
    """How a whole submission went (``Report.status``): the ``status`` column of a batch's
    ``grades.csv``, in the order ``summary.md`` lists them. Not a question's status."""
    GRADED = "graded"
    BAD_ARCHIVE = "bad-archive"        # refused: not an archive, unsafe, too big
    NO_PACKAGE = "no-package"          # no lab2/ package in it
    IMPORT_ERROR = "import-error"
    TIMEOUT = "timeout"
    NO_ARCHIVE = "no-archive"          # a mail without an archive (batch only)
    BAD_MESSAGE = "bad-message"        # a mail that cannot be read (batch only)
    INTERNAL_ERROR = "internal-error"  # the grader's own failure, never the student's zero


@dataclass
class CheckResult:
    """One check of one question: what was called, what came back, what was expected."""
    name: str                  # e.g. "loss: values (public case 2)"
    passed: bool
    points: float
    max_points: float
    message: str = ""          # empty when passed; leads with the function's name otherwise
    hidden: bool = False       # hidden checks are shown to students as counts only
    mistake: str | None = None  # a catalogue id (lab2check.mistakes) when one was recognised
    also: list[str] = field(default_factory=list)  # further independent ids named by the check, after ``mistake``

    @property
    def ids(self) -> list[str]:
        """Every catalogue id the check names, the leading one first."""
        return ([self.mistake] if self.mistake else []) + list(self.also)


@dataclass
class QuestionResult:
    id: str                    # a question id of the contract: q1_1 ... q3_3, report
    title: str
    max_auto: float
    max_manual: float = 0.0
    bonus: bool = False
    status: QuestionStatus = QuestionStatus.PASSED
    summary: str = ""          # the one-line reason shown in tables
    checks: list[CheckResult] = field(default_factory=list)
    manual_points: float | None = None   # None until a teacher gives them (--manual)
    manual_comment: str = ""
    seconds: float = 0.0
    manual_title: str = ""     # the written part, e.g. "expression of y_hat" (from the rubric)
    # What the student's code printed during the question's public checks and trainings (head
    # and tail, bounded); never what it printed on a hidden case, whose inputs it could show.
    printed: str = ""

    def __post_init__(self):
        self.status = QuestionStatus(self.status)   # a string from JSON or a caller; a wrong one raises

    @classmethod
    def of_rubric(cls, qid: str, spec, seconds: float = 0.0) -> "QuestionResult":
        """A question not graded yet, as ``spec`` (its ``rubric.yaml`` entry) describes it."""
        return cls(qid, spec.title, spec.auto, manual_title=spec.manual_title, max_manual=spec.manual,
                   bonus=spec.bonus, seconds=seconds)

    @property
    def auto_points(self) -> float:
        return round(sum(c.points for c in self.checks), 6)

    @property
    def points(self) -> float:
        return round(self.auto_points + (self.manual_points or 0.0), 6)

    @property
    def max_points(self) -> float:
        return self.max_auto + self.max_manual

    @property
    def manual_pending(self) -> bool:
        return self.max_manual > 0 and self.manual_points is None

    @property
    def mistakes(self) -> list[str]:
        return sorted({m for c in self.checks for m in c.ids})

    @property
    def hidden_failed(self) -> int:
        return sum(1 for c in self.checks if c.hidden and not c.passed)


@dataclass
class Report:
    student: str               # "DOE John", or the folder/file name when it cannot be read
    submission: str            # the path or archive file name that was graded
    sandbox: str = ""          # how student code was isolated, e.g. "bubblewrap" or "resource limits only: ..."
    status: RowStatus = RowStatus.GRADED
    questions: list[QuestionResult] = field(default_factory=list)
    total_max: float = 20.0
    penalty: float = 0.0       # e.g. the rubric's naming penalty
    warnings: list[str] = field(default_factory=list)
    # REPORT.md's loss_500 block (None when absent) beside the losses the grader reproduced.
    reported_losses: dict[str, float | None] = field(default_factory=dict)
    # The loss of the parameters the student's train returned, computed by the grader on its
    # grading subset (``grading_examples`` examples): not comparable with REPORT.md's full-set value.
    reproduced_losses: dict[str, float | None] = field(default_factory=dict)
    grading_examples: int = 0
    # The reference's loss on all 60,000 examples (rubric ``full_data_loss``): what REPORT.md is compared with.
    full_data_losses: dict[str, float | None] = field(default_factory=dict)
    # Loss curves for plots: {"single_neuron": {"student": [...], "reference": [...]}, ...}
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    seconds: float = 0.0
    rubric_sha256: str = ""
    error: str = ""            # for internal-error and archive problems: one line
    # Lateness (grader.batch.lateness), set by the batch at every run from the submission's received time.
    lateness: str = ""         # one sentence for the student ("" when no deadline applies)
    late_days: int | None = None
    late_penalty: float = 0.0
    # What each sandboxed child used, in the order of its task list (grader.sandbox.Child.usage):
    # {"processes", "peak_memory_mb", "cpu_seconds", "memory_limit_kills"}; measures, like seconds.
    usage: list[dict] = field(default_factory=list)
    # Q3.1's figure copied beside feedback.md ("figure.png"; grader.submission.figure), "" when none was kept.
    figure_file: str = ""

    def __post_init__(self):
        self.status = RowStatus(self.status)

    def question(self, qid: str) -> QuestionResult:
        return next(q for q in self.questions if q.id == qid)

    @property
    def auto_total(self) -> float:
        return round(sum(q.auto_points for q in self.questions if not q.bonus), 6)

    @property
    def manual_total(self) -> float:
        return round(sum(q.manual_points or 0.0 for q in self.questions if not q.bonus), 6)

    @property
    def bonus(self) -> float:
        return round(sum(q.points for q in self.questions if q.bonus), 6)

    @property
    def manual_pending(self) -> bool:
        return any(q.manual_pending for q in self.questions if not q.bonus)

    @property
    def total(self) -> float:
        """Out of ``total_max``, bonus excluded; hand-graded points count once given."""
        return round(max(0.0, self.auto_total + self.manual_total - self.penalty - self.late_penalty), 6)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Report":
        data = dict(data)
        questions = []
        for q in data.pop("questions", []):
            q = dict(q)
            q["checks"] = [CheckResult(**c) for c in q.get("checks", [])]
            questions.append(QuestionResult(**q))
        return cls(questions=questions, **data)
