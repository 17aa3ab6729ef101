"""``grader.render.neutralise`` and every renderer, fed the strings an adversarial student writes.

Fast: no grading. The pure functions are checked against real readers (a CommonMark parser, the
``csv`` module, a strict JSON parser); then a report with a hostile string in every field a
student controls goes through every renderer: terminal table, feedback.md, results.json,
report.json, grades.csv, summary.md and the loss-curve picture.
"""
import html
import math

import pytest
from builders.safety import (
    HOSTILE,
    assert_safe_json,
    assert_safe_markdown,
    assert_safe_terminal,
    csv_cells,
    strict_json,
)
from markdown_it import MarkdownIt

from grader.batch.rows import Row
from grader.render import neutralise as N
from grader.render import render_markdown, render_terminal, summary_md, to_gradescope
from grader.render.gradescope import problems
from grader.render.plots import loss_curves_png
from grader.results import CheckResult, QuestionResult, Report
from grader.rubric import load

RUBRIC = load()
MD = MarkdownIt("commonmark", {"html": True}).enable("table")
FEEDBACK_HEADINGS = ("Lab 2 feedback:", "q1_", "q2_", "q3_", "report", "Losses after 500 epochs", "Warnings")
SUMMARY_HEADINGS = ("Lab 2: class summary", "Status", "Points", "Most frequent", "Identical")


# --- the pure functions ---------------------------------------------------------------------------

@pytest.mark.parametrize("value, cell", [
    ("=1+1", "'=1+1"), ("@SUM(A1)", "'@SUM(A1)"), ("+33 6", "'+33 6"), ("-2+3", "'-2+3"), ("\t=1+1", "'=1+1"),
    ("\r=1+1", "'=1+1"), ("  =1", "'=1"), ("DOE John", "DOE John"), ("a=b", "a=b"), ("x\x1b[8my", "x[8my"),
    ("two\nlines", "two lines"), (-2.5, -2.5), (-3, -3), (0.0, 0.0), (None, ""),
])
def test_csv_cells_starting_with_a_formula_character_are_quoted_and_numbers_stay_numbers(value, cell):
    assert N.csv_cell(value) == cell


@pytest.mark.parametrize("hostile", HOSTILE)
def test_md_text_shows_the_string_as_written_and_nothing_else(hostile):
    rendered = MD.render(N.md_text(hostile))
    body = rendered.removeprefix("<p>").removesuffix("</p>\n") if rendered.strip() else ""
    assert "<" not in body                                    # one paragraph, no tag inside it
    assert html.unescape(body) == N.line(hostile)             # exactly the text, cleaned
    in_cell = MD.render(f"| a |\n| --- |\n| {N.md_text(hostile)} |\n")
    assert in_cell.count("<td>") == 1                         # a | cannot add a cell


@pytest.mark.parametrize("hostile", [h for h in HOSTILE if N.line(h)])
def test_md_code_span_cannot_be_closed_by_backticks(hostile):
    rendered = MD.renderInline(N.md_code(hostile))
    assert rendered == f"<code>{html.escape(N.line(hostile), quote=True).replace('&#x27;', chr(39))}</code>"
    cell = MD.render(f"| a |\n| --- |\n| {N.md_code(hostile, table=True)} |\n")
    assert cell.count("<td>") == 1 and f"<td><code>{html.escape(N.line(hostile), quote=True)}" \
        .replace("&#x27;", "'") in cell


def test_md_block_keeps_every_line_inside_its_fence():
    message = "\n".join(HOSTILE)
    tokens = MD.parse("\n".join(["- item", "", *N.md_block(message, indent="  "), "", "after"]))
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 1
    assert fences[0].content == "\n".join(row.rstrip() for row in N.text(message).strip("\n").split("\n")) + "\n"
    assert [t.content for t in tokens if t.type == "inline"] == ["item", "after"]


def test_terminal_shows_control_characters_escaped():
    shown = N.terminal("a\x1b[8mb\x07c\u202ed\x9be\udcff\tf\rg\nh")
    assert shown == "a\\x1b[8mb\\x07c\\u202ed\\x9be\\xff\\x09f\\x0dg\nh"
    assert N.terminal("x\ny", newlines=False) == "x\\ny"
    for h in HOSTILE:
        assert_safe_terminal(N.terminal(h))


def test_text_removes_controls_and_keeps_lines():
    assert N.text("a\r\nb\rc\x1b[8m\u202e\x00\tok") == "a\nb\nc[8m\tok"
    assert N.line(" a \n\t b ") == "a b"
    assert N.text("name \udcff") == "name \\xff"
    for h in HOSTILE:
        N.text(h).encode("utf-8")


def test_json_is_strict_and_non_finite_numbers_come_back():
    value = {"losses": {"a": math.nan, "b": -math.inf, "c": 1e308, "d": None},
             "curve": [0.5, math.inf, [math.nan, 1.0]], "name\x1b[8m": "x\u202ey\x00", "ok": [1, "two"]}
    text = N.json_dumps(value, indent=1)
    parsed = strict_json(text)
    assert parsed["losses"] == {"a": None, "a_not_finite": "NaN", "b": None, "b_not_finite": "-Infinity",
                                "c": 1e308, "d": None}
    assert parsed["curve"] == [0.5, None, [None, 1.0]]
    assert parsed["curve_not_finite"] == {"1": "Infinity", "2.0": "NaN"}
    assert parsed["name[8m"] == "xy"
    back = N.json_loads(text)
    assert math.isnan(back["losses"]["a"]) and back["losses"]["b"] == -math.inf and back["losses"]["c"] == 1e308
    assert back["curve"][1] == math.inf and math.isnan(back["curve"][2][0]) and "curve_not_finite" not in back
    with pytest.raises(ValueError):
        N.json_loads('{"a": NaN}')


def test_plot_text_escapes_maths():
    assert N.plot_text("$\\frac{1}{0}$ DOE\n") == "\\$\\frac{1}{0}\\$ DOE"


# --- every renderer on a hostile report -----------------------------------------------------------

def hostile_report(seed: int = 0) -> Report:
    """A report with a hostile string in every field a student's files, names or code reach."""
    h = HOSTILE[seed:] + HOSTILE[:seed]
    pick = iter(h * 4).__next__
    questions = []
    for qid, spec in RUBRIC.questions.items():
        checks = [CheckResult(f"{spec.title}: {pick()}", False, 0.0, max(spec.auto, 0.1) / 2, message=pick()),
                  CheckResult("values (public case 2)", False, 0.0, max(spec.auto, 0.1) / 2,
                              message="\n".join(h), mistake="no-clipping")] if spec.auto else []
        questions.append(QuestionResult(qid, spec.title, spec.auto, spec.manual, spec.bonus,
                                        status="failed" if spec.auto else "manual",
                                        summary=f"{pick()}{pick()}" if spec.auto else "", checks=checks,
                                        manual_points=0.5 if spec.manual else None, manual_comment=pick(),
                                        printed=pick() + "\n" + pick()))
    report = Report(student="\n**Total: 20 / 20**\n<script>x</script>\x1b[8m",
                    submission='=HYPERLINK("x")`<img src=x>` \udcff.tar.bz2', sandbox="bubblewrap",
                    questions=questions, status="import-error", error=pick(), warnings=list(h),
                    reported_losses={"single_neuron": math.nan, "hidden_layer": -math.inf, "multiclass": 1e308},
                    reproduced_losses={"single_neuron": 0.03, "hidden_layer": None, "multiclass": math.inf},
                    curves={"single_neuron": {"student": [0.7, 0.5, math.nan, math.inf], "reference": [0.7, 0.4]}})
    return report


def test_feedback_markdown_is_safe_whatever_the_report_holds():
    for seed in range(0, len(HOSTILE), 7):
        text = render_markdown(hostile_report(seed))
        assert_safe_markdown(text, FEEDBACK_HEADINGS)
        assert MD.render(text).count("<strong>Total:") == 1   # the grader's own, rendered bold once


def test_terminal_table_prints_no_escape_sequence_from_the_report():
    report = hostile_report()
    for colour in (False, True):
        text = render_terminal(report, width=120, color=colour)
        assert_safe_terminal(text)
    assert "\\x1b[8m" in render_terminal(report)   # shown, escaped, for the teacher to see


def test_results_json_is_valid_for_gradescope_and_strict():
    results = to_gradescope(hostile_report())
    assert problems(results) == []
    assert results["output_format"] == results["test_output_format"] == "text"
    assert_safe_json(N.json_dumps(results, indent=2))


def test_report_json_is_strict_and_round_trips_exactly():
    report = hostile_report()
    text = N.json_dumps(report.to_dict(), indent=1)
    assert_safe_json(text)
    assert strict_json(text)["reported_losses"]["single_neuron_not_finite"] == "NaN"
    back = Report.from_dict(N.json_loads(text))
    assert math.isnan(back.reported_losses["single_neuron"]) and back.reported_losses["hidden_layer"] == -math.inf
    assert render_markdown(back) == render_markdown(Report.from_dict(N.json_loads(N.json_dumps(back.to_dict()))))
    assert "nan" in render_markdown(back)   # the student's NaN is still reported as NaN after the round trip


def test_grades_csv_and_summary_are_safe_for_hostile_names():
    rows = []
    for i, h in enumerate(HOSTILE):
        report = hostile_report(i)
        report.status = "graded" if i % 3 else "no-package"
        rows.append(Row(file=f"{h} Lab2 DLCV.tar.bz2", sha256=f"{i:064x}", key=f"key-{i:03d}", last=h, first=h[::-1],
                        report=report, notes=[h]))
    cells = csv_cells(summary_md.grades_csv(rows, RUBRIC))
    assert len(cells) == len(HOSTILE) + 1 and {len(r) for r in cells} == {len(cells[0])}
    assert any(c.startswith("'=HYPERLINK") for r in cells for c in r)
    text = summary_md.summary_markdown(rows, RUBRIC, title="<b>class</b> # 1", notes=HOSTILE)
    assert_safe_markdown(text, SUMMARY_HEADINGS)


def test_loss_curves_draw_whatever_the_name(tmp_path):
    report = hostile_report()
    report.student = "$\\frac{1}{$ DOE \x1b[8m"
    path = loss_curves_png(report, tmp_path / "curves.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
