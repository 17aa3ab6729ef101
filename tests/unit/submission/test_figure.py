"""Q3.1's figure copied beside the feedback (grader.submission.figure) and shown inline in feedback.md."""
import os

from builders.archives import png

from grader.render import render_markdown
from grader.results import QuestionResult, Report
from grader.submission import figure


def _report(figure_file: str) -> Report:
    q = QuestionResult(id="q3_1", title="architecture figure", max_auto=0.0, max_manual=2.0, status="manual",
                       summary="figure for the teacher: image file architecture.png",
                       manual_title="architecture figure")
    return Report(student="DOE Jane", submission="DOE Jane Lab2 DLCV.tar.bz2", questions=[q], figure_file=figure_file)


def test_the_named_architecture_image_is_copied_first(tmp_path):
    root, out = tmp_path / "sub", tmp_path / "out"
    (root / "lab2").mkdir(parents=True)
    (root / "curves.png").write_bytes(png())
    (root / "lab2" / "My Network diagram.JPEG").write_bytes(b"\xff\xd8\xff\xe0" + b"j" * 100)
    assert figure.keep(root, out) == "figure.jpg"
    assert (out / "figure.jpg").read_bytes() == b"\xff\xd8\xff\xe0" + b"j" * 100
    assert os.listdir(out) == ["figure.jpg"]


def test_only_images_a_markdown_viewer_shows_safely_are_copied(tmp_path):
    root, out = tmp_path / "sub", tmp_path / "out"
    root.mkdir()
    secret = tmp_path / "secret.png"
    secret.write_bytes(png())
    (root / "architecture.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    (root / "architecture.pdf").write_bytes(b"%PDF-1.4")
    (root / "network.png").write_bytes(b"<html>not a png</html>")           # the suffix lies
    (root / "model.png").symlink_to(secret)                                   # a link out of the submission
    (root / "arch.gif").write_bytes(b"GIF89a" + b"\0" * (figure.MAX_BYTES))  # too large
    assert figure.keep(root, out) == ""
    assert not out.exists() or os.listdir(out) == []


def test_an_earlier_copy_goes_when_the_new_submission_has_none(tmp_path):
    root, out = tmp_path / "sub", tmp_path / "out"
    root.mkdir()
    (root / "architecture.png").write_bytes(png())
    assert figure.keep(root, out) == "figure.png"
    (root / "architecture.png").unlink()
    assert figure.keep(root, out) == "" and not (out / "figure.png").exists()


def test_feedback_shows_the_copy_inline_under_q3_1_and_nothing_else(tmp_path):
    md = render_markdown(_report("figure.png"))
    section = md.split("## q3_1", 1)[1]
    assert "![The architecture figure found in the submission](figure.png)" in section
    assert "image file architecture.png" in section
    assert "![" not in render_markdown(_report(""))
    # report.json is read back from disk: a name the grader did not give is never linked.
    for forged in ("../../etc/passwd", "x.png)<script>alert(1)</script>", "https://evil.example/a.png"):
        assert "![" not in render_markdown(_report(forged))


def test_q3_1s_summary_names_the_image_the_feedback_shows(tmp_path):
    """An SVG named like the architecture ranks first but cannot be shown inline: the summary names
    the PNG that feedback.md shows (the one keep copies), and says the SVG is there too."""
    from grader import rubric as rubric_mod
    from grader.submission import locate, score
    root, out = tmp_path / "sub", tmp_path / "out"
    (root / "lab2").mkdir(parents=True)
    for f in ("__init__.py", "single_neuron.py", "hidden_layer.py", "multiclass.py"):
        (root / "lab2" / f).write_text("")
    (root / "architecture.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (root / "net.png").write_bytes(png())
    q = score.manual_question("q3_1", rubric_mod.load(), locate.find_package(root))
    assert q.summary == ("figure for the teacher: image file net.png (also architecture.svg, which cannot be "
                         "shown inline)")
    assert figure.keep(root, out) == "figure.png" and (out / "figure.png").read_bytes() == png()
    (root / "net.png").unlink()
    q = score.manual_question("q3_1", rubric_mod.load(), locate.find_package(root))
    assert q.summary == "figure for the teacher: image file architecture.svg"


def test_a_long_image_path_is_cut_in_q3_1s_summary(tmp_path):
    from grader import rubric as rubric_mod
    from grader.submission import locate, score
    root = tmp_path / "sub"
    deep = root / ("d" * 200) / ("e" * 200)
    (root / "lab2").mkdir(parents=True)
    for f in ("__init__.py", "single_neuron.py", "hidden_layer.py", "multiclass.py"):
        (root / "lab2" / f).write_text("")
    deep.mkdir(parents=True)
    (deep / "net.png").write_bytes(png())
    q = score.manual_question("q3_1", rubric_mod.load(), locate.find_package(root))
    assert q.summary.startswith("figure for the teacher: image file ddd") and q.summary.endswith("...")
    assert len(q.summary) < 200


def test_report_md_is_kept_beside_the_feedback_bounded_and_never_through_a_link(tmp_path):
    root, out = tmp_path / "sub", tmp_path / "out"
    root.mkdir()
    (root / "REPORT.md").write_bytes(b"### Q1.2\n$y$\n" + b"x" * (figure.REPORT_MAX_BYTES + 10))
    assert figure.keep_report(root / "REPORT.md", out)
    kept = (out / "REPORT.md").read_bytes()
    assert kept.startswith(b"### Q1.2\n$y$\n") and len(kept) == figure.REPORT_MAX_BYTES
    secret = tmp_path / "secret.md"
    secret.write_text("the teacher's notes")
    (root / "LINK.md").symlink_to(secret)
    assert not figure.keep_report(root / "LINK.md", out) and not (out / "REPORT.md").exists()   # the old one gone
    assert not figure.keep_report(None, out)
