"""The way back to Moodle: the filled grading worksheet and ``feedback-files.zip``.

- ``fill_worksheet``: the worksheet the teacher downloaded ("Download grading worksheet") with
  the ``Grade`` and ``Feedback comments`` cells of every graded participant replaced, and every
  other byte as downloaded (other cells, other rows, quotes, line ends, "Last modified (grade)",
  which Moodle compares with its own copy). Uploaded with "Upload grading worksheet".
- ``feedback_zip``: one ``<participant's folder>/feedback.html`` per participant, the layout
  "Upload multiple feedback files in a zip" reads (it takes the participant id from the
  folder's name, as Moodle's own download names it).

Grades: the report's total (bonus excluded: Moodle refuses a grade above the maximum; the bonus
is written in the feedback), scaled to the worksheet's "Maximum grade" when it is not the
rubric's total. A row with nothing graded for the student's work (``internal-error``, the
grader's failure; ``no-archive``; ``bad-message``) keeps its grade cell as downloaded; its
feedback says why (except an internal error, which the teacher sees in the summary). What this
module is not: reading the worksheet (``grader.batch.intake.worksheet``) or grading.
"""
import html
import io
import zipfile

from grader.render import render_markdown
from grader.render.common import pts
from grader.results import Report, RowStatus
from grader.rubric import Rubric
from lab2check.mistakes import ADVICE

UNGRADED = (RowStatus.INTERNAL_ERROR, RowStatus.NO_ARCHIVE, RowStatus.BAD_MESSAGE)
FEEDBACK_FILE = "feedback.html"
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)       # fixed member times: the same rows give the same bytes


def feedback_html(report: Report, status: RowStatus, reason: str = "") -> str:
    """Simple one-line HTML for the worksheet's feedback cell: total, points per question, the
    named mistakes (Moodle shows it as the feedback comment)."""
    e = html.escape
    if status in (RowStatus.NO_ARCHIVE, RowStatus.BAD_MESSAGE):
        return f"<p>No archive could be graded: {e(reason)}</p>"
    parts = [f"<p><strong>Total: {pts(report.total)} / {pts(report.total_max)}</strong>"
             + (f" (late penalty -{pts(report.late_penalty)})" if report.late_penalty else "")
             + (f" (penalty -{pts(report.penalty)})" if report.penalty else "")
             + (f"; bonus {pts(report.bonus)}" if report.bonus else "") + "</p>"]
    if report.lateness:
        parts.append(f"<p>{e(report.lateness)}</p>")
    if status != RowStatus.GRADED:
        parts.append(f"<p>Not graded normally: {e(status)}" + (f": {e(report.error)}" if report.error else "")
                     + "</p>")
    if report.questions:
        items = []
        for q in report.questions:
            pending = " (written part still to grade)" if q.manual_pending else ""
            items.append(f"<li>{e(q.id)} {e(q.title)}: {pts(q.points)} / {pts(q.max_points)}{pending}</li>")
        parts.append("<ul>" + "".join(items) + "</ul>")
    mistakes = sorted({m for q in report.questions for m in q.mistakes})
    if mistakes:
        parts.append("<p>Mistakes found:</p><ul>" + "".join(
            f"<li><code>{e(m)}</code>: {e(ADVICE.get(m, ''))}</li>" for m in mistakes) + "</ul>")
    return "".join(parts)


def feedback_page(report: Report, status: RowStatus, reason: str = "") -> str:
    """``feedback.html`` in the zip: the summary, then the whole Markdown feedback as text."""
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Lab 2 feedback</title></head><body>\n"
            + feedback_html(report, status, reason) + "\n<pre>" + html.escape(render_markdown(report))
            + "</pre>\n</body></html>\n")


def grade_cell(report: Report, status: RowStatus, scale: float) -> str | None:
    """The grade to write, or None to keep the downloaded cell."""
    if status in UNGRADED:
        return None
    return pts(report.total * scale)


def fill_worksheet(sheet, cells: dict[str, tuple[str | None, str | None]]) -> bytes:
    """The worksheet's bytes with ``cells[participant] = (grade, feedback)`` written in (None
    keeps a cell as downloaded). Only those cells change; the file had no feedback column when
    ``sheet.columns`` has none, and then only grades are written."""
    edits = []
    for pid, (grade, feedback) in cells.items():
        row = sheet.rows.get(pid)
        if row is None:
            continue
        for column, value in (("grade", grade), ("feedback", feedback)):
            col = sheet.columns.get(column)
            if value is None or col is None or col >= len(sheet.cells[row]):
                continue
            edits.append((sheet.cells[row][col], _quoted(value)))
    text = sheet.text
    for (start, end), value in sorted(edits, reverse=True):
        text = text[:start] + value + text[end:]
    return text.encode("utf-8")


def _quoted(value: str) -> str:
    """One CSV cell quoted as Moodle's own writer (PHP's ``fputcsv``) does: when it holds a
    space, a comma, a quote, a tab or a line end."""
    if any(c in value for c in ' ,"\r\n\t'):
        return '"' + value.replace('"', '""') + '"'
    return value


def feedback_zip(pages: dict[str, str]) -> bytes:
    """``{participant folder: html}`` as a zip of ``<folder>/feedback.html``, sorted, fixed times."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for folder in sorted(pages):
            info = zipfile.ZipInfo(f"{folder}/{FEEDBACK_FILE}", _ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, pages[folder].encode("utf-8"))
    return buf.getvalue()


def export(rows, sheet, rubric: Rubric) -> tuple[dict[str, bytes], list[str]]:
    """``({file name: bytes}, notes)`` for ``OUT/moodle/``: the filled worksheet (when one was
    given) and ``feedback-files.zip``. ``rows`` are the batch's rows with a participant id."""
    notes = []
    scale = 1.0
    if sheet is not None:
        maximum = sheet.max_grade()
        if maximum and abs(maximum - rubric.total) > 1e-9:
            scale = maximum / rubric.total
            notes.append(f"Moodle's maximum grade is {pts(maximum)}, the rubric's total {pts(rubric.total)}: "
                         f"grades written to the worksheet are scaled by {maximum:g}/{rubric.total:g}")
    cells, pages = {}, {}
    for row in sorted(rows, key=lambda r: (int(r.participant), r.key)):
        if not row.participant:
            continue
        reason = row.reason
        if row.status != RowStatus.INTERNAL_ERROR:
            pages[row.moodle_folder] = feedback_page(row.report, row.status, reason)
        if sheet is None:
            continue
        if row.participant not in sheet.rows:
            row.notes.append(f"participant {row.participant} is not in the worksheet {sheet.name}: "
                             "its grade is not written there")
            continue
        if row.participant in cells:
            continue        # a second row of one participant: the first (by key) is written
        feedback = None if row.status == RowStatus.INTERNAL_ERROR else feedback_html(row.report, row.status, reason)
        cells[row.participant] = (grade_cell(row.report, row.status, scale), feedback)
    out = {"feedback-files.zip": feedback_zip(pages)}
    if sheet is not None:
        if "feedback" not in sheet.columns:
            notes.append(f"the worksheet {sheet.name} has no 'Feedback comments' column (feedback comments are "
                         "off for this assignment): grades only; the feedback is in feedback-files.zip")
        out[sheet.name] = fill_worksheet(sheet, cells)
    return out, notes
