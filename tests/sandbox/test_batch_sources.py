"""``batch`` on the three ways in: the same archives from a folder, an mbox and a Moodle zip.

SLOW-ish: each source grades the same three archives, of which only one is a real submission
(the reference, ~10 s); the other two cost about a second (no package; a package that fails to
import). The rest (bad input, lateness) grades nothing: it is refused before grading, or every
row is up to date.
"""
import csv
import io
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from builders import archives
from builders import teacher_inputs as ti

from grader import PROJECT
from grader.batch.run import run
from grader.rubric import load as load_rubric

pytestmark = pytest.mark.timeout(600)

RUBRIC_PATH = Path(__file__).parents[1] / "files" / "rubric_small.yaml"
RUBRIC = load_rubric(RUBRIC_PATH)
CET = timezone(timedelta(hours=1))
SCORES = ("status", *RUBRIC.questions, "total", "bonus")
DOE, SANS, BROKEN = "DOE John Lab2 DLCV.tar.bz2", "SANS Paquet Lab2 DLCV.tar.bz2", "BROKEN Bob Lab2 DLCV.tar.bz2"


def csv_rows(out: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO((out / "grades.csv").read_bytes().decode("utf-8-sig"), newline="")))


def three_archives(folder: Path) -> dict[str, bytes]:
    folder.mkdir(parents=True)
    archives.good_wrapped(folder)
    archives.no_package(folder)
    files = archives.package_files()
    files["lab2/__init__.py"] = b"raise ImportError('half done')\n"
    archives.write_tar(folder / BROKEN, files)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    data = three_archives(root / "folder")
    when = {DOE: datetime(2026, 12, 10, 20, 0, tzinfo=CET), SANS: datetime(2026, 12, 11, 10, 0, tzinfo=CET),
            BROKEN: datetime(2026, 12, 11, 22, 0, tzinfo=CET)}
    group = {DOE: "thursday", SANS: "thursday", BROKEN: "friday"}
    mails = [ti.Mail(f"DLCV-{group[name]}: {name.removesuffix(' DLCV.tar.bz2')}", f"{name.split()[1]}@etu.example",
                     when[name], [(name, data[name])]) for name in data]
    mails.append(ti.Mail("DLCV-friday: MARTIN Alice Lab2", "alice@etu.example", when[SANS], []))
    ti.write_mbox(root / "Inbox", mails)
    people = [ti.Participant(100 + n, " ".join(reversed(name.split()[:2])).title(), {name: data[name]},
                             submitted=f"Thursday, 10 December 2026, {9 + n}:00 PM", group=group[name])
              for n, name in enumerate(sorted(data))]
    ti.write_moodle_zip(root / "DLCV-Lab 2-42.zip", people, "folder")
    ti.write_worksheet(root / "Grades-DLCV-Lab 2-42.csv", people, group=True)
    runs = {}
    for name, source, extra in (("folder", root / "folder", {}), ("mail", root / "Inbox", {}),
                                ("moodle", root / "DLCV-Lab 2-42.zip",
                                 {"worksheet": root / "Grades-DLCV-Lab 2-42.csv"})):
        runs[name] = run(source, root / f"out-{name}", RUBRIC, jobs=2, progress=False, **extra)
    return {"root": root, "runs": runs, "people": people}


def scores(out: Path) -> dict:
    return {(line["last_name"], line["first_name"]): tuple(line[c] for c in SCORES) for line in csv_rows(out)
            if line["status"] != "no-archive"}


def test_the_same_archives_get_the_same_scores_whatever_the_source(sources):
    root = sources["root"]
    folder = scores(root / "out-folder")
    assert folder == scores(root / "out-mail") == scores(root / "out-moodle")
    assert {k: v[0] for k, v in folder.items()} == {("DOE", "John"): "graded", ("SANS", "Paquet"): "no-package",
                                                    ("BROKEN", "Bob"): "import-error"}
    assert folder[("DOE", "John")][-2:] == ("15", "1")


def test_grades_csv_says_where_and_when_each_came(sources):
    root = sources["root"]
    mail = {line["last_name"]: line for line in csv_rows(root / "out-mail")}
    assert mail["DOE"]["source"] == "mail" and mail["DOE"]["group"] == "thursday"
    assert mail["DOE"]["received"] == "2026-12-10T20:00:00+01:00" and mail["DOE"]["late_days"] == ""
    assert mail["MARTIN"]["status"] == "no-archive" and mail["MARTIN"]["total"] == ""
    assert "no archive attached" in mail["MARTIN"]["warnings"]
    folder = {line["last_name"]: line for line in csv_rows(root / "out-folder")}
    assert (folder["DOE"]["source"], folder["DOE"]["received"]) == ("folder", "")
    moodle = {line["last_name"]: line for line in csv_rows(root / "out-moodle")}
    assert moodle["BROKEN"]["group"] == "friday" and moodle["DOE"]["received"] == "2026-12-10T22:00:00+00:00"
    header = list(csv_rows(root / "out-folder")[0])
    assert header[-6:] == ["source", "group", "received", "late_days", "warnings", "similar_to"]
    summary = (root / "out-mail" / "summary.md").read_text()
    assert "| no-archive | 1 |" in summary and "## Per group" in summary
    assert "| friday | 2 | 0 | 0 |" in summary and "| thursday | 2 | 1 | 0 | 15.00 | 15 | 15 | 15 |" in summary


def test_moodle_gets_the_filled_worksheet_and_the_feedback_zip(sources):
    root = sources["root"]
    original = (root / "Grades-DLCV-Lab 2-42.csv").read_bytes()
    filled = (root / "out-moodle" / "moodle" / "Grades-DLCV-Lab 2-42.csv").read_bytes()
    before = list(csv.reader(io.StringIO(original.decode("utf-8-sig"), newline="")))
    after = list(csv.reader(io.StringIO(filled.decode("utf-8-sig"), newline="")))
    changed = {c for r in range(len(before)) for c in range(len(before[r])) if before[r][c] != after[r][c]}
    assert {before[0][c] for c in changed} == {"Grade", "Feedback comments"}
    grades = {line[0]: line[5] for line in after[1:]}
    assert grades == {"Participant 100": "0.5", "Participant 101": "15", "Participant 102": "0"}
    assert len(filled.splitlines()) == len(original.splitlines())
    with zipfile.ZipFile(root / "out-moodle" / "moodle" / "feedback-files.zip") as zf:
        names = zf.namelist()
        page = zf.read("John Doe_101_assignsubmission_file/feedback.html").decode()
    assert names == ["Bob Broken_100_assignsubmission_file/feedback.html",
                     "John Doe_101_assignsubmission_file/feedback.html",
                     "Paquet Sans_102_assignsubmission_file/feedback.html"]
    assert "<strong>Total: 15 / 20</strong>" in page


def test_deadlines_apply_at_every_run_without_regrading(sources, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(sources["root"] / "out-mail", out)
    # Lateness does not enter the grading: the answers and reports stay valid under the same hash.
    late = RUBRIC.lateness.model_copy(update={
        "deadlines": {"thursday": datetime(2026, 12, 10, 23, 59, tzinfo=CET)},
        "default": datetime(2026, 12, 11, 12, 0, tzinfo=CET),
        "policy": RUBRIC.lateness.policy.model_copy(update={"per_started_day": 2.0})})
    result = run(sources["root"] / "Inbox", out, RUBRIC.model_copy(update={"lateness": late}), jobs=1,
                       progress=False)
    assert result.graded == 0
    lines = {line["last_name"]: line for line in csv_rows(out)}
    assert (lines["DOE"]["late_days"], lines["DOE"]["total"]) == ("0", "15")
    assert (lines["SANS"]["late_days"], lines["BROKEN"]["late_days"]) == ("1", "1")
    assert "late penalty -2" in (out / "students" / "BROKEN_Bob" / "feedback.md").read_text()
    assert "2 started days" not in (out / "students" / "BROKEN_Bob" / "feedback.md").read_text()
    assert "| friday | 2 | 0 | 1 |" in (out / "summary.md").read_text()


# --- the command line: bad input from the teacher, before any grading ------------------------------

def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", "batch", *map(str, args), "--rubric", str(RUBRIC_PATH)],
                          cwd=PROJECT, capture_output=True, text=True, timeout=120)


def test_bad_teacher_input_is_one_line_and_exit_2(sources, tmp_path):
    root = sources["root"]
    zipped = archives.write_zip(tmp_path / "lab.zip", {"readme.txt": b"x"})
    other = ti.write_worksheet(tmp_path / "Grades-other.csv", [ti.Participant(9, "X Y", {})])
    no_headers = tmp_path / "sheet.csv"
    no_headers.write_text("Name,Note\n")
    for args, message in (
            ((zipped, "--out", tmp_path / "o1"), "lab.zip is not a Moodle 'Download all submissions' zip"),
            ((root / "DLCV-Lab 2-42.zip", "--out", tmp_path / "o2", "--moodle-worksheet", other),
             "Grades-other.csv does not belong to DLCV-Lab 2-42.zip"),
            ((root / "DLCV-Lab 2-42.zip", "--out", tmp_path / "o3", "--moodle-worksheet", no_headers),
             "sheet.csv is not a Moodle grading worksheet"),
            ((root / "Inbox", "--out", tmp_path / "o4", "--moodle-worksheet", root / "Grades-DLCV-Lab 2-42.csv"),
             "needs a Moodle download as SOURCE")):
        done = cli(*args)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ") and message in done.stderr
        assert not (Path(args[2]) / "grades.csv").exists()
