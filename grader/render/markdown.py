"""The student's feedback in Markdown (``feedback.md``).

Written for the student: the total first, a table of questions, then one section per question
listing its public checks (✓/✗, with the message of a failed one) and its hidden checks as counts
only. A one-line message is put in a code span and a longer one in a fenced block, so that shapes
like ``(1, m)`` or ``W1 * X`` are shown as written rather than read as Markdown.

Every string that is not this module's own wording (names, file names, messages, summaries,
warnings, comments, even the rubric's titles) goes through ``grader.render.neutralise``: no raw
HTML, no Markdown structure, no control character, no line that looks like the total line.
"""

from grader.render import common as c
from grader.render import neutralise as N
from grader.results import CheckResult, QuestionResult, Report
from grader.submission.figure import NAMES as FIGURE_NAMES
from lab2check import questions


def _cell(text: str) -> str:
    """Any text, made safe inside a table cell (or a line of its own): one line, escaped."""
    return N.md_text(text)


def _check(check: CheckResult) -> list[str]:
    mark = "✓" if check.passed else "✗"
    head = f"- {mark} {_cell(check.name)}"
    message = N.text(check.message or "").strip("\n")
    if check.passed or not message.strip():
        return [head]
    if "\n" not in message:
        return [f"{head}: {N.md_code(message)}"]
    return [head, "", *N.md_block(message, indent="  "), ""]


def _question(q: QuestionResult, figure: str = "") -> list[str]:
    """A question's section; ``figure``: the figure of a question about one (the registry's
    ``figure``: Q3.1) copied beside the feedback (grader.submission.figure), shown inline for the teacher
    who grades it by hand (only a name the grader itself gives)."""
    title = f"## {_cell(c.question_name(q))}"
    lines = [title, "", f"**{c.points_cell(q)}** · {c.status_cell(q)}"]
    if q.summary:
        lines += ["", _cell(q.summary)]
    checks = [line for check in q.checks if not check.hidden for line in _check(check)]
    hidden = c.hidden_total(q)
    if hidden:
        checks.append(f"- hidden checks: {hidden - q.hidden_failed} of {hidden} passed")
        failed = c.hidden_failed_line(q)
        if failed:
            checks.append(f"- ✗ {_cell(failed)}")
    if checks:
        lines += ["", *checks]
    if q.printed.strip():
        lines += ["", "What your code printed (public checks and trainings):", "", *N.md_block(q.printed, indent="  ")]
    if q.max_manual > 0:
        if q.manual_pending:
            written = f"graded by hand ({c.points_word(q.max_manual)}), not given yet"
        else:
            written = f"{c.pts(q.manual_points)} / {c.pts(q.max_manual)} (graded by hand)"
            if q.manual_comment:
                written += f": {_cell(q.manual_comment)}"
        what = c.manual_title(q)
        label = "Written part" if what == "written part" else f"Written part ({_cell(what)})"
        lines += ["", f"{label}: {written}"]
    if figure in FIGURE_NAMES:
        lines += ["", f"![The architecture figure found in the submission]({figure})"]
    return lines + [""]


def _table(report: Report) -> list[str]:
    lines = ["| question | points | status | reason |", "| --- | --- | --- | --- |"]
    for q in report.questions:
        name = c.question_name(q)
        mark = c.mark(q)
        mark = f"{mark} " if mark else ""
        # Points and status are this grader's own words and numbers; the reason may quote the student.
        lines.append(f"| {_cell(name)} | {c.points_cell(q)} | {mark}{c.status_cell(q)} | {_cell(c.reason_cell(q))} |")
    return lines + [""]


def _losses(report: Report) -> list[str]:
    rows = c.loss_rows(report)
    if not rows:
        return []
    head = c.loss_header(report)
    lines = ["## Losses after 500 epochs", "", f"| model | {head[1]} | {head[2]} | {head[3]} | |",
             "| --- | ---: | ---: | ---: | --- |"]
    lines += [f"| {m} | {r} | {p} | {f} | {_cell(note)} |" for m, r, p, f, note in rows]  # numbers formatted here
    return lines + [""]


def render(report: Report) -> str:
    """The feedback file's text."""
    lines = [f"# Lab 2 feedback: {_cell(report.student)}", "", _cell(c.sandbox_line(report)), "",
             f"Submission: {N.md_code(report.submission) or _cell(report.submission)}", ""]
    if c.is_internal_error(report):
        lines += [f"**{_cell(c.grader_error_line(report))}**", ""]
    else:
        status = c.status_line(report)
        if status:
            lines += [f"**{_cell(status)}**", ""]
        lines += [f"**{c.total_line(report)}**", "", c.bonus_line(report), ""]
        if report.lateness:
            lines += [_cell(report.lateness), ""]
        pending = c.pending_written_line(report)
        if pending:
            lines += [_cell(pending), ""]
        if report.questions:
            lines += _table(report)
            for q in report.questions:
                # .get: a report read back from disk may name a question this registry does not hold
                about_figure = getattr(questions.QUESTIONS.get(q.id), "figure", False)
                lines += _question(q, report.figure_file if about_figure else "")
        lines += _losses(report)
    if report.warnings:
        lines += ["## Warnings", "", *(f"- {_cell(w)}" for w in report.warnings), ""]
    return "\n".join(lines).rstrip("\n") + "\n"
