"""Gradescope's ``setup.sh`` choosing its Python: every candidate ``python3.X`` on PATH is run
before it is chosen, so a pyenv shim for a version that is not installed (it exits 127) or an
interpreter too old is passed over instead of stopping the setup.

``setup.sh`` is run whole, with a PATH of fake interpreters only (no apt-get on it, so it installs
nothing): the one it chooses makes a fake ``.venv`` whose ``python`` records what it is asked.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader import PROJECT

SETUP = PROJECT / "gradescope" / "setup.sh"

# A good interpreter: it records each call, makes a fake venv, and runs the real Python for the rest
# (the version check).
GOOD = """#!/bin/sh
echo "$(/usr/bin/basename "$0") $*" >> "{log}"
if [ "$1" = -m ] && [ "$2" = venv ]; then
  /bin/mkdir -p "$3/bin"
  printf '#!/bin/sh\\necho "venv-python $*" >> "{log}"\\n' > "$3/bin/python"
  /bin/chmod +x "$3/bin/python"
  exit 0
fi
exec "{python}" "$@"
"""
BAD = {
    "a pyenv shim of a version not installed": """#!/bin/sh
echo "$(/usr/bin/basename "$0") $*" >> "{log}"
echo "pyenv: $(/usr/bin/basename "$0"): command not found" >&2
exit 127
""",
    "an interpreter older than 3.11": """#!/bin/sh
echo "$(/usr/bin/basename "$0") $*" >> "{log}"
[ "$1" = -c ] && exec "{python}" -c 'import sys; sys.version_info = (3, 10, 12); exec(sys.argv[1])' "$2"
exit 0
""",
}


def _fake(folder: Path, name: str, text: str, log: Path) -> None:
    path = folder / name
    path.write_text(text.format(log=log, python=sys.executable))
    path.chmod(0o755)


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
def test_setup_runs_each_candidate_python_before_choosing_it(tmp_path, bad):
    bin_, log, root = tmp_path / "bin", tmp_path / "calls.log", tmp_path / "autograder"
    bin_.mkdir()
    (root / "source").mkdir(parents=True)
    _fake(bin_, "python3.13", bad, log)       # first on the list: must be run, then passed over
    _fake(bin_, "python3.12", GOOD, log)
    done = subprocess.run(["/bin/bash", str(SETUP)], env={"PATH": str(bin_), "AUTOGRADER_ROOT": str(root)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert any(c.startswith("python3.13 -c") for c in calls), calls          # tried
    assert not any(c.startswith("python3.13 -m") for c in calls), calls      # not chosen
    assert f"python3.12 -m venv {root / 'source' / '.venv'}" in calls
    assert any(c.startswith("venv-python -m pip install") for c in calls)
    assert calls[-1] == "venv-python -m grader.gradescope.run --prepare"


def test_setup_without_a_working_python_says_so(tmp_path):
    bin_, log, root = tmp_path / "bin", tmp_path / "calls.log", tmp_path / "autograder"
    bin_.mkdir()
    (root / "source").mkdir(parents=True)
    for v in ("3.13", "3.12", "3.11"):
        _fake(bin_, f"python{v}", BAD["a pyenv shim of a version not installed"], log)
    done = subprocess.run(["/bin/bash", str(SETUP)], env={"PATH": str(bin_), "AUTOGRADER_ROOT": str(root)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "Python 3.11 or later is needed" in done.stderr
    assert not (root / "source" / ".venv").exists()
    assert os.path.getsize(log) > 0
