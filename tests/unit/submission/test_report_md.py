"""REPORT.md as students write it: the loss_500 block and the Q3.1 figure."""
import math

import pytest
from builders import hostile_reports

from grader.submission import report_md
from grader.submission.report_md import find_figure, parse_loss_500

CANONICAL = """# Lab 2

Q1.2: y_hat = sigmoid(W X + b)

```yaml
loss_500:
  single_neuron: 0.032
  hidden_layer: 0.015
  multiclass: 0.12
```
"""
EXPECTED = {"single_neuron": 0.032, "hidden_layer": 0.015, "multiclass": 0.12}


def test_the_contract_block():
    assert parse_loss_500(CANONICAL) == (EXPECTED, None)


@pytest.mark.parametrize("variant", [
    CANONICAL.replace("```yaml", "```yml"),
    CANONICAL.replace("```yaml", "```YAML"),
    CANONICAL.replace("```yaml", "~~~yaml").replace("```\n", "~~~\n"),
    CANONICAL.replace("\n", "\r\n"),
    "\ufeff" + CANONICAL,
    CANONICAL.replace("  ", "\t"),                                      # tab indentation
    CANONICAL.replace("0.032", '"0.032"').replace("0.015", "'0.015'"),  # quoted numbers
    CANONICAL.replace("0.032", "0,032").replace("0.015", '"0,015"'),     # decimal commas
    CANONICAL.replace("0.032", "3.2e-2"),
    CANONICAL.replace("loss_500:", "student: DOE John\nloss_500:").replace("multiclass: 0.12",
                                                                          "multiclass: 0.12\n  epochs: 500"),
    CANONICAL.replace("```yaml", "```"),                                # tag forgotten
    CANONICAL.replace("```yaml\nloss_500:", "```yaml\nnotes: [unclosed\nloss_500:"),  # other keys broken
    "```yaml\nloss_500: {single_neuron: 0.032, hidden_layer: 0.015, multiclass: 0.12}\n```\n",
    CANONICAL.replace("single_neuron", "Single Neuron").replace("hidden_layer", "hidden-layer"),
])
def test_variants_students_write(variant):
    assert parse_loss_500(variant) == (EXPECTED, None)


def test_missing_and_null_models_are_none():
    text = "```yaml\nloss_500:\n  single_neuron: 0.03\n  multiclass: null\n```\n"
    assert parse_loss_500(text) == ({"single_neuron": 0.03, "hidden_layer": None, "multiclass": None}, None)


def test_a_diverged_run_reported_as_nan_is_kept():
    losses, why = parse_loss_500(CANONICAL.replace("0.12", "nan"))
    assert why is None and math.isnan(losses["multiclass"])


def test_the_yaml_block_is_preferred_to_an_untagged_one():
    text = "```\nloss_500: see below\n```\n\n" + CANONICAL
    assert parse_loss_500(text) == (EXPECTED, None)


@pytest.mark.parametrize("text, reason", [
    ("# Lab 2\nno losses here\n", "no fenced ```yaml block holding loss_500"),
    ("loss_500:\n  single_neuron: 0.03\n", "not inside a fenced ```yaml code block"),
    ("```yaml\nloss_500: 0.03\n```\n", "loss_500 must hold single_neuron"),
    ("```yaml\nloss_500:\n  single: 0.03\n```\n", "none of single_neuron, hidden_layer, multiclass"),
    ("```yaml\nloss_500:\n  single_neuron: about 0.03\n```\n", "loss_500.single_neuron is 'about 0.03', not a number"),
    ("```yaml\nloss_500:\n  single_neuron: yes\n```\n", "not a number"),
    ("```yaml\nloss_500:\n  single_neuron: [0.03\n```\n", "not valid YAML"),
])
def test_what_does_not_parse_says_why(text, reason):
    losses, why = parse_loss_500(text)
    assert losses is None and reason in why


def test_python_tags_are_not_executed():
    text = "```yaml\nloss_500: !!python/object/apply:os.system ['echo pwned']\n```\n"
    losses, why = parse_loss_500(text)
    assert losses is None and "not valid YAML" in why


def test_figure_as_an_image_file(tmp_path):
    (tmp_path / "lab2").mkdir()
    (tmp_path / "lab2" / "loss.png").write_bytes(b"png")
    (tmp_path / "architecture.PNG").write_bytes(b"png")
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / "__MACOSX" / "._arch.png").write_bytes(b"junk")
    assert find_figure(tmp_path, "") == "image file architecture.PNG"


def test_figure_in_the_text():
    assert find_figure(None, "See ![network](figs/net.svg)") == "image link figs/net.svg in REPORT.md"
    assert find_figure(None, '<img src="arch.jpg" width=300>') == "image link arch.jpg in REPORT.md"
    assert find_figure(None, "```mermaid\ngraph LR\nX-->H\n```") == "mermaid diagram in REPORT.md"
    drawing = """
    x (784) ---> [ W1, b1 ] ---> sigmoid ---> h (64)
                                               |
                                               v
    y_hat (10) <--- softmax <--- [ W2, b2 ] <--+
    """
    assert find_figure(None, drawing) == "ASCII drawing in REPORT.md"


def test_no_figure(tmp_path):
    (tmp_path / "REPORT.md").write_text(CANONICAL)
    assert find_figure(tmp_path, CANONICAL) is None
    table = "| model | loss |\n| --- | --- |\n| a | 1 |\n| b | 2 |\n"
    assert find_figure(None, table) is None
    formulas = ("Q1.2: y_hat = sigma(W @ X + b)\n"
                "Q1.3: L = -(1/m) * sum(y * log(y_hat) + (1 - y) * log(1 - y_hat))\n"
                "Q1.4: dL/dW = (1/m) * (y_hat - y) @ X.T\n"
                "db = (1/m) * sum(y_hat - y)\n")
    assert find_figure(None, formulas) is None


def test_the_report_point_is_shared_among_the_three_models(tmp_path):
    """A block that fills two models and leaves the template's 0.0 for the third earns two thirds."""
    from types import SimpleNamespace

    from grader import api
    from grader.results import Report
    from grader.submission import score

    rubric = api.load_rubric()
    path = tmp_path / "REPORT.md"
    path.write_text("```yaml\nloss_500:\n  single_neuron: 0.034\n  hidden_layer: 0.027\n  multiclass: 0.0\n```\n")
    q = score.report_question(rubric, SimpleNamespace(report=path), Report("x", "x"))
    assert abs(q.auto_points - rubric.questions["report"].auto * 2 / 3) < 1e-6
    assert "template's 0.0 for multiclass" in "\n".join(c.message for c in q.checks)
    path.write_text("```yaml\nloss_500:\n  single_neuron: nan\n  hidden_layer: -1\n```\n")
    q = score.report_question(rubric, SimpleNamespace(report=path), Report("x", "x"))
    assert abs(q.auto_points - rubric.questions["report"].auto / 3) < 1e-6  # nan: a diverged run, said so
    q = score.report_question(rubric, SimpleNamespace(report=None), Report("x", "x"))
    assert q.auto_points == 0 and len(q.checks) == 3


def test_the_teacher_grading_q3_1_is_told_where_the_figure_is(tmp_path):
    from grader import api
    from grader.submission import locate, score

    root = tmp_path / "sub"
    (root / "lab2").mkdir(parents=True)
    (root / "lab2" / "__init__.py").write_text("")
    (root / "REPORT.md").write_text("# report\n")
    rubric = api.load_rubric()
    q = score.manual_question("q3_1", rubric, locate.find_package(root))
    assert q.summary == "no figure found: look in REPORT.md" and q.max_manual == 2.0
    (root / "figures").mkdir()
    (root / "figures" / "architecture.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    q = score.manual_question("q3_1", rubric, locate.find_package(root))
    assert q.summary == "figure for the teacher: image file figures/architecture.png"


# --- hostile REPORT.md (issue 22, finding 7): parsed under bounds, never an exception ---------------

HOSTILE_REASONS = {
    "401 digits": "single_neuron is a value of 401 characters",
    "5,001 digits": "single_neuron is a value of 5001 characters",
    "5,001 digits, quoted": "single_neuron is a value of 5001 characters",
    "3,000 nested lists": "nests lists or mappings more than",
    "3,000 nested mappings": "nests lists or mappings more than",
    "YAML aliases": "uses a YAML alias",
    "a merge key": "uses a YAML alias",
    "a huge list": "single_neuron is ['1', '1', '1', '1', ...], not a number",
    "a huge key": "not valid YAML",
}


@pytest.mark.parametrize("name", HOSTILE_REASONS)
def test_a_hostile_loss_500_block_is_a_reason_of_one_short_line(name):
    losses, why = parse_loss_500(hostile_reports.SMALL[name])
    assert losses is None
    assert HOSTILE_REASONS[name] in why
    assert len(why) < 200 and "\n" not in why
    assert find_figure(None, hostile_reports.SMALL[name]) is None


def test_values_are_floats_or_not_a_number():
    def value(text):
        return parse_loss_500(CANONICAL.replace("0.032", text))
    assert value("3")[0]["single_neuron"] == 3.0 and type(value("3")[0]["single_neuron"]) is float
    assert value("1_000")[0]["single_neuron"] == 1000.0
    assert value(".inf")[0]["single_neuron"] == math.inf
    assert value("1" + "0" * 60)[0]["single_neuron"] == 1e60          # 61 characters: still a number
    assert value("1e999")[0]["single_neuron"] == math.inf              # as float() reads it
    assert "not a number" in value("0x1F")[1]


def test_a_link_to_an_image_is_found_and_shown_cut():
    assert find_figure(None, '<p><img alt="net" src="figs/arch.png"></p>') == "image link figs/arch.png in REPORT.md"
    assert find_figure(None, "![the network](figs/net.png)") == "image link figs/net.png in REPORT.md"
    long = find_figure(None, f"![a](figs/{'x' * 5000}.png)")
    assert long.startswith("image link figs/xxx") and len(long) < 150


def test_only_the_first_megabytes_of_report_md_are_read(tmp_path):
    path = tmp_path / "REPORT.md"
    path.write_text(hostile_reports.AT_CAP["over the cap, then the block"])
    text = report_md.read(path)
    assert len(text) == report_md.MAX_REPORT_BYTES + 1
    losses, why = parse_loss_500(text)
    assert losses is None and "only the first 2 MB of REPORT.md are read" in why


def test_the_hostile_files_are_at_the_readers_caps():
    assert (hostile_reports.MAX_REPORT_BYTES, hostile_reports.MAX_YAML_CHARS) == (
        report_md.MAX_REPORT_BYTES, report_md.MAX_YAML_CHARS)
