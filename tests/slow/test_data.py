"""``lab2/data.py``: the MNIST reader students get, on the real files (the whole training set: slow).

The sanity facts come from ``data/mnist/README.md``. Where the reader finds the files and what it
says of broken copies is tests/unit/test_mnist_files.py.
"""

import numpy as np
import pytest

from grader import REFERENCE
from grader.authoring.train_reference import load_lab2

data = load_lab2(REFERENCE).data


@pytest.fixture(scope="module")
def train():
    return data.load_mnist("train")


@pytest.fixture(autouse=True)
def no_mnist_dir(monkeypatch):
    """Tests choose where the data comes from; a teacher's own MNIST_DIR must not leak in."""
    monkeypatch.delenv("MNIST_DIR", raising=False)


def test_train_set_shapes_dtypes_and_range(train):
    X, labels = train
    assert X.shape == (784, 60000) and X.dtype == np.float64 and X.flags.c_contiguous
    assert labels.shape == (60000,) and labels.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    # The classic normalisation constants of MNIST: mean 0.1307, std 0.3081.
    assert abs(X.mean() - 0.1307) < 1e-4 and abs(X.std() - 0.3081) < 1e-4


def test_train_set_sanity_facts(train):
    X, labels = train
    assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert int(np.sum(labels == 0)) == 5923 and int(np.sum(labels == 1)) == 6742
    # One example per column: the first image's top row is blank, its middle rows are not.
    first = X[:, 0].reshape(28, 28)
    assert first[0].sum() == 0 and first[10:18].sum() > 10


def test_test_set():
    X, labels = data.load_mnist("test")
    assert X.shape == (784, 10000) and labels.shape == (10000,)
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_subset_is_the_first_n_examples(train):
    X, labels = data.load_mnist("train", n=123)
    assert X.shape == (784, 123) and labels.shape == (123,)
    assert np.array_equal(X, train[0][:, :123]) and np.array_equal(labels, train[1][:123])


def test_float32():
    X, _ = data.load_mnist("test", n=50, dtype=np.float32)
    X64, _ = data.load_mnist("test", n=50)
    assert X.dtype == np.float32 and X.max() == 1.0
    assert np.allclose(X, X64, rtol=1e-6)


def test_bad_split():
    with pytest.raises(ValueError, match="split"):
        data.load_mnist("validation")


def test_binary_targets():
    y = data.binary_targets(np.array([0, 3, 0, 7]), digit=0)
    assert y.shape == (1, 4) and y.dtype == np.float64 and y.tolist() == [[1.0, 0.0, 1.0, 0.0]]
    assert data.binary_targets(np.array([[3, 1]]), digit=3).tolist() == [[1.0, 0.0]]
