"""Peak memory and time of the grader on the hostile teacher-side inputs of issue 22 (findings 5
and 7): every REPORT.md of ``tests/hostile_reports.py`` graded with the skeleton through the CLI,
one 50 MB REPORT.md (the archive's ``max_member_mb``), and every mail of
``tests/teacher_inputs.hostile_mails`` read by the intake. Prints one table; never run by
``make test`` (the tests check the same bounds as resources: tests/test_bounded_inputs.py).

    .venv/bin/python bench/hostile_inputs.py            # about a minute once the cache is warm
    .venv/bin/python bench/hostile_inputs.py --mail     # the mail part only (seconds)

"Peak RSS" of a grade is ``RUSAGE_CHILDREN``'s maximum after the CLI exits: the largest of the
grader and its sandboxed children, so an upper bound of the grader's own.
"""
import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import hostile_reports  # noqa: E402
import teacher_inputs  # noqa: E402

RUBRIC = ROOT / "tests" / "files" / "rubric_small.yaml"

MAIL_ONE = """
import json, resource, sys, time
from pathlib import Path
from grader.batch.intake import mail
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.process_time()
records, _ = mail.collect(Path(sys.argv[1]), "mbox", Path(sys.argv[2]))
print(json.dumps({"cpu": time.process_time() - start, "status": str(records[0].status),
                  "peak_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}))
"""


def grade(text: str, work: Path) -> tuple[float, float, int]:
    """(seconds, peak RSS in MB, exit status) of ``grade`` of the skeleton with ``text`` as REPORT.md."""
    sub = work / "DOE_Jane_Lab2"
    shutil.rmtree(sub, ignore_errors=True)
    shutil.copytree(ROOT / "skeleton", sub, ignore=shutil.ignore_patterns("__pycache__"))
    (sub / "REPORT.md").write_text(text)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "grader", "grade", str(sub), "--rubric", str(RUBRIC),
                          "--report", str(work / "report.json")], cwd=ROOT, capture_output=True)
    seconds = time.monotonic() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / 1024, run.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mail", action="store_true", help="the mail part only")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.mail:
            cases = {**hostile_reports.SMALL, **hostile_reports.AT_CAP,
                     "50 MB REPORT.md (max_member_mb)": "x" * (50 << 20)}
            for name, text in cases.items():
                seconds, peak, rc = grade(text, work)
                rows.append(("REPORT.md", name, len(text.encode()), seconds, peak, f"exit {rc}"))
                print(f"  {name}: {seconds:.1f} s", file=sys.stderr)
        for name, data in teacher_inputs.hostile_mails().items():
            box = teacher_inputs.write_raw_mbox(work / "Inbox", [data])
            run = subprocess.run([sys.executable, "-c", MAIL_ONE, str(box), str(work / "in")], cwd=ROOT,
                                 capture_output=True, text=True, check=True)
            found = json.loads(run.stdout)
            rows.append(("mail", name, len(data), found["cpu"], found["peak_mb"], found["status"]))
    print("| input | case | bytes | seconds | peak RSS MB | outcome |\n| --- | --- | ---: | ---: | ---: | --- |")
    for kind, name, size, seconds, peak, outcome in rows:
        print(f"| {kind} | {name} | {size:,} | {seconds:.2f} | {peak:.0f} | {outcome} |")
    print("(REPORT.md: wall seconds of the whole grade and its peak RSS; mail: CPU seconds of the intake and "
          "the peak RSS over the interpreter's own)")


if __name__ == "__main__":
    main()
