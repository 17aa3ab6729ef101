"""What every renderer says the same way: points, totals, hand-graded parts, losses, errors.

The terminal, Markdown and Gradescope renderers differ in layout only; the sentences and the
numbers come from here so the three never disagree. Everything reads a ``Report`` and returns
strings or plain tuples.
"""
import math

from grader.results import CheckResult, QuestionResult, QuestionStatus, Report, RowStatus
from lab2check import questions

# REPORT.md's losses are the student's run on all 60,000 training examples (as the lab asks); the
# grader trains on its subset, whose losses are several times smaller, so the two are shown side
# by side but never compared. A reported value is flagged only against a comparable figure, the
# reference's own full-data loss (rubric ``full_data_loss``), and only when it is further than
# this factor from it: the student's run may use another seed, float32 or another learning rate,
# which moves the loss by tens of percent; what we want to catch is a copied value, a loss from
# another epoch or another model, a typo.
LOSS_FACTOR = 2.5

GRADER_ERROR = "GRADER ERROR (not the student's fault)"


def pts(x: float | None) -> str:
    """Points as a teacher writes them: 1, 1.5, 0.25 (two decimals at most, no trailing zeros)."""
    if x is None:
        return "-"
    return f"{round(float(x), 2) + 0.0:g}"  # + 0.0 turns -0.0 into 0.0


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def sandbox_line(report: Report) -> str:
    """The first line of every output: how the student's code was isolated."""
    return f"Sandbox: {report.sandbox or '(not recorded)'}"


def is_internal_error(report: Report) -> bool:
    return report.status == RowStatus.INTERNAL_ERROR


def grader_error_line(report: Report) -> str:
    return f"{GRADER_ERROR}: {report.error or 'no detail recorded'}"


def status_line(report: Report) -> str | None:
    """One line for a submission that could not be graded normally (bad archive, ...), else None."""
    if report.status in (RowStatus.GRADED, RowStatus.INTERNAL_ERROR):
        return None
    return f"Not graded normally: {report.status}" + (f": {report.error}" if report.error else "")


def manual_title(q: QuestionResult) -> str:
    """What the written part asks for ("expression of y_hat"), or "written part"."""
    # QuestionResult has no manual_title field yet (the rubric has one); read it when it exists.
    return getattr(q, "manual_title", "") or "written part"


def question_name(q: QuestionResult) -> str:
    """'q1_1 sigmoid', 'q2_3 another digit (bonus)': the bonus marked once."""
    name = f"{q.id} {q.title}".strip()
    return name if not q.bonus or "bonus" in q.title.lower() else f"{name} (bonus)"


def points_word(x: float) -> str:
    return f"{pts(x)} pt" + ("" if x == 1 else "s")


def written_parts(report: Report) -> list[QuestionResult]:
    return [q for q in report.questions if q.max_manual > 0]


def pending_written(report: Report) -> list[QuestionResult]:
    return [q for q in written_parts(report) if q.manual_pending]


def pending_written_line(report: Report) -> str | None:
    """'Written parts are graded by hand: q1_2 expression of y_hat (1 pt), ...' or None."""
    pending = pending_written(report)
    if not pending:
        return None
    items = [f"{q.id} {manual_title(q)} ({points_word(q.max_manual)}" + (", bonus)" if q.bonus else ")")
             for q in pending]
    return "Written parts are graded by hand (pending): " + ", ".join(items)


def max_auto(report: Report) -> float:
    return round(sum(q.max_auto for q in report.questions if not q.bonus), 6)


def max_manual(report: Report) -> float:
    return round(sum(q.max_manual for q in report.questions if not q.bonus), 6)


def max_bonus(report: Report) -> float:
    return round(sum(q.max_points for q in report.questions if q.bonus), 6)


def hand_state(report: Report) -> str:
    """'by hand 0 / 5 pending', 'by hand 5 / 5 given' or 'by hand 2 / 5, 3 pending'."""
    given = report.manual_total
    total = max_manual(report)
    if total == 0:
        return "nothing graded by hand"
    pending = round(sum(q.max_manual for q in report.questions if not q.bonus and q.manual_pending), 6)
    if pending == 0:
        return f"by hand {pts(given)} / {pts(total)} given"
    if pending == total:
        return f"by hand {pts(given)} / {pts(total)} pending"
    return f"by hand {pts(given)} / {pts(total)}, {pts(pending)} pending"


def total_line(report: Report) -> str:
    """'Total: x / 20 (automatic a / A, by hand m / M pending|given)'."""
    if not report.questions:  # e.g. a bad archive: nothing was graded, there is nothing to split
        return f"Total: {pts(report.total)} / {pts(report.total_max)}"
    parts = [f"automatic {pts(report.auto_total)} / {pts(max_auto(report))}", hand_state(report)]
    if report.penalty:
        parts.append(f"penalty -{pts(report.penalty)}")
    if report.late_penalty:
        parts.append(f"late penalty -{pts(report.late_penalty)}")
    return f"Total: {pts(report.total)} / {pts(report.total_max)} ({', '.join(parts)})"


def bonus_line(report: Report) -> str:
    return f"Bonus: {pts(report.bonus)} / {pts(max_bonus(report))}"


def points_cell(q: QuestionResult) -> str:
    """'1 / 1', '1 / 1 + 1 hand' (written part pending), '+ 2 hand' (written part only), '2 / 2'."""
    if q.manual_pending:
        hand = f"+ {pts(q.max_manual)} hand"
        return hand if q.max_auto == 0 else f"{pts(q.auto_points)} / {pts(q.max_auto)} {hand}"
    return f"{pts(q.points)} / {pts(q.max_points)}"


def status_cell(q: QuestionResult) -> str:
    if q.max_auto == 0 and q.max_manual > 0:
        return "graded by hand" if q.manual_pending else "hand-graded"
    return q.status


def reason_cell(q: QuestionResult) -> str:
    """The one-line reason of a table row; the written part's state is appended when relevant."""
    reason = " ".join((q.summary or "").split())  # a summary must stay on one line
    if q.max_manual > 0 and not q.manual_pending:
        given = f"by hand {pts(q.manual_points)} / {pts(q.max_manual)}"
        reason = f"{reason}; {given}" if reason else given
    return reason


def failed_public(q: QuestionResult) -> list[CheckResult]:
    return [c for c in q.checks if not c.hidden and not c.passed]


def hidden_total(q: QuestionResult) -> int:
    return sum(1 for c in q.checks if c.hidden)


def hidden_failed_line(q: QuestionResult) -> str | None:
    """'2 hidden checks failed in q3_3': a count only, never a hidden check's name or message."""
    n = q.hidden_failed
    if not n:
        return None
    return f"{plural(n, 'hidden check')} failed in {q.id}"


def has_failures(q: QuestionResult) -> bool:
    return any(not c.passed for c in q.checks)


def mark(q: QuestionResult) -> str:
    """'✓' for a question with every automatic point, '✗' for one that lost some, '' otherwise
    (a written part only, waiting for or graded by hand)."""
    if q.max_auto == 0:
        return ""
    if q.status == QuestionStatus.PASSED and not has_failures(q):
        return "✓"
    return "✗"


def public_mistakes(q: QuestionResult) -> list[str]:
    """Mistake ids diagnosed by public checks (a hidden check's diagnosis stays with it)."""
    return sorted({m for c in q.checks if not c.hidden for m in c.ids})


def fmt_loss(x: float | None) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return f"{x:.4g}"


def loss_header(report: Report) -> tuple[str, str, str, str, str]:
    """The loss table's column titles: each says what its figure is."""
    n = f"{report.grading_examples:,}" if report.grading_examples else "its"
    return ("loss after 500 epochs", "REPORT.md (your run, 60,000 ex.)", f"grader (your params, {n} ex.)",
            "reference (60,000 ex.)", "")


def loss_rows(report: Report) -> list[tuple[str, str, str, str, str]]:
    """(model, REPORT.md, grader's subset, reference's full data, note) for each reported model;
    [] when neither REPORT.md nor the grader has any."""
    reported, reproduced = report.reported_losses or {}, report.reproduced_losses or {}
    full = report.full_data_losses or {}
    if not any(v is not None for v in (*reported.values(), *reproduced.values())):
        return []
    rows = []
    for model in questions.reported_models():  # the models of REPORT.md's loss_500 block
        r, p, f = reported.get(model), reproduced.get(model), full.get(model)
        if r is None:
            note = "not in REPORT.md"
        elif f and math.isfinite(r) and r > 0 and not 1 / LOSS_FACTOR <= r / f <= LOSS_FACTOR:
            note = f"!! {r / f:.2g} times the reference's full-data loss"
        else:
            note = ""
        rows.append((model, fmt_loss(r), fmt_loss(p), fmt_loss(f), note))
    return rows


def one_line(text, width: int | None = None) -> str:
    """``text`` on one line: the lines of a text that has several are stripped and joined by a
    space, except a traceback's, which keeps its last line (the exception); then cut to ``width``
    characters (when given), the cut marked with an ellipsis. For tables and CSV cells."""
    text = str(text)
    lines = text.splitlines()
    if len(lines) != 1 or lines[0] != text:
        kept = [line.strip() for line in lines if line.strip()]
        text = kept[-1] if len(kept) > 1 and kept[0].startswith("Traceback") else " ".join(kept)
    return text if width is None or len(text) <= width else text[: max(width - 1, 0)] + "…"
