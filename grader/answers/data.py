"""The grading data: the rubric's subsets of MNIST as .npy files, written once into the cache.

Children map these files read-only instead of each loading MNIST. What a training request needs
(inputs and training targets) sits in the folder ``sandbox/``, the only one bound into the
sandbox; the test labels sit beside it, readable by the grader alone (0600), so no student code
can read them, with bubblewrap or without.

Runs trusted code (the reference's ``lab2.data``) in this process.
"""
import io
import os
from pathlib import Path

import numpy as np

from grader import DATA, PROJECT, REFERENCE
from grader.fsutil import atomic_write
from grader.rubric import Rubric
from lab2check import local, questions

# Where the grading data and the reference's answers live (``grader.answers.cache``); read at
# call time, so a caller may point it elsewhere for a while (the bench does).
CACHE = Path(os.environ.get("LAB2_CACHE", PROJECT / ".cache"))
NAMES = ("X_train", "y_train", "y_bonus", "Y_train", "X_test")  # the files a training request may read


def grading_data(rubric: Rubric) -> dict[str, Path]:
    """Write the grading subset as .npy files (once) and return {name: path}: ``NAMES`` in
    ``sandbox/`` (X_train (784, n), y_train and y_bonus (1, n) 0/1, Y_train (10, n) one-hot,
    X_test (784, n_test)) and ``labels_test`` (n_test,) 0-9 beside it, 0600."""
    d = rubric.data
    folder = CACHE / "data" / f"{d.train_subset}-{d.test_subset}-{d.dtype}-{d.digit}-{d.bonus_digit}"
    paths = {n: folder / "sandbox" / f"{n}.npy" for n in NAMES} | {"labels_test": folder / "labels_test.npy"}
    if all(p.exists() for p in paths.values()):
        return paths
    with local.use(REFERENCE):
        from lab2.data import binary_targets, load_mnist
        X, labels = load_mnist("train", n=d.train_subset, path=DATA, dtype=np.dtype(d.dtype).type)
        X_test, labels_test = load_mnist("test", n=d.test_subset, path=DATA, dtype=np.dtype(d.dtype).type)
        Y = np.zeros((10, labels.size), dtype=d.dtype)
        Y[labels, np.arange(labels.size)] = 1
        arrays = {"X_train": X, "y_train": binary_targets(labels, d.digit).astype(d.dtype),
                  "y_bonus": binary_targets(labels, d.bonus_digit).astype(d.dtype), "Y_train": Y,
                  "X_test": X_test, "labels_test": labels_test}
    (folder / "sandbox").mkdir(parents=True, exist_ok=True)
    for parent in (folder / "sandbox", *folder.parents):
        if parent == CACHE.parent:
            break
        parent.chmod(0o755)
    for name, array in arrays.items():
        # 0644: the sandboxed children run as another uid and map these files; the labels are the grader's.
        atomic_write(paths[name], _npy(array), mode=0o600 if name == "labels_test" else 0o644)
    return paths


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def test_labels(qid: str, rubric: Rubric, data: dict[str, Path]) -> np.ndarray:
    """The test labels question ``qid`` is judged against, (n_test,): the ten digits for the
    multiclass model, else 0/1 for its digit (the rubric's ``digit`` or ``bonus_digit``)."""
    labels = np.load(data["labels_test"])
    training = questions.get(qid).training
    assert training is not None, f"{qid} is not a training question"
    target = training.target
    if target == "labels":
        return labels
    digit = rubric.data.digit if target == "digit" else rubric.data.bonus_digit
    return (labels == digit).astype(np.int64)
