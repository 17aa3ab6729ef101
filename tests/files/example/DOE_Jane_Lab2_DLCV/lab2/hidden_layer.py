"""Part 2: one hidden layer of sigmoid units, the same binary task (0 against the rest).

``params`` holds ``W1 (n_hidden, n_in)``, ``b1 (n_hidden, 1)``, ``W2 (n_out, n_hidden)`` and
``b2 (n_out, 1)``; ``grads`` holds ``dW1, db1, dW2, db2`` of the same shapes. ``X`` is
``(n_in, m)``, ``y`` and ``y_hat`` are ``(n_out, m)`` with ``n_out = 1``. The loss is Part 1's
mean binary cross-entropy.
"""
import numpy as np

from lab2.single_neuron import loss, sigmoid

LR = 1.0  # the rubric's learning rate for this model (the grader passes it explicitly)


def init_params(n_in=784, n_hidden=64, n_out=1, seed=None):
    """Small random weights (normal, std 0.1) and zero biases; the same seed gives the same params."""
    # BEGIN SOLUTION q2_1
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.normal(0.0, 0.1, (n_hidden, n_in)),
        "b1": np.zeros((n_hidden, 1)),
        "W2": rng.normal(0.0, 0.1, (n_out, n_hidden)),
        "b2": np.zeros((n_out, 1)),
    }
    # END SOLUTION


def forward(X, params):
    """Returns ``(y_hat (n_out, m), cache)``; ``cache`` holds ``A1 (n_hidden, m)`` for ``backward``."""
    # BEGIN SOLUTION q2_1
    A1 = sigmoid(params["W1"] @ X + params["b1"])
    y_hat = sigmoid(params["W2"] @ A1 + params["b2"])
    return y_hat, {"A1": A1, "y_hat": y_hat}
    # END SOLUTION


def backward(X, y, params, cache):
    """Gradients of the mean binary cross-entropy, as a dict ``dW1, db1, dW2, db2``."""
    # BEGIN SOLUTION q2_1
    m = X.shape[1]
    A1, y_hat = cache["A1"], cache["y_hat"]
    dZ2 = y_hat - y                                  # (n_out, m)
    dW2 = dZ2 @ A1.T / m
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m
    dZ1 = (params["W2"].T @ dZ2) * (1 - A1 ** 2)     # (n_hidden, m)
    dW1 = dZ1 @ X.T / m
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}
    # END SOLUTION


def update(params, grads, lr):
    """New params ``p - lr * dp`` for each of ``W1, b1, W2, b2``."""
    # BEGIN SOLUTION q2_1
    return {k: params[k] - lr * grads["d" + k] for k in ("W1", "b1", "W2", "b2")}
    # END SOLUTION


def train(X, y, params, epochs=500, lr=LR):
    """Full-batch gradient descent; returns ``(params, losses)`` with ``losses[k]`` before update k."""
    # BEGIN SOLUTION q2_2
    losses = []
    for _ in range(epochs):
        y_hat, cache = forward(X, params)
        losses.append(loss(y, y_hat))
        params = update(params, backward(X, y, params, cache), lr)
    return params, losses
    # END SOLUTION


def predict(X, params):
    """``(1, m)`` array of 0/1: 1 where ``y_hat >= 0.5``."""
    # BEGIN SOLUTION q2_2
    return (forward(X, params)[0] >= 0.5).astype(np.int64)
    # END SOLUTION


if __name__ == "__main__":
    import sys

    from lab2.data import binary_targets, load_mnist

    digit = int(sys.argv[1]) if len(sys.argv) > 1 else 0  # Q2.3: try other digits
    X, labels = load_mnist("train")
    X_test, labels_test = load_mnist("test")
    y, y_test = binary_targets(labels, digit), binary_targets(labels_test, digit)
    params, losses = train(X, y, init_params(seed=0), epochs=500, lr=LR)
    for epoch in range(0, 500, 50):
        print(f"epoch {epoch:3d}  loss {losses[epoch]:.4f}")
    print(f"loss after 500 epochs: {losses[-1]:.4f}")
    print(f"test accuracy (digit {digit}): {np.mean(predict(X_test, params) == y_test):.4f}")
