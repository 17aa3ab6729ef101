"""The kit's hand-in tool and its distribution archive, end to end in a temporary copy of the kit
(they run the kit's tools, one of them on an import that trains: slow). The generator's own
tests are tests/unit/authoring/test_skeleton.py.
"""
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from grader import DATA, PROJECT
from grader.authoring import skeleton as gen

SKELETON = PROJECT / "skeleton"

def _copy_kit(dest: Path) -> Path:
    """A copy of the committed kit, with the project's data beside it as a student would have it."""
    shutil.copytree(SKELETON, dest, ignore=shutil.ignore_patterns(*gen.IGNORED_DIRS, "*.pyc"))
    return dest


# --- the hand-in tool, end to end in a copy of the kit -------------------------------------

@pytest.fixture
def kit_copy(tmp_path):
    return _copy_kit(tmp_path / "kit")


def _make_archive(kit: Path, *name: str):
    return subprocess.run([sys.executable, "tools/make_archive.py", *name], cwd=kit,
                          capture_output=True, text=True, timeout=120)


def _load_make_archive():
    import importlib.util

    spec = importlib.util.spec_from_file_location("kit_make_archive", SKELETON / "tools" / "make_archive.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name,stem", [
    ("DOE John", "DOE John Lab2 DLCV"),
    ("Doe John", "DOE John Lab2 DLCV"),
    ("  DOE   John  ", "DOE John Lab2 DLCV"),
    ("DE LA FONTAINE Jean", "DE LA FONTAINE Jean Lab2 DLCV"),
    ("DOE john paul", "DOE john paul Lab2 DLCV"),
    ("DOE JOHN", "DOE JOHN Lab2 DLCV"),
])
def test_archive_name(name, stem):
    assert _load_make_archive().archive_stem(name) == stem


@pytest.mark.parametrize("name", ["", "DOE", "DOE J/ohn", "DOE John:"])
def test_archive_name_refuses_unusable_names(name):
    tool = _load_make_archive()
    with pytest.raises(tool.Refused):
        tool.archive_stem(name)


def test_make_archive_builds_the_exact_name_and_contents(kit_copy):
    (kit_copy / "architecture.png").write_bytes(b"\x89PNG fake")
    (kit_copy / "notes.txt").write_text("not handed in\n")
    (kit_copy / "lab2" / "__pycache__").mkdir()
    (kit_copy / "lab2" / "__pycache__" / "data.cpython-311.pyc").write_bytes(b"\0")
    done = _make_archive(kit_copy, "DOE John")
    assert done.returncode == 0, done.stderr
    target = kit_copy / "DOE John Lab2 DLCV.tar.bz2"
    assert target.is_file()
    assert "loss_500 block still holds the template's 0.0 values" in done.stderr
    with tarfile.open(target, "r:bz2") as tar:
        names = set(tar.getnames())
        report = tar.extractfile("DOE John Lab2 DLCV/REPORT.md").read()
    stem = "DOE John Lab2 DLCV/"
    expected = {stem + "REPORT.md", stem + "architecture.png"}
    expected |= {stem + p.relative_to(kit_copy).as_posix() for p in (kit_copy / "lab2").glob("*.py")}
    assert names == expected
    assert report == (kit_copy / "REPORT.md").read_bytes()


def test_make_archive_refuses_a_lab2_that_does_not_import(kit_copy):
    path = kit_copy / "lab2" / "hidden_layer.py"
    path.write_text(path.read_text().replace("def predict(X, params):", "def predict(X, params)"))
    done = _make_archive(kit_copy, "DOE", "John")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "lab2 does not import" in lines[0] and "SyntaxError" in lines[0]
    assert "lab2/hidden_layer.py, line" in lines[0]
    assert not list(kit_copy.glob("*.tar.bz2*"))


def test_make_archive_refuses_a_missing_report(kit_copy):
    (kit_copy / "REPORT.md").unlink()
    done = _make_archive(kit_copy, "DOE John")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"make_archive: cannot build the archive: REPORT.md is missing from {kit_copy.resolve()}: "
        "write your answers there (the kit's template) first"]
    assert not list(kit_copy.glob("*.tar.bz2*"))


def test_make_archive_refuses_an_import_that_trains(kit_copy):
    tool = _load_make_archive()
    init = kit_copy / "lab2" / "__init__.py"
    init.write_text(init.read_text() + "\nimport time\ntime.sleep(30)\n")
    with pytest.raises(tool.Refused, match="importing must not train"):
        tool.check_import(kit_copy, timeout=2)


# --- the distribution archive --------------------------------------------------------------

def test_kit_archive_is_reproducible_and_finds_its_own_data(tmp_path):
    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    files = gen.pack(first)
    gen.pack(second)
    assert first.read_bytes() == second.read_bytes()
    root = gen.KIT_ROOT_IN_ARCHIVE
    for rel, data in gen.render().items():
        assert files[f"{root}/{rel}"] == data
    for gz in DATA.glob("*.gz"):
        assert files[f"{root}/data/mnist/{gz.name}"] == gz.read_bytes()
    with tarfile.open(first, "r:gz") as tar:
        tar.extractall(tmp_path / "out", filter="data")
    kit = tmp_path / "out" / root
    env = {k: v for k, v in os.environ.items() if k != "MNIST_DIR"}
    done = subprocess.run([sys.executable, "-c", "from lab2.data import data_dir; print(data_dir())"],
                          cwd=kit, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == (kit / "data" / "mnist").resolve()


def test_kit_archive_refuses_another_format(tmp_path):
    with pytest.raises(gen.UsageError, match=r"\.tar\.gz"):
        gen.pack(tmp_path / "kit.zip")
