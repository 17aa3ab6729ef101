"""The near-duplicate report at the end of ONE batch through ``python -m grader batch``: one real
grading (the reference) and three archives whose package stops at import (about a second each).
The report on ``lab2`` folders alone is ``tests/unit/batch/test_similarity.py``.
"""
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from builders import archives, classroom

from grader.rubric import load as load_rubric

RUBRIC_PATH = Path(__file__).parents[1] / "files" / "rubric_small.yaml"
RUBRIC = load_rubric(RUBRIC_PATH)


# --- one batch, end to end -----------------------------------------------------------------------------

def _archive(folder: Path, name: str, files: dict[str, str], stop_at_import: bool = True) -> Path:
    """A submission; ``stop_at_import`` makes its package fail at import (graded in about a second)."""
    files = dict(files)
    if stop_at_import:
        files["lab2/__init__.py"] = files["lab2/__init__.py"] + "\nraise ImportError('not finished')\n"
    data = {f"{name}/{k}": v.encode() for k, v in files.items()}
    data[f"{name}/REPORT.md"] = archives.REPORT.encode()
    return archives.write_tar(folder / f"{name} Lab2 DLCV.tar.bz2", data)


def _similar_to(out: Path) -> dict[str, str]:
    text = (out / "grades.csv").read_bytes().decode("utf-8-sig")
    return {line["file"]: line["similar_to"] for line in csv.DictReader(io.StringIO(text, newline=""))}


def test_batch_flags_copies_in_grades_csv_and_writes_similarity_html(tmp_path):
    folder, earlier, out = tmp_path / "in", tmp_path / "earlier", tmp_path / "out"
    folder.mkdir()
    earlier.mkdir()
    loops = classroom.solution("loops")
    _archive(folder, "DOE John", classroom.reference(), stop_at_import=False)         # graded for real
    _archive(folder, "MARTIN Alice", loops)
    copied = classroom.reorder(classroom.rename(loops, seed=3), seed=3)
    copied["lab2/single_neuron.py"] = "# </pre><script>alert(1)</script>\n" + copied["lab2/single_neuron.py"]
    _archive(folder, "COPY Cat", copied)
    _archive(folder, "LEE Min", classroom.solution("terse"))
    _archive(folder, "<img src=x onerror=alert(1)>", classroom.solution("helpers"))
    _archive(earlier, "OLD Timer", classroom.recomment(classroom.solution("terse")), stop_at_import=False)
    cmd = [sys.executable, "-m", "grader", "batch", str(folder), "--out", str(out), "--rubric", str(RUBRIC_PATH),
           "--jobs", "2", "--compare-with", str(earlier)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert _similar_to(out) == {
        "DOE John Lab2 DLCV.tar.bz2": "reference",
        "MARTIN Alice Lab2 DLCV.tar.bz2": "COPY_Cat",
        "COPY Cat Lab2 DLCV.tar.bz2": "MARTIN_Alice",
        "LEE Min Lab2 DLCV.tar.bz2": "earlier:OLD Timer Lab2 DLCV.tar.bz2",
        "<img src=x onerror=alert(1)> Lab2 DLCV.tar.bz2": "",
    }
    grades = {r["file"]: r for r in csv.DictReader(io.StringIO((out / "grades.csv").read_bytes()
                                                               .decode("utf-8-sig"), newline=""))}
    assert grades["DOE John Lab2 DLCV.tar.bz2"]["status"] == "graded"          # a flag, not a change of score
    assert float(grades["DOE John Lab2 DLCV.tar.bz2"]["q1_1"]) == RUBRIC.questions["q1_1"].auto
    assert grades["MARTIN Alice Lab2 DLCV.tar.bz2"]["status"] == "import-error"
    html = (out / "similarity.html").read_text()
    assert "<IMG" not in html and "&lt;IMG src=x onerror=alert" in html                # the name, escaped
    assert "<script" not in html and "# &lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html   # the code
    summary = (out / "summary.md").read_text()
    section = summary[summary.index("## Similar code"):]
    assert "[similarity.html](similarity.html)" in section and "40%" in section
    assert "| COPY_Cat | MARTIN_Alice | yes |" in section or "| MARTIN_Alice | COPY_Cat | yes |" in section
    keys = [p.name for p in (out / "students").iterdir()]
    assert all(json.loads((out / "students" / k / "code.json").read_text())["files"] for k in keys)
    # Again: nothing regraded, the comparison is the same, from the kept code.
    before = (out / "similarity.html").read_bytes(), (out / "grades.csv").read_bytes()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "0 graded now, 5 up to date" in again.stdout, again.stdout
    assert ((out / "similarity.html").read_bytes(), (out / "grades.csv").read_bytes()) == before
    # A --compare-with that is not a folder: one line, exit 2, nothing lost.
    bad = subprocess.run(cmd[:-1] + [str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "--compare-with" in bad.stderr
    assert (out / "grades.csv").read_bytes() == before[1]
