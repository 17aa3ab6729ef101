"""grades.csv, summary.md and the identical-submissions finder, on hand-built rows (no grading).

The rows are ``grader.batch.rows.Row`` objects holding reports made here, so every number in the
expected outputs is known in advance.
"""
import csv
import io
import shutil
from pathlib import Path

import pytest

from grader import REFERENCE
from grader.batch.rows import Row
from grader.batch.similarity import fingerprint
from grader.render import summary_md
from grader.results import CheckResult, QuestionResult, Report
from grader.rubric import load as load_rubric

RUBRIC = load_rubric(Path(__file__).parents[2] / "files" / "rubric_small.yaml")


def report(auto: dict | None = None, *, status="graded", manual=None, penalty=0.0, mistakes=(), error="",
           warnings=()) -> Report:
    """A report with every rubric question; ``auto`` gives a question's automatic points (default:
    all of them), ``mistakes`` = [(qid, mistake id)] adds a failed check naming that mistake."""
    r = Report(student="X", submission="x.tar.bz2", status=status, total_max=RUBRIC.total, penalty=penalty,
               rubric_sha256=RUBRIC.sha256, error=error, warnings=list(warnings))
    if status in ("bad-archive", "no-package", "internal-error"):
        return r
    for qid, spec in RUBRIC.questions.items():
        q = QuestionResult(qid, spec.title, spec.auto, max_manual=spec.manual, bonus=spec.bonus)
        got = spec.auto if auto is None or qid not in auto else auto[qid]
        q.checks.append(CheckResult("all", got == spec.auto, got, spec.auto))
        for mqid, mistake in mistakes:
            if mqid == qid:
                q.checks.append(CheckResult(f"{mistake} check", False, 0.0, 0.0, "wrong", mistake=mistake))
        if manual and qid in manual:
            q.manual_points = manual[qid]
        r.questions.append(q)
    return r


def row(key, rep, *, last="", first="", file=None, fingerprint=None, notes=()) -> Row:
    return Row(file or f"{key}.tar.bz2", "ab" * 32, key, last, first, rep, fingerprint or {}, list(notes))


def read_csv(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


# --- grades.csv ------------------------------------------------------------------------------------

def test_csv_is_utf8_with_bom_crlf_and_the_documented_header():
    data = summary_md.grades_csv([row("DOE_John", report(), last="DOE", first="John")], RUBRIC)
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\r\n") == 2 and b"\n" not in data.replace(b"\r\n", b"")
    header = data.decode("utf-8-sig").splitlines()[0].split(",")
    assert header == ["last_name", "first_name", "file", "sha256", "status", "q1_1", "q1_2", "q1_3", "q1_4", "q1_5",
                      "q2_1", "q2_2", "q2_3", "q3_1", "q3_2", "q3_3", "report", "total", "bonus",
                      "source", "group", "received", "late_days", "warnings", "similar_to"]


def test_csv_points_total_and_bonus_of_a_graded_row():
    rep = report({"q1_3": 0.5, "q2_2": 0.0}, manual={"q1_2": 1.0, "q3_1": 1.5, "q2_3": 1.0}, penalty=1.0)
    (line,) = read_csv(summary_md.grades_csv([row("DOE_John", rep, last="DOE", first="John")], RUBRIC))
    assert (line["q1_1"], line["q1_2"], line["q1_3"], line["q2_2"], line["q3_1"]) == ("1", "2", "0.5", "0", "1.5")
    # automatic 15 - 0.5 - 1.5 = 13, by hand 1 + 1.5 = 2.5 (the bonus's hand point not counted), penalty 1
    assert line["total"] == "14.5"
    assert line["bonus"] == "2"   # q2_3: 1 automatic + 1 by hand
    assert line["status"] == "graded" and line["warnings"] == ""


def test_csv_refused_archive_is_a_zero_and_an_internal_error_is_no_grade_at_all():
    rows = [row("A", report(status="bad-archive", error="the archive is an empty file (0 bytes)")),
            row("B", report(status="internal-error", error="SandboxError: boom",
                            warnings=["Traceback (most recent call last):\n  File x\nSandboxError: boom"]))]
    bad, internal = read_csv(summary_md.grades_csv(rows, RUBRIC))
    assert all(bad[q] == "" for q in RUBRIC.questions) and (bad["total"], bad["bonus"]) == ("0", "0")
    assert bad["warnings"] == "bad-archive: the archive is an empty file (0 bytes)"
    assert all(internal[q] == "" for q in RUBRIC.questions) and (internal["total"], internal["bonus"]) == ("", "")
    # A traceback keeps its last line: every warnings cell is one line.
    assert internal["warnings"] == "internal-error: SandboxError: boom; SandboxError: boom"


def test_csv_quotes_awkward_names_and_keeps_accents():
    awkward = row("ODONNELL_Jean", report(), last='O"DONNELL, Jr', first="Jérôme-Ç", file='a,b "c".zip',
                  notes=["first; second", "line one\nline two"])
    data = summary_md.grades_csv([awkward], RUBRIC)
    (line,) = read_csv(data)
    assert (line["last_name"], line["first_name"], line["file"]) == ('O"DONNELL, Jr', "Jérôme-Ç", 'a,b "c".zip')
    assert line["warnings"] == "first; second; line one line two"
    assert len(data.decode("utf-8-sig").splitlines()) == 2   # no raw newline inside a cell


def test_csv_rows_are_sorted_whatever_the_order_they_came_in():
    rows = [row(k, report(), last=k) for k in ("MARTIN_Alice", "DOE_John", "CELIK_Ayse")]
    first = summary_md.grades_csv(rows, RUBRIC)
    assert first == summary_md.grades_csv(list(reversed(rows)), RUBRIC)
    assert [r["last_name"] for r in read_csv(first)] == ["CELIK_Ayse", "DOE_John", "MARTIN_Alice"]


# --- summary.md --------------------------------------------------------------------------------------

def test_summary_counts_statuses_and_gives_statistics_over_graded_rows():
    rows = [row("A", report({"q1_1": 0.0, "q3_3": 0.0}), last="A"),       # 15 - 1 - 2.5 = 11.5
            row("B", report({"q1_1": 0.5}), last="B"),                     # 14.5
            row("C", report(), last="C"),                                  # 15
            row("D", report(status="no-package", error="no lab2/ package in the submission"), last="D"),
            row("E", report({"q1_1": 0.0}, status="import-error"), last="E")]
    text = summary_md.summary_markdown(rows, RUBRIC, title="submissions")
    assert "| graded | 3 |" in text and "| no-package | 1 |" in text and "| import-error | 1 |" in text
    assert "| D (`D.tar.bz2`) | no-package | no lab2/ package in the submission |" in text
    assert "## Points (over the 3 graded archives)" in text
    assert "| q1_1 sigmoid | 1 | 0.50 | 0.5 | 0 | 1 |" in text
    assert "| **total** (- penalties) | 15 + 5 | 13.67 | 14.5 | 11.5 | 15 |" in text
    assert "automatic points only" in text
    assert "![Histogram of the totals of the graded archives](histogram.png)" in text


def test_summary_says_when_hand_points_are_merged():
    rows = [row("A", report(manual={"q3_1": 2.0})), row("B", report())]
    assert "Hand-graded points merged for 1 of 2 graded archives." in summary_md.summary_markdown(rows, RUBRIC)


def test_mistakes_are_counted_once_per_student_most_frequent_first():
    rows = [row("A", report(mistakes=[("q1_3", "no-clipping"), ("q1_3", "no-clipping"), ("q3_2", "no-clipping"),
                                      ("q2_1", "tanh-derivative")])),
            row("B", report(mistakes=[("q2_1", "tanh-derivative")])),
            row("C", report(mistakes=[("q2_1", "tanh-derivative"), ("q3_2", "softmax-unstable")]))]
    assert summary_md.mistake_counts(rows) == [("tanh-derivative", 3, ["q2_1"]), ("no-clipping", 1, ["q1_3", "q3_2"]),
                                            ("softmax-unstable", 1, ["q3_2"])]
    text = summary_md.summary_markdown(rows, RUBRIC)
    assert "| `tanh-derivative` | 3 | q2_1 | 1 - A1\\*\\*2 is the derivative of tanh" in text  # escaped: shown as typed


def test_summary_is_deterministic():
    rows = [row(k, report({"q1_1": i / 4}), last=k) for i, k in enumerate("DCBA")]
    assert summary_md.summary_markdown(rows, RUBRIC) == summary_md.summary_markdown(rows[::-1], RUBRIC)


# --- identical submissions ------------------------------------------------------------------------

def test_normalise_ignores_comments_docstrings_blank_lines_and_layout():
    original = (b'"""Module doc."""\nimport numpy as np  # numpy\n\n\n'
                b'def f(x):\n    """Doc."""\n    return np.exp(x) + 1\n')
    disguised = b"import numpy as np\ndef f(x):\n        # my own comment\n        return np.exp( x )+1\n"
    changed = b"import numpy as np\ndef f(x):\n    return np.exp(x) + 2\n"
    assert fingerprint.normalise(original) == fingerprint.normalise(disguised)
    assert fingerprint.normalise(original) != fingerprint.normalise(changed)
    # A string that is not a statement of its own is code, and counts.
    assert fingerprint.normalise(b"x = 'a'\n") != fingerprint.normalise(b"x = 'b'\n")
    # Broken code still compares (whitespace removed).
    assert fingerprint.normalise(b"def f(:\n  return 1\n") == fingerprint.normalise(b"def f( :\nreturn 1")


def _copy_reference(dest: Path, edit=None) -> Path:
    shutil.copytree(REFERENCE / "lab2", dest / "lab2", ignore=shutil.ignore_patterns("__pycache__"))
    if edit:
        edit(dest / "lab2")
    return dest / "lab2"


def _recomment(package: Path):
    path = package / "multiclass.py"
    path.write_text("# my very own work\n" + path.read_text().replace("    ", "        "))


def _change_single_neuron(package: Path):
    path = package / "single_neuron.py"
    path.write_text(path.read_text() + "\n\nEXTRA = 1\n")


def test_groups_mark_the_reference_and_find_shared_modules(tmp_path):
    prints = {
        "A": fingerprint.fingerprint(_copy_reference(tmp_path / "a")),
        "B": fingerprint.fingerprint(_copy_reference(tmp_path / "b", _recomment)),          # still the reference
        "C": fingerprint.fingerprint(_copy_reference(tmp_path / "c", _change_single_neuron)),
        "D": fingerprint.fingerprint(_copy_reference(tmp_path / "d", _change_single_neuron)),
    }
    found = fingerprint.groups(prints)
    assert [(g.what, g.members, g.same_as) for g in found] == [
        ("lab2", ["A", "B"], "reference"),
        ("lab2", ["C", "D"], ""),
        # multiclass.py is the reference's in all four: a group not already covered by one package group
        ("lab2/hidden_layer.py", ["A", "B", "C", "D"], "reference"),
        ("lab2/multiclass.py", ["A", "B", "C", "D"], "reference"),
    ]


def test_code_left_as_the_skeleton_is_not_a_group(tmp_path):
    if not (fingerprint.SKELETON / "lab2").is_dir():
        pytest.skip("no skeleton/ in this checkout")
    prints = {}
    for label in ("A", "B"):
        shutil.copytree(fingerprint.SKELETON / "lab2", tmp_path / label / "lab2")
        prints[label] = fingerprint.fingerprint(tmp_path / label / "lab2")
    assert fingerprint.groups(prints) == []


def test_summary_lists_two_copies_of_the_same_code(tmp_path):
    same = fingerprint.fingerprint(_copy_reference(tmp_path / "a", _change_single_neuron))
    rows = [row("DOE_John", report(), last="DOE", first="John", fingerprint=same),
            row("ROE_Jane", report(), last="ROE", first="Jane", fingerprint=dict(same)),
            row("ZED_Zoe", report(), last="ZED", first="Zoe",
                fingerprint=fingerprint.fingerprint(_copy_reference(tmp_path / "z")))]
    text = summary_md.summary_markdown(rows, RUBRIC)
    section = text[text.index("## Identical submissions"):]
    assert ("- the whole `lab2/` package: DOE John (`DOE_John.tar.bz2`), ROE Jane (`ROE_Jane.tar.bz2`)"
            in section)
    assert "reference solution" not in section.split("\n- ")[1]
