"""Cheating student code graded end to end (issue 10): no point that was not earned.

Every number that decides a point is computed in the grader's process from what the student's
functions returned; these submissions try to change those numbers from inside the child. Each
is graded in a fresh grader process (``_grade_in_process``), so the grader's own peak memory
(``ru_maxrss`` of that process alone, the children excluded) and the CPU time of the whole
grading (children included: load on the machine cannot change it) can be compared with a
correct submission's, measured the same way in the same session.

Each case says which questions it may change and what they must score; every other question
must score exactly the reference's points.
"""
import json
import os
import resource
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import corpus
import pytest
from conftest import SMALL_RUBRIC

from grader import PROJECT, mutations
from grader.render import neutralise
from grader.report import Report

pytestmark = pytest.mark.timeout(600)

MAX_GRADER_RSS_MB = 200
# The share of one check in q1_5 / q2_2 (four checks of 1.5 points) and in q2_3 (three of 1).
FOURTH, THIRD = 1.5 / 4, 1.0 / 3

# VmHWM, not ru_maxrss: Linux carries the forking process's RSS (pytest's, hundreds of MB late in
# a session) into ru_maxrss across exec; VmHWM belongs to the grader's own address space.
_GRADE = """
import sys
from grader import api
from grader.render import neutralise
report = api.grade(sys.argv[1], api.load_rubric(sys.argv[2]))
with open(sys.argv[3], "w") as f:
    f.write(neutralise.json_dumps(report.to_dict()))
with open("/proc/self/status") as f:
    print(next(line.split()[1] for line in f if line.startswith("VmHWM:")))
"""


def _grade_in_process(folder: Path, out: Path) -> tuple[Report, float, float]:
    """``(report, grader's peak RSS in MB, CPU seconds of the grading and its children)``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = subprocess.run([sys.executable, "-c", _GRADE, str(folder), str(SMALL_RUBRIC), str(out)],
                         cwd=PROJECT, capture_output=True, text=True, timeout=540)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert run.returncode == 0, run.stderr[-3000:]
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Report.from_dict(neutralise.json_loads(out.read_text())), int(run.stdout.split()[-1]) / 1024, cpu


@dataclass(frozen=True)
class Cheat:
    name: str
    sources: dict                          # module -> full source
    scores: dict = field(default_factory=dict)   # question -> exact automatic points
    lower: tuple = ()                       # questions that must score below the reference's
    says: dict = field(default_factory=dict)     # question -> text one of its messages must hold


def _wrap(module, function, code):
    return {module: corpus.hostile_source(module, function, code)}


def _with(sources: dict, module, function, code):
    """``sources`` with ``code`` wrapped around ``function`` of ``module`` as well."""
    base = sources.get(module, corpus.reference_source(module))
    extra = corpus.hostile_source(module, function, code)[len(corpus.reference_source(module)):]
    return {**sources, module: base + extra}


def _tanh() -> dict:
    m = mutations.by_name("tanh-derivative")
    return {m.module: mutations.apply(m, corpus.reference_source(m.module))}


# The student's own loss at the perturbed parameters, replaced in the child by values whose
# centred differences are exactly the (wrong) analytic gradient: a "loss" consistent with it.
FAKE_LOSSES = """
probes = sys.modules.get("lab2check.probes")  # the child undoes patches after each request: redo them
if probes is not None:
    import numpy as _np
    def _losses_at(part, X, y, stacks):
        base = {k: v.mean(axis=0) for k, v in stacks.items()}
        cache = forward(X, base)[1]
        grads = _reference_backward(X, y, base, cache)
        rows = len(next(iter(stacks.values())))
        return _np.array([1.0 + sum(float(_np.sum(grads["d" + k] * (stacks[k][r] - base[k]))) for k in stacks)
                          for r in range(rows)])
    probes._losses_at = _losses_at
    gradcheck = sys.modules.get("lab2check.gradcheck")
    if gradcheck is not None:
        gradcheck.numeric = lambda losses, params, h=1e-3: {k: _np.zeros_like(v) for k, v in params.items()}
"""

PATCH_NUMPY = """
import numpy as _np
_np.allclose = _np.array_equal = _np.array_equiv = lambda *a, **k: True
_np.isclose = lambda a, b, *r, **k: _np.ones(_np.broadcast(a, b).shape, bool)
_np.testing.assert_allclose = lambda *a, **k: None
"""

# A frame of its own on every pipe the child can write to, with the id of the request being
# answered (found in the caller's frames): names that are not strings, then an .npy of 2**64
# elements. Only the first one_hot call of a child does it; the next request gets a new child.
FORGE = """
import json as _json, struct as _struct, stat as _stat
_frame, _rid = sys._getframe(), None
while _frame is not None and _rid is None:
    _req = _frame.f_locals.get("request")
    _rid = _req.get("id") if isinstance(_req, dict) else None
    _frame = _frame.f_back
if args[0].ndim == 1:  # one case of each pair gets each forgery
    _header = {"id": _rid, "status": "ok", "types": {"out": "ndarray"}, "arrays": [["out"], {"a": 1}]}
    _blobs = []
else:
    _header = {"id": _rid, "status": "ok", "types": {"out": "ndarray"}, "arrays": ["out"]}
    _npy = b"\\x93NUMPY\\x01\\x00" + b"{'descr': '<f8', 'fortran_order': False, 'shape': (18446744073709551616,), }"
    _npy = _npy[:8] + _struct.pack("<H", len(_npy) - 8 + 1) + _npy[8:] + b"\\n"
    _blobs = [_npy]
_text = _json.dumps(_header).encode()
_data = _struct.pack(">Q", len(_text)) + _text + b"".join(_struct.pack(">Q", len(b)) + b for b in _blobs)
for _fd in range(3, 64):
    try:
        if _stat.S_ISFIFO(os.fstat(_fd).st_mode):
            os.write(_fd, _data)
    except OSError:
        pass
"""

STEAL_LABELS = """
import numpy as _np
X = args[0]
for _root, _dirs, _files in os.walk("/"):
    if _root.startswith(("/proc", "/sys", "/dev", "/usr", "/lib", "/bin", "/sbin", "/etc")) or \
            "site-packages" in _root or "/.pyenv" in _root:
        _dirs[:] = []
        continue
    for _name in _files:
        if "label" in _name and _name.endswith(".npy"):
            try:
                _labels = _np.load(os.path.join(_root, _name))
            except Exception:
                continue
            if _labels.size == X.shape[1]:
                return (_labels.reshape(1, -1) == 0).astype(float)
return _np.zeros((1, X.shape[1]))
"""

UNTRAINED_CONSTANT = "return args[2], args[3], [0.0] * kwargs.get('epochs', 500)"

CHEATS = [
    Cheat("constant-losses-untrained", _wrap("single_neuron", "train", UNTRAINED_CONSTANT),
          {"q1_5": FOURTH}, says={"q1_5": "test accuracy of the trained parameters"}),
    Cheat("constant-losses-trained", _wrap("single_neuron", "train",
                                           "W, b, losses = _reference_train(*args, **kwargs)\n"
                                           "return W, b, [0.0] * len(losses)"),
          {"q1_5": 3 * FOURTH}, says={"q1_5": "not the loss of the model"}),
    Cheat("copied-losses-untrained-params", _wrap("single_neuron", "train",
                                                  "W, b, losses = _reference_train(*args, **kwargs)\n"
                                                  "return args[2], args[3], losses"),
          {"q1_5": FOURTH}, says={"q1_5": "not the loss of the model"}),
    Cheat("predict-steals-labels", _with(_wrap("single_neuron", "train", UNTRAINED_CONSTANT), "single_neuron",
                                         "predict", STEAL_LABELS),
          {"q1_5": 0.0}),
    Cheat("backward-fakes-the-numeric-gradient", _with(_tanh(), "hidden_layer", "backward", FAKE_LOSSES),
          lower=("q2_1", "q2_2", "q2_3"), says={"q2_1": "tanh-derivative"}),
    Cheat("forward-patches-numpy", _with(_tanh(), "hidden_layer", "forward", PATCH_NUMPY),
          lower=("q2_1", "q2_2", "q2_3"), says={"q2_1": "tanh-derivative"}),
    Cheat("forged-frames", _wrap("multiclass", "one_hot", FORGE), {"q3_2": 1.5}, says={"q3_2": "bad-output"}),
    Cheat("8M-losses", _wrap("single_neuron", "train", "W, b, losses = _reference_train(*args, **kwargs)\n"
                                                       "return W, b, list(losses) * 16777"),
          {"q1_5": 3 * FOURTH}, says={"q1_5": "returned 8388500 losses"}),
    Cheat("oversized-one_hot", _wrap("multiclass", "one_hot", "return np.zeros((10, 2**23))"), {"q3_2": 1.5},
          says={"q3_2": "too large"}),
    Cheat("loss-scaled-by-global-m", corpus.edited([
        ("single_neuron", "float(-np.mean(", "float(-1 / 60000 * np.sum(")]),
        {"q1_5": 3 * FOURTH, "q2_2": 3 * FOURTH, "q2_3": 2 * THIRD}, lower=("q1_3",),
        says={"q1_5": "[mistake:fixed-m]", "q2_2": "not the loss of the model"}),
]
CHEAT = {c.name: c for c in CHEATS}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The reference graded the same way: its points, the grader's RSS and the CPU time."""
    root = tmp_path_factory.mktemp("cheating")
    return _grade_in_process(corpus.write_submission(root / "reference"), root / "reference.json")


@pytest.fixture(scope="module")
def tanh_report(grade_small, corpus_dir):
    """What the tanh-derivative mistake alone scores: the cheats built on it may not score more."""
    return grade_small(corpus.build_mutant(mutations.by_name("tanh-derivative"), corpus_dir / "tanh-alone"))


def _messages(report, qid) -> str:
    q = report.question(qid)
    return q.summary + "\n" + "\n".join(c.message for c in q.checks)


@pytest.mark.parametrize("name", sorted(CHEAT))
def test_cheating_earns_no_point(name, baseline, tanh_report, tmp_path):
    cheat = CHEAT[name]
    reference, _, reference_cpu = baseline
    report, rss_mb, cpu = _grade_in_process(corpus.write_submission(tmp_path / name, cheat.sources),
                                            tmp_path / "report.json")
    assert report.status == "graded", report.error
    changed = set(cheat.scores) | set(cheat.lower)
    for q in report.questions:
        ref = reference.question(q.id).auto_points
        if q.id in cheat.scores:
            assert q.auto_points == pytest.approx(cheat.scores[q.id], abs=1e-6), (q.id, _messages(report, q.id))
        elif q.id in cheat.lower:
            assert q.auto_points < ref, (q.id, _messages(report, q.id))
            if "tanh" in name or "numpy" in name:
                assert q.auto_points <= tanh_report.question(q.id).auto_points + 1e-9, _messages(report, q.id)
        if q.id not in changed:
            assert q.auto_points == pytest.approx(ref, abs=1e-9), (q.id, _messages(report, q.id))
    for qid, text in cheat.says.items():
        assert text in _messages(report, qid), _messages(report, qid)
    assert rss_mb < MAX_GRADER_RSS_MB, f"the grader process peaked at {rss_mb:.0f} MB"
    assert cpu < 2 * reference_cpu + 5, f"{cpu:.1f} CPU s against {reference_cpu:.1f} for a correct submission"
    assert len(json.dumps(report.to_dict())) < 2 << 20  # report.json stays small


def test_a_correct_train_keeps_its_points_when_predict_is_missing(grade_small, reference_report, corpus_dir):
    sources = corpus.edited([("single_neuron", "def predict(X, W, b):\n", "def predict(X, W, b):\n"
                                                                            "    raise NotImplementedError('q1_5')\n")])
    report = grade_small(corpus.write_submission(corpus_dir / "no-predict", sources))
    q = report.question("q1_5")
    assert q.auto_points == pytest.approx(reference_report.question("q1_5").auto_points - FOURTH)
    passed = {c.name.split(":")[0] for c in q.checks if c.passed}
    assert {"trajectory", "final_loss", "accuracy"} <= passed
    assert "your predict did not return" in _messages(report, "q1_5")
    assert report.reproduced_losses["single_neuron"] is not None


def test_test_labels_never_enter_the_sandbox(small_answers):
    """The folder bound into the sandbox holds the training data and the test inputs only; the
    labels beside it are the grader's alone (0600), for the fallback without bubblewrap."""
    sandbox = Path(small_answers.data["X_train"]).parent
    assert all(Path(p).parent == sandbox for k, p in small_answers.data.items() if k != "labels_test")
    labels = Path(small_answers.data["labels_test"])
    assert labels.parent != sandbox and not (sandbox / labels.name).exists()
    assert labels.stat().st_mode & 0o077 == 0


SLOW = textwrap.dedent("""
    def _slow(train):
        def slow(*args, **kwargs):
            for _ in range(2):  # two more trainings: the same result, three times the work
                train(*args, **kwargs)
            return train(*args, **kwargs)
        return slow
""")


def test_a_correct_but_three_times_slower_submission_gets_full_marks_on_a_busy_machine(
        small_rubric, small_answers, reference_report, tmp_path):
    """The training limit is CPU time: four busy processes on the grader's core stretch the wall
    clock of a training well past its limit, and the points stay."""
    import time

    import threadpoolctl

    from grader import api, reference_answers
    from lab2check import checks, local

    # The limit: 1.6 times the CPU time of three reference trainings of the longest question.
    arrays, options = reference_answers.train_request("q3_3", small_rubric, small_answers.data,
                                             small_answers.training["q3_3"]["init"])
    with local.use(PROJECT / "reference"), threadpoolctl.threadpool_limits(1):  # one BLAS thread, as in the child
        start = time.process_time()
        checks.run_local("train", arrays, options)
        train_seconds = max(1.0, 1.6 * 3 * (time.process_time() - start))

    sources = {m: corpus.reference_source(m) + SLOW + "\ntrain = _slow(train)\n" for m in corpus.MODULES}
    folder = corpus.write_submission(tmp_path / "slow", sources)
    limits = small_rubric.limits.model_copy(update={"train_seconds": train_seconds, "wall_factor": 20.0})
    rubric = small_rubric.model_copy(update={"limits": limits})
    # Everything on one core (the children and the hogs inherit this process's affinity): the
    # wall-clock stretch no longer depends on what else the machine runs, nor on how the kernel
    # shares two cores between the children's cgroups and the hogs.
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cores)})
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(4)]
    try:
        report = api.grade(folder, rubric, answers=small_answers, concurrency=2)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        os.sched_setaffinity(0, cores)
    for q in report.questions:
        assert q.auto_points == pytest.approx(reference_report.question(q.id).auto_points), _messages(report, q.id)
    # The premise: with a wall-clock limit, this submission would have timed out.
    assert report.question("q3_3").seconds > train_seconds, (report.question("q3_3").seconds, train_seconds)


def test_printed_output_is_shown_for_public_checks_only(grade_small, small_rubric, corpus_dir):
    """What a function prints reaches the feedback, so a student can debug; what it prints on a
    hidden case never does (it could print the hidden inputs)."""
    from grader.render import render_markdown
    from lab2check import cases

    code = "print('first z value:', repr(float(np.asarray(args[0]).flat[0])))"
    report = grade_small(corpus.write_submission(corpus_dir / "printing", _wrap("single_neuron", "sigmoid", code)))
    q = report.question("q1_1")
    assert q.auto_points == pytest.approx(1.0)
    feedback = render_markdown(report)
    public = [c.arrays["z"].flat[0] for c in cases.cases("q1_1")]
    hidden = [c.arrays["z"].flat[0] for c in cases.cases("q1_1", tuple(small_rubric.hidden.seeds), hidden=True)]
    assert all(repr(float(v)) in q.printed for v in public) and "What your code printed" in feedback
    assert not any(repr(float(v)) in q.printed or repr(float(v)) in feedback for v in hidden)
