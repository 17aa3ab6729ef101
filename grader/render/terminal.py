"""The report as plain text for the terminal: a table, the total, what went wrong, the losses.

Plain text by default (the output is often piped or pasted into an e-mail); ``color=True``
adds ANSI colours to the status column only, after padding, so alignment never depends on it.

Every string that is not this module's own wording goes through ``neutralise.terminal``: a
control character a student put in a name, a message or printed output (an ESC sequence that
hides text or writes the clipboard, a carriage return, a bidi override) is shown escaped
(``\x1b[8m``), never sent to the terminal. The only escape sequences printed are the colours.
"""
import shutil

from grader.render import common as c
from grader.render import neutralise as N
from grader.results import Report


def _t(text) -> str:
    return N.terminal(text)

_COLORS = {"passed": "32", "hand-graded": "32", "partial": "33", "graded by hand": "36"}
_RED = "31"


def _paint(text: str, status: str, color: bool) -> str:
    if not color:
        return text
    code = _COLORS.get(status, _RED)
    return f"\x1b[{code}m{text}\x1b[0m"


def _width(width: int | None) -> int:
    if width is not None:
        return max(width, 40)
    return max(shutil.get_terminal_size(fallback=(100, 24)).columns, 40)


def _table(report: Report, width: int, color: bool) -> list[str]:
    rows = [(_t(q.id) + (" (bonus)" if q.bonus else ""), c.points_cell(q), c.status_cell(q),
             N.terminal(c.reason_cell(q), newlines=False)) for q in report.questions]
    head = ("question", "points", "status", "reason")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    lines = []
    for i, row in enumerate([head, *rows]):
        cells = [row[k].ljust(widths[k]) for k in range(3)]
        line = c.one_line("  ".join([*cells, row[3]]).rstrip(), width)
        if color and i > 0:
            # Colour the status cell in place; the cut above already fixed the line's length.
            start = widths[0] + widths[1] + 4
            status = line[start:start + widths[2]]
            line = line[:start] + _paint(status, row[2], True) + line[start + widths[2]:]
        lines.append(line)
    return lines


def _failures(report: Report) -> list[str]:
    lines = []
    for q in report.questions:
        if not c.has_failures(q):
            continue
        lines.append(f"{_t(c.question_name(q))}: {c.pts(q.auto_points)} / {c.pts(q.max_auto)}")
        for check in c.failed_public(q):
            lines.append(f"  x {N.terminal(check.name, newlines=False)}")
            for msg_line in (check.message or "(no message)").split("\n"):
                lines.append(f"      {_t(msg_line)}")
        hidden = c.hidden_failed_line(q)
        if hidden:
            lines.append(f"  {_t(hidden)}")
    return ["", "What went wrong", *lines] if lines else []


def _losses(report: Report) -> list[str]:
    rows = c.loss_rows(report)
    if not rows:
        return []
    head = c.loss_header(report)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    return ["", *("  ".join([r[0].ljust(widths[0]), *(r[i].rjust(widths[i]) for i in (1, 2, 3)), r[4]]).rstrip()
                  for r in [head, *rows])]


def render(report: Report, *, width: int | None = None, color: bool = False) -> str:
    """The whole report as text; ``width`` defaults to the terminal's (100 when not a terminal)."""
    width = _width(width)
    lines = [_t(c.sandbox_line(report)), f"Lab 2 -- {_t(report.student)} -- {_t(report.submission)}"]
    warnings = ["", "Warnings", *(f"  - {_t(w)}" for w in report.warnings)] if report.warnings else []
    if c.is_internal_error(report):
        # The grader failed: no table and no total, so nobody reads a zero into it.
        lines.append(_t(c.grader_error_line(report)))
        return "\n".join(lines + warnings) + "\n"
    status = c.status_line(report)
    if status:
        lines.append(_t(status))
    lines.append("")
    if report.questions:
        lines += _table(report, width, color)
        lines.append("")
    lines += [c.total_line(report), c.bonus_line(report)]
    pending = c.pending_written_line(report)
    if pending:
        lines.append(_t(pending))
    lines += _failures(report)
    lines += _losses(report)
    return "\n".join(lines + warnings) + "\n"
