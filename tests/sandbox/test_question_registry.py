"""Adding a question is one registry entry plus its cases: a toy question, seen end to end.

``tests/builders/toy_question.py`` registers ``q1_6`` (``single_neuron.relu``, one case per seed, 1 point
in a toy rubric) by patching ``lab2check.questions.QUESTIONS``; nothing else of the grader is
edited. The test builds a reference that has ``relu`` (a solution region, in tmp), the
reference's answers for the toy rubric, grades a student who got it right and one who did not
(through ``grader.api``, in the sandbox), renders both, and generates the kit from the same
reference: its fixtures hold the toy's public case, its ``lab2`` stubs ``relu`` naming the
question, and its own pytest run (with the toy registered the same way) checks it.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from builders import corpus
from builders import toy_question as toy

from grader import DATA, PROJECT, REFERENCE, api
from grader.answers import cache as answers_cache
from grader.answers import data as answers_data
from grader.answers import requests
from grader.authoring import fixtures, skeleton
from grader.errors import UsageError
from grader.render import render_markdown, render_terminal
from lab2check import questions

TESTS = Path(__file__).resolve().parents[1]
SMALL_RUBRIC = TESTS / "files" / "rubric_small.yaml"


def _toy_rubric(path: Path) -> Path:
    """The small rubric with the toy's point added to the questions and to the total."""
    data = yaml.safe_load(SMALL_RUBRIC.read_text())
    data["questions"][toy.TOY] = {"auto": 1.0, "title": "relu"}
    data["total"] += 1
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The toy registered, a project in tmp whose reference has relu, the toy rubric and its answers."""
    root = tmp_path_factory.mktemp("toy")
    project = root / "project"
    shutil.copytree(REFERENCE / "lab2", project / "reference" / "lab2", ignore=shutil.ignore_patterns("__pycache__"))
    with open(project / "reference" / "lab2" / "single_neuron.py", "a") as f:
        f.write(toy.RELU)
    for folder in ("kit", "lab2check"):
        shutil.copytree(PROJECT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    rubric_path = _toy_rubric(root / "rubric.yaml")
    with pytest.raises(UsageError, match=r"unknown question ids \['q1_6'\]"):
        api.load_rubric(rubric_path)  # before the toy is registered, the rubric's validation refuses it
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(questions, "QUESTIONS", toy.registry())
        for module in (answers_cache, answers_data, requests):  # the reference the answers are built from
            mp.setattr(module, "REFERENCE", project / "reference")
        mp.setattr(fixtures, "REFERENCE", project / "reference")
        rubric = api.load_rubric(rubric_path)
        # Cached under .cache/ like any rubric's answers: the key hashes the toy rubric and reference.
        answers = answers_cache.load(rubric)
        yield {"root": root, "project": project, "rubric": rubric, "answers": answers}


def _student(root: Path, relu: str) -> Path:
    source = corpus.reference_source("single_neuron") + relu
    return corpus.write_submission(root, {"single_neuron": source})


def test_the_toy_question_is_graded_and_rendered(world):
    rubric, answers = world["rubric"], world["answers"]
    assert f"{toy.TOY}/relu/hidden-1" in answers.unit  # its hidden cases, from the rubric's seeds
    right = api.grade(_student(world["root"] / "right", toy.RELU), rubric, answers=answers)
    wrong = api.grade(_student(world["root"] / "wrong", toy.WRONG_RELU), rubric, answers=answers)

    q = right.question(toy.TOY)
    assert (q.status, q.auto_points, q.max_auto) == ("passed", 1.0, 1.0)
    assert [c.name for c in q.checks] == ["relu: public-1", "relu: public-2"] + [
        f"relu: hidden-{i}" for i in range(1, len(rubric.hidden.seeds) + 1)]
    assert all(x.status in ("passed", "manual") for x in right.questions), [(x.id, x.summary) for x in right.questions]

    q = wrong.question(toy.TOY)
    assert (q.status, q.auto_points) == ("failed", 0.0)
    assert "relu(z)" in q.summary and "hidden checks failed" in q.summary
    others = {x.id: x.auto_points for x in wrong.questions if x.id != toy.TOY}
    assert others == {x.id: x.auto_points for x in right.questions if x.id != toy.TOY}  # the toy costs its own point

    for report, points in ((right, "1 / 1"), (wrong, "0 / 1")):
        rows = [line for line in render_terminal(report, width=160).splitlines() if line.startswith(toy.TOY)]
        assert rows and points in rows[0], rows  # its row of the table (and, when failed, its detail)
        markdown = [line for line in render_markdown(report).splitlines() if toy.TOY in line and points in line]
        assert markdown and "relu" in markdown[0], markdown
    assert "relu(z)" in render_markdown(wrong) and f"{toy.TOY} relu: 0 / 1" in render_terminal(wrong, width=160)


def _kit_pytest(kit: Path, *args):
    """The kit's own suite as a student runs it, with the toy registered in the kit's lab2check."""
    env = {**os.environ, "MNIST_DIR": str(DATA), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(TESTS)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "builders.toy_question", *args], cwd=kit, env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_toy_question_is_in_the_kit(world):
    project, root = world["project"], world["root"]
    fixture_dir = project / "kit" / "tests" / "fixtures"
    for name, data in fixtures.render(world["rubric"]).items():
        (fixture_dir / name).write_bytes(data)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(questions, "QUESTIONS", toy.registry())
        skeleton.generate(root / "kit", project)
    kit = root / "kit"
    public = (kit / "tests" / "fixtures" / "public.json").read_text()
    assert f'"{toy.TOY}/relu/public-1"' in public and f'"{toy.TOY}/relu/public-2"' in public
    assert "hidden" not in public.split('"cases"')[1].split("]")[0]
    stubbed = (kit / "lab2" / "single_neuron.py").read_text()
    assert f'raise NotImplementedError("{toy.TOY}: single_neuron.relu")' in stubbed
    assert "np.maximum(z, 0.0)" not in stubbed

    result = _kit_pytest(kit, "-k", toy.TOY)
    assert "1 failed" in result.stdout and f"{toy.TOY}: not implemented yet: single_neuron.relu" in result.stdout, \
        result.stdout[-2000:]
    (kit / "lab2" / "single_neuron.py").write_text(corpus.reference_source("single_neuron") + toy.RELU)
    result = _kit_pytest(kit, "-k", toy.TOY)
    assert result.returncode == 0 and "1 passed" in result.stdout and "deselected" in result.stdout, \
        result.stdout[-2000:]
    (kit / "lab2" / "single_neuron.py").write_text(corpus.reference_source("single_neuron") + toy.WRONG_RELU)
    result = _kit_pytest(kit, "-k", toy.TOY)
    assert "1 failed" in result.stdout and "relu(z)" in result.stdout, result.stdout[-2000:]
