"""The training questions are fair to a model built another way and to a spike that recovers (issue 21).

On synthetic data, fast, no child process:
- a network trained well in a catalogue variant's model (tanh hidden units, sigmoid outputs)
  keeps ``final_loss`` and ``accuracy`` when the unit checks named that variant, computed by the
  grader (``grader.submission.trusted_model``) from the returned arrays, and the message says which model; never
  when they named nothing, or a mistake that is no model;
- a trajectory that follows the reference trained with the named variant passes;
- the divergence watch (``lab2check.probes``) lets a spike that comes back down run every
  epoch, and stops a nan at once and a loss that stays high after ``diverge_window`` epochs.
"""
import numpy as np
import pytest

from grader.submission import training, trusted_model
from lab2check import checks, local, probes, trajectory

HIDDEN = 8


def _save(tmp_path, **arrays) -> dict:
    paths = {}
    for name, value in arrays.items():
        paths[name] = str(tmp_path / f"{name}.npy")
        np.save(paths[name], value)
    return paths


def _train_two_layer(X, Y, params, hidden, output, epochs=400, lr=2.0):
    """Full-batch gradient descent of a two-layer network with the given activations; the
    output's error term is Y_hat - Y (sigmoid + binary CE, softmax or per-unit sigmoid + CE)."""
    p = {k: v.copy() for k, v in params.items()}
    m = X.shape[1]
    for _ in range(epochs):
        Z1 = p["W1"] @ X + p["b1"]
        A1 = hidden(Z1)
        dZ2 = output(p["W2"] @ A1 + p["b2"]) - Y
        dA1 = p["W2"].T @ dZ2
        dZ1 = dA1 * (1 - A1 ** 2) if hidden is np.tanh else dA1 * A1 * (1 - A1)
        grads = {"W2": dZ2 @ A1.T / m, "b2": dZ2.sum(1, keepdims=True) / m,
                 "W1": dZ1 @ X.T / m, "b1": dZ1.sum(1, keepdims=True) / m}
        p = {k: p[k] - lr * grads[k] for k in p}
    return p


def _init(n_in, n_out, seed=1):
    rng = np.random.default_rng(seed)
    return {"W1": rng.normal(0, 1.0, (HIDDEN, n_in)), "b1": np.zeros((HIDDEN, 1)),
            "W2": rng.normal(0, 1.0, (n_out, HIDDEN)), "b2": np.zeros((n_out, 1))}


def _task(qid, module, init, paths, labels, max_loss, min_accuracy, variants=None, epochs=400):
    return training.Task(qid, module, {f"params.{k}": v for k, v in init.items()}, paths, labels,
                         [1.0] * epochs, 1.0, epochs, 10, 1e-3, max_loss, min_accuracy, f"{module}.train(...)",
                         variants=variants or {})


@pytest.fixture(scope="module")
def tanh_network(tmp_path_factory):
    """A hidden-layer task on an XOR-like binary problem, and a tanh network trained well on it."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (2, 400))
    y = ((X[0] * X[1]) > 0).astype(np.float64)[None, :]
    X_test = rng.uniform(-1, 1, (2, 400))
    labels = ((X_test[0] * X_test[1]) > 0).astype(np.int64)
    paths = _save(tmp_path_factory.mktemp("tanh"), X=X, y=y, X_test=X_test)
    init = _init(2, 1)
    trained = _train_two_layer(X, y, init, np.tanh, trusted_model.sigmoid, epochs=1500, lr=1.0)
    own = trusted_model.loss("hidden_layer", y, trusted_model.forward("hidden_layer", X, trained, "tanh-activation"))
    lab = trusted_model.loss("hidden_layer", y, trusted_model.forward("hidden_layer", X, trained))
    lab_accuracy = float(np.mean(trusted_model.predict("hidden_layer", X_test, trained) == labels))
    assert own < 0.1 < lab and lab_accuracy < 0.95, (own, lab, lab_accuracy)  # the two models differ here
    return paths, labels, init, trained, own


def _judged(task, trained, named=(), losses=None):
    outputs = {f"trained.{k}": v for k, v in trained.items()}
    outputs["losses"] = np.asarray(losses if losses is not None else task.reference_losses)
    checked, _, true_loss = training.judge(task, outputs, {k: "ndarray" for k in outputs}, None, named=named)
    return dict(checked), true_loss


def test_a_tanh_network_that_trains_well_keeps_final_loss_and_accuracy_when_the_unit_checks_named_it(tanh_network):
    paths, labels, init, trained, own = tanh_network
    task = _task("q2_2", "hidden_layer", init, paths, labels, max_loss=0.1, min_accuracy=0.95)
    judged, true_loss = _judged(task, trained, named={"tanh-activation", "gradient-sign"})
    assert judged["final_loss"].passed and judged["accuracy"].passed, judged
    assert "in the tanh-activation model" in judged["final_loss"].message
    assert "in the tanh-activation model" in judged["accuracy"].message
    assert true_loss == pytest.approx(own)  # the loss of the model it was judged in, the grader's


@pytest.mark.parametrize("named", [(), ("tanh-derivative",), ("sigmoid-output-multiclass",)])
def test_without_a_named_model_variant_the_lab_model_judges_alone(tanh_network, named):
    """No id, an id that is no other model, or a variant of another module: the lab's model only."""
    paths, labels, init, trained, _ = tanh_network
    task = _task("q2_2", "hidden_layer", init, paths, labels, max_loss=0.1, min_accuracy=0.95)
    judged, _ = _judged(task, trained, named=named)
    assert not judged["final_loss"].passed and not judged["accuracy"].passed
    assert "in the lab's model" in judged["final_loss"].message


def test_a_network_of_the_lab_is_judged_in_the_lab_model_whatever_was_named(tanh_network):
    """The better of the two: a sigmoid network is not judged in the tanh model it was not built as."""
    paths, labels, init, _, _ = tanh_network
    X, y = np.load(paths["X"]), np.load(paths["y"])
    sigmoid_net = _train_two_layer(X, y, init, trusted_model.sigmoid, trusted_model.sigmoid, epochs=3000, lr=3.0)
    lab = trusted_model.loss("hidden_layer", y, trusted_model.forward("hidden_layer", X, sigmoid_net))
    in_tanh = trusted_model.loss("hidden_layer", y,
        trusted_model.forward("hidden_layer", X, sigmoid_net, "tanh-activation"))
    assert lab < in_tanh
    task = _task("q2_2", "hidden_layer", init, paths, labels, max_loss=max(lab * 1.2, 0.02), min_accuracy=0.5)
    judged, true_loss = _judged(task, sigmoid_net, named={"tanh-activation"})
    assert judged["final_loss"].passed and "in the lab's model" in judged["final_loss"].message
    assert true_loss == pytest.approx(lab)


def test_a_sigmoid_output_multiclass_network_is_judged_in_the_better_of_the_two_models(tmp_path):
    """Trained with Y_hat - Y (one sigmoid per class), its logits give a lower categorical
    cross-entropy through a softmax than through its own sigmoids: the lab's model is the better
    one and judges; both were computed (the true loss is the lower)."""
    rng = np.random.default_rng(5)
    centres = rng.normal(0, 3, (4, 10))
    labels_train = rng.integers(0, 10, 500)
    X = centres[:, labels_train] + rng.normal(0, 1, (4, 500))
    Y = np.eye(10)[labels_train].T
    labels = rng.integers(0, 10, 300)
    X_test = centres[:, labels] + rng.normal(0, 1, (4, 300))
    paths = _save(tmp_path, X=X, y=Y, X_test=X_test)
    init = _init(4, 10, seed=2)
    trained = _train_two_layer(X, Y, init, trusted_model.sigmoid, trusted_model.sigmoid, epochs=600, lr=2.0)
    own = trusted_model.loss("multiclass", Y,
        trusted_model.forward("multiclass", X, trained, "sigmoid-output-multiclass"))
    lab = trusted_model.loss("multiclass", Y, trusted_model.forward("multiclass", X, trained))
    assert lab < own
    task = _task("q3_3", "multiclass", init, paths, labels, max_loss=(own + lab) / 2, min_accuracy=0.5)
    judged, true_loss = _judged(task, trained, named={"sigmoid-output-multiclass"})
    assert judged["final_loss"].passed and "in the lab's model" in judged["final_loss"].message
    assert true_loss == pytest.approx(lab)
    # Its recorded losses are those of its network as built (raw sigmoids): consistent, not flagged.
    as_built = trusted_model.loss("multiclass", Y,
        trusted_model.forward("multiclass", X, trained, "sigmoid-output-multiclass",
                                                         as_built=True))
    recorded = np.full(task.epochs, as_built)
    flagged = "not the loss of the model"
    assert flagged not in _judged(task, trained, {"sigmoid-output-multiclass"}, recorded)[0]["trajectory"].message
    assert flagged in _judged(task, trained, (), recorded)[0]["trajectory"].message


@pytest.fixture(scope="module")
def tanh_multiclass(tmp_path_factory):
    """A multiclass task (10 classes, softmax output) on clusters that need the hidden layer, and
    a tanh network (tanh hidden units, softmax output) trained well on it."""
    rng = np.random.default_rng(7)
    centres = rng.normal(0, 1.5, (4, 10))

    def draw(n):
        classes = rng.integers(0, 10, n)
        return centres[:, classes] + rng.normal(0, 0.3, (4, n)), classes
    X, labels_train = draw(600)
    X_test, labels = draw(400)
    Y = np.eye(10)[labels_train].T
    paths = _save(tmp_path_factory.mktemp("tanh-multiclass"), X=X, y=Y, X_test=X_test)
    init = _init(4, 10, seed=3)
    trained = _train_two_layer(X, Y, init, np.tanh, trusted_model.softmax, epochs=1500, lr=1.0)
    own = trusted_model.loss("multiclass", Y, trusted_model.forward("multiclass", X, trained, "tanh-activation"))
    lab = trusted_model.loss("multiclass", Y, trusted_model.forward("multiclass", X, trained))
    own_accuracy = float(np.mean(trusted_model.predict("multiclass", X_test, trained, "tanh-activation") == labels))
    lab_accuracy = float(np.mean(trusted_model.predict("multiclass", X_test, trained) == labels))
    assert own < 0.2 < 1.0 < lab and lab_accuracy < 0.8 < 0.9 < own_accuracy, (own, lab, own_accuracy, lab_accuracy)
    return paths, labels, init, trained, own


def test_a_tanh_multiclass_network_that_trains_well_keeps_final_loss_and_accuracy_when_named(tanh_multiclass):
    """Part 3 alike (issue 21): tanh hidden units under the softmax output, judged by the grader
    in the tanh model when q3_3's unit checks named tanh-activation; in the lab's model alone
    when they named nothing or a mistake that builds no other model."""
    paths, labels, init, trained, own = tanh_multiclass
    task = _task("q3_3", "multiclass", init, paths, labels, max_loss=0.2, min_accuracy=0.9)
    judged, true_loss = _judged(task, trained, named={"tanh-activation"})
    assert judged["final_loss"].passed and judged["accuracy"].passed, judged
    assert "in the tanh-activation model" in judged["final_loss"].message
    assert "in the tanh-activation model" in judged["accuracy"].message
    assert true_loss == pytest.approx(own)
    for named in ((), ("tanh-derivative",), ("missing-activation",)):
        judged, _ = _judged(task, trained, named=named)
        assert not judged["final_loss"].passed and not judged["accuracy"].passed, (named, judged)
        assert "tanh" not in judged["final_loss"].message + judged["accuracy"].message


def test_sigmoid_outputs_all_at_one_are_no_low_loss_in_their_own_model(tmp_path):
    """The categorical loss of raw sigmoids ignores the wrong classes: outputs that are all 1
    would score 0 there. Normalised per column they score log(10), as in the lab's model."""
    rng = np.random.default_rng(6)
    labels_train = rng.integers(0, 10, 200)
    X, Y = rng.normal(size=(4, 200)), np.eye(10)[labels_train].T
    paths = _save(tmp_path, X=X, y=Y, X_test=X)
    init = _init(4, 10)
    saturated = {**init, "b2": np.full((10, 1), 50.0)}
    task = _task("q3_3", "multiclass", init, paths, labels_train, max_loss=0.5, min_accuracy=0.5)
    judged, true_loss = _judged(task, saturated, named={"sigmoid-output-multiclass"})
    assert not judged["final_loss"].passed and true_loss == pytest.approx(np.log(10), rel=1e-3)


def test_variant_forward_passes_are_plain_numpy_of_the_returned_arrays():
    rng = np.random.default_rng(1)
    p = {"W1": rng.normal(size=(3, 2)), "b1": rng.normal(size=(3, 1)), "W2": rng.normal(size=(10, 3)),
         "b2": rng.normal(size=(10, 1))}
    X = rng.normal(size=(2, 4))
    Z1 = p["W1"] @ X + p["b1"]
    np.testing.assert_allclose(trusted_model.forward("multiclass", X, p, "missing-activation"),
                               trusted_model.softmax(p["W2"] @ Z1 + p["b2"]))
    S = 1 / (1 + np.exp(-(p["W2"] @ (1 / (1 + np.exp(-Z1))) + p["b2"])))
    np.testing.assert_allclose(trusted_model.forward("multiclass", X, p, "sigmoid-output-multiclass"),
        S / S.sum(axis=0))
    np.testing.assert_allclose(trusted_model.forward("multiclass", X, p, "tanh-activation"),
                               trusted_model.softmax(p["W2"] @ np.tanh(Z1) + p["b2"]))
    assert trusted_model.variants_of("hidden_layer", {"sigmoid-output-multiclass", "tanh-activation", "fixed-m"}) == \
        ("tanh-activation",)
    assert trusted_model.variants_of("multiclass", {"tanh-activation", "fixed-m"}) == ("tanh-activation",)
    assert trusted_model.variants_of("single_neuron", {"tanh-activation"}) == ()


# ---------------------------------------------------------------- the trajectory
def test_a_trajectory_that_follows_the_named_variants_reference_passes():
    ref = np.linspace(0.7, 0.6, 10)
    tanh = np.linspace(0.7, 0.3, 10)
    context = trajectory.Trajectory(500, {"tanh-activation": tanh, "fixed-m": ref / 120})
    unnamed = trajectory.trajectory_outcome(tanh, ref, 1e-3, "train", 500, context)
    assert not unnamed.passed and unnamed.mistake == "tanh-activation"
    named = trajectory.Trajectory(500, context.variants, models=("tanh-activation",))
    outcome = trajectory.trajectory_outcome(tanh, ref, 1e-3, "train", 500, named)
    assert outcome.passed and "trained in the tanh-activation model" in outcome.message
    # Another mistake on top of the variant is still one: the named model does not excuse it.
    other = trajectory.trajectory_outcome(ref / 120, ref, 1e-3, "train", 500, named)
    assert not other.passed and other.mistake == "fixed-m"


# ---------------------------------------------------------------- divergence
SPIKY = '''import numpy as np

SCHEDULE = {schedule}


def loss(y, y_hat):
    y_hat = np.clip(y_hat, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat)))


def train(X, y, W, b, epochs=500, lr=0.5):
    losses = []
    for epoch in range(epochs):
        kind = SCHEDULE.get(epoch, "good")
        if kind == "good":
            y_hat = np.where(y > 0.5, 0.9, 0.1)
        elif kind == "wrong":      # confident and wrong: the cross-entropy is 16, 23 times its first
            y_hat = 1.0 - y
        else:
            y_hat = np.full(y.shape, np.nan)
        losses.append(loss(y, 0.5 + 0 * y if epoch == 0 else y_hat))
    return W, b, losses
'''


def _run_spiky(tmp_path, schedule, window=50):
    folder = tmp_path / "student"
    (folder / "lab2").mkdir(parents=True)
    (folder / "lab2" / "__init__.py").write_text("")
    (folder / "lab2" / "single_neuron.py").write_text(SPIKY.format(schedule=schedule))
    X, y = np.zeros((2, 20)), (np.arange(20) % 2).astype(np.float64)[None, :]
    paths = _save(tmp_path, X=X, y=y, X_test=X)
    options = {"module": "single_neuron", "epochs": 500, "lr": 0.5, "diverge_factor": 10.0,
               "diverge_window": window, "data": paths}
    with local.use(folder):
        return checks.run_local("train", {"W": np.zeros((1, 2)), "b": np.zeros((1, 1))}, options)


def test_a_spike_that_comes_back_down_runs_every_epoch_and_is_told(tmp_path):
    result = _run_spiky(tmp_path, {e: "wrong" for e in range(1, 6)})
    assert result.status == "ok" and "diverged" not in result.outputs
    losses = result.outputs["losses"]
    assert losses.size == 500 and losses[1] > 10 * losses[0]
    note = trajectory.spike_note(losses, 500)
    assert "spiked from 0.693147 to 16.1181 at epoch 1" in note and "came back down by epoch 6" in note
    out = trajectory.evaluate_training(losses, False, losses, 500, 10, 1e-3, 0.5, "train")
    assert dict(out)["final_loss"].passed and "spiked" in dict(out)["final_loss"].message


def test_a_loss_that_stays_high_is_stopped_after_the_window_and_a_nan_at_once(tmp_path):
    high = _run_spiky(tmp_path / "high", {e: "wrong" for e in range(1, 500)}, window=20)
    assert int(high.outputs["diverged"].reshape(-1)[0]) == probes.STAYED_HIGH
    assert high.outputs["losses"].size == 21  # the first loss, then 20 epochs above 10 times it
    message = dict(trajectory.evaluate_training(high.outputs["losses"], probes.STAYED_HIGH, np.ones(500), 500,
                                                10, 1e-3, 0.5, "train", watch=(10.0, 20)))["final_loss"].message
    assert "stayed above 10 times its first (0.693147) for 20 epochs in a row" in message
    nan = _run_spiky(tmp_path / "nan", {3: "nan"})
    assert int(nan.outputs["diverged"].reshape(-1)[0]) == probes.NOT_FINITE and nan.outputs["losses"].size == 4


@pytest.mark.parametrize("flag", [np.array([np.nan]), np.array([7.5]), np.array([True]), np.array([2.0, 1.0])])
def test_a_diverged_flag_from_the_child_is_read_safely(tanh_network, flag):
    """The child's ``diverged`` value only chooses a sentence: any array keeps the grading going."""
    paths, labels, init, _, _ = tanh_network
    task = _task("q2_2", "hidden_layer", init, paths, labels, max_loss=0.1, min_accuracy=0.95)
    outputs = {"diverged": flag, "losses": np.array([0.7, 9.0])}
    checked, _, _ = training.judge(task, outputs, {k: "ndarray" for k in outputs})
    final = dict(checked)["final_loss"]
    assert not final.passed and "training diverged and was stopped at epoch 1" in final.message
    assert ("stayed above 10 times" in final.message) == (flag[0] == 2.0)
