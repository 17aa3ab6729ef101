"""Load ``rubric.yaml`` into typed, validated objects.

Every number a teacher may change lives in the rubric; nothing else in the grader hard-codes
points, tolerances, thresholds, learning rates, subset sizes or limits. A bad rubric raises
``UsageError`` with one line naming the offending key.
"""
import hashlib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from grader import RUBRIC, read_input
from grader.errors import UsageError
from lab2check import questions
from lab2check.checks import Tolerances


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Data(_Strict):
    dtype: Literal["float32", "float64"] = "float32"
    train_subset: int = Field(2000, ge=10, le=60000)
    test_subset: int = Field(10000, ge=10, le=10000)
    digit: int = Field(0, ge=0, le=9)
    bonus_digit: int = Field(3, ge=0, le=9)


class Model(_Strict):
    lr: float = Field(gt=0)
    max_loss: float = Field(gt=0)
    min_test_accuracy: float = Field(ge=0, le=1)
    # The reference's loss after 500 epochs on all 60,000 training examples at this lr (`make
    # reference`): what a REPORT.md value, computed on the full set as the lab asks, is compared with.
    full_data_loss: float | None = Field(None, gt=0)


class Training(_Strict):
    epochs: int = Field(500, ge=1)
    trajectory_epochs: int = Field(10, ge=1)
    trajectory_rtol: float = Field(1e-3, gt=0)
    diverge_factor: float = Field(10.0, gt=1)
    diverge_window: int = Field(50, ge=1)   # epochs in a row above diverge_factor x the first loss
    init_seed: int = 0
    models: dict[str, Model]  # one per model of the registry (lab2check.questions.models())

    @model_validator(mode="after")
    def _all_models(self):
        known = questions.models()
        unknown = set(self.models) - set(known)
        if unknown:
            raise ValueError(f"training.models has unknown models {sorted(unknown)} (known: {', '.join(known)})")
        missing = set(known) - set(self.models)
        if missing:
            raise ValueError(f"training.models is missing {sorted(missing)}")
        if self.trajectory_epochs > self.epochs:
            raise ValueError("training.trajectory_epochs is larger than training.epochs")
        return self


class _ToleranceRules(_Strict):
    """What the ``tolerances`` section may hold. Only a check: the rubric keeps lab2check's own
    ``Tolerances`` (one type for the concept; lab2check ships to students, without pydantic)."""
    rtol: float = Field(Tolerances.rtol, gt=0)
    atol: float = Field(Tolerances.atol, ge=0)
    float32_rtol: float = Field(Tolerances.float32_rtol, gt=0)
    gradcheck_rel_error: float = Field(Tolerances.gradcheck_rel_error, gt=0)
    own_loss_credit: float = Field(Tolerances.own_loss_credit, ge=0, le=1)
    purity_share: float = Field(Tolerances.purity_share, ge=0, le=1)


class Hidden(_Strict):
    # Below 2**31: students seed np.random.seed (which wants < 2**32) with values derived from them.
    # The graded unit cases are these seeds' (the public ones teach, their answers ship): one at least.
    seeds: list[Annotated[int, Field(ge=0, lt=2**31)]] = Field(default_factory=lambda: [1807401750, 741647387,
                                                                                      1306043664], min_length=1)


class Limits(_Strict):
    import_seconds: float = Field(20, gt=0)
    call_seconds: float = Field(20, gt=0)
    train_seconds: float = Field(180, gt=0)   # CPU time of one training request
    wall_factor: float = Field(4, ge=1)       # wall-clock backstop: this many times a request's CPU limit
    memory_mb: int = Field(3072, ge=512)
    processes: int = Field(32, ge=4)
    file_size_mb: int = Field(16, ge=1)
    output_kb: int = Field(32, ge=1)
    max_array_mb: int = Field(64, ge=1)


class Archive(_Strict):
    max_members: int = Field(2000, ge=1)
    max_member_mb: float = Field(50, gt=0)
    max_total_mb: float = Field(200, gt=0)
    max_ratio: float = Field(200, gt=1)


class Similarity(_Strict):
    """The near-duplicate report of a batch (``grader.batch.similarity.near_duplicates``): a flag, never points."""
    threshold: float = Field(0.4, gt=0, le=1)   # a pair at or above this Jaccard score is flagged
    kgram: int = Field(13, ge=3, le=100)        # tokens per k-gram: shorter shared runs never count
    window: int = Field(6, ge=1, le=100)        # winnowing window: runs of kgram + window - 1 always count
    top_pairs: int = Field(20, ge=0, le=1000)   # unflagged pairs shown too, highest first


class LatePolicy(_Strict):
    per_started_day: float = Field(0.0, ge=0)   # points taken per started 24 h after the deadline
    max_days: int | None = Field(None, ge=1)    # the penalty stops growing after this many days
    grace_minutes: float = Field(0.0, ge=0)     # mail servers and clocks: this late still counts as on time


class Lateness(_Strict):
    """Deadlines per group (the word after ``DLCV-`` in a mail's subject, Moodle's group name),
    lower-cased; ``default`` for every other group and for submissions without one. No
    deadline at all (the default): nothing is late."""
    deadlines: dict[str, AwareDatetime] = Field(default_factory=dict)
    default: AwareDatetime | None = None
    policy: LatePolicy = LatePolicy()
    # Moodle writes times without a zone (the worksheet's dates, the zip's file times): they
    # are read in this IANA zone.
    timezone: str = "UTC"

    @field_validator("deadlines")
    @classmethod
    def _lower_groups(cls, value: dict[str, datetime]) -> dict[str, datetime]:
        lowered = {k.strip().lower(): v for k, v in value.items()}
        if len(lowered) != len(value):
            raise ValueError("two groups differ only in case")
        return lowered

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Paris)") from None
        return value


class Question(_Strict):
    auto: float = Field(0.0, ge=0)
    manual: float = Field(0.0, ge=0)
    bonus: bool = False
    title: str = ""
    manual_title: str = ""


class Rubric(_Strict):
    version: Literal[1] = 1
    total: float = Field(20, gt=0)
    data: Data = Data()
    training: Training
    tolerances: Tolerances = Field(default_factory=Tolerances)   # lab2check.checks.Tolerances
    hidden: Hidden = Hidden()
    limits: Limits = Limits()
    archive: Archive = Archive()
    naming_penalty: float = Field(0.0, ge=0)
    similarity: Similarity = Similarity()
    lateness: Lateness = Lateness()
    questions: dict[str, Question]
    # Filled by load(): the sha256 of the file's bytes, part of every cache key.
    sha256: str = ""

    @field_validator("tolerances", mode="before")
    @classmethod
    def _tolerances(cls, value):
        if isinstance(value, Tolerances):
            return value
        return Tolerances(**_ToleranceRules.model_validate(value or {}).model_dump())

    @model_validator(mode="after")
    def _points_add_up(self):
        ids = questions.ids()
        unknown = set(self.questions) - set(ids)
        if unknown:
            raise ValueError(f"unknown question ids {sorted(unknown)} (known: {', '.join(ids)})")
        missing = set(ids) - set(self.questions)
        if missing:
            raise ValueError(f"questions is missing {sorted(missing)}")
        points = sum(q.auto + q.manual for q in self.questions.values() if not q.bonus)
        if abs(points - self.total) > 1e-9:
            raise ValueError(f"the non-bonus questions add up to {points:g} points, not total={self.total:g}")
        return self

    def model(self, name):
        return self.training.models[name]


def load(path=RUBRIC) -> Rubric:
    """Read and validate a rubric file; ``UsageError`` with one line on any problem."""
    path = Path(path)
    raw = read_input(path, "the rubric")
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" at line {where.line + 1}" if where else ""
        raise UsageError(f"rubric {path} is not valid YAML{at}") from None
    if not isinstance(data, dict):
        raise UsageError(f"rubric {path} must be a YAML mapping")
    data.pop("sha256", None)
    try:
        return Rubric(**data, sha256=hashlib.sha256(raw).hexdigest())
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise UsageError(f"rubric {path}: {where}: {first['msg']}") from None


# --- rubric items for the written parts (grader.review) -----------------------------------------

ITEMS_FILE = "rubric_items.yaml"   # beside the rubric: items do not change the rubric's hash (no regrading)


class RubricItem(_Strict):
    """One rubric item of a written part: applied to an answer, it adds ``points`` (negative:
    takes them away); the written part's hand points are the applied items' sum, kept within
    0 and the part's maximum."""
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")   # what grades refer to: stable across edits
    points: float
    text: str = Field(min_length=1, max_length=300)


class RubricItems(_Strict):
    version: Literal[1] = 1
    questions: dict[str, list[RubricItem]] = Field(default_factory=dict)

    @field_validator("questions")
    @classmethod
    def _unique_ids(cls, value):
        for qid, items in value.items():
            seen = [i.id for i in items]
            twice = sorted({i for i in seen if seen.count(i) > 1})
            if twice:
                raise ValueError(f"{qid}: item id {twice[0]!r} given twice")
        return value

    def check_against(self, rubric: Rubric, where: str) -> None:
        """Every question is one with a written part, every item within its points."""
        for qid, items in self.questions.items():
            spec = rubric.questions.get(qid)
            if spec is None or spec.manual <= 0:
                raise UsageError(f"rubric items {where}: {qid} has no written part graded by hand")
            for item in items:
                if abs(item.points) > spec.manual + 1e-9:
                    raise UsageError(f"rubric items {where}: {qid}.{item.id}: {item.points:g} points, more than "
                                     f"the written part's {spec.manual:g}")


def items_path(rubric_path=RUBRIC) -> Path:
    return Path(rubric_path).with_name(ITEMS_FILE)


def load_items(path, rubric: Rubric) -> RubricItems:
    """The rubric items file (``rubric_items.yaml``), validated against ``rubric``; a missing
    file is no items. ``UsageError`` with one line on any problem."""
    path = Path(path)
    if not path.exists():
        return RubricItems()
    try:
        data = yaml.safe_load(read_input(path, "the rubric items"))
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        raise UsageError(f"rubric items {path} is not valid YAML" + (f" at line {where.line + 1}" if where else "")) \
            from None
    try:
        items = RubricItems(**(data or {}))
    except (ValidationError, TypeError) as err:
        if isinstance(err, TypeError):
            raise UsageError(f"rubric items {path} must be a YAML mapping") from None
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise UsageError(f"rubric items {path}: {where}: {first['msg']}") from None
    items.check_against(rubric, str(path))
    return items


def dump_items(items: RubricItems) -> str:
    """The file's text: one line per item, the way a teacher edits it by hand."""
    lines = ["# Rubric items of the written parts (grader/review, validated by grader/rubric.py).",
             "# The hand points of an answer are the sum of its applied items, within 0 and the part's maximum;",
             "# grades refer to items by id: change points and text freely, keep the id.",
             "version: 1", "questions:"]
    for qid, qitems in items.questions.items():
        lines.append(f"  {qid}:")
        for item in qitems:
            lines.append(f"    - {{id: {item.id}, points: {item.points:g}, text: {_yaml_str(item.text)}}}")
    return "\n".join(lines) + "\n"


def _yaml_str(text: str) -> str:
    return yaml.safe_dump(text, default_style='"', width=10**6).strip().removesuffix("...").strip()
