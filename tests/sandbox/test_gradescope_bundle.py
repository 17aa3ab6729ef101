"""The Gradescope bundle (``make gradescope``: ``grader.gradescope.bundle``) and its ``run_autograder``.

The bundle is unpacked into a temporary ``/autograder``-shaped root (``source/``,
``submission/``, ``submission_metadata.json``) and its own ``run_autograder`` is run there with
``AUTOGRADER_ROOT`` pointing at it, as Gradescope runs it. ``setup.sh`` needs apt and the
network, so it is not run: the root's ``source/.venv`` is this project's environment, and the
reference answers come from this project's cache (``LAB2_CACHE``), which hold the same bytes
``setup.sh`` would install and build. The bundle packs the small rubric to keep grading short.
"""
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

import pytest
from builders import archives, corpus

from grader import PROJECT
from grader.answers import data as answers_data
from grader.gradescope.bundle import build
from grader.render.gradescope import TEST_KEYS, TOP_KEYS, VISIBILITIES, problems

pytestmark = pytest.mark.timeout(300)

RUBRIC_PATH = Path(__file__).parents[1] / "files" / "rubric_small.yaml"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, small_answers):   # small_answers: the cache run_autograder will read
    return build(tmp_path_factory.mktemp("bundle") / "autograder.zip", RUBRIC_PATH)


def test_the_bundle_has_gradescopes_two_scripts_at_its_root_and_only_what_grading_needs(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    for script in ("setup.sh", "run_autograder"):
        assert stat.S_IMODE(infos[script].external_attr >> 16) == 0o755
    for name in ("grader/cli.py", "grader/gradescope/run.py", "grader/sandbox/child.py", "reference/lab2/multiclass.py",
                 "data/mnist/train-images-idx3-ubyte.gz", "requirements.txt", "rubric.yaml"):
        assert name in infos, name
    assert not [n for n in infos if n.split("/")[0] in ("tests", "kit", "skeleton", "bench", ".cache", "docs")
                or "__pycache__" in n or n.endswith(".pyc")]
    with zipfile.ZipFile(bundle) as zf:
        assert zf.read("rubric.yaml") == RUBRIC_PATH.read_bytes()
        setup = zf.read("setup.sh").decode()
    assert "bubblewrap" in setup and "requirements.txt" in setup and 'AUTOGRADER_ROOT:-/autograder' in setup
    again = build(tmp_path / "again.zip", RUBRIC_PATH)
    assert again.read_bytes() == bundle.read_bytes()     # reproducible
    for script in ("setup.sh", "run_autograder"):
        subprocess.run(["bash", "-n", str(PROJECT / "gradescope" / script)], check=True)


def autograder_root(bundle: Path, root: Path) -> Path:
    """A folder shaped like Gradescope's /autograder, with the bundle unpacked in ``source/``."""
    source = root / "source"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(source)
        for info in zf.infolist():
            os.chmod(source / info.filename, stat.S_IMODE(info.external_attr >> 16))
    (source / ".venv").symlink_to(Path(sys.executable).parent.parent)  # what setup.sh would make
    (root / "submission").mkdir()
    (root / "submission_metadata.json").write_text(json.dumps(
        {"id": 123456, "users": [{"email": "jane@example.edu", "name": "Jane Doe", "sid": "42"}]}))
    return root


def run_autograder(root: Path, extra_env: dict | None = None) -> dict:
    env = os.environ | {"AUTOGRADER_ROOT": str(root), "LAB2_CACHE": str(answers_data.CACHE)} | (extra_env or {})
    done = subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=240, cwd="/", check=False)
    assert done.returncode == 0, done.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_run_autograder_grades_the_submission_into_gradescopes_documented_results(bundle, tmp_path):
    root = autograder_root(bundle, tmp_path / "autograder")
    corpus.write_submission(root / "submission")   # the reference with a REPORT.md: every automatic point
    results = run_autograder(root)
    assert problems(results) == []
    assert set(results) <= TOP_KEYS
    assert isinstance(results["score"], float) and isinstance(results["execution_time"], int)
    assert results["execution_time"] >= 1
    tests = results["tests"]
    assert len(tests) >= 10
    for test in tests:
        assert set(test) <= TEST_KEYS
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["score"], float) and isinstance(test["max_score"], float)
        assert test["status"] == "passed" and test["score"] == test["max_score"], test["name"]
        assert isinstance(test["output"], str) and test["visibility"] in VISIBILITIES
    assert results["score"] == pytest.approx(sum(t["score"] for t in tests)) == pytest.approx(16)  # 15 + bonus 1
    assert results["extra_data"]["status"] == "graded" and results["extra_data"]["student"] == "Jane Doe"
    assert results["extra_data"]["rubric_sha256"] == hashlib.sha256(RUBRIC_PATH.read_bytes()).hexdigest()


def test_a_broken_archive_or_no_package_is_a_scored_result_not_an_autograder_failure(bundle, tmp_path):
    root = autograder_root(bundle, tmp_path / "archive")
    archives.truncated(root / "submission")    # a .tar.bz2 as the lab asks, cut short
    results = run_autograder(root)
    assert problems(results) == [] and results["score"] == 0
    assert results["extra_data"]["status"] == "bad-archive" and "bad-archive" in results["output"]

    root = autograder_root(bundle, tmp_path / "loose")
    for name, data in archives.package_files().items():   # the modules uploaded loose, no lab2/ folder
        (root / "submission" / Path(name).name).write_bytes(data)
    results = run_autograder(root)
    assert problems(results) == [] and results["score"] == 0
    assert results["extra_data"]["status"] == "no-package" and "no lab2/ package" in results["output"]


def test_without_bubblewrap_student_code_cannot_read_the_bundles_source(bundle):
    # Docker may refuse bubblewrap's namespaces: the grader falls back to resource limits
    # (forced here as the code selects it, LAB2_SANDBOX=rlimits). A package whose every module
    # runs the bundle's reference in its own place would take every automatic point if the
    # dedicated uid could read source/ (and the answers' cache beside it).
    if os.geteuid() != 0:
        pytest.skip("only a grader run as root has a dedicated uid to hide source/ from")
    # Gradescope's /autograder is world-searchable (0755), unlike pytest's private tmp_path.
    base = Path(tempfile.mkdtemp(prefix="lab2-autograder-"))
    base.chmod(0o755)
    try:
        _cannot_read_the_source(autograder_root(bundle, base / "autograder"))
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _cannot_read_the_source(root: Path) -> None:
    reference = root / "source" / "reference" / "lab2"
    cheat = textwrap.dedent("""
        import glob, sys
        try:
            exec(compile(open({reference!r} + "/" + __name__.split(".")[-1] + ".py").read(), __file__, "exec"))
        except OSError as err:
            print("refused:", err, file=sys.stderr)
        try:
            print("answers:", open(glob.glob({cache!r} + "/reference/*/meta.json")[0]).read()[:100])
        except (OSError, IndexError) as err:
            print("refused:", repr(err))
    """).format(reference=str(reference), cache=str(answers_data.CACHE))
    corpus.write_submission(root / "submission", {m: cheat for m in corpus.MODULES})
    results = run_autograder(root, {"LAB2_SANDBOX": "rlimits"})
    assert problems(results) == []
    assert results["extra_data"]["status"] == "graded"
    assert results["score"] <= 1, results["score"]   # REPORT.md's point at most: no code, no points
    assert "resource limits only; the grader's files hidden from student code" in results["output"]
    assert stat.S_IMODE((root / "source").stat().st_mode) == 0o700
