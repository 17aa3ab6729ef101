"""Teacher-side inputs a student controls, under bounds (issue 22, findings 5 and 7): a REPORT.md
or a mail built to stop the grader or take its memory is graded (or read) like any other.

Each bound is checked as a resource, never with a stopwatch: the work runs in a child with a
hard CPU limit (a quadratic parse of the hostile input takes hours, and is killed), and the child
measures its own peak RSS. Whole gradings use the skeleton (every question "not implemented
yet": a few seconds) with the hostile REPORT.md beside it, through the CLI.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from builders import hostile_reports
from conftest import SMALL_RUBRIC

from grader import PROJECT
from grader.results import Report

# Whole gradings: marked here rather than in conftest's lists (one file, one place to read).
pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(600)]

TESTS = Path(__file__).parents[1]

# --- REPORT.md --------------------------------------------------------------------------------------

RESOURCE_CHECK = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_CPU, (60, 60))
sys.path.insert(0, sys.argv[1])
from builders import hostile_reports
from grader.submission.report_md import find_figure, parse_loss_500
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
texts = {**hostile_reports.SMALL, **hostile_reports.AT_CAP}
for name, text in texts.items():
    parse_loss_500(text), find_figure(None, text)
print(json.dumps({"cases": len(texts), "before_kb": before,
                  "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def test_every_hostile_report_md_at_the_cap_is_parsed_under_cpu_and_memory_bounds():
    run = subprocess.run([sys.executable, "-c", RESOURCE_CHECK, str(TESTS)], capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]       # -SIGXCPU (killed) before: `<img ` was quadratic
    found = json.loads(run.stdout)
    assert found["cases"] == len(hostile_reports.SMALL) + len(hostile_reports.AT_CAP)
    assert (found["peak_kb"] - found["before_kb"]) < 150 << 10    # over the imports', all cases


GRADED = {
    "401 digits": ("SMALL", "is a value of 401 characters"),
    "5,001 digits": ("SMALL", "is a value of 5001 characters"),
    "3,000 nested lists": ("SMALL", "nests lists or mappings"),
    "YAML aliases": ("SMALL", "uses a YAML alias"),
    "<img  repeated": ("AT_CAP", "has no fenced ```yaml block"),
}


@pytest.mark.parametrize("name", GRADED)
def test_a_hostile_report_md_is_graded_not_a_grader_error(tmp_path, name, small_answers):
    table, says = GRADED[name]
    submission = tmp_path / "DOE_Jane_Lab2"
    shutil.copytree(PROJECT / "skeleton", submission, ignore=shutil.ignore_patterns("__pycache__"))
    (submission / "REPORT.md").write_text(getattr(hostile_reports, table)[name])
    run = subprocess.run([sys.executable, "-m", "grader", "grade", str(submission), "--rubric", str(SMALL_RUBRIC),
                          "--report", str(tmp_path / "report.json"), "--md", str(tmp_path / "feedback.md")],
                         cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]       # 3 before (an internal error: every point lost)
    assert (tmp_path / "report.json").stat().st_size < 1 << 20
    report = Report.from_dict(json.loads((tmp_path / "report.json").read_text()))
    question = next(q for q in report.questions if q.id == "report")
    messages = [c.message for c in question.checks]
    assert messages and all(says in m and len(m) < 300 for m in messages), messages


# --- mail ---------------------------------------------------------------------------------------

MAIL_CHECK = """
import json, resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_CPU, (120, 120))
sys.path.insert(0, sys.argv[1])
from builders import teacher_inputs as ti
from grader.batch.intake import mail
messages = list(ti.hostile_mails().values())
box = ti.write_raw_mbox(Path(sys.argv[2]) / "Inbox", messages)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
records, _ = mail.collect(box, "mbox", Path(sys.argv[2]) / "incoming")
print(json.dumps({"bytes": box.stat().st_size, "statuses": [str(r.status) for r in records],
                  "before_kb": before, "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def test_hostile_mail_headers_and_mime_are_read_under_cpu_and_memory_bounds(tmp_path):
    run = subprocess.run([sys.executable, "-c", MAIL_CHECK, str(TESTS), str(tmp_path)], cwd=PROJECT,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]      # 8,000 encoded words alone took 674 MB before
    found = json.loads(run.stdout)
    assert found["statuses"] == ["bad-message"] * len(found["statuses"])
    # Linear: a small multiple of the mailbox's own bytes (2.5 MB), never its square.
    assert (found["peak_kb"] - found["before_kb"]) << 10 < 20 * found["bytes"] + (20 << 20)
