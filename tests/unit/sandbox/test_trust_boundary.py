"""The grader's side of the trust boundary, on synthetic inputs (fast, no child process).

- what the child sends is validated before it is parsed: a malformed frame is ``BadOutput``
  (that request's ``bad-output``), never another exception that would end the grading;
- the centred differences are formed from loss values alone (``lab2check.gradcheck``);
- a training is judged from the returned parameters (``grader.submission.training``), not from the
  student's recorded losses or predictions.
"""
import io
import json
import struct

import numpy as np
import pytest

from grader.sandbox.protocol import FRAME, BadOutput, Reader, load_npy
from grader.submission import training, trusted_model
from lab2check import gradcheck


def _frame(payload: bytes) -> bytes:
    return FRAME.pack(len(payload)) + payload


def _npy(array) -> bytes:
    blob = io.BytesIO()
    np.lib.format.write_array(blob, np.asarray(array), allow_pickle=False)
    return blob.getvalue()


def _header(**fields) -> bytes:
    return _frame(json.dumps({"id": 1, "status": "ok", **fields}).encode())


@pytest.mark.parametrize("fields", [
    {"types": {"out": "x"}, "arrays": [["out"]]},              # a name that is not a string (unhashable)
    {"types": {"out": "x"}, "arrays": [{"a": 1}]},
    {"types": {"out": "x"}, "arrays": [1]},
    {"types": {"out": "x"}, "arrays": "out"},
    {"types": [["out", "x"]], "arrays": []},
    {"types": {"out": "x"}, "arrays": ["out", "out"]},
])
def test_a_malformed_header_is_bad_output(fields):
    reader = Reader(1 << 20, 1 << 22, 1)
    with pytest.raises(BadOutput):
        reader.feed(_header(**fields))


def test_an_answer_to_another_request_or_not_json_is_bad_output():
    for data in (_frame(b'{"id": 2, "status": "ok", "types": {}, "arrays": []}'), _frame(b"\xff{"),
                 _frame(b"[1, 2]"), _frame(b"1e999999")):
        with pytest.raises(BadOutput):
            Reader(1 << 20, 1 << 22, 1).feed(data)


def test_an_npy_claiming_2_to_the_64_elements_is_bad_output():
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (18446744073709551616,), }"
    blob = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header) + 1) + header + b"\n"
    with pytest.raises(BadOutput):
        load_npy(blob)
    with pytest.raises(BadOutput):
        load_npy(b"\x93NUMPY\x01\x00\xff\xff{'descr': [('a', '<f8')]")


@pytest.mark.parametrize("shape", ["(0, 2**70)", "(0, 9223372036854775808)", "(0, 4611686018427387904, 4)",
                                   "(2**40,) * 4 + (0,)", "(0,) + (2**63 - 1,) * 31"])
def test_an_empty_npy_declaring_an_oversized_dimension_is_bad_output(shape):
    # No element, no byte of data, but a dimension numpy refuses ("Maximum allowed dimension
    # exceeded"): before, a ValueError that ended the whole grading (exit 3).
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {eval(shape)!r}, }}".encode()
    blob = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header) + 1) + header + b"\n"
    for limit in (None, 1 << 20):
        with pytest.raises(BadOutput, match="the child sent an array of shape") as err:
            load_npy(blob, max_elements=limit)
        assert len(str(err.value)) < 250
    assert load_npy(_npy(np.zeros((0, 5))), max_elements=10).shape == (0, 5)


def test_arrays_are_capped_by_elements_before_they_are_read():
    assert load_npy(_npy(np.arange(10.0)), max_elements=10).shape == (10,)
    with pytest.raises(BadOutput, match="over the limit of 10"):
        load_npy(_npy(np.arange(11.0)), max_elements=10)
    reader = Reader(4096, 8192, 1, max_elements=10)
    with pytest.raises(BadOutput, match="frame of"):
        reader.feed(_header(types={"out": "x"}, arrays=["out"]) + _frame(_npy(np.zeros(2000))))


def test_a_whole_answer_is_capped():
    reader = Reader(1 << 20, 1 << 16, 1)
    with pytest.raises(BadOutput, match="larger than"):
        reader.feed(_header(types={f"a{i}": "x" for i in range(3)}, arrays=[f"a{i}" for i in range(3)])
                    + b"".join(_frame(_npy(np.zeros(60000))) for _ in range(3)))


# ---------------------------------------------------------------- centred differences
def test_numeric_gradient_from_losses_matches_the_analytic_one():
    rng = np.random.default_rng(3)
    params = {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=(2, 1))}
    A = rng.normal(size=(3, 4))

    def f(p):  # a smooth function of both arrays
        return float(np.sum(np.tanh(p["W"] @ A + p["b"]) ** 2))

    stacks = gradcheck.perturb(params)
    assert stacks["W"].shape == (gradcheck.count(params), 2, 3)
    losses = [f({k: v[r] for k, v in stacks.items()}) for r in range(gradcheck.count(params))]
    grads = gradcheck.numeric(losses, params)
    T = np.tanh(params["W"] @ A + params["b"])
    dZ = 2 * T * (1 - T ** 2)
    np.testing.assert_allclose(grads["W"], dZ @ A.T, rtol=1e-8)
    np.testing.assert_allclose(grads["b"], dZ.sum(axis=1, keepdims=True), rtol=1e-8)


# ---------------------------------------------------------------- training, judged from the parameters
@pytest.fixture
def task(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (5, 200)).astype(np.float32)
    w_true = rng.normal(0, 3, (1, 5))
    y = (trusted_model.sigmoid(w_true @ X - 1.5 * w_true.sum() / 2) >= 0.5).astype(np.float32)
    X_test = rng.uniform(0, 1, (5, 300)).astype(np.float32)
    labels = (trusted_model.sigmoid(w_true @ X_test - 1.5 * w_true.sum() / 2)[0] >= 0.5).astype(np.int64)
    paths = {}
    for name, value in (("X", X), ("y", y), ("X_test", X_test)):
        paths[name] = str(tmp_path / f"{name}.npy")
        np.save(paths[name], value)
    W, b = np.zeros((1, 5)), np.zeros((1, 1))
    losses = []
    for _ in range(300):
        y_hat = trusted_model.forward("single_neuron", X, {"W": W, "b": b})
        losses.append(trusted_model.loss("single_neuron", y, y_hat))
        dZ = y_hat - y
        W, b = W - 2.0 * dZ @ X.T / 200, b - 2.0 * dZ.mean(axis=1, keepdims=True)
    t = training.Task("q1_5", "single_neuron", {"W": np.zeros((1, 5)), "b": np.zeros((1, 1))}, paths, labels,
                      losses, 1.0, 300, 10, 1e-3, 0.3, 0.9, "single_neuron.train(...)")
    return t, {"trained.W": W, "trained.b": b, "losses": np.array(losses)}


def _judged(task, outputs, predicted=None):
    checked, _, _ = training.judge(task, outputs, {k: "ndarray" for k in outputs}, predicted)
    return dict(checked)


def test_a_correct_training_passes_and_its_recorded_losses_agree_with_its_parameters(task):
    t, outputs = task
    judged = _judged(t, outputs)
    assert all(o.passed for o in judged.values()), judged


def test_final_loss_and_accuracy_come_from_the_parameters_not_the_recorded_losses(task):
    t, outputs = task
    untrained = {**outputs, "trained.W": np.zeros((1, 5)), "trained.b": np.zeros((1, 1)),
                 "losses": np.zeros(300)}
    judged = _judged(t, untrained)
    assert not judged["final_loss"].passed and not judged["accuracy"].passed and not judged["trajectory"].passed


def test_a_recorded_loss_scaled_by_a_wrong_m_is_named_and_the_training_keeps_its_other_points(task):
    t, outputs = task
    judged = _judged(t, {**outputs, "losses": outputs["losses"] / 60})
    assert judged["final_loss"].passed and judged["accuracy"].passed
    assert not judged["trajectory"].passed and "60 times too small" in judged["trajectory"].message


def test_too_many_losses_fail_the_trajectory_only(task):
    t, outputs = task
    judged = _judged(t, {**outputs, "losses": outputs["losses"][:301], "losses_count": np.array(10**7)})
    assert "returned 10000000 losses" in judged["trajectory"].message
    assert judged["final_loss"].passed and judged["accuracy"].passed


def test_parameters_of_the_wrong_shape_or_not_finite_fail_final_loss_and_accuracy(task):
    t, outputs = task
    for bad in ({"trained.W": np.zeros((5, 1, 2))}, {"trained.W": np.full((1, 5), np.nan)}):
        judged = _judged(t, {k: v for k, v in {**outputs, **bad}.items()})
        assert not judged["final_loss"].passed and not judged["accuracy"].passed


def test_the_students_predict_is_compared_with_the_rule_only_to_say_so(task):
    from grader.sandbox import Result

    t, outputs = task
    wrong = Result("ok", outputs={"predictions": np.zeros(300)}, types={"predictions": "ndarray of float64"})
    judged = _judged(t, outputs, wrong)
    assert judged["accuracy"].passed and "labels that differ from the contract's rule" in judged["accuracy"].message
    failed = Result("error", error={"message": "single_neuron.predict raised NotImplementedError"})
    judged = _judged(t, outputs, failed)
    assert judged["accuracy"].passed and "your predict did not return" in judged["accuracy"].message
