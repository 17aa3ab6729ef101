"""The README and docs/ against the code: links, make targets, commands, options, rubric keys.

Pure file reading and one argparse parser: fast. A page that names a make target, a command, an
option or a rubric key that does not exist fails here, and so does a CLI option no page documents.
"""
import re
from pathlib import Path

import pytest
import yaml

from grader import PROJECT, cli
from grader.batch.engines import dask_engine

README = PROJECT / "README.md"
PAGES = [README, *sorted((PROJECT / "docs").glob("*.md"))]
FILE_SUFFIXES = {"py", "md", "html", "json", "jsonl", "csv", "yaml", "png", "zip", "sqlite", "gz"}
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _targets(makefile: Path) -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*):", _text(makefile), re.M))


def _subparsers() -> dict:
    parser = cli._parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return dict(action.choices)


def _options(sub) -> set[str]:
    return {o for a in sub._actions for o in a.option_strings if o.startswith("--") and o != "--help"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_points_to_a_file(page):
    broken = []
    for target in LINK.findall(_text(page)):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert not broken, f"{page.name}: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_make_target_named_exists(page):
    # The kit's own targets (make check, make archive) are named where the kit is described.
    targets = _targets(PROJECT / "Makefile") | _targets(PROJECT / "kit" / "Makefile")
    named = set(re.findall(r"(?:`|^)make ([a-z][a-z0-9-]*)", _text(page), re.M))
    assert named - targets == set(), page.name


def test_the_readme_gives_the_two_commands_and_every_public_target():
    text = _text(README)
    assert "make grade" in text and "make test" in text
    public = _targets(PROJECT / "Makefile") - {"help", "setup", "sysdeps", "clean", "test"}
    assert {t for t in public if f"`make {t}" not in text} == set()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_grader_command_and_option_named_exists(page):
    subs = _subparsers()
    text = _text(page)
    for line in text.splitlines():
        for m in re.finditer(r"python -m grader ([a-z-]+)([^`|;]*)", line):
            assert m.group(1) in subs, f"{page.name}: {line}"
            named = set(re.findall(r"(--[a-z][a-z-]*)", m.group(2)))
            assert named - _options(subs[m.group(1)]) == set(), f"{page.name}: {line}"
    for module in re.findall(r"python -m (grader\.[a-z_.]+)", text):
        path = PROJECT / Path(*module.split("."))
        assert path.with_suffix(".py").is_file() or (path / "__main__.py").is_file(), module


def test_every_cli_option_is_documented_in_cli_md():
    text = _text(PROJECT / "docs" / "cli.md")
    for name, sub in _subparsers().items():
        section = text.split(f"## `python -m grader {name}", 1)
        assert len(section) == 2, name
        body = section[1].split("\n## ", 1)[0]
        assert {o for o in _options(sub) if f"`{o}" not in body} == set(), name
    for code in ("| 0 |", "| 2 |", "| 3 |", "| 130 |"):
        assert code in text


def test_every_rubric_key_named_exists():
    rubric = yaml.safe_load(_text(PROJECT / "rubric.yaml"))
    missing = []
    for page in PAGES:
        for dotted in re.findall(r"`([a-z_0-9]+(?:\.[a-z_0-9]+)+)`", _text(page)):
            head, *rest = dotted.split(".")
            if rest[-1] in FILE_SUFFIXES or head not in rubric or not isinstance(rubric[head], dict):
                continue
            node = rubric[head]
            for key in rest:
                if not isinstance(node, dict) or key not in node:
                    missing.append(f"{page.name}: {dotted}")
                    break
                node = node[key]
    assert not missing


def test_the_cluster_page_gives_the_grader_s_own_dask_settings():
    text = _text(PROJECT / "docs" / "cluster.md")
    exported = dict(re.findall(r"^export (DASK_[A-Z_]+)=(\S+)", text, re.M))
    assert exported == dask_engine.environment()


def _parts(folder: Path) -> set[str]:
    """A package's modules and subpackages (``name`` and ``name/``), as the tree lists them."""
    modules = {p.stem for p in folder.glob("*.py")} - {"__init__", "__main__"}
    return modules | {p.name + "/" for p in folder.iterdir() if (p / "__init__.py").exists()}


def _listed(line: str) -> set[str]:
    """The names after a tree line's last colon: ``  batch/  a class: run plan intake/``."""
    return set(line.rsplit(":", 1)[1].split()) if ":" in line else set()


def test_the_layout_tree_names_every_module_of_grader_and_only_those():
    block = _text(README).split("## Layout", 1)[1].split("```")[1]
    lines = [line for line in block.splitlines() if line.strip()]
    first = next(i for i, line in enumerate(lines) if line.startswith("grader/"))
    tree = {"grader": _listed(lines[first])}
    parent = ""
    for line in lines[first + 1:]:
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            break
        name = line.split()[0].rstrip("/")
        parent = name if indent == 2 else parent
        tree[name if indent == 2 else f"{parent}/{name}"] = _listed(line)
    packages = {p.name + "/" for p in (PROJECT / "grader").iterdir() if (p / "__init__.py").exists()}
    tree["grader"] |= {k + "/" for k in tree if k != "grader" and "/" not in k}
    wrong = {}
    for key, listed in tree.items():
        folder = PROJECT / "grader" / ("" if key == "grader" else key)
        real = _parts(folder) if key != "grader" else (_parts(folder) - packages) | packages
        if listed != real:
            wrong[key] = {"not in the tree": sorted(real - listed), "not in grader/": sorted(listed - real)}
    assert not wrong
