"""A corpus of realistic student implementations, each with the points a teacher finds fair.

Not scripted edits of the reference (those are ``grader.answers.mutations``): whole ``lab2`` packages
written the way students of this lab write them, after the course's script skeleton: loops,
``np.dot``, ``(1 / m) *`` factors, ``np.random.seed`` with ``randn * 0.01``, a cache of every
intermediate, ``print`` in the training loop, a module-level ``m``, ``np.eye(10)[labels].T``
for the one-hot encoding (the course's ``one_hot_encode`` returned ``(m, 10)``; students
transpose it). ``BASE`` is such a package with no mistake; every other student is ``BASE``
with the one mistake they make, written as they write it.

Each ``Student`` holds the points per question that a teacher, reading the code, finds fair
(``points``, compared within 0.05 by ``tests/test_corpus_realistic.py``; questions not listed
must get every point), the catalogue ids the feedback must name (``ids``, exactly) and, where
the reasoning rests on it, what a check's message says (``says``). The
reasoning behind every expectation is written beside it. The point shares the reasoning uses
(the registry's weights, ``lab2check.questions``, with the rubric's points): q1_3 has 7 cases; q1_4 is 2/3
``gradients`` and 1/3 ``gradcheck``; q1_5 and q2_2 are four quarters (``predict``, trajectory,
500-epoch loss, accuracy) of 1.5 points, q2_3 three thirds of 1 point; q2_1 is 2.5 points over
init 1, forward 1, backward 2, gradient check 1, update 1; q3_2 is 2 points over one_hot 1,
softmax 2 (7 cases), loss 1; q3_3 is 2.5 points over ten shares (backward 2).
"""
from dataclasses import dataclass, field

from builders.corpus import replace, write_submission

SINGLE = '''"""Part 1 - single neuron."""
import numpy as np

m = 60000  # number of training examples (X_train.shape[1]), for the experiments below


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward(X, W, b):
    Z = np.dot(W, X) + b
    A = sigmoid(Z)
    return A


def loss(y, y_hat):
    eps = 1e-7
    y_hat = np.clip(y_hat, eps, 1 - eps)
    m = y.shape[1]
    L = -(1 / m) * np.sum(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat))
    return L


def gradients(X, y, y_hat):
    m = X.shape[1]
    dZ = y_hat - y
    dW = (1 / m) * np.dot(dZ, X.T)
    db = (1 / m) * np.sum(dZ)
    return dW, db


def train(X, y, W, b, epochs=500, lr=0.5):
    losses = []
    for epoch in range(epochs):
        y_hat = forward(X, W, b)
        L = loss(y, y_hat)
        losses.append(L)
        dW, db = gradients(X, y, y_hat)
        W = W - lr * dW
        b = b - lr * db
        if epoch % 100 == 0:
            print(f"epoch {epoch}: loss = {L:.4f}")
    return W, b, losses


def predict(X, W, b):
    y_hat = forward(X, W, b)
    return (y_hat >= 0.5).astype(int)
'''

HIDDEN = '''"""Part 2 - one hidden layer."""
import numpy as np

from lab2.single_neuron import loss, sigmoid


def init_params(n_in=784, n_hidden=64, n_out=1, seed=None):
    np.random.seed(seed)
    W1 = np.random.randn(n_hidden, n_in) * 0.01
    b1 = np.zeros((n_hidden, 1))
    W2 = np.random.randn(n_out, n_hidden) * 0.01
    b2 = np.zeros((n_out, 1))
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def forward(X, params):
    Z1 = np.dot(params["W1"], X) + params["b1"]
    A1 = sigmoid(Z1)
    Z2 = np.dot(params["W2"], A1) + params["b2"]
    A2 = sigmoid(Z2)
    cache = {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}
    return A2, cache


def backward(X, y, params, cache):
    m = X.shape[1]
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = A2 - y
    dW2 = (1 / m) * np.dot(dZ2, A1.T)
    db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)
    dA1 = np.dot(params["W2"].T, dZ2)
    dZ1 = dA1 * A1 * (1 - A1)
    dW1 = (1 / m) * np.dot(dZ1, X.T)
    db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def update(params, grads, lr):
    new_params = {}
    for key in params:
        new_params[key] = params[key] - lr * grads["d" + key]
    return new_params


def train(X, y, params, epochs=500, lr=1.0):
    losses = []
    for epoch in range(epochs):
        y_hat, cache = forward(X, params)
        losses.append(loss(y, y_hat))
        grads = backward(X, y, params, cache)
        params = update(params, grads, lr)
    return params, losses


def predict(X, params):
    y_hat, _ = forward(X, params)
    return (y_hat > 0.5).astype(int)
'''

MULTICLASS = '''"""Part 3 - multiclass network."""
import numpy as np

from lab2.single_neuron import sigmoid


def one_hot(labels, n_classes=10):
    labels = np.array(labels).flatten().astype(int)
    return np.eye(n_classes)[labels].T  # one_hot_encode gave (m, 10): transposed to (10, m)


def softmax(Z):
    expZ = np.exp(Z - np.max(Z, axis=0, keepdims=True))
    return expZ / np.sum(expZ, axis=0, keepdims=True)


def loss(Y, Y_hat):
    m = Y.shape[1]
    return -np.sum(Y * np.log(Y_hat + 1e-8)) / m


def init_params(n_in=784, n_hidden=64, n_out=10, seed=None):
    np.random.seed(seed)
    W1 = np.random.randn(n_hidden, n_in) * 0.01
    b1 = np.zeros((n_hidden, 1))
    W2 = np.random.randn(n_out, n_hidden) * 0.01
    b2 = np.zeros((n_out, 1))
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


def forward(X, params):
    Z1 = np.dot(params["W1"], X) + params["b1"]
    A1 = sigmoid(Z1)
    Z2 = np.dot(params["W2"], A1) + params["b2"]
    A2 = softmax(Z2)
    cache = {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}
    return A2, cache


def backward(X, Y, params, cache):
    m = X.shape[1]
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = A2 - Y
    dW2 = (1 / m) * np.dot(dZ2, A1.T)
    db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)
    dA1 = np.dot(params["W2"].T, dZ2)
    dZ1 = dA1 * A1 * (1 - A1)
    dW1 = (1 / m) * np.dot(dZ1, X.T)
    db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def update(params, grads, lr):
    new_params = {}
    for key in params:
        new_params[key] = params[key] - lr * grads["d" + key]
    return new_params


def train(X, Y, params, epochs=500, lr=1.0):
    losses = []
    for epoch in range(epochs):
        Y_hat, cache = forward(X, params)
        losses.append(loss(Y, Y_hat))
        grads = backward(X, Y, params, cache)
        params = update(params, grads, lr)
        if epoch % 50 == 0:
            print("epoch", epoch, "loss", losses[-1])
    return params, losses


def predict(X, params):
    Y_hat, _ = forward(X, params)
    return np.argmax(Y_hat, axis=0)
'''

BASE = {"single_neuron": SINGLE, "hidden_layer": HIDDEN, "multiclass": MULTICLASS}


@dataclass(frozen=True)
class Student:
    name: str
    edits: tuple                       # (module, old, new[, count]) applied to BASE in order
    points: dict = field(default_factory=dict)   # question -> fair automatic points (others: all)
    ids: frozenset = frozenset()       # the catalogue ids the feedback names, exactly
    says: tuple = ()                   # (question, check, text): that check's message holds the text

    def sources(self) -> dict:
        out = dict(BASE)
        for module, old, new, *count in self.edits:
            out[module] = replace(out[module], old, new, *count, where=f"{self.name}: lab2/{module}.py")
        return out

    def build(self, dest):
        return write_submission(dest, self.sources())


def _s(name, edits, points=None, ids=(), says=()):
    return Student(name, tuple(edits), dict(points or {}), frozenset(ids), tuple(says))


# A training check is a quarter of q1_5/q2_2 (0.375) and a third of q2_3 (0.333).
TRAJ, TRAJ_BONUS = 1.5 / 4, 1.0 / 3

STUDENTS = (
    # No mistake: loops, np.dot, (1 / m) factors, randn * 0.01, a plain-float db, np.eye(10)[...].T,
    # prints in train. Every automatic point.
    _s("base", []),

    # loss() returns the per-example vector (the mean was forgotten). q1_3: every case returns an
    # array of m values where a number is expected (0); the one-example case gives a (1, 1) array,
    # an accepted shape, but cannot tell the mistake apart: 0. The gradient check does not depend
    # on the loss (the analytic gradient is right): q1_4 keeps its 1.5. The three trainings record
    # arrays, not floats: the trajectory share is lost in q1_5, q2_2, q2_3; the trained parameters
    # are right, so the 500-epoch loss, the accuracy and predict keep their points.
    _s("vector-loss", [("single_neuron", "    L = -(1 / m) * np.sum(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat))\n",
                        "    L = -(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat))\n"),
                       ("single_neuron", '            print(f"epoch {epoch}: loss = {L:.4f}")',
                        '            print("epoch", epoch, "loss", L.mean())')],
       {"q1_3": 0.0, "q1_5": 1.5 - TRAJ, "q2_2": 1.5 - TRAJ, "q2_3": 1.0 - TRAJ_BONUS}, ["loss-per-example"]),

    # The module-level m = 60000 used inside loss and gradients instead of the call's m (the
    # shadowing local lines deleted). q1_3: every value is off (0.6 -> 7e-5 even for m = 1); only
    # the finiteness case of confident wrong predictions passes: 1/5 (q1_3 grades five hidden
    # cases; the public ones teach). q1_4: dW and db are off by
    # m/60000 (0 for the gradients share), but they are the exact gradient of the student's own
    # loss, which is the wrong one: the gradient check keeps its share (0.5). Training: steps 120x
    # too small on the grading subset: the trajectory (named fixed-m) and the 500-epoch loss fail;
    # predict is right; the accuracy of a barely trained neuron is below the threshold too.
    # Part 2 uses this loss: its recorded losses are 120x too small (trajectory of q2_2 and q2_3),
    # its own gradients are right, so its training and accuracy pass.
    _s("global-m", [("single_neuron", "    m = y.shape[1]\n", ""), ("single_neuron", "    m = X.shape[1]\n", "")],
       {"q1_3": 1 / 5, "q1_4": 0.5, "q1_5": TRAJ, "q2_2": 1.5 - TRAJ, "q2_3": 1.0 - TRAJ_BONUS}, ["fixed-m"]),

    # The loss sums over the examples (no mean). q1_3: wrong on every case with m > 1; the m = 1
    # case cannot tell a sum from a mean (no credit); the confidently-wrong case checks finiteness
    # only: 1/5 of the graded (hidden) cases. The gradients are those of the mean loss: q1_4 is
    # right. Recorded losses are m
    # times too large (trajectories named missing-mean); parameters, 500-epoch loss, accuracy right.
    _s("summed-loss", [("single_neuron", "    L = -(1 / m) * np.sum(", "    L = -np.sum(")],
       {"q1_3": 1 / 5, "q1_5": 1.5 - TRAJ, "q2_2": 1.5 - TRAJ, "q2_3": 1.0 - TRAJ_BONUS}, ["missing-mean"]),

    # Only the y = 1 term of the cross-entropy. q1_3: wrong everywhere (the m = 1 case has y = 0 or
    # 1 and differs either way) except the finiteness case: 1/5. Gradients are right (q1_4 full);
    # recorded losses wrong (three trajectories); training itself right.
    _s("y1-term-only", [("single_neuron", "np.sum(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat))",
                         "np.sum(y * np.log(y_hat))")],
       {"q1_3": 1 / 5, "q1_5": 1.5 - TRAJ, "q2_2": 1.5 - TRAJ, "q2_3": 1.0 - TRAJ_BONUS},
       ["cross-entropy-y1-only"]),

    # The cross-entropy gradient multiplied by the sigmoid's derivative again (MSE habits).
    # q1_4: every gradient differs, the m = 1 case included (named on it: a factor that is not m):
    # 0, and the gradient check too (the loss and forward are right, so the reference's gradient
    # is the target): q1_4 = 0. Training is slowed down: the trajectory fails; the 500-epoch loss
    # stays above the threshold; predict and the accuracy pass.
    _s("extra-sigmoid-derivative", [("single_neuron", "    dZ = y_hat - y\n",
                                     "    dZ = (y_hat - y) * y_hat * (1 - y_hat)\n")],
       {"q1_4": 0.0, "q1_5": 1.5 - 2 * TRAJ}, ["extra-sigmoid-derivative"]),

    # The bias updated without the learning rate. Only the training differs: its trajectory
    # (named from the mistake's own losses); with lr = 0.5 it still converges: q1_5 loses a quarter.
    _s("bias-no-lr", [("single_neuron", "        b = b - lr * db\n", "        b = b - db\n")],
       {"q1_5": 1.5 - TRAJ}, ["bias-update-no-lr"]),

    # The loss recorded after the update (losses[k] is epoch k + 1's). Only the trajectory.
    _s("loss-after-update", [("single_neuron", "        y_hat = forward(X, W, b)\n        L = loss(y, y_hat)\n"
                                               "        losses.append(L)\n        dW, db = gradients(X, y, y_hat)\n"
                                               "        W = W - lr * dW\n        b = b - lr * db\n",
                              "        y_hat = forward(X, W, b)\n        dW, db = gradients(X, y, y_hat)\n"
                              "        W = W - lr * dW\n        b = b - lr * db\n"
                              "        L = loss(y, forward(X, W, b))\n        losses.append(L)\n")],
       {"q1_5": 1.5 - TRAJ}, ["loss-after-update"]),

    # The recorded loss is that of the rounded predictions (to "see the accuracy"): loss() itself
    # is right (q1_3 full); q1_5's trajectory only.
    _s("rounded-recorded-loss", [("single_neuron", "        L = loss(y, y_hat)\n",
                                  "        L = loss(y, np.round(y_hat))\n")],
       {"q1_5": 1.5 - TRAJ}, ["loss-on-rounded"]),

    # Both bias gradients summed over every axis: db2 = np.sum(dZ2) / m is a harmless plain float
    # (one output unit), db1 = np.sum(dZ1) / m is the mistake (one number for 64 units). Part 2:
    # backward (0.833) and the gradient check (0.417) fail, named bias-gradient-shape on db1;
    # q2_1 keeps init, forward, update: 1.25. Training: every hidden bias moves by the same step,
    # so the trajectory differs from epoch 1 on; the 500-epoch loss and accuracy still pass.
    # Part 3 does the same: db2 (10 units) and db1 both wrong; q3_3 loses backward (0.5), the
    # gradient check (0.25) and the trajectory (0.25).
    _s("bias-summed", [("hidden_layer", "    db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)\n",
                        "    db2 = np.sum(dZ2) / m\n"),
                       ("hidden_layer", "    db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)\n",
                        "    db1 = np.sum(dZ1) / m\n"),
                       ("multiclass", "    db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)\n",
                        "    db2 = np.sum(dZ2) / m\n"),
                       ("multiclass", "    db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)\n",
                        "    db1 = np.sum(dZ1) / m\n")],
       {"q2_1": 2.5 - 2.5 * 3 / 6, "q2_2": 1.5 - TRAJ, "q2_3": 1.0 - TRAJ_BONUS, "q3_3": 2.5 - 2.5 * 4 / 10},
       ["bias-gradient-shape"]),

    # tanh hidden units with their own derivative: a consistent network, not this lab's. q2_1:
    # forward and backward fail (named tanh-activation), the gradient check passes (the gradient is
    # right for the student's own forward pass, which is charged in forward), init and update
    # pass: 1.25. predict (a unit check of q2_2) returns the labels of the student's network, not
    # the lab's: named, lost (0.375). Issue 21 corrected the rest (it was q2_2 = q2_3 = 0: the
    # trained parameters were judged in the lab's sigmoid network only, 0.07 and 0.11 where the
    # reference gets 0.002 and 0.003): the unit checks named tanh-activation, so the trainings
    # are judged in the tanh network too, by the grader (grader/submission/trusted_model.py), and the better counts.
    # The student trained their network well (0.0003 and 0.0005, accuracies 0.986 and 0.955
    # against the reference's 0.986 and 0.960) and its trajectory is the reference's trained with
    # tanh units: the mistake is charged once, in the unit checks. q2_2 = 1.5 - 0.375, q2_3 = 1.
    _s("tanh-activation", [("hidden_layer", "    A1 = sigmoid(Z1)\n", "    A1 = np.tanh(Z1)\n"),
                       ("hidden_layer", "    dZ1 = dA1 * A1 * (1 - A1)\n", "    dZ1 = dA1 * (1 - A1 ** 2)\n")],
       {"q2_1": 2.5 - 2.5 * 3 / 6, "q2_2": 1.5 - TRAJ}, ["tanh-activation"],
       [("q2_2", "final_loss", "in the tanh-activation model"), ("q2_3", "accuracy", "in the tanh-activation model"),
        ("q2_2", "trajectory", "trained in the tanh-activation model")]),

    # The same tanh hidden layer in Part 3 (64 tanh units, the softmax output kept), with tanh's
    # derivative written the course's way, 1 - np.power(A1, 2): a consistent network, not this
    # lab's. q3_3's unit checks charge it, once: forward (0.25) and backward (0.5) fail, named
    # tanh-activation; predict returns the labels of the student's network (0.25, named); the
    # gradient check passes (the gradient of the student's own forward and loss); init and update
    # pass. The unit checks named tanh-activation, so the training is judged in the tanh model too
    # (issue 21), by the grader from the returned arrays: the student trained their network well
    # (0.0026 where the lab's model gives 0.60 of the same parameters; accuracy 0.798 against the
    # reference's 0.8075, threshold 0.78; on rubric.yaml's 2000 examples 0.0095 and 0.900 where
    # the lab's model gives 0.80 and 0.71, issue 21's numbers), and its trajectory is the
    # reference's trained with tanh units: q3_3 keeps its three training checks, 2.5 - 1.0.
    _s("tanh-activation-multiclass", [("multiclass", "    A1 = sigmoid(Z1)\n", "    A1 = np.tanh(Z1)\n"),
                                      ("multiclass", "    dZ1 = dA1 * A1 * (1 - A1)\n",
                                       "    dZ1 = dA1 * (1 - np.power(A1, 2))\n")],
       {"q3_3": 2.5 - 1.0}, ["tanh-activation"],
       [("q3_3", "final_loss", "in the tanh-activation model"), ("q3_3", "accuracy", "in the tanh-activation model"),
        ("q3_3", "trajectory", "trained in the tanh-activation model")]),

    # Mini-batches of 64 (the full-data loss recorded at the start of each epoch). Every function
    # is right; train is not full-batch gradient descent: the trajectories of q2_2 and q2_3 only.
    _s("mini-batches", [("hidden_layer", "        grads = backward(X, y, params, cache)\n"
                                         "        params = update(params, grads, lr)\n",
                         "        for start in range(0, X.shape[1], 64):\n"
                         "            X_batch, y_batch = X[:, start:start + 64], y[:, start:start + 64]\n"
                         "            _, batch_cache = forward(X_batch, params)\n"
                         "            grads = backward(X_batch, y_batch, params, batch_cache)\n"
                         "            params = update(params, grads, lr)\n")],
       {"q2_2": 1.5 - TRAJ, "q2_3": 1.0 - TRAJ_BONUS}, ["mini-batches"]),

    # The multiclass loss as np.mean over the whole (10, m) matrix: a tenth of the loss. q3_2 loses
    # its loss share (0.5); the gradients are those of the right loss; the recorded losses are ten
    # times too small: q3_3's trajectory only.
    _s("mean-over-classes", [("multiclass", "    m = Y.shape[1]\n    return -np.sum(Y * np.log(Y_hat + 1e-8)) / m\n",
                              "    return -np.mean(Y * np.log(Y_hat + 1e-8))\n")],
       {"q3_2": 1.5, "q3_3": 2.5 - 0.25}, ["loss-over-classes"]),

    # Part 1's binary cross-entropy reused for the 10 classes: loss share of q3_2, q3_3 trajectory.
    _s("binary-ce-multiclass", [("multiclass", "    return -np.sum(Y * np.log(Y_hat + 1e-8)) / m\n",
                                 "    return -np.sum(Y * np.log(Y_hat + 1e-8)\n"
                                 "                   + (1 - Y) * np.log(1 - Y_hat + 1e-8)) / m\n")],
       {"q3_2": 1.5, "q3_3": 2.5 - 0.25}, ["binary-loss-multiclass"]),

    # Softmax normalised over the whole matrix, no shift. q3_2: every softmax case fails (the
    # one-column case is right but cannot tell the mistake apart; large logits give nan): 0 of the
    # softmax's 1.0. q3_3 uses it: forward, backward fail (named); the gradient check keeps its
    # share (the gradient of the student's own forward and loss); training with a softmax over the
    # whole batch records other losses, ends above the loss threshold and below the accuracy
    # one; predict gives other labels: q3_3 keeps init, update and the gradient check.
    _s("softmax-whole-matrix", [("multiclass", "    expZ = np.exp(Z - np.max(Z, axis=0, keepdims=True))\n"
                                               "    return expZ / np.sum(expZ, axis=0, keepdims=True)\n",
                                 "    expZ = np.exp(Z)\n    return expZ / np.sum(expZ)\n")],
       {"q3_2": 1.0, "q3_3": 0.75}, ["softmax-whole-matrix"]),

    # Softmax with the right values, but the shift done in place on the caller's Z. Only the
    # purity share (0.25) of each softmax case: q3_2 keeps 2 - 0.25; q3_3 calls it on its own Z2.
    _s("softmax-in-place", [("multiclass", "    expZ = np.exp(Z - np.max(Z, axis=0, keepdims=True))\n",
                             "    Z -= np.max(Z, axis=0, keepdims=True)\n    expZ = np.exp(Z)\n")],
       {"q3_2": 2.0 - 0.25}),

    # argmax over the wrong axis in Part 3's predict: its predict check only (0.25 of q3_3); the
    # accuracy is that of the trained parameters under the contract's rule.
    _s("argmax-axis-1", [("multiclass", "    return np.argmax(Y_hat, axis=0)\n",
                          "    return np.argmax(Y_hat, axis=1)\n")],
       {"q3_3": 2.25}, ["predict-wrong-axis"]),

    # Part 2's predict copied into Part 3: a threshold on output unit 0. Predict check only.
    _s("predict-unit-0", [("multiclass", "    return np.argmax(Y_hat, axis=0)\n",
                           "    return (Y_hat[0] > 0.5).astype(int)\n")],
       {"q3_3": 2.25}, ["predict-unit-0"]),

    # A validation split inside train: the model learns from the first 90% of the examples it
    # is given. The first recorded loss is that of those examples only: q3_3's trajectory
    # (named train-subset). The 500-epoch loss is that of the returned model on the data train
    # was given: the 10% it never saw make it 0.09, above the 0.05 threshold: lost too (the
    # question asks to train on that data). The accuracy still passes: q3_3 = 2.5 - 2 * 0.25.
    _s("validation-split", [("multiclass", "    losses = []\n    for epoch in range(epochs):\n",
                             "    n_train = int(0.9 * X.shape[1])  # the rest for validation\n"
                             "    X, Y = X[:, :n_train], Y[:, :n_train]\n"
                             "    losses = []\n    for epoch in range(epochs):\n")],
       {"q3_3": 2.0}, ["train-subset"]),

    # Sigmoid outputs for the 10 classes (Part 2's output layer copied into Part 3), with the
    # softmax's backward dZ2 = Y_hat - Y kept: ten one-against-the-rest sigmoids, trained
    # consistently. q3_3's forward and backward fail (named sigmoid-output-multiclass), and so does
    # the gradient check: Y_hat - Y is not the gradient of the student's own loss (the categorical
    # cross-entropy of sigmoid outputs): 1.0 of q3_3's 2.5 lost. The unit checks named the
    # variant, so the training is judged in it too (issue 21): the trajectory is the reference's
    # trained with sigmoid outputs (passes); the final loss and the accuracy take the better of
    # the two models: here the lab's (a softmax of the student's logits, 0.0014; accuracy 0.815
    # against the reference's 0.8075). The mistake is charged once, in the unit checks: q3_3 = 1.5.
    # It is also a spike that recovers, the shape of issue 21's Part-3 training: the recorded loss
    # goes from 0.78 to 6.6 at epoch 1 and falls back by epoch 16 (on rubric.yaml's 2000 examples:
    # 0.78 -> 6.7, then 0.134 at epoch 500 and 0.90 accuracy, bench/divergence_watch.py); the
    # 500 epochs run and the final loss's message says it spiked.
    _s("sigmoid-output-multiclass", [("multiclass", "    A2 = softmax(Z2)\n", "    A2 = sigmoid(Z2)\n")],
       {"q3_3": 2.5 - 1.0}, ["sigmoid-output-multiclass"],
       [("q3_3", "final_loss", "in the lab's model"), ("q3_3", "final_loss", "spiked from 0.78"),
        ("q3_3", "trajectory", "trained in the sigmoid-output-multiclass model")]),

    # ---- issue 21: a numerical slip keeps its credit; every mistake named, by its closest variant.
    # No clipping in the loss: right in exact arithmetic wherever y_hat is strictly inside (0, 1)
    # (an edge mistake, lab2check.mistakes.SCOPE). q1_3 is graded on its five hidden cases (issue
    # 22: public cases teach, earn nothing): the three with y_hat strictly inside (0, 1) are right
    # and keep their credit (the m = 1 case too: nothing general is named); the hidden exact 0/1
    # case gives nan and the confidently-wrong one inf, both named no-clipping: 3/5 of the point
    # (5/7 when the public cases counted too), in the 0.5-0.75 a teacher gives for a forgotten
    # clip. The grading trainings never reach an exact 0 or 1: full marks there.
    _s("no-clipping", [("single_neuron", "    eps = 1e-7\n    y_hat = np.clip(y_hat, eps, 1 - eps)\n", "")],
       {"q1_3": 3 / 5}, ["no-clipping"]),

    # Softmax shifted by the max of the whole matrix: shift-invariant, so right wherever no
    # column underflows entirely. q3_2: only the large-logits case (columns 2e4 apart) fails,
    # named softmax-global-max; the others keep their credit. Graded on the hidden cases only
    # (issue 22): softmax 4/5 of its 1.0, q3_2 = 2 - 1/5 (2 - 1/7 when the public cases counted).
    # The training's logits are never that far apart: q3_3 full.
    _s("softmax-global-max", [("multiclass", "np.exp(Z - np.max(Z, axis=0, keepdims=True))", "np.exp(Z - np.max(Z))")],
       {"q3_2": 2 - 1 / 5}, ["softmax-global-max"]),

    # Softmax without any shift: right wherever exp does not overflow. As above: only the
    # large-logits case fails (nan), named softmax-unstable: q3_2 = 2 - 1/5 on the hidden cases
    # (2 - 1/7 when the public cases counted); q3_3 full.
    _s("softmax-unshifted", [("multiclass", "    expZ = np.exp(Z - np.max(Z, axis=0, keepdims=True))\n",
                              "    expZ = np.exp(Z)\n")],
       {"q3_2": 2 - 1 / 5}, ["softmax-unstable"]),

    # Two independent mistakes in Part 2's backward: m = 60000 (the whole training set) and db1
    # summed to one number. Both named on every backward case, fixed-m first (dW2 is off by
    # m/60000: fixed-m, never wrong-normalisation), then bias-gradient-shape (db1). q2_1 loses
    # backward and the gradient check (the loss and forward are right, so the reference's gradient
    # is the target): 1.25. Training: every step is 30 times too small on the 2000 examples and
    # the hidden biases move together: the trajectory, the 500-epoch loss (0.26) and the accuracy
    # (0.91) fail in q2_2 and q2_3, as a teacher running the code would see; predict is right.
    _s("fixed-m-and-scalar-db1", [("hidden_layer", "    m = X.shape[1]\n", "    m = 60000  # the training set\n"),
                                  ("hidden_layer", "    db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)\n",
                                   "    db1 = (1 / m) * np.sum(dZ1)\n")],
       {"q2_1": 1.25, "q2_2": 1.5 / 4, "q2_3": 0.0}, ["fixed-m", "bias-gradient-shape"]),

    # No hidden activation: Z1 fed straight to the output layer, the backward consistent with
    # that linear layer (dZ1 = dA1). Named missing-activation (its own variant is the closest
    # explanation), never tanh-activation (tanh z ~ z on small weights). q2_1 as the tanh student:
    # forward and backward fail, the gradient check keeps its share (the gradient of the student's
    # own forward and loss), init and update pass: 1.25. q2_2 and q2_3: predict gives other labels
    # (two public cases cannot tell tanh from linear: no id there; a hidden case names it), and
    # the linear network really diverges at lr = 1: its predictions are nan at epoch 38, where the
    # watch stops it (it was stopped at epoch 3, at the first loss above 10 times its first, before
    # issue 21's item 4; the points are the same): no trained model to judge, in its own network
    # or the lab's (item 2): 0 and 0.
    _s("missing-activation", [("hidden_layer",
                                 '    A1 = sigmoid(Z1)\n    Z2 = np.dot(params["W2"], A1) + params["b2"]\n',
                                 '    Z2 = np.dot(params["W2"], Z1) + params["b2"]\n'),
                                ("hidden_layer", '    cache = {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}\n',
                                 '    cache = {"Z1": Z1, "A1": Z1, "Z2": Z2, "A2": A2}\n'),
                                ("hidden_layer", "    dZ1 = dA1 * A1 * (1 - A1)\n", "    dZ1 = dA1\n")],
       {"q2_1": 1.25, "q2_2": 0.0, "q2_3": 0.0}, ["missing-activation"]),

    # MSE habits in Part 2: dZ2 = (A2 - y) * A2 * (1 - A2). Named extra-sigmoid-derivative in the
    # hidden network too (the catalogue mistake applies in every backward). q2_1: backward and the
    # gradient check fail: 1.25. Training is slowed: the trajectory (named from the mistake's own
    # losses) and the 500-epoch loss (0.035 and 0.055, thresholds 0.01 and 0.02) fail; predict and
    # the accuracy pass: q2_2 = 0.75, q2_3 = 1/3.
    _s("mse-factor-hidden", [("hidden_layer", "    dZ2 = A2 - y\n", "    dZ2 = (A2 - y) * A2 * (1 - A2)\n")],
       {"q2_1": 1.25, "q2_2": 0.75, "q2_3": 1 / 3}, ["extra-sigmoid-derivative"]),
)
