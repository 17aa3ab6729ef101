# Every target installs what it needs: a virtual environment from the pinned requirements,
# and bubblewrap (the grader's sandbox) and libseccomp (its system-call filter, used through the
# pinned pyseccomp) through apt-get when they are missing and we may install them.
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
FROM ?=
MBOX ?=
SMTP ?=
SEND ?=

.PHONY: help setup sysdeps grade batch mail-back review test test-fast lint reference skeleton fixtures kit gradescope bench clean

help:
	@echo "make grade [STUDENT=path]      grade one submission (default: the embedded example)"
	@echo "make batch SUBMISSIONS=source  grade a folder, mailbox or Moodle zip into OUT=$(OUT) [WORKSHEET=csv]"
	@echo "make mail-back FROM=addr MBOX=file | SMTP=host:port [SEND=1]   reply to every student of a mail batch"
	@echo "make review [OUT=out]          grade the written questions of a batch in a local web app"
	@echo "make test                      the whole test suite"
	@echo "make test-fast                 the pure checks (no sandbox, no training), under 30 s"
	@echo "make lint                      ruff and mypy, as CI runs them"
	@echo "make reference                 the answer key: train the three reference models"
	@echo "make skeleton | fixtures       regenerate the student kit | its expected values"
	@echo "make kit                       pack the kit with MNIST into build/lab2-kit.tar.gz for students"
	@echo "make gradescope                the Gradescope autograder: build/autograder.zip [RUBRIC=file]"
	@echo "make bench                     the speed benchmark"

# The project itself is installed too (editable: the checkout is what runs), so that every
# process of the venv (the batch's workers, a Dask worker, bench/) imports grader and lab2check
# with no sys.path edit; its dependencies are the pinned requirements, hence --no-deps.
$(STAMP): requirements.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet -r requirements.txt
	$(PYTHON) -m pip install --quiet --no-deps -e .
	touch $@

setup: $(STAMP) sysdeps

# Both are optional (the grader falls back to resource limits, or runs without the filter, and
# the report's sandbox line says so), so a failed install is a warning, never an error.
# chromium and chromium-driver (a matched pair from Debian) run the review app's browser tests.
SYSDEPS_MISSING = $(strip $(if $(shell command -v bwrap),,bubblewrap) \
                  $(if $(shell /sbin/ldconfig -p 2>/dev/null | grep -F libseccomp.so.2),,libseccomp2) \
                  $(if $(shell command -v chromium),,chromium) $(if $(shell command -v chromedriver),,chromium-driver))
sysdeps:
	@missing="$(SYSDEPS_MISSING)"; [ -z "$$missing" ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null 2>&1 \
	      || echo "warning: could not install $$missing; the report's sandbox line says what grading runs without (and the browser tests are skipped without chromium)"; \
	  else echo "warning: $$missing not installed; the report's sandbox line says what grading runs without (and the browser tests are skipped without chromium)"; fi; }

grade: setup
	$(PYTHON) -m grader grade "$(STUDENT)" --md $(OUT)/feedback.md --json $(OUT)/results.json

batch: setup
	$(PYTHON) -m grader batch "$(SUBMISSIONS)" --out $(OUT) $(if $(JOBS),--jobs $(JOBS)) \
	  $(if $(COMPARE_WITH),--compare-with "$(COMPARE_WITH)") $(if $(WORKSHEET),--moodle-worksheet "$(WORKSHEET)")

# After a mail batch: one reply per graded student, as drafts (MBOX=replies.mbox) or sent
# (SMTP=smtp.univ.example:587, a dry run unless SEND=1); see docs/teachers.md "Replies by mail".
mail-back: setup
	$(PYTHON) -m grader mail-back $(OUT) --from "$(FROM)" $(if $(MBOX),--mbox "$(MBOX)") \
	  $(if $(SMTP),--smtp "$(SMTP)") $(if $(SEND),--send)

review: setup
	$(PYTHON) -m grader review "$(OUT)"

# ARGS goes to pytest after the tests folder: make test ARGS="-x -k batch", make test-fast ARGS=-q
test: setup
	$(PYTHON) -m pytest tests $(ARGS)

# The pure checks only (no sandbox, no training): under 30 s.
test-fast: setup
	$(PYTHON) -m pytest tests -m "not slow and not sandbox" $(ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy   # grader/ and lab2check/, configured in pyproject.toml ([tool.mypy])

reference: setup
	$(PYTHON) -m grader.authoring.train_reference $(if $(SUBSET),--subset $(SUBSET))

skeleton: setup
	$(PYTHON) -m grader.authoring.skeleton

fixtures: setup
	$(PYTHON) -m grader.authoring.fixtures
	$(PYTHON) -m grader.authoring.skeleton

kit: setup
	$(PYTHON) -m grader.authoring.skeleton --archive build/lab2-kit.tar.gz

gradescope: setup
	$(PYTHON) -m grader.gradescope.bundle build/autograder.zip $(if $(RUBRIC),--rubric "$(RUBRIC)")

bench: setup
	$(PYTHON) bench/bench.py

clean:
	rm -rf $(VENV) .cache out .pytest_cache
