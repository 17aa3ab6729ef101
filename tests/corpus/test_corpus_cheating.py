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

import pytest
from builders import corpus
from conftest import SMALL_RUBRIC

from grader import PROJECT
from grader.answers import mutations
from grader.render import neutralise
from grader.results import Report

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

    from grader import api
    from grader.answers import requests
    from lab2check import checks, local

    # The limit: 1.6 times the CPU time of three reference trainings of the longest question.
    arrays, options = requests.train_request("q3_3", small_rubric, small_answers.data,
                                             small_answers.training["q3_3"].init)
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


# ---------------------------------------------------------------- issue 22: no points without a solution
ZEROS = {
    "single_neuron": textwrap.dedent("""
        import numpy as np
        def sigmoid(z): return np.zeros_like(np.asarray(z, dtype=float))
        def forward(X, W, b): return np.zeros((1, X.shape[1]))
        def loss(y, y_hat): return 0.0
        def gradients(X, y, y_hat): return np.zeros((1, X.shape[0])), 0.0
        def predict(X, W, b): return np.zeros(X.shape[1], dtype=int)
        def train(X, y, W, b, epochs=500, lr=0.5): return np.zeros_like(W), np.zeros_like(b), [0.0] * epochs
    """),
    **{module: textwrap.dedent(f"""
        import numpy as np
        def init_params(n_in=784, n_hidden=64, n_out={n_out}, seed=None):
            return {{"W1": np.zeros((n_hidden, n_in)), "b1": np.zeros((n_hidden, 1)),
                    "W2": np.zeros((n_out, n_hidden)), "b2": np.zeros((n_out, 1))}}
        def forward(X, params): return np.zeros((params["W2"].shape[0], X.shape[1])), None
        def backward(X, y, params, cache): return {{"d" + k: np.zeros_like(v) for k, v in params.items()}}
        def update(params, grads, lr): return {{k: np.zeros_like(v) for k, v in params.items()}}
        def predict(X, params): return np.zeros(X.shape[1], dtype=int)
        def train(X, y, params, epochs=500, lr=1.0):
            return {{k: np.zeros_like(v) for k, v in params.items()}}, [0.0] * epochs
        def one_hot(labels, n_classes=10): return np.zeros((n_classes, np.size(labels)))
        def softmax(Z): return np.zeros_like(np.asarray(Z, dtype=float))
        def loss(Y, Y_hat): return 0.0
    """) for module, n_out in (("hidden_layer", 1), ("multiclass", 10))},
}


def _unit_and_training_points(report) -> float:
    return sum(q.auto_points for q in report.questions if q.id != "report")


def test_a_package_of_zeros_earns_nothing(grade_small, corpus_dir):
    """Every function returns zeros (a zero gradient is the centred difference of a constant
    loss; a finite loss of 0; labels all 0): no automatic point."""
    report = grade_small(corpus.write_submission(corpus_dir / "zeros", ZEROS))
    assert report.status == "graded", report.error
    paid = {q.id: q.auto_points for q in report.questions if q.id != "report" and q.auto_points}
    assert paid == {}, "\n".join(_messages(report, q) for q in paid)


def test_a_constant_loss_earns_nothing_for_a_finite_large_value(grade_small, corpus_dir):
    """``return 5.0`` is finite and large enough for the confidently-wrong case, and right nowhere."""
    report = grade_small(corpus.write_submission(corpus_dir / "constant-loss",
                                                 _wrap("single_neuron", "loss", "return 5.0")))
    assert report.question("q1_3").auto_points == 0.0, _messages(report, "q1_3")


# Zero gradients; the loss is the reference's but for one public case of each loss question (so
# the gradient checks ask for the student's own loss values). The cheat adds a loss that answers
# a constant when the gradient check's perturbed parameters are evaluated (_losses_at's frame).
_ZERO_GRADIENTS = [("single_neuron", "gradients", "return np.zeros((1, args[0].shape[0])), 0.0"),
                   ("hidden_layer", "backward", 'return {"d" + k: np.zeros_like(v) for k, v in args[2].items()}'),
                   ("multiclass", "backward", 'return {"d" + k: np.zeros_like(v) for k, v in args[2].items()}')]
_WRONG_ON_ONE_PUBLIC_CASE = {
    "single_neuron": "if np.shape(args[0]) == (1, 3) and np.array_equal(args[0], [[1.0, 0.0, 1.0]]):\n"
                     "    return float('nan')",
    "multiclass": "if np.shape(args[0]) == (4, 3) and np.array_equal(args[0][:, 0], [1.0, 0.0, 0.0, 0.0]):\n"
                  "    return float('nan')"}
_RECOGNISES_THE_GRADIENT_CHECK = """
_frame = sys._getframe(1)
while _frame is not None:
    if _frame.f_code.co_name == "_losses_at":
        return 0.5
    _frame = _frame.f_back
"""


def _zero_gradients(recognising: bool) -> dict:
    sources = {}
    for module, function, code in _ZERO_GRADIENTS:
        sources = _with(sources, module, function, code)
    for module, code in _WRONG_ON_ONE_PUBLIC_CASE.items():
        sources = _with(sources, module, "loss", (_RECOGNISES_THE_GRADIENT_CHECK if recognising else "") + code)
    return sources


def test_a_loss_that_recognises_the_gradient_check_earns_no_more_than_honest_zero_gradients(grade_small,
                                                                                            corpus_dir):
    honest = grade_small(corpus.write_submission(corpus_dir / "zero-gradients", _zero_gradients(False)))
    cheat = grade_small(corpus.write_submission(corpus_dir / "zero-gradients-cheat", _zero_gradients(True)))
    for qid in ("q1_4", "q2_1", "q3_3"):
        assert cheat.question(qid).auto_points <= honest.question(qid).auto_points + 1e-9, _messages(cheat, qid)
    assert _unit_and_training_points(cheat) <= _unit_and_training_points(honest) + 1e-9


# The kit's answers replayed: each function hashes its inputs and looks them up in a table built
# from the kit's own fixture file (tests/fixtures/public.npz) and the kit's public cases.
REPLAY = textwrap.dedent("""
    import hashlib, os
    import numpy as np
    _TABLE = np.load(os.path.join(os.path.dirname(__file__), "answers.npz"))
    _INDEX = {}
    for _name in _TABLE.files:
        _h, _fn, _out = _name.split("|")
        _INDEX.setdefault((_h, _fn), {})[_out] = _TABLE[_name]

    def key(args):
        h = hashlib.sha256()
        for a in args:
            for v in ([a[k] for k in sorted(a)] if isinstance(a, dict) else [a]):
                h.update(np.ascontiguousarray(v).tobytes())
        return h.hexdigest()[:32]

    def answer(fn, *args):
        found = _INDEX.get((key(args), fn))
        if found is None:
            raise NotImplementedError(fn)
        if set(found) == {"out"}:
            return found["out"]
        if "0" in found:
            return tuple(found[str(i)] for i in range(len(found)))
        return dict(found)
""")


def _replay_sources() -> dict:
    names = {"single_neuron": ("sigmoid(z)", "forward(X, W, b)", "loss(y, y_hat)", "gradients(X, y, y_hat)",
                               "predict(X, W, b)"),
             "hidden_layer": ("forward(X, params)", "backward(X, y, params, cache=None)", "update(params, grads, lr)",
                              "predict(X, params)"),
             "multiclass": ("one_hot(labels, n_classes=10)", "softmax(Z)", "loss(Y, Y_hat)", "forward(X, params)",
                            "backward(X, y, params, cache=None)", "update(params, grads, lr)", "predict(X, params)")}
    sources = {"_replay": REPLAY}
    for module, signatures in names.items():
        lines = ["from lab2._replay import answer\n"]
        for sig in signatures:
            fn, params = sig.split("(", 1)
            args = [a.split("=")[0].strip() for a in params.rstrip(")").split(",")]
            used = [a for a in args if a not in ("cache", "lr", "n_classes")]
            lines.append(f"def {sig}:\n    return answer({fn!r}, {', '.join(used)})\n")
        lines.append("def init_params(*args, **kwargs):\n    raise NotImplementedError\n")
        lines.append("def train(*args, **kwargs):\n    raise NotImplementedError\n")
        sources[module] = "\n".join(lines)
    return sources


def _replay_table() -> dict:
    """``{hash|function|output: answer}`` from the kit's fixture file, for every public case."""
    import hashlib

    import numpy as np

    from lab2check import cases as cases_mod
    from lab2check import questions
    expected = np.load(PROJECT / "kit" / "tests" / "fixtures" / "public.npz")
    per_case = {}
    for name in expected.files:
        kind, cid, key = name.split("|", 2) if name.startswith("exp|") else (None, None, None)
        if kind == "exp":
            per_case.setdefault(cid, {})[key] = expected[name]

    def digest(args):
        h = hashlib.sha256()
        for a in args:
            for v in ([a[k] for k in sorted(a)] if isinstance(a, dict) else [a]):
                h.update(np.ascontiguousarray(v).tobytes())
        return h.hexdigest()[:32]

    table = {}

    def put(fn, args, outputs):
        for out, value in outputs.items():
            table[f"{digest(args)}|{fn}|{out}"] = value

    for qid in questions.unit_questions():
        for case in cases_mod.cases(qid):
            exp, a = per_case.get(case.id, {}), case.arrays
            params = {k: a[f"params.{k}"] for k in cases_mod.PARAM_KEYS if f"params.{k}" in a}
            if case.probe == "call":
                args = [{k: a[f"{n}.{k}"] for k in case.options["params"][n]} if n in case.options.get("params", {})
                        else a[n] for n in case.options["args"]]
                put(case.options["function"], args, {k.split(".", 1)[1] if "." in k else k: v
                                                     for k, v in exp.items() if k.startswith("out")})
            elif case.probe == "chain":
                put("forward", [a["X"], params], {"0": exp["y_hat"], "1": np.zeros(1)})
                put("backward", [a["X"], a["y"], params], {k: exp[k] for k in cases_mod.GRAD_KEYS})
            elif case.probe == "numgrad" and "y_hat" in a:
                put("gradients", [a["X"], a["y"], a["y_hat"]], {"0": exp["grad.W"], "1": exp["grad.b"]})
    return table


def test_the_kits_answers_replayed_earn_no_more_than_an_empty_package(grade_small, corpus_dir):
    """A package with no code, that looks its inputs up in the kit's own fixture file, earns no
    more than the skeleton: the cases whose answers ship teach, only hidden ones are graded."""
    import numpy as np

    replay = corpus.write_submission(corpus_dir / "replay", _replay_sources())
    np.savez(replay / "lab2" / "answers.npz", **_replay_table())
    report = grade_small(replay)
    public_passed = [c for q in report.questions for c in q.checks if not c.hidden and c.passed]
    assert len(public_passed) > 20  # the premise: the replay passes the public cases
    empty = grade_small(corpus.write_submission(corpus_dir / "empty", {
        m: (PROJECT / "skeleton" / "lab2" / f"{m}.py").read_text() for m in corpus.MODULES}))
    assert _unit_and_training_points(report) <= _unit_and_training_points(empty) + 1e-9, \
        "\n".join(_messages(report, q.id) for q in report.questions if q.auto_points)


# Every input the functions see is kept in module state and in a file, and printed by every
# later call and by train: what the hidden cases passed must not reach the feedback.
KEEPS_INPUTS = """
_seen = globals().setdefault("_SEEN", [])
for _a in args:
    if isinstance(_a, np.ndarray) and _a.size:
        _seen.append(repr(float(_a.flat[0])))
try:
    with open("/tmp/seen.txt", "a") as _f:
        _f.write(" ".join(_seen[-len(args):]) + " ")
    with open("/tmp/seen.txt") as _f:
        _kept = _f.read()
except OSError:
    _kept = ""
print("seen so far:", " ".join(_seen), "kept:", _kept)
"""


def test_no_hidden_input_reaches_the_feedback_through_state(grade_small, small_rubric, corpus_dir):
    from grader.render import render_markdown
    from lab2check import cases as cases_mod
    from lab2check import questions
    sources = {}
    for module, function in (("single_neuron", "sigmoid"), ("single_neuron", "loss"), ("single_neuron", "train"),
                             ("multiclass", "softmax"), ("hidden_layer", "train")):
        sources = _with(sources, module, function, KEEPS_INPUTS)
    report = grade_small(corpus.write_submission(corpus_dir / "keeps-inputs", sources))
    assert report.status == "graded", report.error
    feedback, data = render_markdown(report), json.dumps(report.to_dict())
    assert "seen so far" in feedback  # the premise: what public calls print is shown
    hidden = {repr(float(a.flat[0])) for qid in questions.unit_questions()
              for c in cases_mod.cases(qid, tuple(small_rubric.hidden.seeds), hidden=True)
              for a in c.arrays.values() if a.size and not c.id.startswith("q1_4/gradcheck")} - \
             {repr(float(a.flat[0])) for qid in questions.unit_questions() for c in cases_mod.cases(qid)
              for a in c.arrays.values() if a.size}
    hidden = {v for v in hidden if len(v) > 10}  # random values: 0.8147236863931789, never a 5.0 or a 1e4
    assert len(hidden) > 50
    leaked = sorted(v for v in hidden if v in feedback or v in data)
    assert leaked == []


PATCH_PURITY = """
_probes = sys.modules.get("lab2check.probes")
if _probes is not None:  # the comparison that decided the purity share was made in the child
    _probes._same = lambda a, b: True
_Z = args[0]
_Z -= np.max(_Z, axis=0, keepdims=True)
"""


def test_the_purity_share_cannot_be_turned_off_from_the_child(grade_small, corpus_dir):
    """softmax shifts its argument in place (right values) and patches the child's comparison:
    the share is still lost, decided in the grader's process from the argument sent back."""
    report = grade_small(corpus.write_submission(corpus_dir / "purity", _wrap("multiclass", "softmax", PATCH_PURITY)))
    assert report.question("q3_2").auto_points == pytest.approx(2.0 - 0.25), _messages(report, "q3_2")
    assert "in place" in _messages(report, "q3_2")
