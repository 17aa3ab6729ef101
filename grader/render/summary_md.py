"""The class's results as the teacher reads them: ``grades.csv`` and ``summary.md``.

Both are views of the batch's rows (``grader.batch.rows.Row``: ``file``, ``sha256``, ``key``,
``last``, ``first``, ``status``, ``report``, ``warnings``, ``fingerprint``) and read nothing
else; both are deterministic (rows sorted, no dates or durations), so grading the same folder
at any ``--jobs`` gives the same bytes.

``grades.csv`` is made for a spreadsheet and an LMS gradebook import:
- UTF-8 **with a BOM**: without one, Excel (the way most teachers open a CSV, by double click)
  reads UTF-8 as the local code page and mangles accented names; Moodle, Canvas, pandas and
  LibreOffice all strip the BOM. A script reading it should open it with ``utf-8-sig``.
- comma-separated, ``.`` decimals, CRLF line ends, quoted where needed (RFC 4180, ``csv``).
- one header row, then one row per archive: ``last_name, first_name, file, sha256, status``,
  one column per question id of the rubric (its points: automatic + hand-given), ``total``
  (out of the rubric's total: automatic + hand-given - penalties, the late one included),
  ``bonus``, ``source`` (folder, mail, moodle), ``group``, ``received`` (ISO 8601, empty when
  unknown), ``late_days`` (started days after the group's deadline, empty without a deadline),
  ``warnings`` (``; ``-joined, one line each), ``similar_to`` (the keys of the students,
  ``reference`` or ``earlier:<name>`` whose code is flagged as near-identical, ``;``-joined: a
  flag, not a grade; filled in at the end of the batch, see ``grader.batch.similarity.compare``).
- an internal error (the grader's failure) has empty points, never a zero; a refused archive
  (``bad-archive``, ``no-package``) has empty question cells and a total of 0; a message with
  nothing to grade (``no-archive``, ``bad-message``) has an empty total too: there was no work
  to mark, and a zero would read as one.
- every text cell goes through ``neutralise.csv_cell``: one line, no control character, and a
  leading ``'`` when it starts with ``=``, ``+``, ``-`` or ``@`` (a file name like
  ``=HYPERLINK(...)`` is shown, never run, by a spreadsheet); the number cells are written by
  this module and left as numbers.

In ``summary.md`` every name, file name, reason and note goes through ``neutralise.md_text`` or
``md_code``: no raw HTML, no Markdown structure a student typed.
"""
import csv
import io
import math
import statistics
from collections import Counter
from collections.abc import Sequence

from grader.batch import outdir
from grader.batch.similarity import fingerprint
from grader.render import neutralise as N
from grader.render.common import one_line, pts
from grader.results import RowStatus
from grader.rubric import Rubric
from lab2check.mistakes import ADVICE

NOTHING = (RowStatus.INTERNAL_ERROR, RowStatus.NO_ARCHIVE, RowStatus.BAD_MESSAGE)     # no total at all
REFUSED = (RowStatus.BAD_ARCHIVE, RowStatus.NO_PACKAGE)
TOP_MISTAKES = 10
TOP_SIMILAR = 10


# --- grades.csv -------------------------------------------------------------------------------

def sort_key(row):
    """Rows in the CSV and the summary: by student folder, then file name."""
    return (row.key, row.file)


def _number(x) -> str:
    return pts(x) if x is not None and math.isfinite(float(x)) else ""


def csv_header(rubric: Rubric) -> list[str]:
    return ["last_name", "first_name", "file", "sha256", "status", *rubric.questions, "total", "bonus",
            "source", "group", "received", "late_days", "warnings", "similar_to"]


def csv_row(row, rubric: Rubric) -> list[str]:
    report = row.report
    by_id = {q.id: q for q in report.questions}
    points = [_number(by_id[qid].points) if qid in by_id else "" for qid in rubric.questions]
    if row.status in NOTHING:
        total = bonus = ""          # the grader failed, or nothing was sent: no grade at all, never a zero
    else:
        total, bonus = _number(report.total), _number(report.bonus)
    warnings = "; ".join(one_line(w).strip() for w in row.warnings if str(w).strip())
    similar = ";".join(getattr(row, "similar_to", []))
    late = getattr(report, "late_days", None)
    origin = [getattr(row, "source", "folder"), getattr(row, "group", ""), getattr(row, "received", ""),
              "" if late is None else str(late)]
    text = N.csv_cell   # the cells a student's names, files and messages reach
    return [text(row.last), text(row.first), text(row.file), row.sha256, text(row.status), *points, total, bonus,
            *map(text, origin), text(warnings), text(similar)]


def grades_csv(rows, rubric: Rubric) -> bytes:
    """The whole ``grades.csv`` (BOM included), rows sorted."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(csv_header(rubric))
    for row in sorted(rows, key=sort_key):
        writer.writerow(csv_row(row, rubric))
    return buf.getvalue().encode("utf-8-sig")


# --- summary.md ---------------------------------------------------------------------------------

def _cell(text) -> str:
    """Any text, safe as one line of Markdown or a table cell (``neutralise.md_text``)."""
    return N.md_text(text)


def _label(row, table: bool = False) -> str:
    """'DOE John (`file`)' as Markdown; ``table``: for a table cell (``|`` escaped in the code span)."""
    name = f"{row.last} {row.first}".strip()
    if not row.file:        # a message without an archive
        return _cell(name or row.key)
    file = N.md_code(row.file, table=table) or "(no name)"
    return f"{_cell(name)} ({file})" if name else file


def _max(auto: float, by_hand: float) -> str:
    return f"{pts(auto)} + {pts(by_hand)}" if by_hand else pts(auto)


def has_hand_points(rows) -> bool:
    """Whether any hand-given points were merged into these rows."""
    return any(q.manual_points is not None for r in rows for q in r.report.questions)


def _stats(values: list[float]) -> list[str]:
    if not values:
        return ["", "", "", ""]
    return [f"{statistics.fmean(values):.2f}", pts(statistics.median(values)), pts(min(values)), pts(max(values))]


def _status_section(rows) -> list[str]:
    counts = Counter(r.status for r in rows)
    lines = ["## Status", "", "| status | archives |", "| --- | ---: |"]
    lines += [f"| {s} | {counts[s]} |" for s in RowStatus if counts[s]]
    lines.append("")
    attention = [r for r in rows if r.status != RowStatus.GRADED]
    if attention:
        lines += ["Not graded normally:", "", "| student | status | why |", "| --- | --- | --- |"]
        for r in attention:
            why = getattr(r, "reason", "") or r.report.error
            lines.append(f"| {_label(r, table=True)} | {_cell(r.status)} | {_cell(why)} |")
        lines.append("")
    return lines


def _points_section(rows, rubric: Rubric, histogram: str | None) -> list[str]:
    graded = [r for r in rows if r.status == RowStatus.GRADED]
    lines = [f"## Points (over the {len(graded)} graded archive{'s' if len(graded) != 1 else ''})", ""]
    if not graded:
        return lines + ["No archive was graded.", ""]
    given = sum(1 for r in graded if has_hand_points([r]))
    if given == 0:
        lines += [f"No hand-graded points merged yet (`--manual`): totals are automatic points only, out of "
                  f"{pts(sum(q.auto for q in rubric.questions.values() if not q.bonus))}.", ""]
    else:
        lines += [f"Hand-graded points merged for {given} of {len(graded)} graded archives.", ""]
    lines += ["| question | max (auto + by hand) | mean | median | min | max given |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for qid, spec in rubric.questions.items():
        values = [q.points for r in graded for q in r.report.questions if q.id == qid]
        name = f"{qid} {spec.title}" + (" (bonus)" if spec.bonus and "bonus" not in spec.title else "")
        lines.append(f"| {_cell(name)} | {_max(spec.auto, spec.manual)} | " + " | ".join(_stats(values)) + " |")
    normal = [q for q in rubric.questions.values() if not q.bonus]
    bonus = [q for q in rubric.questions.values() if q.bonus]
    lines.append(f"| **total** (- penalties) | {_max(sum(q.auto for q in normal), sum(q.manual for q in normal))} | "
                 + " | ".join(_stats([r.report.total for r in graded])) + " |")
    lines.append(f"| bonus | {_max(sum(q.auto for q in bonus), sum(q.manual for q in bonus))} | "
                 + " | ".join(_stats([r.report.bonus for r in graded])) + " |")
    lines.append("")
    if histogram:
        lines += [f"![Histogram of the totals of the graded archives]({histogram})", ""]
    return lines


def _groups_section(rows) -> list[str]:
    """Statistics per group, when some row has one (mail subjects, Moodle's groups)."""
    groups = sorted({getattr(r, "group", "") for r in rows})
    if groups == [""]:
        return []
    lines = ["## Per group", "", "| group | archives | graded | late | mean | median | min | max |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for g in groups:
        mine = [r for r in rows if getattr(r, "group", "") == g]
        graded = [r for r in mine if r.status == RowStatus.GRADED]
        late = sum(1 for r in mine if getattr(r.report, "late_days", None))
        lines.append(f"| {_cell(g or '(none)')} | {len(mine)} | {len(graded)} | {late} | "
                     + " | ".join(_stats([r.report.total for r in graded])) + " |")
    return lines + [""]


def mistake_counts(rows) -> list[tuple[str, int, list[str]]]:
    """``(mistake id, students, question ids)``, most frequent first; a student counts once per
    mistake however many checks show it (hidden checks included: this is the teacher's view)."""
    students: Counter[str] = Counter()
    questions: dict[str, set[str]] = {}
    for row in rows:
        seen = set()
        for q in row.report.questions:
            for check in q.checks:
                for mistake in check.ids:
                    seen.add(mistake)
                    questions.setdefault(mistake, set()).add(q.id)
        students.update(seen)
    return [(m, n, sorted(questions[m])) for m, n in sorted(students.items(), key=lambda kv: (-kv[1], kv[0]))]


def _mistakes_section(rows) -> list[str]:
    found = mistake_counts(rows)
    lines = ["## Most frequent diagnosed mistakes", ""]
    if not found:
        return lines + ["No catalogue mistake was recognised.", ""]
    lines += ["| mistake | students | questions | advice given |", "| --- | ---: | --- | --- |"]
    for mistake, n, qids in found[:TOP_MISTAKES]:
        lines.append(f"| `{mistake}` | {n} | {', '.join(qids)} | {_cell(ADVICE.get(mistake, ''))} |")
    if len(found) > TOP_MISTAKES:
        lines.append(f"\n({len(found) - TOP_MISTAKES} less frequent mistakes not shown.)")
    return lines + [""]


def _identical_section(rows, known=None) -> list[str]:
    prints = {_label(r): r.fingerprint for r in rows if r.fingerprint}
    found = fingerprint.groups(prints, known)
    lines = ["## Identical submissions", "",
             "Students whose `lab2/` code is the same once comments, docstrings and layout are ignored "
             "(code left as the skeleton's is not counted). Worth a look, not a verdict.", ""]
    if not found:
        return lines + ["None found.", ""]
    # Modules shared by the same students are one line: "single_neuron.py, hidden_layer.py: A, B".
    merged: dict[tuple, list[str]] = {}
    for g in found:
        merged.setdefault((g.what == "lab2", tuple(g.members), g.same_as), []).append(g.what)
    for (whole, members, same_as), whats in merged.items():
        what = "the whole `lab2/` package" if whole else ", ".join(f"`{w}`" for w in whats)
        flag = " **(identical to the reference solution)**" if same_as == "reference" else ""
        lines.append(f"- {what}{flag}: " + ", ".join(members))
    return lines + [""]


def _similar_section(similar) -> list[str]:
    """The near-duplicate report's top pairs (``grader.batch.similarity.compare.Result``)."""
    lines = ["## Similar code", "",
             f"{similar.students} students' `lab2/` code compared with each other and with "
             f"{', '.join(e.key for e in similar.others) or 'nothing else'} (the skeleton's own code left out); "
             f"pairs scoring {similar.threshold:.0%} or more are flagged in `grades.csv` (`similar_to`). "
             "A reason to look, not a verdict. Every pair side by side: [similarity.html](similarity.html).", ""]
    for i, c in enumerate(similar.clusters, 1):
        lines.append(f"- Cluster {i}: {len(c.members)} entries joined by {len(c.pairs)} flagged pairs, closest "
                     f"to all the others: {_cell(c.centre.key)} (mean {c.mean:.0%}); members: "
                     + ", ".join(_cell(e.key) for e in c.members))
    if similar.clusters:
        lines.append("")
    flagged = [p for p in similar.shown if p.flagged]   # a cluster's closest pairs only
    top = flagged[:TOP_SIMILAR] or [p for p in similar.pairs if p.score > 0][:3]
    if not flagged:
        lines += ["No pair flagged." + (" The highest:" if top else ""), ""]
    if top:
        lines += ["| score | student | compared with | flagged |", "| ---: | --- | --- | --- |"]
        lines += [f"| {p.score:.0%} | {_cell(p.a.key)} | {_cell(p.b.key)} | {'yes' if p.flagged else ''} |"
                  for p in top]
        if len(flagged) > TOP_SIMILAR:
            lines.append(f"\n({len(flagged) - TOP_SIMILAR} more listed in similarity.html.)")
        lines.append("")
    return lines


def summary_markdown(rows, rubric: Rubric, *, title: str = "", histogram: str | None = outdir.HISTOGRAM,
                     notes: Sequence[str] = (), known=None, similar=None) -> str:
    """The text of ``summary.md``; ``histogram`` is the PNG's path relative to it (None: none);
    ``similar``: the batch's near-duplicate result, when there is one."""
    rows = sorted(rows, key=sort_key)
    lines = [f"# Lab 2: class summary{': ' + _cell(title) if title else ''}", "",
             f"{len(rows)} archive{'s' if len(rows) != 1 else ''}, rubric sha256 `{rubric.sha256[:12]}`. "
             "One row per archive in `grades.csv`; each student's outputs in `students/<name>/`.", ""]
    lines += [f"- {_cell(n)}" for n in notes] + ([""] if notes else [])
    lines += _status_section(rows)
    lines += _points_section(rows, rubric, histogram)
    lines += _groups_section(rows)
    lines += _mistakes_section(rows)
    lines += _identical_section(rows, known)
    if similar is not None:
        lines += _similar_section(similar)
    return "\n".join(lines).rstrip("\n") + "\n"

