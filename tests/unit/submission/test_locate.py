"""Finding the lab2 package, the report and the figures in an unpacked submission."""
import os
from pathlib import Path

import pytest

from grader.errors import UsageError
from grader.submission.locate import PackageError, Submission, find_package

MODULES = ("__init__.py", "single_neuron.py", "hidden_layer.py", "multiclass.py")


def make(root: Path, *paths: str) -> Path:
    """Create files (``a/b.py``) or folders (``a/``) beneath ``root``."""
    for rel in paths:
        path = root / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"# {rel}\n")
    return root


def package(prefix: str = "") -> list[str]:
    return [f"{prefix}lab2/{m}" for m in MODULES]


@pytest.mark.parametrize("prefix", ["", "DOE_John/", "DOE John Lab2 DLCV/home/work/"])
def test_package_at_any_depth(tmp_path, prefix):
    make(tmp_path, *package(prefix), f"{prefix}REPORT.md", f"{prefix}arch.png")
    sub = find_package(tmp_path)
    assert sub == Submission(root=tmp_path, package_parent=tmp_path / prefix.rstrip("/") if prefix else tmp_path,
                             report=tmp_path / f"{prefix}REPORT.md", images=[tmp_path / f"{prefix}arch.png"])
    assert sub.package == sub.package_parent / "lab2"


@pytest.mark.parametrize("module", MODULES)
def test_one_module_is_enough(tmp_path, module):
    make(tmp_path, f"lab2/{module}")
    assert find_package(tmp_path).package_parent == tmp_path


def test_a_lab2_folder_without_modules_is_not_a_package(tmp_path):
    make(tmp_path, *package("src/"), "data/lab2/notes.txt")
    assert find_package(tmp_path).package_parent == tmp_path / "src"


def test_two_packages(tmp_path):
    make(tmp_path, *package("a/"), *package("b/"))
    with pytest.raises(PackageError, match=r"^two lab2 packages: a/lab2 and b/lab2$"):
        find_package(tmp_path)


def test_nested_packages_are_two(tmp_path):
    make(tmp_path, *package(), *package("lab2/"))
    with pytest.raises(PackageError, match=r"two lab2 packages: lab2 and lab2/lab2"):
        find_package(tmp_path)


def test_three_packages(tmp_path):
    make(tmp_path, *package("a/"), *package("b/"), *package("c/d/"))
    with pytest.raises(PackageError, match=r"3 lab2 packages: a/lab2, b/lab2 and c/d/lab2"):
        find_package(tmp_path)


@pytest.mark.parametrize("paths, hint", [
    ([], ""),
    (["REPORT.md", "notes.txt"], ""),
    (["single_neuron.py", "REPORT.md"], " (found single_neuron.py in the top level, not in a lab2/ folder)"),
    (["DOE/multiclass.py"], " (found multiclass.py in DOE/, not in a lab2/ folder)"),
    (["DOE/Lab2/__init__.py"], " (found the folder 'DOE/Lab2': the package must be named lab2)"),
    (["lab_2/hidden_layer.py"], " (found the folder 'lab_2': the package must be named lab2)"),
])
def test_no_package_says_what_is_there(tmp_path, paths, hint):
    make(tmp_path, *paths)
    with pytest.raises(PackageError) as err:
        find_package(tmp_path)
    assert str(err.value) == "no lab2/ package in the submission" + hint


def test_package_error_is_a_usage_error():
    assert issubclass(PackageError, UsageError)


def test_macosx_pycache_and_hidden_folders_are_ignored(tmp_path):
    make(tmp_path, *package("DOE/"), *package("__MACOSX/DOE/"), *package(".ipynb_checkpoints/"),
         "DOE/lab2/__pycache__/lab2/__init__.py", "__MACOSX/DOE/REPORT.md", "__MACOSX/x.png", "DOE/REPORT.md")
    sub = find_package(tmp_path)
    assert sub.package_parent == tmp_path / "DOE"
    assert sub.report == tmp_path / "DOE" / "REPORT.md"
    assert sub.images == []


def test_symlinks_are_never_followed_nor_taken(tmp_path):
    outside = make(tmp_path / "outside", *package(), "REPORT.md", "x.png")
    root = tmp_path / "sub"
    make(root, "DOE/lab2/single_neuron.py")
    os.symlink(outside / "lab2", root / "lab2")                 # a second package, by a link
    os.symlink(outside / "REPORT.md", root / "DOE" / "REPORT.md")
    os.symlink(outside / "x.png", root / "DOE" / "x.png")
    os.symlink(outside, root / "DOE" / "more")                  # a folder link
    os.symlink("..", root / "DOE" / "loop")                      # a loop
    sub = find_package(root)
    assert sub.package_parent == root / "DOE"
    assert sub.report is None and sub.images == []


def test_report_beside_the_package_wins(tmp_path):
    make(tmp_path, *package("work/"), "REPORT.md", "work/Report.md")
    assert find_package(tmp_path).report == tmp_path / "work" / "Report.md"


def test_report_elsewhere_shortest_path_first(tmp_path):
    make(tmp_path, *package("code/"), "docs/old/REPORT.md", "docs/report.MD")
    assert find_package(tmp_path).report == tmp_path / "docs" / "report.MD"


def test_no_report(tmp_path):
    make(tmp_path, *package(), "README.md")
    assert find_package(tmp_path).report is None


def test_images_near_the_report_and_package_nearest_first(tmp_path):
    make(tmp_path, *package("work/"), "work/figs/b/deep.svg", "work/arch.PNG", "work/figs/net.jpg",
         "docs/REPORT.md", "docs/drawing.pdf", "other/unrelated.png", "work/notes.txt")
    sub = find_package(tmp_path)
    assert sub.report == tmp_path / "docs" / "REPORT.md"
    # Fewest folders first, then the shortest path.
    assert sub.images == [tmp_path / p for p in ("work/arch.PNG", "docs/drawing.pdf", "work/figs/net.jpg",
                                                 "work/figs/b/deep.svg")]


def test_missing_root(tmp_path):
    with pytest.raises(PackageError, match="does not exist"):
        find_package(tmp_path / "nope")
