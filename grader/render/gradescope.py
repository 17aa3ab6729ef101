"""The report in Gradescope's autograder ``results.json`` format.

Format: https://gradescope-autograders.readthedocs.io/en/latest/specs/ . The top-level ``score``
"overrides total of tests if specified", so it is the student's score, and it is kept equal to the
sum of the tests' scores (minus a naming penalty, which has no test of its own).

Choices where the format or the assignment is silent:
- ``score`` = the automatic points + hand-given points (only once given with ``--manual``)
  - the penalty, floored at 0 (= ``Report.total``), **plus the bonus** (``Report.bonus``).
  Gradescope has no separate bonus field; a score above the assignment's points is its usual
  way to record extra credit, and the bonus test carries the tag ``bonus``.
- One test per question for its automatic part, named ``"<id> <title>"``; a question with no
  automatic part (q3_1) gets none.
- Written parts: a hand-graded test ``"<id> <written part> (graded by hand)"`` appears only once a
  teacher gave the points (``--manual``); before that they are left out of ``score`` and of
  ``tests`` (Gradescope grades manual questions separately) and listed as pending in ``output``.
- Hidden checks appear as counts only, in every field, ``extra_data`` included.
- An internal error has **no** ``score`` and no tests: writing 0 would record a zero the student
  did not earn. The ``output`` says "GRADER ERROR (not the student's fault)". (Gradescope
  wants ``score`` either at the top or on every test, so the upload shows as an autograder
  failure, which is the truth.)
- ``output_format`` and ``test_output_format`` are ``"text"``: Gradescope shows every output as
  plain text, so a student's message can hold no HTML or Markdown that Gradescope would render.
  Every string is also cleaned by ``neutralise.jsonable`` (no control characters) and every
  number is finite: the file is strict JSON (``neutralise.json_dumps``).
"""
import math
from pathlib import Path

from grader.render import common as c
from grader.render import neutralise as N
from grader.results import QuestionResult, Report

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
FORMATS = ("text", "html", "simple_format", "md", "ansi")
# The keys Gradescope documents (https://gradescope-autograders.readthedocs.io/en/latest/specs/).
TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
            "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
             "visibility", "extra_data"}


def _summary(report: Report) -> str:
    lines = [c.sandbox_line(report), f"{report.student} -- {report.submission}"]
    if c.is_internal_error(report):
        lines.append(c.grader_error_line(report))
    else:
        status = c.status_line(report)
        if status:
            lines.append(status)
        lines += [c.total_line(report), c.bonus_line(report)]
        pending = c.pending_written_line(report)
        if pending:
            lines.append(pending)
        rows = c.loss_rows(report)
        if rows:
            head = c.loss_header(report)
            lines += ["", f"Loss after 500 epochs: {head[1]} / {head[2]} / {head[3]}"]
            lines += [f"  {m}: {r} / {p} / {f}" + (f"  ({note})" if note else "") for m, r, p, f, note in rows]
    if report.warnings:
        lines += ["", "Warnings:", *(f"  - {w}" for w in report.warnings)]
    return "\n".join(lines)


def question_output(q: QuestionResult) -> str:
    """The feedback of one question: its reason, every public check, hidden checks as counts."""
    lines = [f"{c.question_name(q)}: {c.pts(q.auto_points)} / {c.pts(q.max_auto)} ({q.status})"]
    if q.summary:
        lines.append(" ".join(q.summary.split()))
    for check in q.checks:
        if check.hidden:
            continue
        lines.append(f"{'PASS' if check.passed else 'FAIL'} {check.name}")
        if not check.passed and check.message:
            lines += [f"    {line}" for line in check.message.splitlines()]
    hidden = c.hidden_total(q)
    if hidden:
        lines.append(f"Hidden checks: {hidden - q.hidden_failed} of {hidden} passed.")
        failed = c.hidden_failed_line(q)
        if failed:
            lines.append(failed)
    if q.manual_pending:
        what = c.manual_title(q)
        label = "Written part" if what == "written part" else f"Written part ({what})"
        lines.append(f"{label}, {c.points_word(q.max_manual)}: graded by hand, not included here.")
    return "\n".join(lines)


def _auto_test(q: QuestionResult) -> dict:
    tags = [q.id] + (["bonus"] if q.bonus else []) + [f"mistake:{m}" for m in c.public_mistakes(q)]
    passed = q.auto_points >= q.max_auto - 1e-9 and not c.has_failures(q)
    return {
        "name": c.question_name(q),
        "score": float(q.auto_points),
        "max_score": float(q.max_auto),
        "status": "passed" if passed else "failed",
        "output": question_output(q),
        "visibility": "visible",
        "tags": tags,
    }


def _manual_test(q: QuestionResult) -> dict:
    points = q.manual_points or 0.0
    output = "graded by hand" + (f": {q.manual_comment}" if q.manual_comment else "")
    return {
        "name": f"{q.id} {c.manual_title(q)} (graded by hand)",
        "score": float(points),
        "max_score": float(q.max_manual),
        "status": "passed" if points >= q.max_manual - 1e-9 else "failed",
        "output": output,
        "visibility": "visible",
        "tags": [q.id, "manual"] + (["bonus"] if q.bonus else []),
    }


def to_gradescope(report: Report) -> dict:
    """``results.json`` as a dict (see the module docstring for what ``score`` holds)."""
    results = {
        "execution_time": int(round(report.seconds)) if math.isfinite(report.seconds) else 0,
        "output": _summary(report),
        "output_format": "text",
        "test_output_format": "text",
        "extra_data": {"student": report.student, "submission": report.submission,
                       "status": report.status, "rubric_sha256": report.rubric_sha256},
    }
    if c.is_internal_error(report):
        results["tests"] = []
        return N.jsonable(results)
    tests = []
    for q in report.questions:
        if q.max_auto > 0:
            tests.append(_auto_test(q))
        if q.max_manual > 0 and not q.manual_pending:
            tests.append(_manual_test(q))
    results["score"] = float(round(report.total + report.bonus, 6))
    results["tests"] = tests
    return N.jsonable(results)


def write_json(report: Report, path) -> Path:
    """Write ``results.json``; returns the path."""
    path = Path(path)
    path.write_text(N.json_dumps(to_gradescope(report), indent=2) + "\n", encoding="utf-8")
    return path


def problems(results: dict) -> list[str]:
    """What makes ``results`` an invalid results.json (empty when it is fine); for tests and batch."""
    out = []
    if not isinstance(results.get("tests", []), list):
        return ["tests is not a list"]
    tests = results.get("tests", [])
    out += [f"unknown key {k!r}" for k in sorted(set(results) - TOP_KEYS)]
    for key in ("output_format", "test_output_format"):
        if results.get(key, "text") not in FORMATS:
            out.append(f"{key} is {results.get(key)!r}")
    if "score" in results and not _number(results["score"]):
        out.append("score is not a finite number")
    if "score" not in results and any("score" not in t for t in tests) and tests:
        out.append("no top-level score and a test without score")
    if not isinstance(results.get("execution_time", 0), int):
        out.append("execution_time is not an int")
    if not isinstance(results.get("output", ""), str):
        out.append("output is not a string")
    for i, t in enumerate(tests):
        out += [f"tests[{i}] has the unknown key {k!r}" for k in sorted(set(t) - TEST_KEYS)]
        for key, wanted in (("name", str), ("output", str)):
            if key in t and not isinstance(t[key], wanted):
                out.append(f"tests[{i}].{key} has the wrong type")
        for key in ("score", "max_score"):
            if key in t and not _number(t[key]):
                out.append(f"tests[{i}].{key} is not a finite number")
        if t.get("visibility", "visible") not in VISIBILITIES:
            out.append(f"tests[{i}].visibility is {t.get('visibility')!r}")
        if t.get("status", "passed") not in ("passed", "failed"):
            out.append(f"tests[{i}].status is {t.get('status')!r}")
        if "tags" in t and not (isinstance(t["tags"], list) and all(isinstance(x, str) for x in t["tags"])):
            out.append(f"tests[{i}].tags is not a list of strings")
    return out


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
