"""The generated student kit: up to date, idempotent, no solution in it, the contract's API,
and the generator's refusals of malformed markers (pure file work: the hand-in tool and the
distribution archive, which run the kit's tools in a copy of it, are tests/slow/test_kit_archive.py).
"""
import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from grader import PROJECT, REFERENCE
from grader.authoring import skeleton as gen
from grader.authoring.train_reference import load_lab2

SKELETON = PROJECT / "skeleton"

# The contract (docs/assignment.md): module -> function -> (question id, parameters).
# Written out here, not read from the reference, so that the reference is checked against it too.
CONTRACT = {
    "single_neuron": {
        "sigmoid": ("q1_1", ["z"]),
        "forward": ("q1_2", ["X", "W", "b"]),
        "loss": ("q1_3", ["y", "y_hat"]),
        "gradients": ("q1_4", ["X", "y", "y_hat"]),
        "train": ("q1_5", ["X", "y", "W", "b", "epochs", "lr"]),
        "predict": ("q1_5", ["X", "W", "b"]),
    },
    "hidden_layer": {
        "init_params": ("q2_1", ["n_in", "n_hidden", "n_out", "seed"]),
        "forward": ("q2_1", ["X", "params"]),
        "backward": ("q2_1", ["X", "y", "params", "cache"]),
        "update": ("q2_1", ["params", "grads", "lr"]),
        "train": ("q2_2", ["X", "y", "params", "epochs", "lr"]),
        "predict": ("q2_2", ["X", "params"]),
    },
    "multiclass": {
        "one_hot": ("q3_2", ["labels", "n_classes"]),
        "softmax": ("q3_2", ["Z"]),
        "loss": ("q3_2", ["Y", "Y_hat"]),
        "init_params": ("q3_3", ["n_in", "n_hidden", "n_out", "seed"]),
        "forward": ("q3_3", ["X", "params"]),
        "backward": ("q3_3", ["X", "Y", "params", "cache"]),
        "update": ("q3_3", ["params", "grads", "lr"]),
        "train": ("q3_3", ["X", "Y", "params", "epochs", "lr"]),
        "predict": ("q3_3", ["X", "params"]),
    },
}
FUNCTIONS = [(m, f) for m, funcs in CONTRACT.items() for f in funcs]


# --- the committed kit ---------------------------------------------------------------------

def test_committed_skeleton_is_what_the_generator_writes():
    problems = gen.stale(SKELETON)
    assert not problems, "skeleton/ is stale: run make skeleton\n" + "\n".join(problems)


def test_render_is_deterministic_and_lists_every_source():
    first, second = gen.render(), gen.render()
    assert first == second
    assert list(first) == sorted(first)
    expected = {f"lab2/{p.name}" for p in (REFERENCE / "lab2").glob("*.py")}
    expected |= {"README.md", "REPORT.md", "Makefile", "pytest.ini", "requirements.txt",
                 "tests/conftest.py", "tools/make_archive.py", "lab2check/__init__.py"}
    assert expected <= set(first)
    assert not [p for p in first if "__pycache__" in p or p.endswith(".pyc")]


def test_the_kits_lab2check_holds_no_grader_plumbing():
    # The sandbox's child and its wire protocol live in grader/sandbox/: the kit ships the check
    # library whole (nothing filtered out), and nothing in it starts, confines or talks to a child.
    files = gen.render()
    shipped = {name.removeprefix("lab2check/") for name in files if name.startswith("lab2check/")}
    assert shipped == {p.name for p in (PROJECT / "lab2check").glob("*.py")}
    assert "result.py" in shipped  # the probe's Result type, which the kit's checks use
    assert not shipped & {"child.py", "protocol.py"}
    plumbing = re.compile(r"\b(prctl|setresuid|pidfd|PR_SET_|FRAME|request_fd|response_fd|seccomp)\b")
    for name in shipped:
        source = files[f"lab2check/{name}"].decode()
        imported = [node for node in ast.walk(ast.parse(source)) if isinstance(node, (ast.Import, ast.ImportFrom))]
        modules = [a.name for n in imported if isinstance(n, ast.Import) for a in n.names]
        modules += [n.module or "" for n in imported if isinstance(n, ast.ImportFrom)]
        assert not [m for m in modules if m.split(".")[0] == "grader"], name
        assert not plumbing.findall(source), (name, plumbing.findall(source))


def test_data_and_init_are_copied_identically():
    files = gen.render()
    for name in ("data.py", "__init__.py"):
        assert files[f"lab2/{name}"] == (REFERENCE / "lab2" / name).read_bytes()


def test_generate_is_idempotent_and_removes_stale_files(tmp_path):
    dest = tmp_path / "kit"
    counts = gen.generate(dest)
    wanted = gen.render()
    assert counts == {"written": len(wanted), "removed": 0, "unchanged": 0}
    assert gen.stale(dest) == []
    # Drift: an edited file, a file no source produces (in a folder of its own), a cache.
    (dest / "lab2" / "single_neuron.py").write_text("edited by hand\n")
    (dest / "old" / "gone.py").parent.mkdir()
    (dest / "old" / "gone.py").write_text("x = 1\n")
    (dest / "lab2" / "__pycache__").mkdir()
    (dest / "lab2" / "__pycache__" / "data.cpython-311.pyc").write_bytes(b"\0")
    assert set(gen.stale(dest)) == {"differs: lab2/single_neuron.py", "extra:   old/gone.py"}
    counts = gen.generate(dest)
    assert counts["written"] == 1 and counts["removed"] == 2
    assert not (dest / "old").exists() and not (dest / "lab2" / "__pycache__").exists()
    assert gen.generate(dest) == {"written": 0, "removed": 0, "unchanged": len(wanted)}
    on_disk = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    assert on_disk == wanted


def test_generate_refuses_a_folder_that_is_not_a_kit(tmp_path):
    (tmp_path / "notes.txt").write_text("mine\n")
    with pytest.raises(gen.UsageError, match="not empty"):
        gen.generate(tmp_path)
    assert (tmp_path / "notes.txt").exists()
    with pytest.raises(gen.UsageError, match="holds the project"):
        gen.generate(PROJECT)


# --- no solution in the kit ----------------------------------------------------------------

# Lines too common to mean anything when found elsewhere.
TRIVIAL = re.compile(r"^(return|pass|else:|try:|finally:|continue|break|[)\]}]+[,:]?)$")


def _normalise(line: str) -> str:
    """Whitespace collapsed, trailing comment dropped (a '#' inside a string is rare enough here)."""
    code = re.sub(r"\s+#.*$", "", line.strip())
    return re.sub(r"\s+", " ", code)


def solution_lines(text: str, filename: str) -> set[str]:
    """The normalised, non-trivial code lines inside the solution regions of ``text``."""
    lines = text.splitlines()
    out = set()
    for region in gen.regions(text, filename):
        for line in lines[region.begin:region.end - 1]:
            code = _normalise(line)
            if code and not code.startswith("#") and not TRIVIAL.match(code):
                out.add(code)
    return out


def test_solution_lines_finds_region_code():
    text = ("def f(x):\n    # BEGIN SOLUTION q1_1\n    y = x + 1  # why\n\n    # a comment\n"
            "    return y\n    return\n    # END SOLUTION\n")
    assert solution_lines(text, "f.py") == {"y = x + 1", "return y"}


@pytest.mark.parametrize("module", list(CONTRACT))
def test_no_solution_line_leaks_into_the_skeleton(module):
    reference = (REFERENCE / "lab2" / f"{module}.py").read_text()
    solution = solution_lines(reference, module)
    assert len(solution) >= 10, "the leak check would be vacuous: too few solution lines found"
    kit = {_normalise(line) for line in (SKELETON / "lab2" / f"{module}.py").read_text().splitlines()}
    leaked = sorted(solution & kit)
    assert not leaked, f"skeleton/lab2/{module}.py holds solution lines: {leaked}"


# Solution lines that any numpy code may hold (lab2check seeds its cases the same way): they
# give nothing away, so finding them outside lab2/ is not a leak.
GENERIC = {"rng = np.random.default_rng(seed)", "m = X.shape[1]"}


def test_no_solution_line_anywhere_in_the_kit():
    solution = set()
    for path in (REFERENCE / "lab2").glob("*.py"):
        solution |= solution_lines(path.read_text(), path.name)
    solution -= GENERIC
    leaks = []
    for rel, data in gen.render().items():
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if _normalise(line) in solution:
                leaks.append(f"{rel}:{number}: {line.strip()}")
    assert not leaks, "solution code in the kit:\n" + "\n".join(leaks)


def test_main_blocks_survive_generation():
    for module in CONTRACT:
        reference = (REFERENCE / "lab2" / f"{module}.py").read_text()
        kit = (SKELETON / "lab2" / f"{module}.py").read_text()
        marker = 'if __name__ == "__main__":'
        assert marker in reference
        tail = reference[reference.index(marker):]
        assert kit.endswith(tail), f"the __main__ block of {module} changed in the kit"
        assert "for epoch in range(0, 500, 50)" in tail and "accuracy" in tail


# --- the contract's functions --------------------------------------------------------------

@pytest.fixture(scope="module")
def trees():
    return {"reference": load_lab2(REFERENCE), "skeleton": load_lab2(SKELETON)}


@pytest.mark.parametrize("module,function", FUNCTIONS)
def test_contract_functions_have_the_same_signature_in_both_trees(trees, module, function):
    _, params = CONTRACT[module][function]
    ref = getattr(getattr(trees["reference"], module), function)
    kit = getattr(getattr(trees["skeleton"], module), function)
    assert list(inspect.signature(ref).parameters) == params
    assert inspect.signature(kit) == inspect.signature(ref)


def test_both_trees_are_imported_from_their_own_folders(trees):
    assert Path(trees["reference"].hidden_layer.__file__).is_relative_to(REFERENCE)
    assert Path(trees["skeleton"].hidden_layer.__file__).is_relative_to(SKELETON)
    # hidden_layer uses Part 1's sigmoid: the skeleton's must be the skeleton's own.
    assert trees["skeleton"].hidden_layer.sigmoid is trees["skeleton"].single_neuron.sigmoid


@pytest.mark.parametrize("module,function", FUNCTIONS)
def test_skeleton_functions_raise_not_implemented_naming_the_question(trees, module, function):
    qid, _ = CONTRACT[module][function]
    fn = getattr(getattr(trees["skeleton"], module), function)
    required = [p for p in inspect.signature(fn).parameters.values() if p.default is inspect.Parameter.empty]
    with pytest.raises(NotImplementedError) as err:
        fn(*[None] * len(required))
    assert str(err.value) == f"{qid}: {module}.{function}"


# --- refusals of malformed markers ---------------------------------------------------------

GOOD = '''import numpy as np


def f(x):
    """Doc."""
    # BEGIN SOLUTION q1_1
    return x + 1
    # END SOLUTION


class K:
    def g(self, x):
        def inner():
            # BEGIN SOLUTION q1_2
            return 2
            # END SOLUTION
        return inner()
'''


def test_stub_keeps_indentation_and_names_function_and_question():
    out = gen.stub(GOOD, "reference/lab2/mod.py")
    assert '    """Doc."""\n    raise NotImplementedError("q1_1: mod.f")\n\n' in out
    assert '            raise NotImplementedError("q1_2: mod.K.g.inner")\n        return inner()\n' in out
    assert "x + 1" not in out and "BEGIN" not in out and "END SOLUTION" not in out


BAD = {
    "unbalanced-begin": ("def f():\n    # BEGIN SOLUTION q1_1\n    return 1\n", 2, "never closed"),
    "unbalanced-end": ("def f():\n    return 1\n    # END SOLUTION\n", 3, "without a matching BEGIN"),
    "nested": ("def f():\n    # BEGIN SOLUTION q1_1\n    # BEGIN SOLUTION q1_2\n    return 1\n"
               "    # END SOLUTION\n    # END SOLUTION\n", 3, "nested"),
    "unlabelled": ("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n", 2, "without a question id"),
    "unknown-id": ("def f():\n    # BEGIN SOLUTION q9_9\n    return 1\n    # END SOLUTION\n", 2, "unknown question id"),
    "malformed": ("def f():\n    #BEGIN SOLUTION q1_1\n    return 1\n    # END SOLUTION\n", 2, "malformed"),
    "code-on-marker-line": ("def f():\n    x = 1  # BEGIN SOLUTION q1_1\n    return 1\n    # END SOLUTION\n",
                            2, "malformed"),
    "end-label-mismatch": ("def f():\n    # BEGIN SOLUTION q1_1\n    return 1\n    # END SOLUTION q1_2\n",
                           4, "closes the region q1_1"),
    "indent-mismatch": ("def f():\n    # BEGIN SOLUTION q1_1\n    return 1\n# END SOLUTION\n", 4, "indented"),
    "outside-function": ("# BEGIN SOLUTION q1_1\nX = 1\n# END SOLUTION\n", 1, "outside a function"),
}


def _project(root: Path, module_text: str) -> Path:
    """A minimal project (reference, kit, lab2check) whose reference holds ``module_text``."""
    (root / "reference" / "lab2").mkdir(parents=True)
    (root / "reference" / "lab2" / "__init__.py").write_text("")
    (root / "reference" / "lab2" / "bad.py").write_text(module_text)
    (root / "kit").mkdir()
    (root / "kit" / "README.md").write_text("kit\n")
    (root / "lab2check").mkdir()
    (root / "lab2check" / "__init__.py").write_text("")
    return root


@pytest.mark.parametrize("case", list(BAD))
def test_generator_refuses_malformed_markers(tmp_path, case):
    text, line, reason = BAD[case]
    project = _project(tmp_path, text)
    with pytest.raises(gen.MarkerError) as err:
        gen.render(project)
    message = str(err.value)
    assert message.startswith(f"reference/lab2/bad.py:{line}: "), message
    assert reason in message
    assert "\n" not in message


def test_generator_accepts_the_good_sample_and_writes_it(tmp_path):
    project = _project(tmp_path / "p", GOOD)
    files = gen.render(project)
    assert set(files) == {"README.md", "lab2/__init__.py", "lab2/bad.py", "lab2check/__init__.py"}
    assert b'raise NotImplementedError("q1_1: bad.f")' in files["lab2/bad.py"]


def test_generator_refuses_a_kit_file_that_shadows_a_generated_one(tmp_path):
    project = _project(tmp_path, GOOD)
    (project / "kit" / "lab2").mkdir()
    (project / "kit" / "lab2" / "bad.py").write_text("")
    with pytest.raises(gen.UsageError, match="would overwrite"):
        gen.render(project)


def test_cli_check_reports_a_stale_kit_in_one_line(tmp_path):
    gen.generate(tmp_path / "kit")
    (tmp_path / "kit" / "REPORT.md").write_text("changed\n")
    done = subprocess.run([sys.executable, "-m", "grader.authoring.skeleton", "--check",
                           "--dest", str(tmp_path / "kit")], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "differs: REPORT.md" in done.stdout
    assert done.stderr.strip().endswith("is stale: run make skeleton")


# --- the kit's files -----------------------------------------------------------------------

def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def test_kit_requirements_pin_the_projects_versions():
    kit, project = _pins(SKELETON / "requirements.txt"), _pins(PROJECT / "requirements.txt")
    assert set(kit) == {"numpy", "pytest", "pytest-timeout", "matplotlib"}
    assert kit == {name: project[name] for name in kit}


def test_report_template_holds_the_contract_block_and_questions():
    report = (SKELETON / "REPORT.md").read_text()
    block = "```yaml\nloss_500:\n  single_neuron: 0.0\n  hidden_layer: 0.0\n  multiclass: 0.0\n```\n"
    assert block in report
    for question in ("Q1.2", "Q1.3", "Q1.4", "Q2.2", "Q2.3", "Q3.1"):
        assert re.search(rf"^### {re.escape(question)}\b", report, re.M), question


def test_kit_makefile_runs_pytest_and_the_archive_tool():
    makefile = (SKELETON / "Makefile").read_text()
    assert re.search(r"^check:\n\t\$\(PYTHON\) -m pytest \$\(if \$\(Q\),-k \$\(Q\)\)$", makefile, re.M)
    assert re.search(r'^archive:\n\t\$\(PYTHON\) tools/make_archive.py "\$\(NAME\)"$', makefile, re.M)


