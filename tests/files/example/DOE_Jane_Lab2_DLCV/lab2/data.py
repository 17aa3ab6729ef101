"""MNIST for Lab 2: a small IDX reader with checksum verification.

Given to students as is (the same file in ``reference/`` and ``skeleton/``).

Where the data is looked for, in order:
1. the ``path`` argument;
2. the ``MNIST_DIR`` environment variable;
3. the first ``data/mnist/`` folder found in the folder that holds the ``lab2`` package or any
   folder above it (the student kit's own, or the grading project's).

Each file is the original gzip-compressed IDX file; its gunzipped content must match the
published sha256 checksum. A missing or damaged file raises ``MnistDataError`` with one
sentence naming the file and saying what to do. This module is deliberately not a data
pipeline: no download, no caching, no shuffling (the subset is the first ``n`` examples,
so that everyone gets the same one).
"""
import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

FILES = {
    ("train", "images"): "train-images-idx3-ubyte.gz",
    ("train", "labels"): "train-labels-idx1-ubyte.gz",
    ("test", "images"): "t10k-images-idx3-ubyte.gz",
    ("test", "labels"): "t10k-labels-idx1-ubyte.gz",
}

# sha256 of the gunzipped files (see data/mnist/README.md).
SHA256 = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

MAGIC = {"images": 0x00000803, "labels": 0x00000801}

HOW_TO_FIX = ("copy the four original MNIST .gz files into that folder again "
              "(or set MNIST_DIR to a folder that holds them)")


class MnistDataError(Exception):
    """A missing or damaged MNIST file; the message says which file and what to do."""


def data_dir(path=None):
    """The folder the MNIST files are read from (see the module docstring for the order)."""
    if path is not None:
        return Path(path)
    if os.environ.get("MNIST_DIR"):
        return Path(os.environ["MNIST_DIR"])
    here = Path(__file__).resolve().parent.parent
    for folder in (here, *here.parents):
        if (folder / "data" / "mnist").is_dir():
            return folder / "data" / "mnist"
    return here / "data" / "mnist"  # missing: the error message then names this folder


def read_idx(file, kind, verify=True):
    """Read one gzip IDX file into a uint8 array: ``(count, 28, 28)`` images or ``(count,)`` labels."""
    file = Path(file)
    name = file.name
    if not file.is_file():
        raise MnistDataError(f"MNIST file {name} is missing from {file.parent}: {HOW_TO_FIX}.")
    try:
        with gzip.open(file, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:  # not gzip, or truncated
        raise MnistDataError(f"MNIST file {file} is not a readable gzip file ({err}): {HOW_TO_FIX}.") from None
    if verify and name in SHA256 and hashlib.sha256(raw).hexdigest() != SHA256[name]:
        raise MnistDataError(f"MNIST file {file} does not match its sha256 checksum "
                             f"(damaged or not the original): {HOW_TO_FIX}.")
    ndim = 3 if kind == "images" else 1
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise MnistDataError(f"MNIST file {file} is too short to hold an IDX header: {HOW_TO_FIX}.")
    magic = int.from_bytes(raw[:4], "big")
    if magic != MAGIC[kind]:
        raise MnistDataError(f"MNIST file {file} has IDX magic number {magic:#010x}, expected "
                             f"{MAGIC[kind]:#010x} for {kind}: {HOW_TO_FIX}.")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    count = int(np.prod(dims))
    if len(raw) - header != count:
        raise MnistDataError(f"MNIST file {file} holds {len(raw) - header} bytes of data where its header "
                             f"announces {count}: {HOW_TO_FIX}.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def load_mnist(split="train", n=None, path=None, dtype=np.float64):
    """Load a split of MNIST.

    Returns ``(X, labels)``: ``X`` of shape ``(784, m)`` and ``dtype`` with pixels in [0, 1], one
    example per column; ``labels`` an int64 array of shape ``(m,)``. ``n`` keeps the first ``n``
    examples (all of them when None).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    folder = data_dir(path)
    images = read_idx(folder / FILES[(split, "images")], "images")
    labels = read_idx(folder / FILES[(split, "labels")], "labels")
    if n is not None:
        images, labels = images[:n], labels[:n]
    X = images.reshape(len(images), -1).T.astype(dtype) / dtype(255)
    return np.ascontiguousarray(X), labels.astype(np.int64)


def binary_targets(labels, digit=0):
    """``(1, m)`` float array holding 1.0 where ``labels == digit`` and 0.0 elsewhere."""
    return (np.asarray(labels).reshape(1, -1) == digit).astype(np.float64)
