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
    # BEGIN SOLUTION q3_2
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    Y = np.zeros((n_classes, labels.size))
    Y[labels, np.arange(labels.size)] = 1.0
    return Y
    # END SOLUTION


def softmax(Z):
    """Column-wise softmax of ``Z (k, m)``: each column sums to 1; finite for large inputs."""
    # BEGIN SOLUTION q3_2
    E = np.exp(Z - np.max(Z, axis=0, keepdims=True))  # the shift keeps exp from overflowing
    return E / np.sum(E, axis=0, keepdims=True)
    # END SOLUTION


def loss(Y, Y_hat):
    """Mean categorical cross-entropy over the ``m`` columns, a float; finite where ``Y_hat`` is 0."""
    # BEGIN SOLUTION q3_2
    m = Y.shape[1]
    return float(-np.sum(Y * np.log(np.clip(Y_hat, EPS, 1.0))) / m)
    # END SOLUTION


def init_params(n_in=784, n_hidden=64, n_out=10, seed=None):
    """Small random weights (normal, std 0.1) and zero biases; the same seed gives the same params."""
    # BEGIN SOLUTION q3_3
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.normal(0.0, 0.1, (n_hidden, n_in)),
        "b1": np.zeros((n_hidden, 1)),
        "W2": rng.normal(0.0, 0.1, (n_out, n_hidden)),
        "b2": np.zeros((n_out, 1)),
    }
    # END SOLUTION


def forward(X, params):
    """Returns ``(Y_hat (n_out, m), cache)``: sigmoid hidden layer, softmax output."""
    # BEGIN SOLUTION q3_3
    A1 = sigmoid(params["W1"] @ X + params["b1"])
    Y_hat = softmax(params["W2"] @ A1 + params["b2"])
    return Y_hat, {"A1": A1, "Y_hat": Y_hat}
    # END SOLUTION


def backward(X, Y, params, cache):
    """Gradients of the mean categorical cross-entropy, as a dict ``dW1, db1, dW2, db2``."""
    # BEGIN SOLUTION q3_3
    m = X.shape[1]
    A1, Y_hat = cache["A1"], cache["Y_hat"]
    dZ2 = Y_hat - Y                                  # softmax + cross-entropy, (n_out, m)
    dW2 = dZ2 @ A1.T / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = (params["W2"].T @ dZ2) * A1 * (1 - A1)     # (n_hidden, m)
    dW1 = dZ1 @ X.T / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}
    # END SOLUTION


def update(params, grads, lr):
    """New params ``p - lr * dp`` for each of ``W1, b1, W2, b2``."""
    # BEGIN SOLUTION q3_3
    return {k: params[k] - lr * grads["d" + k] for k in ("W1", "b1", "W2", "b2")}
    # END SOLUTION


def train(X, Y, params, epochs=500, lr=LR):
    """Full-batch gradient descent; returns ``(params, losses)`` with ``losses[k]`` before update k."""
    # BEGIN SOLUTION q3_3
    losses = []
    for _ in range(epochs):
        Y_hat, cache = forward(X, params)
        losses.append(loss(Y, Y_hat))
        params = update(params, backward(X, Y, params, cache), lr)
    return params, losses
    # END SOLUTION


def predict(X, params):
    """Integer labels 0-9 of shape ``(m,)``: the most probable class of each column."""
    # BEGIN SOLUTION q3_3
    return np.argmax(forward(X, params)[0], axis=0)
    # END SOLUTION


if __name__ == "__main__":
    from lab2.data import load_mnist

    X, labels = load_mnist("train")
    X_test, labels_test = load_mnist("test")
    params, losses = train(X, one_hot(labels), init_params(seed=0), epochs=500, lr=LR)
    for epoch in range(0, 500, 50):
        print(f"epoch {epoch:3d}  loss {losses[epoch]:.4f}")
    print(f"loss after 500 epochs: {losses[-1]:.4f}")
    print(f"test accuracy: {np.mean(predict(X_test, params) == labels_test):.4f}")
