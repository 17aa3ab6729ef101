"""The answer key, on tiny subsets and few epochs (the real run takes minutes: ``make reference``)."""
import math
import re
import subprocess
import sys

import numpy as np
import pytest

from grader import PROJECT, REFERENCE
from grader import rubric as rubric_mod
from grader.authoring import train_reference

MODELS = ["single_neuron", "hidden_layer", "multiclass"]


def _run(*args):
    return subprocess.run([sys.executable, "-m", "grader.authoring.train_reference", *args], cwd=PROJECT,
                          capture_output=True, text=True, timeout=120)


def _rows(stdout: str) -> dict[str, list[float]]:
    """The table's rows: model -> [loss[0], loss@E, train acc, test acc, seconds]."""
    lines = stdout.strip().splitlines()
    rows = {}
    for line in lines[2:]:
        name, *numbers = re.split(r"\s{2,}", line.strip())
        rows[name] = [float(v) for v in numbers]
    return rows


def test_cli_prints_one_row_per_model():
    done = _run("--subset", "300", "--epochs", "5")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "answer key: first 300 training examples, test set 10000, float64, 5 epochs"
    assert lines[1].split() == ["model", "loss[0]", "loss@5", "train", "acc", "test", "acc", "seconds"]
    rows = _rows(done.stdout)
    assert list(rows) == MODELS
    for model, (first, last, train_acc, test_acc, seconds) in rows.items():
        assert 0 < last < first, model
        assert 0 <= train_acc <= 1 and 0 <= test_acc <= 1 and seconds >= 0, model
    assert rows["single_neuron"][0] == pytest.approx(math.log(2), abs=1e-4)  # starts from W = 0
    assert rows["multiclass"][0] == pytest.approx(math.log(10), abs=0.1)      # near-uniform start
    # One progress bar per model, on stderr.
    for model in MODELS:
        assert re.search(rf"{model}\s*: 100%.*5/5", done.stderr), done.stderr


def test_cli_grading_subset_uses_the_rubrics_size_and_dtype():
    rubric = rubric_mod.load()
    done = _run("--subset", "grading", "--epochs", "2", "--no-progress", "--bonus")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"answer key: first {rubric.data.train_subset} training examples, "
                                  f"test set {rubric.data.test_subset}, {rubric.data.dtype}, 2 epochs\n")
    assert list(_rows(done.stdout)) == MODELS + [f"bonus (digit {rubric.data.bonus_digit})"]
    assert done.stderr == ""


@pytest.mark.parametrize("args,message", [
    (["--subset", "lots"], "--subset must be a number of examples or 'grading'"),
    (["--subset", "0"], "--subset must be between 1 and 60000"),
    (["--epochs", "0"], "--epochs must be at least 1"),
])
def test_cli_refuses_bad_arguments_in_one_line(args, message):
    done = _run(*args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), done.stderr
    assert done.stdout == ""


def test_rows_are_what_the_reference_computes():
    """The table against a direct run of the reference with the rubric's hyperparameters."""
    rubric = rubric_mod.load()
    rows = {r.model: r for r in train_reference.run(subset=200, epochs=4, progress=False)}
    ref = train_reference.load_lab2(REFERENCE)
    X, labels = ref.data.load_mnist("train", n=200)
    X_test, labels_test = ref.data.load_mnist("test", n=rubric.data.test_subset)
    y, y_test = (ref.data.binary_targets(v, rubric.data.digit) for v in (labels, labels_test))

    sn = ref.single_neuron
    W, b, losses = sn.train(X, y, np.zeros((1, 784)), np.zeros((1, 1)), epochs=4,
                            lr=rubric.model("single_neuron").lr)
    row = rows["single_neuron"]
    assert (row.first_loss, row.loss) == (losses[0], losses[3])
    assert row.train_accuracy == np.mean(sn.predict(X, W, b) == y)
    assert row.test_accuracy == np.mean(sn.predict(X_test, W, b) == y_test)

    hl = ref.hidden_layer
    params, losses = hl.train(X, y, hl.init_params(seed=rubric.training.init_seed), epochs=4,
                              lr=rubric.model("hidden_layer").lr)
    assert rows["hidden_layer"].loss == losses[3]
    assert rows["hidden_layer"].test_accuracy == np.mean(hl.predict(X_test, params) == y_test)

    mc = ref.multiclass
    params, losses = mc.train(X, mc.one_hot(labels), mc.init_params(seed=rubric.training.init_seed), epochs=4,
                              lr=rubric.model("multiclass").lr)
    assert rows["multiclass"].loss == losses[3]
    assert rows["multiclass"].train_accuracy == np.mean(mc.predict(X, params) == labels)


def test_float32_run_stays_float32(monkeypatch):
    seen = []
    ref = train_reference.load_lab2(REFERENCE)
    original = ref.multiclass.train

    def spy(X, Y, params, epochs, lr):
        seen.append({X.dtype, Y.dtype, *(v.dtype for v in params.values())})
        return original(X, Y, params, epochs=epochs, lr=lr)

    monkeypatch.setattr(train_reference, "load_lab2", lambda root: ref)
    monkeypatch.setattr(ref.multiclass, "train", spy)
    rows = train_reference.run(subset=50, dtype="float32", epochs=2, progress=False)
    assert seen == [{np.dtype(np.float32)}]
    assert all(math.isfinite(r.loss) for r in rows)


def test_counting_epochs_restores_the_loss_function():
    ref = train_reference.load_lab2(REFERENCE)
    original = ref.single_neuron.loss

    class Bar:
        n = 0

        def update(self, k):
            self.n += k

    bar = Bar()
    with pytest.raises(RuntimeError):
        with train_reference.counting_epochs(ref.single_neuron, bar):
            ref.single_neuron.train(np.zeros((3, 4)), np.ones((1, 4)), np.zeros((1, 3)), np.zeros((1, 1)), epochs=3)
            raise RuntimeError
    assert bar.n == 3
    assert ref.single_neuron.loss is original


def test_load_lab2_leaves_no_trace():
    before = {k: v for k, v in sys.modules.items() if k.split(".")[0] == "lab2"}
    path = list(sys.path)
    ref = train_reference.load_lab2(REFERENCE)
    assert {k: v for k, v in sys.modules.items() if k.split(".")[0] == "lab2"} == before
    assert sys.path == path
    assert ref.hidden_layer.sigmoid is ref.single_neuron.sigmoid
