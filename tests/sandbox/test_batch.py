"""Batch grading (``grader.batch.run``) on real archives, with the small rubric.

SLOW: every test here grades real submissions in sandboxed children (a few seconds per correct
archive on 2 cores; the catalogue's refused archives cost almost nothing). The whole file takes
about three minutes; ``-k "not kill"`` skips the two command-line runs that are killed half-way.
The reference cache for the small rubric is built on first use (~30 s) under ``.cache/`` (or
``$LAB2_CACHE``) and shared with the other test files.
Above 500 lines because its tests share module-scoped batches (the catalogue, a small class):
split across files, each file would grade them again.
The batch's own logic (rows, resumption, --force, hand-given points, Moodle, the grader's failures
as rows) is tested without grading in tests/unit/batch/, through the in-process engine; what
stays here needs real grading or real worker processes.
"""
import contextlib
import csv
import functools
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from builders import archives, sabotage, safety

from grader import PROJECT, names
from grader.batch import outdir, plan
from grader.batch.engines.local import LocalEngine
from grader.batch.run import run
from grader.render.gradescope import problems
from grader.rubric import load as load_rubric

pytestmark = pytest.mark.timeout(600)

RUBRIC_PATH = Path(__file__).parents[1] / "files" / "rubric_small.yaml"
RUBRIC = load_rubric(RUBRIC_PATH)
EXAMPLE = Path(__file__).parents[1] / "files" / "example" / "DOE_Jane_Lab2_DLCV"
AUTO = {qid: q.auto for qid, q in RUBRIC.questions.items() if q.auto > 0}
AUTO_TOTAL = sum(q.auto for q in RUBRIC.questions.values() if not q.bonus)      # 15
AUTO_BONUS = sum(q.auto for q in RUBRIC.questions.values() if q.bonus)          # 1
STUDENT_FILES = {"report.json", "results.json", "feedback.md", "archive.json", "loss_curves.png", "code.json"}


# --- archives beyond the catalogue -------------------------------------------------------------

def example_files(prefix="DOE_Jane/", comment=False) -> dict[str, bytes]:
    """The example submission (two catalogue mistakes); ``comment`` disguises a copy of it."""
    files = {}
    for path in sorted(EXAMPLE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            data = path.read_bytes()
            if comment and path.suffix == ".py":
                data = b"# my own work, honestly\n" + data.replace(b"\n\n", b"\n\n\n")
            files[prefix + path.relative_to(EXAMPLE).as_posix()] = data
    return files


def mistakes(folder: Path) -> Path:
    return archives.write_tar(folder / "DOE Jane Lab2 DLCV.tar.bz2", example_files())


def copied_mistakes(folder: Path) -> Path:
    return archives.write_tar(folder / "COPY Cat Lab2 DLCV.tar.bz2", example_files("cat/", comment=True))


def hostile(folder: Path, canary: Path) -> Path:
    """Code that tries to write outside its sandbox and to kill its parent, at import."""
    files = archives.package_files()
    files["lab2/__init__.py"] = (
        "import os\n"
        f"try:\n    open({str(canary / 'owned.txt')!r}, 'w').write('owned')\nexcept OSError:\n    pass\n"
        "try:\n    os.kill(os.getppid(), 9)\nexcept OSError:\n    pass\n"
        "raise SystemExit('bye')\n").encode()
    return archives.write_tar(folder / "HOSTILE Hacker Lab2 DLCV.tar.bz2", files)


def half_uploaded_resubmission(folder: Path) -> Path:
    """A second archive of DOE John, as a browser names a re-download, cut in half."""
    data = archives.good_wrapped(folder).read_bytes()
    path = folder / "DOE John Lab2 DLCV (1).tar.bz2"
    path.write_bytes(data[: len(data) // 2])
    return path


# --- helpers ----------------------------------------------------------------------------------------

def snapshot(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): (p.is_dir(), p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def csv_rows(out: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO((out / "grades.csv").read_bytes().decode("utf-8-sig"), newline="")))


def report_mtimes(out: Path) -> dict:
    return {p.parent.name: p.stat().st_mtime_ns for p in (out / "students").glob("*/report.json")}


def by_file(result) -> dict:
    return {r.file: r for r in result.rows}


def cli(folder: Path, out: Path, *extra) -> list[str]:
    return [sys.executable, "-m", "grader", "batch", str(folder), "--out", str(out), "--rubric", str(RUBRIC_PATH),
            *extra]


# --- the catalogue: 30 archives ------------------------------------------------------------------

@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    """Every catalogue archive, the example with two mistakes and hostile code, graded at --jobs 2."""
    root = tmp_path_factory.mktemp("catalogue")
    folder, out, canary = root / "in" / "submissions", root / "out", root / "canary"
    folder.mkdir(parents=True)
    canary.mkdir()
    (canary / "keep.txt").write_text("untouched")
    expected = {}
    for _case, (build, exp) in archives.ALL.items():
        expected[build(folder).name] = exp
    expected[mistakes(folder).name] = archives.Expected("graded", key="DOE_Jane")
    expected[hostile(folder, canary).name] = archives.Expected("import-error", key="HOSTILE_Hacker")
    before = {"in": snapshot(root / "in"), "canary": snapshot(canary), "root": sorted(os.listdir(root)),
              "absolute": os.path.exists(archives.ABSOLUTE_TARGET)}
    started = time.monotonic()
    result = run(folder, out, RUBRIC, jobs=2, progress=False)
    seconds = time.monotonic() - started
    return {"root": root, "folder": folder, "out": out, "canary": canary, "expected": expected, "before": before,
            "result": result, "seconds": seconds}


def test_catalogue_has_at_least_30_archives(catalogue):
    assert len(catalogue["expected"]) >= 30


def test_one_row_per_archive_with_the_expected_status(catalogue):
    result, expected = catalogue["result"], catalogue["expected"]
    rows = by_file(result)
    assert sorted(rows) == sorted(expected)
    assert {f: r.status for f, r in rows.items()} == {f: e.status for f, e in expected.items()}
    for file, exp in expected.items():
        assert exp.message in rows[file].report.error, file
    assert result.internal_errors == [] and result.skipped == 0 and result.graded == len(expected)
    lines = csv_rows(catalogue["out"])
    assert sorted(line["file"] for line in lines) == sorted(expected)
    assert {line["file"]: line["status"] for line in lines} == {f: e.status for f, e in expected.items()}


def test_correct_archives_get_every_automatic_point(catalogue):
    rows = by_file(catalogue["result"])
    good = [f for f, exp in catalogue["expected"].items() if exp.status == "graded" and "Jane" not in f]
    assert len(good) == 11
    for file in good:
        report = rows[file].report
        for q in report.questions:
            assert q.auto_points == pytest.approx(q.max_auto), (file, q.id, q.summary)
        assert report.auto_total == pytest.approx(AUTO_TOTAL) and report.bonus == pytest.approx(AUTO_BONUS)
    for line in csv_rows(catalogue["out"]):
        if line["file"] in good:
            assert (line["total"], line["bonus"]) == ("15", "1"), line
            assert all(line[qid] == f"{points:g}" for qid, points in AUTO.items()), line


def test_rows_name_the_student_and_warn_about_what_a_teacher_should_know(catalogue):
    rows = by_file(catalogue["result"])
    for file, exp in catalogue["expected"].items():
        assert rows[file].key == (exp.key or names.fallback_key(file)), file
    unreadable = rows["submission.tar.bz2"]
    assert (unreadable.last, unreadable.first) == ("", "")
    assert any("does not read as" in w for w in unreadable.warnings)
    assert unreadable.report.penalty == RUBRIC.naming_penalty
    assert any("zip archive although its name says tar.bz2" in w for w in rows["LEE Min-Ho Lab2 DLCV.tar.bz2"].warnings)
    assert any("link" in w for w in rows["SILVA Pedro Lab2 DLCV.tar.bz2"].warnings)
    jane = rows["DOE Jane Lab2 DLCV.tar.bz2"].report
    assert 0 < jane.auto_total < AUTO_TOTAL


def test_every_student_folder_holds_its_outputs(catalogue):
    out = catalogue["out"]
    assert sorted(os.listdir(out)) == [".batch.lock", "grades.csv", "histogram.png", "similarity.html", "students",
                                       "summary.md"]
    for row in catalogue["result"].rows:
        folder = out / "students" / row.key
        has_questions = bool(row.report.questions)
        missing = set() if has_questions else {"loss_curves.png", "code.json"}
        figure = {"figure.png"} if row.report.figure_file else set()
        kept = {"REPORT.md"} if (folder / "REPORT.md").exists() else set()   # for grader.review
        assert not kept or has_questions, row.key
        assert set(os.listdir(folder)) == STUDENT_FILES - missing | figure | kept, row.key
        results = json.loads((folder / "results.json").read_text())
        assert problems(results) == [] and results["extra_data"]["status"] == row.status
        assert json.loads((folder / "report.json").read_text())["status"] == row.status
        marker = json.loads((folder / "archive.json").read_text())
        assert (marker["file"], marker["sha256"]) == (row.file, row.sha256)
        assert row.report.student in (folder / "feedback.md").read_text()
        if has_questions:
            assert (folder / "loss_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if figure:  # Q3.1's figure, shown to the teacher grading it by hand, where the archive had one
            assert (folder / "figure.png").read_bytes() == archives.png()
            feedback = (folder / "feedback.md").read_text()
            assert "![The architecture figure found in the submission](figure.png)" in feedback
            assert "architecture.png" in row.report.question("q3_1").summary
    graded = [r for r in catalogue["result"].rows if r.report.questions]
    assert sum(bool(r.report.figure_file) for r in graded) >= len(graded) - 2  # the catalogue's archives carry one
    kept = [(out / "students" / r.key / "REPORT.md") for r in graded]
    assert sum(p.exists() for p in kept) >= len(graded) - 2                   # and a REPORT.md
    assert archives.REPORT.encode() in {p.read_bytes() for p in kept if p.exists()}


def test_nothing_is_written_outside_out(catalogue):
    before, root = catalogue["before"], catalogue["root"]
    assert snapshot(root / "in") == before["in"]
    assert snapshot(catalogue["canary"]) == before["canary"]
    assert sorted(os.listdir(root)) == sorted(before["root"] + ["out"])
    assert os.path.exists(archives.ABSOLUTE_TARGET) == before["absolute"]
    assert not (catalogue["out"] / outdir.WORK).exists()   # the private extraction folders are gone


def test_summary_reads_the_whole_class(catalogue):
    text = (catalogue["out"] / "summary.md").read_text()
    assert "| graded | 12 |" in text and "| bad-archive | 15 |" in text and "| no-package | 2 |" in text
    assert "| import-error | 1 |" in text
    assert "| `no-clipping` | 1 |" in text and "| `tanh-derivative` | 1 |" in text
    assert "![Histogram of the totals of the graded archives](histogram.png)" in text
    identical = text[text.index("## Identical submissions"):]
    assert "**(identical to the reference solution)**" in identical
    assert "DOE John (`DOE John Lab2 DLCV.tar.bz2`)" in identical


def test_a_rerun_regrades_nothing_and_rewrites_nothing(catalogue):
    out = catalogue["out"]
    csv_before, mtimes = (out / "grades.csv").read_bytes(), report_mtimes(out)
    assert len(mtimes) == len(catalogue["expected"])
    result = run(catalogue["folder"], out, RUBRIC, jobs=2, progress=False)
    assert result.skipped == len(catalogue["expected"]) and result.graded == 0
    assert report_mtimes(out) == mtimes
    assert (out / "grades.csv").read_bytes() == csv_before


# --- a small class: determinism, identical code ----------------------------------------------------

@pytest.fixture(scope="module")
def small_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("small")
    folder = root / "submissions"
    folder.mkdir()
    for build in (half_uploaded_resubmission, mistakes, copied_mistakes, archives.empty):
        build(folder)
    runs = {}
    for jobs in (1, 2):
        started = time.monotonic()
        result = run(folder, root / f"out{jobs}", RUBRIC, jobs=jobs, progress=False)
        runs[jobs] = (result, time.monotonic() - started)
    return {"root": root, "folder": folder, "runs": runs}


def test_jobs_1_and_2_give_the_same_bytes(small_class):
    """Byte for byte: both runs are on this machine in this test, so nothing can round apart."""
    root = small_class["root"]
    assert (root / "out1" / "grades.csv").read_bytes() == (root / "out2" / "grades.csv").read_bytes()
    assert (root / "out1" / "summary.md").read_bytes() == (root / "out2" / "summary.md").read_bytes()
    assert len(csv_rows(root / "out1")) == 5


def test_summary_lists_the_two_copies_of_the_same_code(small_class):
    text = (small_class["root"] / "out2" / "summary.md").read_text()
    identical = text[text.index("## Identical submissions"):]
    assert ("- the whole `lab2/` package: COPY Cat (`COPY Cat Lab2 DLCV.tar.bz2`), "
            "DOE Jane (`DOE Jane Lab2 DLCV.tar.bz2`)\n") in identical


# --- a worker that dies ----------------------------------------------------------------------------

def test_a_dead_worker_costs_its_own_archive_only(tmp_path, monkeypatch):
    folder, out = tmp_path / "submissions", tmp_path / "out"
    folder.mkdir()
    for build in (archives.good_wrapped, archives.good_flat, archives.empty):
        build(folder)
    # The worker that gets MARTIN's archive SIGKILLs itself (tests/builders/sabotage.py; tests/ on the workers' path).
    monkeypatch.setenv("PYTHONPATH", str(Path(sabotage.__file__).parents[1]))
    engine = LocalEngine(2, grade=functools.partial(sabotage.kill_on, "MARTIN"))
    result = run(folder, out, RUBRIC, jobs=2, progress=False, engine=engine)
    rows = by_file(result)
    martin = rows["MARTIN Alice Lab2 DLCV.tar.bz2"]
    assert martin.status == "internal-error"
    assert "the grading process died" in martin.report.error and "SIGKILL" in martin.report.error
    assert rows["DOE John Lab2 DLCV.tar.bz2"].status == "graded"
    assert rows["VIDE Rien Lab2 DLCV.tar.bz2"].status == "bad-archive"
    assert result.internal_errors == ["MARTIN Alice Lab2 DLCV.tar.bz2"]
    line = next(line for line in csv_rows(out) if line["file"].startswith("MARTIN"))
    assert (line["status"], line["total"]) == ("internal-error", "")

    result = run(folder, out, RUBRIC, jobs=2, progress=False)   # the grader's failure is retried
    assert result.graded == 1 and result.skipped == 2   # MARTIN only
    assert by_file(result)["MARTIN Alice Lab2 DLCV.tar.bz2"].report.auto_total == pytest.approx(AUTO_TOTAL)


    (folder / "VIDE Rien Lab2 DLCV.tar.bz2").unlink()   # an archive taken out of the folder
    result = run(folder, out, RUBRIC, jobs=2, progress=False)
    assert len(csv_rows(out)) == 2 and result.graded == 0
    assert (out / "students" / "VIDE_Rien" / "report.json").exists()   # its results are not deleted
    assert "belong to no archive of the folder any more" in (out / "summary.md").read_text()


def test_a_stuck_worker_is_killed_after_the_time_budget(tmp_path, monkeypatch):
    folder, out = tmp_path / "submissions", tmp_path / "out"
    folder.mkdir()
    for build in (archives.good_wrapped, archives.empty, archives.not_an_archive):
        build(folder)
    monkeypatch.setenv("PYTHONPATH", str(Path(sabotage.__file__).parents[1]))
    monkeypatch.setattr("grader.batch.run.time_budget", lambda rubric: 5.0)
    engine = LocalEngine(2, grade=functools.partial(sabotage.hang_on, "DOE John"))
    started = time.monotonic()
    result = run(folder, out, RUBRIC, jobs=2, progress=False, engine=engine)
    assert time.monotonic() - started < 60
    rows = by_file(result)
    assert rows["DOE John Lab2 DLCV.tar.bz2"].status == "internal-error"
    assert "took more than 5 s" in rows["DOE John Lab2 DLCV.tar.bz2"].report.error
    assert [rows[f].status for f in ("TEXTE Seul Lab2 DLCV.tar.bz2", "VIDE Rien Lab2 DLCV.tar.bz2")] == \
        ["bad-archive", "bad-archive"]


# --- killing the batch half-way -------------------------------------------------------------------

@pytest.fixture
def three_good(tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    for build in (archives.good_wrapped, archives.good_flat, archives.macos_junk, archives.empty):
        build(folder)
    return folder


def _wait_for_first_row(proc, out: Path, limit: float = 180.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if (out / "grades.csv").exists() and csv_rows(out):
            return
        if proc.poll() is not None:
            pytest.fail(f"the batch ended before its first row: {proc.communicate()}")
        time.sleep(0.05)
    pytest.fail("no row within the time limit")


def _workers_of(pid: int) -> list[int]:
    """The batch workers started by the batch process ``pid`` that are still alive."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if b"worker_main(" in cmdline and f", {pid})".encode() in cmdline and state != "Z":
            found.append(int(entry))
    return found


def _no_workers_left(pid: int) -> None:
    deadline = time.monotonic() + 10
    while _workers_of(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _workers_of(pid) == []


def _finish_and_check(folder: Path, out: Path, done_before: dict) -> None:
    """Run the same command again: every row, and nothing done before regraded."""
    finished = subprocess.run(cli(folder, out, "--jobs", "2"), cwd=PROJECT, capture_output=True, text=True,
                              timeout=400)
    assert finished.returncode == 0, finished.stderr
    assert sorted(line["file"] for line in csv_rows(out)) == sorted(os.listdir(folder))
    after = report_mtimes(out)
    assert {k: after[k] for k in done_before} == done_before
    assert f"{len(done_before)} up to date" in finished.stdout


def _done(out: Path) -> dict:
    """The report.json mtimes of the students whose folder is complete."""
    return {k: v for k, v in report_mtimes(out).items() if (out / "students" / k / outdir.ARCHIVE_JSON).exists()}


def test_kill_the_whole_batch_then_finish_it(three_good, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(cli(three_good, out, "--jobs", "1"), cwd=PROJECT, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_for_first_row(proc, out)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    _no_workers_left(proc.pid)
    done = _done(out)
    interrupted = csv_rows(out)
    assert 1 <= len(interrupted) < 4
    assert {line["file"] for line in interrupted} <= {
        json.loads((out / "students" / k / outdir.ARCHIVE_JSON).read_text())["file"] for k in done}
    _finish_and_check(three_good, out, done)


def test_ctrl_c_keeps_what_was_done_then_finish_it(three_good, tmp_path):
    out = tmp_path / "out"
    # A shell that starts a job in the background (`make test &`, some CI runners) has it ignore
    # SIGINT, and Python keeps an ignored SIGINT ignored: give the batch a terminal's default.
    proc = subprocess.Popen(cli(three_good, out, "--jobs", "1"), cwd=PROJECT, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_for_first_row(proc, out)
    os.killpg(proc.pid, signal.SIGINT)   # what Ctrl-C sends to the terminal's foreground group
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "graded now" in stdout
    _no_workers_left(proc.pid)
    assert "interrupted:" in (out / "summary.md").read_text()
    done = _done(out)
    assert len(csv_rows(out)) == len(done) and 1 <= len(done) < 4
    _finish_and_check(three_good, out, done)


# --- hostile file names, hostile content and deep archives -------------------------------------------

DEEP_OK = "".join(f"d{i:02d}" + "x" * 196 + "/" for i in range(16))        # 3200 bytes of folders
DEEP_TOO = "".join(f"d{i:02d}" + "x" * 236 + "/" for i in range(16))       # 3840: past archive.MAX_MEMBER_PATH
HOSTILE_NAMES = [
    "Ж " * 79 + "Lab2 DLCV.tar.bz2",                   # 254 bytes: its key was 631 bytes long
    "A" * 247 + ".tar.bz2",                            # 255 bytes, the longest name a file system allows
    "DOE\nJohn\x1b[8m Lab2 DLCV.tar.bz2", "-rf Lab2 DLCV.tar.bz2", '=HYPERLINK("https:evil","x") Lab2 DLCV.tar.bz2',
    "@SUM(A1) Lab2 DLCV.tar.bz2", "+33 Lab2.tar.bz2", "\tTAB Lab2 DLCV.tar.bz2", "\rCR Lab2 DLCV.tar.bz2",
    "...", "   ", ".hidden Lab2 DLCV.tar.bz2", "<script>alert(1)<\\script> Lab2.tar.bz2",
    "**Total: 20 ∕ 20** Lab2.tar.bz2", "# Heading `tick`` Lab2.zip", "\u202eevil\u202c Lab2 DLCV.tar.bz2",
    "\x1b]52;c;ZXZpbA==\x07 Lab2.tar.bz2", os.fsdecode(b"\xff\xfe BAD Name Lab2 DLCV.tar.bz2"),
]
JUNK = [".DS_Store", "._DOE John Lab2 DLCV.tar.bz2"]
EVIL = "EVIL Eve\x1b[8m <img src=x> Lab2 DLCV.tar.bz2"
EVIL_CODE = r'''

_Evil = type("\x1b[8mEvil\u202e", (Exception,), {})


def sigmoid(z):
    print("\x1b]52;c;ZXZpbA==\x07\x1b[2J<img src=https://evil.example/x.png>\n# Forged\n**Total: 20 / 20**")
    raise _Evil("<script>alert(1)</script>\n**Total: 20 / 20**\n\x1b[8m `` ` hidden")
'''
EVIL_REPORT = ("# Report\n\n```yaml\nloss_500:\n  single_neuron: .nan\n  hidden_layer: -.inf\n"
               "  multiclass: 1.0e+308\n```\n")


def evil(folder: Path) -> Path:
    """Code whose exception (class name with ESC[8m), message and printed output are hostile;
    a module with a hostile name; NaN, -Infinity and 1e308 in REPORT.md's loss_500 block."""
    files = archives.package_files("sub/")
    files["sub/lab2/single_neuron.py"] += EVIL_CODE.encode()
    files["sub/lab2/<b>\x1b[8m.py"] = b"x = 1\n"
    files["sub/REPORT.md"] = EVIL_REPORT.encode()
    return archives.write_tar(folder / EVIL, files)


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    """Hostile names on archives that hold no package (refused in milliseconds), one hostile
    submission, a correct archive 16 folders deep, one too deep, and OS junk; graded into an
    OUT so long that the old extraction prefix (OUT/.work/...) could not hold the deep archive."""
    root = tmp_path_factory.mktemp("hostile")
    folder = root / "submissions"
    folder.mkdir()
    for name in HOSTILE_NAMES:
        archives.write_tar(folder / name, {"notes/README.md": b"no package here\n"})
    for name in JUNK:
        (folder / name).write_bytes(b"\0\0\0\1Bud1")
    evil(folder)
    deep = archives.write_tar(folder / "DEEP Dora Lab2 DLCV.tar.bz2", archives.package_files(DEEP_OK))
    too_deep = archives.write_tar(folder / "DEEPER Dan Lab2 DLCV.tar.bz2", archives.package_files(DEEP_TOO))
    out = root.joinpath(*["o" * 250] * 4, "out")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        result = run(folder, out, RUBRIC, jobs=2, progress=False)
    return {"folder": folder, "out": out, "result": result, "printed": stdout.getvalue() + stderr.getvalue(),
            "deep": deep, "too_deep": too_deep,
            "files": sorted(HOSTILE_NAMES + [EVIL, deep.name, too_deep.name])}


def test_every_archive_gets_one_row_whatever_its_name(hostile_class):
    result, out = hostile_class["result"], hostile_class["out"]
    assert sorted(r.file for r in result.rows) == hostile_class["files"]   # junk skipped, nothing else
    assert result.internal_errors == []
    cells = safety.csv_cells((out / "grades.csv").read_bytes())
    header, lines = cells[0], cells[1:]
    assert len(lines) == len(hostile_class["files"])
    status = {line[header.index("sha256")]: line[header.index("status")] for line in lines}
    rows = by_file(result)
    assert status[rows["DEEP Dora Lab2 DLCV.tar.bz2"].sha256] == "graded"
    assert status[rows[EVIL].sha256] == "graded"
    assert status[rows["DEEPER Dan Lab2 DLCV.tar.bz2"].sha256] == "bad-archive"
    assert [rows[n].status for n in HOSTILE_NAMES] == ["no-package"] * len(HOSTILE_NAMES)
    for row in result.rows:
        assert len(row.key.encode()) <= plan.MAX_FOLDER and row.key.isascii(), row.key
        assert (out / "students" / row.key / outdir.ARCHIVE_JSON).exists()
    assert len({r.key for r in result.rows}) == len(result.rows)


def test_the_honest_deep_archive_gets_the_same_grade_from_grade_and_batch(hostile_class):
    from grader import api
    from grader.submission.archive import PATH_MAX, ArchiveError
    out = hostile_class["out"]
    # The setup would have defeated the old layout: OUT/.work/lab2-submission-XXXXXXXX/unpacked/<member>.
    member = DEEP_OK + "lab2/hidden_layer.py"
    assert len(os.fsencode(out / outdir.WORK)) + len("/lab2-submission-12345678/unpacked/") + len(member) >= PATH_MAX
    rows = by_file(hostile_class["result"])
    in_batch = rows["DEEP Dora Lab2 DLCV.tar.bz2"].report
    alone = api.grade(hostile_class["deep"], RUBRIC, concurrency=2)
    assert in_batch.auto_total == alone.auto_total == pytest.approx(AUTO_TOTAL)
    with pytest.raises(ArchiveError) as refused:
        api.grade(hostile_class["too_deep"], RUBRIC)
    assert rows["DEEPER Dan Lab2 DLCV.tar.bz2"].report.error == str(refused.value)
    assert "nest the folders less deeply" in str(refused.value)


def test_hostile_content_reaches_the_report_and_no_file_renders_it(hostile_class):
    out, rows = hostile_class["out"], by_file(hostile_class["result"])
    report = rows[EVIL].report
    messages = " ".join(c.message for q in report.questions for c in q.checks) + " ".join(report.warnings)
    assert "alert(1)" in messages and "\x1b[8mEvil" in messages        # the hostile strings did get in
    assert math.isnan(report.reported_losses["single_neuron"]) and report.reported_losses["hidden_layer"] == -math.inf
    saved = safety.strict_json((out / "students" / rows[EVIL].key / "report.json").read_text(encoding="utf-8"))
    assert saved["reported_losses"]["single_neuron_not_finite"] == "NaN"
    assert saved["reported_losses"]["hidden_layer_not_finite"] == "-Infinity"
    for path in sorted(out.rglob("*.json")):
        safety.assert_safe_json(path.read_text(encoding="utf-8"))
    for path in sorted((out / "students").glob("*/feedback.md")):
        safety.assert_safe_markdown(path.read_text(encoding="utf-8"), ("Lab 2 feedback:", "q1_", "q2_", "q3_",
                                                                       "report", "Losses", "Warnings"))
    safety.assert_safe_markdown((out / "summary.md").read_text(encoding="utf-8"),
                                ("Lab 2: class summary", "Status", "Points", "Most frequent", "Identical",
                                 "Similar code", "Per group"))
    for row in hostile_class["result"].rows:
        assert problems(json.loads((out / "students" / row.key / "results.json").read_text())) == []


def test_the_terminal_gets_no_escape_sequence(hostile_class):
    from grader.render import render_terminal
    printed = hostile_class["printed"]
    assert "archives:" in printed
    safety.assert_safe_terminal(printed)
    for row in hostile_class["result"].rows:
        safety.assert_safe_terminal(render_terminal(row.report, width=120, color=True))


def test_a_rerun_of_hostile_names_regrades_nothing(hostile_class):
    out = hostile_class["out"]
    before = (out / "grades.csv").read_bytes()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        again = run(hostile_class["folder"], out, RUBRIC, jobs=2, progress=False)
    assert (again.graded, again.skipped) == (0, len(hostile_class["files"]))
    assert (out / "grades.csv").read_bytes() == before
