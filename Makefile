# Every target installs what it needs: a virtual environment from the pinned requirements,
# and bubblewrap (the grader's sandbox) through apt-get when it is missing and we may install it.
PY ?= python3
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STUDENT ?= tests/files/example/DOE_Jane_Lab2_DLCV
SUBMISSIONS ?= submissions
OUT ?= out
JOBS ?=
COMPARE_WITH ?=
WORKSHEET ?=
Q ?=
RUBRIC ?=

.PHONY: help setup sysdeps grade batch test reference skeleton fixtures kit gradescope bench clean

help:
	@echo "make grade [STUDENT=path]      grade one submission (default: the embedded example)"
	@echo "make batch SUBMISSIONS=source  grade a folder, mailbox or Moodle zip into OUT=$(OUT) [WORKSHEET=csv]"
	@echo "make test                      the whole test suite"
	@echo "make reference                 the answer key: train the three reference models"
	@echo "make skeleton | fixtures       regenerate the student kit | its expected values"
	@echo "make kit                       pack the kit with MNIST into build/lab2-kit.tar.gz for students"
	@echo "make gradescope                the Gradescope autograder: build/autograder.zip [RUBRIC=file]"
	@echo "make bench                     the speed benchmark"

$(STAMP): requirements.txt
	$(PY) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet -r requirements.txt
	touch $@

setup: $(STAMP) sysdeps

# bubblewrap is optional (the grader falls back to resource limits and says so), so a failed
# install is a warning, never an error.
sysdeps:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >/dev/null 2>&1 \
	      || echo "warning: could not install bubblewrap; grading falls back to resource limits only"; \
	  else echo "warning: bubblewrap (bwrap) is not installed; grading falls back to resource limits only"; fi; }

grade: setup
	$(PYTHON) -m grader grade "$(STUDENT)" --md $(OUT)/feedback.md --json $(OUT)/results.json

batch: setup
	$(PYTHON) -m grader batch "$(SUBMISSIONS)" --out $(OUT) $(if $(JOBS),--jobs $(JOBS)) \
	  $(if $(COMPARE_WITH),--compare-with "$(COMPARE_WITH)") $(if $(WORKSHEET),--moodle-worksheet "$(WORKSHEET)")

test: setup
	$(PYTHON) -m pytest tests

reference: setup
	$(PYTHON) -m grader.answer_key $(if $(SUBSET),--subset $(SUBSET))

skeleton: setup
	$(PYTHON) -m grader.skeleton

fixtures: setup
	$(PYTHON) -m grader.fixtures
	$(PYTHON) -m grader.skeleton

kit: setup
	$(PYTHON) -m grader.skeleton --archive build/lab2-kit.tar.gz

gradescope: setup
	$(PYTHON) -m grader.gradescope_bundle build/autograder.zip $(if $(RUBRIC),--rubric "$(RUBRIC)")

bench: setup
	$(PYTHON) bench/bench.py

clean:
	rm -rf $(VENV) .cache out .pytest_cache
