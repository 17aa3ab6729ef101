"""The student's feedback in Markdown (``feedback.md``).

Written for the student: the total first, a table of questions, then one section per question
listing its public checks (✓/✗, with the message of a failed one) and its hidden checks as counts
only. Messages are put in code spans/blocks so that shapes like ``(1, m)`` or ``W1 * X`` are
shown as written rather than read as Markdown.
"""
import re
from pathlib import Path

from grader.render import common as c
from grader.report import CheckResult, QuestionResult, Report


def _cell(text: str) -> str:
    """Text safe inside a table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _fence(text: str, char: str = "`") -> str:
    """A fence longer than any run of ``char`` in ``text`` (so a message cannot close it)."""
    runs = [len(m) for m in re.findall(f"{re.escape(char)}+", text)]
    return char * max(3, max(runs, default=0) + 1)


def _code_span(text: str) -> str:
    runs = [len(m) for m in re.findall("`+", text)]
    ticks = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _check(check: CheckResult) -> list[str]:
    mark = "✓" if check.passed else "✗"
    head = f"- {mark} {_cell(check.name)}"
    message = (check.message or "").strip("\n")
    if check.passed or not message:
        return [head]
    if "\n" not in message:
        return [f"{head}: {_code_span(message)}"]
    fence = _fence(message)
    return [head, "", f"  {fence}", *(f"  {line}" for line in message.splitlines()), f"  {fence}", ""]


def _question(q: QuestionResult) -> list[str]:
    title = f"## {c.question_name(q)}"
    lines = [title, "", f"**{_cell(c.points_cell(q))}** · {c.status_cell(q)}"]
    if q.summary:
        lines += ["", _cell(q.summary)]
    checks = [line for check in q.checks if not check.hidden for line in _check(check)]
    hidden = c.hidden_total(q)
    if hidden:
        checks.append(f"- hidden checks: {hidden - q.hidden_failed} of {hidden} passed")
        failed = c.hidden_failed_line(q)
        if failed:
            checks.append(f"- ✗ {failed}")
    if checks:
        lines += ["", *checks]
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
    return lines + [""]


def _table(report: Report) -> list[str]:
    lines = ["| question | points | status | reason |", "| --- | --- | --- | --- |"]
    for q in report.questions:
        name = c.question_name(q)
        mark = c.mark(q)
        mark = f"{mark} " if mark else ""
        lines.append(f"| {_cell(name)} | {_cell(c.points_cell(q))} | {mark}{c.status_cell(q)} | {_cell(c.reason_cell(q))} |")
    return lines + [""]


def _losses(report: Report) -> list[str]:
    rows = c.loss_rows(report)
    if not rows:
        return []
    lines = ["## Losses after 500 epochs", "", "| model | REPORT.md | reproduced by the grader | |",
             "| --- | ---: | ---: | --- |"]
    lines += [f"| {m} | {r} | {p} | {_cell(note)} |" for m, r, p, note in rows]
    return lines + [""]


def render(report: Report) -> str:
    """The feedback file's text."""
    lines = [f"# Lab 2 feedback: {report.student}", "", c.sandbox_line(report), "",
             f"Submission: {_code_span(report.submission)}", ""]
    if c.is_internal_error(report):
        lines += [f"**{c.grader_error_line(report)}**", ""]
    else:
        status = c.status_line(report)
        if status:
            lines += [f"**{_cell(status)}**", ""]
        lines += [f"**{c.total_line(report)}**", "", c.bonus_line(report), ""]
        if report.lateness:
            lines += [_cell(report.lateness), ""]
        pending = c.pending_written_line(report)
        if pending:
            lines += [pending, ""]
        if report.questions:
            lines += _table(report)
            for q in report.questions:
                lines += _question(q)
        lines += _losses(report)
    if report.warnings:
        lines += ["## Warnings", "", *(f"- {_cell(w)}" for w in report.warnings), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def write_markdown(report: Report, path) -> Path:
    """Write ``feedback.md``; returns the path."""
    path = Path(path)
    path.write_text(render(report), encoding="utf-8")
    return path
