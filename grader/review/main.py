"""``python -m grader review OUT``: build the class's view (before serving), then serve or export."""
import sys
from pathlib import Path

from grader.batch import outdir
from grader.batch.outdir import OutDir
from grader.errors import UsageError
from grader.review import export as export_mod
from grader.review.grading import Review
from grader.rubric import Rubric


def run(out, rubric: Rubric, items, *, export: bool, host: str, port: int, grader_name: str | None) -> int:
    out = Path(out)
    if not OutDir(out).students.is_dir():
        raise UsageError(f"{out} is not a batch's output folder (no {outdir.STUDENTS}/ in it): run batch first")
    review = Review(out, rubric, items, progress=lambda line: print(line, file=sys.stderr, flush=True))
    answers = [a for q in review.questions for a in review.answers[q]]
    if answers and not any(a.has_report for a in answers):
        print(f"warning: no student folder of {out} holds {outdir.REPORT_MD}: a batch of an earlier version did not "
              "keep it; run the batch again with --force", file=sys.stderr)
    if export:
        for note in export_mod.export(review):
            print(note)
        return 0
    from grader.review.app import serve
    serve(review, host, port, grader_name)
    return 0
