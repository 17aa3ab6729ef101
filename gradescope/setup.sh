#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image, with the zip
# unpacked in $AUTOGRADER_ROOT/source (Gradescope: /autograder/source). It installs bubblewrap
# (the sandbox; without it, or where the container forbids it, grading falls back to resource
# limits and every report says so), Python 3.11 or later, the pinned environment in
# source/.venv, then builds the reference's answers once, so no submission pays for them.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
export DEBIAN_FRONTEND=noninteractive

# The first python3.X on PATH that runs and is 3.11 or later. Each candidate is run before it is
# chosen: a name on PATH may be a pyenv shim for a version that is not installed (it exits 127),
# or a broken link; such a one is passed over, not taken to stop the setup at `-m venv`.
find_python() {
  local v
  for v in 3.13 3.12 3.11; do
    if command -v "python$v" >/dev/null 2>&1 \
       && "python$v" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
      echo "python$v"; return
    fi
  done
}

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  apt-get install -y -qq bubblewrap
  PY="$(find_python)"
  if [ -z "$PY" ]; then   # Gradescope's Ubuntu 22.04 image has Python 3.10 only
    apt-get install -y -qq python3.11 python3.11-venv
    PY=python3.11
  fi
  apt-get install -y -qq "$PY-venv" || true   # ensurepip for the venv (already there on some images)
else
  PY="$(find_python)"
  [ -n "$PY" ] || { echo "setup.sh: Python 3.11 or later is needed" >&2; exit 1; }
fi

"$PY" -m venv "$SOURCE/.venv"
"$SOURCE/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$SOURCE/requirements.txt"
cd "$SOURCE"
"$SOURCE/.venv/bin/python" -m grader.gradescope.run --prepare
