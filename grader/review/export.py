"""The way out of the review app: the hand grades merged into the batch's outputs.

``export(review)`` does what ``python -m grader batch SOURCE --out OUT --manual CSV`` does with
the same points, without SOURCE and without grading anything:
1. writes ``OUT/review/manual.csv``, the ``--manual`` form (``student, question, points,
   comment``; the student is the folder key, which ``grader.batch.rows.Rows`` matches), for a teacher who
   prefers a spreadsheet or wants to run ``batch --manual`` with it later;
2. reads it back with ``grader.manual.load_batch`` (the same checks as ``--manual``);
3. rebuilds every row of ``grades.csv`` from its student folder (``archive.json`` keeps where the
   archive came from and the row's notes; ``similar_to`` is read back from ``grades.csv``), and
   hands them to the batch's own merge and writers (``grader.batch.rows.Rows``): each student's ``report.json``,
   ``results.json`` and ``feedback.md``, then ``grades.csv``; for a Moodle source also
   ``OUT/moodle/`` (the worksheet found there, filled again: every cell but the grade and
   feedback is as downloaded, and those are recomputed; ``feedback-files.zip``).
A grade that needs grading again (the answer changed) is left out: that part is pending.
``summary.md`` and the histogram are the batch's, not rewritten (the next ``batch`` run updates
them, the hand points kept). Returns the notes to show.
"""
import csv
import io
from pathlib import Path

from grader import fsutil, manual
from grader.batch import outdir
from grader.batch.intake import worksheet
from grader.batch.outdir import OutDir
from grader.batch.rows import Row, Rows, write_moodle
from grader.render import neutralise as N
from grader.render.common import pts
from grader.results import Report
from grader.review.answers import load_students
from grader.review.grading import Review


def manual_rows(review: Review) -> list[tuple[str, str, str, str]]:
    """``(student key, question, points, comment)`` of every graded answer, by key then question."""
    rows = []
    gb = review.open()
    try:
        for q in review.questions:
            snap = review.snapshot(q, gb)
            for a in review.answers[q]:
                state = review.state(a, snap)
                grade = state.grade
                if state.graded and grade is not None:   # graded: a grade, and a current one
                    rows.append((a.key, q, pts(review.points(q, grade)), review.comment(q, grade)))
    finally:
        gb.close()
    order = {q: i for i, q in enumerate(review.questions)}
    return sorted(rows, key=lambda r: (r[0], order[r[1]]))


def manual_csv(rows) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["student", "question", "points", "comment"])
    for key, q, points, comment in rows:
        w.writerow([key, q, points, N.csv_cell(N.line(comment))])
    return buf.getvalue().encode("utf-8")


def _similar(out: Path) -> dict[tuple[str, str], list[str]]:
    """``(file cell, sha256) -> similar_to`` from the batch's grades.csv."""
    try:
        text = OutDir(out).grades_csv.read_text(encoding="utf-8-sig")
    except OSError:
        return {}
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    return {(r.get("file", ""), r.get("sha256", "")): [s for s in (r.get("similar_to") or "").split(";") if s]
            for r in rows}


def _rows(out: Path) -> list[Row]:
    similar = _similar(out)
    listed = {sha for _, sha in similar}
    rows = []
    for folder in OutDir(out).student_folders():
        try:
            meta = N.json_loads((folder / outdir.ARCHIVE_JSON).read_text(encoding="utf-8"))
            report = Report.from_dict(N.json_loads((folder / outdir.REPORT_JSON).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError):
            continue
        if similar and meta.get("sha256", "") not in listed:
            continue       # a folder of an earlier run whose archive is gone: not in grades.csv either
        origin = {k: v for k, v in (meta.get("origin") or {}).items()
                  if k in ("source", "group", "received", "participant", "moodle_folder")}
        row = Row(meta.get("file", ""), meta.get("sha256", ""), folder.name, meta.get("last_name", ""),
                  meta.get("first_name", ""), report, meta.get("fingerprint") or {},
                  list(meta.get("notes") or []), up_to_date=True, **origin)
        try:   # the mail's reply envelope (grader.mailback): written again as it was
            row.mail = N.json_loads((folder / outdir.MAIL_JSON).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            row.mail = {}
        row.similar_to = similar.get((N.csv_cell(row.file), row.sha256), [])
        rows.append(row)
    return rows


def _worksheet(out: Path):
    """The filled worksheet a Moodle batch wrote in OUT/moodle/, read as Moodle's own, or None."""
    found = sorted(p for p in OutDir(out).moodle.glob("*") if p.is_file() and p.suffix.lower() == ".csv")
    return worksheet.read(found[0]) if found else None


def export(review: Review) -> list[str]:
    out = review.out
    rows = manual_rows(review)
    OutDir(out).review.mkdir(exist_ok=True)
    csv_path = OutDir(out).manual_csv
    fsutil.atomic_write(csv_path, manual_csv(rows), if_changed=True)
    entries = manual.load_batch(csv_path, review.rubric)
    b = Rows(out, review.rubric, entries)
    built = _rows(out)
    for row in built:
        b.add(row, csv=False)
    notes = b.unmatched_manual()
    rows_sorted = sorted(b.rows.values(), key=lambda r: (r.key, r.file))
    moodle = [r for r in rows_sorted if r.source == "moodle" and r.participant]
    if moodle:
        notes += write_moodle(moodle, _worksheet(out), review.rubric, out)
    b.write_csv()
    moodle_note = f", {outdir.MOODLE}/" if moodle else ""
    notes.insert(0, f"{len(rows)} hand grades of {len({r[0] for r in rows})} students merged into {len(built)} rows: "
                    f"{outdir.GRADES_CSV}, {outdir.STUDENTS}/*/{outdir.FEEDBACK_MD}, {outdir.RESULTS_JSON}"
                    f"{moodle_note}; the --manual form is {csv_path}")
    return notes


def students_count(out) -> int:
    return len(load_students(out))
