"""The README's promise: on a fresh clone, `make grade` works with no other step.

(`make test` on a fresh clone is what CI itself runs through `.ci/run`.) The clone is of the
committed HEAD; its virtual environment is built from the pinned requirements like a
newcomer's. The reference cache is shared through LAB2_CACHE: it is keyed by the hashes of
the rubric, data and code, so the clone reuses it only when those are identical.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from grader import PROJECT
from grader.answers.data import CACHE


@pytest.mark.skipif(shutil.which("git") is None or shutil.which("make") is None, reason="needs git and make")
def test_make_grade_on_a_fresh_clone(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(PROJECT), str(clone)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env["LAB2_CACHE"] = str(CACHE)
    result = subprocess.run(["make", "grade"], cwd=clone, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    out = result.stdout
    assert out.count("Sandbox: ") == 1 and "Total: " in out
    assert "q2_1" in out and "tanh" in Path(clone / "out" / "feedback.md").read_text()
    assert (clone / "out" / "results.json").is_file()
