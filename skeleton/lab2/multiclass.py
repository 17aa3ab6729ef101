"""Part 3: a multiclass network, 64 sigmoid hidden units and 10 softmax outputs.

Same ``params``/``grads`` layout as Part 2 with ``n_out = 10``. ``Y`` and ``Y_hat`` are
``(10, m)``: one-hot targets and predicted class probabilities, one example per column.
"""
import numpy as np

from lab2.single_neuron import sigmoid

EPS = 1e-7
LR = 1.0  # the rubric's learning rate for this model (the grader passes it explicitly)


def one_hot(labels, n_classes=10):
    """``(n_classes, m)`` float array with a 1 in row ``labels[i]`` of column ``i``."""
    raise NotImplementedError("q3_2: multiclass.one_hot")


def softmax(Z):
    """Column-wise softmax of ``Z (k, m)``: each column sums to 1; finite for large inputs."""
    raise NotImplementedError("q3_2: multiclass.softmax")


def loss(Y, Y_hat):
    """Mean categorical cross-entropy over the ``m`` columns, a float; finite where ``Y_hat`` is 0."""
    raise NotImplementedError("q3_2: multiclass.loss")


def init_params(n_in=784, n_hidden=64, n_out=10, seed=None):
    """Small random weights (normal, std 0.1) and zero biases; the same seed gives the same params."""
    raise NotImplementedError("q3_3: multiclass.init_params")


def forward(X, params):
    """Returns ``(Y_hat (n_out, m), cache)``: sigmoid hidden layer, softmax output."""
    raise NotImplementedError("q3_3: multiclass.forward")


def backward(X, Y, params, cache):
    """Gradients of the mean categorical cross-entropy, as a dict ``dW1, db1, dW2, db2``."""
    raise NotImplementedError("q3_3: multiclass.backward")


def update(params, grads, lr):
    """New params ``p - lr * dp`` for each of ``W1, b1, W2, b2``."""
    raise NotImplementedError("q3_3: multiclass.update")


def train(X, Y, params, epochs=500, lr=LR):
    """Full-batch gradient descent; returns ``(params, losses)`` with ``losses[k]`` before update k."""
    raise NotImplementedError("q3_3: multiclass.train")


def predict(X, params):
    """Integer labels 0-9 of shape ``(m,)``: the most probable class of each column."""
    raise NotImplementedError("q3_3: multiclass.predict")


if __name__ == "__main__":
    from lab2.data import load_mnist

    X, labels = load_mnist("train")
    X_test, labels_test = load_mnist("test")
    params, losses = train(X, one_hot(labels), init_params(seed=0), epochs=500, lr=LR)
    for epoch in range(0, 500, 50):
        print(f"epoch {epoch:3d}  loss {losses[epoch]:.4f}")
    print(f"loss after 500 epochs: {losses[-1]:.4f}")
    print(f"test accuracy: {np.mean(predict(X_test, params) == labels_test):.4f}")
