"""``lab2/data.py``, the MNIST reader students get: where it finds the files, and broken copies of
them (each must give ``MnistDataError`` with one sentence naming the file and saying what to do,
never a numpy or gzip traceback). Reading the whole training set is tests/slow/test_data.py.
"""
import gzip
import shutil

import numpy as np
import pytest

from grader import DATA, PROJECT, REFERENCE
from grader.authoring.train_reference import load_lab2

data = load_lab2(REFERENCE).data
MnistDataError = data.MnistDataError
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"


@pytest.fixture(autouse=True)
def no_mnist_dir(monkeypatch):
    """Tests choose where the data comes from; a teacher's own MNIST_DIR must not leak in."""
    monkeypatch.delenv("MNIST_DIR", raising=False)


# --- where the data is found ---------------------------------------------------------------

def _test_files(folder, labels=True):
    """``folder`` holding the test split (symlinks to the real files: nothing big is copied)."""
    folder.mkdir(exist_ok=True)
    (folder / TEST_IMAGES).symlink_to(DATA / TEST_IMAGES)
    if labels:
        (folder / TEST_LABELS).symlink_to(DATA / TEST_LABELS)
    return folder


def test_default_is_the_projects_data_folder():
    assert data.data_dir() == PROJECT / "data" / "mnist"


def test_mnist_dir(tmp_path, monkeypatch):
    folder = _test_files(tmp_path / "elsewhere")
    monkeypatch.setenv("MNIST_DIR", str(folder))
    assert data.data_dir() == folder
    X, labels = data.load_mnist("test", n=5)
    assert X.shape == (784, 5) and labels.tolist() == [7, 2, 1, 0, 4]
    # MNIST_DIR is used even when it is incomplete: the error names it, not the project's copy.
    with pytest.raises(MnistDataError, match="train-images-idx3-ubyte.gz is missing from .*elsewhere"):
        data.load_mnist("train")


def test_explicit_path_wins_over_mnist_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "empty"))
    folder = _test_files(tmp_path / "given")
    X, _ = data.load_mnist("test", n=3, path=folder)
    assert X.shape == (784, 3)
    assert data.data_dir(folder) == folder


# --- broken files --------------------------------------------------------------------------

def _labels_raw() -> bytes:
    with gzip.open(DATA / TEST_LABELS, "rb") as f:
        return f.read()


def _folder_with_labels(tmp_path, content: bytes):
    """The test split in ``tmp_path`` with ``content`` as its labels file."""
    folder = _test_files(tmp_path / "mnist", labels=False)
    (folder / TEST_LABELS).write_bytes(content)
    return folder


def _check_message(err, name):
    message = str(err.value)
    assert name in message, message
    assert "copy the four original MNIST .gz files" in message
    assert "\n" not in message
    # One sentence for the student: no chained traceback from gzip or numpy.
    assert err.value.__cause__ is None and (err.value.__context__ is None or err.value.__suppress_context__)


def test_missing_file(tmp_path):
    folder = _test_files(tmp_path / "mnist", labels=False)
    with pytest.raises(MnistDataError, match="is missing from") as err:
        data.load_mnist("test", path=folder)
    _check_message(err, TEST_LABELS)


def test_missing_folder(tmp_path):
    with pytest.raises(MnistDataError, match="is missing from") as err:
        data.load_mnist("test", path=tmp_path / "nowhere")
    _check_message(err, TEST_IMAGES)


def test_wrong_checksum(tmp_path):
    raw = bytearray(_labels_raw())
    raw[100] = (raw[100] + 1) % 10  # one label changed: still a valid IDX file
    folder = _folder_with_labels(tmp_path, gzip.compress(bytes(raw)))
    with pytest.raises(MnistDataError, match="does not match its sha256 checksum") as err:
        data.load_mnist("test", path=folder)
    _check_message(err, TEST_LABELS)


def test_truncated_gzip(tmp_path):
    gz = (DATA / TEST_LABELS).read_bytes()
    folder = _folder_with_labels(tmp_path, gz[: len(gz) // 2])
    with pytest.raises(MnistDataError, match="not a readable gzip file") as err:
        data.load_mnist("test", path=folder)
    _check_message(err, TEST_LABELS)


def test_not_gzip(tmp_path):
    folder = _folder_with_labels(tmp_path, _labels_raw())  # the IDX file, never compressed
    with pytest.raises(MnistDataError, match="not a readable gzip file") as err:
        data.load_mnist("test", path=folder)
    _check_message(err, TEST_LABELS)


def test_wrong_magic_as_a_student_meets_it(tmp_path):
    # The images file saved under the labels' name: its magic is wrong, but load_mnist verifies
    # checksums before reading headers, so the student is told the file is not the original.
    folder = _test_files(tmp_path / "mnist", labels=False)
    shutil.copyfile(DATA / TEST_IMAGES, folder / TEST_LABELS)
    with pytest.raises(MnistDataError, match="does not match its sha256 checksum") as err:
        data.load_mnist("test", path=folder)
    _check_message(err, TEST_LABELS)


def test_wrong_magic_without_verification(tmp_path):
    raw = bytearray(_labels_raw())
    raw[3] = 0x03  # 0x00000803, the images' magic
    path = tmp_path / TEST_LABELS
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(MnistDataError, match="magic number 0x00000803, expected 0x00000801") as err:
        data.read_idx(path, "labels", verify=False)
    _check_message(err, TEST_LABELS)


def test_wrong_magic_in_a_file_without_a_known_checksum(tmp_path):
    raw = bytearray(_labels_raw())
    raw[2] = 0x09
    path = tmp_path / "my-labels.gz"
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(MnistDataError, match="magic number") as err:
        data.read_idx(path, "labels")
    _check_message(err, "my-labels.gz")


@pytest.mark.parametrize("cut,reason", [(6, "too short to hold an IDX header"), (-10, "holds 9990 bytes of data")])
def test_short_data_without_verification(tmp_path, cut, reason):
    path = tmp_path / TEST_LABELS
    path.write_bytes(gzip.compress(_labels_raw()[:cut]))
    with pytest.raises(MnistDataError, match=reason) as err:
        data.read_idx(path, "labels", verify=False)
    _check_message(err, TEST_LABELS)


def test_read_idx_of_a_good_file():
    labels = data.read_idx(DATA / TEST_LABELS, "labels")
    images = data.read_idx(DATA / TEST_IMAGES, "images")
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
