"""A batch's output folder written by hand, for the review app's tests and bench: no student
code runs. Each student's folder is written by ``grader.batch.rows``' own writers (``Rows.add``:
report.json, results.json, feedback.md, archive.json), from a report whose automatic questions
passed in full, plus the REPORT.md built from the kit's template with the student's answers
put in place of ``> your answer``, and (for some) a figure.png.

``build(out, answers)``: ``answers`` maps a student's "LAST First" to ``{question: answer text}``.
With ``moodle=True`` the rows come from Moodle (participant ids from 1000) and ``OUT/moodle/``
holds the filled worksheet and feedback-files.zip, as a Moodle batch writes them.
"""
import hashlib
import re
import unicodedata
import zlib
from pathlib import Path

from builders import teacher_inputs as ti
from grader import api
from grader.batch.rows import Row, Rows, write_moodle
from grader.results import CheckResult, QuestionResult, Report
from grader.review.answers import TEMPLATE

RUBRIC = api.load_rubric()


def png(width: int = 40, height: int = 20, shade: int = 90) -> bytes:
    """A small valid grey PNG."""
    def chunk(kind, data):
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    raw = b"".join(b"\0" + bytes([shade]) * width for _ in range(height))
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def report_md(answers: dict[str, str]) -> str:
    """The kit's REPORT.md with each answer in its section (after the prompt)."""
    text = TEMPLATE.read_text(encoding="utf-8")
    out, current = [], None
    for line in text.split("\n"):
        m = re.match(r"^#{2,3}\s+Q(\d)\.(\d)", line)
        if line.startswith("#"):
            current = f"q{m.group(1)}_{m.group(2)}" if m else None
        if line.strip() == "> your answer" and current in answers:
            out.append(answers[current])
            continue
        if line.startswith("![") and current in answers:
            out.append(answers[current])
            continue
        out.append(line)
        if current == "q2_3" and line.startswith("|   |") and "q2_3" in answers:
            out[-1] = answers["q2_3"]
    return "\n".join(out).replace("single_neuron: 0.0", "single_neuron: 0.03")


def graded_report(name: str) -> Report:
    questions = []
    for qid, spec in RUBRIC.questions.items():
        q = QuestionResult.of_rubric(qid, spec)
        if spec.auto:
            q.checks = [CheckResult(f"{qid}: values", True, spec.auto, spec.auto)]
        else:
            q.status = "manual"
        questions.append(q)
    return Report(student=name, submission=f"{name}.tar.bz2", sandbox="bubblewrap", questions=questions,
                  total_max=RUBRIC.total, rubric_sha256=RUBRIC.sha256)


def key_of(name: str) -> str:
    """The folder key as the batch makes it: ASCII, ``_`` between the words."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().replace(" ", "_")


def build(out: Path, answers: dict[str, dict[str, str]], *, figures: bool = True, moodle: bool = False,
          sheet_dir: Path | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    b = Rows(out, RUBRIC, None)
    participants = []
    for i, (name, per) in enumerate(answers.items()):
        last, first = name.split(" ", 1)
        file = f"{last}_{first}_Lab2_DLCV.tar.bz2"
        report = graded_report(name)
        key = key_of(name)
        folder = out / "students" / key
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "REPORT.md").write_text(report_md(per), encoding="utf-8")
        if figures and i % 2 == 0:
            (folder / "figure.png").write_bytes(png(shade=(40 + 20 * i) % 256))
            report.figure_file = "figure.png"
        origin = {}
        if moodle:
            pid = 1000 + i
            participants.append(ti.Participant(pid, f"{first} {last}", {}))
            origin = {"source": "moodle", "participant": str(pid),
                      "moodle_folder": f"{first} {last}_{pid}_assignsubmission_file"}
        sha = hashlib.sha256(name.encode()).hexdigest()
        row = Row(file, sha, key, last, first, report, {}, ["a note of the intake"], **origin)
        b.add(row, csv=False)
    b.write_csv()
    if moodle:
        sheet_dir = sheet_dir or out.parent
        path = ti.write_worksheet(sheet_dir / "Grades-DLCV-Lab2.csv", participants)
        from grader.batch.intake import worksheet
        write_moodle(sorted(b.rows.values(), key=lambda r: r.key), worksheet.read(path), RUBRIC, out)
        b.write_csv()
    return out


RIGHT_Q1_2 = [r"$\hat y = \sigma(w^T x + b)$, for the batch $\hat y = \sigma(X w + b)$",
              r"$\hat{y} = \sigma\left(w^\top x + b\right)$, for the batch $\hat{y} = \sigma(X w + b)$",
              r"$y_hat = \sigma(w^{T} x + b)$, for the batch $y_hat = \sigma(X w + b)$"]
WRONG_Q1_2 = [r"$\hat y = \sigma(w^T x - b)$, for the batch $\hat y = \sigma(X w - b)$",
              r"$\hat y = w^T x + b$"]


DRAWING = "```\n+-----+     +-----+\n| X   |---->| 64  |\n+-----+     +-----+\n```"


def class_of_six() -> dict[str, dict[str, str]]:
    """Six students: three write the same right q1_2 in three spellings (one group), one writes
    a wrong one, one an equivalent form (a suggested merge), one writes hostile HTML and maths."""
    hostile = ('<script>document.title="pwned"</script><img src=x onerror="alert(1)">'
               r" $\text{<svg onload=alert(1)>}$ [click](javascript:alert(1)) <svg onload=alert(2)></svg>")
    return {
        "DOE John": {"q1_2": RIGHT_Q1_2[0], "q1_3": r"$L = -\frac{1}{m}\sum_i y_i \log \hat y_i$"},
        "MARTIN Alice": {"q1_2": RIGHT_Q1_2[1], "q1_3": r"$L = -\frac{1}{m}\sum_i y_i \ln \hat{y}_i$"},
        "SMITH Bob": {"q1_2": RIGHT_Q1_2[2], "q2_3": "| digit | test accuracy |\n| --- | --- |\n| 3 | 0.97 |"},
        "DURAND Zoé": {"q1_2": WRONG_Q1_2[0]},
        "LEE Ann": {"q1_2": r"$\hat y = \frac{1}{1 + e^{-(w^T x + b)}}$"},
        "EVIL Mallory": {"q1_2": hostile, "q3_1": DRAWING},
    }
