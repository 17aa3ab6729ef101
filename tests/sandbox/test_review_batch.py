"""The review app after a real batch (6 archives of the reference with different REPORT.md): the
batch keeps each REPORT.md, the export gives the bytes ``batch --manual`` gives with the same
points, and a resubmission graded by a later batch keeps the other hand grades and marks the
changed answer for regrading. Starts sandboxed children (``sandbox`` marker, ``conftest``).
"""
import shutil
from pathlib import Path

from builders import archives
from builders import review_class as rc

from grader import PROJECT
from grader.batch.run import run
from grader.review import export as export_mod
from grader.review.gradebook import Grade
from grader.review.grading import Review
from grader.rubric import load as load_rubric

RUBRIC_PATH = Path(__file__).parents[1] / "files" / "rubric_small.yaml"
RUBRIC = load_rubric(RUBRIC_PATH)


def write_class(folder: Path, answers: dict[str, dict[str, str]]) -> None:
    for name, per in answers.items():
        files = archives.package_files(f"{name.replace(' ', '_')}_Lab2/")
        files[f"{name.replace(' ', '_')}_Lab2/REPORT.md"] = rc.report_md(per).encode()
        archives.write_tar(folder / f"{name} Lab2 DLCV.tar.bz2", files)


def test_review_after_a_real_batch_and_a_resubmission(tmp_path):
    folder, out = tmp_path / "submissions", tmp_path / "out"
    folder.mkdir()
    answers = rc.class_of_six()
    write_class(folder, answers)
    run(folder, out, RUBRIC, jobs=2, progress=False)
    keys = sorted(p.name for p in (out / "students").iterdir())
    assert len(keys) == 6 and all((out / "students" / k / "REPORT.md").is_file() for k in keys)
    items = tmp_path / "rubric_items.yaml"
    shutil.copy(PROJECT / "rubric_items.yaml", items)
    review = Review(out, RUBRIC, items)
    doe = next(a for a in review.answers["q1_2"] if a.key.startswith("DOE"))
    assert doe.text == rc.RIGHT_Q1_2[0]
    assert len(review.groups["q1_2"]) == 4
    gb = review.open()
    zoe = next(a for a in review.answers["q1_2"] if a.key.startswith("DURAND"))
    for a, grade in ((doe, Grade(["correct", "shapes"], "ok")), (zoe, Grade([], "sign", 0.25))):
        members = next(g.members for g in review.groups["q1_2"] if g.id == a.group)
        gb.set_group("q1_2", a.group, grade, "teacher", [(m.key, m.sha) for m in members])   # as the app saves
    gb.close()
    export_mod.export(review)
    exported = {p: (out / p).read_bytes() for p in ("grades.csv", *(f"students/{k}/feedback.md" for k in keys))}
    # batch --manual with the exported form: the same bytes (nothing regraded).
    result = run(folder, out, RUBRIC, jobs=1, progress=False, manual_csv=out / "review" / "manual.csv")
    assert result.graded == 0
    assert {p: (out / p).read_bytes() for p in exported} == exported
    # A resubmission: DURAND writes the right answer. The next batch regrades that archive only.
    answers["DURAND Zoé"] = {"q1_2": rc.RIGHT_Q1_2[1]}
    (folder / "DURAND Zoé Lab2 DLCV.tar.bz2").unlink()
    write_class(folder, {"DURAND Zoé": answers["DURAND Zoé"]})
    result = run(folder, out, RUBRIC, jobs=1, progress=False)
    assert result.graded == 1
    again = Review(out, RUBRIC, items)
    gb = again.open()
    snap = again.snapshot("q1_2", gb)
    gb.close()
    states = {a.key[:3]: again.state(a, snap) for a in again.answers["q1_2"]}
    assert states["DUR"].changed and not states["DUR"].graded     # its new group is graded, still marked
    assert states["DOE"].graded and states["MAR"].graded
    rows = {k[:3]: p for k, q, p, c in export_mod.manual_rows(again) if q == "q1_2"}
    assert rows == {"DOE": "0.75", "MAR": "0.75", "SMI": "0.75"}
